"""The integer tables that decide anonlink's Dice acceptance exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import InvalidInputError
from linkage.match import dice_rule
from linkage.match._dice import NO_COUNT, dice_scores, score_ranks

pytestmark = pytest.mark.unit

AWKWARD_THRESHOLDS = [0.0, 1e-9, 0.1, 1 / 3, 0.5, 2 / 3, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0]


@pytest.mark.parametrize("threshold", AWKWARD_THRESHOLDS)
def test_min_count_is_the_least_count_whose_double_score_passes(threshold: float) -> None:
    rule = dice_rule(threshold, 128)
    for total in range(1, 2 * 128 + 1):
        passing = [c for c in range(total + 1) if (2 * c) / float(total) >= threshold]
        expected = passing[0] if passing else NO_COUNT
        assert rule.min_count[total] == expected, total
    assert rule.min_count[0] == (0 if threshold <= 0 else NO_COUNT)


@pytest.mark.parametrize("threshold", AWKWARD_THRESHOLDS)
def test_max_delta_is_anonliks_truncated_window(threshold: float) -> None:
    rule = dice_rule(threshold, 256)
    for pa in range(257):
        if threshold <= 0:
            assert rule.max_delta[pa] == 256
        else:
            assert rule.max_delta[pa] == math.trunc(2 * pa * (1 / threshold - 1)) & 0xFFFFFFFF


@given(
    threshold=st.floats(0.0, 1.0),
    pa=st.integers(0, 192),
    pb=st.integers(0, 192),
    data=st.data(),
)
@settings(max_examples=300, deadline=None)
def test_feasible_bounds_contain_every_accepted_pair(
    threshold: float, pa: int, pb: int, data: st.DataObject
) -> None:
    rule = dice_rule(threshold, 192)
    count = data.draw(st.integers(0, min(pa, pb)))
    if rule.accepts(pa, pb, count):
        assert rule.low[pa] <= pb <= rule.high[pa]
        assert rule.low_as_right[pb] <= pa <= rule.high_as_right[pb]


def test_scores_are_anonliks_and_zero_for_an_empty_left_filter() -> None:
    scores = dice_scores(np.array([3, 0, 0]), np.array([4, 0, 5]), np.array([4, 7, 0]))
    assert scores.tolist() == [0.75, 0.0, 0.0]


@pytest.mark.parametrize("threshold", [-0.1, 1.01, float("nan"), float("inf")])
def test_thresholds_outside_zero_one_are_rejected(threshold: float) -> None:
    with pytest.raises(InvalidInputError, match="threshold"):
        dice_rule(threshold, 64)


def test_lengths_must_be_multiples_of_64() -> None:
    with pytest.raises(InvalidInputError):
        dice_rule(0.8, 100)


@pytest.mark.parametrize("threshold", AWKWARD_THRESHOLDS)
def test_count_floor_is_a_monotone_lower_bound_of_min_count(threshold: float) -> None:
    rule = dice_rule(threshold, 64)
    assert np.all(np.diff(rule.count_floor) >= 0)
    assert np.all(rule.count_floor <= rule.min_count)


@pytest.mark.parametrize("threshold", [0.0, 0.5, 2 / 3, 0.8])
def test_score_ranks_order_scores_exactly(threshold: float) -> None:
    ranks = score_ranks(threshold, 128)
    rule = dice_rule(threshold, 128)
    rng = np.random.default_rng(int(threshold * 100))
    pa = rng.integers(0, 129, 4000)
    pb = rng.integers(0, 129, 4000)
    counts = (rng.random(4000) * np.minimum(pa, pb)).astype(np.int64)
    accepted = np.array(
        [rule.accepts(int(a), int(b), int(c)) for a, b, c in zip(pa, pb, counts, strict=True)]
    )
    pa, pb, counts = pa[accepted], pb[accepted], counts[accepted]
    assert pa.shape[0] > 50
    sums = pa + pb
    rank = ranks.ranks[ranks.offsets[sums] - ranks.first[sums] + counts]
    scores = dice_scores(counts, pa, pb)
    assert np.array_equal(ranks.values[rank], scores)
    order = np.argsort(rank, kind="stable")
    assert np.all(np.diff(scores[order]) <= 0)
    assert np.all(np.diff(ranks.values) < 0)  # distinct scores, best first
