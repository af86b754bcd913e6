"""The paper's hand-crafted features: log-mel, MFCC, chroma and spectral centroid.

Per 1-s window at 8 kHz: log-mel (16) + MFCC (12) + chroma (12) + centroid (1) = 41
rows by 16 frames (paper, section 4.2). :func:`window_features` computes one STFT
for a whole batch of windows and derives the four features from it; the values
equal those of the four plain librosa calls in :func:`reference_features`, which
compute the STFT four times, window by window.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

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


def _chroma(power: np.ndarray, rate: int, n_chroma: int) -> np.ndarray:
    """Chroma of each window with that window's own tuning, as plain ``chroma_stft`` does.

    ``chroma_stft`` estimates one tuning from all it is given, so windows are grouped
    by their estimated tuning (quantised to 0.01 bin) and each group makes one call,
    which builds the chroma filter bank once per group instead of once per window.
    """
    with warnings.catch_warnings():
        # A window with no spectral peak (pure noise, a pause) has no tuning to find;
        # librosa then uses 0.0 and says so once per window.
        warnings.filterwarnings("ignore", message="Trying to estimate tuning")
        tunings = np.array([librosa.estimate_tuning(S=p, sr=rate, bins_per_octave=n_chroma)
                            for p in power])
    chroma = np.empty((len(power), n_chroma, power.shape[-1]), dtype=power.dtype)
    for tuning in np.unique(tunings):
        group = tunings == tuning
        chroma[group] = librosa.feature.chroma_stft(S=power[group], sr=rate, tuning=tuning,
                                                    n_chroma=n_chroma)
    return chroma


def window_features(windows: np.ndarray, rate: int, *, params: FeatureParams = FeatureParams()) -> np.ndarray:
    """Stacked features of a batch of windows from one shared STFT.

    Args:
        windows: Array ``(n, samples)``.
        rate: Sample rate of the windows in Hz.
        params: Feature settings.

    Returns:
        Array ``(n, params.rows, frames)`` in float32: log-mel, MFCC, chroma, centroid.
    """
    windows = np.atleast_2d(np.asarray(windows, dtype=np.float32))
    magnitude = np.abs(librosa.stft(windows, n_fft=params.n_fft, hop_length=params.hop_length))
    power = magnitude**2
    log_mel = _power_to_db(librosa.feature.melspectrogram(S=power, sr=rate, n_mels=params.n_mels),
                           params.top_db)
    mfcc_mel = _power_to_db(librosa.feature.melspectrogram(S=power, sr=rate), params.top_db)
    mfcc = librosa.feature.mfcc(S=mfcc_mel, n_mfcc=params.n_mfcc)
    chroma = _chroma(power, rate, params.n_chroma)
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=rate)
    return np.concatenate([log_mel, mfcc, chroma, centroid], axis=-2).astype(np.float32)


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
