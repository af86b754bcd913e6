"""Repeats of a study's chosen configuration with other seeds: how much of its kappa is luck.

With ``--repeats N``, once the search is over and the best trial chosen (on validation
speakers), its configuration is trained again with N other seeds on the same speakers
(the same training, validation and test speakers), each a child run of the study
tagged ``repeat_of`` with the chosen run's id. Their validation and test kappas are
summarised by mean and standard deviation. The chosen trial itself is left out of the
summary: it was the best of many on validation, so its own validation kappa is
optimistic; the repeats are not.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np
from mlflow.tracking import MlflowClient

from mser.dataset import Dataset
from mser.encoders import EncoderCache
from mser.metrics import TEST_KAPPA, VAL_KAPPA
from mser.train import make_split, train
from search.options import StudyOptions
from search.trial import train_config
from tracking.runs import EpochLogger, config_params, log_params, log_result, tracked_run
from tracking.schema import LANGUAGE_TAG, MODEL_TAG, REPEAT_OF_TAG


def repeat_seeds(options: StudyOptions) -> list[int]:
    """The seeds of the repeats: the study's seed plus 1, 2, ... ``options.repeats``."""
    return [options.seed + i for i in range(1, options.repeats + 1)]


def run_repeats(client: MlflowClient, experiment: str, parent: str, dataset: Dataset, options: StudyOptions,
                best: Mapping[str, Any], config: Mapping[str, Any]) -> dict:
    """Train the chosen trial's ``config`` with each of :func:`repeat_seeds`, record each run, and
    return the summary (:func:`summarise`) with the chosen run's id."""
    chosen = train_config(config, options)
    split = make_split(dataset, chosen)  # the chosen trial's speakers, whatever the seed
    cache = EncoderCache(options.cache_dir) if options.encoder_cache else None
    values = []
    for seed in repeat_seeds(options):
        repeat = replace(chosen, seed=seed)
        tags = {MODEL_TAG: options.space, LANGUAGE_TAG: options.language, REPEAT_OF_TAG: best["run_id"]}
        with tracked_run(client, experiment, run_name=f"{best['run_name']}-seed{seed}", tags=tags,
                         parent_run_id=parent) as run_id:
            log_params(client, run_id, config_params(repeat))
            result = train(dataset, repeat, split=split, on_epoch=EpochLogger(client, run_id), encoder_cache=cache)
            log_result(client, run_id, result, dataset_key=dataset.key)
        values.append({"seed": seed, "run_id": run_id, **{k: result.metrics()[k] for k in (VAL_KAPPA, TEST_KAPPA)}})
    return {"of": best["run_id"], **summarise(values)}


def summarise(repeats: Sequence[Mapping[str, Any]]) -> dict:
    """Mean and standard deviation (``ddof=1``; 0 for one repeat) of the repeats' kappas."""
    summary: dict[str, Any] = {"n": len(repeats), "seeds": [int(r["seed"]) for r in repeats],
                               "run_ids": [r["run_id"] for r in repeats]}
    for metric in (VAL_KAPPA, TEST_KAPPA):
        values = np.array([float(r[metric]) for r in repeats])
        summary[metric] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                           "values": values.tolist()}
    return summary
