"""Threshold evidence: the weighted histogram and the valley between the modes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import InvalidInputError
from linkage.report import score_histogram, suggest_threshold

pytestmark = pytest.mark.unit


def _mixture(
    rng: np.random.Generator, n: int, low: float, high: float, share_high: float
) -> np.ndarray:
    high_n = int(n * share_high)
    scores = np.concatenate([rng.normal(low, 0.045, n - high_n), rng.normal(high, 0.03, high_n)])
    clipped: np.ndarray = np.clip(scores, 0.0, 1.0)
    return clipped


def _mixture_valley(low: float, high: float, share_high: float) -> float:
    """Where the true mixture density is lowest between its two means (fine grid)."""
    x = np.linspace(low, high, 20001)
    density = (1 - share_high) / 0.045 * np.exp(-0.5 * ((x - low) / 0.045) ** 2)
    density += share_high / 0.03 * np.exp(-0.5 * ((x - high) / 0.03) ** 2)
    return float(x[np.argmin(density)])


def test_histogram_bins_weights_and_counts_the_rest_below_the_floor() -> None:
    hist = score_histogram(
        [0.2, np.nan, 0.5, 0.555, 0.999, 1.0], [1, 2, 3, 4, 5, 6], floor=0.5, bin_width=0.05
    )
    assert hist.edges[0] == 0.5
    assert hist.edges[-1] == 1.0
    assert hist.counts.shape == (10,)
    assert hist.counts[0] == 3  # 0.5 is in the first bin
    assert hist.counts[1] == 4
    assert hist.counts[-1] == 11  # 0.999 and 1.0 share the last bin
    assert hist.below_floor == 3  # 0.2 and the NaN (no match at all)
    assert hist.total == 21


@pytest.mark.parametrize(
    ("low", "high", "share_high"), [(0.55, 0.93, 0.3), (0.6, 0.9, 0.5), (0.5, 0.95, 0.1)]
)
def test_the_suggestion_is_the_valley_of_a_two_mode_mixture(
    low: float, high: float, share_high: float
) -> None:
    scores = _mixture(np.random.default_rng(1), 200_000, low, high, share_high)
    suggestion = suggest_threshold(score_histogram(scores, floor=0.3))
    assert suggestion is not None
    assert suggestion.threshold == pytest.approx(_mixture_valley(low, high, share_high), abs=0.02)
    assert suggestion.non_match_mode == pytest.approx(low, abs=0.02)
    assert suggestion.match_mode == pytest.approx(high, abs=0.02)
    assert 0.3 <= suggestion.depth <= 1.0


def test_one_mode_has_no_valley() -> None:
    scores = np.clip(np.random.default_rng(2).normal(0.7, 0.05, 50_000), 0, 1)
    assert suggest_threshold(score_histogram(scores, floor=0.3)) is None


def test_an_empty_histogram_has_no_valley() -> None:
    assert suggest_threshold(score_histogram(np.array([np.nan, 0.1]), floor=0.5)) is None


def test_a_non_match_mode_below_the_floor_still_gives_a_valley() -> None:
    """Mass running off the left edge is a mode too (the floor cuts the hump)."""
    scores = _mixture(np.random.default_rng(3), 100_000, 0.45, 0.92, 0.3)
    suggestion = suggest_threshold(score_histogram(scores, floor=0.5))
    assert suggestion is not None
    assert 0.6 < suggestion.threshold < 0.85
    assert suggestion.non_match_mode < 0.55


def test_noise_does_not_make_valleys() -> None:
    """Bumps shallower than min_depth merge into one mode."""
    rng = np.random.default_rng(4)
    scores = np.clip(rng.normal(0.7, 0.06, 3_000), 0, 1)
    assert suggest_threshold(score_histogram(scores, floor=0.3), smoothing=0.005) is None


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        score_histogram([0.5], floor=1.0)
    with pytest.raises(InvalidInputError):
        score_histogram([0.5], [1.0, 2.0])
    with pytest.raises(InvalidInputError):
        suggest_threshold(score_histogram([0.5]), min_depth=0)


@settings(max_examples=40, deadline=None)
@given(
    low=st.floats(0.45, 0.65),
    gap=st.floats(0.25, 0.4),
    share=st.floats(0.05, 0.6),
    seed=st.integers(0, 1000),
)
def test_a_suggested_threshold_lies_between_its_modes_and_at_the_lowest_point(
    low: float, gap: float, share: float, seed: int
) -> None:
    high = min(0.97, low + gap)
    hist = score_histogram(_mixture(np.random.default_rng(seed), 20_000, low, high, share))
    suggestion = suggest_threshold(hist)
    assert suggestion is not None
    assert suggestion.non_match_mode < suggestion.threshold < suggestion.match_mode
    assert hist.edges[0] <= suggestion.threshold <= 1.0


def test_weights_count_as_the_observations_they_stand_for() -> None:
    """Three sampled records standing for 50 each are as uncertain as three, not 150."""
    rng = np.random.default_rng(5)
    hump = np.clip(rng.normal(0.6, 0.04, 20), 0, 1)
    bump = np.array([0.95, 0.95, 0.955])
    scores = np.concatenate([hump, bump])
    sampled = score_histogram(scores, np.full(scores.size, 50.0), floor=0.3)
    plain = score_histogram(np.repeat(scores, 50), floor=0.3)
    assert sampled.unit == pytest.approx(50.0)
    assert plain.unit == pytest.approx(1.0)
    assert np.allclose(sampled.counts, plain.counts)
    assert sampled.total == pytest.approx(plain.total) == pytest.approx(1150)
    assert suggest_threshold(plain) is not None
    assert suggest_threshold(sampled) is None
