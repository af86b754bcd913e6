"""Find the corpora: the built-in ones under a data root by their file names, and any
other corpus from a CSV index.

Each wav file under a data root is recognised by its name alone, so nested and flat
copies both load. Names that no corpus knows, RAVDESS song and video files, and
utterances the protocol leaves out (an emotion outside the label set, RAVDESS actors
13-24) are reported, not loaded. A root that holds nothing usable, or two copies of one
corpus, is refused with a message saying what to do.

A corpus index (:func:`discover_index`) is a CSV table with one row per file and the
columns ``file``, ``speaker``, ``emotion``, ``language`` and optionally ``gender`` and
``split``; each of its languages becomes one :class:`~mser.corpora.Corpus`. Without a
``split`` column the test speakers are drawn (:func:`draw_test_speakers`).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from mser.cache import digest_json
from mser.corpora import (
    CORPORA,
    EMOTIONS,
    Corpus,
    ParsedName,
    canonical_emotion,
    check_language,
    language_order,
    outside_label_set,
    recognizes_stem,
)
from mser.errors import DataError, SkipFile

_IGNORED_DIRS = {"__MACOSX"}
_EXAMPLES = "EMOVO f1/dis-f1-b1.wav, EmoDB wav/03a01Fa.wav, RAVDESS Actor_12/03-01-05-01-02-01-12.wav"


@dataclass(frozen=True)
class Utterance:
    """One recognised file: where it is and what its name says."""

    path: Path
    relpath: str
    parsed: ParsedName
    name: str = ""

    @property
    def utterance_id(self) -> str:
        """Id unique across corpora: ``<corpus>/<file stem>`` (for a CSV corpus, ``<corpus>/<file
        as the index names it, without its extension>``)."""
        return f"{self.parsed.corpus}/{self.name or Path(self.relpath).stem}"


@dataclass(frozen=True)
class Skipped:
    """A file left out, and why (one line for the user)."""

    relpath: str
    reason: str
    corpus: str = ""


@dataclass
class Discovery:
    """What a data root holds.

    Attributes:
        root: The data root (or, with corpus indexes only, the first index's folder).
        utterances: Files the protocol uses, sorted by path.
        excluded: Recognised files the protocol leaves out (an emotion outside the label
            set, RAVDESS actors 13-24), with the reason.
        skipped: Files that cannot be used (unknown names, song and video files, bad rows
            of an index).
        folders: Per corpus found, the folder that holds all of its files.
        corpora: Per corpus found, its description (language, split), in table order.
        indexes: Per corpus index read, the digest of its contents (for the cache key).
        drawn: Names of the corpora whose test speakers were drawn (no ``split`` column).
    """

    root: Path
    utterances: list[Utterance] = field(default_factory=list)
    excluded: list[tuple[Utterance, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)
    corpora: dict[str, Corpus] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    drawn: list[str] = field(default_factory=list)

    def merge(self, other: "Discovery") -> "Discovery":
        """This discovery and ``other`` together (a data root and corpus indexes).

        Raises:
            DataError: Both hold a corpus of the same name.
        """
        clash = sorted(set(self.corpora) & set(other.corpora))
        if clash:
            raise DataError(f"two corpora are named {clash[0]}: rename one of the CSV files "
                            "(a corpus index is named after its file)")
        return Discovery(self.root, self.utterances + other.utterances, self.excluded + other.excluded,
                         self.skipped + other.skipped, {**self.folders, **other.folders},
                         {**self.corpora, **other.corpora}, {**self.indexes, **other.indexes},
                         self.drawn + other.drawn)


#: Folders a walk visits at most before it stops and says what it found (a data root is a
#: few corpora: thousands of files in tens of folders).
MAX_FOLDERS = 20_000


def walk_files(root: Path, *, loops: list[tuple[Path, Path]] | None = None,
               max_folders: int = MAX_FOLDERS) -> Iterator[Path]:
    """Files under ``root`` in a stable order, without hidden files and macOS metadata.

    Symbolic links to folders are followed, each real folder once: a link back to a folder
    already walked (a loop, or a second way to the same folder) is not followed, and is
    added to ``loops`` as ``(link, the folder it leads to)`` when a list is given.

    Raises:
        DataError: More than ``max_folders`` folders, with what was found so far.
    """
    seen: set[tuple[int, int]] = set()
    walked = files = 0
    for folder, dirs, names in os.walk(root, followlinks=True):
        try:
            status = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        key = (status.st_dev, status.st_ino)
        if key in seen:
            if loops is not None:
                loops.append((Path(folder), Path(os.path.realpath(folder))))
            dirs[:] = []
            continue
        seen.add(key)
        walked += 1
        if walked > max_folders:
            raise DataError(f"{root} holds more than {max_folders} folders ({files} files in the first ones): "
                            "point --data-root (or the path given) at the folder that holds the corpora")
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _IGNORED_DIRS)
        for name in sorted(names):
            if not name.startswith("."):
                files += 1
                yield Path(folder) / name


def resolve_path(path: str | os.PathLike, what: str) -> Path:
    """``path`` made absolute with its links followed.

    Raises:
        DataError: The path is a loop of symbolic links (``what`` names the option).
    """
    try:
        return Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as error:  # Python 3.11 raises RuntimeError on a loop; 3.13 OSError
        raise DataError(f"{what} {path} is a loop of symbolic links ({error}): "
                        "point it at a real folder or file") from None


class _Skip(SkipFile):
    def __init__(self, reason: str, corpus: str) -> None:
        super().__init__(reason)
        self.corpus = corpus


def _parse(filename: str) -> ParsedName | None:
    """Parse against every corpus, naming the corpus when it refuses the name."""
    for corpus in CORPORA.values():
        try:
            parsed = corpus.parse(filename)
        except SkipFile as skip:
            raise _Skip(skip.reason, corpus.name) from None
        if parsed is not None:
            return parsed
    return None


def _check_root(root: Path) -> None:
    if not root.exists():
        raise DataError(
            f"data root {root} does not exist: point --data-root at the folder that holds "
            "your EMOVO, EmoDB and/or RAVDESS copies (another corpus is described by a CSV index: --corpus), "
            "or leave it out to use the demo corpus"
        )
    if not root.is_dir():
        raise DataError(f"data root {root} is a file, not a folder: point --data-root at the folder above it")


def discover(root: str | os.PathLike, *, emotions: Sequence[str] = EMOTIONS) -> Discovery:
    """Find and classify every corpus file under ``root``, for the label set ``emotions``.

    Raises:
        DataError: The root is missing, holds no usable utterance, or holds the same
            corpus file twice (two copies of a corpus).
    """
    root = resolve_path(root, "data root")
    _check_root(root)
    found = Discovery(root)
    seen: dict[tuple[str, str], str] = {}
    by_corpus: dict[str, list[str]] = defaultdict(list)
    wav_count = 0
    loops: list[tuple[Path, Path]] = []
    for path in walk_files(root, loops=loops):
        relpath = path.relative_to(root).as_posix()
        stem, _, ext = path.name.rpartition(".")
        if ext.lower() != "wav":
            if recognizes_stem(stem):
                found.skipped.append(Skipped(relpath, f"not audio (.{ext} file, only .wav is read)"))
            continue
        wav_count += 1
        try:
            parsed = _parse(path.name)
        except _Skip as skip:
            found.skipped.append(Skipped(relpath, skip.reason, skip.corpus))
            continue
        if parsed is None:
            found.skipped.append(Skipped(relpath, f"unknown file name: expected a corpus name like {_EXAMPLES}"))
            continue
        key = (parsed.corpus, path.name)
        if key in seen:
            raise DataError(
                f"{CORPORA[parsed.corpus].title} is there twice under {root}: {seen[key]} and {relpath}; "
                "point --data-root at a folder holding one copy of each corpus"
            )
        seen[key] = relpath
        by_corpus[parsed.corpus].append(relpath)
        utterance = Utterance(path, relpath, parsed)
        reason = CORPORA[parsed.corpus].exclusion(parsed, emotions)
        if reason:
            found.excluded.append((utterance, reason))
        else:
            found.utterances.append(utterance)
    for link, target in loops:
        found.skipped.append(Skipped(link.relative_to(root).as_posix() + "/",
                                     f"link to a folder already read ({target}); not followed again"))
    found.folders = {c: root / os.path.commonpath([str(Path(p).parent) for p in paths])
                     for c, paths in by_corpus.items()}
    found.corpora = {name: corpus for name, corpus in CORPORA.items() if name in by_corpus}
    if not found.utterances:
        raise DataError(_nothing_usable(root, wav_count, found))
    return found


def _nothing_usable(root: Path, wav_count: int, found: Discovery) -> str:
    if wav_count == 0:
        return (f"no wav files under {root}: point --data-root at the folder that holds the corpora "
                f"(file names like {_EXAMPLES})")
    detail = found.skipped[0] if found.skipped else None
    example = f"; e.g. {detail.relpath}: {detail.reason}" if detail else ""
    return (f"none of the {wav_count} wav files under {root} is a usable utterance of EMOVO, EmoDB or "
            f"RAVDESS{example}. Expected names like {_EXAMPLES}; describe another corpus by a CSV index (--corpus)")


# --- corpora described by a CSV index -------------------------------------------------

#: Columns a corpus index must have, and those it may have.
INDEX_COLUMNS = ("file", "speaker", "emotion", "language")
INDEX_OPTIONAL = ("gender", "split")
#: Share of a corpus's speakers held out for testing when its index has no ``split`` column.
TEST_SHARE = 0.3
_GENDERS = {"f": "f", "female": "f", "w": "f", "woman": "f", "m": "m", "male": "m", "man": "m", "": ""}


def corpus_name(index: str | os.PathLike) -> str:
    """The corpus name of an index, from its file name: ``My URDU.csv`` -> ``my_urdu``."""
    stem = re.sub(r"[^a-z0-9]+", "_", Path(index).stem.lower()).strip("_")
    return stem or "corpus"


def draw_test_speakers(speakers: Sequence[str], genders: dict[str, str], *, seed: int = 0,
                       share: float = TEST_SHARE) -> tuple[str, ...]:
    """About ``share`` of ``speakers`` for testing, alternating female and male where known,
    deterministic for ``seed``; at least one, and at least two left to train and validate on.

    Raises:
        ValueError: Fewer than three speakers.
    """
    from mser.splits import draw_balanced

    speakers = sorted(speakers)
    if len(speakers) < 3:
        raise ValueError(f"{len(speakers)} speakers: drawing test speakers needs at least 3 "
                         "(train, validation, test)")
    count = min(max(1, round(share * len(speakers))), len(speakers) - 2)
    return tuple(sorted(draw_balanced(speakers, count, np.random.default_rng(seed), genders)))


def discover_index(index: str | os.PathLike, *, emotions: Sequence[str] = EMOTIONS, seed: int = 0) -> Discovery:
    """Read a corpus index (CSV) and classify its rows like the files under a data root.

    Rows whose file is missing or whose fields cannot be used are skipped, each with its
    reason; rows whose emotion is outside ``emotions`` are excluded and counted.

    Raises:
        DataError: The index is missing or unreadable, lacks a column, has no rows, or
            lists a speaker in both splits.
    """
    index = resolve_path(index, "--corpus")
    table = _read_index(index)
    base = index.parent
    name = corpus_name(index)
    if name in CORPORA:
        raise DataError(f"corpus index {index}: {name} is a built-in corpus's name; rename the CSV file")
    found = Discovery(base, indexes={name: digest_json([index.name, table.to_dict("list")])})
    rows: list[tuple[int, dict]] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(table.to_dict("records"), start=2):  # row 1 is the header
        reason = _row_problem(row, base)
        written = row["file"].strip()
        row["speaker"] = re.sub(r"\s+", "_", row["speaker"].strip())  # ids are listed space-separated in tags
        if not reason and written in seen:
            reason = f"listed twice (also row {seen[written]})"
        seen.setdefault(written, number)
        if reason:
            found.skipped.append(Skipped(f"{index.name} row {number} ({written or 'no file'})", reason, name))
        else:
            rows.append((number, row))
    languages = language_order(row["language"].strip() for _, row in rows)
    for language in languages:
        corpus = f"{name}_{language}" if len(languages) > 1 else name
        mine = [(number, row) for number, row in rows if row["language"].strip() == language]
        _add_corpus(found, index, corpus, language, mine, emotions, seed)
    if not found.utterances and not found.excluded:
        detail = found.skipped[0] if found.skipped else None
        raise DataError(f"corpus index {index}: no usable row" + (f"; e.g. {detail.relpath}: {detail.reason}"
                                                                    if detail else ""))
    return found


def _read_index(index: Path) -> pd.DataFrame:
    if not index.is_file():
        what = "is a folder, not a CSV file" if index.is_dir() else "does not exist"
        raise DataError(f"corpus index {index} {what}: give --corpus a CSV file with the columns "
                        f"{', '.join(INDEX_COLUMNS)} (see docs/corpora.md, 'Any other corpus: a CSV index')")
    try:
        table = pd.read_csv(index, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = "it is empty" if isinstance(error, pd.errors.EmptyDataError) else str(error).strip().splitlines()[0]
        raise DataError(f"corpus index {index} is not a readable CSV table ({reason}): write one row per file "
                        f"with the columns {', '.join(INDEX_COLUMNS)}") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in INDEX_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"corpus index {index} has no {', '.join(missing)} column{'s' if len(missing) > 1 else ''}: "
                        f"it needs {', '.join(INDEX_COLUMNS)} (and may have {', '.join(INDEX_OPTIONAL)}); "
                        f"found {', '.join(table.columns) or 'no columns'}")
    if table.empty:
        raise DataError(f"corpus index {index} has a header but no rows: add one row per wav file")
    for column in INDEX_OPTIONAL:
        if column not in table.columns:
            table[column] = ""
    return table[[*INDEX_COLUMNS, *INDEX_OPTIONAL]]


def _row_problem(row: dict, base: Path) -> str | None:
    """Why one row of an index cannot be used, or ``None``."""
    written = row["file"].strip()
    if not written:
        return "no file named"
    if not row["speaker"].strip():
        return "no speaker"
    if not row["emotion"].strip():
        return "no emotion"
    try:
        check_language(row["language"].strip())
    except ValueError as error:
        return str(error)
    if row["gender"].strip().lower() not in _GENDERS:
        return f"gender {row['gender']!r} is not f or m (leave it empty if unknown)"
    if row["split"].strip().lower() not in ("train", "test", ""):
        return f"split {row['split']!r} is not train or test"
    path = base / written
    if not path.is_file():
        return "is a folder, not a wav file" if path.is_dir() else f"no such file {path}"
    return None


def _add_corpus(found: Discovery, index: Path, name: str, language: str, rows: list[tuple[int, dict]],
                emotions: Sequence[str], seed: int) -> None:
    """One corpus of an index: its split (given or drawn) and its utterances."""
    splits: dict[str, dict[str, int]] = defaultdict(dict)
    genders: dict[str, str] = {}
    for number, row in rows:
        speaker = row["speaker"].strip()
        splits[speaker].setdefault(row["split"].strip().lower(), number)
        genders[speaker] = genders.get(speaker) or _GENDERS[row["gender"].strip().lower()]
    for speaker, sides in splits.items():
        if len(sides) > 1:
            listed = " and ".join(f"{side or 'no split'} (row {number})" for side, number in sides.items())
            raise DataError(f"corpus index {index}: speaker {speaker} is listed as {listed}; "
                            "all rows of a speaker must be train, or all test")
    given = {speaker: next(iter(sides)) for speaker, sides in splits.items()}
    if all(side == "" for side in given.values()):
        try:
            test = set(draw_test_speakers(list(given), genders, seed=seed))
        except ValueError as error:
            raise DataError(f"corpus index {index}, language {language}: {error}; add a split column "
                            "(train/test) to choose them yourself") from None
        given = {speaker: "test" if speaker in test else "train" for speaker in given}
        found.drawn.append(name)
    elif any(side == "" for side in given.values()):
        speaker = next(s for s, side in given.items() if side == "")
        raise DataError(f"corpus index {index}: speaker {speaker} has no split while others have one; "
                        "give every row train or test, or leave the split column empty throughout")
    corpus = Corpus(name=name, title=f"{index.name}" + (f" ({language})" if name != corpus_name(index) else ""),
                    language=language, native_rate=0, native_channels=0, layout=f"listed in {index}",
                    emotion_codes={}, train_speakers=tuple(sorted(s for s, v in given.items() if v == "train")),
                    test_speakers=tuple(sorted(s for s, v in given.items() if v == "test")), parser=None)
    found.corpora[name] = corpus
    folders = []
    for _, row in rows:
        written = row["file"].strip()
        speaker = row["speaker"].strip()
        label = row["emotion"].strip()
        parsed = ParsedName(name, speaker, genders[speaker], label, canonical_emotion(label),
                            sentence=Path(written).stem)
        path = (index.parent / written).resolve()
        folders.append(str(path.parent))
        utterance = Utterance(path, path.as_posix(), parsed, name=Path(written).with_suffix("").as_posix())
        if parsed.emotion not in emotions:
            found.excluded.append((utterance, outside_label_set(label, emotions)))
        else:
            found.utterances.append(utterance)
    found.folders[name] = Path(os.path.commonpath(folders))
