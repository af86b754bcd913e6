"""An ensemble of an experiment's best trials, chosen on validation speakers and recorded as a run.

For one language, the candidates are the best trials (by each study's objective) of the
latest study of every space searched on that language with the same data. Each candidate
model is scored on the validation speakers its trial was judged on (every candidate must
share them: the studies of one language and data draw the same split), and ensemble
selection (:func:`mser.ensemble.select`) picks members and weights on those predictions
alone. The ensemble is then scored on the test speakers once, beside the best candidate
alone (a paired comparison), and recorded as a run of its own: members and weights, both
kappas, the comparison, the confusion matrices and predictions, and the ensemble as one
pyfunc model (raw audio in, probabilities out) that ``mser-predict`` and ``mlflow models
serve`` use as any other.

With stacking (:mod:`mser.ensemble`), every candidate's configuration (the run's
:data:`~tracking.schema.CONFIG_FILE`, for the epochs its trial found) is trained again on
speaker folds of the training speakers for out-of-fold predictions, a meta-learner is
fitted on them, and the stacked ensemble of every candidate is judged on the same
validation speakers. ``method="best"`` judges like with like: selection's weights are then
chosen on the same out-of-fold predictions as the meta-learner, so neither has seen the
validation speakers, and it keeps whichever scores higher there (selection on a tie: it is
the simpler) with an honest validation kappa; the test speakers are scored once, for the
one kept. ``method="selection"`` chooses the weights on the validation predictions (no
retraining; its validation kappa is then the one it was chosen on, hence optimistic).

The members are the trial models themselves, trained on the training speakers without the
validation ones (the study's refit saw the validation speakers, so it cannot be judged on
them); the comparison is therefore with the best trial alone, trained on the same speakers.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import mlflow

from mser.augment import AugmentParams, load_augmentation
from mser.corpora import held_out_language
from mser.ensemble import (
    DEFAULT_ROUNDS,
    DEFAULT_STACK_FOLDS,
    DEFAULT_TOP,
    EnsemblePipeline,
    aligned,
    combine,
    judge,
    out_of_fold,
    select,
    stacked,
    stacker_weights,
)
from mser.errors import MserError
from mser.metrics import TEST_KAPPA, VAL_KAPPA, evaluate, probability_column
from mser.splits import Split
from mser.stats import PairedComparison, compare_paired
from tracking.model import load_pipeline, score_logged_model
from tracking.query import latest_studies
from tracking.runs import log_evaluation, log_model, log_params, logged_config, refit_config, tracked_run
from tracking.schema import (
    BEST_SINGLE_PREDICTIONS_FILE,
    BEST_SINGLE_PREFIX,
    BEST_TRIALS_FILE,
    COMMAND_TAG,
    DATASET_KEY_TAG,
    ENSEMBLE_FILE,
    ENSEMBLE_TAG,
    LANGUAGE_TAG,
    MODEL_URI_TAG,
    OUT_OF_FOLD_FILE,
    SELECTION_PREFIX,
    STACKING_PREFIX,
    VS_BEST_SINGLE_PREFIX,
    speakers_tag,
)

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

    from mser.dataset import Dataset
    from mser.metrics import Evaluation
    from mser.pipeline import EmotionPipeline


@dataclass
class Candidate:
    """One trial offered to the selection (its run, as read once), with its validation predictions."""

    run: Run
    space: str
    pipeline: EmotionPipeline
    validation: Evaluation

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def run_name(self) -> str:
        return self.run.info.run_name

    def speakers(self, side: str) -> str:
        return self.run.data.tags[speakers_tag(side)]


#: ``method`` of :func:`build_ensemble`: either way of combining, or the better on validation.
CHOICES = ("best", "selection", "stacking")


@dataclass
class EnsembleResult:
    """What :func:`build_ensemble` chose, measured and recorded.

    Attributes:
        method: How the ensemble combines its members (``selection`` or ``stacking``).
        validation_by_method: The validation kappa of each way tried (what ``best`` chose by).
        selection_fitted_on: What selection's weights were chosen on: ``validation`` (its
            validation kappa is then the one it was fitted on) or ``out-of-fold``.
    """

    run_id: str
    language: str
    members: list[dict]
    val_kappa: float
    test_kappa: float
    best_single: dict
    comparison: PairedComparison
    left_out: list[str] = field(default_factory=list)
    method: str = "selection"
    validation_by_method: dict[str, float] = field(default_factory=dict)
    selection_fitted_on: str = "validation"

    def as_dict(self) -> dict:
        c = self.comparison
        return {"run_id": self.run_id, "language": self.language, "method": self.method,
                "validation_by_method": self.validation_by_method, "selection_fitted_on": self.selection_fitted_on,
                "members": self.members,
                VAL_KAPPA: self.val_kappa, TEST_KAPPA: self.test_kappa, "best_single": self.best_single,
                "vs_best_single": {"utterances": c.n, "difference": c.difference, "low": c.interval[0],
                                   "high": c.interval[1], "mcnemar_p": c.mcnemar_p,
                                   "significant": c.significant(), "verdict": c.verdict()},
                "left_out": self.left_out}


def candidates(client: MlflowClient, experiment_id: str, language: str, dataset: Dataset, *,
               top: int = DEFAULT_TOP) -> tuple[list[Candidate], list[str]]:
    """The best ``top`` trials of each latest study of ``language`` on ``dataset``, scored on
    their validation speakers; and a line for each trial left out (other validation speakers).

    Raises:
        MserError: No study of the language on this data, or fewer than two candidates.
    """
    mlflow.set_tracking_uri(client.tracking_uri)  # logged models (models:/m-...) resolve through it
    studies = {space: parent for (space, studied), parent in sorted(latest_studies(client, experiment_id).items())
               if studied == language}
    if not studies:
        raise MserError(f"no finished study of language {language} in this experiment: search it first "
                        "(mser-search --language ...), or choose a language the experiment has")
    same_data = {space: parent for space, parent in studies.items()
                 if parent.data.tags.get(DATASET_KEY_TAG) == dataset.key}
    if not same_data:
        raise MserError(f"the studies of {language} were searched on other data (dataset key "
                        f"{next(iter(studies.values())).data.tags.get(DATASET_KEY_TAG)}, here {dataset.key}): pass "
                        "the same --data-root, --corpus and --emotions as the searches")
    runs = []
    for space, parent in same_data.items():
        best = mlflow.artifacts.load_dict(f"{parent.info.artifact_uri}/{BEST_TRIALS_FILE}").get("best", [])
        for row in best[:top]:
            run = client.get_run(row["run_id"])
            if MODEL_URI_TAG in run.data.tags:
                runs.append((space, run))
    sides = Counter(run.data.tags[speakers_tag("validation")] for _, run in runs)
    if not sides:
        raise MserError(f"the studies of {language} have no finished trial with a model")
    validation = sides.most_common(1)[0][0]
    chosen, left_out = [], []
    for space, run in runs:
        judged_on = run.data.tags[speakers_tag("validation")]
        if judged_on != validation:
            left_out.append(f"{run.info.run_name} ({space}): judged on other validation speakers ({judged_on}, "
                            f"not {validation})")
            continue
        pipeline = load_pipeline(run.data.tags[MODEL_URI_TAG])
        chosen.append(Candidate(run, space, pipeline,
                                score_logged_model(run, dataset, validation.split(), pipeline=pipeline)))
    if len(chosen) < 2:
        raise MserError(f"only {len(chosen)} trial of {language} to choose from: an ensemble needs two or more "
                        "(search more spaces or trials, or raise --top)")
    return chosen, left_out


def build_ensemble(client: MlflowClient, experiment_id: str, language: str, dataset: Dataset, *,
                   top: int = DEFAULT_TOP, rounds: int = DEFAULT_ROUNDS, method: str = "best",
                   folds: int = DEFAULT_STACK_FOLDS, command: str = "", progress=None,
                   cache_dir=None) -> EnsembleResult:
    """Choose an ensemble of ``language``'s best trials on their validation speakers (by
    ensemble selection, stacking, or the better of the two: ``method``), score it on the test
    speakers once beside the best trial alone, and record it as a run with its model.

    Raises:
        MserError: Unknown method, too few candidates, or (stacking) a candidate whose
            configuration was not kept or too few training speakers for its folds.
    """
    if method not in CHOICES:
        raise MserError(f"unknown ensemble method {method!r}: expected one of {', '.join(CHOICES)}")
    if method == "stacking" and held_out_language(language):
        raise MserError(f"--method stacking: {language} is a held-out-language study, whose folds of training "
                        "speakers cannot be scored on the held-out language's data; use --method selection")
    offered, left_out = candidates(client, experiment_id, language, dataset, top=top)
    meta, arrays = aligned([c.validation for c in offered])
    truth = meta["label"].to_numpy()
    emotions = tuple(offered[0].validation.emotions)
    selection = select(arrays, truth, rounds=rounds)
    best_single, fitted_on = selection.best_single, "validation"
    single = offered[best_single]
    tests = {c.speakers("test") for c in offered}
    if len(tests) != 1:
        raise MserError(f"the candidates were tested on different speakers ({'; '.join(sorted(tests))})")
    test_speakers = tests.pop().split()
    by_method = {"selection": selection.kappa}
    stacking = stacker = None
    if method == "stacking" or (method == "best" and not held_out_language(language)):
        stacking = _stack(offered, dataset, folds=folds, progress=progress, cache_dir=cache_dir)
        judged = judge(stacking["oof_arrays"], stacking["oof_truth"], arrays, truth, rounds=rounds)
        # Like judged with like: selection's weights, too, from the out-of-fold predictions.
        stacker, by_method = judged.stacker, dict(judged.kappa)
        selection, fitted_on = judged.selection, "out-of-fold"
    chosen = method if method != "best" else (judged.winner if stacking else "selection")
    if chosen == "stacking":
        members, weights = offered, stacker_weights(stacker, len(offered))
        ensemble = EnsemblePipeline(tuple(m.pipeline for m in members), weights, tuple(m.run_name for m in members),
                                    stacker)
        validation = evaluate(stacked(stacker, arrays, len(emotions)), meta, emotions=emotions)
    else:
        members = [offered[i] for i in selection.members]
        weights = tuple(selection.weights[i] for i in selection.members)
        ensemble = EnsemblePipeline(tuple(m.pipeline for m in members), weights, tuple(m.run_name for m in members))
        validation = combine([m.validation for m in members], weights)
    # The test speakers, once, after the choice: each model scored once (the best alone is often a member).
    indexes = [offered.index(m) for m in members]
    scored = {i: score_logged_model(offered[i].run, dataset, test_speakers, pipeline=offered[i].pipeline)
              for i in {*indexes, best_single}}
    test_meta, test_arrays = aligned([scored[i] for i in indexes])
    test = evaluate(ensemble.combine(test_arrays), test_meta, emotions=emotions)
    single_test = scored[best_single]
    both, (ours, theirs) = aligned([test, single_test])
    comparison = compare_paired(both["label"].to_numpy(), ours.argmax(axis=1), theirs.argmax(axis=1))
    rows = [{"run_id": m.run_id, "run_name": m.run_name, "space": m.space, "weight": round(w, 4),
             VAL_KAPPA: round(m.validation.utterances["kappa"], 4)} for m, w in zip(members, weights)]
    tags = {ENSEMBLE_TAG: "true", LANGUAGE_TAG: language, DATASET_KEY_TAG: dataset.key, COMMAND_TAG: command,
            speakers_tag("validation"): single.speakers("validation"),
            speakers_tag("test"): " ".join(test_speakers)}
    run_name = f"ensemble-{language}-{time.strftime('%Y%m%d-%H%M%S')}"
    with tracked_run(client, experiment_id, run_name=run_name, tags=tags) as run_id:
        log_params(client, run_id, {"members": [m.run_name for m in members], "weights": list(weights),
                                    "top": top, "rounds": rounds, "candidates": len(offered), "method": chosen,
                                    "asked": method, **({"folds": stacking["folds"]} if stacking else {})})
        metrics = {**validation.metrics("val", per_window=False), **test.metrics("test", per_window=False),
                   **{f"{SELECTION_PREFIX if name == 'selection' else STACKING_PREFIX}{VAL_KAPPA}": value
                      for name, value in by_method.items()},
                   f"{BEST_SINGLE_PREFIX}{VAL_KAPPA}": single.validation.utterances["kappa"],
                   f"{BEST_SINGLE_PREFIX}{TEST_KAPPA}": single_test.utterances["kappa"],
                   f"{VS_BEST_SINGLE_PREFIX}kappa_difference": comparison.difference,
                   f"{VS_BEST_SINGLE_PREFIX}mcnemar_p": comparison.mcnemar_p}
        for name, value in metrics.items():
            client.log_metric(run_id, name, float(value))
        for side, evaluation in (("validation", validation), ("test", test)):
            log_evaluation(client, run_id, evaluation, side, title=f"ensemble, {language}")
        client.log_text(run_id, single_test.predictions.to_csv(index=False), BEST_SINGLE_PREDICTIONS_FILE)
        record = {"method": chosen, "validation_by_method": by_method, "members": rows,
                  "selection_path": list(selection.path), "selection_fitted_on": fitted_on, "rounds": rounds,
                  "candidates": [c.run_name for c in offered], "left_out": left_out,
                  "best_single": single.run_name, "comparison": comparison.verdict()}
        if stacking:
            record["stacking"] = {"folds": stacking["folds"], "training_speakers": stacking["speakers"],
                                  "out_of_fold_kappa": stacking["oof_kappa"]}
            client.log_text(run_id, stacking["out_of_fold"].to_csv(index=False), OUT_OF_FOLD_FILE)
        client.log_dict(run_id, record, ENSEMBLE_FILE)
        log_model(client, run_id, ensemble)
    return EnsembleResult(run_id, language, rows, validation.utterances["kappa"], test.utterances["kappa"],
                          {"run_name": single.run_name, "space": single.space,
                           VAL_KAPPA: single.validation.utterances["kappa"],
                           TEST_KAPPA: single_test.utterances["kappa"]}, comparison, left_out, chosen, by_method,
                          fitted_on)


def _stack(offered: list[Candidate], dataset: Dataset, *, folds: int, progress=None, cache_dir=None) -> dict:
    """Every candidate's out-of-fold predictions of the training speakers (the candidates'
    shared ``speakers.train``: never a validation or test speaker), for :func:`mser.ensemble.judge`."""
    import pandas as pd

    emotions = tuple(offered[0].validation.emotions)
    configs = []
    for candidate in offered:
        config = logged_config(candidate.run)
        if config is None:
            raise MserError(f"{candidate.run_name} ({candidate.space}) kept no training configuration (logged before "
                            "this version): search again, or build with --method selection")
        configs.append(refit_config(config, candidate.run.data.metrics))
        for variant in AugmentParams(**config.augment).variants:  # its training copies, made once then cached
            load_augmentation(dataset, variant, cache_dir=cache_dir)
    trained_on = {c.speakers("train") for c in offered}
    if len(trained_on) != 1:
        raise MserError("the candidates were trained on different speakers: stacking needs one training side; "
                        "build with --method selection")
    speakers = tuple(trained_on.pop().split())
    if len(speakers) < 2:
        raise MserError(f"stacking needs 2 or more training speakers for its folds, the trials had {len(speakers)}: "
                        "build with --method selection")
    split = Split("stacking", train=speakers, test=tuple(offered[0].speakers("test").split()),
                  validation=tuple(offered[0].speakers("validation").split()))
    oof_meta, oof = out_of_fold(dataset, configs, split, folds=folds, progress=progress)
    long = pd.concat([oof_meta.assign(candidate=c.run_name, predicted=a.argmax(axis=1),
                                      **{probability_column(e): a[:, i].round(6) for i, e in enumerate(emotions)})
                      for c, a in zip(offered, oof)], ignore_index=True)
    return {"folds": min(folds, len(speakers)), "speakers": list(speakers), "out_of_fold": long, "oof_arrays": oof,
            "oof_truth": oof_meta["label"].to_numpy(),
            "oof_kappa": {c.run_name: round(float(evaluate(a, oof_meta, emotions=emotions).utterances["kappa"]), 4)
                          for c, a in zip(offered, oof)}}
