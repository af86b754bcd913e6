"""The three corpora as declarative data: names, codes, emotions and the paper's split.

A corpus is a frozen dataclass holding its language, native format, emotion map,
the paper's speaker split and a pure file-name parser. Facts follow
``shared/corpora.md``; nothing here touches the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from mser.errors import SkipFile

#: The six emotions shared by the three corpora, in label order (paper, Figure 1).
EMOTIONS: tuple[str, ...] = ("neutral", "sad", "angry", "happy", "fear", "disgust")

#: Language codes the tools accept, with the corpus that speaks each.
LANGUAGES: tuple[str, ...] = ("it", "de", "en")


@dataclass(frozen=True)
class ParsedName:
    """What a file name says about one utterance.

    Attributes:
        corpus: Corpus name (``emovo``, ``emodb``, ``ravdess``).
        speaker: Corpus-local speaker code, as in the file name (``f1``, ``03``, ``12``).
        gender: ``f`` or ``m``.
        emotion_code: The emotion code as written in the file name.
        emotion: One of :data:`EMOTIONS`, or ``None`` for an emotion outside the six.
        sentence: Sentence or text code.
        intensity: ``normal`` or ``strong`` where the corpus has intensities.
        repetition: Version letter or repetition number where the corpus has them.
    """

    corpus: str
    speaker: str
    gender: str
    emotion_code: str
    emotion: str | None
    sentence: str
    intensity: str | None = None
    repetition: str | None = None

    @property
    def speaker_id(self) -> str:
        """Speaker code unique across corpora, e.g. ``emodb-03``."""
        return f"{self.corpus}-{self.speaker}"


@dataclass(frozen=True)
class Corpus:
    """One corpus: its language, format, codes, the paper's split and a name parser.

    Attributes:
        name: Registry key and prefix of speaker ids.
        title: Name as people write it.
        language: ISO 639-1 code of the language spoken.
        native_rate: Sample rate of the original recordings, in Hz.
        native_channels: Channel count of most original recordings.
        layout: Folder layout of an original copy, for messages.
        emotion_codes: Every emotion code of the corpus and what it means.
        emotion_map: Emotion code to shared emotion, for the six shared emotions only.
        train_speakers: Speakers the paper trains on.
        test_speakers: Speakers the paper holds out for testing.
        excluded_speakers: Speakers the paper leaves out, with the reason.
        parser: Pure function from a file name to its fields; see :meth:`parse`.
    """

    name: str
    title: str
    language: str
    native_rate: int
    native_channels: int
    layout: str
    emotion_codes: Mapping[str, str]
    emotion_map: Mapping[str, str]
    train_speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]
    parser: Callable[[str], "ParsedName | None"] = field(repr=False)
    excluded_speakers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        overlap = set(self.train_speakers) & set(self.test_speakers)
        if overlap:
            raise ValueError(f"{self.title}: speakers {sorted(overlap)} are in both train and test")
        unknown = set(self.emotion_map.values()) - set(EMOTIONS)
        if unknown:
            raise ValueError(f"{self.title}: emotion map targets {sorted(unknown)}, expected {EMOTIONS}")

    def parse(self, filename: str) -> ParsedName | None:
        """Parse a bare file name.

        Returns:
            The parsed fields, or ``None`` when the name is not of this corpus's pattern.

        Raises:
            SkipFile: The name has this corpus's shape but cannot be used (an unknown
                code, a song or video file), with the reason.
        """
        return self.parser(filename)

    @property
    def protocol_speakers(self) -> tuple[str, ...]:
        """Speakers in the paper's protocol, train then test."""
        return self.train_speakers + self.test_speakers

    def split_of(self, speaker: str) -> str | None:
        """``train`` or ``test`` in the paper's split, ``None`` for a speaker outside it."""
        if speaker in self.train_speakers:
            return "train"
        if speaker in self.test_speakers:
            return "test"
        return None

    def exclusion(self, parsed: ParsedName) -> str | None:
        """Why the paper's protocol leaves this utterance out, or ``None`` if it keeps it."""
        if parsed.emotion is None:
            meaning = self.emotion_codes.get(parsed.emotion_code, parsed.emotion_code)
            return f"emotion {meaning} is not one of the six shared emotions"
        if parsed.speaker in self.excluded_speakers:
            return self.excluded_speakers[parsed.speaker]
        if self.split_of(parsed.speaker) is None:
            return f"speaker {parsed.speaker} is not in the paper's split"
        return None


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


def _wav_stem(filename: str) -> str | None:
    """The name without a ``.wav`` extension (any case), or ``None`` for other files."""
    stem, dot, ext = filename.rpartition(".")
    return stem if dot and ext.lower() == "wav" else None


# --- EMOVO -------------------------------------------------------------------------

_EMOVO_EMOTIONS = {
    "dis": "disgust", "gio": "joy", "neu": "neutral", "pau": "fear",
    "rab": "anger", "sor": "surprise", "tri": "sadness",
}
_EMOVO_MAP = {"dis": "disgust", "gio": "happy", "neu": "neutral", "pau": "fear",
              "rab": "angry", "tri": "sad"}
EMOVO_SENTENCES = ("b1", "b2", "b3", "d1", "d2", "l1", "l2", "l3", "l4",
                   "n1", "n2", "n3", "n4", "n5")
EMOVO_ACTORS = ("f1", "f2", "f3", "m1", "m2", "m3")
_EMOVO_RE = re.compile(r"^([a-z]{3})-([a-z]\d)-([a-z]\d)$")


def _parse_emovo(filename: str) -> ParsedName | None:
    stem = _wav_stem(filename)
    match = _EMOVO_RE.match(stem) if stem else None
    if not match:
        return None
    emo, actor, sentence = match.groups()
    if emo not in _EMOVO_EMOTIONS:
        raise SkipFile(f"unknown EMOVO emotion code {emo!r} (expected one of {', '.join(_EMOVO_EMOTIONS)})")
    if actor not in EMOVO_ACTORS:
        raise SkipFile(f"unknown EMOVO actor {actor!r} (expected one of {', '.join(EMOVO_ACTORS)})")
    if sentence not in EMOVO_SENTENCES:
        raise SkipFile(f"unknown EMOVO sentence {sentence!r}")
    return ParsedName("emovo", actor, actor[0], emo, _EMOVO_MAP.get(emo), sentence)


# --- EmoDB -------------------------------------------------------------------------

_EMODB_EMOTIONS = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
    "F": "happiness", "T": "sadness", "N": "neutral",
}
_EMODB_MAP = {"W": "angry", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral"}
EMODB_SPEAKERS = {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m",
                  "12": "m", "13": "f", "14": "f", "15": "m", "16": "f"}
EMODB_TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")
EMODB_VERSIONS = "abcdef"
_EMODB_RE = re.compile(r"^(\d\d)([a-z]\d\d)([A-Za-z])([a-z])$")


def _parse_emodb(filename: str) -> ParsedName | None:
    stem = _wav_stem(filename)
    match = _EMODB_RE.match(stem) if stem else None
    if not match:
        return None
    speaker, text, emo, version = match.groups()
    if speaker not in EMODB_SPEAKERS:
        raise SkipFile(f"unknown EmoDB speaker {speaker!r} (expected one of {', '.join(EMODB_SPEAKERS)})")
    if text not in EMODB_TEXTS:
        raise SkipFile(f"unknown EmoDB text code {text!r}")
    if emo not in _EMODB_EMOTIONS:
        raise SkipFile(f"unknown EmoDB emotion letter {emo!r} (expected one of {''.join(_EMODB_EMOTIONS)})")
    if version not in EMODB_VERSIONS:
        raise SkipFile(f"unknown EmoDB version letter {version!r} (expected a-f)")
    return ParsedName("emodb", speaker, EMODB_SPEAKERS[speaker], emo, _EMODB_MAP.get(emo),
                      text, repetition=version)


# --- RAVDESS -----------------------------------------------------------------------

_RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}
_RAVDESS_MAP = {"01": "neutral", "03": "happy", "04": "sad", "05": "angry",
                "06": "fear", "07": "disgust"}
_RAVDESS_MODALITY = {"01": "audio-video", "02": "video-only", "03": "audio-only"}
_RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}
RAVDESS_ACTORS = tuple(f"{n:02d}" for n in range(1, 25))
_RAVDESS_RE = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def ravdess_fields(stem: str) -> tuple[str, ...] | None:
    """The seven fields of a RAVDESS name stem, or ``None`` if it is not one."""
    match = _RAVDESS_RE.match(stem)
    return match.groups() if match else None


def _parse_ravdess(filename: str) -> ParsedName | None:
    stem = _wav_stem(filename)
    fields = ravdess_fields(stem) if stem else None
    if not fields:
        return None
    modality, channel, emo, intensity, statement, repetition, actor = fields
    if modality != "03":
        kind = _RAVDESS_MODALITY.get(modality, f"unknown modality {modality}")
        raise SkipFile(f"RAVDESS {kind} file, not the audio-only set")
    if channel == "02":
        raise SkipFile("RAVDESS song, not speech")
    if channel != "01":
        raise SkipFile(f"unknown RAVDESS vocal channel {channel!r} (01 speech, 02 song)")
    if emo not in _RAVDESS_EMOTIONS:
        raise SkipFile(f"unknown RAVDESS emotion {emo!r} (expected 01-08)")
    if intensity not in _RAVDESS_INTENSITY:
        raise SkipFile(f"unknown RAVDESS intensity {intensity!r} (expected 01 or 02)")
    if emo == "01" and intensity == "02":
        raise SkipFile("RAVDESS neutral has no strong intensity")
    if statement not in ("01", "02") or repetition not in ("01", "02"):
        raise SkipFile(f"unknown RAVDESS statement or repetition {statement}-{repetition}")
    if actor not in RAVDESS_ACTORS:
        raise SkipFile(f"unknown RAVDESS actor {actor!r} (expected 01-24)")
    gender = "m" if int(actor) % 2 else "f"
    return ParsedName("ravdess", actor, gender, emo, _RAVDESS_MAP.get(emo), statement,
                      intensity=_RAVDESS_INTENSITY[intensity], repetition=repetition)


# --- registry ----------------------------------------------------------------------

EMOVO = Corpus(
    name="emovo", title="EMOVO", language="it", native_rate=48_000, native_channels=2,
    layout="<root>/<actor>/<emo>-<actor>-<sentence>.wav, e.g. f1/dis-f1-b1.wav (or flat)",
    emotion_codes=_frozen(_EMOVO_EMOTIONS), emotion_map=_frozen(_EMOVO_MAP),
    train_speakers=("f1", "f2", "m1", "m2"), test_speakers=("f3", "m3"),
    parser=_parse_emovo,
)
EMODB = Corpus(
    name="emodb", title="EmoDB", language="de", native_rate=16_000, native_channels=1,
    layout="<root>/wav/03a01Fa.wav (or flat)",
    emotion_codes=_frozen(_EMODB_EMOTIONS), emotion_map=_frozen(_EMODB_MAP),
    train_speakers=("09", "13", "14", "16", "10", "11", "12", "15"), test_speakers=("08", "03"),
    parser=_parse_emodb,
)
RAVDESS = Corpus(
    name="ravdess", title="RAVDESS", language="en", native_rate=48_000, native_channels=1,
    layout="<root>/Actor_NN/03-01-05-01-02-01-12.wav",
    emotion_codes=_frozen(_RAVDESS_EMOTIONS), emotion_map=_frozen(_RAVDESS_MAP),
    train_speakers=tuple(f"{n:02d}" for n in range(1, 9)),
    test_speakers=tuple(f"{n:02d}" for n in range(9, 13)),
    excluded_speakers=_frozen({
        a: "RAVDESS actors 13-24 are left out to balance the languages (paper, section 3)"
        for a in RAVDESS_ACTORS[12:]
    }),
    parser=_parse_ravdess,
)

#: Every corpus, by name.
CORPORA: Mapping[str, Corpus] = MappingProxyType({c.name: c for c in (EMOVO, EMODB, RAVDESS)})


def corpus_for_language(language: str) -> Corpus:
    """The corpus speaking ``language`` (``it``, ``de`` or ``en``)."""
    for corpus in CORPORA.values():
        if corpus.language == language:
            return corpus
    raise ValueError(f"unknown language {language!r}: expected one of {', '.join(LANGUAGES)}")


def parse_any(filename: str) -> ParsedName | None:
    """Parse a file name against every corpus; ``None`` if no corpus knows its pattern.

    Raises:
        SkipFile: A corpus knows the pattern but the name cannot be used.
    """
    for corpus in CORPORA.values():
        parsed = corpus.parse(filename)
        if parsed is not None:
            return parsed
    return None


def recognizes_stem(stem: str) -> bool:
    """Whether a name without its extension is shaped like a corpus file (to spot videos)."""
    return bool(_EMOVO_RE.match(stem) or _EMODB_RE.match(stem) or _RAVDESS_RE.match(stem))
