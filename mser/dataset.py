"""The prepared dataset: every usable 1-s window, its features and labels, cached on disk.

:func:`load_dataset` discovers the corpora under a root and in corpus indexes (CSV), for a
label set (default the paper's six emotions), then loads the windows and
features from the cache when the audio files' contents and the preprocessing
parameters are unchanged, and otherwise builds them (read, mono, 8 kHz, windows,
features) and stores them. Files that cannot be used are skipped, each with its
reason, and never stop the build. Windows are kept unscaled: each trained
:class:`mser.pipeline.EmotionPipeline` scales them to [0, 1] with its training speakers' range.

Models read one of two kinds of example (:data:`UNITS`): the 1-s windows, or whole
utterances described by openSMILE functionals. :func:`load_functionals` computes a
feature set for every usable utterance once, from the audio files at 16 kHz, and
caches it beside the dataset, keyed by the dataset key, the feature set and the
opensmile version. :meth:`Dataset.examples` gives the rows of either kind.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import librosa
import numpy as np
import pandas as pd
import scipy
import soundfile

from mser.audio import (
    LONG_FACTOR,
    LONG_SECONDS,
    SILENCE_DBFS,
    TARGET_RATE,
    WINDOW,
    load_windows,
    read_wav,
)
from mser.cache import default_cache_dir, digest_json, file_digests, publish_dir, staging_dir
from mser.corpora import CORPORA, EMOTIONS, language_order
from mser.discovery import Discovery, Skipped, discover, discover_index
from mser.errors import DataError, MserError, SkipFile
from mser.features import FeatureParams, window_features
from mser.functionals import (
    FEATURE_SETS,
    FUNCTIONALS_RATE,
    OWN_SETS,
    functionals,
    opensmile_version,
    set_parts,
    utterance_statistics,
)

#: Bumped whenever the stored layout or the meaning of a stored value changes.
CACHE_FORMAT = 2
_FEATURE_BATCH = 256
_INT_COLUMNS = ("label", "window", "rate", "channels", "frames", "windows")
_FLOAT_COLUMNS = ("duration",)
#: The kinds of example a model reads: 1-s windows, or whole utterances (functionals).
WINDOW_UNIT, UTTERANCE_UNIT = "window", "utterance"
UNITS = (WINDOW_UNIT, UTTERANCE_UNIT)
#: Bumped whenever the stored functionals change meaning.
FUNCTIONALS_FORMAT = 1

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class PrepParams:
    """Everything that shapes the prepared windows and features (part of the cache key)."""

    target_rate: int = TARGET_RATE
    window: int = WINDOW
    silence_dbfs: float = SILENCE_DBFS
    features: FeatureParams = field(default_factory=FeatureParams)

    def __post_init__(self) -> None:
        if self.target_rate <= 0 or self.window <= 0:
            raise ValueError(f"target_rate and window must be positive, got {self.target_rate}, {self.window}")


@dataclass
class Dataset:
    """Windows, features and their metadata for the utterances of a data root and corpus indexes.

    Attributes:
        root: The data root the audio came from (with corpus indexes only, the first one's folder).
        key: Cache key: digest of the audio contents, their labels and speakers, the label
            set, the speaker split, parameters and library versions.
        params: Preprocessing parameters.
        windows: ``(n, window)`` float32, 8 kHz, unscaled.
        features: ``(n, 41, 16)`` float32 (with default parameters).
        meta: One row per window: utterance, corpus, language, speaker, gender,
            emotion, label, sentence, split (its corpus's), window (index in its file).
        utterances: One row per usable file, with its format and window count.
        skipped: Files left out because they cannot be used, with the reason.
        excluded: Files the protocol leaves out (e.g. an emotion outside the label set), with the reason.
        functionals: Per feature set, ``(n_utterances, n_functionals)`` float32, one row per
            row of ``utterances`` (see :func:`load_functionals`).
        emotions: The label set: ``label`` indexes it.
        corpora: One row per corpus: corpus, title, language, split (``paper``, ``index``: the
            CSV's column, or ``drawn``). Whole in every part (:meth:`select`).
        speakers_table: One row per speaker of the whole dataset, in protocol order: speaker,
            corpus, language, gender, split. Whole in every part, so that a part of some
            languages still knows the other languages' test speakers.
        augmented: Per augmentation variant (``speed0.9``...), the windows of every utterance as
            that variant makes them (see :mod:`mser.augment`); a training adds its training
            speakers' copies only.
    """

    root: Path
    key: str
    params: PrepParams
    windows: np.ndarray
    features: np.ndarray
    meta: pd.DataFrame
    utterances: pd.DataFrame
    skipped: pd.DataFrame
    excluded: pd.DataFrame
    functionals: Mapping[str, np.ndarray] = field(default_factory=dict)
    emotions: tuple[str, ...] = EMOTIONS
    corpora: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_CORPUS_COLUMNS))
    speakers_table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_SPEAKER_COLUMNS))
    augmented: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.meta)

    @property
    def labels(self) -> np.ndarray:
        """Integer label per window: index into :attr:`emotions`."""
        return self.meta["label"].to_numpy()

    @property
    def speakers(self) -> np.ndarray:
        """Speaker id per window."""
        return self.meta["speaker"].to_numpy()

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages of this dataset's windows, in table order (it, de, en, then others)."""
        return language_order(self.meta["language"])

    def genders(self) -> dict[str, str]:
        """Gender of each speaker id."""
        return dict(zip(self.utterances["speaker"], self.utterances["gender"]))

    def select(self, rows: np.ndarray) -> "Dataset":
        """The windows at ``rows`` (positions or a boolean mask), with their utterances."""
        meta = self.meta.iloc[rows] if rows.dtype != bool else self.meta[rows]
        kept = self.utterances["utterance"].isin(set(meta["utterance"])).to_numpy()
        return Dataset(
            self.root, self.key, self.params, self.windows[rows], self.features[rows],
            meta.reset_index(drop=True), self.utterances[kept].reset_index(drop=True),
            self.skipped, self.excluded, {name: values[kept] for name, values in self.functionals.items()},
            self.emotions, self.corpora, self.speakers_table,
            {name: copies.only(self.utterances["utterance"][kept]) for name, copies in self.augmented.items()},
        )

    def examples(self, unit: str) -> pd.DataFrame:
        """One row per example of ``unit``: per window (:attr:`meta`) or per utterance.

        Both have the columns utterance, corpus, language, speaker, gender, emotion,
        label, sentence and split; an utterance is scored as a single example.
        """
        if unit == WINDOW_UNIT:
            return self.meta
        if unit == UTTERANCE_UNIT:
            return self.utterances
        raise ValueError(f"unknown unit {unit!r}: expected one of {', '.join(UNITS)}")

    def functional_values(self, feature_set: str) -> np.ndarray:
        """The ``feature_set`` functionals, one row per utterance.

        Raises:
            MserError: They were not computed for this dataset (see :func:`load_functionals`).
        """
        try:
            return self.functionals[feature_set]
        except KeyError:
            have = ", ".join(self.functionals) or "none"
            raise MserError(f"the dataset under {self.root} has no {feature_set} functionals (computed: {have}); "
                            "load them with mser.dataset.load_functionals") from None

    def for_languages(self, languages: Iterable[str]) -> "Dataset":
        """Only the windows of the given languages (``it``, ``de``, ``en``, ``ur``...)."""
        languages = list(languages)
        missing = sorted(set(languages) - set(self.meta["language"]))
        if missing:
            have = ", ".join(sorted(set(self.meta["language"]))) or "none"
            raise DataError(f"no data for language {', '.join(missing)} under {self.root} (found: {have})")
        wanted = self.meta["language"].isin(languages).to_numpy()
        return self if wanted.all() else self.select(wanted)  # no copy when nothing is left out


def long_utterances(utterances: pd.DataFrame, *, factor: float = LONG_FACTOR,
                    seconds: float = LONG_SECONDS) -> pd.DataFrame:
    """The utterances lasting over ``factor`` times their corpus's median duration and over ``seconds``."""
    median = utterances.groupby("corpus")["duration"].transform("median")
    long = utterances[(utterances["duration"] > factor * median) & (utterances["duration"] > seconds)]
    table = long[["path", "corpus", "speaker", "emotion", "split", "duration", "windows"]].copy()
    table.insert(6, "corpus_median", median[long.index].round(2))
    return table.sort_values("duration", ascending=False).reset_index(drop=True)


def capped_rows(meta: pd.DataFrame, rows: np.ndarray, cap: int | None) -> np.ndarray:
    """The ``rows`` of ``meta`` with at most ``cap`` windows per utterance, evenly spread through it."""
    if cap is None:
        return rows
    keep = np.ones(len(rows), dtype=bool)
    utterances = pd.Series(meta["utterance"].to_numpy()[rows])
    groups = utterances.groupby(utterances, sort=False).indices
    for positions in groups.values():
        if len(positions) > cap:
            keep[positions] = False
            keep[positions[np.linspace(0, len(positions) - 1, cap).round().astype(int)]] = True
    return rows[keep]


def load_dataset(
    root: str | Path | None,
    *,
    indexes: Iterable[str | Path] = (),
    emotions: Iterable[str] = EMOTIONS,
    split_seed: int = 0,
    params: PrepParams = PrepParams(),
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    feature_sets: Iterable[str] = (),
) -> Dataset:
    """Discover the corpora under ``root`` and in ``indexes`` and return their prepared dataset.

    Args:
        root: Folder holding the built-in corpora (any layout, see :mod:`mser.discovery`);
            ``None`` for corpus indexes only.
        indexes: Corpus indexes (CSV files, see :func:`mser.discovery.discover_index`).
        emotions: The label set (see :func:`mser.corpora.parse_emotions`).
        split_seed: Seed of the test speakers drawn for an index without a ``split`` column.
        params: Preprocessing parameters.
        cache_dir: Cache folder (default :func:`mser.cache.default_cache_dir`).
        use_cache: Read and write the cache; ``False`` always rebuilds and stores nothing.
        progress: Called with ``(files done, files total)`` while building.
        feature_sets: openSMILE functional sets to compute too (see :func:`load_functionals`).

    Raises:
        DataError: Nothing under ``root`` is usable (see :func:`mser.discovery.discover`), or
            an index cannot be used (see :func:`mser.discovery.discover_index`).
    """
    found = find_corpora(root, indexes, emotions=tuple(emotions), split_seed=split_seed)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = dataset_key(found, params, cache_dir, tuple(emotions))
    entry = cache_dir / "datasets" / key[:24]
    if use_cache and (entry / "dataset.json").is_file():
        dataset = _read(entry, found.root, key, params)
    else:
        dataset = _build(found, params, key, progress, tuple(emotions))
        if use_cache:
            _write(dataset, entry)
    for feature_set in feature_sets:
        load_functionals(dataset, feature_set, cache_dir=cache_dir, use_cache=use_cache, progress=progress)
    return dataset


def find_corpora(root: str | Path | None, indexes: Iterable[str | Path] = (), *,
                 emotions: tuple[str, ...] = EMOTIONS, split_seed: int = 0) -> Discovery:
    """The corpora under ``root`` and in ``indexes``, together.

    Raises:
        DataError: Neither is given, or one cannot be used.
    """
    parts = [discover(root, emotions=emotions)] if root is not None else []
    parts += [discover_index(index, emotions=emotions, seed=split_seed) for index in indexes]
    if not parts:
        raise DataError("no data: give --data-root (a folder holding the corpora) or --corpus (a CSV index)")
    found = parts[0]
    for part in parts[1:]:
        found = found.merge(part)
    if not found.utterances:
        raise DataError(f"no utterance of the label set ({', '.join(emotions)}) in the corpora given; "
                        "choose --emotions among the corpora's emotions")
    return found


def functionals_key(dataset: Dataset, feature_set: str) -> str:
    """Digest of what determines a dataset's functionals: its key, the set, the rate, opensmile's version."""
    return digest_json({"format": FUNCTIONALS_FORMAT, "dataset": dataset.key, "feature_set": feature_set,
                        "rate": FUNCTIONALS_RATE, "opensmile": opensmile_version(),
                        "utterances": list(dataset.utterances["path"])})


def load_functionals(dataset: Dataset, feature_set: str, *, cache_dir: str | Path | None = None,
                     use_cache: bool = True, progress: Progress | None = None,
                     threads: int | None = None) -> np.ndarray:
    """Compute (or read from the cache) the ``feature_set`` functionals of every utterance
    of ``dataset``, from its audio files, and keep them in ``dataset.functionals``. A fused
    set (:data:`mser.functionals.FUSED_SETS`) is its parts' values side by side, each part
    computed and cached as itself.

    ``threads`` files are processed at once (default: one per core; openSMILE runs
    outside the GIL).

    Raises:
        MissingExtra: The opensmile package is not installed (with the command that installs it).
        DataError: openSMILE cannot process one of the files (named).
    """
    parts = set_parts(feature_set)
    if feature_set in dataset.functionals:
        return dataset.functionals[feature_set]
    if len(parts) > 1:
        values = np.hstack([load_functionals(dataset, part, cache_dir=cache_dir, use_cache=use_cache,
                                             progress=progress, threads=threads) for part in parts])
        dataset.functionals = {**dataset.functionals, feature_set: values}
        return values
    if feature_set in OWN_SETS:  # from the windows' features the dataset holds: no audio read, nothing to cache
        positions = dataset.meta.groupby("utterance", sort=False).indices
        values = np.stack([utterance_statistics(dataset.features[positions[utterance]])
                           for utterance in dataset.utterances["utterance"]]) if len(dataset.utterances) else \
            np.zeros((0, OWN_SETS[feature_set]), np.float32)
        dataset.functionals = {**dataset.functionals, feature_set: values}
        return values
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = functionals_key(dataset, feature_set)
    path = cache_dir / "functionals" / f"{feature_set}-{key[:24]}.npy"
    if use_cache and path.is_file():
        values = np.load(path)
    else:
        values = _extract(dataset, feature_set, progress, threads or os.cpu_count() or 1)
        if use_cache:
            staging = staging_dir(path.with_suffix(""))
            np.save(staging / "values.npy", values)
            os.replace(staging / "values.npy", path)
            staging.rmdir()
    dataset.functionals = {**dataset.functionals, feature_set: values}
    return values


def _extract(dataset: Dataset, feature_set: str, progress: Progress | None, threads: int) -> np.ndarray:
    paths = [dataset.root / relpath for relpath in dataset.utterances["path"]]

    def one(path: Path) -> np.ndarray:
        try:
            samples, info = read_wav(path)
            return functionals(samples, info.rate, feature_set=feature_set)
        except (SkipFile, OSError, RuntimeError) as error:
            reason = getattr(error, "reason", None) or str(error)
            raise DataError(f"openSMILE could not process {path}: {reason}; fix or remove the file, "
                            "or run again with --no-cache") from None

    rows = []
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for done, row in enumerate(pool.map(one, paths), start=1):
            rows.append(row)
            if progress:
                progress(done, len(paths))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, FEATURE_SETS[feature_set]), np.float32)


def dataset_key(found: Discovery, params: PrepParams, cache_dir: Path, emotions: tuple[str, ...] = EMOTIONS) -> str:
    """Digest of what determines a dataset: file contents, names, labels and speakers, the
    label set, the corpora's splits and indexes, parameters, library versions."""
    digests = file_digests([u.path for u in found.utterances], cache_dir)
    return digest_json({
        "format": CACHE_FORMAT,
        "params": asdict(params),
        "emotions": list(emotions),
        "versions": {m.__name__: m.__version__ for m in (librosa, scipy, np, soundfile)},
        "files": [(u.relpath, digests[u.path], u.parsed.speaker_id, u.parsed.emotion) for u in found.utterances],
        "corpora": {name: [c.language, list(c.train_speakers), list(c.test_speakers)]
                    for name, c in found.corpora.items()},
        "indexes": found.indexes,
        "excluded": [u.relpath for u, _ in found.excluded],
        "skipped": [(s.relpath, s.reason) for s in found.skipped],
    })


def _utterance_row(utterance, info, n_windows: int, found: Discovery, emotions: tuple[str, ...]) -> dict:
    parsed = utterance.parsed
    corpus = found.corpora[parsed.corpus]
    return {
        "utterance": utterance.utterance_id, "path": utterance.relpath, "corpus": corpus.name,
        "language": corpus.language, "speaker": parsed.speaker_id, "gender": parsed.gender,
        "emotion_code": parsed.emotion_code, "emotion": parsed.emotion,
        "label": emotions.index(parsed.emotion), "sentence": parsed.sentence,
        "intensity": parsed.intensity or "", "repetition": parsed.repetition or "",
        "split": corpus.split_of(parsed.speaker), "rate": info.rate, "channels": info.channels,
        "subtype": info.subtype, "frames": info.frames, "duration": round(info.duration, 4),
        "windows": n_windows,
    }


def _build(found: Discovery, params: PrepParams, key: str, progress: Progress | None,
           emotions: tuple[str, ...]) -> Dataset:
    chunks, rows, skipped = [], [], list(found.skipped)
    total = len(found.utterances)
    for done, utterance in enumerate(found.utterances, start=1):
        try:
            windows, info = load_windows(utterance.path, target_rate=params.target_rate,
                                         window=params.window, silence_dbfs=params.silence_dbfs)
        except SkipFile as skip:
            skipped.append(Skipped(utterance.relpath, skip.reason, utterance.parsed.corpus))
        else:
            chunks.append(windows)
            rows.append(_utterance_row(utterance, info, len(windows), found, emotions))
        if progress:
            progress(done, total)
    if not rows:
        raise DataError(f"none of the {total} corpus files under {found.root} could be read; "
                        f"e.g. {skipped[-1].relpath}: {skipped[-1].reason}")
    windows = np.concatenate(chunks)
    features = np.concatenate([
        window_features(windows[i:i + _FEATURE_BATCH], params.target_rate, params=params.features)
        for i in range(0, len(windows), _FEATURE_BATCH)
    ])
    utterances = pd.DataFrame(rows)
    meta = _window_meta(utterances)
    return Dataset(found.root, key, params, windows, features, meta, utterances,
                   _skipped_frame(skipped), _excluded_frame(found), {}, emotions, _corpora_frame(found),
                   _speakers_frame(found, utterances))


_CORPUS_COLUMNS = ["corpus", "title", "language", "split"]
_SPEAKER_COLUMNS = ["speaker", "corpus", "language", "gender", "split"]


def _corpora_frame(found: Discovery) -> pd.DataFrame:
    def source(name: str) -> str:
        return "drawn" if name in found.drawn else "paper" if name in CORPORA else "index"

    return pd.DataFrame([(name, c.title, c.language, source(name)) for name, c in found.corpora.items()],
                        columns=_CORPUS_COLUMNS)


def _speakers_frame(found: Discovery, utterances: pd.DataFrame) -> pd.DataFrame:
    """The speakers with usable utterances, per corpus in its protocol order (train, then test)."""
    present = dict(zip(utterances["speaker"], utterances["gender"]))
    rows = [(f"{name}-{s}", name, corpus.language, present[f"{name}-{s}"], corpus.split_of(s))
            for name, corpus in found.corpora.items() for s in corpus.protocol_speakers if f"{name}-{s}" in present]
    return pd.DataFrame(rows, columns=_SPEAKER_COLUMNS)


def _window_meta(utterances: pd.DataFrame) -> pd.DataFrame:
    columns = ["utterance", "corpus", "language", "speaker", "gender", "emotion", "label",
               "sentence", "split"]
    meta = utterances.loc[utterances.index.repeat(utterances["windows"]), columns]
    meta["window"] = meta.groupby("utterance").cumcount()
    return meta.reset_index(drop=True)


def _skipped_frame(skipped: list[Skipped]) -> pd.DataFrame:
    return pd.DataFrame([(s.relpath, s.corpus, s.reason) for s in skipped],
                        columns=["path", "corpus", "reason"])


def _excluded_frame(found: Discovery) -> pd.DataFrame:
    return pd.DataFrame(
        [(u.relpath, u.parsed.corpus, u.parsed.speaker_id, u.parsed.emotion_code, reason)
         for u, reason in found.excluded],
        columns=["path", "corpus", "speaker", "emotion_code", "reason"],
    )


_TABLES = ("meta", "utterances", "skipped", "excluded", "corpora", "speakers_table")


def _write(dataset: Dataset, entry: Path) -> None:
    staging = staging_dir(entry)
    np.save(staging / "windows.npy", dataset.windows)
    np.save(staging / "features.npy", dataset.features)
    for name in _TABLES:
        getattr(dataset, name).to_csv(staging / f"{name}.csv", index=False)
    (staging / "dataset.json").write_text(json.dumps({
        "key": dataset.key, "format": CACHE_FORMAT, "params": asdict(dataset.params),
        "emotions": list(dataset.emotions),
        "root": str(dataset.root), "windows": len(dataset), "created": time.time(),
    }, indent=2))
    publish_dir(staging, entry)


def _read_table(path: Path) -> pd.DataFrame:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in table.columns.intersection(_INT_COLUMNS):
        table[column] = table[column].astype(int)
    for column in table.columns.intersection(_FLOAT_COLUMNS):
        table[column] = table[column].astype(float)
    return table


def _read(entry: Path, root: Path, key: str, params: PrepParams) -> Dataset:
    tables = {name: _read_table(entry / f"{name}.csv") for name in _TABLES}
    return Dataset(
        root, key, params,
        np.load(entry / "windows.npy", mmap_mode="r"),
        np.load(entry / "features.npy", mmap_mode="r"),
        emotions=tuple(json.loads((entry / "dataset.json").read_text())["emotions"]),
        **tables,
    )
