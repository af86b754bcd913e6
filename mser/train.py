"""Train one model on training speakers and judge it on held-out speakers.

``train(dataset, config) -> TrainResult`` reads top to bottom: choose the languages,
split speakers (validation drawn from training speakers), keep at most
``max_windows_per_utterance`` evenly spread training windows of each file (so one very
long file cannot dominate), fit the scalers on training speakers, train the autoencoder
(for a model on utterance functionals: take their statistics instead), train the
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

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Mapping, Sequence

import numpy as np

from mser.corpora import JOINT, check_study_language, held_out_language, language_order
from mser.dataset import MAX_UTTERANCE_WINDOWS, WINDOW_UNIT, Dataset, capped_rows
from mser.errors import MserError, TrainingStopped
from mser.functionals import FunctionalsParams
from mser.metrics import (
    CLASS_WEIGHTINGS,
    LOSS,
    SAE_LOSS,
    SAE_PROBE_KAPPA,
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
from mser.models import build_autoencoder, classifier_shape_kwargs, get_model
from mser.models._keras import keras
from mser.pipeline import EmotionPipeline, Standardizer, classifier_probabilities, keras_predict
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
        if get_model(self.model).uses_functionals:
            FunctionalsParams(**self.functionals)  # refuses an unknown set or normalisation
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
        if self.held_out:
            return tuple(language for language in language_order(available) if language != self.held_out)
        return language_order(available) if self.language == JOINT else (self.language,)

    def test_languages(self, available: Sequence[str]) -> tuple[str, ...]:
        """The languages of the test speakers, out of the data's ``available`` ones."""
        return (self.held_out,) if self.held_out else self.languages(available)


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
        per_window = not get_model(self.config.model).uses_functionals
        return {name: value for side, result in (("val", self.validation), ("test", self.test)) if result is not None
                for name, value in result.metrics(side, per_window=per_window).items()}


class _EpochReporter(keras.callbacks.Callback):
    """Adds kappa on training and validation windows to the logs, then reports the epoch."""

    def __init__(self, stage: str, on_epoch: EpochCallback | None, names: Mapping[str, str],
                 kappa_data: tuple | None = None, vote: str = "mean") -> None:
        super().__init__()
        self.stage, self.on_epoch, self.names, self.kappa_data, self.vote = stage, on_epoch, names, kappa_data, vote

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs if logs is not None else {}
        if self.kappa_data is not None:
            train_x, train_y, val_x, val_meta = self.kappa_data
            logs[TRAIN_KAPPA] = kappa(train_y, classifier_probabilities(self.model, train_x).argmax(axis=1))
            logs[VAL_KAPPA] = utterance_kappa(classifier_probabilities(self.model, val_x), val_meta, vote=self.vote)
        values = {ours: float(logs[theirs]) for theirs, ours in self.names.items() if theirs in logs}
        if not all(np.isfinite(v) for v in values.values()):
            self.model.stop_training = True
        if self.on_epoch:
            self.on_epoch(self.stage, epoch, values)


class _CodeProbe(keras.callbacks.Callback):
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


def train_autoencoder(windows_train: np.ndarray, windows_val: np.ndarray | None, config: TrainConfig,
                      on_epoch: EpochCallback | None = None, probe: tuple | None = None,
                      ) -> tuple[keras.Model, dict[str, list[float]]]:
    """Fit the autoencoder on scaled training windows; early stopping on validation reconstruction.

    With ``probe = (train labels, validation meta)`` (one per window), each epoch also
    measures :data:`~mser.metrics.SAE_PROBE_KAPPA`, the validation speakers' utterance kappa
    of a linear probe fitted on the code of the training windows (see :class:`_CodeProbe`):
    what a search may judge an encoder by before any classifier is trained on it.

    Without ``windows_val`` (a refit) it trains for exactly ``config.sae_epochs``.
    """
    autoencoder, encoder = build_autoencoder(input_length=windows_train.shape[1], **config.sae)
    names = {"loss": SAE_LOSS, "val_loss": SAE_VAL_LOSS}
    callbacks = [_EpochReporter("sae", on_epoch, names)]
    if windows_val is not None:
        callbacks.append(keras.callbacks.EarlyStopping("val_loss", patience=config.patience,
                                                       restore_best_weights=True))
    if probe is not None and windows_val is not None:
        names[SAE_PROBE_KAPPA] = SAE_PROBE_KAPPA
        callbacks.insert(0, _CodeProbe(encoder, windows_train, probe[0], windows_val, probe[1], config))
    fitted = autoencoder.fit(
        windows_train[..., None], windows_train[..., None],
        validation_data=None if windows_val is None else (windows_val[..., None], windows_val[..., None]),
        epochs=config.sae_epochs, batch_size=config.batch_size, verbose=0, callbacks=callbacks,
    )
    history = {name: fitted.history[theirs] for theirs, name in (("loss", SAE_LOSS), ("val_loss", SAE_VAL_LOSS))
               if theirs in fitted.history}
    _check_finite(history, "autoencoder")
    return encoder, history


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
    model = spec.builder(n_classes=n_classes, **classifier_shape_kwargs(spec, x_train), **config.classifier)
    if meta_val is None:  # a refit: exactly config.epochs, nothing to stop on
        callbacks = [_EpochReporter("classifier", on_epoch, {"loss": LOSS})]
    else:
        callbacks = [_EpochReporter("classifier", on_epoch,
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


def encoder_material(dataset: Dataset, split: Split, config: TrainConfig, input_length: int) -> dict:
    """Everything that determines a trained encoder: the cache key's contents."""
    return {"dataset": dataset.key, "train": sorted(split.train), "validation": sorted(split.validation),
            "sae": dict(sorted(config.sae.items())), "input_length": input_length,
            "sae_epochs": config.sae_epochs, "batch_size": config.batch_size, "patience": config.patience,
            "max_windows_per_utterance": config.max_windows_per_utterance, "seed": config.seed}


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
    keras.utils.set_random_seed(config.seed)
    spec = get_model(config.model)
    data = dataset.for_languages(config.languages(dataset.languages))
    # The test speakers' data is checked now, before any training, and read only once trained
    # (for a held-out language, its own data only then).
    test_data = ((dataset.for_languages(config.test_languages(dataset.languages)) if config.held_out else data)
                 if score_test else None)
    split = split or make_split(data, config)
    examples = data.examples(spec.unit)
    sides = ("train", "validation") if split.validation else ("train",)  # none to validate on in a refit
    rows = {side: split.indices(examples["speaker"].to_numpy(), side) for side in sides}
    if spec.unit == WINDOW_UNIT:
        rows["train"] = capped_rows(examples, rows["train"], config.max_windows_per_utterance)
    for side, index in rows.items():
        if len(index) == 0:
            raise MserError(f"no {side} {spec.unit}s for language {config.language} under the split {split.name}")
    history: dict[str, list[float]] = {}
    seconds = {}
    started = time.perf_counter()
    labels = {side: examples["label"].to_numpy()[index] for side, index in rows.items()}
    meta = {side: examples.iloc[index].reset_index(drop=True) for side, index in rows.items()}
    prepare = _prepare_utterances if spec.uses_functionals else _prepare_windows
    pipeline = prepare(data, config, rows, split, history, on_epoch, encoder_cache,
                       probe=(labels["train"], meta["validation"]) if probe_encoder and split.validation else None)
    seconds["sae"] = time.perf_counter() - started
    inputs = {side: dataset_inputs(pipeline, data, index) for side, index in rows.items()}

    started = time.perf_counter()
    # The classifier's initial weights and shuffling must not depend on whether the encoder
    # was trained just now or loaded from the cache: the same configuration, the same result.
    keras.utils.set_random_seed(config.seed)
    pipeline.classifier, clf_history, best = _fit_classifier(spec, inputs, labels, meta.get("validation"),
                                                             config, on_epoch, len(data.emotions))
    history.update(clf_history)
    seconds["classifier"] = time.perf_counter() - started
    validation = (evaluate(pipeline.probabilities(inputs["validation"]), meta["validation"], vote=config.vote,
                           emotions=pipeline.emotions) if "validation" in inputs else None)
    test = score_speakers(pipeline, test_data, split.test) if test_data is not None else None
    return TrainResult(config, split, pipeline, history, best, validation, test, seconds)


def _prepare_windows(data: Dataset, config: TrainConfig, rows: dict, split: Split, history: dict,
                     on_epoch: EpochCallback | None, encoder_cache, probe: tuple | None = None) -> EmotionPipeline:
    """A window pipeline fitted on the training speakers: scaler, encoder (trained or cached,
    with ``probe`` as :func:`train_autoencoder` takes it), the code's and features' standardisers."""
    spec = get_model(config.model)
    train_windows = np.asarray(data.windows[rows["train"]])
    pipeline = EmotionPipeline(config.model, data.params,
                               (float(train_windows.min()), float(train_windows.max())), None, None, None,
                               config.vote, emotions=data.emotions)
    if spec.uses_code:
        def fit_encoder(reporter=on_epoch):
            scaled = {side: pipeline.scale_windows(data.windows[index]) for side, index in rows.items()}
            return train_autoencoder(scaled["train"], scaled.get("validation"), config, reporter, probe)

        if encoder_cache is None:
            encoder, sae_history = fit_encoder()
        else:
            material = encoder_material(data, split, config, train_windows.shape[1])
            replaying = probe is not None and on_epoch is not None
            encoder, sae_history, _ = encoder_cache.get_or_train(
                material, (lambda: _fit_replaying(fit_encoder, encoder_cache, material, on_epoch)) if replaying
                else fit_encoder)
        history.update(sae_history)
        pipeline.encoder = encoder
        if spec.keras:  # SVM and MLP standardise the flat code in their own sklearn pipeline
            pipeline.code_standardizer = Standardizer.fit(pipeline.encode(train_windows), axis=2)
    if spec.uses_features:
        pipeline.standardizer = Standardizer.fit(data.features[rows["train"]], axis=1)
    return pipeline


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


def _prepare_utterances(data: Dataset, config: TrainConfig, rows: dict, split: Split, history: dict,
                        on_epoch: EpochCallback | None, encoder_cache, probe: tuple | None = None) -> EmotionPipeline:
    """An utterance pipeline: the functionals' settings and the training speakers' statistics
    (no encoder, so nothing to ``probe``)."""
    params = FunctionalsParams(**config.functionals)
    values = data.functional_values(params.feature_set)
    return EmotionPipeline(config.model, data.params, (0.0, 1.0), Standardizer.fit(values[rows["train"]], axis=1),
                           None, None, config.vote, functionals=params, emotions=data.emotions)


def dataset_inputs(pipeline: EmotionPipeline, data: Dataset, index: np.ndarray) -> np.ndarray:
    """The classifier's inputs for the examples at ``index`` of ``data.examples(unit)``.

    Utterances under ``speaker`` normalisation are standardised with the statistics of
    their speaker's utterances in ``data``, whatever ``index`` selects, so a speaker's
    inputs are the same on every side and in every call.
    """
    if pipeline.functionals is None:
        return pipeline.inputs(np.asarray(data.windows[index]), np.asarray(data.features[index]))
    values = data.functional_values(pipeline.functionals.feature_set)
    speakers = data.utterances["speaker"].to_numpy()
    if pipeline.functionals.normalisation == "global":
        return pipeline.utterance_inputs(values[index])
    wanted = np.isin(speakers, np.unique(speakers[index]))
    inputs = np.zeros((len(speakers), values.shape[1]), dtype=np.float32)
    inputs[wanted] = pipeline.utterance_inputs(values[wanted], speakers[wanted])
    return inputs[index]


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
