"""unique_sorted: np.unique's answer for one-dimensional integer arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.arrays import unique_sorted

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
    with pytest.raises(TypeError, match="one-dimensional integer array"):
        unique_sorted(np.array([1.0, np.nan]))
    with pytest.raises(TypeError, match="one-dimensional integer array"):
        unique_sorted(np.zeros((2, 2), dtype=np.int64))
