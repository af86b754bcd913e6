"""One training run in MLflow: params, per-epoch curves, final metrics, pictures, the model.

A run is opened in a ``with`` block that always ends it: FINISHED when training
returns, KILLED when interrupted (Ctrl-C or SIGTERM), FAILED on any error, so no run
is ever left RUNNING.
"""

from __future__ import annotations

import json
import signal
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import matplotlib.pyplot as plt
import mlflow
from mlflow.entities import DatasetInput, InputTag, Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mser.dataset import Dataset
from mser.errors import TrainingStopped
from mser.plots import confusion_figure, curves_figure
from mser.splits import Split
from mser.train import EpochCallback, TrainConfig, TrainResult, train
from tracking.model import log_pipeline
from tracking.schema import (
    BEST_EPOCH_TAG,
    CONFIG_FILE,
    CURVE_PREFIX,
    CURVES_FILE,
    DATASET_CONTEXTS,
    DATASET_DIGEST_LENGTH,
    DATASET_INPUT_COLUMNS,
    DATASET_KEY_TAG,
    EPOCHS_FOUND,
    HISTORY_FILE,
    LABELS_TAG,
    MODEL_URI_TAG,
    PARENT_TAG,
    SAE_EPOCHS_FOUND,
    SPEAKER_SIDES,
    SPLIT_FILE,
    confusion_file,
    dataset_input_name,
    predictions_file,
    speakers_tag,
)


def config_params(config: TrainConfig) -> dict[str, object]:
    """Flat parameters of a run: ``model``, ``language``, ``sae.depth``, ``classifier.kernel``..."""
    params = {k: v for k, v in asdict(config).items() if k not in ("sae", "classifier", "functionals", "augment")}
    params.update({f"sae.{k}": v for k, v in config.sae.items()})
    params.update({f"functionals.{k}": v for k, v in config.functionals.items()})
    params.update({f"augment.{k}": v for k, v in config.augment.items()})
    params.update({f"classifier.{k}": v for k, v in config.classifier.items()})
    return params


def logged_config(run) -> TrainConfig | None:
    """The training configuration a run's model was trained with (:data:`CONFIG_FILE`), or
    None for a run logged before this version kept it."""
    try:
        stored = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{CONFIG_FILE}")
    except Exception:  # noqa: BLE001 - MLflow raises several kinds for a missing artifact
        return None
    return TrainConfig(**stored)


def refit_config(config: TrainConfig, chosen_metrics: Mapping[str, float]) -> TrainConfig:
    """``config`` with the epochs the chosen trial's validation speakers found (its
    ``epochs_found`` and ``sae_epochs_found``; a model not trained by epochs has none): what a
    configuration trains for once there are no validation speakers to stop on."""
    found = {field: int(chosen_metrics[name]) for field, name in (("epochs", EPOCHS_FOUND),
                                                                   ("sae_epochs", SAE_EPOCHS_FOUND))
             if name in chosen_metrics}
    return replace(config, **found)


class EpochLogger:
    """``on_epoch`` callback for :func:`mser.train.train` that logs each epoch to a run."""

    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def __call__(self, stage: str, epoch: int, values: Mapping[str, float], also: Sequence[Metric] = ()) -> None:
        """Log the epoch's ``values`` as curves, with the metrics ``also`` in the same call."""
        timestamp = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[
            *(Metric(f"{CURVE_PREFIX}{name}", float(value), timestamp, epoch) for name, value in values.items()),
            *also])


@contextmanager
def tracked_run(client: MlflowClient, experiment_id: str, *, run_name: str, tags: Mapping[str, str] | None = None,
                parent_run_id: str | None = None) -> Iterator[str]:
    """Start a run and always end it: FINISHED; KILLED on interrupt, SIGTERM, an exit or a
    stop by a judge (:class:`~mser.errors.TrainingStopped`); FAILED on any error."""
    tags = dict(tags or {})
    if parent_run_id:
        tags[PARENT_TAG] = parent_run_id
    run = client.create_run(experiment_id, run_name=run_name, tags=tags)
    run_id = run.info.run_id
    previous = signal.getsignal(signal.SIGTERM)
    in_main_thread = _in_main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _raise_interrupt)
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        yield run_id
        status = RunStatus.to_string(RunStatus.FINISHED)
    except (KeyboardInterrupt, SystemExit, TrainingStopped):
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        client.set_terminated(run_id, status)


@contextmanager
def system_metrics(tracking_uri: str, run_id: str, interval: float) -> Iterator[None]:
    """MLflow's system metrics of the machine (``system/cpu_utilization_percentage``,
    ``system/system_memory_usage_megabytes``, disk and network) logged to ``run_id`` every
    ``interval`` seconds while the block runs; none with ``interval`` 0. Its sampling thread
    has ended when the block ends: a reused worker keeps no thread of a finished trial (Ray
    resets a worker only once the trial's threads are done). MLflow's own
    ``MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL`` overrides ``interval``."""
    if interval <= 0:
        yield
        return
    from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

    monitor = SystemMetricsMonitor(run_id, sampling_interval=interval, tracking_uri=tracking_uri)
    monitor.start()
    try:
        yield
    finally:
        monitor.finish()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def log_result(client: MlflowClient, run_id: str, result: TrainResult, *, dataset: Dataset,
               extra_metrics: Mapping[str, float] | None = None) -> None:
    """Log the final metrics (with ``extra_metrics``) and tags in one call, the data each side
    of the split saw (:func:`log_dataset_inputs`), then the split, confusion matrices, curves
    and model of ``result`` to ``run_id``."""
    timestamp = int(time.time() * 1000)
    tags = {DATASET_KEY_TAG: dataset.key, BEST_EPOCH_TAG: str(result.best_epoch),
            LABELS_TAG: " ".join(result.pipeline.emotions),
            **{speakers_tag(side): " ".join(getattr(result.split, side)) for side in SPEAKER_SIDES}}
    client.log_batch(run_id, metrics=[Metric(name, float(value), timestamp, 0)
                                      for name, value in {**result.metrics(), **(extra_metrics or {})}.items()],
                     tags=[RunTag(key, value) for key, value in tags.items()])
    log_dataset_inputs(client, run_id, dataset, result.split)
    title = f"{result.config.model}, {result.config.language}"
    with tempfile.TemporaryDirectory() as folder:  # one upload: each artifact call reads the run again
        files = Path(folder)
        (files / SPLIT_FILE).write_text(json.dumps(result.split.as_dict(), indent=2))
        (files / CONFIG_FILE).write_text(json.dumps(asdict(result.config), indent=2))
        (files / HISTORY_FILE).write_text(json.dumps({k: [float(x) for x in v] for k, v in result.history.items()},
                                                     indent=2))
        for side, evaluation in (("validation", result.validation), ("test", result.test)):
            if evaluation is not None:
                write_evaluation(files, evaluation, side, title=title)
        if result.history:
            figure = curves_figure(result.history, title=title, best_epoch=result.best_epoch)
            figure.savefig(files / CURVES_FILE)
            plt.close(figure)
        client.log_artifacts(run_id, folder)
    log_model(client, run_id, result.pipeline)


def log_model(client: MlflowClient, run_id: str, pipeline) -> str:
    """Log a trained model (a pipeline or an ensemble) to ``run_id`` as a pyfunc model, tag the
    run with its URI, and return it."""
    mlflow.set_tracking_uri(client.tracking_uri)  # log_model works through the fluent API's active run
    with mlflow.start_run(run_id=run_id, nested=True):
        info = log_pipeline(pipeline)
    client.set_tag(run_id, MODEL_URI_TAG, info.model_uri)
    return info.model_uri


def record_training(client: MlflowClient, experiment_id: str, dataset: Dataset, config: TrainConfig, *,
                    run_name: str, tags: Mapping[str, str], parent_run_id: str | None = None,
                    split: Split | None = None, on_epoch: EpochCallback | None = None, encoder_cache=None,
                    extra_metrics: Mapping[str, float] | None = None) -> tuple[str, TrainResult]:
    """Train ``config`` on ``dataset`` (test speakers scored) as one MLflow run, the one place
    where a training outside a search trial is recorded (``mser-train``, a study's refit and
    repeats): the run opened and always ended (:func:`tracked_run`), its params, every epoch
    (and ``on_epoch`` too, e.g. a progress bar), then its result (:func:`log_result`).
    Returns the run id and the result."""
    with tracked_run(client, experiment_id, run_name=run_name, tags=tags, parent_run_id=parent_run_id) as run_id:
        log_params(client, run_id, config_params(config))
        logger = EpochLogger(client, run_id)

        def epoch(stage: str, index: int, values: Mapping[str, float]) -> None:
            logger(stage, index, values)
            if on_epoch is not None:
                on_epoch(stage, index, values)

        result = train(dataset, config, split=split, on_epoch=epoch, encoder_cache=encoder_cache)
        log_result(client, run_id, result, dataset=dataset, extra_metrics=extra_metrics)
    return run_id, result


def log_dataset_inputs(client: MlflowClient, run_id: str, dataset: Dataset, split: Split) -> None:
    """Record, in MLflow's own terms (``mlflow.data``), which utterances each side of the split
    held: one dataset per side with speakers (``mser-<key>-train``, ``-validation``, ``-test``),
    the dataset key as digest, the data root as source, and MLflow's context tag
    (``training``, ``validation``, ``test``), so the UI shows what data a run saw and tells
    runs on other data apart."""
    columns = [c for c in DATASET_INPUT_COLUMNS if c in dataset.utterances.columns]
    inputs = []
    for side in SPEAKER_SIDES:
        speakers = getattr(split, side)
        if not speakers:
            continue
        rows = dataset.utterances[dataset.utterances["speaker"].isin(speakers)][columns].reset_index(drop=True)
        with warnings.catch_warnings():
            # MLflow registers its local-files source for both "" and "file:" and warns that a path
            # could be either; both are the same class, so the source is right either way.
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            data = mlflow.data.from_pandas(rows, source=str(dataset.root), name=dataset_input_name(dataset.key, side),
                                           digest=dataset.key[:DATASET_DIGEST_LENGTH])
        inputs.append(DatasetInput(data._to_mlflow_entity(),
                                   tags=[InputTag(MLFLOW_DATASET_CONTEXT, DATASET_CONTEXTS[side])]))
    client.log_inputs(run_id, datasets=inputs)


def log_evaluation(client: MlflowClient, run_id: str, evaluation, side: str, *, title: str) -> None:
    """The confusion matrix (picture and data) and per-utterance predictions of one side."""
    with tempfile.TemporaryDirectory() as folder:
        write_evaluation(Path(folder), evaluation, side, title=title)
        client.log_artifacts(run_id, folder)


def write_evaluation(folder: Path, evaluation, side: str, *, title: str) -> None:
    """The files of :func:`log_evaluation`, written to ``folder``."""
    (folder / confusion_file(side, "json")).write_text(json.dumps(
        {"labels": list(evaluation.emotions), "rows": "true", "columns": "predicted",
         "matrix": evaluation.confusion.tolist()}, indent=2))
    figure = confusion_figure(evaluation.confusion, labels=evaluation.emotions, title=(
        f"{title}, {side} speakers (kappa {evaluation.utterances['kappa']:.3f})"))
    figure.savefig(folder / confusion_file(side, "png"))
    plt.close(figure)
    evaluation.predictions.to_csv(folder / predictions_file(side), index=False)


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, object]) -> None:
    """Log parameters, JSON-encoding lists and dicts so they read back unambiguously."""
    client.log_batch(run_id, params=[
        Param(key, json.dumps(value) if isinstance(value, (list, tuple, dict)) else str(value))
        for key, value in params.items()
    ])
