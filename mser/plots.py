"""Pictures of results: confusion matrices and training curves (matplotlib, no display needed)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mser.corpora import EMOTIONS  # noqa: E402


def confusion_figure(matrix: np.ndarray, *, title: str, labels: Sequence[str] = EMOTIONS) -> Figure:
    """Confusion matrix normalised per predicted class, as in the paper, with counts in each cell.

    Colour is the share of each prediction that was truly each emotion (columns sum to
    1); the count of utterances is written in each cell.
    """
    matrix = np.asarray(matrix)
    totals = matrix.sum(axis=0, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    figure, axes = plt.subplots(figsize=(5.4, 4.6), dpi=110)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(labels)), labels, rotation=40, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title, fontsize=10)
    for (row, col), count in np.ndenumerate(matrix):
        axes.text(col, row, f"{count}", ha="center", va="center", fontsize=8,
                  color="white" if shares[row, col] > 0.6 else "black")
    figure.colorbar(image, ax=axes, label="share of the predicted class")
    figure.tight_layout()
    return figure


def curves_figure(history: Mapping[str, Sequence[float]], *, title: str, best_epoch: int | None = None) -> Figure:
    """Loss and kappa per epoch side by side; the restored best epoch marked."""
    losses = {k: v for k, v in history.items() if "loss" in k and len(v)}
    kappas = {k: v for k, v in history.items() if "kappa" in k and len(v)}
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    for axes, series, label in ((left, losses, "loss"), (right, kappas, "Cohen's kappa")):
        for name, values in series.items():
            axes.plot(range(1, len(values) + 1), values, label=name)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        if series:
            axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    if best_epoch is not None:
        right.axvline(best_epoch + 1, color="grey", linestyle="--", linewidth=1)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
