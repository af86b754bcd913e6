import numpy as np
import pandas as pd
import pytest

from mser.metrics import class_weights, evaluate, kappa, kappas, per_utterance, sample_weights


def test_class_weights_modes():
    labels = np.array([0, 0, 0, 1])
    balanced = class_weights(labels, "balanced")
    assert balanced == pytest.approx({0: 4 / 6, 1: 2.0})
    assert class_weights(labels, "sqrt") == pytest.approx({0: np.sqrt(4 / 6), 1: np.sqrt(2.0)})
    assert class_weights(labels, "none") is None
    assert sample_weights(labels, "balanced") == pytest.approx([4 / 6] * 3 + [2.0])
    with pytest.raises(ValueError, match="unknown class weighting"):
        class_weights(labels, "inverse")


def test_kappa_is_scikit_learns_one_sequence_or_many_at_once():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(0)
    cases = [(rng.integers(0, k, n), rng.integers(0, k, n)) for k in (2, 3, 7) for n in (1, 2, 5, 40, 300)]
    truth = rng.integers(0, 7, 300)
    cases += [(truth, truth), (truth, np.where(rng.random(300) < 0.6, truth, rng.integers(0, 7, 300))),
              (np.full(9, 4), np.arange(9) % 5), (np.array([2, 2]), np.array([2, 2]))]
    for truth, predicted in cases:
        top = max(truth.max(), predicted.max())
        expected = cohen_kappa_score(truth, predicted, labels=np.arange(max(2, top + 1)), replace_undefined_by=0.0)
        assert kappa(truth, predicted) == pytest.approx(expected, abs=1e-12)
    truth, predicted = rng.integers(0, 5, (50, 200)), rng.integers(0, 5, (50, 200))
    each = [kappa(t, p) for t, p in zip(truth, predicted)]
    assert np.allclose(kappas(truth, predicted), each)
    assert np.allclose(kappas(truth.T, predicted.T, axis=0), each)
    assert kappas(np.zeros((3, 0), int), np.zeros((3, 0), int)).tolist() == [0.0, 0.0, 0.0]


def test_kappa_of_a_constant_prediction_is_chance():
    assert kappa(np.array([0, 1, 2]), np.array([0, 0, 0])) == 0.0
    assert kappa(np.array([1, 1]), np.array([1, 1])) == 0.0


def test_utterance_pooling():
    probabilities = np.array([[0.6, 0.4], [0.0, 1.0], [0.9, 0.1], [1.0, 0.0]])
    probabilities = np.pad(probabilities, ((0, 0), (0, 4)))
    ids, truth, mean = per_utterance(probabilities, np.array(["a", "a", "b", "b"]), np.array([1, 1, 0, 0]))
    assert list(ids) == ["a", "b"] and list(truth) == [1, 0] and list(mean) == [1, 0]
    _, _, majority = per_utterance(probabilities, np.array(["a", "a", "a", "b"]), np.array([1, 1, 1, 0]),
                                   vote="majority")
    assert list(majority) == [0, 0]


def test_evaluate_per_window_utterance_and_language():
    meta = pd.DataFrame({"utterance": ["a", "a", "b", "c", "d"], "language": ["it", "it", "it", "de", "de"],
                         "label": [0, 0, 1, 2, 3]})
    probabilities = np.eye(6)[[0, 1, 1, 2, 2]]
    result = evaluate(probabilities, meta)
    assert result.windows["accuracy"] == pytest.approx(0.6)
    assert result.utterances["accuracy"] == pytest.approx(0.75)
    assert result.confusion.shape == (6, 6) and result.confusion.sum() == 4
    assert set(result.languages) == {"it", "de"} and result.languages["it"]["accuracy"] == 1.0


def test_a_nan_loss_is_a_divergence_with_a_hint():
    from mser.train import TrainingDiverged, _check_finite

    _check_finite({"loss": [2.0, 1.5]}, "classifier")
    with pytest.raises(TrainingDiverged, match="classifier loss became nan at epoch 2: try a lower learning rate"):
        _check_finite({"loss": [2.0, float("nan")]}, "classifier")
