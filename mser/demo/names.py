"""Which files a demo corpus holds: full-size name lists and smaller scales of them.

The full lists have the counts of complete original copies (EMOVO 588, EmoDB 535,
RAVDESS speech 1440); a scale keeps every speaker and emotion of the protocol and
fewer sentences, so the paper's split stays intact at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from mser.corpora import (
    EMODB_TEXTS,
    EMODB_VERSIONS,
    EMOVO_ACTORS,
    EMOVO_SENTENCES,
    RAVDESS_ACTORS,
)

# EmoDB utterances per speaker and emotion letter. The margins are those of the real
# corpus (535 files; W 127, L 81, N 79, F 71, A 69, T 62, E 46; speakers 03..16 with
# 49, 58, 43, 38, 55, 35, 61, 69, 56, 71 files) and the test speakers 03 and 08 hold
# 92 utterances of the six shared emotions, as in the paper's 1050/436 split.
EMODB_COUNTS: Mapping[str, Mapping[str, int]] = MappingProxyType({
    "03": {"W": 12, "L": 5, "N": 8, "F": 7, "A": 7, "T": 6, "E": 4},
    "08": {"W": 13, "L": 10, "N": 8, "F": 8, "A": 7, "T": 7, "E": 5},
    "09": {"W": 10, "L": 7, "N": 6, "F": 6, "A": 5, "T": 5, "E": 4},
    "10": {"W": 9, "L": 6, "N": 6, "F": 5, "A": 5, "T": 4, "E": 3},
    "11": {"W": 14, "L": 8, "N": 8, "F": 7, "A": 7, "T": 6, "E": 5},
    "12": {"W": 8, "L": 5, "N": 5, "F": 5, "A": 5, "T": 4, "E": 3},
    "13": {"W": 15, "L": 9, "N": 9, "F": 8, "A": 8, "T": 7, "E": 5},
    "14": {"W": 16, "L": 11, "N": 10, "F": 9, "A": 9, "T": 8, "E": 6},
    "15": {"W": 13, "L": 9, "N": 8, "F": 7, "A": 7, "T": 7, "E": 5},
    "16": {"W": 17, "L": 11, "N": 11, "F": 9, "A": 9, "T": 8, "E": 6},
})
EMOVO_EMOTION_CODES = ("dis", "gio", "neu", "pau", "rab", "sor", "tri")
RAVDESS_EMOTION_CODES = ("01", "02", "03", "04", "05", "06", "07", "08")


@dataclass(frozen=True)
class Scale:
    """How much of each corpus a demo copy holds, and how long its utterances are.

    Attributes:
        name: Preset name.
        emovo_sentences: EMOVO sentences per actor and emotion (``None``: all 14).
        emodb_per_cell: EmoDB files per speaker and emotion at most (``None``: all).
        ravdess_actors: RAVDESS actors written (the protocol uses 01-12).
        ravdess_takes: RAVDESS (statement, repetition) pairs per actor, emotion, intensity.
        ravdess_intensities: RAVDESS intensity codes written.
        duration_s: Utterance duration range in seconds, ``(low, high)``.
        ravdess_stereo: How many RAVDESS files are stereo, as in some real copies.
    """

    name: str
    emovo_sentences: int | None
    emodb_per_cell: int | None
    ravdess_actors: tuple[str, ...]
    ravdess_takes: tuple[tuple[str, str], ...]
    ravdess_intensities: tuple[str, ...]
    duration_s: tuple[float, float]
    ravdess_stereo: int


_ALL_TAKES = (("01", "01"), ("01", "02"), ("02", "01"), ("02", "02"))
SCALES: Mapping[str, Scale] = MappingProxyType({
    "tiny": Scale("tiny", 1, 1, RAVDESS_ACTORS[:13], (("01", "01"),), ("01",), (1.1, 2.4), 1),
    "small": Scale("small", 2, 2, RAVDESS_ACTORS[:14], (("01", "01"),), ("01", "02"), (1.2, 3.2), 2),
    "full": Scale("full", None, None, RAVDESS_ACTORS, _ALL_TAKES, ("01", "02"), (1.5, 5.3), 5),
})
DEFAULT_SCALE = "small"


def emovo_names(scale: Scale) -> list[str]:
    """EMOVO paths relative to its root, ``<actor>/<emo>-<actor>-<sentence>.wav``."""
    names = []
    for a, actor in enumerate(EMOVO_ACTORS):
        for e, emo in enumerate(EMOVO_EMOTION_CODES):
            count = scale.emovo_sentences or len(EMOVO_SENTENCES)
            # Rotate the start so a small copy still spreads over every sentence.
            start = (a * len(EMOVO_EMOTION_CODES) + e) * count if scale.emovo_sentences else 0
            for k in range(count):
                sentence = EMOVO_SENTENCES[(start + k) % len(EMOVO_SENTENCES)]
                names.append(f"{actor}/{emo}-{actor}-{sentence}.wav")
    return names


def emodb_names(scale: Scale) -> list[str]:
    """EmoDB paths relative to its root, ``wav/<speaker><text><emotion><version>.wav``."""
    names = []
    for speaker, cells in EMODB_COUNTS.items():
        for s, (emo, count) in enumerate(cells.items()):
            if scale.emodb_per_cell is not None:
                count = min(count, scale.emodb_per_cell)
            for k in range(count):
                text = EMODB_TEXTS[(k + s) % len(EMODB_TEXTS)]
                version = EMODB_VERSIONS[k // len(EMODB_TEXTS)]
                names.append(f"wav/{speaker}{text}{emo}{version}.wav")
    return names


def ravdess_names(scale: Scale) -> list[str]:
    """RAVDESS speech paths relative to its root, ``Actor_NN/03-01-EE-II-SS-RR-NN.wav``."""
    names = []
    for actor in scale.ravdess_actors:
        for emo in RAVDESS_EMOTION_CODES:
            intensities = ("01",) if emo == "01" else scale.ravdess_intensities
            for intensity in intensities:
                for statement, repetition in scale.ravdess_takes:
                    stem = f"03-01-{emo}-{intensity}-{statement}-{repetition}-{actor}"
                    names.append(f"Actor_{actor}/{stem}.wav")
    return names


#: Folder of each corpus inside a demo root, and the function listing its files.
LAYOUT = MappingProxyType({
    "emovo": ("EMOVO", emovo_names),
    "emodb": ("EmoDB", emodb_names),
    "ravdess": ("RAVDESS", ravdess_names),
})


def demo_names(scale: Scale | str = DEFAULT_SCALE) -> dict[str, list[str]]:
    """Every file of a demo copy, by corpus, as paths relative to the demo root."""
    scale = get_scale(scale)
    return {corpus: [f"{folder}/{name}" for name in names(scale)]
            for corpus, (folder, names) in LAYOUT.items()}


def get_scale(scale: Scale | str) -> Scale:
    """A :class:`Scale` from itself or its preset name."""
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown demo scale {scale!r}: expected one of {', '.join(SCALES)}") from None
