"""Helpers to write small corpora and broken files, for this project's tests and users' own.

Signals here are simple tones and noise: enough to exercise reading, resampling,
windowing and the bad-input paths. For realistic speech use :mod:`mser.demo`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import soundfile as sf


def tone(seconds: float, rate: int, *, freq: float = 220.0, amplitude: float = 0.3,
         channels: int = 1, seed: int = 0) -> np.ndarray:
    """A harmonic tone with a little noise, ``(frames,)`` or ``(frames, channels)``."""
    t = np.arange(int(round(seconds * rate))) / rate
    rng = np.random.default_rng(seed)
    mono = amplitude * (np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t))
    mono += 0.01 * rng.standard_normal(len(t))
    mono = np.clip(mono, -1, 1)
    return mono if channels == 1 else np.repeat(mono[:, None], channels, axis=1)


def write_wav(path: str | Path, samples: np.ndarray, rate: int, *, subtype: str = "PCM_16") -> Path:
    """Write ``samples`` as a wav file, creating folders as needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, rate, subtype=subtype)
    return path


def write_tone_files(root: str | Path, relpaths: Iterable[str], *, rate: int, seconds: float = 2.2,
                     channels: int = 1, subtype: str = "PCM_16") -> list[Path]:
    """One tone file per relative path under ``root`` (pitch varying by file)."""
    return [
        write_wav(Path(root) / rel, tone(seconds, rate, freq=150 + 10 * (i % 20), channels=channels, seed=i),
                  rate, subtype=subtype)
        for i, rel in enumerate(relpaths)
    ]


def write_truncated(path: str | Path, *, rate: int = 16_000, seconds: float = 2.0) -> Path:
    """A wav whose header promises ``seconds`` of audio but whose data stops halfway."""
    path = write_wav(path, tone(seconds, rate), rate)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_empty(path: str | Path) -> Path:
    """A zero-byte ``.wav`` file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def write_garbage(path: str | Path) -> Path:
    """A ``.wav`` file that is not audio."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a wav file\n" * 40)
    return path


def write_header_only(path: str | Path, *, rate: int = 16_000) -> Path:
    """A valid wav header with no audio frames."""
    return write_wav(path, np.zeros(0), rate)


def write_silent(path: str | Path, *, rate: int = 16_000, seconds: float = 2.0) -> Path:
    """A wav of digital silence."""
    return write_wav(path, np.zeros(int(rate * seconds)), rate)


def write_long(path: str | Path, *, rate: int = 16_000, seconds: float = 30.0) -> Path:
    """A wav far longer than an acted utterance (a whole session in one file, say)."""
    return write_wav(path, tone(seconds, rate), rate)


def write_short(path: str | Path, *, rate: int = 16_000, seconds: float = 0.6) -> Path:
    """A wav shorter than one 1-s window."""
    return write_wav(path, tone(seconds, rate), rate)


def write_non_finite(path: str | Path, *, rate: int = 16_000, seconds: float = 2.0, value: float = np.inf) -> Path:
    """A float wav whose samples hold ``value`` (Inf or NaN) among a tone: a damaged export."""
    samples = tone(seconds, rate)
    samples[len(samples) // 2] = value
    return write_wav(path, samples, rate, subtype="FLOAT")


def write_one_sample(path: str | Path, *, rate: int = 16_000) -> Path:
    """A wav of a single sample: too short for any resampler's filter."""
    return write_wav(path, np.array([0.5]), rate)
