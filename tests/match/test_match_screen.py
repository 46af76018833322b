"""The band-hash screen (linkage/match/_screen.py): the records of a large set that share an
LSH band with some query are exactly the band keys' matches, read from a plain array or
from the index's own layout, removed records left out."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.errors import InvalidInputError
from linkage.match import BandHashPlan, ClkIndex, HammingLsh, band_hashes, band_screen
from linkage.types import PackedClks

pytestmark = pytest.mark.unit


def _records(rng: np.random.Generator, n: int, words: int, fill: float = 0.3) -> PackedClks:
    bits = rng.random((n, words * 64)) < fill
    return np.packbits(bits, axis=1, bitorder="big").view(">u8").astype(np.uint64)


def _flip(rng: np.random.Generator, base: PackedClks, flips: int) -> PackedClks:
    out = base.copy()
    for row in range(out.shape[0]):
        for bit in rng.choice(out.shape[1] * 64, size=flips, replace=False).tolist():
            out[row, bit // 64] ^= np.uint64(1) << np.uint64(63 - bit % 64)
    return out


def _sharing(
    lsh: HammingLsh, large: PackedClks, queries: PackedClks, words: np.ndarray
) -> set[int]:
    """Reference: rows of ``large`` whose band key equals some query's in the same band."""
    large_keys = lsh.keys(large, words)
    query_keys = lsh.keys(queries, words)
    return {
        int(row)
        for band in range(lsh.bands)
        for row in np.flatnonzero(np.isin(large_keys[band], query_keys[band]))
    }


@pytest.mark.parametrize(
    ("lsh", "words"),
    [
        (HammingLsh(bands=12, bits_per_band=10, seed=3), np.arange(4)),
        (HammingLsh(bands=20, bits_per_band=40, seed=5), np.array([1, 3])),
        (HammingLsh(bands=6, bits_per_band=64, seed=7), np.array([2])),
    ],
)
def test_the_screen_is_exactly_the_rows_sharing_a_band_key(
    lsh: HammingLsh, words: np.ndarray
) -> None:
    rng = np.random.default_rng(11)
    large = _records(rng, 3000, 4)
    # near copies of some large records, and sparse records (few bits: many equal keys)
    queries = np.concatenate(
        [_flip(rng, large[rng.choice(3000, 40, replace=False)], 6), _records(rng, 20, 4, 0.02)]
    )
    large[::7] = _records(rng, large[::7].shape[0], 4, 0.02)
    plan = BandHashPlan.of(lsh, 4, words)
    expected = _sharing(lsh, large, queries, words)
    assert 0 < len(expected) < 3000
    hit = band_screen(large, 3000, queries, plan)
    assert set(np.flatnonzero(hit).tolist()) == expected
    # the same records in the index's layout (groups of lanes, padded) give the same rows
    index = ClkIndex(256, capacity=16)
    index.add(np.arange(3000) * 10, large)
    assert index.band_candidates(queries, plan).tolist() == [10 * r for r in sorted(expected)]


def test_bits_that_cancel_in_a_linear_hash_do_not_collide() -> None:
    """Two records whose sampled bits differ in the top bit of one word and in the top and
    a middle bit of the next: a multiply-xorshift chain over the words maps both
    differences to the same bits and would let the pair through; the band hash must not."""
    plan = BandHashPlan(
        used=np.array([0, 1], dtype=np.int64),
        column_of=np.array([[0, 1]], dtype=np.int64),
        masks=np.array([[1 << 63, (1 << 63) | (1 << 32)]], dtype=np.uint64),
        rotations=np.array([[0, 0]], dtype=np.int64),
        slots=np.array([[0, 1]], dtype=np.int64),
        slot_count=2,
    )
    a = np.array([[1 << 63, (1 << 63) | (1 << 32)]], dtype=np.uint64)
    b = np.zeros((1, 2), dtype=np.uint64)
    hashes = band_hashes(np.concatenate([a, b]), 2, plan)
    assert hashes[0, 0] != hashes[0, 1]
    assert not band_screen(b, 1, a, plan).any()


@pytest.mark.parametrize(
    ("bands", "bits", "words"), [(64, 32, 16), (96, 56, 5), (64, 56, 3), (8, 64, 1), (4, 64, 2)]
)
def test_a_plan_packs_every_sampled_bit_of_a_band_apart(bands: int, bits: int, words: int) -> None:
    """Within a packed word no two rotated masks share a bit, and every sampled bit is in
    one: equal packed words are equal sampled bits."""
    lsh = HammingLsh(bands=bands, bits_per_band=bits, seed=bands + bits)
    plan = BandHashPlan.of(lsh, words)
    assert plan.slot_count <= 3
    for band in range(bands):
        taken = [0] * plan.slot_count
        total = 0
        for k in range(plan.column_of.shape[1]):
            mask = int(plan.masks[band, k])
            turn = int(plan.rotations[band, k])
            rotated = ((mask << turn) | (mask >> ((64 - turn) % 64))) & ((1 << 64) - 1)
            slot = int(plan.slots[band, k])
            assert taken[slot] & rotated == 0
            taken[slot] |= rotated
            total += mask.bit_count()
        assert total == bits


def test_removed_records_are_not_candidates() -> None:
    rng = np.random.default_rng(2)
    large = _records(rng, 500, 4)
    plan = BandHashPlan.of(HammingLsh(bands=8, bits_per_band=8, seed=1), 4)
    index = ClkIndex(256, capacity=16)
    index.add(np.arange(500), large)
    queries = large[:50]
    assert index.band_candidates(queries, plan)[:50].tolist() == list(range(50))
    index.remove(np.arange(0, 50, 2))
    found = set(index.band_candidates(queries, plan).tolist())
    assert {n for n in range(50) if n % 2} <= found
    assert not {n for n in range(50) if n % 2 == 0} & found


def test_no_records_or_no_queries_give_no_hits() -> None:
    rng = np.random.default_rng(4)
    large = _records(rng, 10, 2)
    plan = BandHashPlan.of(HammingLsh(bands=2, bits_per_band=4), 2)
    assert band_screen(large, 10, large[:0], plan).tolist() == [False] * 10
    assert band_screen(large, 0, large, plan).shape == (0,)
    assert ClkIndex(128).band_candidates(large, plan).tolist() == []


def test_bad_inputs_are_refused_with_the_reason() -> None:
    rng = np.random.default_rng(5)
    large = _records(rng, 10, 2)
    plan = BandHashPlan.of(HammingLsh(bands=2, bits_per_band=4), 4)  # reads 4 words
    with pytest.raises(InvalidInputError, match="beyond the records' width"):
        band_screen(large, 10, large, plan)
    narrow = BandHashPlan.of(HammingLsh(bands=2, bits_per_band=4), 2)
    with pytest.raises(InvalidInputError, match="fewer than 11 records"):
        band_screen(large, 11, large, narrow)
    with pytest.raises(InvalidInputError, match="uint64"):
        band_screen(large.astype(np.int64), 10, large, narrow)
    with pytest.raises(InvalidInputError, match="lanes must divide"):
        band_screen(np.zeros((4, 2, 3), dtype=np.uint64), 10, large, narrow)
    with pytest.raises(InvalidInputError, match="queries have 64 bits"):
        ClkIndex(128).band_candidates(large[:, :1], narrow)
