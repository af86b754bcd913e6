"""Calibrated SVM probabilities on small corpora."""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV


class FoldsByRarestClass(CalibratedClassifierCV):
    """Platt scaling by stratified cross-validation with at most ``cv`` folds, fewer when the
    rarest class has fewer training examples (a small corpus's three training speakers with
    one utterance of each emotion give 3 folds, where 5 would refuse to fit)."""

    def fit(self, X, y, sample_weight=None, **params):
        counts = np.bincount(np.asarray(y))
        rarest = int(counts[counts > 0].min())
        if rarest < 2:
            raise ValueError("the SVM's probabilities are calibrated by cross-validation, which needs at least 2 "
                             "training examples of every emotion; one emotion has 1")
        requested = self.cv
        self.cv = min(requested, rarest)
        try:
            return super().fit(X, y, sample_weight=sample_weight, **params)
        finally:
            self.cv = requested
