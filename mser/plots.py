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
    """Training curves per epoch: autoencoder reconstruction, classifier loss, and kappa.

    Each panel has its own scale (reconstruction errors are a thousand times smaller
    than classification losses); the restored best epoch is marked on the kappa panel.
    """
    panels = [
        ("autoencoder reconstruction (MSE)", {k: v for k, v in history.items() if k.startswith("sae_")}, True),
        ("classifier loss", {k: v for k, v in history.items() if k == "loss"}, False),
        ("Cohen's kappa", {k: v for k, v in history.items() if "kappa" in k}, False),
    ]
    panels = [panel for panel in panels if any(len(v) for v in panel[1].values())]
    figure, axes_list = plt.subplots(1, max(len(panels), 1), figsize=(4.2 * max(len(panels), 1), 3.4),
                                     dpi=110, squeeze=False)
    for axes, (label, series, log_scale) in zip(axes_list[0], panels):
        for name, values in series.items():
            axes.plot(range(1, len(values) + 1), values, marker="." if len(values) < 30 else None, label=name)
        axes.set_xlabel("epoch")
        axes.set_title(label, fontsize=9)
        axes.xaxis.get_major_locator().set_params(integer=True)
        if log_scale:
            axes.set_yscale("log")
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
        if best_epoch is not None and "kappa" in label:
            axes.axvline(best_epoch + 1, color="grey", linestyle="--", linewidth=1, label="restored")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
