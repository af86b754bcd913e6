"""A search at real size (issue 18, part 2): the 200-trial ``sae_cnn`` search on the demo's
``full`` scale (the paper's 1486 utterances, 2827 windows), as ``mser-search`` runs it.

    python bench/real_size.py [--trials 200] [--space sae_cnn] [--scale full] [--work-dir DIR] [--out FILE]

Measures, from the one run: the search's wall time, its overhead share (1 - the trials'
own training time over slots x wall time; where the rest went), trials per hour, and the
peak resident memory of the driver, of the busiest worker and of all together (sampled
every 0.2 s). Goals: at most 30 minutes on a 2-core machine, overhead under 10%. The
figures go into ``bench/results.json`` under ``real_size`` (``--out`` another file),
beside the other benchmarks' figures. Needs the dev extra (psutil).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import performance  # bench/ is first on sys.path
from performance import search_arguments

HERE = Path(__file__).parent
GOALS = {"search_minutes": 30.0, "overhead_fraction": 0.10}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    search_arguments(parser, trials=200, scale="full")
    parser.add_argument("--out", type=Path, default=HERE / "results.json",
                        help="JSON file to add the figures to, under real_size (default: bench/results.json)")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="mser-bench-real-"))
    work.mkdir(parents=True, exist_ok=True)

    from mser.demo import write_demo_corpus

    root = work / "demo"
    write_demo_corpus(root, scale=args.scale)
    cache = work / "base-cache"
    prepared = performance.bench_dataset_cache(root, cache)  # the data prepared once, as a user's first command
    search = performance._search("real_size", [], root, cache, work, args)
    overhead = performance._overhead(search)
    minutes = search["search_s"] / 60
    result = {
        "date": time.strftime("%Y-%m-%d"), "machine": performance._machine(), "scale": args.scale,
        "space": args.space, "language": args.language, "command": search["command"],
        "windows": prepared.get("windows"), "trials": len(search["trials"]), "counts": search["counts"],
        "slots": search["max_concurrent"], "search_minutes": round(minutes, 1),
        "command_minutes": round(search["command_s"] / 60, 1),
        "trials_per_hour": round(len(search["trials"]) / search["search_s"] * 3600, 1),
        "best_val_kappa": search["best_val_kappa"], "encoders_trained": search["encoders_trained"],
        "overhead": overhead, "memory": search["memory"],
        "goals": {"search_minutes": {"goal": GOALS["search_minutes"], "measured": round(minutes, 1),
                                     "met": minutes <= GOALS["search_minutes"]},
                  "overhead_fraction": {"goal": GOALS["overhead_fraction"], "measured": overhead["fraction"],
                                        "met": overhead["fraction"] < GOALS["overhead_fraction"]}},
    }
    stored = json.loads(args.out.read_text()) if args.out.is_file() else {}
    stored["real_size"] = result
    args.out.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
