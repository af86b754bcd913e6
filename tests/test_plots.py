import numpy as np

from mser.plots import confusion_figure, curves_figure


def test_curves_get_one_panel_per_scale():
    history = {"sae_loss": [1e-3, 8e-4], "sae_val_loss": [9e-4, 7e-4], "loss": [2.0, 1.5, 1.2],
               "train_kappa": [0.1, 0.3, 0.4], "val_kappa": [0.05, 0.2, 0.15]}
    figure = curves_figure(history, title="t", best_epoch=1)
    titles = [axes.get_title() for axes in figure.axes]
    assert titles == ["autoencoder reconstruction (MSE)", "classifier loss", "Cohen's kappa"]
    assert figure.axes[0].get_yscale() == "log"
    assert len(curves_figure({"loss": [1.0]}, title="t").axes) == 1


def test_confusion_counts_are_written_and_columns_normalised():
    matrix = np.diag([3, 1, 0, 2, 4, 5])
    matrix[0, 1] = 1
    figure = confusion_figure(matrix, title="m")
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert len(texts) == 36 and texts[1] == "1"
    shares = figure.axes[0].images[0].get_array()
    assert np.allclose(shares[:, 1].sum(), 1.0)


def test_importance_and_parallel_coordinates_draw_every_parameter(tmp_path):
    from mser.plots import importance_figure, parallel_figure

    figure = importance_figure({"sae.depth": 0.6, "classifier.dropout": 0.3, "class_weighting": 0.1}, title="t")
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["class_weighting", "classifier.dropout",
                                                                         "sae.depth"]
    figure.savefig(tmp_path / "importance.png")
    figure = parallel_figure({"lr": [1e-4, 1e-3, 1e-2], "depth": [2, 3, 4], "weighting": ["none", "sqrt", "none"]},
                             [0.1, 0.3, 0.2], title="trials")
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["lr", "depth", "weighting", "validation kappa"]
    assert len(axes.lines) == 3 + 4  # a line per trial and an axis per parameter and score
    assert max(line.get_linewidth() for line in axes.lines[:3]) > 2  # the best trial stands out
    figure.savefig(tmp_path / "parallel.png")
