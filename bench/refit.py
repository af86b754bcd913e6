"""Does the study's result do better on unseen speakers with the refit, and with a grouped choice?

    python bench/refit.py [--scale full] [--spaces smile_svm,smile_logreg,smile_mlp,cnn_features]
                          [--trials 10] [--epochs 10] [--data-root DIR] [--out bench/refit.json]

As a user runs it: for each space, two ``mser-search --language each`` runs (one study per
language and the joint one) on the same corpus, same seed and same number of trials,
differing only in the objective:

* ``split``: one validation split (``--folds 0``);
* ``grouped``: the space's speaker-grouped default (the ``smile_*`` spaces: leave one speaker
  out up to 10 training speakers, 5 folds beyond); for a space whose default is one split
  (``cnn_features``), ``--folds 3``.

Every study refits its chosen trial on every training speaker, so each study gives both
answers on the same test utterances: the chosen trial (fitted without its validation
speakers, today's result with ``--no-refit``) and its refit (the default). Compared,
per study, on the same test utterances (paired bootstrap interval of the kappa difference,
McNemar's exact test, Holm's adjustment over all the comparisons of one kind):

1. refit vs chosen trial (within each search);
2. grouped vs split objective, both refit (the two searches' results).

Test speakers choose nothing here: they are read after each search, from the logged
predictions. Not a test: it writes the figures docs/benchmarks.md quotes. On your own corpora:
``--data-root DIR``.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

# bench/ is the script's folder, first on sys.path
from performance import _machine, _say, corpus_arguments, corpus_root

from mser.models import get_model
from mser.stats import compare_paired, holm, kappa_with_interval
from search.spaces import SPACES as SPACE_NAMES
from tracking.query import latest_studies, result_run_id
from tracking.schema import BEST_RUN_TAG, SEARCH_SECONDS, predictions_file

OBJECTIVES = ("split", "grouped")
SPACES = "smile_svm,smile_logreg,smile_mlp,cnn_features"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default=SPACES, help=f"spaces searched (default: {SPACES})")
    parser.add_argument("--trials", type=int, default=10, help="trials of each study (default: 10)")
    parser.add_argument("--epochs", type=int, default=10, help="classifier epochs at most (default: 10)")
    parser.add_argument("--seed", type=int, default=0)
    corpus_arguments(parser, out=Path(__file__).parent / "refit.json")
    args = parser.parse_args()
    unknown = [space for space in args.spaces.split(",") if space not in SPACE_NAMES]
    if unknown:
        parser.error(f"--spaces: unknown {', '.join(unknown)}; choose from {', '.join(SPACE_NAMES)}")
    work, root = corpus_root(args, "mser-refit-")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    studies = []
    for space in args.spaces.split(","):
        for objective in OBJECTIVES:
            experiment = f"refit-{space}-{objective}"
            folds = "0" if objective == "split" else (None if get_model(space).uses_functionals else "3")
            command = [str(Path(sys.executable).parent / "mser-search"), "--space", space, "--language", "each",
                       "--trials", str(args.trials), "--max-epochs", str(args.epochs), "--top", "1",
                       "--seed", str(args.seed), "--data-root", str(root), "--cache-dir", str(work / "cache"),
                       "--tracking-uri", uri, "--experiment", experiment, *(["--folds", folds] if folds else [])]
            _say(f"{experiment}: {' '.join(command[1:])}")
            started = time.perf_counter()
            status = subprocess.run(command, stdout=subprocess.DEVNULL, cwd=work).returncode
            if status != 0:  # mser-search said why on stderr; the searches before it stay in the store
                raise SystemExit(f"{experiment}: mser-search ended with status {status} (its message is above); "
                                 f"the finished searches are in {uri}")
            _say(f"  {time.perf_counter() - started:.0f} s")
            studies += read_studies(MlflowClient(uri), experiment, space, objective)
    results = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(),
               "data": str(args.data_root) if args.data_root else f"demo, {args.scale}", "trials": args.trials,
               "epochs": args.epochs, "seed": args.seed, "studies": [_public(s) for s in studies],
               "comparisons": compare(studies)}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    _say(json.dumps(results["comparisons"]["summary"], indent=2))
    _say(f"wrote {args.out}")


def read_studies(client: MlflowClient, experiment: str, space: str, objective: str) -> list[dict]:
    """Each study of the search: the chosen trial's and the result's test predictions, and its seconds."""
    mlflow.set_tracking_uri(client.tracking_uri)
    found = client.get_experiment_by_name(experiment)
    rows = []
    for (_, language), parent in latest_studies(client, found.experiment_id).items():
        chosen, result = client.get_run(parent.data.tags[BEST_RUN_TAG]), client.get_run(result_run_id(parent))
        rows.append({"space": space, "language": language, "objective": objective,
                     "search_s": parent.data.metrics.get(SEARCH_SECONDS),
                     "chosen": _predictions(chosen), "refit": _predictions(result),
                     "refit_run": result.info.run_name})
    return rows


def _predictions(run) -> pd.DataFrame:
    text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{predictions_file('test')}")
    return pd.read_csv(io.StringIO(text)).sort_values("utterance").reset_index(drop=True)


def _public(study: dict) -> dict:
    return {**{k: v for k, v in study.items() if k not in ("chosen", "refit")},
            "chosen_test": kappa_with_interval(study["chosen"], resamples=1000),
            "refit_test": kappa_with_interval(study["refit"], resamples=1000)}


def _paired(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    both = a.merge(b, on="utterance", suffixes=("_a", "_b"))
    c = compare_paired(both["label_a"], both["predicted_a"], both["predicted_b"], resamples=1000)
    return {"n": c.n, "kappa_a": c.kappa_a, "kappa_b": c.kappa_b, "difference": c.difference,
            "interval": list(c.interval), "mcnemar_p": c.mcnemar_p}


def compare(studies: list[dict]) -> dict:
    """Refit vs chosen trial per study; grouped vs split (both refit) per space and language;
    Holm's adjustment within each kind; means and win counts per kind and space."""
    refit = [{"space": s["space"], "language": s["language"], "objective": s["objective"],
              **_paired(s["refit"], s["chosen"])} for s in studies]
    by_key = {(s["space"], s["language"], s["objective"]): s for s in studies}
    grouped = [{"space": space, "language": language,
                **_paired(by_key[space, language, "grouped"]["refit"], by_key[space, language, "split"]["refit"])}
               for (space, language, objective) in by_key if objective == "grouped"
               and (space, language, "split") in by_key]
    for rows in (refit, grouped):
        for row, p in zip(rows, holm([r["mcnemar_p"] for r in rows])):
            low, high = row["interval"]
            row.update(holm_p=p, significant=bool(p < 0.05 and (low > 0 or high < 0)))
    return {"refit_vs_chosen": refit, "grouped_vs_split": grouped,
            "summary": {"refit_vs_chosen": _summary(refit), "grouped_vs_split": _summary(grouped)}}


def _summary(rows: list[dict]) -> dict:
    out = {}
    for space in dict.fromkeys(r["space"] for r in rows):
        mine = [r["difference"] for r in rows if r["space"] == space]
        out[space] = {"comparisons": len(mine), "mean_difference": float(np.mean(mine)),
                      "better": sum(d > 0 for d in mine), "worse": sum(d < 0 for d in mine),
                      "significant": [f"{r['language']}{'/' + r['objective'] if 'objective' in r else ''}: "
                                      f"{r['difference']:+.3f}" for r in rows if r["space"] == space
                                      and r["significant"]]}
    every = [r["difference"] for r in rows]
    out["all"] = {"comparisons": len(every), "mean_difference": float(np.mean(every)) if every else None,
                  "better": sum(d > 0 for d in every), "worse": sum(d < 0 for d in every)}
    return out


if __name__ == "__main__":
    main()
