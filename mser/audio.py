"""From a wav file to 1-s windows at 8 kHz: read, check, mix to mono, resample, cut.

Copies of the corpora come at any rate, channel count and sample format, so the
rate, channels and depth are read from each file and nothing assumes the native
format. Signal functions are pure; :func:`read_wav` and :func:`load_windows` are the
only ones that touch the disk, and they turn every unusable file into a
:class:`~mser.errors.SkipFile` naming the reason.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf

from mser.errors import SkipFile

#: Sample rate of every model input, in Hz (paper, section 4.1).
TARGET_RATE = 8_000
#: Samples in one window: one second at :data:`TARGET_RATE`.
WINDOW = 8_000
#: A file whose peak is below this level (dB full scale) is taken as silent.
SILENCE_DBFS = -60.0
#: Training windows kept per file at most (``mser.train.TrainConfig.max_windows_per_utterance``).
MAX_UTTERANCE_WINDOWS = 10
#: A file is very long when it lasts over this many times its corpus's median and over
#: :data:`LONG_SECONDS` (see :func:`mser.dataset.long_utterances`).
LONG_FACTOR = 5.0
LONG_SECONDS = 10.0
# scipy.signal.decimate asks for factors of at most 13 per call.
_MAX_DECIMATE = 13


@dataclass(frozen=True)
class AudioInfo:
    """The format of one file as read from its header."""

    rate: int
    channels: int
    subtype: str
    frames: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.rate


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average the channels of a ``(frames, channels)`` array; 1-D input is returned as is."""
    samples = np.asarray(samples, dtype=np.float64)
    return samples.mean(axis=1) if samples.ndim == 2 else samples


def _decimation_steps(factor: int) -> list[int] | None:
    """Split an integer factor into steps of at most 13, or ``None`` if it has a larger prime."""
    steps, rest = [], factor
    while rest > 1:
        step = max(d for d in range(1, _MAX_DECIMATE + 1) if rest % d == 0)
        if step == 1:
            return None
        steps.append(step)
        rest //= step
    return steps


def resample(samples: np.ndarray, rate: int, *, target_rate: int = TARGET_RATE) -> np.ndarray:
    """Resample a mono signal with an anti-aliasing filter.

    An integer ratio goes through ``scipy.signal.decimate`` (the paper's choice; in
    steps of at most 13), any other ratio through the polyphase
    ``scipy.signal.resample_poly``.
    """
    if rate <= 0 or target_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {rate} -> {target_rate}")
    samples = np.asarray(samples, dtype=np.float64)
    if rate == target_rate:
        return samples.copy()
    from scipy import signal as sps  # a second to import: not for commands that read no audio
    steps = _decimation_steps(rate // target_rate) if rate % target_rate == 0 else None
    if steps:
        for step in steps:
            samples = sps.decimate(samples, step, zero_phase=True)
        return samples
    common = gcd(rate, target_rate)
    return sps.resample_poly(samples, target_rate // common, rate // common)


def frame_windows(samples: np.ndarray, *, length: int = WINDOW) -> np.ndarray:
    """Cut into non-overlapping windows of ``length`` samples, dropping the short remainder.

    Returns:
        Array ``(n_windows, length)``; ``n_windows`` is 0 for a signal shorter than one window.
    """
    samples = np.asarray(samples)
    count = len(samples) // length
    return samples[: count * length].reshape(count, length)


def peak_dbfs(samples: np.ndarray) -> float:
    """Peak level in dB relative to full scale (``-inf`` for digital silence)."""
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def _check_riff_length(path: Path) -> None:
    """Refuse a RIFF/WAVE file whose data chunk promises more bytes than the file holds.

    libsndfile reads such a file silently as a shorter one, so the header is walked
    here (12-byte RIFF header, then ``id, size`` chunks) to tell a truncated copy.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not plain RIFF (RF64, AIFF, ...): libsndfile judges it
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                available = size - offset - 8
                if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                    raise SkipFile(
                        f"truncated: the header promises {chunk_size} bytes of audio, the file holds "
                        f"{available}; copy the file again from the original"
                    )
                return
            offset += 8 + chunk_size + (chunk_size & 1)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, AudioInfo]:
    """Read a wav file of any rate, channel count and sample format.

    Returns:
        Samples as ``(frames, channels)`` float64 in [-1, 1], and the file's format.

    Raises:
        SkipFile: The file is empty, truncated, unreadable or holds no audio frames.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise SkipFile("empty file (0 bytes)")
    _check_riff_length(path)
    try:
        with sf.SoundFile(path) as handle:
            info = AudioInfo(handle.samplerate, handle.channels, handle.subtype, handle.frames)
            samples = handle.read(dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise SkipFile(f"unreadable as audio ({error}); check that it is a wav file") from None
    check_samples(samples)
    return samples, info


def check_samples(samples: np.ndarray) -> None:
    """Refuse decoded audio no model can read: no frames, or samples that are not finite.

    Every reader (files, the bytes a served model receives) calls this once, where the audio
    is decoded, so a bad file is skipped with its reason instead of failing deep in a
    feature extractor.

    Raises:
        SkipFile: No frames, or NaN or infinite samples.
    """
    if len(samples) == 0:
        raise SkipFile("holds no audio frames")
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise SkipFile(f"{bad} of its {finite.size} samples are not finite (NaN or Inf): the file is damaged; "
                       "export it again from the original")


def load_windows(
    path: str | os.PathLike,
    *,
    target_rate: int = TARGET_RATE,
    window: int = WINDOW,
    silence_dbfs: float = SILENCE_DBFS,
) -> tuple[np.ndarray, AudioInfo]:
    """Read a file and turn it into model windows: mono, ``target_rate``, ``window`` samples.

    Returns:
        Windows ``(n, window)`` as float32 (at least one), and the file's format.

    Raises:
        SkipFile: The file is unusable (see :func:`read_wav`), silent, or shorter than one window.
    """
    samples, info = read_wav(path)
    return signal_windows(samples, info.rate, target_rate=target_rate, window=window,
                          silence_dbfs=silence_dbfs), info


def signal_windows(
    samples: np.ndarray,
    rate: int,
    *,
    target_rate: int = TARGET_RATE,
    window: int = WINDOW,
    silence_dbfs: float = SILENCE_DBFS,
) -> np.ndarray:
    """Model windows of a signal ``(frames,)`` or ``(frames, channels)`` at ``rate``.

    Raises:
        SkipFile: The signal is silent or shorter than one window.
    """
    mono = to_mono(samples)
    level = peak_dbfs(mono)
    if level < silence_dbfs:
        raise SkipFile(f"silent: peak level {level:.0f} dBFS is below {silence_dbfs:.0f} dBFS")
    # The resampler's output length is ceil(frames * target / rate), at every step: checked
    # before resampling, which cannot filter a signal of a few samples.
    if -(-len(mono) * target_rate // rate) < window:
        raise SkipFile(f"too short: {len(mono) / rate:.2f} s, one window needs {window / target_rate:.2f} s")
    return frame_windows(resample(mono, rate, target_rate=target_rate), length=window).astype(np.float32)
