"""Hamming-LSH blocking: candidate definition, verification, completeness report."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.match import (
    HammingLsh,
    blocked_dice_join,
    blocked_dice_self_join,
    blocking_report,
    dice_join,
    dice_self_join,
    lsh_candidates,
    lsh_self_candidates,
    unpack_clks,
)
from linkage.match import _blocking as match_blocking
from linkage.types import PackedClks

pytestmark = pytest.mark.unit


def clks(rng: np.random.Generator, n: int, bits: int = 512) -> PackedClks:
    return np.packbits(rng.random((n, bits)) < 0.35, axis=1).view(">u8").astype(np.uint64)


def noisy(rng: np.random.Generator, base: PackedClks, flip: float) -> PackedClks:
    bits = base.shape[1] * 64
    return base ^ np.packbits(rng.random((base.shape[0], bits)) < flip, axis=1).view(">u8").astype(
        np.uint64
    )


def brute_force_candidates(
    config: HammingLsh, left: PackedClks, right: PackedClks
) -> set[tuple[int, int]]:
    bits = np.unpackbits(unpack_clks(left), axis=1)
    other = np.unpackbits(unpack_clks(right), axis=1)
    out = set()
    for positions in config.positions(left.shape[1] * 64):
        for i in range(left.shape[0]):
            for j in range(right.shape[0]):
                if np.array_equal(bits[i, positions], other[j, positions]):
                    out.add((i, j))
    return out


def test_candidates_are_exactly_the_pairs_sharing_a_band() -> None:
    rng = np.random.default_rng(1)
    left = clks(rng, 40, 128)
    right = np.vstack([noisy(rng, left[:20], 0.03), clks(rng, 15, 128)])
    config = HammingLsh(bands=6, bits_per_band=6, seed=3)
    i, j = lsh_candidates(left, right, config)
    got = list(zip(i.tolist(), j.tolist(), strict=True))
    assert got == sorted(brute_force_candidates(config, left, right))
    assert len(got) > 20
    si, sj = lsh_self_candidates(left, config)
    expected_self = {(a, b) for a, b in brute_force_candidates(config, left, left) if a < b}
    assert list(zip(si.tolist(), sj.tolist(), strict=True)) == sorted(expected_self)


def test_blocked_join_is_the_exact_join_restricted_to_candidates() -> None:
    rng = np.random.default_rng(2)
    left = clks(rng, 300)
    right = np.vstack([noisy(rng, left[:200], 0.04), clks(rng, 100)])
    config = HammingLsh(bands=20, bits_per_band=12, seed=0)
    full = dice_join(left, right, 0.8)
    blocked = blocked_dice_join(left, right, 0.8, config)
    i, j = lsh_candidates(left, right, config)
    candidates = set(zip(i.tolist(), j.tolist(), strict=True))
    expected = [t for t in full.as_tuples() if (t[1], t[2]) in candidates]
    assert blocked.pairs.as_tuples() == expected
    assert len(blocked.pairs) >= 0.95 * len(full) > 0
    assert blocked.candidate_pairs == len(candidates)
    assert blocked.reduction_ratio == 1 - len(candidates) / 90_000
    shared = config.shares_band(left, right, np.arange(200), np.arange(200))
    report = blocking_report(i, j, 300 * 300, np.arange(200), np.arange(200))
    assert report.true_matches_found == int(shared.sum())
    assert report.true_matches == 200
    assert report.pair_completeness == report.true_matches_found / 200 >= 0.95
    assert report.reduction_ratio == 1 - len(candidates) / 90_000 > 0.9


def test_blocked_self_join_is_a_subset_of_the_self_join() -> None:
    rng = np.random.default_rng(3)
    base = clks(rng, 150)
    data = np.vstack([base, noisy(rng, base[:100], 0.03)])
    full = set(dice_self_join(data, 0.8).as_tuples())
    config = HammingLsh(bands=24, bits_per_band=12)
    blocked = blocked_dice_self_join(data, 0.8, config)
    assert set(blocked.pairs.as_tuples()) <= full
    assert len(blocked.pairs) >= 0.95 * len(full) > 90
    assert blocked.candidate_pairs == len(lsh_self_candidates(data, config)[0])
    assert blocked.total_pairs == 250 * 249 // 2


def test_band_positions_are_deterministic_per_seed() -> None:
    first = HammingLsh(bands=4, bits_per_band=8, seed=1).positions(1024)
    assert np.array_equal(first, HammingLsh(bands=4, bits_per_band=8, seed=1).positions(1024))
    assert not np.array_equal(first, HammingLsh(bands=4, bits_per_band=8, seed=2).positions(1024))
    assert first.shape == (4, 8)
    assert all(len(set(row.tolist())) == 8 for row in first)


def test_too_many_candidates_is_refused_before_enumeration() -> None:
    rng = np.random.default_rng(4)
    data = clks(rng, 200)
    with pytest.raises(ResourceExhaustedError, match="bits per band"):
        blocked_dice_join(
            data, data, 0.8, HammingLsh(bands=4, bits_per_band=1, max_candidates=1000)
        )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bands": 0},
        {"bits_per_band": 0},
        {"bits_per_band": 65},
        {"seed": -1},
        {"max_candidates": 0},
    ],
)
def test_invalid_configurations(kwargs: dict[str, int]) -> None:
    with pytest.raises(InvalidInputError):
        HammingLsh(**kwargs)


def test_report_without_true_matches() -> None:
    report = blocking_report(np.array([0]), np.array([1]), 10, np.array([]), np.array([]))
    assert report.pair_completeness == 1.0
    assert report.reduction_ratio == 0.9


def _old_style_candidates(
    left: PackedClks, right: PackedClks, config: HammingLsh
) -> set[tuple[int, int]]:
    """The pairs sharing a band, from the band keys (a second, independent formulation)."""
    keys_left, keys_right = config.keys(left), config.keys(right)
    out: set[tuple[int, int]] = set()
    for band in range(config.bands):
        by_key: dict[int, list[int]] = {}
        for j, key in enumerate(keys_right[band].tolist()):
            by_key.setdefault(key, []).append(j)
        for i, key in enumerate(keys_left[band].tolist()):
            out.update((i, j) for j in by_key.get(key, ()))
    return out


@pytest.mark.parametrize("large_side", ["keys computed at once", "screened in place"])
@pytest.mark.parametrize(("n_left", "n_right"), [(30, 900), (900, 30), (1, 500), (400, 400)])
def test_candidates_whichever_side_is_smaller(
    n_left: int, n_right: int, large_side: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of treating the larger side (its keys at once when they are few, a screen
    in place when they are many) give the same pairs."""
    if large_side == "screened in place":
        monkeypatch.setattr(match_blocking, "_DIRECT_KEYS", 0)
    rng = np.random.default_rng(n_left * 7 + n_right)
    base = clks(rng, max(n_left, n_right), 256)
    left = noisy(rng, base[:n_left], 0.02)
    right = base[:n_right].copy()
    right[: min(5, n_right)] = right[0]  # duplicate index records share every key
    config = HammingLsh(bands=12, bits_per_band=10, seed=5)
    i, j = lsh_candidates(left, right, config)
    assert i.dtype == j.dtype == np.int64
    got = list(zip(i.tolist(), j.tolist(), strict=True))
    assert got == sorted(_old_style_candidates(left, right, config))
    assert len(got) >= min(n_left, n_right) // 2  # the noisy copies are found


@pytest.mark.parametrize("direct_keys", [0, 1 << 23])
def test_candidates_of_empty_sides_and_the_guard(
    direct_keys: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(match_blocking, "_DIRECT_KEYS", direct_keys)
    rng = np.random.default_rng(9)
    data = clks(rng, 50, 128)
    config = HammingLsh(bands=4, bits_per_band=8)
    for left, right in ((data[:0], data), (data, data[:0])):
        i, j = lsh_candidates(left, right, config)
        assert i.shape == j.shape == (0,)
    with pytest.raises(InvalidInputError, match="differ in length"):
        lsh_candidates(data, clks(rng, 5, 256), config)
    zeros = np.zeros((40, 2), dtype=np.uint64)  # every record shares every band
    tight = HammingLsh(bands=4, bits_per_band=8, max_candidates=4 * 40 * 30 - 1)
    with pytest.raises(ResourceExhaustedError, match="up to 4800 candidate pairs \\(limit 4799\\)"):
        lsh_candidates(zeros, zeros[:30].copy(), tight)
    # the guard counts every band before it refuses: the figure it names is the whole work
    early = HammingLsh(bands=4, bits_per_band=8, max_candidates=1000)
    with pytest.raises(ResourceExhaustedError, match="up to 4800 candidate pairs"):
        lsh_candidates(zeros, zeros[:30].copy(), early)
    loose = HammingLsh(bands=4, bits_per_band=8, max_candidates=4 * 40 * 30)
    i, j = lsh_candidates(zeros, zeros[:30].copy(), loose)
    assert len(i) == 40 * 30


@pytest.mark.unit
@pytest.mark.parametrize("records", [0, 1, 255, 256, 257, 1000])
def test_band_keys_are_the_sampled_bits_of_each_record_for_any_block_remainder(
    records: int,
) -> None:
    """The keys kernel works on blocks of records (a partial last block included): each
    key's bit ``k`` is the record's bit at the band's ``k``-th sampled position."""
    rng = np.random.default_rng(records)
    bits = 640
    packed = np.packbits(rng.random((records, bits)) < 0.4, axis=1).view(">u8").astype(np.uint64)
    config = HammingLsh(bands=7, bits_per_band=21, seed=5)
    keys = config.keys(packed)
    unpacked = np.unpackbits(packed.astype(">u8").view(np.uint8), axis=1).reshape(records, bits)
    positions = config.positions(bits)
    expected = np.zeros((7, records), dtype=np.uint64)
    for k in range(21):
        expected |= unpacked[:, positions[:, k]].T.astype(np.uint64) << np.uint64(k)
    assert keys.shape == (7, records)
    np.testing.assert_array_equal(keys, expected)


@pytest.mark.parametrize("budget_bits", [None, 1 << 14])
@pytest.mark.parametrize("left_rows", [7, 90])
def test_candidates_on_chosen_words_equal_those_of_the_words_copied_out(
    monkeypatch: pytest.MonkeyPatch, budget_bits: int | None, left_rows: int
) -> None:
    """The bands may sample some words of each record in place (the index side is not
    copied); either side may be the smaller; a small bitmap budget (more records pass the
    screen) changes nothing but the work."""
    import linkage.match._blocking as blocking_module

    if budget_bits is not None:
        monkeypatch.setattr(blocking_module, "_BITMAP_BUDGET_BITS", budget_bits)
    rng = np.random.default_rng(left_rows)
    base = clks(rng, 60, 640)
    left = base[:left_rows]
    right = np.vstack([noisy(rng, base[:40], 0.02), clks(rng, 20, 640)])
    words = np.array([7, 2, 3, 9], dtype=np.int64)
    config = HammingLsh(bands=9, bits_per_band=10, seed=4)
    i, j = lsh_candidates(left, right, config, words=words)
    copied_left = np.ascontiguousarray(left[:, words])
    copied_right = np.ascontiguousarray(right[:, words])
    expected = sorted(brute_force_candidates(config, copied_left, copied_right))
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == expected
    assert len(expected) >= min(left_rows, 40)
    np.testing.assert_array_equal(config.keys(left, words), config.keys(copied_left))


def test_words_outside_the_record_are_refused() -> None:
    config = HammingLsh(bands=2, bits_per_band=4)
    with pytest.raises(InvalidInputError, match="words must index the 4 words"):
        config.keys(np.zeros((3, 4), dtype=np.uint64), np.array([1, 4]))


@pytest.mark.parametrize("bits", [1, 12, 16, 17, 24, 32, 40, 64])
def test_stable_key_order_is_numpys_stable_argsort(bits: int) -> None:
    from linkage.match._blocking import stable_key_order

    rng = np.random.default_rng(bits)
    high = np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(2**64 - 1)
    keys = rng.integers(0, 2**63, size=5000, dtype=np.int64).astype(np.uint64) & high
    keys[::7] = keys[0]  # many equal keys: their order must be kept
    np.testing.assert_array_equal(
        stable_key_order(keys, bits), np.argsort(keys, kind="stable").astype(np.int64)
    )
    assert stable_key_order(keys[:0], bits).shape == (0,)


def _band_work(config: HammingLsh, data: PackedClks) -> int:
    """Pairs of records sharing a band, counted once per band (the guard's figure)."""
    keys = config.keys(data)
    total = 0
    for band in keys:
        _, sizes = np.unique(band, return_counts=True)
        total += int((sizes * (sizes - 1) // 2).sum())
    return total


@pytest.mark.parametrize("collide", [False, True])
def test_self_candidates_of_repeated_records_are_every_pair_sharing_a_band(
    monkeypatch: pytest.MonkeyPatch, collide: bool
) -> None:
    """Equal records are banded once and stand for each other: still exactly the pairs
    sharing a band, with the records of one value paired among themselves; ``collide``
    makes every band key's slot hash equal, so that buckets are told apart by their keys."""
    from linkage.match import _blocking

    if collide:
        monkeypatch.setattr(_blocking, "_SLOT_SPREAD", np.uint64(0))
    rng = np.random.default_rng(7)
    base = clks(rng, 30, 128)
    data = np.vstack([base, base[:10], noisy(rng, base[:15], 0.03), base[:3], clks(rng, 5, 128)])
    data = data[rng.permutation(data.shape[0])]
    config = HammingLsh(bands=6, bits_per_band=6, seed=3)
    si, sj = lsh_self_candidates(data, config)
    expected = {(a, b) for a, b in brute_force_candidates(config, data, data) if a < b}
    assert list(zip(si.tolist(), sj.tolist(), strict=True)) == sorted(expected)
    assert si.dtype == sj.dtype == np.int64
    work = _band_work(config, data)
    limit = HammingLsh(bands=6, bits_per_band=6, seed=3, max_candidates=work - 1)
    message = f"up to {work} candidate pairs \\(limit {work - 1}\\)"
    with pytest.raises(ResourceExhaustedError, match=message):
        lsh_self_candidates(data, limit)
    with pytest.raises(ResourceExhaustedError, match=message):
        blocked_dice_self_join(data, 0.0, limit)
    at_limit = HammingLsh(bands=6, bits_per_band=6, seed=3, max_candidates=work)
    assert lsh_self_candidates(data, at_limit)[0].shape == si.shape


def test_self_candidates_of_few_or_identical_records() -> None:
    config = HammingLsh(bands=4, bits_per_band=8)
    for records in (0, 1):
        i, j = lsh_self_candidates(np.zeros((records, 2), dtype=np.uint64), config)
        assert i.shape == j.shape == (0,)
    zeros = np.zeros((40, 2), dtype=np.uint64)
    i, j = lsh_self_candidates(zeros, config)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [
        (a, b) for a in range(40) for b in range(a + 1, 40)
    ]
    with pytest.raises(ResourceExhaustedError, match="up to 3120 candidate pairs"):
        lsh_self_candidates(zeros, HammingLsh(bands=4, bits_per_band=8, max_candidates=3119))


def test_self_candidates_stop_at_the_guard_before_listing_later_bands() -> None:
    """Bands are counted and listed a few at a time: past the guard in an early chunk the
    error says how many were counted so far (here the records of one value, paired among
    themselves in every band, already pass it)."""
    from linkage.match import _blocking

    zeros = np.zeros((40, 2), dtype=np.uint64)  # every record shares every band
    bands = 2 * _blocking._SLOT_BANDS
    config = HammingLsh(bands=bands, bits_per_band=4, seed=1, max_candidates=800)
    with pytest.raises(
        ResourceExhaustedError,
        match=rf"at least {bands * 780} \(counted in {_blocking._SLOT_BANDS}"
        rf" of {bands} bands\) candidate pairs \(limit 800\)",
    ):
        lsh_self_candidates(zeros, config)
