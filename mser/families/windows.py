"""The paper's family: 1-s windows of raw 8 kHz audio, read through the autoencoder's code,
the 41 x 16 librosa features, or both.

Its preprocessing, fitted on the training speakers' windows only: the [0, 1] scaler, the
autoencoder (trained with early stopping on the validation windows' reconstruction,
judged while it trains by a linear probe of its code when a scheduler asks, or loaded
from the encoder cache), and the standardisers of the code and the features. A file
gives at most ``max_windows_per_utterance`` training windows, evenly spread. With
``augment``, the training speakers' audio also comes sped up, slowed down or noisy
(:mod:`mser.augment`): more training windows, never a perturbed validation or test window.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from mser.audio import signal_windows
from mser.augment import AugmentParams, with_training_copies
from mser.dataset import WINDOW_UNIT, Dataset, capped_rows
from mser.errors import SkipFile, TrainingStopped
from mser.families import Family
from mser.metrics import SAE_LOSS, SAE_PROBE_KAPPA, SAE_VAL_LOSS, utterance_kappa
from mser.models import build_autoencoder, get_model
from mser.pipeline import EmotionPipeline, Prediction, Standardizer, keras_predict, or_skip, prediction
from mser.splits import Split
from mser.train import EpochCallback, TrainConfig, _check_finite, _epoch_reporter

if TYPE_CHECKING:
    from mser.models._keras import keras


class WindowFamily(Family):
    """Models on 1-s windows: the autoencoder's code, the librosa features, or both."""

    name = "windows"
    unit = WINDOW_UNIT
    window_scores = True

    def needs_keras(self, spec) -> bool:
        return spec.uses_code or spec.keras  # the autoencoder is a Keras model

    def groups(self, spec) -> Mapping[str, Callable]:
        # Augmentation is searched for the models on features only: under an autoencoder every
        # set of copies trains an encoder of its own, and the encoder cache, which makes those
        # searches affordable, would rarely hit. mser-train and TrainConfig take it for any.
        return {"sae": build_autoencoder} if spec.uses_code else {"augment": AugmentParams}

    def check(self, config: TrainConfig) -> None:
        AugmentParams(**config.augment)  # refuses an unknown setting

    def training_data(self, data: Dataset, config: TrainConfig, split: Split) -> Dataset:
        """With ``augment``, the training speakers' augmented copies added (:mod:`mser.augment`)."""
        return with_training_copies(data, AugmentParams(**config.augment), split.train)

    def training_rows(self, examples, rows: np.ndarray, config: TrainConfig) -> np.ndarray:
        return capped_rows(examples, rows, config.max_windows_per_utterance)

    def prepare(self, data: Dataset, config: TrainConfig, rows: Mapping[str, np.ndarray], split: Split, *,
                history: dict, on_epoch: EpochCallback | None = None, encoder_cache=None,
                probe: tuple | None = None) -> EmotionPipeline:
        """Scaler, encoder (trained or cached, with ``probe`` as :func:`train_autoencoder`
        takes it), the code's and features' standardisers."""
        spec = get_model(config.model)
        train_windows = np.asarray(data.windows[rows["train"]])
        pipeline = EmotionPipeline(config.model, data.params,
                                   (float(train_windows.min()), float(train_windows.max())), None, None, None,
                                   config.vote, emotions=data.emotions)
        if spec.uses_code:
            pipeline.encoder = fitted_encoder(pipeline, data, config, rows, split, history=history,
                                              on_epoch=on_epoch, encoder_cache=encoder_cache, probe=probe)
            if spec.keras:  # SVM and MLP standardise the flat code in their own sklearn pipeline
                pipeline.code_standardizer = Standardizer.fit(pipeline.encode(train_windows), axis=2)
        if spec.uses_features:
            pipeline.standardizer = Standardizer.fit(data.features[rows["train"]], axis=1)
        return pipeline

    def inputs(self, pipeline: EmotionPipeline, data: Dataset, index: np.ndarray) -> np.ndarray:
        return pipeline.inputs(np.asarray(data.windows[index]), np.asarray(data.features[index]))

    def predict_signals(self, pipeline: EmotionPipeline, signals: Sequence[tuple[np.ndarray, int]],
                        speakers: Sequence[str | None] | None = None) -> list[Prediction | SkipFile]:
        """Each signal on its own: its 1-s windows (mono, 8 kHz, silence dropped), their
        probabilities pooled by the pipeline's vote."""
        return [or_skip(_predict_windows, pipeline, samples, rate) for samples, rate in signals]


def fitted_encoder(pipeline: EmotionPipeline, data: Dataset, config: TrainConfig, rows: Mapping[str, np.ndarray],
                   split: Split, *, history: dict, on_epoch: EpochCallback | None = None, encoder_cache=None,
                   probe: tuple | None = None) -> keras.Model:
    """The autoencoder's encoder, trained on the training windows at ``rows["train"]`` of
    ``data.windows`` (scaled by ``pipeline``; early stopping on ``rows["validation"]``'s
    reconstruction, ``probe`` as :func:`train_autoencoder` takes it), or loaded from
    ``encoder_cache``, where every model reading the code with the same data, speakers and
    settings finds it. Its curves go to ``history``."""
    def fit_encoder(reporter=on_epoch):
        scaled = {side: pipeline.scale_windows(data.windows[index]) for side, index in rows.items()}
        return train_autoencoder(scaled["train"], scaled.get("validation"), config, reporter, probe)

    if encoder_cache is None:
        encoder, sae_history = fit_encoder()
    else:
        material = encoder_material(data, split, config, data.windows.shape[1])
        replaying = probe is not None and on_epoch is not None
        encoder, sae_history, _ = encoder_cache.get_or_train(
            material, (lambda: _fit_replaying(fit_encoder, encoder_cache, material, on_epoch)) if replaying
            else fit_encoder)
    history.update(sae_history)
    return encoder


def _predict_windows(pipeline: EmotionPipeline, samples: np.ndarray, rate: int) -> Prediction:
    """Raises SkipFile when the signal is silent or shorter than one window."""
    params = pipeline.params
    windows = signal_windows(samples, rate, target_rate=params.target_rate, window=params.window,
                             silence_dbfs=params.silence_dbfs)
    probabilities = pipeline.window_probabilities(windows)
    if pipeline.vote == "mean":
        pooled = probabilities.mean(axis=0)
    else:
        pooled = np.bincount(probabilities.argmax(axis=1), minlength=len(pipeline.emotions)) / len(probabilities)
    return prediction(pooled, len(windows), pipeline.emotions)


def _fit_replaying(fit_encoder: Callable, encoder_cache, material: dict, on_epoch: EpochCallback):
    """Train an encoder that is judged while it trains (a probe, reported through ``on_epoch``),
    first replaying the epochs an earlier training of the same encoder reached before it was
    stopped: the values this deterministic training would measure again, so a judge that
    stopped it then can stop it now without the cost. If it is not stopped, the encoder is
    trained from its start, and the replayed epochs are not reported twice. A training
    stopped here leaves its curve in the cache for the next one."""
    done = encoder_cache.interrupted_curve(material)
    for epoch, values in enumerate(done):
        on_epoch("sae", epoch, values)
    curve: list[dict[str, float]] = []

    def reporter(stage: str, epoch: int, values: Mapping[str, float]) -> None:
        if stage == "sae":
            curve.append(dict(values))
            if epoch < len(done):
                return
        on_epoch(stage, epoch, values)

    try:
        return fit_encoder(reporter)
    except TrainingStopped:  # a judge stopped the training in on_epoch: keep what it reached
        encoder_cache.record_interrupted(material, curve)
        raise


def train_autoencoder(windows_train: np.ndarray, windows_val: np.ndarray | None, config: TrainConfig,
                      on_epoch: EpochCallback | None = None, probe: tuple | None = None,
                      ) -> tuple[keras.Model, dict[str, list[float]]]:
    """Fit the autoencoder on scaled training windows; early stopping on validation reconstruction.

    With ``probe = (train labels, validation meta)`` (one per window), each epoch also
    measures :data:`~mser.metrics.SAE_PROBE_KAPPA`, the validation speakers' utterance kappa
    of a linear probe fitted on the code of the training windows (see :func:`_code_probe`):
    what a search may judge an encoder by before any classifier is trained on it.

    Without ``windows_val`` (a refit) it trains for exactly ``config.sae_epochs``.
    """
    from mser.models._keras import keras

    autoencoder, encoder = build_autoencoder(input_length=windows_train.shape[1], **config.sae)
    names = {"loss": SAE_LOSS, "val_loss": SAE_VAL_LOSS}
    callbacks = [_epoch_reporter()("sae", on_epoch, names)]
    if windows_val is not None:
        callbacks.append(keras.callbacks.EarlyStopping("val_loss", patience=config.patience,
                                                       restore_best_weights=True))
    if probe is not None and windows_val is not None:
        names[SAE_PROBE_KAPPA] = SAE_PROBE_KAPPA
        callbacks.insert(0, _code_probe()(encoder, windows_train, probe[0], windows_val, probe[1], config))
    fitted = autoencoder.fit(
        windows_train[..., None], windows_train[..., None],
        validation_data=None if windows_val is None else (windows_val[..., None], windows_val[..., None]),
        epochs=config.sae_epochs, batch_size=config.batch_size, verbose=0, callbacks=callbacks,
    )
    history = {name: fitted.history[theirs] for theirs, name in (("loss", SAE_LOSS), ("val_loss", SAE_VAL_LOSS))
               if theirs in fitted.history}
    _check_finite(history, "autoencoder")
    return encoder, history


@functools.cache
def _code_probe() -> type:
    """The Keras callback class :class:`CodeProbe`, defined when an autoencoder is first trained."""
    from mser.models._keras import keras

    class CodeProbe(keras.callbacks.Callback):
        """A linear probe on the code after each autoencoder epoch, the usual measure of a learnt
        representation before any model is trained on it: each window's code pooled over time
        (mean and standard deviation of every channel), standardised on the training windows, a
        multinomial logistic regression fitted on them, and the validation windows' probabilities
        pooled per utterance as the classifiers' are (:func:`~mser.metrics.utterance_kappa`).
        Its kappa goes into the epoch's logs as :data:`~mser.metrics.SAE_PROBE_KAPPA`."""

        def __init__(self, encoder: keras.Model, train_windows: np.ndarray, train_labels: np.ndarray,
                     val_windows: np.ndarray, val_meta, config: TrainConfig) -> None:
            super().__init__()
            self.encoder, self.train_windows, self.train_labels = encoder, train_windows, train_labels
            self.val_windows, self.val_meta, self.config = val_windows, val_meta, config

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is not None:
                logs[SAE_PROBE_KAPPA] = probe_kappa(self._pooled(self.train_windows), self.train_labels,
                                                    self._pooled(self.val_windows), self.val_meta,
                                                    seed=self.config.seed, vote=self.config.vote)

        def _pooled(self, windows: np.ndarray) -> np.ndarray:
            # In batches: the first layers' activations for every window at once would be
            # gigabytes at the paper's size (4314 windows: 1.4 GB for the first convolution's output
            # with its default 20 filters).
            code = keras_predict(self.encoder, windows[..., None], batch_size=self.config.batch_size)
            return np.concatenate([code.mean(axis=1), code.std(axis=1)], axis=1)  # code: (windows, time, channels)

    return CodeProbe


def probe_kappa(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_meta, *, seed: int = 0,
                vote: str = "mean") -> float:
    """Utterance kappa on ``val_meta``'s windows of a logistic regression fitted on ``train_x``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, random_state=seed))
    probe.fit(train_x, train_y)
    known = probe.predict_proba(val_x)
    probabilities = np.zeros((len(val_x), int(max(train_y.max(), val_meta["label"].max())) + 1))
    probabilities[:, probe.classes_] = known  # classes no training window has keep probability 0
    return utterance_kappa(probabilities, val_meta, vote=vote)


def encoder_material(dataset: Dataset, split: Split, config: TrainConfig, input_length: int) -> dict:
    """Everything that determines a trained encoder: the cache key's contents."""
    return {"dataset": dataset.key, "train": sorted(split.train), "validation": sorted(split.validation),
            "sae": dict(sorted(config.sae.items())), "input_length": input_length,
            "sae_epochs": config.sae_epochs, "batch_size": config.batch_size, "patience": config.patience,
            "max_windows_per_utterance": config.max_windows_per_utterance, "seed": config.seed}
