"""A trained model as one object from raw audio to emotion: the whole preprocessing inside.

:class:`EmotionPipeline` holds the [0, 1] window scaler and the feature standardiser
(both fitted on training speakers), the encoder, the classifier and the settings
that made them, so a file of any rate and channel count is classified exactly as
the training windows were prepared. A model on utterance functionals holds their
settings and the training speakers' statistics instead, and computes the functionals
itself. It saves to and loads from a folder.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import joblib
import numpy as np

from mser.audio import read_wav
from mser.corpora import EMOTIONS
from mser.dataset import PrepParams
from mser.errors import SkipFile
from mser.features import FeatureParams, window_features
from mser.functionals import FunctionalsParams, per_speaker
from mser.metrics import VOTES
from mser.models import get_model, is_keras_model, model_inputs

if TYPE_CHECKING:
    from mser.models._keras import keras

_FORMAT = 1
#: The file of a functionals model's selected columns (absent: every column).
_COLUMNS = "columns.npy"
#: A speaker's recordings are normalised with their own statistics when at least this many
#: come together (``speaker`` normalisation); fewer are normalised with the training speakers'.
MIN_SPEAKER_RECORDINGS = 2


@dataclass(frozen=True)
class Prediction:
    """The emotion of one recording, the probability of each emotion, and how many examples
    (1-s windows, or 1 for a model on the whole utterance) were pooled."""

    emotion: str
    probabilities: dict[str, float]
    windows: int


@dataclass
class Standardizer:
    """Mean and scale along one axis (feature rows, code units), fitted on training windows."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, *, axis: int) -> "Standardizer":
        """Fit on ``values`` ``(n, ...)``, one mean and scale per index of ``axis``."""
        values = np.asarray(values, dtype=np.float64)
        others = tuple(a for a in range(values.ndim) if a != axis)
        mean = values.mean(axis=others, keepdims=True)[0]
        scale = values.std(axis=others, keepdims=True)[0]
        return cls(mean.astype(np.float32), np.where(scale > 0, scale, 1.0).astype(np.float32))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return ((np.asarray(values, dtype=np.float32) - self.mean) / self.scale).astype(np.float32)


@dataclass
class EmotionPipeline:
    """Everything needed to classify raw audio with one trained model.

    Attributes:
        model: Model name (see :data:`mser.models.MODELS`).
        params: Preprocessing parameters the training data was prepared with.
        window_range: Min and max of the training speakers' samples ([0, 1] scaling).
        standardizer: Feature standardiser (per row), when the model reads features.
        encoder: Trained encoder, when the model reads the code.
        code_standardizer: Code standardiser (per latent unit), when the model reads the code.
        classifier: Trained Keras model or sklearn estimator.
        vote: How window scores are pooled per recording (``mean`` or ``majority``).
        functionals: For a model on utterance functionals (or on the code statistics, with its
            encoder: :mod:`mser.families.code_statistics`), their feature set and normalisation;
            ``standardizer`` then holds the training speakers' statistics.
        emotions: The label set, in the order of the classifier's outputs.
        columns: For a model on functionals with feature selection, the columns of the raw
            functionals it keeps (``standardizer`` then holds their statistics only).
    """

    model: str
    params: PrepParams
    window_range: tuple[float, float]
    standardizer: Standardizer | None
    encoder: keras.Model | None
    classifier: object
    vote: str = "mean"
    code_standardizer: Standardizer | None = None
    functionals: FunctionalsParams | None = None
    emotions: tuple[str, ...] = EMOTIONS
    columns: np.ndarray | None = None

    @property
    def spec(self):
        return get_model(self.model)

    @property
    def requirements(self) -> tuple[str, ...]:
        """The packages its model needs beyond the project's own (its family says)."""
        return self.spec.family.requirements_of(self)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """Probability of each emotion of :attr:`emotions` per row of classifier inputs."""
        return classifier_probabilities(self.classifier, inputs, len(self.emotions))

    def utterance_inputs(self, values: np.ndarray, speakers: Sequence[str | None] | None = None) -> np.ndarray:
        """The classifier's inputs for raw functionals ``(n, n_functionals)``.

        With ``speaker`` normalisation, the rows of a speaker named at least
        :data:`MIN_SPEAKER_RECORDINGS` times are standardised with that speaker's own
        statistics; other rows (and every row with ``global``) with the training speakers'.
        """
        values = np.asarray(values, dtype=np.float32)
        if self.columns is not None:
            values = values[:, self.columns]
        inputs = self.standardizer.transform(values)
        if self.functionals.normalisation == "speaker" and speakers is not None:
            speakers = np.array([s if isinstance(s, str) else "" for s in speakers], dtype=object)
            named, counts = np.unique(speakers[speakers != ""], return_counts=True)
            own = np.isin(speakers, named[counts >= MIN_SPEAKER_RECORDINGS])
            if own.any():
                inputs[own] = per_speaker(values[own], speakers[own])
        return np.nan_to_num(inputs, nan=0.0, posinf=0.0, neginf=0.0)

    def scale_windows(self, windows: np.ndarray) -> np.ndarray:
        """Windows scaled to [0, 1] with the training range, clipped."""
        low, high = self.window_range
        span = high - low if high > low else 1.0
        return np.clip((np.asarray(windows, dtype=np.float32) - low) / span, 0.0, 1.0).astype(np.float32)

    def encode(self, windows: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
        """The code of raw (unscaled) windows."""
        return keras_predict(self.encoder, self.scale_windows(windows)[..., None], batch_size=batch_size)

    def inputs(self, windows: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """The classifier's inputs for raw windows (features computed if not given)."""
        spec = self.spec
        code = None
        if spec.uses_code:
            code = self.encode(windows)
            if self.code_standardizer is not None:
                code = self.code_standardizer.transform(code)
        if spec.uses_features:
            if features is None:
                features = window_features(windows, self.params.target_rate, params=self.params.features)
            features = self.standardizer.transform(features)
        return model_inputs(spec, code, features)

    def window_probabilities(self, windows: np.ndarray, features: np.ndarray | None = None) -> np.ndarray:
        """Probability of each emotion per window, rows summing to 1."""
        return self.probabilities(self.inputs(windows, features))

    def predict_signal(self, samples: np.ndarray, rate: int) -> Prediction:
        """Classify a signal, ``(frames,)`` or ``(frames, channels)``, at any rate.

        Raises:
            SkipFile: The signal is silent or too short for the model.
        """
        answer = self.predict_signals([(samples, rate)])[0]
        if isinstance(answer, SkipFile):
            raise answer
        return answer

    def predict_signals(self, signals: Sequence[tuple[np.ndarray, int]],
                        speakers: Sequence[str | None] | None = None) -> list[Prediction | SkipFile]:
        """Classify several signals ``(samples, rate)``, as the model's family reads them
        (:meth:`mser.families.Family.predict_signals`); an unusable one gets its
        :class:`SkipFile` in its place. With ``speakers`` (a name or ``None`` per signal), a
        model with ``speaker`` normalisation standardises each speaker's recordings together.
        """
        return self.spec.family.predict_signals(self, signals, speakers)

    def predict_file(self, path: str | os.PathLike) -> Prediction:
        """Classify a wav file of any rate, depth and channel count.

        Raises:
            SkipFile: The file is unusable (empty, truncated, unreadable, too short).
        """
        samples, info = read_wav(path)
        return self.predict_signal(samples, info.rate)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the pipeline to ``folder`` (created): JSON settings, Keras and joblib files."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        settings = {"format": _FORMAT, "model": self.model, "params": asdict(self.params),
                    "window_range": list(self.window_range), "vote": self.vote, "emotions": list(self.emotions),
                    "functionals": asdict(self.functionals) if self.functionals else None}
        (folder / "pipeline.json").write_text(json.dumps(settings, indent=2))
        for name in ("standardizer", "code_standardizer"):
            if getattr(self, name) is not None:
                np.savez(folder / f"{name}.npz", mean=getattr(self, name).mean, scale=getattr(self, name).scale)
        if self.columns is not None:
            np.save(folder / _COLUMNS, self.columns)
        if self.encoder is not None:
            self.encoder.save(folder / "encoder.keras")
        if is_keras_model(self.classifier):
            self.classifier.save(folder / "classifier.keras")
        else:
            joblib.dump(self.classifier, folder / "classifier.joblib")
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "EmotionPipeline":
        """Read a pipeline written by :meth:`save`."""
        folder = Path(folder)
        settings = json.loads((folder / "pipeline.json").read_text())
        if settings.get("format") != _FORMAT:
            raise ValueError(f"{folder} holds a pipeline of format {settings.get('format')}, "
                             f"this version reads {_FORMAT}: train the model again")
        params = settings["params"]
        params = PrepParams(**{**params, "features": FeatureParams(**params["features"])})
        standardizers = {}
        for name in ("standardizer", "code_standardizer"):
            if (folder / f"{name}.npz").exists():
                stored = np.load(folder / f"{name}.npz")
                standardizers[name] = Standardizer(stored["mean"], stored["scale"])
        encoder = _load_keras(folder / "encoder.keras") if (folder / "encoder.keras").exists() else None
        if (folder / "classifier.keras").exists():
            classifier = _load_keras(folder / "classifier.keras")
        else:
            classifier = joblib.load(folder / "classifier.joblib")
        vote = settings.get("vote", "mean")
        if vote not in VOTES:
            raise ValueError(f"{folder}: unknown vote {vote!r}")
        functional = _functionals_params(settings["model"], settings["functionals"]) if settings.get("functionals") \
            else None
        columns = np.load(folder / _COLUMNS) if (folder / _COLUMNS).exists() else None
        return cls(settings["model"], params, tuple(settings["window_range"]), standardizers.get("standardizer"),
                   encoder, classifier, vote, standardizers.get("code_standardizer"), functional,
                   tuple(settings.get("emotions", EMOTIONS)), columns)


def _functionals_params(model: str, settings: dict) -> FunctionalsParams:
    """The saved ``functionals`` settings of ``model``, as its family's group holds them."""
    spec = get_model(model)
    return spec.family.groups(spec)["functionals"](**settings)


def _load_keras(path: Path):
    from mser.models._keras import keras

    return keras.models.load_model(path)


def load_trained(folder: str | os.PathLike):
    """The trained model saved in ``folder``: an :class:`EmotionPipeline`, or an ensemble of
    them (:class:`mser.ensemble.EnsemblePipeline`, which answers the same way)."""
    from mser.ensemble import MANIFEST, EnsemblePipeline

    return EnsemblePipeline.load(folder) if (Path(folder) / MANIFEST).exists() else EmotionPipeline.load(folder)


def or_skip(function, *args):
    """The answer for one signal, or the reason it has none: one signal that breaks a feature
    extractor must not cost the other signals of a batch their answers."""
    try:
        return function(*args)
    except SkipFile as skip:
        return skip
    except Exception as error:  # noqa: BLE001 - named in the signal's own answer
        return SkipFile(f"could not be classified ({type(error).__name__}: {error})")


def prediction(pooled: np.ndarray, examples: int, emotions: Sequence[str]) -> Prediction:
    """The prediction of pooled probabilities over ``examples`` windows (or 1 utterance)."""
    return Prediction(emotions[int(np.argmax(pooled))], {e: round(float(p), 6) for e, p in zip(emotions, pooled)},
                      examples)


def keras_predict(model: keras.Model, inputs: np.ndarray, *, batch_size: int) -> np.ndarray:
    """``model.predict`` without its per-call cost: ``predict_on_batch`` on slices.

    ``predict`` builds a ``tf.data`` pipeline and an iterator on every call, about 0.1 s,
    which dominated a search trial's per-epoch scoring (see ``bench/profile_trial.py``).
    """
    if len(inputs) == 0:
        return np.zeros((0, *model.output_shape[1:]), dtype=np.float32)
    return np.concatenate([np.asarray(model.predict_on_batch(inputs[start:start + batch_size]))
                           for start in range(0, len(inputs), batch_size)])


def classifier_probabilities(classifier, inputs: np.ndarray, n_classes: int | None = None, *,
                             batch_size: int = 256) -> np.ndarray:
    """Per-row emotion probabilities of a Keras or sklearn classifier, normalised to sum 1.

    A Keras model with the paper's sigmoid output gives independent scores; they are
    normalised here. An sklearn estimator's classes may miss an emotion absent from
    training; its column (of ``n_classes``, required for sklearn) stays 0.
    """
    if is_keras_model(classifier):
        scores = keras_predict(classifier, inputs, batch_size=batch_size).astype(np.float64)
    else:
        if n_classes is None:
            raise ValueError("an sklearn classifier's probabilities need n_classes (the label set's size)")
        scores = np.zeros((len(inputs), n_classes))
        scores[:, classifier.classes_] = classifier.predict_proba(inputs)
    totals = scores.sum(axis=1, keepdims=True)
    return np.divide(scores, totals, out=np.full_like(scores, 1 / scores.shape[1]), where=totals > 0)
