"""``mser-train``: train one model, print its kappa table, record it in MLflow.

    mser-train --model sae_cnn_features --language de [--data-root DIR] [--corpus FILE.csv] [--max-epochs N] [--json]
    mser-train --model smile_svm --feature-set eGeMAPSv02 --normalisation speaker
    mser-train --model sae_stats_svm [--feature-set librosa]    # the code's utterance statistics (and librosa's)
    mser-train --reproduce [--max-epochs N]     # the paper's Table 4, measured beside the paper's
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Mapping, Sequence

from tqdm import tqdm

from cli.common import (
    LANGUAGE_HELP,
    add_data_options,
    add_tracking_options,
    at_least,
    browse_hint,
    check_emotions,
    check_language_data,
    note,
    prepare,
    require_functionals,
    run,
    stdout_for_results,
    study_language,
)
from mser.corpora import JOINT, LANGUAGES
from mser.functionals import INPUT_SETS, NO_SET, NORMALISATIONS, FunctionalsParams
from mser.metrics import CLASS_WEIGHTINGS
from mser.models import MODELS
from mser.paper import TABLE4, paper_epochs, table4_runs
from mser.splits import corpus_of
from tracking.schema import COMMAND_TAG, LANGUAGE_TAG, MODEL_TAG
from tracking.store import check_store, ensure_store, experiment_id, resolve_tracking_uri

if TYPE_CHECKING:  # TensorFlow, MLflow and the data libraries load after the arguments are parsed
    import pandas as pd

    from mser.dataset import Dataset
    from mser.train import TrainConfig, TrainResult

PROG = "mser-train"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train one model (the paper's, or openSMILE functionals with a classic classifier) on "
                    "training speakers, score it on held-out speakers (Cohen's kappa), and record the run in MLflow.")
    parser.add_argument("--model", choices=list(MODELS), default="sae_cnn_features",
                        help="which model (default: sae_cnn_features, the paper's proposal; smile_* need the "
                             "opensmile extra)")
    parser.add_argument("--language", type=study_language, default="all", metavar="LANGUAGE",
                        help=f"{LANGUAGE_HELP} (default: all)")
    parser.add_argument("--reproduce", action="store_true",
                        help="train every model and language of the paper's Table 4 and print it beside the paper's")
    parser.add_argument("--max-epochs", type=at_least(1), metavar="N",
                        help="cap the epochs of the autoencoder and the classifier, for quick runs "
                             "(default: the paper's, 100; 300 for the joint classifier)")
    parser.add_argument("--patience", type=at_least(1), default=10, metavar="N",
                        help="epochs without a better validation score before stopping (default: 10)")
    parser.add_argument("--class-weighting", choices=CLASS_WEIGHTINGS, default="balanced",
                        help="class weights from compute_class_weight (default: balanced, as the paper)")
    defaults = FunctionalsParams()
    parser.add_argument("--feature-set", choices=[*INPUT_SETS, NO_SET],
                        help="functionals of the smile_* models, one set or two joined (default: "
                             f"{defaults.feature_set}); for the sae_stats_* models, the set joined to the code "
                             f"statistics (default: {NO_SET})")
    parser.add_argument("--normalisation", choices=NORMALISATIONS, default=defaults.normalisation,
                        help="smile_* and sae_stats_* models: standardise with the training speakers' statistics "
                             f"(global) or each speaker's own (speaker; default: {defaults.normalisation})")
    parser.add_argument("--select", type=at_least(0), default=defaults.select, metavar="K",
                        help="smile_* and sae_stats_* models: keep the K inputs that best separate the training "
                             "speakers' emotions (ANOVA F; default: 0, all of them)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    parser.add_argument("--json", action="store_true", help="print the final metrics and MLflow run ids as JSON")
    add_tracking_options(parser)
    add_data_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_emotions(args)  # before TensorFlow is imported
    import mlflow

    cells = table4_runs() if args.reproduce else [(args.model, args.language)]
    for model in {model for model, _ in cells if MODELS[model].uses_functionals}:
        _check_functionals(parser, args, model)
    wanted = {_feature_set(args, model) for model, _ in cells if MODELS[model].uses_functionals}
    feature_sets = [name for name in INPUT_SETS if name in wanted]  # NO_SET: none for the dataset to compute
    require_functionals(feature_sets)
    uri = resolve_tracking_uri(args.tracking_uri)
    check_store(uri)  # up front; the store is made once the data is ready
    dataset = prepare(args, feature_sets)
    if not args.reproduce:  # --reproduce records each cell, a cell without data as failed
        check_language_data(dataset, args.model, args.language)
    client = ensure_store(uri)
    experiment = experiment_id(client, args.experiment)
    mlflow.set_tracking_uri(uri)
    # TensorFlow and MLflow print on stdout at times: keep it for the results.
    with stdout_for_results() as out:
        outcomes = [_train_and_log(client, experiment, dataset, _config(args, model, language), args)
                    for model, language in cells]
        if args.json:
            json.dump(outcomes if args.reproduce else outcomes[0], out, indent=2)
            print(file=out)
        elif args.reproduce:
            print(reproduce_table(outcomes).to_string(), file=out)
        else:
            print(kappa_table(outcomes[0]), file=out)
    note(f"MLflow: experiment {args.experiment!r} at {uri}; {browse_hint(args)}")
    return 0 if all(o["status"] == "FINISHED" for o in outcomes) else 1


def _config(args: argparse.Namespace, model: str, language: str) -> TrainConfig:
    from mser.train import TrainConfig

    cap = args.max_epochs or 10**6
    functionals = ({"feature_set": _feature_set(args, model), "normalisation": args.normalisation,
                    "select": args.select} if MODELS[model].uses_functionals else {})
    return TrainConfig(model=model, language=language, sae_epochs=min(100, cap),
                       epochs=min(paper_epochs(language), cap),
                       patience=args.patience, class_weighting=args.class_weighting, seed=args.seed,
                       functionals=functionals)


def _check_functionals(parser: argparse.ArgumentParser, args: argparse.Namespace, model: str) -> None:
    """Refuse, before any data is read, a ``--feature-set`` the model cannot read (``none``, the
    code statistics alone, is the sae_stats_* models' only)."""
    spec = MODELS[model]
    try:
        spec.family.groups(spec)["functionals"](feature_set=_feature_set(args, model),
                                               normalisation=args.normalisation, select=args.select)
    except ValueError:
        parser.error(f"--feature-set {args.feature_set}: {model} reads one of {', '.join(INPUT_SETS)}"
                     + (f" ('{NO_SET}', no functionals, is for the sae_stats_* models)"
                        if args.feature_set == NO_SET else ""))


def _feature_set(args: argparse.Namespace, model: str) -> str:
    """``--feature-set``, or by default the one of ``model``'s ``functionals`` group."""
    if args.feature_set is not None:
        return args.feature_set
    spec = MODELS[model]
    return spec.family.groups(spec)["functionals"]().feature_set


class _Progress:
    """A bar per training stage on stderr, with the latest loss or kappa."""

    def __init__(self, config: TrainConfig) -> None:
        self.totals = {"sae": config.sae_epochs, "classifier": config.epochs}
        self.bar: tqdm | None = None
        self.stage = ""
        self.label = f"{config.model} {config.language}"

    def __call__(self, stage: str, epoch: int, values: Mapping[str, float]) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            name = "autoencoder" if stage == "sae" else "classifier"
            self.bar = tqdm(total=self.totals[stage], desc=f"{self.label}: {name}", unit=" epoch",
                            file=sys.stderr, disable=None, leave=False)
        self.bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()}, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _train_and_log(client, experiment: str, dataset: Dataset, config: TrainConfig, args) -> dict:
    from tracking.runs import record_training

    run_name = f"{config.model}-{config.language}-{time.strftime('%Y%m%d-%H%M%S')}"
    tags = {MODEL_TAG: config.model, LANGUAGE_TAG: config.language, COMMAND_TAG: " ".join(sys.argv)}
    outcome = {"model": config.model, "language": config.language, "status": "FAILED"}
    progress = _Progress(config)
    try:
        run_id, result = record_training(client, experiment, dataset, config, run_name=run_name, tags=tags,
                                         on_epoch=progress)
        progress.close()
        outcome["run_id"] = run_id
    except Exception as error:  # noqa: BLE001 - one failed run is reported, --reproduce goes on
        progress.close()
        if not args.reproduce:
            raise
        note(f"{config.model} on {config.language} failed: {error}")
        outcome["error"] = str(error)
        return outcome
    outcome.update(status="FINISHED", metrics=result.metrics(), best_epoch=result.best_epoch,
                   speakers={"validation": list(result.split.validation), "test": list(result.split.test)})
    outcome["table"] = kappa_table_data(result)
    return outcome


def kappa_table_data(result: TrainResult) -> list[dict]:
    """Rows of the kappa table: validation and test, per utterance and per window, and per language."""
    rows = []
    for side, evaluation in (("validation", result.validation), ("test", result.test)):
        rows.append({"speakers": side, "unit": "utterance", **evaluation.utterances})
        if not MODELS[result.config.model].uses_functionals:
            rows.append({"speakers": side, "unit": "window", **evaluation.windows})
        if len(evaluation.languages) > 1:
            for language, values in evaluation.languages.items():
                rows.append({"speakers": f"{side} ({language})", "unit": "utterance", **values})
    return rows


def kappa_table(outcome: dict) -> str:
    """The kappa table of one run, as text."""
    speakers = [*outcome["speakers"]["validation"], *outcome["speakers"]["test"]]
    import pandas as pd

    corpora = ", ".join(dict.fromkeys(corpus_of(s) for s in speakers))
    table = pd.DataFrame(outcome["table"]).round(3)
    return (f"{outcome['model']} on {outcome['language']} ({corpora}); best epoch {outcome['best_epoch']}; "
            f"validation {' '.join(outcome['speakers']['validation'])}; test {' '.join(outcome['speakers']['test'])}\n"
            f"{table.to_string(index=False)}\nMLflow run {outcome['run_id']}")


def reproduce_table(outcomes: list[dict]) -> pd.DataFrame:
    """Table 4: test kappa per model and language, the paper's beside the one measured here."""
    import pandas as pd

    measured = {(o["model"], o["language"]): o.get("metrics", {}).get("test_kappa") for o in outcomes}
    rows = {}
    for model, paper_row in TABLE4.items():
        row = {}
        for language in (*LANGUAGES, JOINT):
            row[f"{language} paper"] = paper_row.get(language)
            value = measured.get((model, language))
            row[f"{language} here"] = None if value is None else round(value, 3)
        rows[MODELS[model].title] = row
    return pd.DataFrame.from_dict(rows, orient="index").astype(object).where(lambda t: t.notna(), "")


if __name__ == "__main__":
    sys.exit(main())
