"""Query plausibility: all-zero, all-one and out-of-band fills are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.errors import InvalidInputError
from linkage.security import (
    PopcountBand,
    band_from_popcounts,
    band_from_range,
    check_query_clk_plausible,
    check_query_plausible,
    popcounts,
)

pytestmark = pytest.mark.unit

BAND = band_from_range(1024, 250, 700)


def _reason(exc: InvalidInputError) -> str:
    assert [p.location for p in exc.problems] == ["query.clk"]
    return exc.problems[0].reason


@pytest.mark.parametrize(
    ("popcount", "reason"),
    [
        (0, "all bits are zero"),
        (1024, "all bits are one"),
        (249, "fewer bits set than the plausible band 250..700"),
        (701, "more bits set than the plausible band 250..700"),
    ],
)
def test_refusals_carry_their_reason(popcount: int, reason: str) -> None:
    with pytest.raises(InvalidInputError, match="implausible") as info:
        check_query_plausible(popcount, BAND)
    assert _reason(info.value) == reason
    assert str(popcount) not in str(info.value).replace("1024", "")


@pytest.mark.parametrize("popcount", [250, 400, 700])
def test_inside_the_band_is_accepted(popcount: int) -> None:
    check_query_plausible(popcount, BAND)


def test_clk_bytes_are_checked() -> None:
    zeros, ones = bytes(128), b"\xff" * 128
    rng = np.random.default_rng(7)
    bits = np.zeros(1024, dtype=np.uint8)
    bits[rng.choice(1024, size=400, replace=False)] = 1
    realistic = np.packbits(bits).tobytes()
    assert check_query_clk_plausible(realistic, BAND) == 400
    assert check_query_clk_plausible(np.frombuffer(realistic, dtype=np.uint8), BAND) == 400
    for clk, reason in ((zeros, "all bits are zero"), (ones, "all bits are one")):
        with pytest.raises(InvalidInputError) as info:
            check_query_clk_plausible(clk, BAND)
        assert _reason(info.value) == reason
    with pytest.raises(InvalidInputError) as info:
        check_query_clk_plausible(realistic[:64], BAND)
    assert _reason(info.value) == "length is not 128 bytes"


def test_band_from_indexed_popcounts() -> None:
    rng = np.random.default_rng(1)
    counts = rng.integers(279, 622, size=10_000)
    band = band_from_popcounts(counts, 1024, lower_quantile=0.0, upper_quantile=1.0, slack=0.25)
    width = int(counts.max() - counts.min())
    assert band.low == int(np.floor(counts.min() - 0.25 * width))
    assert band.high == int(np.ceil(counts.max() + 0.25 * width))
    tight = band_from_popcounts(counts, 1024, slack=0.0)
    assert counts.min() <= tight.low <= tight.high <= counts.max()


def test_band_is_clipped_so_empty_and_full_are_always_outside() -> None:
    band = band_from_popcounts(np.array([1, 1023]), 1024, slack=5.0)
    assert (band.low, band.high) == (1, 1023)


@given(
    st.lists(st.integers(0, 512), min_size=1, max_size=200),
    st.floats(0, 3),
)
def test_band_always_covers_the_quantile_range(counts: list[int], slack: float) -> None:
    array = np.array(counts, dtype=np.int64)
    try:
        band = band_from_popcounts(array, 512, slack=slack)
    except InvalidInputError:
        assert set(counts) <= {0, 512}  # only degenerate indexes have no band
        return
    lo, hi = np.quantile(array, [0.001, 0.999])
    assert band.low <= max(1, lo) + 1e-9
    assert band.high >= min(511, hi) - 1e-9
    assert 1 <= band.low <= band.high <= 511


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((np.array([], dtype=np.int64), 1024), {}),
        ((np.array([[1, 2]]), 1024), {}),
        ((np.array([1.5]), 1024), {}),
        ((np.array([2000]), 1024), {}),
        ((np.array([10]), 1024), {"slack": -1.0}),
        ((np.array([10]), 1024), {"lower_quantile": 0.9, "upper_quantile": 0.1}),
        ((np.array([0, 0]), 1024), {}),
    ],
)
def test_band_from_popcounts_validates(args: tuple[object, int], kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidInputError):
        band_from_popcounts(*args, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bits", "low", "high"), [(1024, 0, 10), (1024, 10, 1024), (1024, 20, 10), (100, 1, 2)]
)
def test_band_validation(bits: int, low: int, high: int) -> None:
    with pytest.raises(InvalidInputError):
        PopcountBand(bits, low, high)


def test_popcounts_of_bytes_and_packed_words_agree() -> None:
    rng = np.random.default_rng(3)
    clks = rng.integers(0, 256, size=(50, 128), dtype=np.uint8)
    packed = clks.view(">u8").astype(np.uint64)
    expected = np.unpackbits(clks, axis=1).sum(axis=1)
    assert np.array_equal(popcounts(clks), expected)
    assert np.array_equal(popcounts(packed), expected)
    with pytest.raises(InvalidInputError):
        popcounts(clks.astype(np.int32))  # type: ignore[arg-type]
