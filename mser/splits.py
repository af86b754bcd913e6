"""Speaker-disjoint splits: the paper's, leave-one-speaker-out, grouped k-fold, validation.

A :class:`Split` is a partition of speaker ids into train, validation and test; it
refuses to exist with a speaker on two sides, so every split in the project is
speaker-disjoint by construction. Speaker ids are ``<corpus>-<code>``
(:attr:`mser.corpora.ParsedName.speaker_id`).
"""

from __future__ import annotations

import warnings
import zlib
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from mser.corpora import CORPORA, Corpus

SIDES = ("train", "validation", "test")


def corpus_of(speaker_id: str) -> str:
    """The corpus name of a speaker id (``emodb-03`` -> ``emodb``)."""
    return speaker_id.split("-", 1)[0]


@dataclass(frozen=True)
class Split:
    """Speakers for training, validation (model choice) and test (final score only).

    Attributes:
        name: Readable name, e.g. ``paper`` or ``loso-emodb-03``.
        train: Speaker ids to fit on.
        test: Speaker ids held out; scored once, never used to choose anything.
        validation: Speaker ids taken from training to choose epochs and hyperparameters.
    """

    name: str
    train: tuple[str, ...]
    test: tuple[str, ...]
    validation: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        sides = {side: set(getattr(self, side)) for side in SIDES}
        for i, first in enumerate(SIDES):
            for second in SIDES[i + 1:]:
                shared = sides[first] & sides[second]
                if shared:
                    raise ValueError(
                        f"split {self.name!r}: speakers {sorted(shared)} are in both {first} and {second}"
                    )
        if not self.train:
            raise ValueError(f"split {self.name!r} has no training speakers")

    def side_of(self, speakers: Iterable[str]) -> np.ndarray:
        """The side (``train``, ``validation``, ``test`` or ``""``) of each entry of ``speakers``."""
        lookup = {s: side for side in SIDES for s in getattr(self, side)}
        return np.array([lookup.get(s, "") for s in speakers], dtype=object)

    def indices(self, speakers: Sequence[str], side: str) -> np.ndarray:
        """Positions in ``speakers`` (one entry per window or utterance) that belong to ``side``."""
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r}: expected one of {', '.join(SIDES)}")
        return np.flatnonzero(self.side_of(speakers) == side)

    def as_dict(self) -> dict[str, list[str]]:
        """Plain lists per side, for JSON and logs."""
        return {"name": self.name, **{side: list(getattr(self, side)) for side in SIDES}}


def paper_split(corpora: Iterable[Corpus | str] | None = None) -> Split:
    """The paper's speaker-held-out split (section 3) over the given corpora (default: all)."""
    chosen = [CORPORA[c] if isinstance(c, str) else c for c in (corpora or CORPORA.values())]
    return Split(
        name="paper",
        train=tuple(f"{c.name}-{s}" for c in chosen for s in c.train_speakers),
        test=tuple(f"{c.name}-{s}" for c in chosen for s in c.test_speakers),
    )


def leave_one_speaker_out(speakers: Iterable[str]) -> list[Split]:
    """One split per speaker, testing on that speaker and training on all others."""
    speakers = sorted(set(speakers))
    if len(speakers) < 2:
        raise ValueError(f"leave-one-speaker-out needs at least 2 speakers, got {speakers}")
    return [Split(f"loso-{s}", tuple(o for o in speakers if o != s), (s,)) for s in speakers]


def grouped_kfold(speakers: Iterable[str], k: int, *, seed: int = 0) -> list[Split]:
    """K splits whose test folds partition the speakers, each fold mixing the corpora.

    Every speaker is one group; folds are stratified by corpus so that each holds a
    share of every language where the speaker counts allow.
    """
    speakers = sorted(set(speakers))
    if not 2 <= k <= len(speakers):
        raise ValueError(f"k-fold over speakers needs 2 <= k <= {len(speakers)} (the speakers), got k={k}")
    corpora = [corpus_of(s) for s in speakers]
    from sklearn.model_selection import StratifiedKFold  # seconds to import: only where used

    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # A corpus with fewer speakers than k is simply absent from some folds.
        warnings.filterwarnings("ignore", message="The least populated class")
        parts = list(folds.split(np.zeros(len(speakers)), corpora))
    return [
        Split(f"fold{i + 1}of{k}", tuple(speakers[j] for j in train), tuple(speakers[j] for j in test))
        for i, (train, test) in enumerate(parts)
    ]


def with_validation(split: Split, *, fraction: float = 0.25, seed: int = 0,
                    genders: Mapping[str, str] | None = None) -> Split:
    """Move a share of each corpus's training speakers to validation.

    Per corpus, ``round(fraction * n)`` speakers (at least one, leaving at least one
    to train on) are drawn with ``seed``, alternating female and male when ``genders``
    is given, so validation mirrors training. Test speakers are untouched. Each corpus
    is drawn on its own (seeded by ``seed`` and the corpus's name), so a corpus's
    validation speakers are the same whichever other corpora the split holds: a joint
    model and a language's own model are validated on the same voices of that language.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be between 0 and 1, got {fraction}")
    validation: list[str] = []
    for corpus in dict.fromkeys(corpus_of(s) for s in split.train):
        pool = [s for s in split.train if corpus_of(s) == corpus]
        if len(pool) < 2:
            continue
        count = min(max(1, round(fraction * len(pool))), len(pool) - 1)
        rng = np.random.default_rng([seed, zlib.crc32(corpus.encode())])
        validation += draw_balanced(pool, count, rng, genders or {})
    train = tuple(s for s in split.train if s not in validation)
    return replace(split, train=train, validation=tuple(validation))


#: The ``k`` of :func:`validation_folds` for leave-one-speaker-out (``--folds speakers``).
LOSO = "speakers"


def validation_folds(split: Split, k: int | str, *, seed: int = 0) -> list[Split]:
    """Splits of the training speakers (train and validation) into train and validation;
    test stays as it is.

    ``k`` folds grouped by speaker (:func:`grouped_kfold`), or with ``k`` = :data:`LOSO`
    one fold per speaker (:func:`leave_one_speaker_out`). For the mean validation score
    over speaker folds; test speakers are in no fold.

    Raises:
        ValueError: Fewer than 2 training speakers, or more folds than speakers.
    """
    pool = split.train + split.validation
    folds = leave_one_speaker_out(pool) if k == LOSO else grouped_kfold(pool, int(k), seed=seed)
    return [replace(split, name=f"{split.name}-{fold.name}", train=fold.train, validation=fold.test)
            for fold in folds]


def draw_balanced(pool: list[str], count: int, rng: np.random.Generator,
                   genders: Mapping[str, str]) -> list[str]:
    """Draw ``count`` speakers from ``pool`` with ``rng``, alternating genders where known."""
    shuffled = [pool[i] for i in rng.permutation(len(pool))]
    by_gender: dict[str, list[str]] = {}
    for speaker in shuffled:
        by_gender.setdefault(genders.get(speaker, "?"), []).append(speaker)
    queues = list(by_gender.values())
    drawn: list[str] = []
    while len(drawn) < count:
        for queue in queues:
            if queue and len(drawn) < count:
                drawn.append(queue.pop(0))
    return drawn
