"""Linkage quality against labels: precision, recall and F1 over thresholds, and
the confusion matrix at one threshold. Pure numpy, no I/O.

A pair is predicted a match at threshold ``t`` when its score is ``>= t``
(the matcher's rule). Labelled pairs may carry weights (a stratified
clerical-review sample stands for more pairs than it holds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linkage.errors import InvalidInputError
from linkage.types import Float64Array

__all__ = ["Confusion", "ThresholdSweep", "confusion_at", "threshold_sweep"]


@dataclass(frozen=True, slots=True)
class Confusion:
    """Pair counts at one threshold (weighted counts may be fractional)."""

    threshold: float
    true_positive: float
    false_positive: float
    false_negative: float
    true_negative: float

    @property
    def precision(self) -> float:
        predicted = self.true_positive + self.false_positive
        return self.true_positive / predicted if predicted else float("nan")

    @property
    def recall(self) -> float:
        actual = self.true_positive + self.false_negative
        return self.true_positive / actual if actual else float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else float("nan")


@dataclass(frozen=True, slots=True, eq=False)
class ThresholdSweep:
    """True and false positives at each threshold; ``positives`` is every true match."""

    thresholds: Float64Array
    true_positive: Float64Array
    false_positive: Float64Array
    positives: float
    pairs: float

    @property
    def precision(self) -> Float64Array:
        predicted = self.true_positive + self.false_positive
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(predicted > 0, self.true_positive / predicted, np.nan)

    @property
    def recall(self) -> Float64Array:
        if self.positives <= 0:
            return np.full(self.thresholds.shape, np.nan)
        return self.true_positive / self.positives

    @property
    def f1(self) -> Float64Array:
        p, r = self.precision, self.recall
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(p + r > 0, 2 * p * r / (p + r), np.nan)

    def best_f1(self) -> tuple[float, float] | None:
        """``(threshold, F1)`` where F1 is highest (the lowest such threshold), or None."""
        f1 = self.f1
        if not np.isfinite(f1).any():
            return None
        i = int(np.nanargmax(f1))
        return float(self.thresholds[i]), float(f1[i])


def threshold_sweep(
    scores: npt.ArrayLike,
    is_match: npt.ArrayLike,
    thresholds: npt.ArrayLike,
    *,
    weights: npt.ArrayLike | None = None,
    extra_positives: float = 0.0,
    pairs: float | None = None,
) -> ThresholdSweep:
    """Sweep thresholds over labelled, scored pairs.

    ``extra_positives`` counts true matches that are not among the scored
    pairs (they scored below every threshold, so they are always missed);
    ``pairs`` is the number of all pairs considered (for true negatives), the
    total weight of the scored pairs when omitted.
    """
    s = np.asarray(scores, dtype=np.float64)
    m = np.asarray(is_match, dtype=bool)
    w = np.ones_like(s) if weights is None else np.asarray(weights, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if not (s.ndim == m.ndim == w.ndim == t.ndim == 1 and s.shape == m.shape == w.shape):
        raise InvalidInputError("scores, labels and weights must be one-dimensional and equal")
    if extra_positives < 0:
        raise InvalidInputError("extra_positives must not be negative")
    order = np.argsort(-s, kind="stable")
    s, m, w = s[order], m[order], w[order]
    tp_cum = np.concatenate(([0.0], np.cumsum(np.where(m, w, 0.0))))
    fp_cum = np.concatenate(([0.0], np.cumsum(np.where(m, 0.0, w))))
    # Pairs with score >= t are a prefix of the descending order.
    taken = np.searchsorted(-s, -t, side="right")
    positives = float(w[m].sum()) + float(extra_positives)
    total = float(w.sum()) + float(extra_positives) if pairs is None else float(pairs)
    return ThresholdSweep(t.copy(), tp_cum[taken], fp_cum[taken], positives, total)


def confusion_at(sweep: ThresholdSweep, threshold: float) -> Confusion:
    """The confusion matrix at the swept threshold nearest to ``threshold``."""
    if sweep.thresholds.shape[0] == 0:
        raise InvalidInputError("the sweep has no thresholds")
    i = int(np.argmin(np.abs(sweep.thresholds - threshold)))
    tp = float(sweep.true_positive[i])
    fp = float(sweep.false_positive[i])
    fn = sweep.positives - tp
    tn = max(0.0, sweep.pairs - tp - fp - fn)
    return Confusion(float(sweep.thresholds[i]), tp, fp, fn, tn)
