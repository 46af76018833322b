"""unique_sorted: np.unique's answer for one-dimensional integer arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.arrays import (
    row_groups,
    row_hashes,
    unique_byte_rows,
    unique_counts,
    unique_inverse,
    unique_sorted,
)

pytestmark = pytest.mark.unit


@given(st.lists(st.integers(-(2**62), 2**62), max_size=200))
def test_unique_sorted_equals_numpy_unique(values: list[int]) -> None:
    array = np.asarray(values, dtype=np.int64)
    got = unique_sorted(array)
    np.testing.assert_array_equal(got, np.unique(array))
    assert got.dtype == np.int64


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint16, np.uint64])
def test_unique_sorted_keeps_the_dtype_and_handles_edges(dtype: type) -> None:
    rng = np.random.default_rng(1)
    values = rng.integers(0, 50, size=1000).astype(dtype)
    np.testing.assert_array_equal(unique_sorted(values), np.unique(values))
    assert unique_sorted(values).dtype == dtype
    assert unique_sorted(values[:0]).shape == (0,)
    np.testing.assert_array_equal(unique_sorted(values[:1]), values[:1])


def test_unique_sorted_refuses_what_it_is_not_for() -> None:
    with pytest.raises(TypeError, match="need a one-dimensional integer array"):
        unique_sorted(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="need a one-dimensional integer array"):
        unique_sorted(np.zeros((2, 2), dtype=np.int64))


@given(st.lists(st.integers(0, 30), max_size=200))
def test_unique_inverse_and_counts_equal_numpy(values: list[int]) -> None:
    array = np.asarray(values, dtype=np.uint64)
    unique, inverse = unique_inverse(array)
    expected, expected_inverse = np.unique(array, return_inverse=True)
    np.testing.assert_array_equal(unique, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))
    np.testing.assert_array_equal(unique[inverse], array)
    distinct, counts = unique_counts(array)
    expected, expected_counts = np.unique(array, return_counts=True)
    np.testing.assert_array_equal(distinct, expected)
    np.testing.assert_array_equal(counts, expected_counts)


def _partition(groups: np.ndarray) -> set[frozenset[int]]:
    classes: dict[int, set[int]] = {}
    for row, group in enumerate(groups.tolist()):
        classes.setdefault(group, set()).add(row)
    return {frozenset(members) for members in classes.values()}


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=60), st.booleans())
def test_row_groups_are_the_equality_classes_of_the_rows(
    values: list[tuple[int, int]], collide: bool
) -> None:
    rows = np.asarray(values, dtype=np.uint64).reshape(-1, 2)
    hashes = np.zeros(rows.shape[0], dtype=np.uint64) if collide else None
    groups = row_groups(rows, hashes)
    assert groups.dtype == np.int64
    assert groups.shape == (rows.shape[0],)
    if rows.shape[0]:
        _, exact = np.unique(rows, axis=0, return_inverse=True)
        assert _partition(groups) == _partition(exact.reshape(-1))
        assert sorted(set(groups.tolist())) == list(range(int(groups.max()) + 1))
    np.testing.assert_array_equal(row_hashes(rows[:1]), row_hashes(rows[:1].copy()))


@given(st.lists(st.integers(-50, 50), max_size=200))
def test_unique_inverse_of_ascending_values_equals_numpy(values: list[int]) -> None:
    """Ascending input takes the path without a sort: the same answer."""
    array = np.asarray(sorted(values), dtype=np.int64)
    unique, inverse = unique_inverse(array)
    expected, expected_inverse = np.unique(array, return_inverse=True)
    np.testing.assert_array_equal(unique, expected)
    np.testing.assert_array_equal(inverse, expected_inverse.reshape(-1))
    assert inverse.dtype == np.int64


@given(
    st.integers(0, 10).flatmap(
        lambda width: st.lists(
            st.lists(st.integers(-128, 127), min_size=width, max_size=width), max_size=80
        ).map(lambda rows: np.asarray(rows, dtype=np.int8).reshape(len(rows), width))
    )
)
def test_unique_byte_rows_equals_numpy_unique_by_rows(rows: np.ndarray) -> None:
    patterns, counts = unique_byte_rows(rows)
    expected, expected_counts = np.unique(rows, axis=0, return_counts=True)
    np.testing.assert_array_equal(patterns, expected)
    np.testing.assert_array_equal(counts, expected_counts)
    assert patterns.dtype == np.int8
    assert counts.dtype == np.int64


def test_unique_byte_rows_refuses_what_it_is_not_for() -> None:
    with pytest.raises(TypeError, match="two-dimensional int8"):
        unique_byte_rows(np.zeros((2, 2), dtype=np.int64))
