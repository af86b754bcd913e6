"""ASHA's payoff with the encoder stage in its budget (issue 18, part 3).

    python bench/asha.py [--trials 50] [--space sae_cnn] [--language all] [--scale small] [--out FILE]

Three searches of the same space, same TPE seed, each with a fresh MLflow store and a cold
encoder cache, run as ``mser-search`` runs them:

* ``fifo``: every trial to its end (``--scheduler fifo``, patience as long as the budget);
* ``classifier_rungs``: ASHA on classifier epochs only (``--no-encoder-rungs``), as before;
* ``encoder_rungs``: the default, ASHA with rungs in the encoder stage too, on a linear
  probe's validation kappa after each encoder epoch (:class:`search.schedulers.StagedASHA`).

Measures the time until a finished trial first reaches the best validation kappa all three
reach (the goal: at least 2x sooner than FIFO), and where each search's time went: encoder
epochs trained, encoders stopped in their stage, encoders replayed from a stopped training
instead of trained again, trials stopped by ASHA. The figures go into
``bench/results.json`` under ``asha_encoder`` (``--out`` another file). Needs the dev extra.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from performance import _machine, _search, bench_dataset_cache, search_arguments  # bench/ is first on sys.path

HERE = Path(__file__).parent
GOAL = 2.0
SEARCHES = {"fifo": ["--scheduler", "fifo", "--patience", "30"], "classifier_rungs": ["--no-encoder-rungs"],
            "encoder_rungs": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    search_arguments(parser)
    parser.add_argument("--out", type=Path, default=HERE / "results.json",
                        help="JSON file to add the figures to, under asha_encoder (default: bench/results.json)")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="mser-bench-asha-"))
    work.mkdir(parents=True, exist_ok=True)
    from mser.demo import write_demo_corpus

    root = work / "demo"
    write_demo_corpus(root, scale=args.scale)
    cache = work / "base-cache"
    bench_dataset_cache(root, cache)
    runs = {name: _search(name, extra, root, cache, work, args) for name, extra in SEARCHES.items()}
    result = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "space": args.space,
              "language": args.language, "scale": args.scale, "trials": args.trials,
              **summarise(runs), "goal": GOAL}
    stored = json.loads(args.out.read_text()) if args.out.is_file() else {}
    stored["asha_encoder"] = result
    args.out.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def summarise(runs: dict) -> dict:
    """Time to the shared target, and where the time went, for each search."""
    target = min(r["best_val_kappa"] for r in runs.values())
    searches = {}
    for name, run in runs.items():
        trials = run["trials"]
        stopped_in_encoder = [t for t in trials if t["pruned"] and not t["curve"] and t["encoder_epochs"]]
        searches[name] = {
            "reached_s": round(_reached(run, target), 1), "search_s": round(run["search_s"], 1),
            "best_val_kappa": run["best_val_kappa"], "trials": len(trials), "pruned": run["counts"]["pruned"],
            "encoders_trained_to_the_end": run["encoders_trained"], "encoders_stopped": len(stopped_in_encoder),
            "encoders_replayed": sum(bool(t.get("encoder_replayed")) for t in trials),
            "encoder_epochs": sum(t["encoder_epochs"] for t in trials),
            "classifier_epochs": sum(len(t["curve"]) for t in trials),
            "train_s": round(sum(t["train_seconds"] for t in trials), 1),
        }
    fifo = searches["fifo"]["reached_s"]
    speedups = {name: round(fifo / s["reached_s"], 2) for name, s in searches.items() if name != "fifo"}
    return {"target_val_kappa": target, "speedup": speedups, "met": {k: v >= GOAL for k, v in speedups.items()},
            "searches": searches,
            "commands": {name: run["command"] for name, run in runs.items()}}


def _reached(run: dict, target: float) -> float:
    """Seconds from the search's start until a finished trial first reached ``target``."""
    return min(t["ended_s"] for t in run["trials"]
               if t["status"] == "FINISHED" and t["val_kappa"] is not None and round(t["val_kappa"], 4) >= target)


if __name__ == "__main__":
    main()
