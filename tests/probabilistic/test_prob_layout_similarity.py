from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prob_helpers import LAYOUT, random_records

from linkage.errors import ConfigError, InvalidInputError
from linkage.probabilistic import (
    SegmentLayout,
    SegmentRange,
    segment_dice,
    segment_dice_reference,
    segment_popcounts,
)

pytestmark = pytest.mark.unit


def test_layout_json_round_trip() -> None:
    again = SegmentLayout.from_json(LAYOUT.to_json())
    assert again == LAYOUT
    assert again.names == ("name", "dob", "phone")
    assert again.index("dob") == 1
    assert again.part("record").words == 2


@pytest.mark.parametrize(
    ("fields", "total", "record"),
    [
        ((), 4, None),
        ((SegmentRange("a", 0, 2), SegmentRange("b", 1, 3)), 4, None),
        ((SegmentRange("a", 0, 2),), 1, None),
        ((SegmentRange("a", 0, 2),), 4, SegmentRange("a", 2, 3)),
    ],
)
def test_layout_rejects_bad_ranges(
    fields: tuple[SegmentRange, ...], total: int, record: SegmentRange | None
) -> None:
    with pytest.raises(ConfigError):
        SegmentLayout(fields=fields, total_words=total, record=record)


def test_layout_rejects_malformed_json() -> None:
    with pytest.raises(ConfigError):
        SegmentLayout.from_json("{}")
    with pytest.raises(ConfigError):
        SegmentLayout.from_json("[1]")


def test_dice_values_and_missing_segments() -> None:
    left = np.zeros((2, 6), dtype=np.uint64)
    right = np.zeros((1, 6), dtype=np.uint64)
    left[0, 2] = np.uint64(0b1111)  # name: 4 bits
    right[0, 2] = np.uint64(0b0011)  # name: 2 bits, 2 shared
    left[0, 3] = right[0, 3] = np.uint64(7)  # dob identical
    left[1, 5] = np.uint64(1)  # phone present on the left only
    sims = segment_dice(left, right, np.array([0, 1]), np.array([0, 0]), LAYOUT)
    assert sims[0, 0] == pytest.approx(2 * 2 / 6)
    assert sims[0, 1] == 1.0
    assert np.isnan(sims[0, 2])  # missing on both sides
    assert np.isnan(sims[1]).all()  # left record 1 has only the phone; right lacks it
    assert segment_popcounts(left, LAYOUT).tolist() == [[4, 3, 0], [0, 0, 1]]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 40))
def test_kernel_equals_reference(seed: int, pairs: int) -> None:
    left = random_records(30, seed)
    right = random_records(20, seed + 1)
    rng = np.random.default_rng(seed)
    li = rng.integers(0, 30, pairs)
    ri = rng.integers(0, 20, pairs)
    fast = segment_dice(left, right, li, ri, LAYOUT)
    slow = segment_dice_reference(left, right, li, ri, LAYOUT)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    np.testing.assert_allclose(fast[~np.isnan(fast)], slow[~np.isnan(slow)], rtol=0, atol=0)


def test_dice_rejects_bad_inputs() -> None:
    packed = random_records(3, 0)
    with pytest.raises(InvalidInputError):
        segment_dice(packed[:, :5], packed, np.array([0]), np.array([0]), LAYOUT)
    with pytest.raises(InvalidInputError):
        segment_dice(packed, packed, np.array([3]), np.array([0]), LAYOUT)
    with pytest.raises(InvalidInputError):
        segment_dice(packed, packed, np.array([0, 1]), np.array([0]), LAYOUT)


@pytest.mark.parametrize("rows", [50, 5000])
def test_serial_and_parallel_kernels_agree_with_the_reference(rows: int) -> None:
    # Below 4096 rows or pairs the serial kernels run, above it the parallel ones.
    left = random_records(rows, 3)
    right = random_records(rows, 4)
    rng = np.random.default_rng(rows)
    li = rng.integers(0, rows, rows)
    ri = rng.integers(0, rows, rows)
    fast = segment_dice(left, right, li, ri, LAYOUT)
    slow = segment_dice_reference(left, right, li, ri, LAYOUT)
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    np.testing.assert_array_equal(fast[~np.isnan(fast)], slow[~np.isnan(slow)])
    popcounts = segment_popcounts(left, LAYOUT)
    starts, stops = LAYOUT.bounds()
    expected = [
        [int(np.bitwise_count(left[i, a:b]).sum()) for a, b in zip(starts, stops, strict=True)]
        for i in range(rows)
    ]
    assert popcounts.tolist() == expected
