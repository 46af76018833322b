"""The lookup index: search equals the reference (and anonlink), through adds and removals."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from match_oracle import anonlink_join

import linkage.match._index as index_module
from linkage.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from linkage.match import ClkIndex
from linkage.match.reference import lookup_reference
from linkage.types import PackedClks

pytestmark = pytest.mark.unit


def clks(rng: np.random.Generator, n: int, bits: int = 1024) -> PackedClks:
    fills = rng.uniform(0.2, 0.5, size=(n, 1))
    return np.packbits(rng.random((n, bits)) < fills, axis=1).view(">u8").astype(np.uint64)


def noisy(rng: np.random.Generator, base: PackedClks, flip: float) -> PackedClks:
    bits = base.shape[1] * 64
    flips = np.packbits(rng.random((base.shape[0], bits)) < flip, axis=1)
    return base ^ flips.view(">u8").astype(np.uint64)


def live_records(index: ClkIndex, keys: list[int]) -> tuple[PackedClks, np.ndarray]:
    ordered = sorted(keys)
    return index.get(ordered), np.array(ordered, dtype=np.int64)


@pytest.mark.parametrize("n_queries", [1, 3, 6])
@pytest.mark.parametrize(("threshold", "k"), [(0.8, 5), (0.5, 3), (0.0, 7), (0.9, 1)])
def test_search_equals_reference(n_queries: int, threshold: float, k: int) -> None:
    rng = np.random.default_rng(n_queries)
    records = clks(rng, 300)
    records[17] = 0
    keys = rng.choice(10**9, size=300, replace=False)
    index = ClkIndex(1024, capacity=8)  # grows several times
    index.add(keys[:150], records[:150])
    index.add(keys[150:], records[150:])
    queries = noisy(rng, records[rng.choice(300, n_queries, replace=False)], 0.05)
    queries[0, :] = records[5]
    got = index.search(queries, threshold, k)
    expected = lookup_reference(queries, records, keys, threshold, k)
    assert [hits.as_tuples() for hits in got] == expected
    assert any(len(hits) for hits in got)


def test_search_agrees_with_anonlink_top_candidates() -> None:
    rng = np.random.default_rng(5)
    records = clks(rng, 200)
    queries = noisy(rng, records[:4], 0.03)
    index = ClkIndex(1024)
    index.add(np.arange(200), records)
    pairs = anonlink_join(queries, records, 0.7)
    for q, hits in enumerate(index.search(queries, 0.7, 200)):
        mine = pairs.left == q
        assert hits.as_tuples() == list(
            zip(pairs.scores[mine].tolist(), pairs.right[mine].tolist(), strict=True)
        )


@given(ops=st.lists(st.tuples(st.booleans(), st.integers(1, 30)), min_size=1, max_size=12))
@settings(max_examples=25, deadline=None)
def test_adds_and_removals_keep_search_exact(ops: list[tuple[bool, int]]) -> None:
    rng = np.random.default_rng(len(ops))
    index = ClkIndex(128, capacity=4)
    live: list[int] = []
    next_key = 0
    for is_add, count in ops:
        if is_add or not live:
            new = list(range(next_key, next_key + count))
            next_key += count
            index.add(new, clks(rng, count, 128))
            live.extend(new)
        else:
            gone = live[: min(count, len(live))]
            index.remove(gone)
            live = live[len(gone) :]
    assert len(index) == len(live)
    query = clks(rng, 2, 128)
    records, keys = live_records(index, live) if live else (np.zeros((0, 2), np.uint64), [])
    expected = lookup_reference(query, records, np.asarray(keys, np.int64), 0.3, 4)
    assert [h.as_tuples() for h in index.search(query, 0.3, 4)] == expected


def test_removal_uses_tombstones_then_compacts() -> None:
    rng = np.random.default_rng(8)
    records = clks(rng, 3000, 256)
    index = ClkIndex(256)
    index.add(np.arange(3000), records)
    index.remove(np.arange(0, 1000))
    assert index.capacity >= 3000  # tombstones only
    index.remove(np.arange(1000, 2500))  # more dead than alive: compacted
    assert len(index) == 500
    assert index.capacity < 3000
    assert 2600 in index
    assert 10 not in index
    hits = index.search(records[2600:2601], 1.0, 2)[0]
    assert hits.keys.tolist() == [2600]
    assert np.array_equal(index.get([2999]), records[2999:3000])


def test_slabs_split_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "_MIN_SLAB_GROUPS", 3)
    rng = np.random.default_rng(9)
    records = clks(rng, 500)
    index = ClkIndex(1024)
    index.add(np.arange(500), records)
    queries = noisy(rng, records[[3, 250, 499]], 0.04)
    expected = lookup_reference(queries, records, np.arange(500), 0.75, 4)
    assert [h.as_tuples() for h in index.search(queries, 0.75, 4)] == expected
    assert [h.as_tuples() for h in index.search(queries[1:2], 0.75, 4)] == expected[1:2]


def test_concurrent_searches_and_adds_are_safe() -> None:
    rng = np.random.default_rng(10)
    records = clks(rng, 2000, 256)
    index = ClkIndex(256)
    index.add(np.arange(1000), records[:1000])
    errors: list[BaseException] = []

    def searcher() -> None:
        try:
            for _ in range(20):
                hits = index.search(records[:2], 1.0, 1)
                assert [h.keys.tolist() for h in hits] == [[0], [1]]
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=searcher) for _ in range(3)]
    for t in threads:
        t.start()
    for start in range(1000, 2000, 100):
        index.add(np.arange(start, start + 100), records[start : start + 100])
    for t in threads:
        t.join()
    assert errors == []
    assert len(index) == 2000


def test_errors() -> None:
    index = ClkIndex(128)
    rng = np.random.default_rng(0)
    index.add([1, 2], clks(rng, 2, 128))
    with pytest.raises(AlreadyExistsError, match=r"keys\[1\]"):
        index.add([3, 2], clks(rng, 2, 128))
    assert len(index) == 2  # all or nothing
    with pytest.raises(InvalidInputError, match="distinct"):
        index.add([5, 5], clks(rng, 2, 128))
    with pytest.raises(NotFoundError, match=r"keys\[0\]"):
        index.remove([9, 1])
    assert 1 in index
    with pytest.raises(InvalidInputError, match="bits"):
        index.add([7], clks(rng, 1, 256))
    with pytest.raises(InvalidInputError, match="k must"):
        index.search(clks(rng, 1, 128), 0.5, 0)
    with pytest.raises(InvalidInputError, match="multiple of 64"):
        ClkIndex(100)
    assert ClkIndex(128).search(clks(rng, 1, 128), 0.5, 3)[0].as_tuples() == []


def test_items_are_the_live_records_by_key_ascending() -> None:
    rng = np.random.default_rng(8)
    index = ClkIndex(1024, capacity=4)
    assert index.items()[0].shape == (0,)
    assert index.items()[1].shape == (0, 16)
    records = clks(rng, 50)
    keys = rng.permutation(np.arange(1000, 1050))  # added out of key order
    index.add(keys[:30], records[:30])
    index.add(keys[30:], records[30:])
    index.remove(keys[::3])
    got_keys, got_clks = index.items()
    expected = np.sort(np.setdiff1d(keys, keys[::3]))
    np.testing.assert_array_equal(index.keys(), expected)
    np.testing.assert_array_equal(got_keys, expected)
    np.testing.assert_array_equal(got_clks, index.get(expected))
    row_of = {int(key): row for row, key in enumerate(keys.tolist())}
    np.testing.assert_array_equal(got_clks, records[[row_of[int(k)] for k in expected]])


@pytest.mark.parametrize("offset", [0, -(2**40), 2**50])
@pytest.mark.parametrize("asked", [3, 5000])
def test_get_returns_the_asked_records_after_every_change(asked: int, offset: int) -> None:
    """Keys are looked up in a table indexed by key while they are small non-negative
    integers, in a dictionary otherwise (negative or huge keys): both follow adds,
    removals and compaction, and name the first key not held."""
    rng = np.random.default_rng(asked)
    index = ClkIndex(128, capacity=16)
    held: dict[int, np.ndarray] = {}

    def add(keys: np.ndarray) -> None:
        keys = keys + offset
        packed = clks(rng, keys.shape[0], 128)
        index.add(keys, packed)
        held.update(zip(keys.tolist(), packed, strict=True))

    def check() -> None:
        keys = rng.choice(np.array(sorted(held)), size=asked, replace=True)
        assert index.get(keys).tolist() == [held[k].tolist() for k in keys.tolist()]

    add(rng.permutation(np.arange(0, 30_000, 3)))
    check()
    add(np.arange(30_001, 40_000, 7))
    check()
    assert index.holds(np.array([offset, offset + 1, offset + 30_001])).tolist() == [
        True,
        False,
        True,
    ]
    gone = np.array(sorted(held))[::2]
    index.remove(gone)
    for key in gone.tolist():
        del held[key]
    check()
    index.compact()
    check()
    wanted = np.array(sorted(held))[:asked]
    wanted[-1] = int(gone[0])
    with pytest.raises(NotFoundError, match=rf"keys\[{asked - 1}\] is not in the index"):
        index.get(wanted)


def test_keys_outside_the_table_move_the_slot_map_to_a_dictionary() -> None:
    """Small non-negative keys live in a table; a negative key, or one far beyond the count
    held, turns it into a dictionary holding every key so far."""
    rng = np.random.default_rng(3)
    records = clks(rng, 6, 128)
    for odd_key in (-1, 2**40):
        index = ClkIndex(128)
        index.add([0, 5, 9], records[:3])
        assert index._slot_of._dict is None  # a table while the keys are small
        index.add([1_000_000], records[5:6])  # within four times the count plus the slack
        assert index._slot_of._dict is None
        index.remove([1_000_000])
        index.add([odd_key, 7], records[3:5])
        assert index._slot_of._dict is not None
        assert index.holds([0, 5, 9, odd_key, 7, 6]).tolist() == [True] * 5 + [False]
        np.testing.assert_array_equal(index.get([odd_key, 9, 0]), records[[3, 2, 0]])
        index.remove([5, odd_key])
        assert len(index) == 3
        assert 5 not in index
        assert odd_key not in index
        with pytest.raises(NotFoundError, match=r"keys\[0\]"):
            index.remove([5])
        index.add([5], records[5:6])
        np.testing.assert_array_equal(index.get([5]), records[5:6])


def test_reserve_allocates_once_and_growth_is_by_half() -> None:
    rng = np.random.default_rng(4)
    index = ClkIndex(128, capacity=16)
    index.reserve(1000)
    assert 1000 <= index.capacity < 1000 + index_module.LANES
    index.add(np.arange(1000), clks(rng, 1000, 128))
    assert 1000 <= index.capacity < 1000 + index_module.LANES  # no growth step
    index.add([1000], clks(rng, 1, 128))
    assert 1500 <= index.capacity < 1500 + index_module.LANES  # grown by half, not doubled
    index.reserve(10)  # never shrinks
    assert index.capacity >= 1500
    with pytest.raises(InvalidInputError, match="distinct"):
        index.remove([3, 3])
    assert 3 in index  # nothing removed
