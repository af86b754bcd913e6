"""Utterance-level acoustic functionals from openSMILE, and their normalisation.

A functional summarises a whole utterance (means, percentiles, slopes of pitch,
loudness, spectral and voice-quality descriptors): the field's standard inputs for
emotion recognition. Two of openSMILE's standard sets are offered, ``eGeMAPSv02`` (88)
and ``ComParE_2016`` (6373). Each file is mixed to mono and resampled to 16 kHz, the
band openSMILE's configurations are made for (not the paper's 8 kHz), by openSMILE's
own front end, so :func:`functionals` equals ``opensmile.Smile.process_file``.

The ``opensmile`` package is free for research only (audEERING's licence), so it is an
optional extra: ``pip install -e ".[opensmile]"``. Without it, asking for functionals
raises :class:`MissingExtra` with that command.

Normalisation is a choice (:data:`NORMALISATIONS`): ``global`` standardises every
utterance with the training speakers' means and deviations; ``speaker`` standardises
each speaker's utterances with that speaker's own (no labels are read, but every
speaker, test speakers included, must come with several recordings).
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mser.errors import MserError

#: openSMILE's standard functional sets offered here, with their sizes.
FEATURE_SETS = {"eGeMAPSv02": 88, "ComParE_2016": 6373}
#: Every file is brought to this rate for openSMILE (Hz).
FUNCTIONALS_RATE = 16_000
NORMALISATIONS = ("global", "speaker")
EXTRA = 'pip install -e ".[opensmile]"'


class MissingExtra(MserError):
    """An optional dependency a command needs is not installed."""


@dataclass(frozen=True)
class FunctionalsParams:
    """How a model's utterance inputs are made (the ``functionals`` group of a search space).

    Attributes:
        feature_set: ``eGeMAPSv02`` or ``ComParE_2016``.
        normalisation: ``global`` (training speakers' statistics) or ``speaker`` (each
            speaker's own).
    """

    feature_set: str = "ComParE_2016"
    normalisation: str = "speaker"

    def __post_init__(self) -> None:
        if self.feature_set not in FEATURE_SETS:
            raise ValueError(f"unknown feature set {self.feature_set!r}: expected one of {', '.join(FEATURE_SETS)}")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"unknown normalisation {self.normalisation!r}: "
                             f"expected one of {', '.join(NORMALISATIONS)}")


def preload_native() -> None:
    """Load openSMILE's native library now, if the package is installed.

    Loaded after TensorFlow's libraries, it corrupts the heap on its first extraction
    (``malloc(): invalid size``, the process aborts); loaded before them, both work.
    :mod:`mser.models._keras` calls this before it imports TensorFlow. It takes about a
    millisecond and imports nothing.
    """
    spec = importlib.util.find_spec("opensmile")
    if spec is None or not spec.origin:
        return
    for library in sorted((Path(spec.origin).parent / "core" / "bin").rglob("libSMILEapi*")):
        try:
            ctypes.CDLL(str(library))
            return
        except OSError:
            continue  # a build for another platform


def _opensmile():
    try:
        import opensmile
    except ImportError:
        raise MissingExtra("openSMILE functionals need the optional package opensmile (free for research "
                           f"only, audEERING's licence): install it with {EXTRA}") from None
    return opensmile


def opensmile_version() -> str:
    """The installed opensmile package's version (part of the functionals' cache key)."""
    return _opensmile().__version__


_LOCAL = threading.local()


def smile(feature_set: str):
    """The ``opensmile.Smile`` extracting ``feature_set`` functionals at 16 kHz mono.

    One per thread: a Smile object is not safe to share between threads.
    """
    if feature_set not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {feature_set!r}: expected one of {', '.join(FEATURE_SETS)}")
    made = _LOCAL.__dict__.setdefault("smiles", {})
    if feature_set not in made:
        opensmile = _opensmile()
        made[feature_set] = opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                                            feature_level=opensmile.FeatureLevel.Functionals,
                                            sampling_rate=FUNCTIONALS_RATE, resample=True, mixdown=True)
    return made[feature_set]


def feature_names(feature_set: str) -> list[str]:
    """The names of the functionals of ``feature_set``, in column order."""
    return list(smile(feature_set).feature_names)


def functionals(samples: np.ndarray, rate: int, *, feature_set: str) -> np.ndarray:
    """The functionals of one signal, ``(frames,)`` or ``(frames, channels)`` at ``rate``.

    Returns:
        ``(n_functionals,)`` float32, openSMILE's own values for that signal.
    """
    samples = np.asarray(samples, dtype=np.float32)
    signal = samples[None, :] if samples.ndim == 1 else samples.T
    values = smile(feature_set).process_signal(np.ascontiguousarray(signal), rate).to_numpy(dtype=np.float32)
    return values[0]


def standardise(values: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(values - mean) / scale`` as float32, with a zero scale taken as 1."""
    scale = np.where(scale > 0, scale, 1.0)
    return ((np.asarray(values, dtype=np.float64) - mean) / scale).astype(np.float32)


def per_speaker(values: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """Standardise each speaker's rows with that speaker's own mean and deviation.

    A speaker's result depends on that speaker's rows only; no labels are read.
    """
    values = np.asarray(values, dtype=np.float64)
    speakers = np.asarray(speakers)
    out = np.empty(values.shape, dtype=np.float32)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        out[rows] = standardise(values[rows], values[rows].mean(axis=0), values[rows].std(axis=0))
    return out
