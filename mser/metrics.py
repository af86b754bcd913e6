"""Scores on held-out speakers: Cohen's kappa, unweighted average recall, accuracy, confusion.

Metric names are defined once here and used by training, tracking and search alike.
Scores are computed per window and per utterance (the windows of one file averaged
or voted), overall and per language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # scikit-learn and pandas are imported where used: naming a metric costs nothing
    import pandas as pd

from mser.corpora import EMOTIONS

KAPPA = "kappa"
UAR = "uar"
ACCURACY = "accuracy"
VAL_KAPPA = "val_kappa"
TEST_KAPPA = "test_kappa"
TRAIN_KAPPA = "train_kappa"
LOSS = "loss"
VAL_LOSS = "val_loss"
SAE_LOSS = "sae_loss"
SAE_VAL_LOSS = "sae_val_loss"
#: Validation kappa of a linear probe on the autoencoder's code after an encoder epoch
#: (:func:`mser.families.windows.train_autoencoder`): how well the code separates emotions so far.
SAE_PROBE_KAPPA = "sae_probe_kappa"


def per_language(metric: str, language: str) -> str:
    """The name of ``metric`` on one language's utterances: ``val_kappa_it``, ``test_uar_de``..."""
    return f"{metric}_{language}"


#: Class weighting modes for training.
CLASS_WEIGHTINGS = ("none", "balanced", "sqrt")
#: How an utterance's window scores become one prediction.
VOTES = ("mean", "majority")


def class_weights(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    """Per-class weights from ``compute_class_weight('balanced')``, their square root, or none."""
    if mode not in CLASS_WEIGHTINGS:
        raise ValueError(f"unknown class weighting {mode!r}: expected one of {', '.join(CLASS_WEIGHTINGS)}")
    if mode == "none":
        return None
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    if mode == "sqrt":
        weights = np.sqrt(weights)
    return {int(c): float(w) for c, w in zip(present, weights)}


def sample_weights(labels: np.ndarray, mode: str) -> np.ndarray | None:
    """The class weight of each sample, for estimators that take ``sample_weight``."""
    weights = class_weights(labels, mode)
    return None if weights is None else np.array([weights[int(y)] for y in labels])


def kappa(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Cohen's kappa; 0.0 (chance) where it is undefined, e.g. a single class on both sides.
    (Classes on neither side change nothing: kappa is taken over the classes present.)"""
    return float(kappas(truth, predicted))


def kappas(truth: np.ndarray, predicted: np.ndarray, axis: int = -1) -> np.ndarray:
    """Cohen's kappa of many label sequences at once, along ``axis`` (e.g. every bootstrap
    resample of a test set in one call); the same values as scikit-learn's ``cohen_kappa_score``
    (a test checks), about a thousand times faster per sequence than calling it in a loop, whose
    input validation costs milliseconds each time.

    Args:
        truth: Class indices (0, 1, ...), broadcastable against ``predicted``.
        predicted: Class indices, the same length along ``axis``.
    """
    truth, predicted = np.broadcast_arrays(np.moveaxis(np.asarray(truth, dtype=np.int64), axis, -1),
                                           np.moveaxis(np.asarray(predicted, dtype=np.int64), axis, -1))
    batch, n = truth.shape[:-1], truth.shape[-1]
    if n == 0:
        return np.zeros(batch)
    classes = max(2, int(max(truth.max(), predicted.max())) + 1)
    truth, predicted = truth.reshape(-1, n), predicted.reshape(-1, n)
    rows = len(truth)
    cells = (np.arange(rows)[:, None] * classes + truth) * classes + predicted
    confusion = np.bincount(cells.ravel(), minlength=rows * classes * classes).reshape(rows, classes, classes)
    observed = np.trace(confusion, axis1=1, axis2=2) / n
    expected = np.einsum("ij,ij->i", confusion.sum(axis=2), confusion.sum(axis=1)) / (n * n)
    chance = 1.0 - expected
    value = np.divide(observed - expected, chance, out=np.zeros(rows), where=chance > 0)
    return value.reshape(batch)


def scores(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Kappa, UAR and accuracy of predicted labels."""
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    return {KAPPA: kappa(truth, predicted), UAR: float(balanced_accuracy_score(truth, predicted)),
            ACCURACY: float(accuracy_score(truth, predicted))}


def probability_column(emotion: str) -> str:
    """The column of an emotion's probability, in predictions tables and a served model's answer: ``p_angry``."""
    return f"p_{emotion}"


def per_utterance(probabilities: np.ndarray, utterances: np.ndarray, labels: np.ndarray,
                  *, vote: str = "mean") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool window scores into one prediction per utterance.

    Returns:
        ``(utterance ids, true labels, predicted labels)`` in first-seen order.
    """
    ids, truth, pooled = pooled_probabilities(probabilities, utterances, labels, vote=vote)
    return ids, truth, pooled.argmax(axis=1)


def pooled_probabilities(probabilities: np.ndarray, utterances: np.ndarray, labels: np.ndarray,
                         *, vote: str = "mean") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pool window probabilities into one row per utterance: their mean, or with ``vote =
    "majority"`` the share of the utterance's windows that voted for each emotion (a tie goes
    to the emotion listed first, as ``argmax`` breaks it).

    Returns:
        ``(utterance ids, true labels, probabilities)`` in first-seen order.
    """
    if vote not in VOTES:
        raise ValueError(f"unknown vote {vote!r}: expected one of {', '.join(VOTES)}")
    import pandas as pd

    classes = probabilities.shape[1]
    frame = pd.DataFrame(probabilities if vote == "mean" else np.eye(classes)[probabilities.argmax(axis=1)])
    frame["utterance"], frame["label"] = utterances, labels
    grouped = frame.groupby("utterance", sort=False)
    pooled = grouped[list(range(classes))].mean().to_numpy()
    return grouped["label"].first().index.to_numpy(), grouped["label"].first().to_numpy(), pooled


def utterance_kappa(probabilities: np.ndarray, meta: pd.DataFrame, *, vote: str = "mean") -> float:
    """Per-utterance kappa alone: what :func:`evaluate` reports as ``utterances["kappa"]``,
    without the other scores, for scoring every epoch."""
    _, truth, predicted = per_utterance(probabilities, meta["utterance"].to_numpy(), meta["label"].to_numpy(),
                                        vote=vote)
    return kappa(truth, predicted)


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one side of a split.

    Attributes:
        windows: Kappa, UAR, accuracy per window.
        utterances: The same per utterance.
        confusion: Utterance-level confusion matrix, rows true, columns predicted.
        languages: Utterance-level scores per language.
        predictions: One row per utterance: utterance, language, true and predicted label, and the
            probability of each emotion (:func:`probability_column`; pooled over its windows).
        emotions: The label set, naming the confusion matrix's rows and columns.
    """

    windows: dict[str, float]
    utterances: dict[str, float]
    confusion: np.ndarray
    languages: dict[str, dict[str, float]]
    predictions: pd.DataFrame
    emotions: tuple[str, ...] = EMOTIONS

    def metrics(self, prefix: str, *, per_window: bool = True) -> dict[str, float]:
        """The scores as flat metric names, the one place they are built: ``val_kappa``,
        ``test_uar``, ``test_window_kappa`` (with ``per_window``), and per language when there
        are several (``test_kappa_de``), for a side's ``prefix`` (``val``, ``test``)."""
        flat = {f"{prefix}_{name}": value for name, value in self.utterances.items()}
        if per_window:
            flat.update({f"{prefix}_window_{name}": value for name, value in self.windows.items()})
        if len(self.languages) > 1:
            flat.update({per_language(f"{prefix}_{name}", language): value
                         for language, values in self.languages.items() for name, value in values.items()})
        return flat


def evaluate(probabilities: np.ndarray, meta: pd.DataFrame, *, vote: str = "mean",
             emotions: tuple[str, ...] = EMOTIONS) -> Evaluation:
    """Score window probabilities (one column per emotion of ``emotions``) against ``meta``
    (one row per window: utterance, language, label)."""
    import pandas as pd
    from sklearn.metrics import confusion_matrix

    labels = meta["label"].to_numpy()
    window_scores = scores(labels, probabilities.argmax(axis=1))
    ids, truth, pooled = pooled_probabilities(probabilities, meta["utterance"].to_numpy(), labels, vote=vote)
    predicted = pooled.argmax(axis=1)
    language = meta.groupby("utterance", sort=False)["language"].first().loc[ids].to_numpy()
    predictions = pd.DataFrame({"utterance": ids, "language": language, "label": truth, "predicted": predicted,
                                **{probability_column(e): pooled[:, i].round(6) for i, e in enumerate(emotions)}})
    languages = {
        lang: scores(part["label"].to_numpy(), part["predicted"].to_numpy())
        for lang, part in predictions.groupby("language")
    }
    return Evaluation(window_scores, scores(truth, predicted),
                      confusion_matrix(truth, predicted, labels=np.arange(len(emotions))), languages, predictions,
                      tuple(emotions))
