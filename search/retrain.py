"""Training a study's chosen configuration again once the search is over: its refit on
every training speaker (the study's result), and its repeats with other seeds.

The refit (:func:`run_refit`) is what scikit-learn's ``GridSearchCV(refit=True)`` and
every anchor of the field do: the configuration is chosen on validation speakers, then
trained again with the same seed on the training *and* validation speakers, for the
epochs the choice found (the chosen trial's ``epochs_found`` and ``sae_epochs_found``:
its best epoch, or the mean over speaker folds), with no early stopping. Its test
speakers are scored once. It is a child run of the study tagged ``refit_of`` with the
chosen run's id, carrying ``choice_val_kappa`` (what the configuration was chosen by); the
chosen trial stays as it is. Both are recorded by :func:`record_training`, the one
place where a configuration is trained and recorded outside a trial.
"""

from __future__ import annotations

from typing import Any, Mapping

from mlflow.tracking import MlflowClient

from mser.dataset import Dataset
from mser.encoders import EncoderCache
from mser.metrics import TEST_KAPPA, VAL_KAPPA
from mser.splits import Split
from mser.train import TrainConfig, TrainResult, make_split, refit_split
from search.options import StudyOptions
from tracking.runs import record_training as record_run
from tracking.runs import refit_config
from tracking.schema import (
    CHOICE_VAL_KAPPA,
    LANGUAGE_TAG,
    MODEL_TAG,
    REFIT_OF_TAG,
)


def record_training(client: MlflowClient, experiment: str, parent: str, dataset: Dataset, options: StudyOptions,
                    config: TrainConfig, split: Split, *, run_name: str, tags: Mapping[str, str],
                    extra_metrics: Mapping[str, float] | None = None) -> tuple[str, TrainResult]:
    """Train ``config`` on ``split`` (test speakers scored) as a child run of the study's
    ``parent``, with its curves, scores and model (:func:`tracking.runs.record_training`);
    return the run id and the result."""
    cache = EncoderCache(options.cache_dir) if options.encoder_cache else None
    return record_run(client, experiment, dataset, config, run_name=run_name, parent_run_id=parent, split=split,
                      tags={MODEL_TAG: options.space, LANGUAGE_TAG: options.language, **tags}, encoder_cache=cache,
                      extra_metrics=extra_metrics)


def run_refit(client: MlflowClient, experiment: str, parent: str, dataset: Dataset, options: StudyOptions,
              chosen: Mapping[str, Any], config: TrainConfig) -> tuple[dict, TrainConfig, Split]:
    """Train the chosen trial's ``config`` again on every training speaker; see the module docstring.

    Args:
        chosen: The chosen trial's row (``run_id``, ``run_name``, ``val_kappa``: its objective value).
        config: The chosen trial's training configuration (same seed).

    Returns:
        The refit's row (``run_id``, ``run_name``, ``of``, ``test_kappa``, the epochs it trained),
        its configuration and its split.
    """
    refit = refit_config(config, client.get_run(chosen["run_id"]).data.metrics)
    split = refit_split(make_split(dataset, config))
    run_name = f"{chosen['run_name']}-refit"
    run_id, result = record_training(client, experiment, parent, dataset, options, refit, split, run_name=run_name,
                                     tags={REFIT_OF_TAG: chosen["run_id"]},
                                     extra_metrics={CHOICE_VAL_KAPPA: chosen[VAL_KAPPA]})
    row = {"run_id": run_id, "run_name": run_name, "of": chosen["run_id"], TEST_KAPPA: result.metrics()[TEST_KAPPA],
           "epochs": refit.epochs, "sae_epochs": refit.sae_epochs}
    return row, refit, split
