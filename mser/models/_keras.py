"""Keras on TensorFlow, imported once, quietly, with the optimizers the models name."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
from keras import layers  # noqa: E402

OPTIMIZERS = {
    "adadelta": keras.optimizers.Adadelta,
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}

__all__ = ["OPTIMIZERS", "keras", "layers", "make_optimizer", "set_threads"]


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """An optimizer by name (``adadelta``, ``adam``, ``rmsprop``, ``sgd``)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")
    if learning_rate <= 0:
        raise ValueError(f"learning rate must be positive, got {learning_rate}")
    return OPTIMIZERS[name](learning_rate=learning_rate)


def set_threads(threads: int) -> None:
    """Limit TensorFlow to ``threads`` CPU threads (call before any model is built)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:
        pass  # TensorFlow already initialised: the first setting stays.
