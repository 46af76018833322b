"""Term frequencies of segment values (linkage/probabilistic/_frequency.py), checked against
plain Python counters over the segments' words."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prob_helpers import LAYOUT

from linkage.probabilistic import TermFrequencies, ValueCounts, segment_value_digests
from linkage.types import PackedClks

pytestmark = pytest.mark.unit


def _records(n: int, seed: int, *, values: int = 5, missing: float = 0.2) -> PackedClks:
    """Records of prob_helpers.LAYOUT whose name and dob take one of a few values."""
    rng = np.random.default_rng(seed)
    pool = rng.integers(1, 2**63, size=(values, LAYOUT.total_words), dtype=np.int64)
    packed = pool[rng.integers(0, values, size=n)].astype(np.uint64)
    for part in LAYOUT.fields:
        packed[rng.random(n) < missing, part.start_word : part.stop_word] = 0
    return packed


def _value(packed: PackedClks, row: int, segment: str) -> tuple[int, ...] | None:
    part = LAYOUT.part(segment)
    words = tuple(int(w) for w in packed[row, part.start_word : part.stop_word])
    return words if any(words) else None


# -- digests -------------------------------------------------------------------------------


@pytest.mark.parametrize("segment", ["name", "dob", "phone"])
def test_digests_are_equal_exactly_for_equal_segments_and_zero_for_missing(segment: str) -> None:
    packed = _records(300, 1, values=7)
    digests = segment_value_digests(packed, LAYOUT, segment)
    assert digests.dtype == np.uint64
    assert digests.shape == (300,)
    values = [_value(packed, row, segment) for row in range(300)]
    assert any(v is None for v in values)
    for row, value in enumerate(values):
        assert (digests[row] == 0) == (value is None)
    # equal values, equal digests; unequal values, unequal digests
    for i in range(0, 300, 7):
        for j in range(300):
            if values[i] is None or values[j] is None:
                continue
            assert (digests[i] == digests[j]) == (values[i] == values[j])


def test_digests_depend_only_on_the_segment_itself() -> None:
    packed = _records(50, 2)
    other = packed.copy()
    other[:, 0:2] ^= np.uint64(0xFFFF)  # the record part
    dob = LAYOUT.part("dob")
    other[:, dob.start_word : dob.stop_word] ^= np.uint64(1)  # another segment
    assert np.array_equal(
        segment_value_digests(packed, LAYOUT, "name"), segment_value_digests(other, LAYOUT, "name")
    )
    # the same value in a single-record batch digests the same
    single = segment_value_digests(packed[7:8], LAYOUT, "name")
    assert single[0] == segment_value_digests(packed, LAYOUT, "name")[7]


def test_a_change_in_one_bit_changes_the_digest() -> None:
    packed = _records(20, 3, missing=0.0)
    flipped = packed.copy()
    flipped[:, 4] ^= np.uint64(1) << np.uint64(40)  # second word of dob
    before = segment_value_digests(packed, LAYOUT, "dob")
    after = segment_value_digests(flipped, LAYOUT, "dob")
    assert (before != after).all()


# -- value counts -----------------------------------------------------------------------------


def test_counts_of_added_values_are_how_often_each_occurs() -> None:
    digests = np.array([5, 9, 5, 0, 5, 9, 13], dtype=np.uint64)
    counts = ValueCounts()
    counts.add(digests)
    assert counts.total == 6  # the missing value (0) is not counted
    assert counts.counts_of(np.array([5, 9, 13, 7, 0], dtype=np.uint64)).tolist() == [3, 2, 1, 0, 0]
    assert counts.digests.tolist() == [5, 9, 13]


def test_removing_values_uncounts_them() -> None:
    counts = ValueCounts()
    counts.add(np.array([5, 9, 5, 5], dtype=np.uint64))
    counts.add(np.array([5, 9], dtype=np.uint64), -1)
    assert counts.counts_of(np.array([5, 9], dtype=np.uint64)).tolist() == [2, 0]
    assert counts.digests.tolist() == [5]  # a value no record holds is forgotten
    assert counts.total == 2


def test_adding_then_removing_the_same_values_leaves_nothing() -> None:
    digests = segment_value_digests(_records(200, 4), LAYOUT, "name")
    counts = ValueCounts()
    counts.add(digests)
    assert counts.total > 0
    counts.add(digests[:50], -1)
    counts.add(digests[50:], -1)
    assert counts.total == 0
    assert counts.digests.size == 0
    assert counts.counts.size == 0
    assert counts.counts_of(digests).tolist() == [0] * 200


def test_an_empty_table_counts_nothing() -> None:
    counts = ValueCounts()
    counts.add(np.zeros(3, dtype=np.uint64))
    assert counts.total == 0
    assert counts.counts_of(np.array([1, 0], dtype=np.uint64)).tolist() == [0, 0]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.lists(st.integers(0, 8), min_size=0, max_size=12)),
        min_size=1,
        max_size=10,
    )
)
def test_value_counts_follow_a_multiset(steps: list[tuple[bool, list[int]]]) -> None:
    counts = ValueCounts()
    model: Counter[int] = Counter()
    for remove, values in steps:
        if remove:
            # uncount only what is held, as the index does
            held = Counter(v for v in values if v)
            values = [v for v, c in held.items() for _ in range(min(c, model[v]))]
            model.subtract(Counter(values))
            counts.add(np.array(values, dtype=np.uint64), -1)
        else:
            model.update(v for v in values if v)
            counts.add(np.array(values, dtype=np.uint64), 1)
        model = +model
        assert counts.total == sum(model.values())
        assert counts.digests.tolist() == sorted(model)
        probe = np.arange(0, 10, dtype=np.uint64)
        assert counts.counts_of(probe).tolist() == [model[v] if v else 0 for v in range(10)]


# -- term frequencies -------------------------------------------------------------------------


def test_u_of_is_the_share_of_records_holding_the_value() -> None:
    packed = _records(400, 5, values=6)
    frequencies = TermFrequencies.of(packed, LAYOUT, ["name", "dob"])
    for segment in ("name", "dob"):
        values = [_value(packed, row, segment) for row in range(400)]
        held = Counter(v for v in values if v is not None)
        total = sum(held.values())
        u = frequencies.u_of(packed, segment)
        for row, value in enumerate(values):
            if value is None:
                assert np.isnan(u[row])
            else:
                assert u[row] == pytest.approx(held[value] / total)


def test_a_value_the_set_lacks_counts_as_one_record() -> None:
    packed = _records(100, 6, missing=0.0)
    frequencies = TermFrequencies.of(packed, LAYOUT, ["name"])
    stranger = packed[:1].copy()
    stranger[0, 2] = np.uint64(12345)
    total = frequencies.tables["name"].total
    assert total == 100
    assert frequencies.u_of(stranger, "name").tolist() == [1 / total]


def test_u_of_an_untracked_segment_or_an_empty_set_is_nan() -> None:
    packed = _records(30, 7, missing=0.0)
    frequencies = TermFrequencies.of(packed, LAYOUT, ["name"])
    assert np.isnan(frequencies.u_of(packed, "dob")).all()
    empty = TermFrequencies.empty(LAYOUT, ["name"])
    assert np.isnan(empty.u_of(packed, "name")).all()


def test_adding_and_removing_records_keeps_the_counts_of_the_set() -> None:
    first = _records(150, 8)
    second = _records(120, 9)
    frequencies = TermFrequencies.empty(LAYOUT, ["name", "dob", "name"])
    assert frequencies.segments == ("name", "dob")
    frequencies.add(first)
    frequencies.add(second)
    both = np.concatenate([first, second])
    reference = TermFrequencies.of(both, LAYOUT, ["name", "dob"])
    for segment in ("name", "dob"):
        np.testing.assert_array_equal(
            frequencies.u_of(both, segment), reference.u_of(both, segment)
        )
    frequencies.remove(first)
    alone = TermFrequencies.of(second, LAYOUT, ["name", "dob"])
    for segment in ("name", "dob"):
        np.testing.assert_array_equal(
            frequencies.u_of(second, segment), alone.u_of(second, segment)
        )
    assert frequencies.snapshot() == alone.snapshot()
    frequencies.remove(second)
    assert frequencies.snapshot() == {"name": (0, 0), "dob": (0, 0)}
    assert np.isnan(frequencies.u_of(second, "name")).all()


def test_snapshot_reports_distinct_values_and_records_counted() -> None:
    packed = _records(200, 10, values=4)
    frequencies = TermFrequencies.of(packed, LAYOUT, ["dob"])
    values = [_value(packed, row, "dob") for row in range(200)]
    present = [v for v in values if v is not None]
    assert frequencies.snapshot() == {"dob": (len(set(present)), len(present))}


def _digests_in_numpy(packed: PackedClks, segment: str) -> np.ndarray:
    """segment_value_digests as numpy computed it before its kernel."""
    from linkage.probabilistic._frequency import _MIX, _MULTIPLIER

    part = LAYOUT.part(segment)
    words = np.ascontiguousarray(packed[:, part.start_word : part.stop_word], dtype=np.uint64)
    digest = np.zeros(words.shape[0], dtype=np.uint64)
    for column in range(words.shape[1]):
        digest = (digest ^ words[:, column]) * _MULTIPLIER
        digest ^= digest >> np.uint64(31)
        digest *= _MIX
    present = words.any(axis=1)
    digest[present & (digest == 0)] = np.uint64(1)
    digest[~present] = 0
    return digest


@pytest.mark.parametrize("records", [0, 5, 5000])
def test_digest_kernel_equals_the_numpy_chain(records: int) -> None:
    rng = np.random.default_rng(records)
    packed = rng.integers(0, 2**63, size=(records, LAYOUT.total_words), dtype=np.int64).astype(
        np.uint64
    )
    packed[::3] = 0  # missing segments
    for segment in LAYOUT.names:
        expected = _digests_in_numpy(packed, segment)
        np.testing.assert_array_equal(segment_value_digests(packed, LAYOUT, segment), expected)
        strided = packed[::2]
        np.testing.assert_array_equal(
            segment_value_digests(strided, LAYOUT, segment), _digests_in_numpy(strided, segment)
        )
