"""The full search against the same search held to the field's recipe, with the same budget.

    python bench/recipe.py [--scale full] [--spaces smile_svm,smile_logreg,cnn_features] [--trials 8]
                           [--epochs 10] [--seed 0] [--data-root DIR] [--work DIR]
                           [--full-experiment NAME] [--out bench/recipe.json]

Issue 32 asks whether the inputs and augmentation the search adds beat the field's recipe
at the same cost. For each space, two ``mser-search --language each`` runs with the same
trials, epochs and seed, as a user runs them, each into its own experiment:

- the full space (experiment ``--full-experiment``, by default ``bench-recipe-full``);
- the same space held to the recipe with ``--fix`` (experiment ``bench-recipe-held``): for a
  space on functionals the field's inputs, ComParE_2016 with per-speaker normalisation and
  every column, its classifier and class weighting still searched; for a space on windows
  no augmentation, everything else still searched.

Then, per space and language, the two studies' results (each study's refit of its chosen
trial, chosen on validation speakers only) on the same test utterances: the paired
bootstrap interval of the kappa difference (full minus held) and McNemar's exact test, with
Holm's adjustment over every comparison. Searches already finished in ``--work``'s store
under those experiment names are reused, not run again (e.g. ``--work`` the folder of
``bench/ensemble.py --scale full --work DIR`` with ``--full-experiment bench-ensemble``,
whose searches have the same settings). On your own corpora: ``--data-root DIR``. Not a
test: it writes the figures docs/benchmarks.md quotes.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

# bench/ is the script's folder, first on sys.path
from performance import _machine, _say, corpus_arguments, corpus_root, run_search

SPACES = "smile_svm,smile_logreg,cnn_features"
HELD_EXPERIMENT = "bench-recipe-held"
#: What "the recipe" holds in each kind of space (the rest is searched).
RECIPE_INPUTS = ("functionals.feature_set=ComParE_2016", "functionals.normalisation=speaker", "functionals.select=0")
NO_AUGMENTATION = ("augment.speed=false", "augment.noise_snr=0")


def held(space: str) -> tuple[str, ...]:
    """The ``--fix`` values that hold ``space`` to the recipe, or a SystemExit for a space with neither."""
    from search.spaces import SPACES as ALL

    groups = ALL[space]
    if "functionals" in groups and "sae" not in groups:
        return RECIPE_INPUTS
    if "augment" in groups:
        return NO_AUGMENTATION
    raise SystemExit(f"--spaces {space}: it searches neither functionals' inputs nor augmentation; choose among "
                     "the smile_* spaces, cnn_features and dnn_features")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default=SPACES, help=f"spaces compared (default: {SPACES})")
    parser.add_argument("--trials", type=int, default=8, help="trials of each study, both arms (default: 8)")
    parser.add_argument("--epochs", type=int, default=10, help="classifier epochs at most (default: 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--full-experiment", default="bench-recipe-full",
                        help="experiment of the full searches (default: bench-recipe-full)")
    corpus_arguments(parser, out=Path(__file__).parent / "recipe.json", scale="full")
    args = parser.parse_args()
    spaces = args.spaces.split(",")
    holds = {space: held(space) for space in spaces}
    work, root = corpus_root(args, "mser-recipe-")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    common = ["--data-root", str(root), "--cache-dir", str(work / "cache"), "--tracking-uri", uri,
              "--trials", str(args.trials), "--max-epochs", str(args.epochs), "--seed", str(args.seed),
              "--language", "each", "--json"]
    seconds = {}
    for space in spaces:
        for arm, experiment, fixes in (("full", args.full_experiment, ()), ("held", HELD_EXPERIMENT, holds[space])):
            if _studied(uri, experiment, space):
                _say(f"{space}, {arm}: reusing the finished searches in {experiment}")
                continue
            _, took = run_search(f"{space}, {arm}", ["--space", space, "--experiment", experiment, *common,
                                                     *(f for fix in fixes for f in ("--fix", fix))], work, uri)
            seconds[f"{space}-{arm}"] = round(took)
    rows = _compare(uri, args.full_experiment, spaces, holds)
    from mser.stats import holm

    for row, adjusted in zip(rows, holm([r["mcnemar_p"] for r in rows])):
        row["holm_p"] = adjusted
        row["significant_after_holm"] = bool(adjusted < 0.05 and (row["low"] > 0 or row["high"] < 0))
    results = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(),
               "data": str(args.data_root) if args.data_root else f"demo, {args.scale}", "trials": args.trials,
               "epochs": args.epochs, "seed": args.seed, "held": {s: list(f) for s, f in holds.items()},
               "search_seconds": seconds, "comparisons": rows,
               "better": sum(r["difference"] > 0 for r in rows), "worse": sum(r["difference"] < 0 for r in rows),
               "significant": sum(r["significant_after_holm"] for r in rows)}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    for row in rows:
        print(f"{row['space']:>13} {row['language']:>4}: test kappa of the study results (refits), full "
              f"{row['full']['test_kappa']:.3f} "
              f"({row['full']['chose']}) vs held {row['held']['test_kappa']:.3f} ({row['held']['chose']}): "
              f"{row['difference']:+.3f} [{row['low']:+.3f}, {row['high']:+.3f}], Holm p {row['holm_p']:.3g}")
    print(f"written to {args.out}")


def _studied(uri: str, experiment: str, space: str) -> bool:
    """Whether the store holds finished studies of ``space`` in ``experiment`` (a search to reuse)."""
    from mlflow.tracking import MlflowClient

    from tracking.query import latest_studies

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    return found is not None and any(s == space for s, _ in latest_studies(client, found.experiment_id))


def _compare(uri: str, full_experiment: str, spaces: list[str], holds: dict) -> list[dict]:
    """Per space and language, the full study's result against the held one's, same test utterances."""
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    from mser.stats import compare_paired
    from tracking.query import latest_studies
    from tracking.schema import RESULT_RUN_TAG, predictions_file

    client = MlflowClient(uri)
    studies = {arm: latest_studies(client, client.get_experiment_by_name(name).experiment_id)
               for arm, name in (("full", full_experiment), ("held", HELD_EXPERIMENT))}

    def result(parent):
        run = client.get_run(parent.data.tags[RESULT_RUN_TAG])
        text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{predictions_file('test')}")
        params = run.data.params
        chose = ", ".join(f"{k.split('.', 1)[-1]} {params[k]}" for k in sorted(params)
                          if k.startswith(("functionals.", "augment.")))
        return run, pd.read_csv(io.StringIO(text)).set_index("utterance"), chose

    rows = []
    for space in spaces:
        for (name, language), parent in sorted(studies["full"].items()):
            if name != space or (space, language) not in studies["held"]:
                continue
            full_run, full, full_chose = result(parent)
            held_run, held_predictions, held_chose = result(studies["held"][(space, language)])
            held_predictions = held_predictions.loc[full.index]  # the same test utterances, in one order
            paired = compare_paired(full["label"].to_numpy(), full["predicted"].to_numpy(),
                                    held_predictions["predicted"].to_numpy())
            rows.append({"space": space, "language": language, "utterances": paired.n,
                         "full": {"run_id": full_run.info.run_id, "test_kappa": paired.kappa_a, "chose": full_chose},
                         "held": {"run_id": held_run.info.run_id, "test_kappa": paired.kappa_b, "chose": held_chose},
                         "difference": paired.difference, "low": paired.interval[0], "high": paired.interval[1],
                         "mcnemar_p": paired.mcnemar_p})
    return rows


if __name__ == "__main__":
    main()
