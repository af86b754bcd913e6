"""One search trial: a plain ``f(config)`` that trains, reports to Tune, and logs to MLflow.

Each trial opens a child run under the search's parent run, reports the best
validation kappa so far to Tune after every classifier epoch (so ASHA can stop it
early) but the last, which it reports once its run is recorded and ended (until then Tune
counts it as running, so a trial that trained to its end is never cut or pruned), and never
scores the test speakers: the driver does that for the best trials once the search is
over. With encoder rungs, a trial that trains an autoencoder also reports a linear probe's
validation kappa on the code after each encoder epoch (:class:`search.schedulers.StagedASHA`).
A trial stopped by ASHA ends its run KILLED, a crash or NaN FAILED; the driver records
each trial's outcome (see :mod:`search.callbacks`).
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient
from ray import tune

from mser.corpora import trained_languages
from mser.dataset import Dataset
from mser.encoders import EncoderCache
from mser.errors import MserError, TrainingStopped
from mser.metrics import SAE_PROBE_KAPPA, VAL_KAPPA, kappa, per_language
from mser.models import get_model
from mser.splits import LOSO, validation_folds
from mser.train import TrainConfig, epochs_found, make_split, train
from search.options import GROUPED_FOLDS, LOSO_MAX_SPEAKERS, StudyOptions, shared_fields
from search.schedulers import CLASSIFIER_STEP, ENCODER_STEP, uses_encoder_rungs
from search.spaces import PAPER_POINTS, is_paper_point
from tracking.runs import EpochLogger, config_params, log_params, log_result, system_metrics, tracked_run
from tracking.schema import (
    CV_FOLD_METRIC,
    CV_VAL_KAPPA,
    CV_VAL_KAPPA_SD,
    DATA_LANGUAGES_TAG,
    ENCODER_CACHE_TAG,
    ENCODER_REPLAYED_TAG,
    EPOCHS_FOUND,
    LANGUAGE_TAG,
    MODEL_TAG,
    NODE_TAG,
    PAPER_TAG,
    PID_TAG,
    SAE_EPOCHS_FOUND,
    TRAIN_SECONDS,
    TRIAL_TAG,
)

#: The Tune result key that carries a trial's MLflow run id to the driver (search.callbacks).
RUN_ID_KEY = "mlflow_run_id"
#: The Tune result key of a trial's last result, sent once its model is logged: a trial that
#: ends without it was stopped by the scheduler (pruned).
FINAL_KEY = "trial_final"


@dataclass(frozen=True)
class SearchSettings:
    """What every trial of one study shares (sent to the workers with the trainable): the
    user's options and the study's MLflow experiment and parent run."""

    options: StudyOptions
    experiment_id: str
    parent_run_id: str

    @property
    def threads(self) -> int:
        return max(1, int(self.options.cpus_per_trial))


def train_config(config: Mapping[str, Any], options: StudyOptions) -> TrainConfig:
    """The :class:`TrainConfig` of a trial's sampled ``config``: the sampled groups, and the
    training settings of ``options`` (epochs, patience, seed...)."""
    return TrainConfig(model=options.space, sae=dict(config.get("sae", {})),
                       functionals=dict(config.get("functionals", {})),
                       augment=dict(config.get("augment", {})),
                       classifier=dict(config.get("classifier", {})),
                       **shared_fields(options, TrainConfig), **dict(config.get("training", {})))


def run_trial(config: dict, *, dataset: Dataset, settings: SearchSettings) -> None:
    """Train one configuration and record it; the Tune trainable of every search.

    Tune stops a trial by raising ``SystemExit`` in ``tune.report``; :func:`_report`
    turns it into the science layer's :class:`~mser.errors.TrainingStopped`, and a
    stopped trial ends here as a trainable that returns (its run ended KILLED)."""
    try:
        final = _train_and_record(config, dataset, settings)
    except TrainingStopped:
        # Back to Tune's own stop. A trainable that returns instead makes Ray report once
        # more (its RESULT_DUPLICATE) and wait for an answer that never comes once Tune has
        # stopped the trial: the thread stays alive and the worker cannot be reused.
        raise SystemExit(0) from None
    # The last result, once the run is recorded and ended: until then Tune counts the trial as
    # running, so neither a stop decision nor the end of the search can cut a trial that
    # trained to its end. Nothing follows it, so a stop decision on it (Tune's SystemExit)
    # ends the thread as Tune expects.
    _report(*final, last=True)


def _train_and_record(config: dict, dataset: Dataset, settings: SearchSettings) -> tuple[float, int, str]:
    """Train and record the trial's run (ended FINISHED); return its last result for Tune:
    the objective, the classifier epochs (or speaker folds) it counts, and the run id."""
    if get_model(settings.options.space).needs_keras:  # TensorFlow's import costs a worker seconds
        from mser.models._keras import keras, set_threads

        set_threads(settings.threads)
        # Workers are reused across trials: drop the last trial's Keras state. Without a forced
        # garbage collection, which took a quarter of a second per trial (Python collects anyway).
        keras.backend.clear_session(free_memory=False)
    context = tune.get_context()
    trial_id = context.get_trial_id()
    options = settings.options
    trial_config = train_config(config, options)
    split = make_split(dataset, trial_config)
    client = MlflowClient(options.tracking_uri)
    tags = {MODEL_TAG: options.space, LANGUAGE_TAG: options.language, TRIAL_TAG: trial_id, NODE_TAG: _node(),
            PID_TAG: str(os.getpid()), PAPER_TAG: str(is_paper_point(options.space, config)).lower(),
            DATA_LANGUAGES_TAG: ",".join(sorted(set(dataset.meta["language"])))}
    run_name = f"{options.space}-{options.language}-{context.get_trial_name().split('_')[-1]}"
    with tracked_run(client, settings.experiment_id, run_name=run_name, tags=tags,
                     parent_run_id=settings.parent_run_id) as run_id:
        log_params(client, run_id, config_params(trial_config))
        logger = EpochLogger(client, run_id)
        cache = _TaggingCache(options.cache_dir, client, run_id) if options.encoder_cache else None
        clock = _Clock()
        probe = uses_encoder_rungs(options)

        best = [-np.inf]

        def on_epoch(stage: str, epoch: int, values: Mapping[str, float]) -> None:
            with clock.aside():
                # The clock goes with every epoch: a trial whose worker ends before the trial can
                # (Tune tears down a search's last stopped trials between two reports) keeps it.
                logger(stage, epoch, values, also=(clock.metric(),))
                if stage == "sae" and probe and SAE_PROBE_KAPPA in values:
                    _report(values[SAE_PROBE_KAPPA], epoch + 1, run_id, step=ENCODER_STEP)
                if stage == "classifier" and not options.folds:
                    # The scheduler compares what the study selects on: the best epoch's kappa so far.
                    best[0] = max(best[0], _finite(values[VAL_KAPPA], epoch + 1))
                    if epoch + 1 < trial_config.epochs:  # the last result goes once the model is logged
                        _report(best[0], epoch + 1, run_id)

        try:
            with system_metrics(options.tracking_uri, run_id, options.system_metrics), clock.training():
                folds = _cross_validate(dataset, trial_config, split, options, cache, client, run_id, clock)
                result = train(dataset, trial_config, split=split, on_epoch=on_epoch, encoder_cache=cache,
                               score_test=False, probe_encoder=probe)
        except TrainingStopped:  # the scheduler stopped this trial (see _report); the driver records it pruned
            # One call: Ray waits for a stopped trial's thread before it reuses the worker.
            client.log_batch(run_id, metrics=[clock.metric()])
            raise
        scores = [fold.validation.utterances["kappa"] for fold in folds]
        found = epochs_found(folds or [result])
        extra = {TRAIN_SECONDS: clock.seconds,
                 **{name: found[key] for key, name in (("epochs", EPOCHS_FOUND), ("sae_epochs", SAE_EPOCHS_FOUND))
                    if key in found}}
        if folds:
            extra.update({CV_VAL_KAPPA: float(np.mean(scores)), CV_VAL_KAPPA_SD: float(np.std(scores)),
                          **out_of_fold_kappas(folds)})
        log_result(client, run_id, result, dataset=dataset, extra_metrics=extra)
    final = extra[CV_VAL_KAPPA] if folds else result.validation.utterances["kappa"]
    return final, len(folds) or len(result.history.get(VAL_KAPPA, [])) or 1, run_id


def _cross_validate(data: Dataset, config: TrainConfig, split, options: StudyOptions, cache,
                    client: MlflowClient, run_id: str, clock: "_Clock") -> list:
    """With ``options.folds``: the training of each speaker fold of the training speakers
    (test speakers are in no fold), the mean validation kappa so far reported to Tune after
    each fold but the last; without, nothing."""
    if not options.folds:
        return []
    folds = validation_folds(split, options.folds, seed=options.seed)
    results, scores = [], []
    for index, fold in enumerate(folds):
        results.append(train(data, config, split=fold, encoder_cache=cache, score_test=False))
        scores.append(results[-1].validation.utterances["kappa"])
        with clock.aside():
            client.log_metric(run_id, CV_FOLD_METRIC, scores[-1], step=index)
            if index + 1 < len(folds):  # the last result goes once the model is logged
                _report(float(np.mean(scores)), index + 1, run_id)
    return results


def out_of_fold_kappas(folds: list) -> dict[str, float]:
    """Per language, the kappa of the pooled out-of-fold predictions on that language's training
    speakers (``cv_val_kappa_it``...): what a language's own study and the joint study are
    compared by when choosing which serves the language (:mod:`tracking.language_choice`)."""
    pooled = pd.concat([fold.validation.predictions for fold in folds], ignore_index=True)
    return {per_language(CV_VAL_KAPPA, language): kappa(part["label"].to_numpy(), part["predicted"].to_numpy())
            for language, part in pooled.groupby("language")}


def study_data(dataset: Dataset, options: StudyOptions) -> Dataset:
    """The part of ``dataset`` a study's trials train and validate on: its training languages,
    resolved once, by the driver; the trials receive only this."""
    return dataset.for_languages(trained_languages(options.language, dataset.languages))


def default_folds(dataset: Dataset, options: StudyOptions) -> int | str:
    """The objective when ``--folds`` is not given: speaker-grouped cross-validation over the
    training speakers for a model on utterance functionals, whose trials cost seconds
    (leave one speaker out up to :data:`LOSO_MAX_SPEAKERS` speakers, else
    :data:`GROUPED_FOLDS` folds); one validation split for the others and for any model that
    trains an autoencoder (one per fold), whose trials cost minutes and where folds were
    measured not to choose better at equal time (``bench/objectives.py``)."""
    spec = get_model(options.space)
    if spec.uses_code or not spec.uses_functionals:
        return 0
    split = make_split(study_data(dataset, options), train_config(PAPER_POINTS[options.space], options))
    return LOSO if len(split.train + split.validation) <= LOSO_MAX_SPEAKERS else GROUPED_FOLDS


def fold_count(dataset: Dataset, options: StudyOptions) -> int:
    """How many speaker folds each trial of the study measures its objective on (0: one
    validation split); checked before the search starts.

    Raises:
        MserError: More folds than training speakers, naming the speakers and the fix.
    """
    if not options.folds:
        return 0
    config = train_config(PAPER_POINTS[options.space], options)
    split = make_split(study_data(dataset, options), config)
    try:
        return len(validation_folds(split, options.folds, seed=options.seed))
    except ValueError:
        speakers = len(split.train + split.validation)
        raise MserError(f"--folds {options.folds}: {options.language} has {speakers} training speakers, so at most "
                        f"{speakers} folds: choose --folds {min(speakers, 5)} or --folds {LOSO} "
                        "(one fold per speaker)") from None


class _Clock:
    """Seconds spent in :meth:`training` blocks, less the time spent :meth:`aside` in them
    (logging to MLflow and reporting to Tune, which waits for the driver)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._since: float | None = None

    @contextmanager
    def training(self):
        self._since = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - self._since
            self._since = None

    @contextmanager
    def aside(self):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds -= time.perf_counter() - started

    @property
    def elapsed(self) -> float:
        """The seconds so far, the open training block's too."""
        return self.seconds + (time.perf_counter() - self._since if self._since is not None else 0.0)

    def metric(self) -> Metric:
        return Metric(TRAIN_SECONDS, self.elapsed, int(time.time() * 1000), 0)


class _TaggingCache(EncoderCache):
    """The encoder cache, tagging the trial's run ``encoder_cache=hit|miss`` as soon as it answers,
    and with the count of encoder epochs it replays from a stopped training of the same encoder."""

    def __init__(self, cache_dir: str | None, client: MlflowClient, run_id: str) -> None:
        super().__init__(cache_dir)
        self.client, self.run_id = client, run_id

    def get_or_train(self, material, train):
        encoder, history, hit = super().get_or_train(material, train)
        self.client.set_tag(self.run_id, ENCODER_CACHE_TAG, "hit" if hit else "miss")
        return encoder, history, hit

    def interrupted_curve(self, material):
        curve = super().interrupted_curve(material)
        if curve:
            self.client.set_tag(self.run_id, ENCODER_REPLAYED_TAG, str(len(curve)))
        return curve


def _finite(val_kappa: float, epoch: int) -> float:
    if not np.isfinite(val_kappa):
        raise FloatingPointError(f"validation kappa is {val_kappa} at epoch {epoch}")
    return float(val_kappa)


def _report(val_kappa: float, epoch: int, run_id: str, *, last: bool = False, step: str = CLASSIFIER_STEP) -> None:
    """Report a result to Tune, counted in ``step`` (the classifier's epochs, or the encoder's for
    a probe of its code). While the trial trains, Tune's stop (``SystemExit`` from
    ``tune.report``) becomes :class:`~mser.errors.TrainingStopped`, the one stop the science
    code knows. The ``last`` result is sent once the trial is recorded (:func:`run_trial`):
    a stop decision on it changes nothing, and its ``SystemExit`` is left to end the thread."""
    result = {VAL_KAPPA: _finite(val_kappa, epoch), step: epoch, RUN_ID_KEY: run_id}
    if last:
        tune.report({**result, FINAL_KEY: True})
        return
    try:
        tune.report(result)
    except SystemExit:
        raise TrainingStopped from None


def _node() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()[:12] + "@" + socket.gethostname()
    except Exception:  # noqa: BLE001 - outside Ray (tests), the host name is enough
        return socket.gethostname()
