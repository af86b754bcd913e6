"""A synthetic stand-in for EMOVO, EmoDB and RAVDESS, in their exact layouts.

The real corpora cannot be redistributed, so tests, CI and default runs use a demo copy
written by :func:`write_demo_corpus`: the same folders, file names, sample rates,
channel counts and 16-bit PCM as the originals, holding speech-like signals whose
emotion shows in pitch, loudness, rate and voice quality (see :mod:`mser.demo.voice`).

A file depends only on the seed, its name and the scale: its speaker's traits come from
``(seed, speaker)``, its take from ``(seed, corpus, file name)``, and the scale sets its
length (within ``Scale.duration_s``) and, for RAVDESS, whether it is stereo. The same
name at another scale is the same take cut to another length: the samples agree up to
its last syllable.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import signal

from mser.corpora import CORPORA
from mser.demo import voice
from mser.demo.names import DEFAULT_SCALE, SCALES, Scale, demo_names, get_scale

__all__ = ["DEFAULT_SCALE", "GENERATOR_VERSION", "INDEX_LABELS", "MARKER", "SCALES", "DemoSummary", "render_file",
           "write_demo_corpus", "write_index_corpus"]

#: Bumped whenever the synthesis changes, so older demo copies are not taken as current.
GENERATOR_VERSION = 1
#: Name of the marker file a demo root holds, with the seed and scale it was made with.
MARKER = "DEMO.json"
_STRONG_INTENSITY = 1.3
_MAX_THREADS = 4


@dataclass(frozen=True)
class DemoSummary:
    """What :func:`write_demo_corpus` left on disk.

    Attributes:
        root: The demo root, holding ``EMOVO/``, ``EmoDB/`` and ``RAVDESS/``.
        seed: Seed the copy was made with.
        scale: Name of the scale.
        files: Files the copy holds, per corpus name.
        written: Files written by this call (0 when a complete copy was already there).
        seconds: Wall time of the call.
    """

    root: Path
    seed: int
    scale: str
    files: Mapping[str, int]
    written: int
    seconds: float


def write_demo_corpus(out: str | Path, *, seed: int = 0, scale: str | Scale = DEFAULT_SCALE,
                      progress: Callable[[int, int], None] | None = None) -> DemoSummary:
    """Write a demo copy of the three corpora under ``out``; skip it if it is already there.

    An interrupted run is resumed: files already written are kept (each file is written
    under a temporary name and renamed, so none is ever half-written).

    Args:
        out: Demo root; created if missing. Must be empty or hold a demo copy of the
            same seed and scale.
        seed: Non-negative seed; the same seed gives byte-identical files.
        scale: A scale of :data:`SCALES` or its name.
        progress: Called as ``progress(done, total)`` after each file this call writes.

    Raises:
        ValueError: Unknown scale, bad seed, or ``out`` holds something else.
    """
    started = time.perf_counter()
    scale = get_scale(scale)
    _check_seed(seed)
    root = Path(out)
    names = demo_names(scale)
    total = sum(len(paths) for paths in names.values())
    marker = {"generator": "mser.demo", "version": GENERATOR_VERSION, "seed": seed,
              "scale": scale.name, "files": total}
    complete = _prepare_root(root, marker)
    missing = [path for paths in names.values() for path in paths if not (root / path).is_file()]
    if missing or not complete:
        _write_marker(root, {**marker, "complete": False})
        for leftover in root.rglob(".*.wav.tmp"):  # from a run that was killed
            leftover.unlink()
        _write_files(root, missing, seed, scale, progress)
        _write_marker(root, {**marker, "complete": True})
    return DemoSummary(root=root, seed=seed, scale=scale.name,
                       files=MappingProxyType({c: len(p) for c, p in names.items()}),
                       written=len(missing), seconds=time.perf_counter() - started)


def _write_files(root: Path, paths: list[str], seed: int, scale: Scale,
                 progress: Callable[[int, int], None] | None) -> None:
    def write(path: str) -> None:
        _write_wav(root / path, *render_file(path, seed=seed, scale=scale))

    # Most of the work is in numpy and scipy, which release the GIL: threads share it out.
    pool = ThreadPoolExecutor(max_workers=min(_MAX_THREADS, os.cpu_count() or 1))
    try:
        for done, _ in enumerate(pool.map(write, paths), 1):
            if progress is not None:
                progress(done, len(paths))
    finally:
        pool.shutdown(cancel_futures=True)


def render_file(path: str, *, seed: int = 0,
                scale: str | Scale = DEFAULT_SCALE) -> tuple[np.ndarray, int]:
    """The samples of one demo file, as written by :func:`write_demo_corpus`.

    Args:
        path: Path relative to the demo root, as listed by ``demo_names(scale)``.
        seed: Seed of the copy.
        scale: Scale of the copy (it sets the duration range and the stereo files).

    Returns:
        ``(samples, rate)``: int16 samples of shape ``(frames, channels)`` and the rate.
    """
    samples, rate = _render(path, seed, get_scale(scale))
    return np.round(np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16), rate


def _render(path: str, seed: int, scale: Scale) -> tuple[np.ndarray, int]:
    """Float samples of one file at the corpus's fixed gain, before clipping."""
    corpus_name = _corpus_of(path, scale)
    corpus = CORPORA[corpus_name]
    filename = path.rsplit("/", 1)[-1]
    parsed = corpus.parse(filename)
    language = voice.LANGUAGE_PROFILES[corpus.language]
    speaker = _speaker(seed, corpus_name, parsed.speaker, parsed.gender)
    take, layout, noise = np.random.SeedSequence(_entropy(seed, "file", corpus_name, filename)).spawn(3)
    take, layout, noise = (np.random.default_rng(s) for s in (take, layout, noise))
    cues = voice.utterance_cues(speaker, corpus.emotion_codes[parsed.emotion_code], language,
                                intensity=_STRONG_INTENSITY if parsed.intensity == "strong" else 1.0,
                                rng=take)
    duration = voice.utterance_duration(cues, language, *scale.duration_s, take)
    text = voice.make_text(_rng(seed, "text", corpus_name, parsed.sentence), language)
    plan = voice.plan_utterance(text, cues, language, duration, layout)
    channels = 2 if path in _stereo_files(scale) else 1
    n = int(round(duration * voice.SYNTH_RATE))
    samples = voice.synthesize(plan, cues, language, voice.CHANNEL_PROFILES[corpus_name],
                               n=n, channels=channels, rng=noise)
    up = corpus.native_rate // voice.SYNTH_RATE
    if up > 1:
        samples = signal.resample_poly(samples, up, 1, axis=0)
    return samples, corpus.native_rate


@lru_cache(maxsize=256)
def _speaker(seed: int, corpus: str, speaker: str, gender: str) -> voice.SpeakerTraits:
    return voice.speaker_traits(_rng(seed, "speaker", corpus, speaker), gender)


@lru_cache(maxsize=8)
def _stereo_files(scale: Scale) -> frozenset[str]:
    """EMOVO files but its one mono file; a few RAVDESS files spread over the actors."""
    names = demo_names(scale)
    stereo = {path for path in names["emovo"] if not path.endswith("/rab-f1-b1.wav")}
    ravdess = names["ravdess"]
    count = scale.ravdess_stereo
    stereo.update(ravdess[int((k + 0.5) * len(ravdess) / count)] for k in range(count))
    return frozenset(stereo)


@lru_cache(maxsize=8)
def _corpus_index(scale: Scale) -> Mapping[str, str]:
    return {path: corpus for corpus, paths in demo_names(scale).items() for path in paths}


def _corpus_of(path: str, scale: Scale) -> str:
    try:
        return _corpus_index(scale)[path]
    except KeyError:
        raise ValueError(f"{path!r} is not a file of the {scale.name!r} demo copy: "
                         "expected a path listed by mser.demo.names.demo_names(scale)") from None


def _entropy(seed: int, *keys: str) -> list[int]:
    """Seed words from ``seed`` and a stable digest of ``keys`` (never Python's ``hash``)."""
    digest = hashlib.sha256("\x1f".join(keys).encode()).digest()
    return [seed, *np.frombuffer(digest[:16], dtype="<u4").tolist()]


def _rng(seed: int, *keys: str) -> np.random.Generator:
    return np.random.default_rng(_entropy(seed, *keys))


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"demo seed must be a non-negative integer, got {seed!r}")


def _prepare_root(root: Path, marker: dict) -> bool:
    """Create ``root`` or check that it holds a copy of the same seed and scale.

    Returns:
        Whether the copy there is complete (then only missing files need writing).
    """
    if root.exists() and not root.is_dir():
        raise ValueError(f"demo root {root} is a file: give a directory that is empty or missing")
    root.mkdir(parents=True, exist_ok=True)
    marker_path = root / MARKER
    if not marker_path.is_file():
        if any(root.iterdir()):
            raise ValueError(f"demo root {root} is not empty and holds no {MARKER}: "
                             "give an empty or missing directory, or delete this one")
        return False
    try:
        found = json.loads(marker_path.read_text())
    except (OSError, ValueError):
        found = {}
    differs = {k: found.get(k) for k, v in marker.items() if found.get(k) != v}
    if differs:
        expected = ", ".join(f"{k}={marker[k]!r}" for k in differs)
        got = ", ".join(f"{k}={v!r}" for k, v in differs.items())
        raise ValueError(f"demo root {root} holds a demo copy with {got}, not {expected}: "
                         "use another directory or delete this one")
    return bool(found.get("complete"))


def _write_marker(root: Path, marker: dict) -> None:
    _replace_atomically(root / MARKER, lambda tmp: tmp.write_text(json.dumps(marker, indent=2) + "\n"))


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace_atomically(path, lambda tmp: sf.write(tmp, samples, rate, subtype="PCM_16", format="WAV"))


def _replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write through ``write(tmp)`` to a hidden sibling, then rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# --- a corpus of another language, described by a CSV index -------------------------

#: The labels :func:`write_index_corpus` writes, spelled as another corpus might (matched
#: onto the label set by :func:`mser.corpora.canonical_emotion`).
INDEX_LABELS: Mapping[str, str] = MappingProxyType({
    "neutral": "Neutral", "sad": "Sadness", "angry": "ANGER", "happy": "joy", "fear": "fearful",
    "disgust": "Disgust", "surprise": "surprised",
})


def write_index_corpus(out: str | Path, *, name: str = "urdu", language: str = "ur", seed: int = 0,
                       speakers: int = 6, takes: int = 3, emotions: tuple[str, ...] = ("neutral", "sad", "angry",
                                                                                          "happy", "surprise"),
                       split: bool = False, duration_s: tuple[float, float] = (1.6, 2.6)) -> Path:
    """A synthetic corpus in a language of its own, as a user would bring it: flat wav files
    with names of no known pattern, and a CSV index ``<out>/<name>.csv`` (columns file,
    speaker, emotion, language, gender, and with ``split`` a split column, the last third
    of the speakers testing), labels spelled as in :data:`INDEX_LABELS`.

    The speech is the demo's (:mod:`mser.demo.voice`) with a rhythm of its own, 16 kHz mono.
    Deterministic for a seed. Returns the index's path.
    """
    _check_seed(seed)
    root = Path(out)
    profile = replace(voice.LANGUAGE_PROFILES["it"], code=language, syllable_rate=5.4, accent=1.1)
    channel = voice.CHANNEL_PROFILES["emodb"]
    rows = []
    for s in range(speakers):
        gender = "f" if s % 2 == 0 else "m"
        speaker = f"spk{s + 1:02d}"
        traits = voice.speaker_traits(_rng(seed, "index", name, speaker), gender)
        for emotion in emotions:
            for take in range(takes):
                relpath = f"audio/{speaker}_{emotion[:3]}_{take + 1}.wav"
                rng = _rng(seed, "index", name, relpath)
                cues = voice.utterance_cues(traits, emotion, profile, rng=rng)
                duration = voice.utterance_duration(cues, profile, *duration_s, rng)
                text = voice.make_text(_rng(seed, "index-text", name, str(take)), profile)
                plan = voice.plan_utterance(text, cues, profile, duration, rng)
                samples = voice.synthesize(plan, cues, profile, channel, n=int(round(duration * voice.SYNTH_RATE)),
                                           channels=1, rng=rng)
                _write_wav(root / relpath, np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16),
                           voice.SYNTH_RATE)
                row = {"file": relpath, "speaker": speaker, "emotion": INDEX_LABELS.get(emotion, emotion),
                       "language": language, "gender": gender}
                if split:
                    row["split"] = "test" if s >= speakers - max(1, speakers // 3) else "train"
                rows.append(row)
    index = root / f"{name}.csv"
    pd.DataFrame(rows).to_csv(index, index=False)
    return index
