"""Uncertainty of test scores: bootstrap intervals over test utterances and paired comparisons.

Test sets of held-out speakers are small (a few hundred utterances), so a kappa is
reported with a 95% bootstrap interval, and two models scored on the same utterances
are compared pairwise: the kappa difference with a paired bootstrap interval, and
McNemar's exact test on which utterances each got right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from mser.metrics import kappa, kappas

DEFAULT_RESAMPLES = 2000


def kappa_interval(truth: np.ndarray, predicted: np.ndarray, *, confidence: float = 0.95,
                   resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of Cohen's kappa, resampling utterances."""
    result = stats.bootstrap((np.asarray(truth), np.asarray(predicted)), kappas, paired=True, vectorized=True,
                             n_resamples=resamples, confidence_level=confidence, method="percentile",
                             random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def kappa_with_interval(predictions: pd.DataFrame, *, resamples: int = DEFAULT_RESAMPLES) -> dict:
    """A predictions table's (``label``, ``predicted``) kappa, its bootstrap interval and size."""
    truth, predicted = predictions["label"].to_numpy(), predictions["predicted"].to_numpy()
    low, high = kappa_interval(truth, predicted, resamples=resamples)
    return {"kappa": kappa(truth, predicted), "low": low, "high": high, "n": len(predictions)}


@dataclass(frozen=True)
class PairedComparison:
    """Model A against model B on the same utterances."""

    n: int
    kappa_a: float
    kappa_b: float
    difference: float
    interval: tuple[float, float]
    only_a_right: int
    only_b_right: int
    mcnemar_p: float

    def significant(self, *, alpha: float = 0.05) -> bool:
        """McNemar's test rejects equal accuracy and the kappa interval excludes 0."""
        low, high = self.interval
        return self.mcnemar_p < alpha and (low > 0 or high < 0)

    def verdict(self, *, alpha: float = 0.05) -> str:
        """One sentence: whether A beats B, and how sure that is."""
        low, high = self.interval
        sign = "higher" if self.difference > 0 else "lower" if self.difference < 0 else "equal"
        significant = self.significant(alpha=alpha)
        return (f"kappa {self.kappa_a:.3f} vs {self.kappa_b:.3f} on the same {self.n} test utterances: "
                f"{abs(self.difference):.3f} {sign} (95% paired bootstrap interval {low:+.3f} to {high:+.3f}; "
                f"McNemar exact p = {self.mcnemar_p:.3g}, {self.only_a_right} utterances right only by the first, "
                f"{self.only_b_right} only by the second): "
                + ("a significant difference at the 5% level." if significant
                   else "not a significant difference at the 5% level."))


def compare_paired(truth: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray, *,
                   resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> PairedComparison:
    """Compare two models' predictions of the same utterances (same order)."""
    truth, a, b = (np.asarray(x) for x in (truth, predicted_a, predicted_b))
    if not (len(truth) == len(a) == len(b)) or len(truth) < 2:
        raise ValueError(f"paired predictions need the same utterances: got {len(truth)}, {len(a)}, {len(b)}")
    result = stats.bootstrap((truth, a, b), _kappa_difference, paired=True, vectorized=True,
                             n_resamples=resamples, method="percentile",
                             random_state=np.random.default_rng(seed))
    right_a, right_b = a == truth, b == truth
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    p = stats.binomtest(only_a, only_a + only_b, 0.5).pvalue if only_a + only_b else 1.0
    kappa_a, kappa_b = kappa(truth, a), kappa(truth, b)
    return PairedComparison(len(truth), kappa_a, kappa_b, kappa_a - kappa_b,
                            (float(result.confidence_interval.low), float(result.confidence_interval.high)),
                            only_a, only_b, float(p))


def _kappa_difference(truth: np.ndarray, a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return kappas(truth, a, axis) - kappas(truth, b, axis)


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjustment of p-values for several comparisons (same order as given)."""
    order = np.argsort(pvalues, kind="stable")
    adjusted, running = np.empty(len(pvalues)), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(pvalues) - rank) * pvalues[index]))
        adjusted[index] = running
    return [float(p) for p in adjusted]
