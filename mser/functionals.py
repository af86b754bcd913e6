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

mser computes one set itself (:data:`OWN_SETS`): ``librosa``, the statistics (mean,
deviation, minimum, maximum) over an utterance's frames of the 41 librosa features the
paper's models read per 1-s window (:func:`utterance_statistics`), made from the dataset's
own features, so it needs no extra and no second pass over the audio.

Fused inputs join sets (early fusion, :data:`FUSED_SETS`): ``eGeMAPSv02+ComParE_2016`` and
``ComParE_2016+librosa`` are their sets' columns side by side, computed as each set is and
cached per set.

Normalisation is a choice (:data:`NORMALISATIONS`): ``global`` standardises every
utterance with the training speakers' means and deviations; ``speaker`` standardises
each speaker's utterances with that speaker's own (no labels are read, but every
speaker, test speakers included, must come with several recordings).

Feature selection is a choice too (``select``: keep the k columns with the highest ANOVA
F between emotions, :func:`select_columns`), fitted on the training speakers' normalised
inputs only, as part of the model's preprocessing.
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
#: The utterance statistics of the paper's librosa features (:mod:`mser.features`: log-mel,
#: MFCC, chroma, centroid, 41 per frame with the default parameters) over every frame of the
#: utterance's 1-s windows: what the models on windows read, summarised as openSMILE summarises
#: its descriptors. Computed by mser from the dataset's features (no openSMILE, no extra).
LIBROSA = "librosa"
STATISTICS = ("mean", "std", "min", "max")
_LIBROSA_ROWS = ([f"logmel{i}" for i in range(1, 17)] + [f"mfcc{i}" for i in range(1, 13)]
                 + [f"chroma{i}" for i in range(1, 13)] + ["centroid"])
#: The sets mser computes itself, with their sizes.
OWN_SETS = {LIBROSA: len(_LIBROSA_ROWS) * len(STATISTICS)}
#: Input sets made by joining sets (early fusion): each one's parts, in column order.
FUSED_SETS = {"eGeMAPSv02+ComParE_2016": ("eGeMAPSv02", "ComParE_2016"),
              f"ComParE_2016+{LIBROSA}": ("ComParE_2016", LIBROSA)}
_PART_SIZES = {**FEATURE_SETS, **OWN_SETS}
#: Every set a model on functionals may read (openSMILE's, mser's own, the fused ones), with its size.
INPUT_SETS = {**_PART_SIZES, **{name: sum(_PART_SIZES[part] for part in parts) for name, parts in FUSED_SETS.items()}}
#: The ``feature_set`` of a model whose own utterance inputs are joined to no set of :data:`INPUT_SETS`
#: (the statistics of the autoencoder's code alone, :mod:`mser.families.code_statistics`).
NO_SET = "none"
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
        feature_set: A set of :data:`INPUT_SETS`: ``eGeMAPSv02``, ``ComParE_2016``, ``librosa``
            (:data:`LIBROSA`), or one of :data:`FUSED_SETS`.
        normalisation: ``global`` (training speakers' statistics) or ``speaker`` (each
            speaker's own).
        select: Keep this many columns, those whose normalised values best separate the
            emotions of the training speakers (:func:`select_columns`); 0, or at least the
            set's size: every column.
    """

    feature_set: str = "ComParE_2016"
    normalisation: str = "speaker"
    select: int = 0

    def __post_init__(self) -> None:
        _ = self.parts  # refuses an unknown set
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(f"unknown normalisation {self.normalisation!r}: "
                             f"expected one of {', '.join(NORMALISATIONS)}")
        if isinstance(self.select, bool) or not isinstance(self.select, int) or self.select < 0:
            raise ValueError(f"select must be a whole number of columns, 0 for all, not {self.select!r}")

    @property
    def parts(self) -> tuple[str, ...]:
        """The sets the dataset computes for this input, in column order (:func:`set_parts`)."""
        return set_parts(self.feature_set)


def set_parts(feature_set: str) -> tuple[str, ...]:
    """The sets (openSMILE's or :data:`OWN_SETS`) an input set is made of, in column order
    (itself, unless fused).

    Raises:
        ValueError: Not a set of :data:`INPUT_SETS`.
    """
    if feature_set in _PART_SIZES:
        return (feature_set,)
    if feature_set in FUSED_SETS:
        return FUSED_SETS[feature_set]
    raise ValueError(f"unknown feature set {feature_set!r}: expected one of {', '.join(INPUT_SETS)}")


def select_columns(inputs: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` columns of ``inputs`` with the highest ANOVA F between the classes of
    ``labels`` (scikit-learn's ``f_classif``, as ``SelectKBest`` ranks them), in column order;
    a constant column ranks last. Fit it on training speakers' rows only."""
    import warnings

    from sklearn.feature_selection import f_classif

    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Features .* are constant", category=UserWarning)
        scores, _ = f_classif(inputs, labels)
    scores = np.nan_to_num(scores, nan=-1.0, posinf=np.finfo(np.float64).max)
    return np.sort(np.argsort(-scores, kind="stable")[:k])


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
    """The names of the functionals of ``feature_set`` (any of :data:`INPUT_SETS`), in column order."""
    return [name for part in set_parts(feature_set)
            for name in (librosa_names() if part == LIBROSA else smile(part).feature_names)]


def librosa_names() -> list[str]:
    """The columns of the ``librosa`` set: each feature's statistics (``mfcc3_std``...), feature by feature."""
    return [f"{row}_{statistic}" for row in _LIBROSA_ROWS for statistic in STATISTICS]


def opensmile_parts(feature_set: str) -> tuple[str, ...]:
    """The parts of ``feature_set`` openSMILE computes (those that need the opensmile extra)."""
    return tuple(part for part in set_parts(feature_set) if part in FEATURE_SETS)


def utterance_statistics(features: np.ndarray) -> np.ndarray:
    """The ``librosa`` set of one utterance from its windows' features ``(windows, rows, frames)``:
    each row's :data:`STATISTICS` over every frame of every window, row by row."""
    frames = np.asarray(features, dtype=np.float64).transpose(0, 2, 1).reshape(-1, features.shape[1])
    values = np.stack([frames.mean(axis=0), frames.std(axis=0), frames.min(axis=0), frames.max(axis=0)], axis=1)
    return values.reshape(-1).astype(np.float32)


def functionals(samples: np.ndarray, rate: int, *, feature_set: str, params=None) -> np.ndarray:
    """The functionals of one signal, ``(frames,)`` or ``(frames, channels)`` at ``rate``
    (a fused set's parts side by side). The ``librosa`` part is made as the dataset's
    windows are, with ``params`` (:class:`mser.dataset.PrepParams`, required for it).

    Returns:
        ``(n_functionals,)`` float32, openSMILE's own values for that signal.

    Raises:
        SkipFile: (``librosa``) The signal is silent or shorter than one window.
    """
    samples = np.asarray(samples, dtype=np.float32)
    signal = np.ascontiguousarray(samples[None, :] if samples.ndim == 1 else samples.T)
    return np.concatenate([_librosa_part(samples, rate, params) if part == LIBROSA
                           else smile(part).process_signal(signal, rate).to_numpy(dtype=np.float32)[0]
                           for part in set_parts(feature_set)])


def _librosa_part(samples: np.ndarray, rate: int, params) -> np.ndarray:
    from mser.audio import signal_windows
    from mser.features import window_features

    if params is None:
        raise ValueError("the librosa statistics of a signal need its preprocessing parameters (params=)")
    windows = signal_windows(samples, rate, target_rate=params.target_rate, window=params.window,
                             silence_dbfs=params.silence_dbfs)
    return utterance_statistics(window_features(windows, params.target_rate, params=params.features))


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
