"""Classifiers on the code, the features, or both (paper, sections 5.1, 5.2 and 6).

Keras builders return compiled models whose output is one score per emotion; sklearn
builders return unfitted estimators with ``predict_proba``. Every hyperparameter is a
keyword with the paper's value as its default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mser.corpora import EMOTIONS

if TYPE_CHECKING:  # imported by the builders, so that naming the models imports neither (seconds each)
    from sklearn.pipeline import Pipeline

    from mser.models._keras import keras

N_CLASSES = len(EMOTIONS)


def _check(**sizes: float) -> None:
    bad = {name: value for name, value in sizes.items() if value < 1}
    if bad:
        raise ValueError(f"sizes must be at least 1, got {bad}")


def _head(x, n_classes: int, dropout: float, output_activation: str):
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    from mser.models._keras import layers

    x = layers.Flatten(name="flatten")(x)
    return layers.Dense(n_classes, activation=output_activation, name="emotion")(x)


def _compile(model: keras.Model, optimizer: str, learning_rate: float) -> keras.Model:
    from mser.models._keras import compile_model

    # categorical_crossentropy normalises the scores, so the paper's sigmoid output trains too.
    return compile_model(model, optimizer, learning_rate, "categorical_crossentropy")


def build_code_cnn(
    *,
    input_length: int = 2000,
    n_classes: int = N_CLASSES,
    filters: int = 16,
    kernel: int = 100,
    stride: int = 10,
    dropout: float = 0.5,
    pool: int = 3,
    output_activation: str = "sigmoid",
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
) -> keras.Model:
    """1-D CNN on the flattened code (paper 6.2): Conv1D, Dropout, MaxPool, Dense."""
    from mser.models._keras import keras, layers

    _check(filters=filters, kernel=kernel, stride=stride, pool=pool)
    if kernel > input_length:
        raise ValueError(f"kernel {kernel} is longer than the code ({input_length} values)")
    inputs = keras.Input((input_length, 1), name="code")
    x = layers.Conv1D(filters, kernel, strides=stride, activation="relu", name="conv")(inputs)
    x = layers.Dropout(dropout, name="drop")(x)
    x = layers.MaxPooling1D(pool, padding="same", name="pool")(x)
    model = keras.Model(inputs, _head(x, n_classes, dropout, output_activation), name="code_cnn")
    return _compile(model, optimizer, learning_rate)


def build_matrix_cnn(
    *,
    input_shape: tuple[int, int] = (166, 16),
    n_classes: int = N_CLASSES,
    filters: int = 16,
    kernel: int = 3,
    stride: int = 1,
    dropout: float = 0.5,
    pool: int = 3,
    output_activation: str = "sigmoid",
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
) -> keras.Model:
    """2-D CNN on a rows x frames matrix: code + features stacked (166 x 16, paper 6.2.2)
    or the features alone (41 x 16, paper 5.2)."""
    from mser.models._keras import keras, layers

    _check(filters=filters, kernel=kernel, stride=stride, pool=pool)
    inputs = keras.Input((*input_shape, 1), name="matrix")
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", activation="relu", name="conv")(inputs)
    x = layers.Dropout(dropout, name="drop")(x)
    x = layers.MaxPooling2D(pool, padding="same", name="pool")(x)
    model = keras.Model(inputs, _head(x, n_classes, dropout, output_activation), name="matrix_cnn")
    return _compile(model, optimizer, learning_rate)


def build_dnn(
    *,
    input_shape: tuple[int, int] = (41, 16),
    n_classes: int = N_CLASSES,
    units: int = 128,
    layers_count: int = 2,
    dropout: float = 0.3,
    output_activation: str = "softmax",
    optimizer: str = "adam",
    learning_rate: float = 1e-3,
) -> keras.Model:
    """Dense network on the features (paper 5.1; its sizes are not given, these are ours)."""
    from mser.models._keras import keras, layers

    _check(units=units, layers_count=layers_count)
    inputs = keras.Input(input_shape, name="features")
    x = layers.Flatten(name="flat_in")(inputs)
    for i in range(layers_count):
        x = layers.Dense(max(units // 2**i, n_classes), activation="relu", name=f"dense{i}")(x)
        x = layers.Dropout(dropout, name=f"drop{i}")(x)
    model = keras.Model(inputs, _head(x, n_classes, dropout, output_activation), name="dnn")
    return _compile(model, optimizer, learning_rate)


SVM_KERNELS = ("rbf", "linear")


def build_svm(*, kernel: str = "rbf", C: float = 1.0, gamma: str | float = "scale", seed: int = 0) -> Pipeline:
    """Support vector machine (RBF, as the paper's 6.1, or linear) on standardised inputs, with
    calibrated probabilities (Platt scaling by cross-validation) for pooling windows per utterance."""
    if C <= 0:
        raise ValueError(f"C must be positive, got {C}")
    if kernel not in SVM_KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}: expected one of {', '.join(SVM_KERNELS)}")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from mser.models.calibration import FoldsByRarestClass

    svm = SVC(kernel=kernel, C=C, gamma=gamma, random_state=seed)
    return make_pipeline(StandardScaler(), FoldsByRarestClass(svm, ensemble=False, cv=5))


def build_logreg(*, C: float = 1.0, max_iter: int = 2000, seed: int = 0) -> Pipeline:
    """Multinomial logistic regression (L2, lbfgs) on standardised inputs."""
    if C <= 0:
        raise ValueError(f"C must be positive, got {C}")
    _check(max_iter=max_iter)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))


def build_mlp(
    *,
    units: int = 6,
    layers_count: int = 2,
    activation: str = "relu",
    alpha: float = 1e-4,
    learning_rate_init: float = 1e-3,
    max_iter: int = 200,
    seed: int = 0,
) -> Pipeline:
    """Multi-layer perceptron on the standardised code: two ReLU layers of 6, adam, 200 iterations."""
    _check(units=units, layers_count=layers_count, max_iter=max_iter)
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), MLPClassifier(
        hidden_layer_sizes=(units,) * layers_count, activation=activation, solver="adam", alpha=alpha,
        learning_rate_init=learning_rate_init, max_iter=max_iter, random_state=seed))


def __getattr__(name: str) -> Any:
    # Models logged before the calibration moved to its own module unpickle it from here.
    if name == "FoldsByRarestClass":
        from mser.models.calibration import FoldsByRarestClass

        return FoldsByRarestClass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
