"""Threshold evidence: a weighted histogram of best-match scores and the valley
between its non-match and match modes. Pure numpy, no I/O."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linkage.errors import InvalidInputError
from linkage.types import Float64Array

__all__ = ["ScoreHistogram", "ThresholdSuggestion", "score_histogram", "suggest_threshold"]


@dataclass(frozen=True, slots=True, eq=False)
class ScoreHistogram:
    """Weighted counts of scores in equal bins from ``floor`` to 1.

    ``counts[i]`` counts scores in ``[edges[i], edges[i + 1])`` (the last bin
    includes 1.0). ``below_floor`` is the weight of records whose best match
    scored under the floor (or had none).
    """

    edges: Float64Array
    counts: Float64Array
    below_floor: float
    #: The weight one observation carries on average (``sum w^2 / sum w``): 1 for
    #: plain counts, more when each sampled record stands for several.
    unit: float = 1.0

    def __post_init__(self) -> None:
        if self.edges.ndim != 1 or self.counts.shape != (self.edges.shape[0] - 1,):
            raise InvalidInputError("a histogram needs one more edge than counts")

    @property
    def centers(self) -> Float64Array:
        """The middle of each bin."""
        return (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def width(self) -> float:
        """The width of one bin."""
        return float(self.edges[1] - self.edges[0])

    @property
    def total(self) -> float:
        """All weight, below the floor included."""
        return float(self.counts.sum()) + self.below_floor


def score_histogram(
    scores: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    floor: float = 0.5,
    bin_width: float = 0.01,
) -> ScoreHistogram:
    """Bin scores in ``[floor, 1]``; NaN or lower scores count as ``below_floor``."""
    if not 0.0 <= floor < 1.0:
        raise InvalidInputError("floor must be in [0, 1)")
    if not 0.0 < bin_width <= 0.1:
        raise InvalidInputError("bin_width must be in (0, 0.1]")
    values = np.asarray(scores, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    if values.shape != w.shape or values.ndim != 1:
        raise InvalidInputError("scores and weights must be one-dimensional and of equal length")
    bins = max(1, round((1.0 - floor) / bin_width))
    edges = np.linspace(floor, 1.0, bins + 1)
    inside = np.isfinite(values) & (values >= floor)
    index = np.minimum(((values[inside] - floor) / (1.0 - floor) * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, weights=w[inside], minlength=bins).astype(np.float64)
    total = float(w.sum())
    unit = float((w * w).sum()) / total if total > 0 else 1.0
    return ScoreHistogram(edges, counts, float(w[~inside].sum()), max(unit, 1e-12))


@dataclass(frozen=True, slots=True)
class ThresholdSuggestion:
    """The valley between the non-match mode and the match mode.

    ``depth`` is how far the valley falls below the lower of the two modes,
    as a fraction of that mode (1.0: the histogram is empty between them).
    """

    threshold: float
    non_match_mode: float
    match_mode: float
    depth: float


def _smooth(counts: Float64Array, sigma_bins: float) -> Float64Array:
    if sigma_bins <= 0:
        return counts.copy()
    radius = max(1, int(np.ceil(3 * sigma_bins)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (offsets / sigma_bins) ** 2)
    kernel /= kernel.sum()
    # Zero padding: mass continuing past the floor makes the left edge a mode,
    # which is what a non-match mode below the floor looks like.
    return np.convolve(counts, kernel, mode="same")


def _peaks(density: Float64Array) -> list[int]:
    """Local maxima; the ends count when they rise above their one neighbour."""
    n = density.shape[0]
    padded = np.concatenate(([-np.inf], density, [-np.inf]))
    return [
        i
        for i in range(n)
        if padded[i + 1] > 0 and padded[i + 1] >= padded[i] and padded[i + 1] > padded[i + 2]
    ]


def suggest_threshold(
    histogram: ScoreHistogram, *, smoothing: float = 0.015, min_depth: float = 0.3
) -> ThresholdSuggestion | None:
    """The score at the bottom of the valley between the match mode (the highest
    scoring mode) and the non-match mode (the biggest mode below it), or None
    when the smoothed histogram has no valley at least ``min_depth`` deep.

    Modes separated by a shallower dip, or by a dip within two standard
    deviations of counting noise (``2 * sqrt(count)``, in observations), are
    merged first (the higher one stands for both), so sparse tails and sampling
    noise do not make valleys.
    """
    if not 0.0 < min_depth <= 1.0:
        raise InvalidInputError("min_depth must be in (0, 1]")
    density = _smooth(histogram.counts, smoothing / histogram.width)
    peaks = _peaks(density)
    merged = True
    while merged and len(peaks) > 1:
        merged = False
        for left, right in itertools.pairwise(peaks):
            low = float(density[left : right + 1].min())
            smaller = float(min(density[left], density[right]))
            dip = smaller - low
            noise = 2.0 * np.sqrt(smaller * histogram.unit)
            if dip / smaller < min_depth or dip < noise:
                peaks.remove(left if density[left] < density[right] else right)
                merged = True
                break
    if len(peaks) < 2:
        return None
    match_mode = peaks[-1]
    non_match_mode = max(peaks[:-1], key=lambda p: (density[p], p))
    between = density[non_match_mode : match_mode + 1]
    low = float(between.min())
    # The middle of the flat bottom, if the valley has one.
    bottom = np.flatnonzero(between <= low + 1e-12 * max(1.0, float(between.max())))
    valley = non_match_mode + int(bottom[len(bottom) // 2])
    smaller = float(min(density[non_match_mode], density[match_mode]))
    centers = histogram.centers
    return ThresholdSuggestion(
        threshold=round(float(centers[valley]), 4),
        non_match_mode=round(float(centers[non_match_mode]), 4),
        match_mode=round(float(centers[match_mode]), 4),
        depth=(smaller - low) / smaller,
    )
