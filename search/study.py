"""One study: a Ray Tune search over one space and language, recorded under one MLflow parent run.

``run_study`` reads top to bottom: open (or, on resume, reuse) the parent run, build the
Optuna TPE searcher seeded with the paper's configuration and the ASHA scheduler, run
the trials, then, with every choice made on validation speakers, score the test
speakers for the best trials only, train the chosen configuration again on every
training speaker (its refit, the study's result: :mod:`search.retrain`), and record the
summary on the parent run.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import optuna
from mlflow.entities import Metric, RunStatus
from mlflow.tracking import MlflowClient
from ray import tune
from ray.tune.result import TRIAL_ID  # Tune's key of a result's trial (the same value as our TRIAL_TAG)
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch
from ray.tune.utils import flatten_dict

from mser.augment import load_augmentation
from mser.console import INTERRUPTED_EXIT, note, progress_bar
from mser.dataset import Dataset, load_functionals
from mser.errors import MserError
from mser.metrics import TEST_KAPPA, VAL_KAPPA
from mser.models import get_model
from mser.train import make_split
from search import sampler
from search.callbacks import MlflowStatusCallback
from search.options import SCHEDULERS, StudyOptions, resume_differences
from search.repeats import run_repeats
from search.retrain import run_refit
from search.schedulers import make_scheduler
from search.spaces import PAPER_POINTS, augmentations, feature_sets, pinned_space, sampled_point
from search.trial import SearchSettings, fold_count, run_trial, study_data, train_config
from tracking.model import score_logged_model
from tracking.query import children, outcome, ranked
from tracking.runs import log_evaluation, log_params
from tracking.schema import (
    BEST_RUN_TAG,
    BEST_TEST_KAPPA,
    BEST_TRIALS_FILE,
    BEST_VAL_KAPPA,
    COMMAND_TAG,
    CV_VAL_KAPPA,
    CV_VAL_KAPPA_SD,
    DATASET_KEY_TAG,
    EPOCHS_PARAM,
    FIXED_TAG,
    FOLDS_PARAM,
    GRACE_PERIOD_PARAM,
    INTERRUPTED_TAG,
    LANGUAGE_TAG,
    MAX_CONCURRENT_PARAM,
    MODEL_URI_TAG,
    OPTUNA_STORAGE_TAG,
    OPTUNA_STUDY_TAG,
    PAPER_TAG,
    PARENT_ROLE,
    REFIT_OF_TAG,
    REFIT_PARAM,
    REPEAT_OF_TAG,
    REPEATS_FILE,
    REPEATS_PREFIX,
    RESULT_RUN_TAG,
    RESULT_TEST_KAPPA,
    RETRIED_TAG,
    SAE_EPOCHS_PARAM,
    SEARCH_SECONDS,
    SEARCH_TAG,
    SEED_PARAM,
    SPACE_FILE,
    SPACE_TAG,
    TRIAL_TAG,
    TRIALS_PARAM,
    TRIALS_PREFIX,
    WARM_START_TAG,
    Outcome,
    speakers_tag,
)
from tracking.store import ensure_store, experiment_id
from tracking.watch import ServerWatch

_STATE = "mser_study.json"
#: Trials run one after another on the same workers (Tune's ``reuse_actors``), whatever the
#: space: a fresh worker costs seconds of imports per trial. A benchmark may turn it off.
REUSE_WORKERS = True


class SearchInterrupted(MserError):
    """The search stopped before all its trials ended; ``--resume`` continues it."""

    exit_code = INTERRUPTED_EXIT


@dataclass
class StudyResult:
    """What a study found: the parent run and the best trials with both kappas."""

    space: str
    language: str
    parent_run_id: str
    trials: dict[str, int]
    best: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    #: With --repeats: the study's result trained again with other seeds (search.repeats.summarise).
    repeats: dict | None = None
    #: The refit of the chosen trial on every training speaker (search.retrain.run_refit); None with --no-refit.
    refit: dict | None = None

    @property
    def result_run_id(self) -> str | None:
        """The study's result: the refit, or the chosen trial without one."""
        return self.refit["run_id"] if self.refit else (self.best[0]["run_id"] if self.best else None)


def study_name(options: StudyOptions) -> str:
    return f"{options.space}-{options.language}"


def run_study(dataset: Dataset, options: StudyOptions, *, resume: bool = False) -> StudyResult:
    """Search ``options.space`` on ``options.language``; see the module docstring."""
    started = time.perf_counter()
    space = pinned_space(options.space, options.fixed)
    _prepare_inputs(dataset, options)
    path = options.state_dir / study_name(options)
    state = resumable_state(dataset, options) if resume else None  # before anything is written
    folds = fold_count(dataset, options)
    client = ensure_store(options.tracking_uri)
    mlflow.set_tracking_uri(options.tracking_uri)
    experiment = experiment_id(client, options.experiment)
    warm = None if state or not options.warm_start else warm_start(client, dataset, options)
    parent = state["parent_run_id"] if state else _open_parent(client, experiment, dataset, options)
    parent_tags = client.get_run(parent).data.tags
    storage_url = parent_tags.get(OPTUNA_STORAGE_TAG) or sampler.storage_url(options.tracking_uri, options.state_dir)
    optuna_study = sampler.study_name(options.experiment, study_name(options), parent)
    if state and WARM_START_TAG in parent_tags:
        warm = sampler.warm_start_of(client, parent_tags[WARM_START_TAG])
    if not state:
        client.set_tag(parent, OPTUNA_STORAGE_TAG, storage_url)
        client.set_tag(parent, OPTUNA_STUDY_TAG, optuna_study)
        if warm is not None:
            client.set_tag(parent, WARM_START_TAG, warm.parent_run_id)
            note(f"{study_name(options)}: the sampler starts from the {len(warm.trials)} finished trials of the "
                 f"search {warm.parent_run_id} in experiment {options.warm_start!r}")
    if state:
        client.update_run(parent, status="RUNNING")
        _close_orphans(client, experiment, parent)
    _save_state(path, {"parent_run_id": parent, "dataset_key": dataset.key, "options": options.saved()})
    settings = SearchSettings(options, experiment, parent)
    status = MlflowStatusCallback(client, total=options.trials, label=study_name(options), experiment_id=experiment,
                                  parent_run_id=parent, folds=folds)
    # Trials receive the data of the languages they train on only (not a held-out language's).
    trainable = tune.with_resources(tune.with_parameters(run_trial, dataset=study_data(dataset, options),
                                                         settings=settings),
                                    {"cpu": options.cpus_per_trial})
    # A lost tracking server stops the search as Ctrl-C would (state kept for --resume), in bounded time.
    watch = ServerWatch(options.tracking_uri, on_lost=lambda: signal.raise_signal(signal.SIGINT))
    try:
        tuner = (tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=False,
                                    restart_errored=False, param_space=space)
                 if state and (path / "tuner.pkl").exists()
                 else _tuner(trainable, options, path, status, folds, sampler.search_storage(optuna_study, warm),
                             optuna_study))
        if state:
            _use_callbacks(tuner, [status])
        fit_started = time.perf_counter()
        with watch:
            grid = tuner.fit()
        search_seconds = time.perf_counter() - fit_started
    except BaseException:
        if watch.lost_since is not None:
            raise watch.error() from None
        client.set_terminated(parent, RunStatus.to_string(RunStatus.KILLED))
        raise
    if watch.lost_since is not None:  # the runs stay as they are; --resume settles them
        raise watch.error()
    for failed in (r for r in grid if r.error is not None):
        print(f"{study_name(options)}: trial {failed.metrics.get(TRIAL_ID, '?')} failed: "
              f"{str(failed.error).strip().splitlines()[-1][:300]}", file=sys.stderr)
    ended = grid.num_terminated + grid.num_errors
    complete = ended >= options.trials
    # Every trial of a complete search is in the grid (each result carries its trial id,
    # even one that errored before reporting); an interrupted one may have trials not yet started.
    unknown = _drop_superseded(client, experiment, parent,
                               {r.metrics.get(TRIAL_ID) for r in grid} - {None} if complete else None)
    if unknown:
        print(f"{study_name(options)}: {unknown} run(s) of trials the interrupted driver started after it last "
              "saved its state are in the store's trash; the resumed search ran other trials in their place",
              file=sys.stderr)
    if not complete:
        client.set_terminated(parent, RunStatus.to_string(RunStatus.KILLED))
        raise SearchInterrupted(f"{study_name(options)} was interrupted after {ended} of {options.trials} trials; "
                                "continue it with the same command and --resume")
    errored = {r.metrics.get(TRIAL_ID) for r in grid if r.error is not None} - {None}
    sampler.record_study(storage_url, optuna_study, OptunaSearch.convert_search_space(space),
                         [(flatten_dict(r.config, delimiter="/"), r.metrics.get(VAL_KAPPA), r.error is not None)
                          for r in grid], warm)
    counts = _counts(client, experiment, parent, errored)
    best = _score_best(client, experiment, parent, dataset, options)
    refit = repeats = None
    sampled = {r.metrics.get(TRIAL_ID): r.config for r in grid}.get(best[0]["trial_id"]) if best else None
    if sampled is not None:
        chosen = train_config(sampled, options)
        of, config, split = best[0], chosen, make_split(dataset, chosen)
        if options.refit:
            note(f"{study_name(options)}: training the chosen trial {best[0]['run_name']} again on every training "
                 "speaker (its refit, the study's result)")
            try:
                refit, config, split = run_refit(client, experiment, parent, dataset, options, best[0], chosen)
                of = refit
            except Exception as error:  # noqa: BLE001 - the search is done and recorded: keep the chosen trial
                note(f"{study_name(options)}: the refit failed ({str(error).strip().splitlines()[-1][:300]}); the "
                     "chosen trial stays the study's result (its run says why the refit failed)")
        if options.repeats:
            repeats = run_repeats(client, experiment, parent, dataset, options, of, config, split)
    _close_parent(client, parent, counts, best, search_seconds, repeats, refit)
    return StudyResult(options.space, options.language, parent, counts, best, time.perf_counter() - started, repeats,
                       refit)


def resumable_state(dataset: Dataset, options: StudyOptions) -> dict:
    """The saved state of the interrupted study of ``options``, if they ask for the same study.

    Raises:
        MserError: Nothing to resume, or the options or data differ from the interrupted
            search's, saying what differs.
    """
    state = _load_state(options.state_dir / study_name(options)) or _elsewhere(options)
    if state is None:
        raise MserError(f"nothing to resume for {study_name(options)} of experiment {options.experiment!r} at "
                        f"{options.tracking_uri}: run without --resume to start a search")
    differences = resume_differences(state.get("options", {}), options)
    if state.get("dataset_key", dataset.key) != dataset.key:
        differences.append(f"other data (dataset key {state['dataset_key'][:12]}, now {dataset.key[:12]}: check "
                           "--data-root, --corpus, --emotions, --split-seed and the demo options)")
    if differences:
        raise MserError(f"cannot resume {study_name(options)}: the interrupted search ran with "
                        f"{'; '.join(differences)}. Resume it with the same options and data, or start a new search "
                        "without --resume (another --experiment keeps both)")
    return state


def _prepare_inputs(dataset: Dataset, options: StudyOptions) -> None:
    """Make, once per dataset (then cached), every input a trial of the space may ask for that
    the dataset does not hold yet: its functionals sets (a fused one from its parts) and its
    augmented audio, each with a progress line; a no-op for what ``mser-search`` prepared."""
    for feature_set in feature_sets(options.space, options.fixed):
        if feature_set not in dataset.functionals:
            with progress_bar(f"openSMILE {feature_set} functionals", "files") as progress:
                load_functionals(dataset, feature_set, cache_dir=options.cache_dir, progress=progress)
    for variant in augmentations(options.space, options.fixed):
        if variant not in dataset.augmented:
            with progress_bar(f"augmented audio ({variant})", "files") as progress:
                load_augmentation(dataset, variant, cache_dir=options.cache_dir, progress=progress)


def _use_callbacks(tuner: tune.Tuner, callbacks: list) -> None:
    """Give a restored Tuner fresh callbacks (restore brings back the pickled ones, with
    stale counts); Ray offers no public way, hence the private attribute."""
    local = getattr(tuner, "_local_tuner", None)
    if local is not None:
        local.get_run_config().callbacks = callbacks


def warm_start(client: MlflowClient, dataset: Dataset, options: StudyOptions) -> sampler.WarmStart:
    """The earlier search ``--warm-start`` names for this study (:func:`search.sampler.find_warm_start`)."""
    return sampler.find_warm_start(client, options.warm_start, options, dataset.key,
                                   OptunaSearch.convert_search_space(pinned_space(options.space, options.fixed)))


def _tuner(trainable, options: StudyOptions, path: Path, status: MlflowStatusCallback, folds: int,
           storage, optuna_study: str) -> tune.Tuner:
    # OptunaSearch names parameters by their flattened path, e.g. "sae/depth". Its study is
    # in memory (``storage``, search.sampler), where a warm start put the earlier search's trials;
    # Tune's saved state holds it, and the complete search writes it to the Optuna storage.
    # The paper's configuration first (with --fix, at the fixed values, which Tune adds to every config).
    searcher = OptunaSearch(points_to_evaluate=[flatten_dict(sampled_point(options.space, options.fixed),
                                                             delimiter="/")],
                            sampler=optuna.samplers.TPESampler(seed=options.seed), storage=storage,
                            study_name=optuna_study)
    return tune.Tuner(
        trainable,
        param_space=pinned_space(options.space, options.fixed),
        # Workers are reused by every space: a fresh one costs seconds of imports per trial
        # (see search.trial.run_trial for how a trial ends so that its worker can be reset).
        tune_config=tune.TuneConfig(metric=VAL_KAPPA, mode="max", num_samples=options.trials,
                                    search_alg=ConcurrencyLimiter(searcher, max_concurrent=options.max_concurrent),
                                    scheduler=make_scheduler(options, folds),
                                    reuse_actors=REUSE_WORKERS),
        run_config=tune.RunConfig(name=path.name, storage_path=str(path.parent), callbacks=[status], verbose=0,
                                  # One retry: a worker lost or not reusable is no reason to lose the trial.
                                  failure_config=tune.FailureConfig(max_failures=1)),
    )


def _open_parent(client: MlflowClient, experiment: str, dataset: Dataset, options: StudyOptions) -> str:
    run = client.create_run(experiment, run_name=f"search-{study_name(options)}-{time.strftime('%Y%m%d-%H%M%S')}",
                            tags={COMMAND_TAG: options.command, SPACE_TAG: options.space,
                                  LANGUAGE_TAG: options.language, DATASET_KEY_TAG: dataset.key,
                                  SEARCH_TAG: PARENT_ROLE,
                                  **({FIXED_TAG: json.dumps(options.fixed)} if options.fixed else {})})
    run_id = run.info.run_id
    log_params(client, run_id, {TRIALS_PARAM: options.trials, SEED_PARAM: options.seed,
                                SAE_EPOCHS_PARAM: options.sae_epochs, EPOCHS_PARAM: options.epochs,
                                GRACE_PERIOD_PARAM: options.grace_period, MAX_CONCURRENT_PARAM: options.max_concurrent,
                                FOLDS_PARAM: options.folds, REFIT_PARAM: str(options.refit).lower()})
    client.log_dict(run_id, {"space": _describe(pinned_space(options.space, options.fixed)),
                             "paper_point": PAPER_POINTS[options.space], "fixed": options.fixed}, SPACE_FILE)
    return run_id


def _describe(space) -> dict:
    return {k: _describe(v) if isinstance(v, dict) else str(v) for k, v in space.items()}


def _close_orphans(client: MlflowClient, experiment: str, parent: str) -> None:
    """End runs left RUNNING by a driver that died; their trials run again."""
    for run in children(client, experiment, parent, "attributes.status = 'RUNNING'"):
        client.set_tag(run.info.run_id, INTERRUPTED_TAG, "true")
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.KILLED))


def _drop_superseded(client: MlflowClient, experiment: str, parent: str, trial_ids: set[str] | None) -> int:
    """Keep one run per trial of the search; return how many runs belonged to no trial of it.

    A trial run again after an interruption supersedes its older runs. A driver killed
    outright loses what it did since it last saved Tune's state (at most every 10 s): a
    trial it started in that time is unknown to the resumed search, which samples another
    in its place, so with ``trial_ids`` (every trial of a complete search) such runs go
    too. Deleted runs stay in the store's trash until ``mlflow gc``. Attempts whose worker
    failed (tagged ``retried``) stay, as the record of the fault, if their trial does."""
    latest: dict[str, object] = {}
    unknown = 0
    for run in children(client, experiment, parent):
        trial = run.data.tags.get(TRIAL_TAG)
        if trial_ids is not None and trial not in trial_ids:
            client.delete_run(run.info.run_id)
            unknown += 1
            continue
        if run.data.tags.get(RETRIED_TAG) == "true":
            continue
        if trial in latest:
            client.delete_run(latest[trial].info.run_id)
        latest[trial] = run
    return unknown


def _counts(client: MlflowClient, experiment: str, parent: str, errored: set) -> dict[str, int]:
    """Trial outcomes (one run per trial, and the ``errored`` trials that failed before they
    could open a run), and the failed attempts that were run again."""
    every = children(client, experiment, parent)
    runs = [r for r in every if r.data.tags.get(RETRIED_TAG) != "true"]
    without_run = len(errored - {r.data.tags.get(TRIAL_TAG) for r in runs})
    outcomes = [outcome(r) for r in runs]
    return {"runs": len(runs) + without_run, "finished": outcomes.count(Outcome.FINISHED),
            "pruned": outcomes.count(Outcome.PRUNED), "failed": outcomes.count(Outcome.FAILED) + without_run,
            "killed": outcomes.count(None), "retried": len(every) - len(runs)}


def _score_best(client: MlflowClient, experiment: str, parent: str, dataset: Dataset,
                options: StudyOptions) -> list[dict]:
    """Score test speakers for the best finished trials (chosen by validation kappa only),
    and for the paper's configuration, the baseline the report compares them with."""
    objective = CV_VAL_KAPPA if options.folds else VAL_KAPPA
    finished = [r for r in ranked(children(client, experiment, parent, "attributes.status = 'FINISHED'"), objective,
                                  spread=CV_VAL_KAPPA_SD)
                if MODEL_URI_TAG in r.data.tags and REFIT_OF_TAG not in r.data.tags
                and REPEAT_OF_TAG not in r.data.tags]
    rows = [_score_test(client, run, dataset, options, objective) for run in finished[:options.top]]
    for run in finished[options.top:]:
        if run.data.tags.get(PAPER_TAG) == "true":
            _score_test(client, run, dataset, options, objective)
    return rows


def _score_test(client: MlflowClient, run, dataset: Dataset, options: StudyOptions, objective: str) -> dict:
    evaluation = score_logged_model(run, dataset, run.data.tags[speakers_tag("test")].split())
    metrics = evaluation.metrics("test", per_window=get_model(options.space).family.window_scores)
    now = int(time.time() * 1000)
    client.log_batch(run.info.run_id, metrics=[Metric(name, float(value), now, 0) for name, value in metrics.items()])
    log_evaluation(client, run.info.run_id, evaluation, "test", title=f"{options.space}, {options.language}")
    return {"run_id": run.info.run_id, "run_name": run.info.run_name, "trial_id": run.data.tags.get(TRIAL_TAG),
            VAL_KAPPA: run.data.metrics[objective], TEST_KAPPA: metrics[TEST_KAPPA], "params": dict(run.data.params),
            PAPER_TAG: run.data.tags.get(PAPER_TAG) == "true"}


def _close_parent(client: MlflowClient, parent: str, counts: dict[str, int], best: list[dict],
                  search_seconds: float, repeats: dict | None, refit: dict | None) -> None:
    for name, value in counts.items():
        client.log_metric(parent, f"{TRIALS_PREFIX}{name}", value)
    client.log_metric(parent, SEARCH_SECONDS, search_seconds)
    if best:
        client.log_metric(parent, BEST_VAL_KAPPA, best[0][VAL_KAPPA])
        client.log_metric(parent, BEST_TEST_KAPPA, best[0][TEST_KAPPA])
        client.set_tag(parent, BEST_RUN_TAG, best[0]["run_id"])
        result = refit or best[0]
        client.set_tag(parent, RESULT_RUN_TAG, result["run_id"])
        client.log_metric(parent, RESULT_TEST_KAPPA, result[TEST_KAPPA])
    client.log_dict(parent, {"trials": counts, "best": best, "refit": refit}, BEST_TRIALS_FILE)
    if repeats:
        for metric in (VAL_KAPPA, TEST_KAPPA):
            if repeats[metric] is None:
                continue
            for stat in ("mean", "sd"):
                client.log_metric(parent, f"{REPEATS_PREFIX}{metric}_{stat}", repeats[metric][stat])
        client.log_dict(parent, repeats, REPEATS_FILE)
    client.set_terminated(parent, RunStatus.to_string(RunStatus.FINISHED))


def _elsewhere(options: StudyOptions) -> dict | None:
    """The saved state of an interrupted study of the same experiment, space and language
    that logs to another store (so the refusal can name it), if there is one."""
    for folder in sorted(options.state_dir.parent.glob("*")):
        state = _load_state(folder / study_name(options))
        if state and state.get("options", {}).get("experiment") == options.experiment:
            return state
    return None


def _load_state(path: Path) -> dict | None:
    try:
        return json.loads((path / _STATE).read_text())
    except (OSError, ValueError):
        return None


def _save_state(path: Path, state: dict) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / _STATE).write_text(json.dumps(state, indent=2))


__all__ = ["SCHEDULERS", "StudyOptions", "StudyResult", "resumable_state", "run_study"]
