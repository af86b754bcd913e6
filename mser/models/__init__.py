"""The models, by the name the command-line tools take.

The paper's models read 1-s windows: an optional autoencoder (for the code) and a
classifier on the code, the features, or both stacked. :func:`model_inputs` turns
scaled windows and standardised features into what such a classifier reads, for
training and prediction alike. The ``smile_*`` models are the field's standard
baseline: a classic classifier on an utterance's openSMILE functionals
(:mod:`mser.functionals`), normalised globally or per speaker. The ``sae_stats_*`` models
read an utterance's statistics of the autoencoder's code, alone or joined to functionals
(:mod:`mser.families.code_statistics`).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np

from mser.families import Family, get_family
from mser.models import classifiers
from mser.models.sae import build_autoencoder


@dataclass(frozen=True)
class ModelSpec:
    """One model.

    Attributes:
        name: Name on the command line.
        title: Row name in the paper's Table 4, or what the model is.
        uses_code: Reads the autoencoder's code.
        uses_features: Reads the 41 x 16 features.
        builder: Classifier builder in :mod:`mser.models.classifiers`.
        keras: The classifier is a Keras model (trained by epochs) rather than sklearn.
        family_name: Its family (:mod:`mser.families`): ``windows`` (1-s windows, the
            paper's models), ``functionals`` (a whole utterance's openSMILE functionals) or
            ``code_statistics`` (a whole utterance's statistics of the autoencoder's code).
    """

    name: str
    title: str
    uses_code: bool
    uses_features: bool
    builder: Callable
    keras: bool
    family_name: str = "windows"

    @property
    def family(self) -> Family:
        """How its inputs are made from a dataset (:class:`mser.families.Family`)."""
        return get_family(self.family_name)

    @property
    def unit(self) -> str:
        """What one example is: a 1-s ``window``, or a whole ``utterance``."""
        return self.family.unit

    @property
    def needs_keras(self) -> bool:
        """Trains or runs a Keras model (an autoencoder or the classifier): TensorFlow is
        imported for it, and only for it (its import takes seconds)."""
        return self.family.needs_keras(self)

    @property
    def uses_functionals(self) -> bool:
        """Takes the ``functionals`` group (a set of functionals, their normalisation and selection)."""
        return "functionals" in self.family.groups(self)


MODELS: Mapping[str, ModelSpec] = MappingProxyType({spec.name: spec for spec in (
    ModelSpec("dnn_features", "DNN (features)", False, True, classifiers.build_dnn, True),
    ModelSpec("cnn_features", "CNN (features)", False, True, classifiers.build_matrix_cnn, True),
    ModelSpec("sae_svm", "AE + SVM (encoded signal)", True, False, classifiers.build_svm, False),
    ModelSpec("sae_mlp", "AE + MLP (encoded signal)", True, False, classifiers.build_mlp, False),
    ModelSpec("sae_cnn", "AE + CNN (encoded signal)", True, False, classifiers.build_code_cnn, True),
    ModelSpec("sae_cnn_features", "AE + CNN (encoded signal + features)", True, True,
              classifiers.build_matrix_cnn, True),
    ModelSpec("smile_svm", "openSMILE functionals + SVM", False, False, classifiers.build_svm, False, "functionals"),
    ModelSpec("smile_logreg", "openSMILE functionals + logistic regression", False, False,
              classifiers.build_logreg, False, "functionals"),
    ModelSpec("smile_mlp", "openSMILE functionals + MLP", False, False, classifiers.build_mlp, False, "functionals"),
    ModelSpec("sae_stats_svm", "AE code statistics + SVM", True, False, classifiers.build_svm, False,
              "code_statistics"),
    ModelSpec("sae_stats_logreg", "AE code statistics + logistic regression", True, False, classifiers.build_logreg,
              False, "code_statistics"),
)})


def is_keras_model(model: object) -> bool:
    """Whether ``model`` is a Keras model, without importing Keras: a process that never
    imported it holds none."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def set_random_seed(spec: ModelSpec, seed: int) -> None:
    """Seed Python's and NumPy's generators, and TensorFlow's for a model that needs Keras
    (``keras.utils.set_random_seed``), before ``spec`` is trained."""
    if spec.needs_keras:
        from mser.models._keras import keras

        keras.utils.set_random_seed(seed)
    else:
        random.seed(seed)
        np.random.seed(seed)


def get_model(name: str) -> ModelSpec:
    """The model called ``name``, or a ValueError listing the names there are."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}") from None


def code_rows(code: np.ndarray, frames: int) -> np.ndarray:
    """Flattened code as rows of ``frames`` values, zero-padded: ``(n, 125, 16)`` for the paper."""
    flat = code.reshape(len(code), -1)
    pad = (-flat.shape[1]) % frames
    if pad:
        flat = np.pad(flat, ((0, 0), (0, pad)))
    return flat.reshape(len(code), -1, frames)


def model_inputs(spec: ModelSpec, code: np.ndarray | None, features: np.ndarray | None) -> np.ndarray:
    """What ``spec``'s classifier reads, from the code ``(n, steps, latent)`` and features ``(n, 41, 16)``.

    SVM and MLP get the flat code; the 1-D CNN the code as one channel; the 2-D CNN the
    code rows stacked on the feature rows (166 x 16) or the features alone.
    """
    if spec.uses_functionals:
        raise ValueError(f"{spec.name} reads utterance functionals, not windows")
    if spec.uses_code and code is None or spec.uses_features and features is None:
        raise ValueError(f"{spec.name} needs {'the code' if code is None else 'the features'}")
    if spec.builder is classifiers.build_code_cnn:
        return code.reshape(len(code), -1, 1)
    if not spec.keras:
        return code.reshape(len(code), -1)
    if spec.uses_code:
        return np.concatenate([code_rows(code, features.shape[-1]), features], axis=1)
    return features


def classifier_shape_kwargs(spec: ModelSpec, inputs: np.ndarray) -> dict:
    """The input-size keywords of ``spec``'s Keras builder for these inputs."""
    if not spec.keras:
        return {}
    if spec.builder is classifiers.build_code_cnn:
        return {"input_length": inputs.shape[1]}
    return {"input_shape": tuple(inputs.shape[1:3])}


__all__ = ["MODELS", "ModelSpec", "build_autoencoder", "classifier_shape_kwargs", "code_rows", "get_model",
           "model_inputs"]
