"""The corpora as declarative data: names, codes, emotions, languages and speaker splits.

A corpus is a frozen dataclass holding its language, native format, emotion codes,
its speaker split and, for the three built-in corpora, a pure file-name parser (facts
from ``shared/corpora.md``). A corpus of the user's own, described by a CSV index, is
the same dataclass without a parser (see :mod:`mser.discovery`). Emotion labels of
every corpus are matched by name onto one vocabulary (:func:`canonical_emotion`), and a
run's label set (:func:`parse_emotions`, default the paper's six) picks from it.
Nothing here touches the disk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Sequence

from mser.errors import SkipFile

#: The six emotions shared by the three corpora, in label order (paper, Figure 1): the
#: default label set (``--emotions``).
EMOTIONS: tuple[str, ...] = ("neutral", "sad", "angry", "happy", "fear", "disgust")

#: The names labels are matched onto, each with the spellings corpora use for it
#: (case-insensitive). A label outside these is its own name, lowercased.
EMOTION_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "neutral": ("neutral", "neu", "neutrality"),
    "sad": ("sad", "sadness", "sorrow"),
    "angry": ("angry", "anger", "ang", "mad"),
    "happy": ("happy", "happiness", "joy", "hap", "glad"),
    "fear": ("fear", "fearful", "fea", "afraid", "scared"),
    "disgust": ("disgust", "disgusted", "dis"),
    "surprise": ("surprise", "surprised", "sur"),
    "boredom": ("boredom", "bored"),
    "calm": ("calm",),
})
_SYNONYM = {spelling: name for name, spellings in EMOTION_SYNONYMS.items() for spelling in spellings}
_LABEL_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: Languages of the built-in corpora, in the order tables list them (others follow, sorted).
LANGUAGES: tuple[str, ...] = ("it", "de", "en")
#: What a language code looks like: ISO 639-1 or 639-3, lower case (``ur``, ``fr``, ``yue``).
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}$")
#: Words the commands reserve, never a corpus's language.
RESERVED_LANGUAGES = ("all", "each")


def canonical_emotion(label: str) -> str:
    """The vocabulary name of a corpus's label: ``Anger`` -> ``angry``, ``JOY`` -> ``happy``;
    a label outside :data:`EMOTION_SYNONYMS` is itself, lowercased, spaces and hyphens as ``_``."""
    spelling = re.sub(r"[\s-]+", "_", str(label).strip().lower())
    return _SYNONYM.get(spelling, spelling)


def parse_emotions(text: str | Sequence[str]) -> tuple[str, ...]:
    """A label set from ``neutral,angry,happy,sad`` (or a list): vocabulary names, in the order given.

    Raises:
        ValueError: Fewer than two labels, a label given twice, or one that is not a name.
    """
    items = [t for t in re.split(r"[,\s]+", text.strip())] if isinstance(text, str) else list(text)
    names = [canonical_emotion(item) for item in items if str(item).strip()]
    bad = [n for n in names if not _LABEL_RE.match(n)]
    if bad:
        raise ValueError(f"emotion {bad[0]!r} is not a name: use letters, e.g. neutral,angry,happy,sad")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"emotion {twice[0]} is given twice (synonyms count as one: "
                         f"{', '.join(EMOTION_SYNONYMS.get(twice[0], (twice[0],)))})")
    if len(names) < 2:
        raise ValueError(f"a label set needs at least two emotions, got {', '.join(names) or 'none'}")
    return tuple(names)


def outside_label_set(label: str, emotions: Sequence[str]) -> str:
    """Why an utterance labelled ``label`` is left out under the label set ``emotions``."""
    return (f"emotion {label} is not one of the six shared emotions" if tuple(emotions) == EMOTIONS
            else f"emotion {label} is not in the label set ({', '.join(emotions)})")


def check_language(code: str) -> str:
    """``code`` if it can name a corpus's language.

    Raises:
        ValueError: It is not a lower-case ISO 639 code, or a word the commands reserve.
    """
    if not LANGUAGE_RE.match(code) or code in RESERVED_LANGUAGES:
        raise ValueError(f"language {code!r} is not a language code: use a lower-case ISO 639 code "
                         "such as it, de, en, ur, fr")
    return code


def language_order(codes: Iterable[str]) -> tuple[str, ...]:
    """Each of ``codes`` once: the built-in corpora's languages first (it, de, en), then the others sorted."""
    unique = set(codes)
    return tuple(sorted(unique, key=lambda c: (LANGUAGES.index(c) if c in LANGUAGES else len(LANGUAGES), c)))


#: Every language of the data jointly.
JOINT = "all"
#: ``all-but-it``: train and validate on the other languages, test on the held-out one.
HELD_OUT_PREFIX = "all-but-"


def held_out_language(language: str) -> str | None:
    """``it`` for ``all-but-it``; None for a language that holds nothing out."""
    return language[len(HELD_OUT_PREFIX):] if language.startswith(HELD_OUT_PREFIX) else None


def trained_languages(language: str, available: Iterable[str]) -> tuple[str, ...]:
    """The languages a study of ``language`` trains and validates on, out of the data's
    ``available`` ones: the language itself, every one for ``all``, the others for ``all-but-it``."""
    held = held_out_language(language)
    if held:
        return tuple(code for code in language_order(available) if code != held)
    return language_order(available) if language == JOINT else (language,)


def tested_languages(language: str, available: Iterable[str]) -> tuple[str, ...]:
    """The languages of a study's test speakers: the held-out one for ``all-but-it``, else
    those it trains on."""
    held = held_out_language(language)
    return (held,) if held else trained_languages(language, available)


def check_study_language(language: str) -> str:
    """``language`` if it names a study: a language code (``it``, ``ur``...), ``all``, or ``all-but-<code>``.

    Raises:
        ValueError: It names none.
    """
    if language == JOINT:
        return language
    try:
        check_language(held_out_language(language) or language)
    except ValueError:
        raise ValueError(f"unknown language {language!r}: expected a language code (it, de, en, or your "
                         f"corpus's, e.g. ur), {JOINT}, or {HELD_OUT_PREFIX}<code>") from None
    return language


def is_study_language(language: str) -> bool:
    """Whether ``language`` names a study (see :func:`check_study_language`)."""
    try:
        check_study_language(language)
    except ValueError:
        return False
    return True


def is_one_language(language: str) -> bool:
    """Whether a study's ``language`` is a single language (``it``, ``ur``), not ``all`` or ``all-but-*``."""
    return language != JOINT and held_out_language(language) is None and bool(LANGUAGE_RE.match(language))


def study_languages(languages: Sequence[str], *, held_out: bool = False) -> tuple[str, ...]:
    """The studies over data in ``languages``: each alone, then jointly, then (with
    ``held_out``, and more than one language) each held out of the joint study, in table order."""
    languages = language_order(languages)
    held = held_out and len(languages) > 1
    return (*languages, JOINT, *((f"{HELD_OUT_PREFIX}{lang}" for lang in languages) if held else ()))


def study_order(language: str) -> tuple[int, int, str]:
    """Sort key of study languages: each language (it, de, en first), the joint study, held-out studies."""
    held = held_out_language(language)
    code = held or language
    rank = LANGUAGES.index(code) if code in LANGUAGES else len(LANGUAGES)
    return (2 if held else 1 if language == JOINT else 0, rank, code)


@dataclass(frozen=True)
class ParsedName:
    """What a file name says about one utterance.

    Attributes:
        corpus: Corpus name (``emovo``, ``emodb``, ``ravdess``).
        speaker: Corpus-local speaker code, as in the file name (``f1``, ``03``, ``12``).
        gender: ``f`` or ``m``.
        emotion_code: The emotion code as written in the file name.
        emotion: The emotion's vocabulary name (:func:`canonical_emotion`), e.g. ``surprise``.
        sentence: Sentence or text code.
        intensity: ``normal`` or ``strong`` where the corpus has intensities.
        repetition: Version letter or repetition number where the corpus has them.
    """

    corpus: str
    speaker: str
    gender: str
    emotion_code: str
    emotion: str
    sentence: str
    intensity: str | None = None
    repetition: str | None = None

    @property
    def speaker_id(self) -> str:
        """Speaker code unique across corpora, e.g. ``emodb-03``."""
        return f"{self.corpus}-{self.speaker}"


@dataclass(frozen=True)
class Corpus:
    """One corpus: its language, format, codes, its speaker split and a name parser.

    Attributes:
        name: Registry key and prefix of speaker ids.
        title: Name as people write it.
        language: ISO 639-1 code of the language spoken.
        native_rate: Sample rate of the original recordings, in Hz (0: unknown, a CSV corpus).
        native_channels: Channel count of most original recordings (0: unknown).
        layout: Folder layout of an original copy (or the CSV index), for messages.
        emotion_codes: Every emotion code of the corpus and what it means.
        train_speakers: Speakers trained on (the paper's, the CSV's ``split`` column, or drawn).
        test_speakers: Speakers held out for testing.
        excluded_speakers: Speakers the protocol leaves out, with the reason.
        parser: Pure function from a file name to its fields (see :meth:`parse`); ``None``
            for a corpus described by a CSV index.
    """

    name: str
    title: str
    language: str
    native_rate: int
    native_channels: int
    layout: str
    emotion_codes: Mapping[str, str]
    train_speakers: tuple[str, ...]
    test_speakers: tuple[str, ...]
    parser: Callable[[str], "ParsedName | None"] | None = field(repr=False)
    excluded_speakers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        overlap = set(self.train_speakers) & set(self.test_speakers)
        if overlap:
            raise ValueError(f"{self.title}: speakers {sorted(overlap)} are in both train and test")
        check_language(self.language)

    def emotion_of(self, code: str) -> str:
        """The vocabulary name of one of this corpus's emotion codes (``gio`` -> ``happy``)."""
        return canonical_emotion(self.emotion_codes.get(code, code))

    def parse(self, filename: str) -> ParsedName | None:
        """Parse a bare file name.

        Returns:
            The parsed fields, or ``None`` when the name is not of this corpus's pattern.

        Raises:
            SkipFile: The name has this corpus's shape but cannot be used (an unknown
                code, a song or video file), with the reason.
        """
        return self.parser(filename) if self.parser else None

    @property
    def protocol_speakers(self) -> tuple[str, ...]:
        """Speakers in the protocol, train then test."""
        return self.train_speakers + self.test_speakers

    def split_of(self, speaker: str) -> str | None:
        """``train`` or ``test`` in the corpus's split, ``None`` for a speaker outside it."""
        if speaker in self.train_speakers:
            return "train"
        if speaker in self.test_speakers:
            return "test"
        return None

    def exclusion(self, parsed: ParsedName, emotions: Sequence[str] = EMOTIONS) -> str | None:
        """Why the protocol leaves this utterance out under the label set ``emotions``, or ``None``."""
        if parsed.emotion not in emotions:
            return outside_label_set(self.emotion_codes.get(parsed.emotion_code, parsed.emotion_code), emotions)
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
    return ParsedName("emovo", actor, actor[0], emo, canonical_emotion(_EMOVO_EMOTIONS[emo]), sentence)


# --- EmoDB -------------------------------------------------------------------------

_EMODB_EMOTIONS = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
    "F": "happiness", "T": "sadness", "N": "neutral",
}
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
    return ParsedName("emodb", speaker, EMODB_SPEAKERS[speaker], emo, canonical_emotion(_EMODB_EMOTIONS[emo]),
                      text, repetition=version)


# --- RAVDESS -----------------------------------------------------------------------

_RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}
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
    return ParsedName("ravdess", actor, gender, emo, canonical_emotion(_RAVDESS_EMOTIONS[emo]), statement,
                      intensity=_RAVDESS_INTENSITY[intensity], repetition=repetition)


# --- registry ----------------------------------------------------------------------

EMOVO = Corpus(
    name="emovo", title="EMOVO", language="it", native_rate=48_000, native_channels=2,
    layout="<root>/<actor>/<emo>-<actor>-<sentence>.wav, e.g. f1/dis-f1-b1.wav (or flat)",
    emotion_codes=_frozen(_EMOVO_EMOTIONS),
    train_speakers=("f1", "f2", "m1", "m2"), test_speakers=("f3", "m3"),
    parser=_parse_emovo,
)
EMODB = Corpus(
    name="emodb", title="EmoDB", language="de", native_rate=16_000, native_channels=1,
    layout="<root>/wav/03a01Fa.wav (or flat)",
    emotion_codes=_frozen(_EMODB_EMOTIONS),
    train_speakers=("09", "13", "14", "16", "10", "11", "12", "15"), test_speakers=("08", "03"),
    parser=_parse_emodb,
)
RAVDESS = Corpus(
    name="ravdess", title="RAVDESS", language="en", native_rate=48_000, native_channels=1,
    layout="<root>/Actor_NN/03-01-05-01-02-01-12.wav",
    emotion_codes=_frozen(_RAVDESS_EMOTIONS),
    train_speakers=tuple(f"{n:02d}" for n in range(1, 9)),
    test_speakers=tuple(f"{n:02d}" for n in range(9, 13)),
    excluded_speakers=_frozen({
        a: "RAVDESS actors 13-24 are left out to balance the languages (paper, section 3)"
        for a in RAVDESS_ACTORS[12:]
    }),
    parser=_parse_ravdess,
)

#: The built-in corpora, by name.
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
