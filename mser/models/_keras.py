"""Keras on TensorFlow, imported once, quietly, with the optimizers the models name."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager

from mser.functionals import preload_native

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextmanager
def _quiet_native_stderr():
    """Silence file descriptor 2 while TensorFlow loads, if TF_CPP_MIN_LOG_LEVEL asks for quiet.

    TensorFlow 2.21 logs INFO lines from C++ as it loads (oneDNN is on, no CUDA driver),
    before its logging is set up, so TF_CPP_MIN_LOG_LEVEL does not reach them (an open
    Abseil issue, abseil/abseil-cpp#1957). A failed import still raises, after stderr is back.
    """
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0") or "tensorflow" in sys.modules:
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


preload_native()  # before TensorFlow, or openSMILE aborts the process (see there)
with _quiet_native_stderr():
    import keras
    from keras import layers

if os.environ["TF_CPP_MIN_LOG_LEVEL"] not in ("", "0", "1"):
    # The same quiet for TensorFlow's Python warnings: retracing notices when many small
    # models predict in one process (a search's driver scoring its best trials).
    logging.getLogger("tensorflow").setLevel(logging.ERROR)

OPTIMIZERS = {
    "adadelta": keras.optimizers.Adadelta,
    "adam": keras.optimizers.Adam,
    "rmsprop": keras.optimizers.RMSprop,
    "sgd": keras.optimizers.SGD,
}

__all__ = ["OPTIMIZERS", "compile_model", "keras", "layers", "make_optimizer", "set_threads"]


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    """An optimizer by name (``adadelta``, ``adam``, ``rmsprop``, ``sgd``)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: expected one of {', '.join(OPTIMIZERS)}")
    if learning_rate <= 0:
        raise ValueError(f"learning rate must be positive, got {learning_rate}")
    return OPTIMIZERS[name](learning_rate=learning_rate)


def compile_model(model: keras.Model, optimizer: str, learning_rate: float, loss: str) -> keras.Model:
    """Compile ``model`` with the optimizer named, and create the optimizer's variables now.

    Left to ``fit``, the optimizer creates them inside its first traced training step, where
    TensorFlow wraps each variable's initialiser in a pair of ``cond`` graphs that outlive the
    model and ``clear_session``: 66 graphs and about 17 MiB for each autoencoder a reused
    worker trains (``bench/worker_memory.py``). Created here they are plain zero-filled
    variables, the same values, and nothing is left behind.
    """
    model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=loss)
    model.optimizer.build(model.trainable_variables)
    return model


def set_threads(threads: int) -> None:
    """Limit TensorFlow to ``threads`` CPU threads (call before any model is built)."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, threads)))
    except RuntimeError:
        pass  # TensorFlow already initialised: the first setting stays.
