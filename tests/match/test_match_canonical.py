"""Pairs in the canonical order and anonlink's top-k rule (linkage.match._canonical)."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.match._canonical import (
    canonical_order,
    canonical_pairs,
    enforce_k,
    pairs_from_sorted_positions,
)
from linkage.match._dice import dice_rule
from linkage.match._reference import _enforce_k
from linkage.match._results import CandidatePairs

pytestmark = pytest.mark.unit


def test_canonical_order_is_score_desc_then_left_then_right() -> None:
    pairs = canonical_order(
        np.array([0.5, 0.9, 0.5, 0.9, 0.5]),
        np.array([2, 1, 0, 1, 0], dtype=np.int64),
        np.array([0, 3, 4, 2, 1], dtype=np.int64),
    )
    assert pairs.as_tuples() == [(0.9, 1, 2), (0.9, 1, 3), (0.5, 0, 1), (0.5, 0, 4), (0.5, 2, 0)]


def random_accepted(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random popcounts and some pairs a kernel would accept at 0.5 (counts, in any order)."""
    rng = np.random.default_rng(seed)
    left_pop = rng.integers(20, 60, size=30).astype(np.int64)
    right_pop = rng.integers(20, 60, size=40).astype(np.int64)
    left, right = np.meshgrid(np.arange(30), np.arange(40), indexing="ij")
    left, right = left.ravel().astype(np.int64), right.ravel().astype(np.int64)
    counts = np.minimum(left_pop[left], right_pop[right]) - rng.integers(0, 3, size=left.size)
    accepted = counts >= dice_rule(0.5, 64).min_count[left_pop[left] + right_pop[right]]
    keep = accepted & (rng.random(left.size) < 0.5)
    return counts[keep], left[keep], right[keep], left_pop, right_pop


@pytest.mark.parametrize("wide", [False, True])
def test_canonical_pairs_score_like_anonlink_in_canonical_order(wide: bool) -> None:
    counts, left, right, left_pop, right_pop = random_accepted(0)
    # A huge n_right makes the packed key too wide: the three-key sort must agree.
    n_right = 2**60 if wide else right_pop.shape[0]
    got = canonical_pairs(counts, left.copy(), right.copy(), left_pop, right_pop, 0.5, 64, n_right)
    scores = 2.0 * counts / (left_pop[left] + right_pop[right])
    expected = sorted(zip((-scores).tolist(), left.tolist(), right.tolist(), strict=True))
    assert got.left.tolist() == [e[1] for e in expected]
    assert got.right.tolist() == [e[2] for e in expected]
    assert got.scores.tolist() == pytest.approx([-e[0] for e in expected], abs=0)


def test_pairs_from_sorted_positions_maps_rows_and_orients_self_pairs() -> None:
    rule = dice_rule(0.0, 64)
    pop = np.array([10, 10, 10], dtype=np.int64)
    order = np.array([2, 0, 1], dtype=np.int64)  # sorted position -> original row
    i = np.array([0, 1], dtype=np.int32)
    j = np.array([1, 2], dtype=np.int32)
    c = np.array([5, 10], dtype=np.int32)
    pairs = pairs_from_sorted_positions(i, j, c, order, order, pop, pop, rule, self_join=True)
    assert pairs.as_tuples() == [(1.0, 0, 1), (0.5, 0, 2)]
    pairs = pairs_from_sorted_positions(i, j, c, order, order, pop, pop, rule, self_join=False)
    assert pairs.as_tuples() == [(1.0, 0, 1), (0.5, 2, 0)]


def test_enforce_k_counts_rejected_pairs_as_seen() -> None:
    pairs = CandidatePairs(
        np.array([0.9, 0.8, 0.7, 0.6]),
        np.array([0, 0, 1, 1], dtype=np.int64),
        np.array([0, 1, 0, 1], dtype=np.int64),
    )
    # (1, 1) is rejected: left 1 was seen by the rejected (1, 0).
    assert enforce_k(pairs, 1).as_tuples() == [(0.9, 0, 0)]
    assert enforce_k(pairs, 2).as_tuples() == pairs.as_tuples()
    assert len(enforce_k(CandidatePairs.empty(), 1)) == 0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_enforce_k_equals_the_reference(k: int) -> None:
    rng = np.random.default_rng(k)
    left = rng.integers(0, 8, size=60).astype(np.int64)
    right = rng.integers(0, 8, size=60).astype(np.int64)
    pairs = canonical_order(rng.random(60), left, right)
    assert enforce_k(pairs, k).as_tuples() == _enforce_k(pairs.as_tuples(), k)
