"""One search trial: a plain ``f(config)`` that trains, reports to Tune, and logs to MLflow.

Each trial opens a child run under the search's parent run, reports the validation
kappa to Tune after every classifier epoch (so ASHA can stop it early), and never
scores the test speakers: the driver does that for the best trials once the search
is over. A trial stopped by ASHA is ended as KILLED by the driver (see
:mod:`search.callbacks`); a crash or NaN ends the run FAILED.
"""

from __future__ import annotations

import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from ray import tune

from mser.dataset import Dataset
from mser.encoders import EncoderCache
from mser.metrics import VAL_KAPPA
from mser.models._keras import keras, set_threads
from mser.splits import validation_folds
from mser.train import TrainConfig, make_split, train
from search.spaces import is_paper_point
from tracking.runs import EpochLogger, config_params, log_params, log_result, tracked_run

TRIAL_TAG = "trial_id"
NODE_TAG = "ray_node"
#: The process that ran the trial (one worker runs several trials in turn).
PID_TAG = "ray_worker_pid"
RUN_ID_KEY = "mlflow_run_id"
PRUNED_TAG = "pruned"
#: ``true`` on the trial of the paper's configuration, the baseline every search is compared with.
PAPER_TAG = "paper_point"
#: ``true`` on the run of an attempt whose worker failed; the trial ran again under a new run.
RETRIED_TAG = "retried"
#: With --folds, the objective: mean validation kappa over speaker folds.
CV_VAL_KAPPA = "cv_val_kappa"
#: Seconds a trial spent training and scoring, without logging and reporting (the
#: benchmark's measure of what Ray, MLflow and data loading add around it).
TRAIN_SECONDS = "train_seconds"


@dataclass(frozen=True)
class SearchSettings:
    """What every trial of one study shares (sent to the workers with the trainable)."""

    space: str
    language: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    sae_epochs: int
    epochs: int
    patience: int
    seed: int
    threads: int
    cache_dir: str | None = None
    folds: int = 0
    encoder_cache: bool = True


def train_config(config: Mapping[str, Any], settings: SearchSettings) -> TrainConfig:
    """The :class:`TrainConfig` of a trial's sampled ``config``."""
    return TrainConfig(model=settings.space, language=settings.language, sae=dict(config.get("sae", {})),
                       functionals=dict(config.get("functionals", {})),
                       classifier=dict(config.get("classifier", {})), sae_epochs=settings.sae_epochs,
                       epochs=settings.epochs, patience=settings.patience, seed=settings.seed,
                       **dict(config.get("training", {})))


def run_trial(config: dict, *, dataset: Dataset, settings: SearchSettings) -> None:
    """Train one configuration and record it; the Tune trainable of every search."""
    # Tune reuses this worker for the next trial once this trial's thread has ended, and
    # gives up (failing that next trial) after TUNE_FUNCTION_THREAD_TIMEOUT_S, 2 s by
    # default. A stopped trial still ends its MLflow run, which can take longer on a busy
    # store; a generous limit keeps the reuse reliable.
    os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", "60")
    set_threads(settings.threads)
    # Workers are reused across trials: drop the last trial's Keras state. Without a forced
    # garbage collection, which took a quarter of a second per trial (Python collects anyway).
    keras.backend.clear_session(free_memory=False)
    context = tune.get_context()
    trial_id = context.get_trial_id()
    trial_config = train_config(config, settings)
    data = dataset.for_languages(trial_config.languages)
    split = make_split(data, trial_config)
    client = MlflowClient(settings.tracking_uri)
    tags = {"space": settings.space, "language": settings.language, TRIAL_TAG: trial_id,
            NODE_TAG: _node(), PID_TAG: str(os.getpid()), "model": settings.space, PAPER_TAG: str(is_paper_point(settings.space, config)).lower()}
    run_name = f"{settings.space}-{settings.language}-{context.get_trial_name().split('_')[-1]}"
    with tracked_run(client, settings.experiment_id, run_name=run_name, tags=tags,
                     parent_run_id=settings.parent_run_id) as run_id:
        log_params(client, run_id, {**config_params(trial_config), "dataset_key": dataset.key})
        logger = EpochLogger(client, run_id)
        cache = _TaggingCache(settings.cache_dir, client, run_id) if settings.encoder_cache else None
        clock = _Clock()

        def on_epoch(stage: str, epoch: int, values: Mapping[str, float]) -> None:
            with clock.aside():
                logger(stage, epoch, values)
                if stage == "classifier" and not settings.folds:
                    _report(values[VAL_KAPPA], epoch + 1, run_id)

        try:
            with clock.training():
                cv_kappa = _cross_validate(data, trial_config, split, settings, cache, client, run_id, clock)
                result = train(data, trial_config, split=split, on_epoch=on_epoch, encoder_cache=cache,
                               score_test=False)
        except SystemExit:  # raised by tune.report when the scheduler stops this trial
            # One call: Ray waits for a stopped trial's thread before it reuses the worker.
            try:
                client.log_batch(run_id, metrics=[clock.metric()], tags=[RunTag(PRUNED_TAG, "true")])
            except MlflowException:  # the driver tagged it first (search.callbacks); only the tag clashed
                client.log_batch(run_id, metrics=[clock.metric()])
            raise
        log_result(client, run_id, result, dataset_key=dataset.key, extra_metrics={TRAIN_SECONDS: clock.seconds})
        if cv_kappa is not None:
            client.log_metric(run_id, CV_VAL_KAPPA, cv_kappa)
        elif not result.history.get(VAL_KAPPA):  # sklearn classifiers have no epochs: one result, at the end
            try:
                _report(result.validation.utterances["kappa"], 1, run_id)
            except SystemExit:
                pass  # a stop decision on the only result of a complete trial changes nothing


def _cross_validate(data: Dataset, config: TrainConfig, split, settings: SearchSettings, cache,
                    client: MlflowClient, run_id: str, clock: "_Clock") -> float | None:
    """With ``settings.folds``: mean validation kappa over speaker folds of the training
    speakers (test speakers are in no fold), reported to Tune after each fold."""
    if not settings.folds:
        return None
    scores = []
    for index, fold in enumerate(validation_folds(split, settings.folds, seed=settings.seed)):
        result = train(data, config, split=fold, encoder_cache=cache, score_test=False)
        scores.append(result.validation.utterances["kappa"])
        with clock.aside():
            client.log_metric(run_id, f"{CV_VAL_KAPPA}_fold", scores[-1], step=index)
            _report(float(np.mean(scores)), index + 1, run_id)
    return float(np.mean(scores))


class _Clock:
    """Seconds spent in :meth:`training` blocks, less the time spent :meth:`aside` in them
    (logging to MLflow and reporting to Tune, which waits for the driver)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def training(self):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started

    @contextmanager
    def aside(self):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds -= time.perf_counter() - started

    def metric(self) -> Metric:
        return Metric(TRAIN_SECONDS, self.seconds, int(time.time() * 1000), 0)


class _TaggingCache(EncoderCache):
    """The encoder cache, tagging the trial's run ``encoder_cache=hit|miss`` as soon as it answers."""

    def __init__(self, cache_dir: str | None, client: MlflowClient, run_id: str) -> None:
        super().__init__(cache_dir)
        self.client, self.run_id = client, run_id

    def get_or_train(self, material, train):
        encoder, history, hit = super().get_or_train(material, train)
        self.client.set_tag(self.run_id, "encoder_cache", "hit" if hit else "miss")
        return encoder, history, hit


def _report(val_kappa: float, epoch: int, run_id: str) -> None:
    if not np.isfinite(val_kappa):
        raise FloatingPointError(f"validation kappa is {val_kappa} at epoch {epoch}")
    tune.report({VAL_KAPPA: float(val_kappa), "epoch": epoch, RUN_ID_KEY: run_id})


def _node() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()[:12] + "@" + socket.gethostname()
    except Exception:  # noqa: BLE001 - outside Ray (tests), the host name is enough
        return socket.gethostname()
