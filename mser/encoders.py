"""A disk cache of trained encoders, shared by every process on a machine.

Training the autoencoder is the expensive part of a trial, and many trials ask for the
same encoder. An encoder is keyed by everything that determines it: the data (dataset
key), the training and validation speakers, the autoencoder's hyperparameters, the
epochs, batch size, patience and seed. The first process to ask for a key trains it
while holding a lock; the others wait for the lock and then load the saved encoder.

An encoder whose training was stopped before its end (a scheduler judged it weak) is not
stored, but the curve it reached is (:meth:`EncoderCache.record_interrupted`): a later
trial asking for the same encoder can replay those epochs, the values the same training
would measure again, and be judged on them before it trains anything.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from mser.cache import default_cache_dir, digest_json, publish_dir, staging_dir

if TYPE_CHECKING:
    from mser.models._keras import keras

#: ``train() -> (encoder, history)``
TrainEncoder = Callable[[], "tuple[keras.Model, dict[str, list[float]]]"]


class EncoderCache:
    """Trained encoders on disk under ``<cache_dir>/encoders/<key>/``."""

    def __init__(self, cache_dir: str | os.PathLike | None = None) -> None:
        self.folder = Path(cache_dir or default_cache_dir()) / "encoders"
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(material: Mapping[str, Any]) -> str:
        """The cache key of an encoder described by ``material`` (JSON-able)."""
        return digest_json(material)[:32]

    def get_or_train(self, material: Mapping[str, Any], train: TrainEncoder
                     ) -> tuple[keras.Model, dict[str, list[float]], bool]:
        """The encoder for ``material``, loaded if cached, else trained with ``train`` and stored.

        Returns:
            ``(encoder, history, hit)``: on a hit, the history of the training that made the
            encoder (the same for every trial that uses it, so its curves can be shown).
        """
        key = self.key(material)
        entry = self.folder / key
        with self._lock(key):
            if (entry / "encoder.keras").is_file():
                from mser.models._keras import keras

                return keras.models.load_model(entry / "encoder.keras"), _stored_history(entry), True
            encoder, history = train()
            staging = staging_dir(entry)
            encoder.save(staging / "encoder.keras")
            (staging / "material.json").write_text(json.dumps({"material": material, "history": history},
                                                              indent=2, default=str))
            publish_dir(staging, entry)
            return encoder, history, False

    def interrupted_curve(self, material: Mapping[str, Any]) -> list[dict[str, float]]:
        """The epochs an interrupted training of ``material``'s encoder reached, one dict of
        metrics each ([] if none was recorded or the record cannot be read)."""
        try:
            curve = json.loads(self._interrupted(material).read_text())["curve"]
            return [{str(name): float(value) for name, value in epoch.items()} for epoch in curve]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return []

    def record_interrupted(self, material: Mapping[str, Any], curve: list[Mapping[str, float]]) -> None:
        """Keep the epochs a training of ``material``'s encoder reached before it was stopped
        (the longest such curve: a shorter one says nothing new)."""
        if len(curve) <= len(self.interrupted_curve(material)):
            return
        path = self._interrupted(material)
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        staging.write_text(json.dumps({"material": material, "curve": [dict(epoch) for epoch in curve]},
                                      default=str))
        staging.replace(path)

    def _interrupted(self, material: Mapping[str, Any]) -> Path:
        return self.folder / f"{self.key(material)}.interrupted.json"

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        with open(self.folder / f".{key}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _stored_history(entry: Path) -> dict[str, list[float]]:
    """The training history kept beside a cached encoder ({} if it cannot be read)."""
    try:
        history = json.loads((entry / "material.json").read_text()).get("history") or {}
        return {str(name): [float(v) for v in values] for name, values in history.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}
