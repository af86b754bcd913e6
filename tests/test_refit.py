"""The refit on every training speaker: epochs found by the choice, exact speakers, no validation (fast, tiny)."""

from types import SimpleNamespace

import numpy as np
import pytest

from mser.metrics import SAE_VAL_LOSS
from mser.train import epochs_found


def _result(best_epoch, sae_val_loss=None):
    history = {SAE_VAL_LOSS: sae_val_loss} if sae_val_loss else {}
    return SimpleNamespace(best_epoch=best_epoch, history=history)


def test_epochs_found_are_the_best_epochs_counted_from_one_and_averaged_over_folds():
    assert epochs_found([_result(4, [0.9, 0.5, 0.7])]) == {"epochs": 5, "sae_epochs": 2}
    assert epochs_found([_result(0), _result(3), _result(5)]) == {"epochs": 4}  # (1 + 4 + 6) / 3 rounds to 4
    assert epochs_found([_result(None)]) == {}  # an SVM has no epochs


@pytest.mark.slow
def test_a_refit_trains_exactly_the_epochs_found_on_every_training_speaker(tiny_demo, tmp_path):
    from mser.dataset import load_dataset
    from mser.train import TrainConfig, make_split, refit_split, train

    dataset = load_dataset(tiny_demo, cache_dir=tmp_path / "cache")
    config = TrainConfig(model="sae_cnn", language="de", sae_epochs=2, epochs=6, patience=3, seed=2)
    chosen = train(dataset, config, score_test=False)
    found = chosen.epochs_found()
    assert set(found) == {"epochs", "sae_epochs"}
    epochs = []
    split = refit_split(make_split(dataset, config))
    refit = train(dataset, TrainConfig(**{**config.__dict__, **found}), split=split,
                  on_epoch=lambda stage, epoch, values: epochs.append((stage, epoch, set(values))))
    assert refit.is_refit and refit.validation is None and refit.best_epoch is None
    assert set(refit.split.train) == set(chosen.split.train) | set(chosen.split.validation)
    assert refit.split.test == chosen.split.test and not set(refit.split.train) & set(refit.split.test)
    assert [e for s, e, _ in epochs if s == "classifier"] == list(range(found["epochs"]))  # no early stop
    assert [e for s, e, _ in epochs if s == "sae"] == list(range(found["sae_epochs"]))
    assert all("val_kappa" not in names and "sae_val_loss" not in names for _, _, names in epochs)
    metrics = refit.metrics()
    assert "test_kappa" in metrics and not any(name.startswith("val_") for name in metrics)
    assert np.isfinite(metrics["test_kappa"])
