"""Does an ensemble of the best trials beat the best trial alone on unseen speakers?

    python bench/ensemble.py [--scale small] [--spaces smile_logreg,smile_svm,cnn_features]
                             [--trials 8] [--epochs 10] [--top 3] [--methods best] [--data-root DIR]
                             [--work DIR [--reuse]] [--out bench/ensemble.json]

As a user runs it: one ``mser-search --language each`` per space (a study per language and
the joint one) into one experiment, then ``mser-ensemble --language L`` for each language
studied. Each ensemble is chosen on the validation speakers its candidates were judged on
(the best ``--top`` trials of every space), then compared on the same test utterances with
the best candidate alone, the single model of the same search budget and training speakers
(paired bootstrap interval of the kappa difference, McNemar's exact test, Holm's adjustment
over the languages). Test speakers choose nothing: the ensemble command reads them once,
after the choice. Not a test: it writes the figures docs/benchmarks.md quotes. On your own
corpora: ``--data-root DIR``.

``--methods selection,stacking`` builds each way of combining for every language (each
scored on the test speakers once, as a user would by running mser-ensemble with that
``--method``) and compares the two on the same test utterances; ``--reuse`` builds the
ensembles from the searches already in ``--work``'s store instead of searching again.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# bench/ is the script's folder, first on sys.path
from performance import _machine, _say, corpus_arguments, corpus_root, run_search

from mser.stats import holm

SPACES = "smile_logreg,smile_svm,cnn_features"
EXPERIMENT = "bench-ensemble"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default=SPACES, help=f"spaces searched (default: {SPACES})")
    parser.add_argument("--trials", type=int, default=8, help="trials of each study (default: 8)")
    parser.add_argument("--epochs", type=int, default=10, help="classifier epochs at most (default: 10)")
    parser.add_argument("--top", type=int, default=3, help="best trials of each study offered (default: 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="best",
                        help="comma-separated mser-ensemble --method values built for each language (default: best); "
                             "with selection and stacking both, the two are compared on the test utterances")
    parser.add_argument("--reuse", action="store_true",
                        help="build the ensembles from the searches already in --work's store (no new search)")
    corpus_arguments(parser, out=Path(__file__).parent / "ensemble.json", scale="small")
    args = parser.parse_args()
    methods = args.methods.split(",")
    if unknown := set(methods) - {"best", "selection", "stacking"}:
        parser.error(f"--methods: unknown {', '.join(sorted(unknown))}; choose from best, selection, stacking")
    if args.reuse and not (args.work and (args.work / "mlflow.db").is_file()):
        parser.error("--reuse needs --work naming the folder of an earlier run (its mlflow.db)")
    work, root = corpus_root(args, "mser-ensemble-")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    common = ["--data-root", str(root), "--cache-dir", str(work / "cache"), "--tracking-uri", uri,
              "--experiment", EXPERIMENT]
    bin_dir = Path(sys.executable).parent
    languages = set() if not args.reuse else _studied(uri)
    for space in [] if args.reuse else args.spaces.split(","):
        out, seconds = run_search(space, ["--space", space, "--language", "each", "--trials", str(args.trials),
                                          "--max-epochs", str(args.epochs), "--seed", str(args.seed), "--json",
                                          *common], work, uri)
        languages |= {study["language"] for study in json.loads(out)}
        _say(f"  {seconds:.0f} s")
    rows = []
    for language in sorted(languages):
        for method in methods:
            command = [str(bin_dir / "mser-ensemble"), "--language", language, "--top", str(args.top), "--method",
                       method, "--json", *common]
            _say(f"ensemble: {' '.join(command[1:])}")
            started = time.perf_counter()
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=work)
            if done.returncode != 0:
                raise SystemExit(f"mser-ensemble --language {language} --method {method} ended with status "
                                 f"{done.returncode}")
            built = json.loads(done.stdout)
            rows.append({"language": language, "asked": method, "method": built.get("method"),
                         "run_id": built["run_id"], "seconds": round(time.perf_counter() - started, 1),
                         "validation_by_method": built.get("validation_by_method"),
                         "selection_fitted_on": built.get("selection_fitted_on"), "members": built["members"],
                         "val_kappa": built["val_kappa"],
                         "test_kappa": built["test_kappa"], "best_single": built["best_single"],
                         **{k: v for k, v in built["vs_best_single"].items() if k != "verdict"}})
    for row, adjusted in zip(rows, holm([r["mcnemar_p"] for r in rows])):
        row["holm_p"] = adjusted
        row["significant_after_holm"] = bool(adjusted < 0.05 and (row["low"] > 0 or row["high"] < 0))
    versus = _stacking_vs_selection(uri, rows) if {"selection", "stacking"} <= set(methods) else []
    results = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(),
               "data": str(args.data_root) if args.data_root else f"demo, {args.scale}", "spaces": args.spaces,
               "trials": args.trials, "epochs": args.epochs, "top": args.top, "seed": args.seed,
               "reused_searches": args.reuse, "methods": methods, "ensembles": rows,
               "better": sum(r["difference"] > 0 for r in rows), "worse": sum(r["difference"] < 0 for r in rows),
               "stacking_vs_selection": versus}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for row in rows:
        single = row["best_single"]
        print(f"{row['language']:>10} --method {row['asked']}: ensemble of {len(row['members'])} by {row['method']} "
              f"test kappa "
              f"{row['test_kappa']:.3f} vs best "
              f"trial alone ({single['space']}) {single['test_kappa']:.3f}: {row['difference']:+.3f} "
              f"[{row['low']:+.3f}, {row['high']:+.3f}], Holm p {row['holm_p']:.3g}")
    for row in versus:
        print(f"{row['language']:>10}: stacking {row['stacking']:.3f} vs selection {row['selection']:.3f} on the same "
              f"{row['utterances']} test utterances: {row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}], "
              f"Holm p {row['holm_p']:.3g}")
    print(f"written to {args.out}")


def _studied(uri: str) -> set[str]:
    """The languages of the finished studies in the store at ``uri`` (for ``--reuse``)."""
    from mlflow.tracking import MlflowClient

    from tracking.query import latest_studies

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is None:
        raise SystemExit(f"--reuse: no experiment {EXPERIMENT!r} in {uri}; run once without --reuse")
    return {language for _, language in latest_studies(client, found.experiment_id)}


def _stacking_vs_selection(uri: str, rows: list[dict]) -> list[dict]:
    """For each language, the ensemble built with ``--method stacking`` against the one built
    with ``--method selection`` on the same test utterances (paired bootstrap, McNemar, Holm
    over the languages). Each was chosen without the test speakers; this only measures them."""
    import io

    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from mser.stats import compare_paired
    from tracking.schema import predictions_file

    client = MlflowClient(uri)

    def predictions(run_id: str) -> pd.DataFrame:
        run = client.get_run(run_id)
        text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{predictions_file('test')}")
        return pd.read_csv(io.StringIO(text)).set_index("utterance")

    found = []
    by = {(r["language"], r["asked"]): r for r in rows}
    for language in sorted({r["language"] for r in rows}):
        if (language, "stacking") not in by or (language, "selection") not in by:
            continue
        stacking, selection = (predictions(by[(language, m)]["run_id"]) for m in ("stacking", "selection"))
        both = stacking.join(selection, how="inner", lsuffix="_stacking", rsuffix="_selection")
        c = compare_paired(both["label_stacking"].to_numpy(), both["predicted_stacking"].to_numpy(),
                           both["predicted_selection"].to_numpy())
        found.append({"language": language, "utterances": c.n, "stacking": by[(language, "stacking")]["test_kappa"],
                      "selection": by[(language, "selection")]["test_kappa"], "difference": c.difference,
                      "low": c.interval[0], "high": c.interval[1], "mcnemar_p": c.mcnemar_p})
    for row, adjusted in zip(found, holm([r["mcnemar_p"] for r in found])):
        row["holm_p"] = adjusted
    return found


if __name__ == "__main__":
    main()
