"""The study report: what the searches of one experiment found, in one self-contained HTML page.

:func:`collect` reads the latest finished study of each space and language from MLflow
(parent run, trials, the best trial's and the paper configuration's test predictions);
:func:`analyse` turns them into numbers (kappa with bootstrap intervals, the paired
comparison with the paper's configuration, fANOVA importance); :func:`write_report`
draws the pictures with matplotlib and writes ``report.html`` (pictures embedded, no
network needed) with the PNG files beside it, and logs both to every study's parent run.
Every number comes from the runs; the test speakers chose nothing (the best trial is
the best by validation kappa). A study's *result*, whose test kappa the tables show, is
the refit of its chosen trial on every training speaker (:mod:`search.retrain`), or the
chosen trial itself for a study searched with ``--no-refit``; the comparison with the
paper's configuration is between trials, both fitted without the validation speakers.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import numpy as np
import optuna
import pandas as pd
from mlflow.tracking import MlflowClient
from ray.tune.search.optuna import OptunaSearch
from sklearn.metrics import confusion_matrix

from mser.cache import folder_name
from mser.corpora import (
    EMOTIONS,
    HELD_OUT_PREFIX,
    JOINT,
    LANGUAGES,
    held_out_language,
    is_one_language,
    is_study_language,
    study_order,
)
from mser.errors import MserError
from mser.metrics import TEST_KAPPA, VAL_KAPPA
from mser.models import get_model
from mser.paper import TABLE4
from mser.plots import confusion_figure, curves_figure, importance_figure, parallel_figure, transfer_figure
from mser.splits import LOSO
from mser.stats import compare_paired, holm, kappa_with_interval
from report.page import Image, Importance, Pictures, render
from search.repeats import summarise
from search.spaces import SPACES, param_name
from tracking.language_choice import language_choice
from tracking.query import NEWEST_FIRST, all_runs, best_by, children, held_values, latest_studies, outcome
from tracking.schema import (
    BEST_EPOCH_TAG,
    BEST_RUN_TAG,
    BEST_SINGLE_PREDICTIONS_FILE,
    COMMAND_TAG,
    CV_VAL_KAPPA,
    CV_VAL_KAPPA_SD,
    DATASET_KEY_TAG,
    ENSEMBLE_FILE,
    ENSEMBLE_TAG,
    EPOCHS_PARAM,
    FOLDS_PARAM,
    HISTORY_FILE,
    LABELS_TAG,
    LANGUAGE_TAG,
    PAPER_TAG,
    REFIT_OF_TAG,
    REPEAT_OF_TAG,
    REPORT_ARTIFACT_DIR,
    RETRIED_TAG,
    SEED_PARAM,
    SPEAKER_SIDES,
    Outcome,
    predictions_file,
    speakers_tag,
    transfer_metric,
    transfer_predictions_file,
)

REPORT_FILE = "report.html"
#: Fewer finished trials than this and fANOVA has nothing to say.
MIN_TRIALS_FOR_IMPORTANCE = 4


@dataclass
class Study:
    """One study's runs, as read from MLflow."""

    space: str
    language: str
    parent: object
    trials: list
    objective: str
    best: object | None = None
    #: The refit of the best trial on every training speaker (None with --no-refit).
    refit: object | None = None
    paper: object | None = None
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # run id -> test predictions
    #: Utterances of the validation speakers the best trial was chosen on (None: not logged).
    validation_utterances: int | None = None
    #: Finished runs of the best trial's configuration trained again with other seeds (--repeats).
    repeats: list = field(default_factory=list)
    #: A single-language study's best model on other languages' test speakers: language -> predictions.
    transfer: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def labels(self) -> tuple[str, ...]:
        """The label set of the best trial (the paper's six for runs that do not say)."""
        tag = self.best.data.tags.get(LABELS_TAG) if self.best is not None else None
        return tuple(tag.split()) if tag else EMOTIONS

    @property
    def result(self):
        """The study's result: the refit, or the best trial without one."""
        return self.refit if self.refit is not None else self.best

    def result_predictions(self) -> pd.DataFrame:
        return self.predictions[self.result.info.run_id]

    @property
    def finished(self) -> list:
        return [t for t in self.trials if t.info.status == "FINISHED" and self.objective in t.data.metrics]


def collect(client: MlflowClient, experiment: str) -> tuple[str, list[Study]]:
    """The latest finished study of each space and language in ``experiment``.

    Raises:
        MserError: No such experiment, or no finished search in it.
    """
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise MserError(f"no experiment {experiment!r} in {client.tracking_uri}: run mser-search first, "
                        "or name the experiment with --experiment")
    # A study whose space or language tag was edited into something unknown is not one of ours to show.
    latest = {key: parent for key, parent in latest_studies(client, found.experiment_id).items()
              if key[0] in SPACES and is_study_language(key[1])}
    if not latest:
        raise MserError(f"no finished search in experiment {experiment!r}: run mser-search first "
                        "(an interrupted one continues with --resume)")
    studies = []
    studied = sorted({language for _, language in latest if is_one_language(language)}, key=study_order)
    for (space, language), parent in sorted(latest.items(), key=lambda item: (list(SPACES).index(item[0][0]),
                                                                             study_order(item[0][1]))):
        runs = children(client, found.experiment_id, parent.info.run_id)
        trials = [t for t in runs if REPEAT_OF_TAG not in t.data.tags and REFIT_OF_TAG not in t.data.tags]
        objective = CV_VAL_KAPPA if any(CV_VAL_KAPPA in t.data.metrics for t in trials) else VAL_KAPPA
        study = Study(space, language, parent, trials, objective,
                      repeats=[t for t in runs if REPEAT_OF_TAG in t.data.tags and t.info.status == "FINISHED"])
        scored = [t for t in study.finished if TEST_KAPPA in t.data.metrics]
        chosen = parent.data.tags.get(BEST_RUN_TAG)  # what the study chose; older studies: the same rule
        study.best = next((t for t in scored if t.info.run_id == chosen), None) or best_by(
            scored, objective, spread=CV_VAL_KAPPA_SD)
        study.refit = next((t for t in runs if study.best is not None and t.info.status == "FINISHED"
                            and t.data.tags.get(REFIT_OF_TAG) == study.best.info.run_id
                            and TEST_KAPPA in t.data.metrics), None)
        study.paper = next((t for t in trials if t.data.tags.get(PAPER_TAG) == "true"
                            and t.data.tags.get(RETRIED_TAG) != "true"), None)  # not an attempt whose worker died
        for run in (study.best, study.refit, study.paper):
            if run is not None and TEST_KAPPA in run.data.metrics:
                study.predictions[run.info.run_id] = _predictions(run, "test")
        if study.best is not None and is_one_language(language):
            study.transfer = {test: _csv(study.result, transfer_predictions_file(test)) for test in studied
                              if transfer_metric(language, test) in study.result.data.metrics}
        if study.best is not None:
            validation = _predictions(study.best, "validation", missing_ok=True)
            study.validation_utterances = None if validation is None else len(validation)
        studies.append(study)
    return found.experiment_id, studies


def _predictions(run, side: str, *, missing_ok: bool = False) -> pd.DataFrame | None:
    """The per-utterance predictions a run logged for one side's speakers."""
    return _csv(run, predictions_file(side), missing_ok=missing_ok)


def _csv(run, path: str, *, missing_ok: bool = False) -> pd.DataFrame | None:
    """A CSV artifact of a run as a table."""
    try:
        text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{path}")
    except Exception:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
        if missing_ok:
            return None
        raise
    return pd.read_csv(io.StringIO(text))


def _choice(study: Study, best: dict) -> dict:
    """What the choice of the best trial rested on: how many speakers and utterances its
    objective was measured on, and how far its test kappa fell from it (validation - test)."""
    speakers = best["speakers"]
    if study.objective == CV_VAL_KAPPA:  # folds over every training speaker, validation ones included
        pool = f"{speakers['train']} {speakers['validation']}".split()
        folds = study.parent.data.params.get(FOLDS_PARAM)  # absent on searches before leave-one-speaker-out
        label = ("leave one speaker out" if folds == LOSO else
                 f"mean over {folds} speaker folds" if folds else "mean over speaker folds")
        return {"objective": label, "speakers": len(pool), "utterances": None,
                "gap": best[VAL_KAPPA] - best["chosen_test"]["kappa"]}
    return {"objective": "one validation split", "speakers": len(speakers["validation"].split()),
            "utterances": study.validation_utterances, "gap": best[VAL_KAPPA] - best["chosen_test"]["kappa"]}


def importance(study: Study) -> dict[str, float] | None:
    """fANOVA importance of each searched hyperparameter for the objective, over finished trials."""
    finished = study.finished
    if len(finished) < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    fixed = held_values(study.parent)  # held at a value: nothing to explain
    distributions = {param_name(k): d for k, d in OptunaSearch.convert_search_space(dict(SPACES[study.space])).items()
                     if param_name(k) not in fixed}
    # A dimension the space gained after these trials ran (their runs lack its param) is left out.
    distributions = {name: d for name, d in distributions.items() if all(name in t.data.params for t in finished)}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna_study = optuna.create_study(direction="maximize")
    for trial in finished:
        params = {}
        for name, distribution in distributions.items():
            raw = trial.data.params[name]
            if isinstance(distribution, optuna.distributions.CategoricalDistribution):
                params[name] = next(c for c in distribution.choices if str(c) == raw)
            else:
                params[name] = float(raw)
        optuna_study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions,
                                                         value=trial.data.metrics[study.objective]))
    return optuna.importance.get_param_importances(
        optuna_study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))


@dataclass
class Figures:
    """PNG files written for the report, each also embedded in the page."""

    folder: Path
    files: list[Path] = field(default_factory=list)

    def add(self, figure, name: str) -> Image:
        """Write ``figure`` as ``<name>.png`` and return it for the page."""
        path = self.folder / f"{folder_name(name)}.png"  # names come from the store's tags
        figure.savefig(path, format="png")
        plt.close(figure)
        self.files.append(path)
        return {"name": name, "base64": base64.b64encode(path.read_bytes()).decode()}


def analyse(study: Study, *, resamples: int) -> dict:
    """The numbers of one study, as the report prints them and as its JSON holds them."""
    best, paper = study.best, study.paper
    result = {"space": study.space, "language": study.language, "parent_run_id": study.parent.info.run_id,
              "objective": study.objective, "trials": len(study.trials), "finished": len(study.finished),
              "dataset_key": study.parent.data.tags.get(DATASET_KEY_TAG, ""),
              "command": study.parent.data.tags.get(COMMAND_TAG, ""),
              "fixed": held_values(study.parent),
              "paper_table4": TABLE4.get(study.space, {}).get(study.language), "best": None, "paper": None,
              "comparison": None, "languages": {}, "refit_vs_chosen": None,
              "repeats": summarise([{"seed": r.data.params.get(SEED_PARAM), "run_id": r.info.run_id,
                                     **{k: r.data.metrics.get(k) for k in (VAL_KAPPA, TEST_KAPPA)}}
                                    for r in study.repeats]) if study.repeats else None}
    if best is not None:
        predictions = study.result_predictions()
        chosen = study.predictions[best.info.run_id]
        refit = study.refit
        result["best"] = {"run_id": best.info.run_id, "run_name": best.info.run_name,
                          VAL_KAPPA: best.data.metrics[study.objective],
                          TEST_KAPPA: study.result.data.metrics[TEST_KAPPA],
                          "test": kappa_with_interval(predictions, resamples=resamples),
                          "chosen_test": kappa_with_interval(chosen, resamples=resamples),
                          "refit": None if refit is None else {
                              "run_id": refit.info.run_id, "run_name": refit.info.run_name,
                              # a model not trained by epochs (an SVM...) has none to show
                              "epochs": refit.data.params.get(EPOCHS_PARAM) if get_model(study.space).keras else None},
                          "params": dict(best.data.params),
                          "speakers": {side: best.data.tags.get(speakers_tag(side), "") for side in SPEAKER_SIDES}}
        result["best"]["choice"] = _choice(study, result["best"])
        if refit is not None:
            both = predictions.merge(chosen, on="utterance", suffixes=("_refit", "_chosen"))
            versus = compare_paired(both["label_refit"], both["predicted_refit"], both["predicted_chosen"],
                                    resamples=resamples)
            result["refit_vs_chosen"] = {"n": versus.n, "kappa_refit": versus.kappa_a, "kappa_chosen": versus.kappa_b,
                                         "difference": versus.difference, "interval": list(versus.interval),
                                         "mcnemar_p": versus.mcnemar_p, "verdict": versus.verdict()}
        if study.language == "all":
            result["languages"] = {lang: kappa_with_interval(part, resamples=resamples)
                                   for lang, part in predictions.groupby("language")}
    if paper is not None:
        result["paper"] = {"run_id": paper.info.run_id, "run_name": paper.info.run_name, "status": paper.info.status,
                           "pruned": outcome(paper) is Outcome.PRUNED,
                           VAL_KAPPA: paper.data.metrics.get(study.objective),
                           TEST_KAPPA: paper.data.metrics.get(TEST_KAPPA)}
    if best is not None and paper is not None and paper.info.run_id in study.predictions:
        if paper.info.run_id == best.info.run_id:
            result["comparison"] = {"same_run": True}
        else:
            both = study.predictions[best.info.run_id].merge(study.predictions[paper.info.run_id], on="utterance",
                                                             suffixes=("_best", "_paper"))
            comparison = compare_paired(both["label_best"], both["predicted_best"], both["predicted_paper"],
                                        resamples=resamples)
            result["comparison"] = {"same_run": False, "n": comparison.n, "kappa_best": comparison.kappa_a,
                                    "kappa_paper": comparison.kappa_b, "difference": comparison.difference,
                                    "interval": list(comparison.interval), "mcnemar_p": comparison.mcnemar_p,
                                    "only_best_right": comparison.only_a_right,
                                    "only_paper_right": comparison.only_b_right, "verdict": comparison.verdict()}
    return result


def report_folder(experiment: str) -> Path:
    """Where an experiment's report goes by default: ``reports/<experiment>``, the name made
    safe as one folder (:func:`mser.cache.folder_name`), never a path outside ``reports``."""
    return Path("reports") / folder_name(experiment)


def write_report(client: MlflowClient, experiment: str, out: Path, *, resamples: int = 2000,
                 log: bool = True) -> Path:
    """Build the report of ``experiment`` into ``out`` and log it to each study's parent run."""
    mlflow.set_tracking_uri(client.tracking_uri)  # artifacts are read through MLflow's global URI
    experiment_id, studies = collect(client, experiment)
    out.mkdir(parents=True, exist_ok=True)
    figures = Figures(out / "figures")
    figures.folder.mkdir(exist_ok=True)
    numbers = [analyse(study, resamples=resamples) for study in studies]
    families = across_families(studies, numbers, resamples=resamples)
    transfer = transfer_matrices(studies, resamples=resamples)
    serving = serving_choices(client, experiment_id, studies, resamples=resamples)
    ensembles = ensemble_rows(client, experiment_id, resamples=resamples)
    page = render(experiment, client.tracking_uri, numbers, families, _pictures(studies, numbers, transfer, figures),
                  languages=sorted({*LANGUAGES, JOINT, *(s.language for s in studies)}, key=study_order),
                  transfer=transfer, emotions=_common_labels(studies), serving=serving, ensembles=ensembles)
    path = out / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    if log:
        for study in studies:
            client.log_artifact(study.parent.info.run_id, str(path), REPORT_ARTIFACT_DIR)
            client.log_artifacts(study.parent.info.run_id, str(figures.folder), f"{REPORT_ARTIFACT_DIR}/figures")
    return path


def across_families(studies: list[Study], numbers: list[dict], *, resamples: int) -> dict[str, dict]:
    """Per language with two spaces or more: the space whose best trial has the highest
    validation kappa (the choice a user would make; ties to the space listed first), and
    each other space's best trial against it on the same test utterances, with McNemar's
    p adjusted by Holm's method over that language's comparisons."""
    result = {}
    for lang in _within_languages(studies):
        pairs = [(s, n) for s, n in zip(studies, numbers) if s.language == lang and n["best"] is not None]
        if len(pairs) < 2:
            continue
        leader, lead = max(pairs, key=lambda pair: pair[1]["best"][VAL_KAPPA])
        ahead = leader.result_predictions()
        rows = []
        for study, n in pairs:
            if study is leader:
                continue
            both = ahead.merge(study.result_predictions(), on="utterance", suffixes=("_a", "_b"))
            rows.append((n, compare_paired(both["label_a"], both["predicted_a"], both["predicted_b"],
                                           resamples=resamples)))
        adjusted = holm([c.mcnemar_p for _, c in rows])
        result[lang] = {"leader": _family_row(lead), "others": [
            {**_family_row(n), "n": c.n, "difference": -c.difference, "interval": [-c.interval[1], -c.interval[0]],
             "mcnemar_p": c.mcnemar_p, "holm_p": p, "significant": replace(c, mcnemar_p=p).significant(),
             "verdict": replace(c, mcnemar_p=p).verdict()}
            for (n, c), p in zip(rows, adjusted)]}
    return result


def ensemble_rows(client: MlflowClient, experiment_id: str, *, resamples: int) -> list[dict]:
    """Per language with an ensemble (``mser-ensemble``; the latest): its test kappa and the best
    trial alone's, with intervals, and the paired comparison on the same test utterances, McNemar's
    p adjusted by Holm's method over the languages."""
    latest: dict[str, object] = {}
    for run in all_runs(client, [experiment_id], f"tags.{ENSEMBLE_TAG} = 'true' and attributes.status = 'FINISHED'",
                        order_by=NEWEST_FIRST):
        latest.setdefault(run.data.tags[LANGUAGE_TAG], run)
    rows, compared = [], []
    for language in sorted(latest, key=study_order):
        run = latest[language]
        ours, single = _predictions(run, "test"), _csv(run, BEST_SINGLE_PREDICTIONS_FILE, missing_ok=True)
        if single is None:  # an ensemble recorded before its best single's predictions were kept
            continue
        recorded = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{ENSEMBLE_FILE}")
        both = ours.merge(single, on="utterance", suffixes=("_a", "_b"))
        compared.append(compare_paired(both["label_a"], both["predicted_a"], both["predicted_b"], resamples=resamples))
        rows.append({"language": language, "run_name": run.info.run_name, "run_id": run.info.run_id,
                     "members": recorded["members"], "best_single": recorded["best_single"],
                     VAL_KAPPA: run.data.metrics.get(VAL_KAPPA),
                     "test": kappa_with_interval(ours, resamples=resamples),
                     "single_test": kappa_with_interval(single, resamples=resamples)})
    for row, c, p in zip(rows, compared, holm([c.mcnemar_p for c in compared])):
        row.update({"difference": c.difference, "interval": list(c.interval), "mcnemar_p": c.mcnemar_p, "holm_p": p,
                    "significant": replace(c, mcnemar_p=p).significant(),
                    "verdict": replace(c, mcnemar_p=p).verdict()})
    return rows


def serving_choices(client: MlflowClient, experiment_id: str, studies: list[Study], *, resamples: int) -> list[dict]:
    """Per studied language: which study's result serves it (:func:`tracking.language_choice.language_choice`,
    on its validation speakers only), each option's figure, and, for the reader, each option's
    test kappa on that language's test speakers, which chose nothing."""
    by_run = {s.parent.info.run_id: s for s in studies if s.best is not None}
    rows = []
    for language in sorted({s.language for s in studies if is_one_language(s.language)}, key=study_order):
        choice = language_choice(client, experiment_id, language)
        if choice is None:
            continue
        options = []
        for option in choice.options:
            study = by_run.get(option.parent_run_id)
            tested = study.result_predictions() if study is not None else None
            if tested is not None and study.language != language:
                tested = tested[tested["language"] == language]
            options.append({"space": option.space, "study": option.study, "val": option.val_kappa,
                            "result_run_id": option.result_run_id,
                            "test": kappa_with_interval(tested, resamples=resamples)
                            if tested is not None and len(tested) else None})
        rows.append({"language": language, "measure": choice.measure, "options": options})
    return rows


def _common_labels(studies: list[Study]) -> tuple[str, ...]:
    """The label set the studies share; empty when searches chose different ones (``--emotions``)."""
    sets = {s.labels for s in studies if s.best is not None} or {EMOTIONS}
    return next(iter(sets)) if len(sets) == 1 else ()


def _within_languages(studies: list[Study]) -> list[str]:
    """The single-language and joint studies' languages, in table order."""
    return sorted({s.language for s in studies if is_one_language(s.language) or s.language == JOINT},
                  key=study_order)


def transfer_matrices(studies: list[Study], *, resamples: int) -> dict[str, dict]:
    """Per space: the kappa (with a bootstrap interval) of each of its studies' best model
    (row: the languages trained on) on each language's test speakers (column), from the
    logged predictions; and each held-out-language model against the within-language one
    on the same test utterances (McNemar's p adjusted by Holm's method over the space's
    comparisons). Only spaces where some model was tested outside its own language."""
    result = {}
    for space in SPACES:
        mine = {s.language: s for s in studies if s.space == space and s.best is not None
                and s.result.info.run_id in s.predictions}
        rows = []
        for language in sorted(mine, key=study_order):
            study = mine[language]
            tested = study.result_predictions()
            if is_one_language(language):
                parts, kind = {language: tested, **study.transfer}, "single"
            elif language == "all":
                parts, kind = dict(tuple(tested.groupby("language"))), "joint"
            else:
                parts, kind = {held_out_language(language): tested}, "held-out"
            rows.append({"train": language, "kind": kind, "run_name": study.result.info.run_name,
                         "cells": {test: {**kappa_with_interval(part, resamples=resamples), "within": test == language}
                                   for test, part in parts.items()}})
        if not any(row["kind"] == "held-out" or (row["kind"] == "single" and len(row["cells"]) > 1) for row in rows):
            continue  # nothing beyond the within-language and joint sections
        columns = sorted({lang for row in rows for lang in row["cells"]}, key=study_order)
        pairs = [(lang, mine[f"{HELD_OUT_PREFIX}{lang}"], mine[lang]) for lang in columns
                 if f"{HELD_OUT_PREFIX}{lang}" in mine and lang in mine]
        compared = []
        for lang, held, within in pairs:
            both = held.result_predictions().merge(within.result_predictions(), on="utterance", suffixes=("_a", "_b"))
            compared.append((lang, compare_paired(both["label_a"], both["predicted_a"], both["predicted_b"],
                                                  resamples=resamples)))
        adjusted = holm([c.mcnemar_p for _, c in compared])
        result[space] = {"columns": columns, "rows": rows, "held_out": [
            {"language": lang, "n": c.n, "kappa_held_out": c.kappa_a, "kappa_within": c.kappa_b,
             "difference": c.difference, "interval": list(c.interval), "mcnemar_p": c.mcnemar_p, "holm_p": p,
             "verdict": replace(c, mcnemar_p=p).verdict()} for (lang, c), p in zip(compared, adjusted)]}
    return result


def _family_row(numbers: dict) -> dict:
    best = numbers["best"]
    return {"space": numbers["space"], "run_name": best["run_name"], VAL_KAPPA: best[VAL_KAPPA],
            TEST_KAPPA: best["test"]["kappa"], "low": best["test"]["low"], "high": best["test"]["high"]}


# ---------------------------------------------------------------------------------------------- page
def _pictures(studies: list[Study], numbers: list[dict], transfer: dict[str, dict], figures: Figures) -> Pictures:
    """The pictures of the page, drawn in its order: transfer matrices, confusion matrices,
    importance, learning curves."""
    return {"transfer": _transfer_pictures(transfer, figures), "confusions": _confusions(studies, numbers, figures),
            "importance": _importance(studies, figures), "curves": _curves(studies, figures)}


def _transfer_pictures(transfer: dict[str, dict], figures: Figures) -> list[Image]:
    images = []
    for space, matrix in transfer.items():
        rows, columns = [row["train"] for row in matrix["rows"]], matrix["columns"]
        values = np.full((len(rows), len(columns)), np.nan)
        within = np.zeros(values.shape, dtype=bool)
        for i, row in enumerate(matrix["rows"]):
            for j, column in enumerate(columns):
                if column in row["cells"]:
                    values[i, j] = row["cells"][column]["kappa"]
                    within[i, j] = row["cells"][column]["within"]
        images.append(figures.add(transfer_figure(values, rows=rows, columns=columns, within=within,
                                                  title=f"{space}: trained on (rows), tested on (columns)"),
                                  f"transfer-{space}"))
    return images


def _confusions(studies: list[Study], numbers: list[dict], figures: Figures) -> list[Image]:
    """The confusion matrix of the best study per language by validation kappa, on its test speakers."""
    images = []
    for lang in _within_languages(studies):
        candidates = [(s, n) for s, n in zip(studies, numbers) if s.language == lang and n["best"] is not None]
        if not candidates:
            continue
        study, n = max(candidates, key=lambda c: c[1]["best"][VAL_KAPPA])
        predictions = study.result_predictions()
        matrix = confusion_matrix(predictions["label"], predictions["predicted"], labels=range(len(study.labels)))
        images.append(figures.add(confusion_figure(matrix, labels=study.labels, title=(
            f"{lang}: {study.space}, test speakers (kappa {n['best']['test']['kappa']:.3f})")), f"confusion-{lang}"))
    return images


def _importance(studies: list[Study], figures: Figures) -> list[Importance]:
    """Per study: fANOVA importance and the finished trials in parallel coordinates, if there are enough."""
    parts: list[Importance] = []
    for study in studies:
        name = f"{study.space}-{study.language}"
        finished = study.finished
        # fANOVA explains differences: with every finished trial at one kappa there are none.
        same = len(finished) >= MIN_TRIALS_FOR_IMPORTANCE and len({t.data.metrics[study.objective]
                                                                    for t in finished}) == 1
        values = None if same else importance(study)
        reason = (f"every finished trial scored the same validation kappa ({len(finished)} trials): no "
                  "hyperparameter made a difference to explain" if same else
                  f"{len(finished)} finished trials, too few for fANOVA (it needs {MIN_TRIALS_FOR_IMPORTANCE})")
        images: list[Image] = []
        if values is not None:
            columns = {p: [_number(t.data.params[p]) for t in finished] for p in values}
            scores = [t.data.metrics[study.objective] for t in finished]
            images = [figures.add(importance_figure(values, title=f"{name}: importance ({len(finished)} trials)"),
                                  f"importance-{name}"),
                      figures.add(parallel_figure(columns, scores, title=f"{name}: finished trials"),
                                  f"parallel-{name}")]
        parts.append({"study": name, "finished": len(finished), "needed": MIN_TRIALS_FOR_IMPORTANCE,
                      "images": images, "reason": reason})
    return parts


def _number(raw: str):
    """A parameter as logged (text) back to the number it was, for the parallel coordinates."""
    try:
        value = float(raw)
    except ValueError:
        return raw
    return int(value) if value.is_integer() and "." not in raw and "e" not in raw else value


def _curves(studies: list[Study], figures: Figures) -> list[Image]:
    """The learning curves of each study's best trial, where it logged them."""
    images = []
    for study in studies:
        if study.best is None:
            continue
        history = mlflow.artifacts.load_dict(f"{study.best.info.artifact_uri}/{HISTORY_FILE}")
        if history:
            best_epoch = study.best.data.tags.get(BEST_EPOCH_TAG)
            images.append(figures.add(curves_figure(history, title=f"{study.space}, {study.language}: "
                                                                   f"{study.best.info.run_name}",
                                                    best_epoch=int(best_epoch) if best_epoch else None),
                                      f"curves-{study.space}-{study.language}"))
    return images
