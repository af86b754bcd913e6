"""Bootstrap intervals and the paired comparison on labels with known answers."""

import numpy as np
import pytest

from mser.metrics import kappa
from mser.stats import compare_paired, kappa_interval


def _labels(n=300, seed=0):
    return np.random.default_rng(seed).integers(0, 6, n)


def _noisy(truth, wrong_share, seed):
    rng = np.random.default_rng(seed)
    predicted = truth.copy()
    wrong = rng.random(len(truth)) < wrong_share
    predicted[wrong] = (truth[wrong] + rng.integers(1, 6, wrong.sum())) % 6
    return predicted


def test_the_interval_holds_the_estimate_and_narrows_with_more_utterances():
    truth = _labels(600)
    predicted = _noisy(truth, 0.5, seed=1)
    low, high = kappa_interval(truth, predicted, resamples=500)
    assert low < kappa(truth, predicted) < high
    small_low, small_high = kappa_interval(truth[:60], predicted[:60], resamples=500)
    assert small_high - small_low > high - low
    assert kappa_interval(truth, predicted, resamples=500) == (low, high)  # seeded


def test_a_clearly_better_model_is_significant_and_a_copy_is_not():
    truth = _labels(400)
    good, poor = _noisy(truth, 0.2, seed=2), _noisy(truth, 0.7, seed=3)
    better = compare_paired(truth, good, poor, resamples=500)
    assert better.difference == pytest.approx(kappa(truth, good) - kappa(truth, poor))
    assert better.interval[0] > 0 and better.mcnemar_p < 1e-6 and better.only_a_right > better.only_b_right
    assert "a significant difference" in better.verdict()
    same = compare_paired(truth, good, good, resamples=200)
    assert same.difference == 0 and same.mcnemar_p == 1.0 and same.only_a_right == same.only_b_right == 0
    assert "not a significant difference" in same.verdict()
    with pytest.raises(ValueError, match="same utterances"):
        compare_paired(truth, good[:-1], poor)
