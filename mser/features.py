"""The paper's hand-crafted features: log-mel, MFCC, chroma and spectral centroid.

Per 1-s window at 8 kHz: log-mel (16) + MFCC (12) + chroma (12) + centroid (1) = 41
rows by 16 frames (paper, section 4.2). :func:`window_features` computes one STFT
per chunk of :data:`_CHUNK` windows and derives the four features from it; the values
equal those of the four plain librosa calls in :func:`reference_features`, which
compute the STFT four times, window by window. Where a librosa function is mirrored
rather than called (peak picking for the tuning, filter-bank products, centroid), its
docstring names the function and says why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np


@dataclass(frozen=True)
class FeatureParams:
    """Feature settings; librosa's defaults except the band and coefficient counts.

    Attributes:
        n_fft: FFT size of the STFT.
        hop_length: Hop between frames; 8000 samples give 16 frames with the default.
        n_mels: Mel bands of the log-mel spectrogram.
        n_mfcc: MFCCs kept (from librosa's default 128-band mel spectrogram).
        n_chroma: Chroma bins.
        top_db: Dynamic range kept by ``power_to_db``, per window.
    """

    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 16
    n_mfcc: int = 12
    n_chroma: int = 12
    top_db: float = 80.0

    def __post_init__(self) -> None:
        for name in ("n_fft", "hop_length", "n_mels", "n_mfcc", "n_chroma"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FeatureParams.{name} must be positive, got {getattr(self, name)}")

    @property
    def rows(self) -> int:
        """Rows of the stacked feature matrix (41 with the defaults)."""
        return self.n_mels + self.n_mfcc + self.n_chroma + 1

    def frames(self, window: int) -> int:
        """Frames per window of ``window`` samples (centred STFT)."""
        return 1 + window // self.hop_length


def _power_to_db(power: np.ndarray, top_db: float) -> np.ndarray:
    """``librosa.power_to_db`` with ``top_db`` applied per window of a batch, not batch-wide."""
    db = librosa.power_to_db(power, top_db=None)
    return np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - top_db)


@lru_cache(maxsize=8)
def _mel_filters(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """``librosa.filters.mel``, built once instead of once per batch and per call."""
    filters = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels)
    filters.flags.writeable = False
    return filters


def _project(filters: np.ndarray, spec: np.ndarray) -> np.ndarray:
    """``np.einsum("mf,...ft->...mt", filters, spec)``, as librosa applies filter banks.

    One ``tensordot`` (a single BLAS matrix product) instead; librosa's
    ``einsum(..., optimize=True)`` is an order of magnitude slower on a batch here.
    """
    return np.moveaxis(np.tensordot(filters, spec, axes=([1], [-2])), 0, -2)


def _melspectrogram(power: np.ndarray, rate: int, n_mels: int) -> np.ndarray:
    """``librosa.feature.melspectrogram(S=power, sr=rate, n_mels=n_mels)`` with a cached filter bank."""
    return _project(_mel_filters(rate, 2 * (power.shape[-2] - 1), n_mels), power)


def _piptrack_peaks(power: np.ndarray, rate: int, n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The spectral peaks that ``librosa.piptrack(S=power, sr=rate)`` finds, for a batch.

    Mirrors ``piptrack`` with its defaults (fmin 150 Hz, fmax 4000 Hz, threshold 0.1,
    ref ``np.max``) bit for bit, float32 rounding included, but evaluates the parabolic
    interpolation and the gradient only at the peaks instead of at every bin of every
    frame; that work is most of ``piptrack``'s cost and the peaks are few.

    Returns:
        ``(window, pitch, mag)``: for each peak, the window it is in (ascending) and
        the ``pitches`` and ``mags`` values ``piptrack`` gives it.
    """
    fft_freqs = librosa.fft_frequencies(sr=rate, n_fft=n_fft)
    in_range = (150.0 <= fft_freqs) & (fft_freqs < min(4000.0, rate / 2))
    in_range[[0, -1]] = False  # outside that range anyway; every peak has two neighbours
    lo, hi = np.flatnonzero(in_range)[[0, -1]]
    kept = power * (power > 0.1 * power.max(axis=-2, keepdims=True))
    centre = kept[:, lo:hi + 1]
    peak = (centre > kept[:, lo - 1:hi]) & (centre >= kept[:, lo + 1:hi + 2])
    window, row, frame = np.nonzero(peak)
    bin_ = row + lo
    x0, below, above = (power[window, bin_ + k, frame] for k in (0, -1, 1))
    # librosa's numba stencil _pi_stencil: float32 sums, then float64 (the literal 2).
    a = (above + below).astype(np.float64) - 2 * x0.astype(np.float64)
    b = (above - below).astype(np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a).astype(power.dtype)
    avg = (above - below) / 2.0  # np.gradient inside the array
    pitch = ((bin_ + shift) * float(rate) / n_fft).astype(power.dtype)
    mag = x0 + 0.5 * avg * shift
    return window, pitch, mag


def _tunings(power: np.ndarray, rate: int, n_chroma: int) -> np.ndarray:
    """``librosa.estimate_tuning(S=p, sr=rate, bins_per_octave=n_chroma)`` for each window ``p``.

    One batched peak search (:func:`_piptrack_peaks`), then estimate_tuning's own
    median threshold and ``librosa.pitch_tuning`` per window.
    """
    n_fft = 2 * (power.shape[-2] - 1)
    window, pitch, mag = _piptrack_peaks(power, rate, n_fft)
    bounds = np.searchsorted(window, np.arange(len(power) + 1))
    tunings = np.zeros(len(power))
    with warnings.catch_warnings():
        # A window with no spectral peak (pure noise, a pause) has no tuning to find;
        # librosa then uses 0.0 and says so once per window.
        warnings.filterwarnings("ignore", message="Trying to estimate tuning")
        for i, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
            p, m = pitch[start:stop], mag[start:stop]
            threshold = np.median(m) if len(m) else 0.0
            tunings[i] = librosa.pitch_tuning(p[m >= threshold], bins_per_octave=n_chroma)
    return tunings


@lru_cache(maxsize=256)
def _chroma_filters(rate: int, n_fft: int, tuning: float, n_chroma: int) -> np.ndarray:
    """``librosa.filters.chroma``, kept per tuning (at most 100 tunings at 0.01 bin)."""
    filters = librosa.filters.chroma(sr=rate, n_fft=n_fft, tuning=tuning, n_chroma=n_chroma)
    filters.flags.writeable = False
    return filters


def _chroma(power: np.ndarray, rate: int, n_chroma: int) -> np.ndarray:
    """Chroma of each window with that window's own tuning, as plain ``chroma_stft`` does.

    Mirrors ``librosa.feature.chroma_stft(S=power)`` (tuning estimate, filter bank,
    einsum, max-normalisation per frame): windows are grouped by their tuning, and each
    group is projected with that tuning's cached filter bank.
    """
    n_fft = 2 * (power.shape[-2] - 1)
    tunings = _tunings(power, rate, n_chroma)
    raw = np.empty((len(power), n_chroma, power.shape[-1]), dtype=power.dtype)
    for tuning in np.unique(tunings):
        group = tunings == tuning
        filters = _chroma_filters(rate, n_fft, float(tuning), n_chroma)
        raw[group] = _project(filters, power[group])
    return librosa.util.normalize(raw, norm=np.inf, axis=-2)


def _centroid(magnitude: np.ndarray, rate: int) -> np.ndarray:
    """``librosa.feature.spectral_centroid(S=magnitude, sr=rate)`` without its float64 copy.

    librosa normalises a float64 copy of the whole spectrogram first (most of its cost
    on a batch); this sums in float64 directly, with ``util.normalize``'s rule that a
    frame whose total is below ``tiny`` is divided by 1.
    """
    freq = librosa.fft_frequencies(sr=rate, n_fft=2 * (magnitude.shape[-2] - 1))
    weighted = np.einsum("f,...ft->...t", freq, magnitude, dtype=np.float64)
    total = magnitude.sum(axis=-2, dtype=np.float64)
    total[total < librosa.util.tiny(magnitude)] = 1.0
    return (weighted / total)[..., np.newaxis, :]


# Windows per STFT: small enough that a chunk's spectrograms stay in the CPU cache
# (librosa's batched STFT puts the window axis innermost, so per-window work on a
# large batch strides over all of it).
_CHUNK = 32


def window_features(windows: np.ndarray, rate: int, *, params: FeatureParams = FeatureParams()) -> np.ndarray:
    """Stacked features of a batch of windows from one shared STFT per chunk of windows.

    Args:
        windows: Array ``(n, samples)``.
        rate: Sample rate of the windows in Hz.
        params: Feature settings.

    Returns:
        Array ``(n, params.rows, frames)`` in float32: log-mel, MFCC, chroma, centroid.
    """
    windows = np.atleast_2d(np.asarray(windows, dtype=np.float32))
    out = np.empty((len(windows), params.rows, params.frames(windows.shape[-1])), dtype=np.float32)
    for start in range(0, len(windows), _CHUNK):
        out[start:start + _CHUNK] = _chunk_features(windows[start:start + _CHUNK], rate, params)
    return out


def _chunk_features(windows: np.ndarray, rate: int, params: FeatureParams) -> np.ndarray:
    """:func:`window_features` of one chunk, from one STFT."""
    magnitude = np.abs(librosa.stft(windows, n_fft=params.n_fft, hop_length=params.hop_length))
    power = magnitude**2
    log_mel = _power_to_db(_melspectrogram(power, rate, params.n_mels), params.top_db)
    mfcc_mel = _power_to_db(_melspectrogram(power, rate, 128), params.top_db)
    mfcc = librosa.feature.mfcc(S=mfcc_mel, n_mfcc=params.n_mfcc)
    chroma = _chroma(power, rate, params.n_chroma)
    centroid = _centroid(magnitude, rate)
    return np.concatenate([log_mel, mfcc, chroma, centroid], axis=-2)


def reference_features(window: np.ndarray, rate: int, *, params: FeatureParams = FeatureParams()) -> np.ndarray:
    """The same features from four separate plain librosa calls on one window.

    The slow, obviously-correct version that :func:`window_features` is tested and
    benchmarked against.
    """
    stft_args = {"n_fft": params.n_fft, "hop_length": params.hop_length}
    log_mel = librosa.power_to_db(
        librosa.feature.melspectrogram(y=window, sr=rate, n_mels=params.n_mels, **stft_args),
        top_db=params.top_db,
    )
    mfcc = librosa.feature.mfcc(y=window, sr=rate, n_mfcc=params.n_mfcc, **stft_args)
    chroma = librosa.feature.chroma_stft(y=window, sr=rate, n_chroma=params.n_chroma, **stft_args)
    centroid = librosa.feature.spectral_centroid(y=window, sr=rate, **stft_args)
    return np.concatenate([log_mel, mfcc, chroma, centroid], axis=0).astype(np.float32)
