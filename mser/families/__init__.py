"""Model families: what one example is, and how a dataset becomes a classifier's inputs.

A family is one implementation of :class:`Family`. Training (:func:`mser.train.train`)
asks a model's family for its training rows, its fitted preprocessing (an
:class:`~mser.pipeline.EmotionPipeline` without its classifier) and the classifier's
inputs, and never branches on the kind of model; the search spaces take the
configuration groups a model reads (``sae``, ``functionals``) from its family.

- :class:`~mser.families.windows.WindowFamily`: 1-s windows of raw 8 kHz audio, read
  through the autoencoder's code, the 41 x 16 librosa features, or both (the paper's models).
- :class:`~mser.families.functionals.FunctionalsFamily`: a whole utterance described by
  its openSMILE functionals, normalised globally or per speaker (the field's baseline).
- :class:`~mser.families.code_statistics.CodeStatisticsFamily`: a whole utterance described
  by the statistics of the autoencoder's code over its windows, alone or joined to functionals.

A new family is a new module here, registered in :data:`FAMILIES`, with its models in
:data:`mser.models.MODELS` and a search space for each.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from mser.dataset import Dataset
    from mser.models import ModelSpec
    from mser.pipeline import EmotionPipeline
    from mser.splits import Split
    from mser.train import EpochCallback, TrainConfig


class Family(ABC):
    """A kind of model: the unit of its examples and how its inputs are made.

    Attributes:
        name: Name in :attr:`mser.models.ModelSpec.family`.
        unit: What one example is: ``window`` or ``utterance`` (see :meth:`Dataset.examples`).
        window_scores: Whether its models are also scored per window, besides per utterance.
        requirements: Packages a served model of the family needs beyond the project's own.
    """

    name: ClassVar[str]
    unit: ClassVar[str]
    window_scores: ClassVar[bool]
    requirements: ClassVar[tuple[str, ...]] = ()

    def requirements_of(self, pipeline: "EmotionPipeline") -> tuple[str, ...]:
        """The packages a served ``pipeline`` of the family needs: by default :attr:`requirements`."""
        return tuple(self.requirements)

    def needs_keras(self, spec: "ModelSpec") -> bool:
        """Whether ``spec`` trains or runs a Keras model; by default, when its classifier is one."""
        return spec.keras

    def groups(self, spec: "ModelSpec") -> Mapping[str, Callable]:
        """The configuration groups ``spec`` reads besides ``classifier`` and ``training``,
        each with the callable whose keyword defaults are the group's defaults."""
        return {}

    def check(self, config: "TrainConfig") -> None:
        """Refuse settings of ``config`` this family cannot train (ValueError); by default all pass."""
        return None

    def training_data(self, data: "Dataset", config: "TrainConfig", split: "Split") -> "Dataset":
        """The data a model is trained and validated on, out of ``data``: by default ``data``
        itself. A family may add examples of the training speakers only (augmented copies);
        test speakers are scored on ``data`` as it was."""
        return data

    def training_rows(self, examples: "pd.DataFrame", rows: np.ndarray, config: "TrainConfig") -> np.ndarray:
        """The rows of ``examples`` a model is fitted on, out of the training speakers' ``rows``."""
        return rows

    @abstractmethod
    def prepare(self, data: "Dataset", config: "TrainConfig", rows: Mapping[str, np.ndarray], split: "Split", *,
                history: dict, on_epoch: "EpochCallback | None" = None, encoder_cache: Any = None,
                probe: tuple | None = None) -> "EmotionPipeline":
        """The model's preprocessing, fitted on the training ``rows`` of ``data``'s examples:
        a pipeline whose classifier is still to be fitted. Curves of what it trains go to
        ``history``; ``probe`` and ``encoder_cache`` are for a family that trains an encoder."""

    @abstractmethod
    def inputs(self, pipeline: "EmotionPipeline", data: "Dataset", index: np.ndarray) -> np.ndarray:
        """The classifier's inputs for the examples at ``index`` of ``data.examples(unit)``."""

    @abstractmethod
    def predict_signals(self, pipeline: "EmotionPipeline", signals: Sequence[tuple[np.ndarray, int]],
                        speakers: Sequence[str | None] | None = None) -> list:
        """Classify raw signals ``(samples, rate)`` with a trained ``pipeline``, preparing each as
        the training examples were: a :class:`~mser.pipeline.Prediction` per signal, or the
        :class:`~mser.errors.SkipFile` saying why it has none (one bad signal never costs the
        others their answers). ``speakers`` names each signal's speaker, or None."""


#: Each family's name and where it is defined, imported when first asked for: the windows
#: family brings Keras, which a process that trains only models on functionals never needs.
FAMILIES: Mapping[str, str] = {"windows": "mser.families.windows:WindowFamily",
                               "functionals": "mser.families.functionals:FunctionalsFamily",
                               "code_statistics": "mser.families.code_statistics:CodeStatisticsFamily"}

_REGISTRY: dict[str, Family] = {}


def get_family(name: str) -> Family:
    """The family called ``name``, or a ValueError listing the names there are."""
    if name not in _REGISTRY:
        if name not in FAMILIES:
            raise ValueError(f"unknown model family {name!r}: expected one of {', '.join(FAMILIES)}")
        module, _, attribute = FAMILIES[name].partition(":")
        _REGISTRY[name] = getattr(importlib.import_module(module), attribute)()
    return _REGISTRY[name]


__all__ = ["Family", "get_family"]
