"""Which objective chooses the model that does best on unseen speakers? One validation split,
K speaker folds, or leave one speaker out, at equal search time.

    python bench/objectives.py [--scale full] [--space cnn_features] [--languages it,de,en]
                               [--seeds 0,1] [--trainings 48] [--epochs 10] [--folds 3]
                               [--data-root DIR] [--out bench/objectives.json]

For each language and seed, three ``mser-search`` runs on a demo corpus written here
(``--scheduler fifo``, the same TPE seed, the paper's configuration first), each allowed
the same number of model trainings (``--trainings``), which is what their search time
is made of:

* ``split``: one validation split (a quarter of the training speakers), ``--trainings`` trials;
* ``kfold``: ``--folds K``, ``trainings // (K + 1)`` trials (K fold models and the final one);
* ``loso``: ``--folds speakers``, ``trainings // (S + 1)`` trials, S the language's training speakers.

After each search the test speakers of **every** finished trial are scored (``--top`` =
its trials): a diagnostic, never used to choose. Per search: the Spearman rank correlation
of objective and test kappa over its trials, the test kappa of the chosen trial (best
objective) and how far it falls below the best test kappa any of its trials reached
(regret), and the measured search seconds. Every trial of a K-fold or LOSO search also
records its one-split validation kappa (its final model is trained on that split), so
on those same configurations the two objectives' correlations are compared directly.
Then, per objective, means over languages and seeds, and paired Wilcoxon tests of the
chosen trials' test kappa against ``split``.

Not a test: it writes the figures docs/benchmarks.md quotes. Needs the dev extra (psutil).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from mlflow.tracking import MlflowClient

# bench/ is the script's folder, first on sys.path
from performance import _machine, _say, corpus_arguments, corpus_root
from scipy.stats import spearmanr, wilcoxon

from mser.dataset import load_dataset
from mser.metrics import TEST_KAPPA, VAL_KAPPA
from mser.splits import LOSO
from mser.train import TrainConfig, make_split
from tracking.schema import CV_VAL_KAPPA, PAPER_TAG, PARENT_ROLE, REFIT_OF_TAG, SEARCH_SECONDS, SEARCH_TAG

OBJECTIVES = ("split", "kfold", "loso")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="cnn_features")
    parser.add_argument("--languages", default="it,de,en")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--trainings", type=int, default=48, help="model trainings each search may spend")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--folds", type=int, default=3)
    corpus_arguments(parser, out=Path(__file__).parent / "objectives.json")
    args = parser.parse_args()
    work, root = corpus_root(args, "mser-objectives-")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    searches = []
    for language in args.languages.split(","):
        speakers = training_speakers(root, work / "cache", language)
        for seed in (int(s) for s in args.seeds.split(",")):
            for objective in OBJECTIVES:
                trials = trial_count(objective, args.trainings, args.folds, speakers)
                folds = {"split": 0, "kfold": args.folds, "loso": LOSO}[objective]
                experiment = f"objectives-{args.space}-{language}-{objective}-s{seed}"
                _say(f"{experiment}: {trials} trials")
                started = time.perf_counter()
                command = [str(Path(sys.executable).parent / "mser-search"), "--space", args.space,
                           "--language", language, "--trials", str(trials), "--max-epochs", str(args.epochs),
                           "--scheduler", "fifo", "--top", str(trials), "--seed", str(seed),
                           "--data-root", str(root), "--cache-dir", str(work / "cache"), "--tracking-uri", uri,
                           "--experiment", experiment]
                if folds:
                    command += ["--folds", str(folds)]
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                search = read_search(MlflowClient(uri), experiment)
                search.update(language=language, seed=seed, objective=objective, trials=trials,
                              training_speakers=speakers, wall_s=time.perf_counter() - started)
                searches.append(summarise(search))
                _say(f"  rho {searches[-1]['rho']}, chosen test kappa {searches[-1]['chosen_test_kappa']:.3f}, "
                     f"regret {searches[-1]['regret']:.3f}, {searches[-1]['search_s']:.0f} s")
    results = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(),
               "data": str(args.data_root) if args.data_root else f"demo, {args.scale}", "space": args.space,
               "epochs": args.epochs, "trainings": args.trainings, "folds": args.folds,
               "searches": searches, "summary": compare(searches)}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    _say(json.dumps(results["summary"], indent=2))
    _say(f"wrote {args.out}")


def training_speakers(root: Path, cache: Path, language: str) -> int:
    """Training speakers (train and validation) of ``language``: the LOSO folds."""
    data = load_dataset(root, cache_dir=cache).for_languages([language])
    split = make_split(data, TrainConfig(model="cnn_features", language=language))
    return len(split.train + split.validation)


def trial_count(objective: str, trainings: int, folds: int, speakers: int) -> int:
    """Trials an objective gets for ``trainings`` model trainings (at least 2)."""
    per_trial = {"split": 1, "kfold": folds + 1, "loso": speakers + 1}[objective]
    return max(2, trainings // per_trial)


def read_search(client: MlflowClient, experiment: str) -> dict:
    """The finished trials of the one search in ``experiment``: objective, one-split
    validation kappa and test kappa of each, and the search's seconds."""
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=5000)
    [parent] = [r for r in runs if r.data.tags.get(SEARCH_TAG) == PARENT_ROLE]
    trials = [{"objective": r.data.metrics.get(CV_VAL_KAPPA, r.data.metrics.get(VAL_KAPPA)),
               "split_val_kappa": r.data.metrics.get(VAL_KAPPA), "test_kappa": r.data.metrics.get(TEST_KAPPA),
               "paper": r.data.tags.get(PAPER_TAG) == "true", "started": r.info.start_time}
              for r in runs if r.info.run_id != parent.info.run_id and r.info.status == "FINISHED"
              and REFIT_OF_TAG not in r.data.tags]  # a refit is the study's result, not a trial
    return {"search_s": parent.data.metrics.get(SEARCH_SECONDS),
            "rows": sorted((t for t in trials if t["test_kappa"] is not None), key=lambda t: t["started"])}


def summarise(search: dict) -> dict:
    """One search's figures from its rows (see the module docstring)."""
    rows = search["rows"]
    objective = np.array([r["objective"] for r in rows])
    test = np.array([r["test_kappa"] for r in rows])
    chosen = int(np.argmax(objective))  # ties to the earlier trial, as the study chooses
    out = {k: v for k, v in search.items() if k != "rows"}
    out.update(finished=len(rows), rho=_rho(objective, test), chosen_test_kappa=float(test[chosen]),
               best_test_kappa=float(test.max()), regret=float(test.max() - test[chosen]),
               chosen_objective=float(objective[chosen]),
               paper_test_kappa=next((r["test_kappa"] for r in rows if r["paper"]), None))
    if search.get("objective") != "split":  # the same trials, ranked by their one-split validation kappa
        split = np.array([r["split_val_kappa"] for r in rows])
        out["rho_split_same_trials"] = _rho(split, test)
        out["split_chosen_test_kappa_same_trials"] = float(test[int(np.argmax(split))])
    return out


def compare(searches: list[dict]) -> dict:
    """Per objective, means over the searches (languages and seeds), and paired tests of the
    chosen trials' test kappa against the one-split objective on the same language and seed."""
    summary = {}
    by_key = {(s["language"], s["seed"], s["objective"]): s for s in searches}
    for objective in OBJECTIVES:
        mine = [s for s in searches if s["objective"] == objective]
        if not mine:
            continue
        rhos = [s["rho"] for s in mine if s["rho"] is not None]
        entry = {"searches": len(mine), "mean_trials": float(np.mean([s["trials"] for s in mine])),
                 "mean_rho": float(np.mean(rhos)) if rhos else None,
                 "mean_chosen_test_kappa": float(np.mean([s["chosen_test_kappa"] for s in mine])),
                 "mean_regret": float(np.mean([s["regret"] for s in mine])),
                 "mean_search_s": float(np.mean([s["search_s"] for s in mine]))}
        same = [s["rho_split_same_trials"] for s in mine if s.get("rho_split_same_trials") is not None]
        if same:
            entry["mean_rho_split_same_trials"] = float(np.mean(same))
        pairs = [(s["chosen_test_kappa"], by_key[(s["language"], s["seed"], "split")]["chosen_test_kappa"])
                 for s in mine if objective != "split" and (s["language"], s["seed"], "split") in by_key]
        if pairs:
            differences = [a - b for a, b in pairs]
            entry["vs_split"] = {"pairs": len(pairs), "mean_difference": float(np.mean(differences)),
                                 "wins": sum(d > 0 for d in differences), "losses": sum(d < 0 for d in differences),
                                 "wilcoxon_p": _wilcoxon(differences)}
        summary[objective] = entry
    return summary


def _rho(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho, or None with fewer than 4 trials or a constant side."""
    if len(a) < 4 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def _wilcoxon(differences: list[float]) -> float | None:
    nonzero = [d for d in differences if d != 0]
    return float(wilcoxon(nonzero).pvalue) if len(nonzero) >= 2 else None


if __name__ == "__main__":
    main()
