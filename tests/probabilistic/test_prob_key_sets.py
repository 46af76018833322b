"""Key segments in the matcher: agreement on any shared key (``key_set_agreement``, inside
``segment_dice`` and its numpy twin) and exact blocking on any shared key (``ExactRule``),
each checked against a pair-by-pair brute force with Python sets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyed_helpers import KEYED_LAYOUT, brute_exact, keyed_records, shares_key

from linkage.errors import ConfigError
from linkage.probabilistic import (
    BlockingRules,
    ExactRule,
    SegmentLayout,
    SegmentRange,
    segment_dice,
    segment_dice_reference,
)
from linkage.probabilistic._similarity import key_set_agreement

pytestmark = pytest.mark.unit

U = np.uint64


def _agreement(a: list[list[int]], b: list[list[int]]) -> list[float]:
    out = key_set_agreement(np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64))
    return [float(x) for x in out]


def _expected_agreement(a: np.ndarray, b: np.ndarray) -> float:
    if not a.any() or not b.any():
        return float("nan")
    return 1.0 if shares_key(a, b) else 0.0


# -- key_set_agreement ---------------------------------------------------------------------


def test_one_shared_key_is_full_agreement() -> None:
    assert _agreement([[5, 7, 0]], [[7, 9, 0]]) == [1.0]
    assert _agreement([[5, 7, 9]], [[1, 2, 9]]) == [1.0]


def test_no_shared_key_is_disagreement() -> None:
    assert _agreement([[5, 7, 0]], [[6, 8, 9]]) == [0.0]


def test_zero_padding_is_never_a_shared_key() -> None:
    # both sides pad with zeros in the same columns; that is no agreement
    assert _agreement([[5, 0, 0]], [[6, 0, 0]]) == [0.0]


def test_a_side_without_keys_is_missing() -> None:
    out = _agreement([[0, 0, 0], [5, 0, 0], [0, 0, 0]], [[5, 0, 0], [0, 0, 0], [0, 0, 0]])
    assert all(np.isnan(out))


def test_agreement_is_row_by_row() -> None:
    out = _agreement([[1, 2, 0], [3, 0, 0], [4, 0, 0]], [[2, 0, 0], [4, 0, 0], [0, 0, 0]])
    assert out[:2] == [1.0, 0.0]
    assert np.isnan(out[2])


_words = st.lists(st.integers(0, 6), min_size=3, max_size=3)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_words, _words), min_size=1, max_size=20))
def test_key_set_agreement_equals_set_intersection(rows: list[tuple[list[int], list[int]]]) -> None:
    a = np.array([r[0] for r in rows], dtype=np.uint64)
    b = np.array([r[1] for r in rows], dtype=np.uint64)
    out = key_set_agreement(a, b)
    expected = [_expected_agreement(a[i], b[i]) for i in range(len(rows))]
    assert np.array_equal(out, np.array(expected), equal_nan=True)


# -- segment_dice on key segments ------------------------------------------------------------


def _pairs(n: int, seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=count), rng.integers(0, n, size=count)


@pytest.mark.parametrize(("records", "pairs"), [(60, 500), (300, 5000)])
def test_segment_dice_scores_key_segments_by_shared_keys(records: int, pairs: int) -> None:
    left = keyed_records(records, 1)
    right = keyed_records(records, 2)
    li, ri = _pairs(records, 3, pairs)
    sims = segment_dice(left, right, li, ri, KEYED_LAYOUT)
    for name in KEYED_LAYOUT.key_sets:
        part = KEYED_LAYOUT.part(name)
        column = KEYED_LAYOUT.index(name)
        expected = [
            _expected_agreement(
                left[i, part.start_word : part.stop_word],
                right[j, part.start_word : part.stop_word],
            )
            for i, j in zip(li.tolist(), ri.tolist(), strict=True)
        ]
        assert np.array_equal(sims[:, column], np.array(expected), equal_nan=True)
        # every case occurs: agreement, disagreement and missing
        values = sims[:, column]
        assert (values == 1.0).any()
        assert (values == 0.0).any()
        assert np.isnan(values).any()


@pytest.mark.parametrize(("records", "pairs"), [(60, 500), (300, 5000)])
def test_segment_dice_equals_its_reference_with_key_segments(records: int, pairs: int) -> None:
    packed = keyed_records(records, 4)
    li, ri = _pairs(records, 5, pairs)
    fast = segment_dice(packed, packed, li, ri, KEYED_LAYOUT)
    slow = segment_dice_reference(packed, packed, li, ri, KEYED_LAYOUT)
    assert np.array_equal(fast, slow, equal_nan=True)
    # columns by name: a permutation is written in place, a subset selected
    names = KEYED_LAYOUT.names
    for chosen in (names[::-1], names[1:], names[:1] * 2):
        by_name = segment_dice(packed, packed, li, ri, KEYED_LAYOUT, chosen)
        expected = slow[:, [KEYED_LAYOUT.index(name) for name in chosen]]
        assert by_name.flags.c_contiguous
        assert np.array_equal(by_name, expected, equal_nan=True)
    assert segment_dice(packed, packed, li[:0], ri[:0], KEYED_LAYOUT, names[1:]).shape == (
        0,
        len(names) - 1,
    )


def test_key_agreement_is_not_the_dice_of_the_words() -> None:
    packed = np.zeros((2, KEYED_LAYOUT.total_words), dtype=np.uint64)
    packed[:, 0] = 1
    packed[:, 1] = [3, 3]
    packed[0, 2:5] = [U(5), U(7), U(0)]
    packed[1, 2:5] = [U(7), U(0), U(0)]
    sims = segment_dice(packed, packed, np.array([0]), np.array([1]), KEYED_LAYOUT)
    assert sims[0, KEYED_LAYOUT.index("keys")] == 1.0
    assert sims[0, KEYED_LAYOUT.index("name")] == 1.0
    # the layout without key sets reads the same words as a Bloom filter: Dice below 1
    plain = SegmentLayout(KEYED_LAYOUT.fields, KEYED_LAYOUT.total_words, KEYED_LAYOUT.record)
    dice = segment_dice(packed, packed, np.array([0]), np.array([1]), plain)
    assert dice[0, KEYED_LAYOUT.index("keys")] < 1.0


# -- exact blocking on key segments ----------------------------------------------------------


RULES = [
    ("keys",),
    ("keys2",),
    ("key1",),
    ("name", "keys"),
    ("keys", "key1"),
    ("name", "key1", "keys2"),
]


@pytest.mark.parametrize("segments", RULES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_exact_rule_on_a_key_segment_pairs_any_shared_key(
    segments: tuple[str, ...], seed: int
) -> None:
    left = keyed_records(70, 10 + seed)
    right = keyed_records(60, 20 + seed)
    rule = ExactRule(segments)
    across = rule.pairs(left, right, KEYED_LAYOUT)
    within = rule.pairs_within(left, KEYED_LAYOUT)
    expected_across = brute_exact(segments, left, right, within=False)
    expected_within = brute_exact(segments, left, left, within=True)
    assert expected_across
    assert expected_within
    assert set(zip(across[0].tolist(), across[1].tolist(), strict=True)) == expected_across
    assert set(zip(within[0].tolist(), within[1].tolist(), strict=True)) == expected_within
    assert (within[0] < within[1]).all()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(0, 25),
    m=st.integers(0, 25),
    pool=st.integers(2, 15),
)
def test_blocking_rules_with_key_segments_equal_the_brute_force_union(
    seed: int, n: int, m: int, pool: int
) -> None:
    left = keyed_records(n, seed, pool=pool)
    right = keyed_records(m, seed + 1, pool=pool)
    rules = BlockingRules(tuple(ExactRule(s) for s in RULES[:4]))
    a, b = rules.candidate_pairs(left, right, KEYED_LAYOUT)
    expected = set().union(*(brute_exact(s, left, right, within=False) for s in RULES[:4]))
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == sorted(expected)
    a, b = rules.candidate_pairs_within(left, KEYED_LAYOUT)
    expected = set().union(*(brute_exact(s, left, left, within=True) for s in RULES[:4]))
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == sorted(expected)


def test_a_pair_sharing_several_keys_is_one_candidate() -> None:
    packed = np.zeros((3, KEYED_LAYOUT.total_words), dtype=np.uint64)
    packed[0, 2:5] = [U(5), U(7), U(9)]
    packed[1, 2:5] = [U(5), U(7), U(0)]
    packed[2, 2:5] = [U(11), U(0), U(0)]
    a, b = BlockingRules((ExactRule(("keys",)),)).candidate_pairs_within(packed, KEYED_LAYOUT)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1)]
    a, b = BlockingRules((ExactRule(("keys",)),)).candidate_pairs(packed[:1], packed, KEYED_LAYOUT)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 0), (0, 1)]


def test_a_rule_on_two_key_segments_of_several_keys_is_refused() -> None:
    packed = keyed_records(10, 0)
    rule = ExactRule(("keys", "keys2"))
    with pytest.raises(ConfigError) as within:
        rule.pairs_within(packed, KEYED_LAYOUT)
    with pytest.raises(ConfigError) as across:
        rule.pairs(packed, packed, KEYED_LAYOUT)
    for caught in (within, across):
        assert [p.location for p in caught.value.problems] == ["segments"]
        assert "at most one key segment" in caught.value.problems[0].reason


def test_an_unordered_rule_on_a_key_segment_of_several_keys_is_refused() -> None:
    layout = SegmentLayout(
        fields=(*KEYED_LAYOUT.fields, SegmentRange("wide", 8, 11)),
        total_words=11,
        record=KEYED_LAYOUT.record,
        key_sets=KEYED_LAYOUT.key_sets,
    )
    packed = np.zeros((4, 11), dtype=np.uint64)
    packed[:, :8] = keyed_records(4, 1)
    packed[:, 8:11] = 3
    with pytest.raises(ConfigError) as caught:
        ExactRule(("keys", "wide"), unordered=True).pairs_within(packed, layout)
    assert "not unordered" in caught.value.problems[0].reason
