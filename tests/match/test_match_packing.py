"""Packing CLK bytes into big-endian uint64 words, back, and popcounts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import InvalidInputError
from linkage.match import pack_clk_bytes, pack_clks, popcounts, unpack_clks
from linkage.match.reference import popcounts_reference

pytestmark = pytest.mark.unit


def test_bit_i_is_msb_first_as_documented_in_linkage_types() -> None:
    clk = np.zeros((1, 16), dtype=np.uint8)
    clk[0, 0] = 0b1000_0000  # bit 0
    clk[0, 9] = 0b0000_0001  # bit 79
    packed = pack_clks(clk)
    assert packed.dtype == np.uint64
    assert packed.shape == (1, 2)
    for bit in range(128):
        expected = bit in (0, 79)
        assert bool((int(packed[0, bit // 64]) >> (63 - bit % 64)) & 1) is expected


@given(st.lists(st.binary(min_size=24, max_size=24), min_size=0, max_size=20))
@settings(max_examples=50, deadline=None)
def test_pack_and_unpack_round_trip(records: list[bytes]) -> None:
    packed = pack_clk_bytes(records, 192)
    assert packed.shape == (len(records), 3)
    unpacked = unpack_clks(packed)
    assert [row.tobytes() for row in unpacked] == records
    assert np.array_equal(pack_clks(unpacked), packed)


@pytest.mark.parametrize("popcount", [popcounts, popcounts_reference])
@given(data=st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=20))
@settings(max_examples=40, deadline=None)
def test_popcounts_count_set_bits(popcount: object, data: list[bytes]) -> None:
    packed = pack_clk_bytes(data, 128)
    expected = [sum(bin(b).count("1") for b in record) for record in data]
    assert popcount(packed).tolist() == expected  # type: ignore[operator]


def test_wrong_record_length_names_the_record_index_not_its_content() -> None:
    secret_looking = b"\xaa" * 7
    with pytest.raises(InvalidInputError) as excinfo:
        pack_clk_bytes([b"\x00" * 8, secret_looking, b"\x01" * 8, b"\x02" * 9], 64)
    message = str(excinfo.value)
    assert "records[1]" in message
    assert "records[3]" in message
    assert "records[0]" not in message
    assert "\\xaa" not in message


@pytest.mark.parametrize("bits", [0, 8, 100, -64])
def test_length_must_be_a_positive_multiple_of_64(bits: int) -> None:
    with pytest.raises(InvalidInputError, match="multiple of 64"):
        pack_clk_bytes([], bits)


def test_pack_clks_rejects_bad_arrays() -> None:
    with pytest.raises(InvalidInputError, match="multiple of 64"):
        pack_clks(np.zeros((2, 12), dtype=np.uint8))
    with pytest.raises(InvalidInputError, match="uint8"):
        pack_clks(np.zeros((2, 16), dtype=np.int64))
    with pytest.raises(InvalidInputError, match="uint64"):
        popcounts(np.zeros((2, 2), dtype=np.int64))
