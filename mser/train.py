"""Train one model on training speakers and judge it on held-out speakers.

``train(dataset, config) -> TrainResult`` reads top to bottom: choose the languages,
split speakers (validation drawn from training speakers), keep at most
``max_windows_per_utterance`` evenly spread training windows of each file (so one very
long file cannot dominate), fit the model family's preprocessing on training speakers
(:mod:`mser.families`: scalers and the autoencoder for the paper's window models, the
functionals' statistics for the utterance models), train the
classifier with Cohen's kappa on the validation speakers every epoch (early stopping on
it, best weights restored), then score validation and test. Test speakers are used for
that last score only.

A split without validation speakers is a **refit** (:func:`refit_split`): once a
configuration has been chosen on validation speakers, it is trained again on every
training speaker for exactly the epochs the choice found (:func:`epochs_found`), with no
early stopping and nothing to score but the test speakers, as scikit-learn's
``GridSearchCV(refit=True)`` does.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from mser.audio import MAX_UTTERANCE_WINDOWS
from mser.corpora import check_study_language, held_out_language, tested_languages, trained_languages
from mser.dataset import Dataset
from mser.errors import MserError
from mser.metrics import (
    CLASS_WEIGHTINGS,
    LOSS,
    SAE_VAL_LOSS,
    TRAIN_KAPPA,
    VAL_KAPPA,
    VOTES,
    Evaluation,
    class_weights,
    evaluate,
    kappa,
    sample_weights,
    utterance_kappa,
)
from mser.models import classifier_shape_kwargs, get_model, set_random_seed
from mser.pipeline import EmotionPipeline, classifier_probabilities
from mser.splits import Split, with_validation

#: ``on_epoch(stage, epoch, metrics)``: stage is ``sae`` or ``classifier``, epoch counts from 0.
EpochCallback = Callable[[str, int, Mapping[str, float]], None]
class TrainingDiverged(MserError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model, language and every setting that is not a model size.

    Attributes:
        model: Model name (see :data:`mser.models.MODELS`).
        language: A language code (``it``, ``de``, ``en``, a corpus index's ``ur``...), ``all``
            (every language of the data jointly), or ``all-but-it`` (and so on: trained and
            validated on the other languages only, tested on the held-out language's test
            speakers).
        sae: Keywords of :func:`mser.models.sae.build_autoencoder`.
        functionals: Keywords of :class:`mser.functionals.FunctionalsParams`, for a model on
            utterance functionals.
        classifier: Keywords of the model's classifier builder.
        augment: Keywords of :class:`mser.augment.AugmentParams`, for a model on windows: copies
            of the training speakers' audio, sped up, slowed down or noisy, added to its training data.
        sae_epochs: Autoencoder epochs at most (paper: 100).
        epochs: Classifier epochs at most (paper: 100 per language, 300 jointly).
        batch_size: Batch size of both (paper: 16).
        patience: Epochs without improvement before early stopping.
        class_weighting: ``none``, ``balanced`` or ``sqrt``.
        validation_fraction: Share of each corpus's training speakers used for validation.
        vote: Pooling of window scores per utterance: ``mean`` or ``majority``.
        max_windows_per_utterance: Training windows kept per file at most, evenly spread
            through it (``None``: all), so that one very long file cannot dominate the
            scalers, the autoencoder and the classifier; validation and test keep every window.
        seed: Seed of the validation draw, weight initialisation and shuffling.
    """

    model: str = "sae_cnn_features"
    language: str = "all"
    sae: Mapping = field(default_factory=dict)
    classifier: Mapping = field(default_factory=dict)
    functionals: Mapping = field(default_factory=dict)
    augment: Mapping = field(default_factory=dict)
    sae_epochs: int = 100
    epochs: int = 100
    batch_size: int = 16
    patience: int = 10
    class_weighting: str = "balanced"
    validation_fraction: float = 0.25
    vote: str = "mean"
    max_windows_per_utterance: int | None = MAX_UTTERANCE_WINDOWS
    seed: int = 0

    def __post_init__(self) -> None:
        get_model(self.model).family.check(self)
        check_study_language(self.language)
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise ValueError(f"unknown class weighting {self.class_weighting!r}: "
                             f"expected one of {', '.join(CLASS_WEIGHTINGS)}")
        if self.vote not in VOTES:
            raise ValueError(f"unknown vote {self.vote!r}: expected one of {', '.join(VOTES)}")
        if self.max_windows_per_utterance is not None and self.max_windows_per_utterance < 1:
            raise ValueError(f"max_windows_per_utterance must be at least 1 (or None for every window), "
                             f"got {self.max_windows_per_utterance}")
        for name in ("sae_epochs", "epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

    @property
    def held_out(self) -> str | None:
        """The language a held-out-language model is tested on (and never trained on), else None."""
        return held_out_language(self.language)

    def languages(self, available: Sequence[str]) -> tuple[str, ...]:
        """The languages trained (and validated) on, out of the data's ``available`` ones."""
        return trained_languages(self.language, available)

    def test_languages(self, available: Sequence[str]) -> tuple[str, ...]:
        """The languages of the test speakers, out of the data's ``available`` ones."""
        return tested_languages(self.language, available)


@dataclass
class TrainResult:
    """A trained pipeline, its curves and its scores on validation and test speakers."""

    config: TrainConfig
    split: Split
    pipeline: EmotionPipeline
    history: dict[str, list[float]]
    best_epoch: int | None
    #: None for a refit, which has no validation speakers.
    validation: Evaluation | None
    test: Evaluation | None
    seconds: dict[str, float]

    @property
    def is_refit(self) -> bool:
        return not self.split.validation

    def epochs_found(self) -> dict[str, int]:
        """The epochs this training's early stopping chose (see :func:`epochs_found`)."""
        return epochs_found([self])

    def metrics(self) -> dict[str, float]:
        """Flat final metrics: ``val_kappa``, ``test_uar``, ``test_kappa_de``, ``test_window_kappa``...

        A model on whole utterances has no window scores."""
        per_window = get_model(self.config.model).family.window_scores
        return {name: value for side, result in (("val", self.validation), ("test", self.test)) if result is not None
                for name, value in result.metrics(side, per_window=per_window).items()}


@functools.cache
def _epoch_reporter() -> type:
    """The Keras callback class that reports a classifier's epochs, defined when a Keras
    classifier is first trained (Keras is imported only for models that need it)."""
    from mser.models._keras import keras

    class EpochReporter(keras.callbacks.Callback):
        """Adds kappa on training and validation windows to the logs, then reports the epoch."""

        def __init__(self, stage: str, on_epoch: EpochCallback | None, names: Mapping[str, str],
                     kappa_data: tuple | None = None, vote: str = "mean") -> None:
            super().__init__()
            self.stage, self.on_epoch, self.names, self.kappa_data = stage, on_epoch, names, kappa_data
            self.vote = vote

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs if logs is not None else {}
            if self.kappa_data is not None:
                train_x, train_y, val_x, val_meta = self.kappa_data
                logs[TRAIN_KAPPA] = kappa(train_y, classifier_probabilities(self.model, train_x).argmax(axis=1))
                logs[VAL_KAPPA] = utterance_kappa(classifier_probabilities(self.model, val_x), val_meta,
                                                  vote=self.vote)
            values = {ours: float(logs[theirs]) for theirs, ours in self.names.items() if theirs in logs}
            if not all(np.isfinite(v) for v in values.values()):
                self.model.stop_training = True
            if self.on_epoch:
                self.on_epoch(self.stage, epoch, values)

    return EpochReporter


def _check_finite(history: Mapping[str, list[float]], stage: str) -> None:
    for name, values in history.items():
        if values and not np.all(np.isfinite(values)):
            raise TrainingDiverged(f"{stage} {name} became {values[-1]} at epoch {len(values)}: "
                                   "try a lower learning rate")


def make_split(dataset: Dataset, config: TrainConfig) -> Split:
    """The corpora's own split (the paper's, a corpus index's, or drawn) over the languages
    ``config`` trains on, with validation drawn from training speakers. A held-out-language
    model's test speakers are the held-out language's test speakers (from the dataset's
    speaker table, so ``dataset`` need not hold their windows)."""
    table = dataset.speakers_table
    trained = table[table["language"].isin(config.languages(dataset.languages))]
    tested = table[table["language"].isin(config.test_languages(dataset.languages))]
    split = Split("paper", tuple(trained.loc[trained["split"] == "train", "speaker"]),
                  tuple(tested.loc[tested["split"] == "test", "speaker"]))
    split = with_validation(split, fraction=config.validation_fraction, seed=config.seed,
                            genders=dict(zip(table["speaker"], table["gender"])))
    if not split.validation:
        raise MserError("no validation speakers: every corpus needs at least two training speakers")
    return replace(split, name=f"{split.name}-{config.language}") if config.held_out else split


def refit_split(split: Split) -> Split:
    """``split`` with its validation speakers moved to training: every training speaker fits
    the model, the test speakers stay held out."""
    return Split(f"{split.name}-refit", split.train + split.validation, split.test)


def epochs_found(results: Sequence[TrainResult]) -> dict[str, int]:
    """The epochs the validation speakers chose in ``results`` (one training, or one per
    speaker fold): ``epochs``, the classifier's best epoch counted from 1, and
    ``sae_epochs``, the autoencoder's epoch of lowest validation loss, each rounded from
    the mean over ``results``. A model not trained by epochs has neither."""
    classifier = [r.best_epoch + 1 for r in results if r.best_epoch is not None]
    encoder = [int(np.argmin(r.history[SAE_VAL_LOSS])) + 1 for r in results if r.history.get(SAE_VAL_LOSS)]
    found = {}
    if classifier:
        found["epochs"] = max(1, int(round(float(np.mean(classifier)))))
    if encoder:
        found["sae_epochs"] = max(1, int(round(float(np.mean(encoder)))))
    return found


def _fit_classifier(spec, inputs: dict, labels: dict, meta_val, config: TrainConfig,
                    on_epoch: EpochCallback | None,
                    n_classes: int) -> tuple[object, dict[str, list[float]], int | None]:
    x_train, y_train = inputs["train"], labels["train"]
    if not spec.keras:
        estimator = spec.builder(**{"seed": config.seed, **config.classifier})
        weights = sample_weights(y_train, config.class_weighting)
        step = estimator.steps[-1][0]
        estimator.fit(x_train, y_train, **({f"{step}__sample_weight": weights} if weights is not None else {}))
        return estimator, {}, None
    from mser.models._keras import keras

    model = spec.builder(n_classes=n_classes, **classifier_shape_kwargs(spec, x_train), **config.classifier)
    reporter = _epoch_reporter()
    if meta_val is None:  # a refit: exactly config.epochs, nothing to stop on
        callbacks = [reporter("classifier", on_epoch, {"loss": LOSS})]
    else:
        callbacks = [reporter("classifier", on_epoch,
                                    {"loss": LOSS, TRAIN_KAPPA: TRAIN_KAPPA, VAL_KAPPA: VAL_KAPPA},
                                    kappa_data=(x_train, y_train, inputs["validation"], meta_val), vote=config.vote),
                     keras.callbacks.EarlyStopping(VAL_KAPPA, mode="max", patience=config.patience,
                                                   restore_best_weights=True)]
    fitted = model.fit(x_train, keras.utils.to_categorical(y_train, n_classes), epochs=config.epochs,
                       batch_size=config.batch_size, class_weight=class_weights(y_train, config.class_weighting),
                       callbacks=callbacks, verbose=0)
    history = {name: fitted.history[name] for name in (LOSS, TRAIN_KAPPA, VAL_KAPPA) if name in fitted.history}
    _check_finite({LOSS: history.get(LOSS, [])}, "classifier")
    best = int(np.argmax(history[VAL_KAPPA])) if history.get(VAL_KAPPA) else None
    return model, history, best


def train(dataset: Dataset, config: TrainConfig, *, split: Split | None = None,
          on_epoch: EpochCallback | None = None, encoder_cache=None, score_test: bool = True,
          probe_encoder: bool = False) -> TrainResult:
    """Train ``config.model`` on ``dataset`` and score it on validation (and test) speakers.

    Args:
        dataset: Prepared windows and features (see :func:`mser.dataset.load_dataset`), and
            the functionals a model on utterances reads.
        config: Model, language and training settings.
        split: Speakers per side; default :func:`make_split`. Without validation speakers
            (:func:`refit_split`) this is a refit: exactly ``config.epochs`` and
            ``config.sae_epochs``, no early stopping, no validation scores.
        on_epoch: Called after every epoch of the autoencoder and the classifier; it may stop
            the training by raising :class:`~mser.errors.TrainingStopped`.
        encoder_cache: An :class:`mser.encoders.EncoderCache` to reuse an encoder trained
            before for the same data, speakers and settings.
        score_test: Score the test speakers now. A search passes ``False`` and scores
            only its best trials once every choice is made (:func:`score_speakers`).
        probe_encoder: Measure a linear probe's validation kappa on the code after every
            autoencoder epoch (:data:`~mser.metrics.SAE_PROBE_KAPPA`, in the ``sae`` epochs'
            metrics), so a scheduler can judge an encoder while it trains. A cached encoder is
            loaded, not trained, so it has no probe.
    """
    spec = get_model(config.model)
    set_random_seed(spec, config.seed)
    family = spec.family
    data = dataset.for_languages(config.languages(dataset.languages))
    # The test speakers' data is checked now, before any training, and read only once trained
    # (for a held-out language, its own data only then).
    test_data = ((dataset.for_languages(config.test_languages(dataset.languages)) if config.held_out else data)
                 if score_test else None)
    split = split or make_split(data, config)
    data = family.training_data(data, config, split)  # e.g. augmented copies of the training speakers' audio
    examples = data.examples(family.unit)
    sides = ("train", "validation") if split.validation else ("train",)  # none to validate on in a refit
    rows = {side: split.indices(examples["speaker"].to_numpy(), side) for side in sides}
    rows["train"] = family.training_rows(examples, rows["train"], config)
    for side, index in rows.items():
        if len(index) == 0:
            raise MserError(f"no {side} {family.unit}s for language {config.language} under the split {split.name}")
    history: dict[str, list[float]] = {}
    seconds = {}
    started = time.perf_counter()
    labels = {side: examples["label"].to_numpy()[index] for side, index in rows.items()}
    meta = {side: examples.iloc[index].reset_index(drop=True) for side, index in rows.items()}
    probe = (labels["train"], meta["validation"]) if probe_encoder and split.validation else None
    pipeline = family.prepare(data, config, rows, split, history=history, on_epoch=on_epoch,
                              encoder_cache=encoder_cache, probe=probe)
    seconds["sae"] = time.perf_counter() - started
    inputs = {side: family.inputs(pipeline, data, index) for side, index in rows.items()}

    started = time.perf_counter()
    # The classifier's initial weights and shuffling must not depend on whether the encoder
    # was trained just now or loaded from the cache: the same configuration, the same result.
    set_random_seed(spec, config.seed)
    pipeline.classifier, clf_history, best = _fit_classifier(spec, inputs, labels, meta.get("validation"),
                                                             config, on_epoch, len(data.emotions))
    history.update(clf_history)
    seconds["classifier"] = time.perf_counter() - started
    validation = (evaluate(pipeline.probabilities(inputs["validation"]), meta["validation"], vote=config.vote,
                           emotions=pipeline.emotions) if "validation" in inputs else None)
    test = score_speakers(pipeline, test_data, split.test) if test_data is not None else None
    return TrainResult(config, split, pipeline, history, best, validation, test, seconds)


def dataset_inputs(pipeline: EmotionPipeline, data: Dataset, index: np.ndarray) -> np.ndarray:
    """The classifier's inputs for the examples at ``index`` of ``data.examples(unit)``, as the
    pipeline's model family makes them (:meth:`mser.families.Family.inputs`)."""
    return pipeline.spec.family.inputs(pipeline, data, index)


def score_speakers(pipeline: EmotionPipeline, dataset: Dataset, speakers: Sequence[str]) -> Evaluation:
    """Score a trained pipeline on the windows of ``speakers`` (e.g. the test speakers, once)."""
    examples = dataset.examples(pipeline.spec.unit)
    rows = np.flatnonzero(np.isin(examples["speaker"].to_numpy(), list(speakers)))
    if len(rows) == 0:
        raise MserError(f"no {pipeline.spec.unit}s of speakers {', '.join(speakers)} in the dataset")
    if tuple(dataset.emotions) != tuple(pipeline.emotions):
        raise MserError(f"the model's labels ({', '.join(pipeline.emotions)}) are not the dataset's "
                        f"({', '.join(dataset.emotions)}): prepare the data with the model's --emotions")
    probabilities = pipeline.probabilities(dataset_inputs(pipeline, dataset, rows))
    return evaluate(probabilities, examples.iloc[rows].reset_index(drop=True), vote=pipeline.vote,
                    emotions=pipeline.emotions)
