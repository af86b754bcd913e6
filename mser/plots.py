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
    figure.colorbar(image, ax=axes, label="share of the predicted class", fraction=0.05, pad=0.03)
    # Fixed margins (the labels are always the six emotions): tight_layout measured every
    # tick label and cost a quarter of the figure's time, once per finished trial.
    figure.subplots_adjust(left=0.17, right=0.86, bottom=0.2, top=0.92)
    return figure


def transfer_figure(values: np.ndarray, *, rows: Sequence[str], columns: Sequence[str], title: str,
                    within: np.ndarray | None = None) -> Figure:
    """Kappa of each model (row: the languages it was trained on) on each language's test
    speakers (column), as a heatmap with the value in each cell; cells with no value (NaN)
    are left blank, and ``within`` (same shape, bool) outlines the within-language cells."""
    values = np.asarray(values, dtype=float)
    figure, axes = plt.subplots(figsize=(1.6 + 1.1 * len(columns), 1.4 + 0.55 * len(rows)), dpi=110)
    image = axes.imshow(np.ma.masked_invalid(values), cmap="RdYlGn", vmin=-0.2, vmax=0.8, aspect="auto")
    axes.set_xticks(range(len(columns)), columns)
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel("tested on (test speakers)")
    axes.set_ylabel("trained on")
    axes.set_title(title, fontsize=10)
    for (row, col), value in np.ndenumerate(values):
        if np.isfinite(value):
            axes.text(col, row, f"{value:.2f}", ha="center", va="center", fontsize=9)
        if within is not None and within[row, col]:
            axes.add_patch(plt.Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, linewidth=2, edgecolor="black"))
    figure.colorbar(image, ax=axes, label="Cohen's kappa", fraction=0.05, pad=0.03)
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
    figure.subplots_adjust(left=0.8 / figure.get_figwidth(), right=1 - 0.15 / figure.get_figwidth(),
                           bottom=0.15, top=0.84, wspace=0.28)  # fixed margins: see confusion_figure
    return figure


def importance_figure(importances: Mapping[str, float], *, title: str) -> Figure:
    """Horizontal bars of hyperparameter importance (shares summing to 1), largest on top."""
    names = sorted(importances, key=importances.get)
    figure, axes = plt.subplots(figsize=(6.0, 0.45 * len(names) + 1.2), dpi=110)
    axes.barh(names, [importances[n] for n in names], color="#3b75af")
    for row, name in enumerate(names):
        axes.text(importances[name], row, f" {importances[name]:.2f}", va="center", fontsize=8)
    axes.set_xlim(0, max(1e-9, max(importances.values())) * 1.2)
    axes.set_xlabel("share of the validation kappa's variance (fANOVA)")
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure


def parallel_figure(values: Mapping[str, Sequence], scores: Sequence[float], *, title: str,
                    score_label: str = "validation kappa") -> Figure:
    """Parallel coordinates of trials: one line per trial through its hyperparameters, coloured
    by its score (best drawn last, thickest). Numbers are scaled to each axis's range
    (log axes where the values span a factor of 20 or more); categories sit at even steps."""
    scores = np.asarray(scores, dtype=float)
    axes_data, ticks = [], []
    for values_of_param in values.values():
        column = list(values_of_param)
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in column)
        if numeric:
            data = np.asarray(column, dtype=float)
            if data.min() > 0 and data.max() / data.min() >= 20:
                data = np.log10(data)
                label = lambda x: f"{10 ** x:.2g}"  # noqa: E731
            else:
                label = lambda x: f"{x:.3g}"  # noqa: E731
            low, high = data.min(), data.max()
            span = high - low if high > low else 1.0
            axes_data.append((data - low) / span)
            ticks.append([(0.0, label(low)), (1.0, label(high))] if high > low else [(0.0, label(low))])
        else:
            categories = sorted({str(v) for v in column})
            position = {c: i / max(1, len(categories) - 1) for i, c in enumerate(categories)}
            axes_data.append(np.array([position[str(v)] for v in column]))
            ticks.append([(position[c], c) for c in categories])
    axes_data.append((scores - scores.min()) / (np.ptp(scores) or 1.0))
    ticks.append([(0.0, f"{scores.min():.3f}"), (1.0, f"{scores.max():.3f}")])
    names = [*values, score_label]
    matrix = np.column_stack(axes_data)
    figure, axes = plt.subplots(figsize=(max(7.0, 1.25 * len(names)), 4.2), dpi=110)
    colours = plt.get_cmap("viridis")
    norm = (scores - scores.min()) / (np.ptp(scores) or 1.0)
    for index in np.argsort(scores):
        best = index == np.argmax(scores)
        axes.plot(range(len(names)), matrix[index], color=colours(norm[index]), alpha=0.95 if best else 0.55,
                  linewidth=2.6 if best else 1.0, zorder=3 if best else 2)
    for column, column_ticks in enumerate(ticks):
        axes.axvline(column, color="grey", linewidth=0.8, zorder=1)
        for y, text in column_ticks:
            axes.text(column + 0.04, y, text, fontsize=7, va="center")
    axes.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
    axes.set_yticks([])
    axes.set_xlim(-0.2, len(names) - 0.5)
    axes.set_title(title, fontsize=10)
    figure.colorbar(plt.cm.ScalarMappable(cmap=colours, norm=plt.Normalize(scores.min(), scores.max())),
                    ax=axes, label=score_label)
    figure.tight_layout()
    return figure
