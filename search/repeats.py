"""Repeats of a study's result with other seeds: how much of its kappa is luck.

With ``--repeats N``, once the search is over and the best trial chosen (on validation
speakers), the study's result is trained again with N other seeds on the same speakers:
the refit's configuration on every training speaker (or, with ``--no-refit``, the chosen
trial's on its training speakers), each a child run of the study tagged ``repeat_of``
with the result's run id. Their test kappas (and, without refit, validation kappas) are
summarised by mean and standard deviation. The result itself is left out of the summary:
it was chosen as the best of many on validation, so its own validation kappa is
optimistic; the repeats are not.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping, Sequence

import numpy as np
from mlflow.tracking import MlflowClient

from mser.dataset import Dataset
from mser.metrics import TEST_KAPPA, VAL_KAPPA
from mser.splits import Split
from mser.train import TrainConfig
from search.options import StudyOptions
from search.retrain import record_training
from tracking.schema import REPEAT_OF_TAG


def repeat_seeds(options: StudyOptions) -> list[int]:
    """The seeds of the repeats: the study's seed plus 1, 2, ... ``options.repeats``."""
    return [options.seed + i for i in range(1, options.repeats + 1)]


def run_repeats(client: MlflowClient, experiment: str, parent: str, dataset: Dataset, options: StudyOptions,
                of: Mapping[str, Any], config: TrainConfig, split: Split) -> dict:
    """Train ``config`` (the result ``of``'s) on ``split`` with each of :func:`repeat_seeds`,
    record each run, and return the summary (:func:`summarise`) with the result's run id."""
    values = []
    for seed in repeat_seeds(options):
        run_id, result = record_training(client, experiment, parent, dataset, options, replace(config, seed=seed),
                                         split, run_name=f"{of['run_name']}-seed{seed}",
                                         tags={REPEAT_OF_TAG: of["run_id"]})
        values.append({"seed": seed, "run_id": run_id,
                       **{k: v for k, v in result.metrics().items() if k in (VAL_KAPPA, TEST_KAPPA)}})
    return {"of": of["run_id"], **summarise(values)}


def summarise(repeats: Sequence[Mapping[str, Any]]) -> dict:
    """Mean and standard deviation (``ddof=1``; 0 for one repeat) of the repeats' kappas
    (a kappa the repeats do not have, such as a refit's validation kappa, is None)."""
    summary: dict[str, Any] = {"n": len(repeats), "seeds": [int(r["seed"]) for r in repeats],
                               "run_ids": [r["run_id"] for r in repeats]}
    for metric in (VAL_KAPPA, TEST_KAPPA):
        if not all(r.get(metric) is not None for r in repeats):
            summary[metric] = None
            continue
        values = np.array([float(r[metric]) for r in repeats])
        summary[metric] = {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                           "values": values.tolist()}
    return summary
