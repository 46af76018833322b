"""The join sides' memory layouts (linkage.match._layout): padding, nibble split, transposed
groups, popcount order and the per-block popcount windows."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.match._dice import DiceRule, dice_rule
from linkage.match._kernels import CHUNK_WORDS, JOIN_KERNELS
from linkage.match._layout import (
    block_windows,
    left_layout,
    nibble_split,
    padded_words,
    prepare_sides,
    sorted_side,
    transpose_groups,
)
from linkage.match._packing import popcounts

pytestmark = pytest.mark.unit


def random_clks(n: int, words: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**63, size=(n, words), dtype=np.int64).astype(np.uint64) << np.uint64(1)


def test_padded_words_rounds_up_to_whole_chunks() -> None:
    assert padded_words(1) == CHUNK_WORDS
    assert padded_words(CHUNK_WORDS) == CHUNK_WORDS
    assert padded_words(CHUNK_WORDS + 1) == 2 * CHUNK_WORDS


def test_nibble_split_holds_low_then_high_nibbles_zero_padded() -> None:
    packed = random_clks(5, 3)
    out = nibble_split(packed, 4)
    width = padded_words(3)
    assert out.shape == (8, 2 * width)
    low, high = out[:5, :3], out[:5, width : width + 3]
    assert not ((low | high) & np.uint64(0xF0F0F0F0F0F0F0F0)).any()
    assert np.array_equal(low | (high << np.uint64(4)), packed)
    assert not out[5:].any()
    assert not out[:, 3:width].any()
    assert not out[:, width + 3 :].any()


def test_transpose_groups_is_group_word_lane() -> None:
    packed = random_clks(7, 2)
    out = transpose_groups(packed, 4)
    assert out.shape == (2, padded_words(2), 4)
    for record in range(7):
        for word in range(2):
            assert out[record // 4, word, record % 4] == packed[record, word]
    assert not out[:, 2:, :].any()
    assert not out[1, :, 3].any()  # record 7 is padding


def test_left_layout_follows_the_kernels() -> None:
    packed = random_clks(9, 2)
    nibble, portable = JOIN_KERNELS["nibble"], JOIN_KERNELS["portable"]
    assert np.array_equal(left_layout(packed, nibble), nibble_split(packed, nibble.rows))
    assert np.array_equal(left_layout(packed, portable), transpose_groups(packed, portable.rows))


def test_sorted_side_is_a_stable_popcount_order() -> None:
    pop = np.array([5, 3, 5, 1, 3], dtype=np.int64)
    order, pop_sorted = sorted_side(pop)
    assert order.tolist() == [3, 1, 4, 0, 2]
    assert pop_sorted.tolist() == [1, 3, 3, 5, 5]


def feasible(rule: DiceRule, pa: int, pb: int, either_role: bool) -> bool:
    inside = rule.low[pa] <= pb <= rule.high[pa]
    if either_role:
        inside = inside or rule.low_as_right[pa] <= pb <= rule.high_as_right[pa]
    return bool(inside)


@pytest.mark.parametrize("either_role", [False, True])
def test_block_windows_are_exact_per_row_and_cover_each_block(either_role: bool) -> None:
    rule = dice_rule(0.8, 64)
    rng = np.random.default_rng(1)
    _, pa = sorted_side(rng.integers(0, 65, size=40).astype(np.int64))
    _, pb = sorted_side(rng.integers(0, 65, size=50).astype(np.int64))
    # One row per block, one record per group: the window is exactly the feasible records.
    g0, g1 = block_windows(rule, pa, pb, either_role, 1, 1)
    for i in range(pa.shape[0]):
        expected = [j for j in range(pb.shape[0]) if feasible(rule, pa[i], pb[j], either_role)]
        assert list(range(g0[i], g1[i])) == expected
    # Blocks of 4 rows, groups of 8 records: every feasible record's group is visited.
    g0, g1 = block_windows(rule, pa, pb, either_role, 4, 8)
    assert g0.shape == (10,)
    for i in range(pa.shape[0]):
        for j in range(pb.shape[0]):
            if feasible(rule, pa[i], pb[j], either_role):
                assert g0[i // 4] <= j // 8 < g1[i // 4]


def test_prepare_sides_pads_the_popcounts_and_counts_visits() -> None:
    kernels = JOIN_KERNELS["portable"]
    rule = dice_rule(0.7, 128)
    a, b = random_clks(10, 2, seed=2), random_clks(7, 2, seed=3)
    order_a, pa = sorted_side(popcounts(a))
    order_b, pb = sorted_side(popcounts(b))
    sides = prepare_sides(kernels, rule, a[order_a], pa, order_a, b[order_b], pb, order_b, False)
    assert (sides.a_n, sides.b_n) == (10, 7)
    assert sides.a_pop.shape[0] % kernels.rows == 0
    assert sides.a_pop.shape[0] >= 10
    assert sides.b_pop.shape[0] == sides.bt.shape[0] * kernels.lanes
    assert np.array_equal(sides.a_pop[:10], pa)
    assert not sides.a_pop[10:].any()
    assert np.array_equal(sides.b_pop[:7], pb)
    assert not sides.b_pop[7:].any()
    assert np.array_equal(sides.a_rows, left_layout(a[order_a], kernels))
    g0, g1 = block_windows(rule, pa, pb, False, kernels.rows, kernels.lanes)
    assert np.array_equal(sides.block_g0, g0)
    assert np.array_equal(sides.block_g1, g1)
    assert sides.visited() == int((g1 - g0).sum()) * kernels.rows * kernels.lanes
