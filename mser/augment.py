"""Augmentation of the training speakers' audio, for the models on 1-s windows.

Two perturbations the field uses on small emotional corpora, each a *variant* of every
file, made from its audio before it is cut into windows:

- **speed perturbation** (Ko et al., *Audio augmentation for speech recognition*,
  Interspeech 2015; Kaldi's and SpeechBrain's ``SpeedPerturb``): the signal replayed at
  0.9 and 1.1 times its speed (tempo and pitch together, as ``sox speed``), by resampling;
- **additive noise**: white Gaussian noise at a signal-to-noise ratio (dB) of the whole
  file, its seed drawn from the file's name, so the same file gets the same noise.

:class:`AugmentParams` is the ``augment`` group of a model on windows (a searched choice).
The variants are computed once per dataset and cached like the dataset itself
(:func:`load_augmentation`, keyed by the dataset key, the variant and
:data:`AUGMENT_VERSION`), for every utterance; :func:`with_training_copies` then gives a
training the copies of its **training speakers'** utterances only, as utterances of their
own (``<utterance>#<variant>``). Validation and test speakers' audio is never perturbed, and
no copy is ever scored.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from mser.audio import read_wav, signal_windows, to_mono
from mser.errors import SkipFile

if TYPE_CHECKING:
    from mser.dataset import Dataset

#: The speeds of speed perturbation (1.0 is the original).
SPEEDS = (0.9, 1.1)
#: Bumped whenever a variant's audio changes meaning (part of the cache key).
AUGMENT_VERSION = 1
#: Marks an augmented copy's utterance id: ``<utterance>#<variant>``.
COPY_MARK = "#"
_BATCH = 256


@dataclass(frozen=True)
class AugmentParams:
    """How the training speakers' audio is augmented (the ``augment`` group of a window model).

    Attributes:
        speed: Add copies at :data:`SPEEDS` times the speed.
        noise_snr: Add a copy with white noise at this SNR in dB; 0: none.
    """

    speed: bool = False
    noise_snr: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.speed, (bool, np.bool_)):
            raise ValueError(f"augment.speed must be true or false, not {self.speed!r}")
        if not isinstance(self.noise_snr, (int, float)) or isinstance(self.noise_snr, bool) or self.noise_snr < 0:
            raise ValueError(f"augment.noise_snr must be a positive SNR in dB, or 0 for none, not {self.noise_snr!r}")

    @property
    def variants(self) -> tuple[str, ...]:
        """The variants a training adds, e.g. ``speed0.9``, ``speed1.1``, ``noise20``."""
        speeds = tuple(f"speed{s:g}" for s in SPEEDS) if self.speed else ()
        return speeds + ((f"noise{self.noise_snr:g}",) if self.noise_snr else ())


def parse_variant(variant: str) -> tuple[str, float]:
    """``("speed", 0.9)`` for ``speed0.9``, ``("noise", 20.0)`` for ``noise20``.

    Raises:
        ValueError: Not a variant this module makes.
    """
    for kind in ("speed", "noise"):
        if variant.startswith(kind):
            try:
                value = float(variant[len(kind):])
            except ValueError:
                break
            if value > 0:
                return kind, value
    raise ValueError(f"unknown augmentation {variant!r}: expected speed<factor> or noise<SNR dB>, e.g. speed0.9")


def perturb(samples: np.ndarray, rate: int, variant: str, *, name: str) -> tuple[np.ndarray, int]:
    """One file's audio as ``variant`` makes it: ``(mono samples, the rate to read them at)``.

    Speed: the same samples read at ``rate x factor`` (resampled later to the models' rate,
    the signal is ``factor`` times as fast). Noise: white noise of the file's mean power over
    ``10^(snr/10)``, seeded by ``name``.
    """
    kind, value = parse_variant(variant)
    mono = to_mono(samples).astype(np.float64)
    if kind == "speed":
        return mono, int(round(rate * value))
    seed = int.from_bytes(hashlib.sha256(f"{variant}/{name}".encode()).digest()[:8], "little")
    power = float(np.mean(mono ** 2))
    noise = np.random.default_rng(seed).normal(0.0, np.sqrt(power / 10 ** (value / 10)), len(mono))
    return mono + noise, rate


@dataclass(frozen=True)
class Augmented:
    """One variant's windows of a dataset's utterances.

    Attributes:
        windows: ``(n, window)`` float32, as :attr:`mser.dataset.Dataset.windows`.
        features: ``(n, ...)`` float32, as :attr:`mser.dataset.Dataset.features`.
        utterance: The utterance id of each window (an utterance the variant left too short
            or silent has none).
    """

    windows: np.ndarray
    features: np.ndarray
    utterance: np.ndarray

    def only(self, utterances: Sequence[str]) -> "Augmented":
        keep = np.isin(self.utterance, list(utterances))
        return Augmented(self.windows[keep], self.features[keep], self.utterance[keep])


def augment_dataset(dataset: Dataset, variant: str, progress: Callable[[int, int], None] | None = None) -> Augmented:
    """The ``variant`` windows of every utterance of ``dataset``, from its audio files."""
    from mser.features import window_features

    params = dataset.params
    chunks, owners = [], []
    rows = list(dataset.utterances[["utterance", "path"]].itertuples(index=False))
    for done, (utterance, relpath) in enumerate(rows, start=1):
        samples, info = read_wav(dataset.root / relpath)
        audio, rate = perturb(samples, info.rate, variant, name=relpath)
        try:
            windows = signal_windows(audio, rate, target_rate=params.target_rate, window=params.window,
                                     silence_dbfs=params.silence_dbfs)
        except SkipFile:
            windows = np.zeros((0, params.window), np.float32)
        chunks.append(windows.astype(np.float32))
        owners.extend([utterance] * len(windows))
        if progress:
            progress(done, len(rows))
    windows = np.concatenate(chunks) if chunks else np.zeros((0, params.window), np.float32)
    features = (np.concatenate([window_features(windows[i:i + _BATCH], params.target_rate, params=params.features)
                                for i in range(0, len(windows), _BATCH)])
                if len(windows) else np.zeros((0, *dataset.features.shape[1:]), np.float32))
    return Augmented(windows, features.astype(np.float32), np.array(owners, dtype=object))


def augmentation_path(dataset: Dataset, variant: str, cache_dir: Path) -> Path:
    """Where a variant of ``dataset`` is cached: keyed by the dataset, the variant and the version."""
    from mser.cache import digest_json

    parse_variant(variant)
    key = digest_json({"dataset": dataset.key, "variant": variant, "version": AUGMENT_VERSION})
    return Path(cache_dir) / "augmented" / f"{variant}-{key[:24]}.npz"


def load_augmentation(dataset: Dataset, variant: str, *, cache_dir: str | Path | None = None, use_cache: bool = True,
                      progress: Callable[[int, int], None] | None = None) -> Augmented:
    """Compute (or read from the cache) the ``variant`` windows of ``dataset`` and keep them
    in ``dataset.augmented``."""
    from mser.cache import default_cache_dir, staging_dir

    if variant in dataset.augmented:
        return dataset.augmented[variant]
    path = augmentation_path(dataset, variant, Path(cache_dir) if cache_dir else default_cache_dir())
    if use_cache and path.is_file():
        with np.load(path, allow_pickle=False) as stored:
            made = Augmented(stored["windows"], stored["features"], stored["utterance"].astype(object))
    else:
        made = augment_dataset(dataset, variant, progress)
        if use_cache:
            staging = staging_dir(path.with_suffix(""))
            np.savez(staging / "values.npz", windows=made.windows, features=made.features,
                     utterance=made.utterance.astype(str))
            os.replace(staging / "values.npz", path)
            staging.rmdir()
    dataset.augmented = {**dataset.augmented, variant: made}
    return made


def with_training_copies(data: Dataset, params: AugmentParams, speakers: Sequence[str]) -> Dataset:
    """``data`` and, after its own windows, the ``params`` variants' windows of the utterances
    of ``speakers`` (the training speakers), each copy an utterance of its own
    (``<utterance>#<variant>``); its key names the variants, so what is trained on it (an
    encoder in the cache) is told apart.

    Raises:
        MserError: A variant was not computed for ``data`` (:func:`load_augmentation`).
    """
    import pandas as pd

    from mser.cache import digest_json
    from mser.dataset import Dataset
    from mser.errors import MserError

    if not params.variants:
        return data
    missing = [v for v in params.variants if v not in data.augmented]
    if missing:
        raise MserError(f"the dataset under {data.root} has no {', '.join(missing)} augmentation (computed: "
                        f"{', '.join(data.augmented) or 'none'}); load it with mser.augment.load_augmentation")
    own = data.utterances[data.utterances["speaker"].isin(list(speakers))]
    windows, features, metas, rows = [data.windows], [data.features], [data.meta], [data.utterances]
    for variant in params.variants:
        copies = data.augmented[variant].only(own["utterance"])
        if not len(copies.windows):
            continue
        table = own.set_index("utterance").loc[pd.unique(copies.utterance)].reset_index()
        table["windows"] = pd.Series(copies.utterance).value_counts().loc[table["utterance"]].to_numpy()
        table["utterance"] = table["utterance"] + f"{COPY_MARK}{variant}"
        by_id = own.set_index("utterance")
        meta = by_id.loc[copies.utterance, [c for c in data.meta.columns if c in by_id.columns]].reset_index()
        meta["utterance"] = meta["utterance"] + f"{COPY_MARK}{variant}"
        meta["window"] = meta.groupby("utterance").cumcount()
        windows.append(copies.windows)
        features.append(copies.features)
        metas.append(meta[data.meta.columns])
        rows.append(table[data.utterances.columns])
    return Dataset(data.root, digest_json({"dataset": data.key, "augment": list(params.variants)}), data.params,
                   np.concatenate(windows), np.concatenate(features), pd.concat(metas, ignore_index=True),
                   pd.concat(rows, ignore_index=True), data.skipped, data.excluded, {}, data.emotions,
                   data.corpora, data.speakers_table)
