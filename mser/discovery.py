"""Find the corpora under a data root by their file names, whatever the folders are called.

Each wav file is recognised by its name alone, so nested and flat copies both load.
Names that no corpus knows, RAVDESS song and video files, and utterances the paper's
protocol leaves out are reported, not loaded. A root that holds nothing usable, or two
copies of one corpus, is refused with a message saying what to do.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mser.corpora import CORPORA, ParsedName, recognizes_stem
from mser.errors import DataError, SkipFile

_IGNORED_DIRS = {"__MACOSX"}
_EXAMPLES = "EMOVO f1/dis-f1-b1.wav, EmoDB wav/03a01Fa.wav, RAVDESS Actor_12/03-01-05-01-02-01-12.wav"


@dataclass(frozen=True)
class Utterance:
    """One recognised file: where it is and what its name says."""

    path: Path
    relpath: str
    parsed: ParsedName

    @property
    def utterance_id(self) -> str:
        """Id unique across corpora: ``<corpus>/<file stem>``."""
        return f"{self.parsed.corpus}/{Path(self.relpath).stem}"


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
        root: The data root.
        utterances: Files the paper's protocol uses, sorted by path.
        excluded: Recognised files the protocol leaves out (an emotion outside the six,
            RAVDESS actors 13-24), with the reason.
        skipped: Files that cannot be used (unknown names, song and video files).
        folders: Per corpus found, the folder that holds all of its files.
    """

    root: Path
    utterances: list[Utterance] = field(default_factory=list)
    excluded: list[tuple[Utterance, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)


def _walk(root: Path):
    """Files under ``root`` in a stable order, without hidden files and macOS metadata."""
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _IGNORED_DIRS)
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


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
            "your EMOVO, EmoDB and/or RAVDESS copies, or leave it out to use the demo corpus"
        )
    if not root.is_dir():
        raise DataError(f"data root {root} is a file, not a folder: point --data-root at the folder above it")


def discover(root: str | os.PathLike) -> Discovery:
    """Find and classify every corpus file under ``root``.

    Raises:
        DataError: The root is missing, holds no usable utterance, or holds the same
            corpus file twice (two copies of a corpus).
    """
    root = Path(root).expanduser().resolve()
    _check_root(root)
    found = Discovery(root)
    seen: dict[tuple[str, str], str] = {}
    by_corpus: dict[str, list[str]] = defaultdict(list)
    wav_count = 0
    for path in _walk(root):
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
        reason = CORPORA[parsed.corpus].exclusion(parsed)
        if reason:
            found.excluded.append((utterance, reason))
        else:
            found.utterances.append(utterance)
    found.folders = {c: root / os.path.commonpath([str(Path(p).parent) for p in paths])
                     for c, paths in by_corpus.items()}
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
            f"RAVDESS{example}. Expected names like {_EXAMPLES}")
