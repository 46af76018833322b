"""The inverted index of exact blocking keys (linkage/probabilistic/_keyindex.py): a lookup's
candidates are exactly the indexed records the same exact rules pair with the query,
whatever the order of batches and removals, except values held by more than ``max_block``
records."""

from __future__ import annotations

import threading
import tracemalloc
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyed_helpers import KEYED_LAYOUT, keyed_records

from linkage.probabilistic import ExactRule
from linkage.probabilistic._keyindex import KeyIndex
from linkage.types import PackedClks

pytestmark = pytest.mark.unit

RULES = (
    ExactRule(("name",)),
    ExactRule(("keys",)),
    ExactRule(("name", "key1")),
    ExactRule(("keys2", "key1")),
)


def _paired(query: PackedClks, nodes: list[int], packed: PackedClks) -> list[int]:
    """Node IDs the rules pair with any query row (ExactRule.pairs, query vs indexed)."""
    if not nodes:
        return []
    found: set[int] = set()
    for rule in RULES:
        pairs = rule.pairs(query, packed, KEYED_LAYOUT)
        found.update(nodes[j] for j in pairs[1].tolist())
    return sorted(found)


def _values(rule: ExactRule, row: np.ndarray) -> list[tuple[int, ...]]:
    """The values a record is filed under by the rule (one per key of a multi-key segment)."""
    parts = [KEYED_LAYOUT.part(name) for name in rule.segments]
    if any(not row[p.start_word : p.stop_word].any() for p in parts):
        return []
    keyed = [p for p in parts if p.name in KEYED_LAYOUT.key_sets and p.words > 1]
    fixed = tuple(int(w) for p in parts if p not in keyed for w in row[p.start_word : p.stop_word])
    if not keyed:
        return [fixed]
    words = row[keyed[0].start_word : keyed[0].stop_word]
    return [(*fixed, int(w)) for w in words if w]


def _capped(query: PackedClks, held: dict[int, np.ndarray], max_block: int) -> list[int]:
    """The same with Python dictionaries, skipping values more than ``max_block`` records hold."""
    found: set[int] = set()
    for rule in RULES:
        holders: dict[tuple[int, ...], set[int]] = defaultdict(set)
        for node, row in held.items():
            for value in _values(rule, row):
                holders[value].add(node)
        for row in query:
            for value in _values(rule, row):
                if 0 < len(holders.get(value, ())) <= max_block:
                    found |= holders[value]
    return sorted(found)


def _index(max_block: int = 2000) -> KeyIndex:
    return KeyIndex(KEYED_LAYOUT, RULES, max_block=max_block)


def test_candidates_are_the_records_the_rules_pair_with_the_query() -> None:
    packed = keyed_records(150, 1)
    nodes = list(range(1000, 1150))
    index = _index()
    index.add(nodes, packed)
    queries = keyed_records(25, 2)
    total = 0
    for q in range(25):
        query = queries[q : q + 1]
        got = index.candidates(query).tolist()
        assert got == _paired(query, nodes, packed)
        assert got == _capped(query, dict(zip(nodes, packed, strict=True)), 2000)
        total += len(got)
    assert total > 0
    # several query rows: the union of their candidates
    assert index.candidates(queries[:5]).tolist() == _paired(queries[:5], nodes, packed)


def test_candidates_are_sorted_without_repeats() -> None:
    packed = keyed_records(80, 3, pool=4, names=2)
    index = _index()
    index.add(np.arange(80) * 3, packed)
    got = index.candidates(packed[:3])
    assert got.dtype == np.int64
    assert got.tolist() == sorted(set(got.tolist()))
    assert len(got) > 3


def test_a_query_sharing_no_key_has_no_candidates() -> None:
    index = _index()
    index.add(list(range(40)), keyed_records(40, 4))
    stranger = np.zeros((1, KEYED_LAYOUT.total_words), dtype=np.uint64)
    stranger[0, 0] = 1
    stranger[0, 1] = 999
    stranger[0, 2] = 999
    assert index.candidates(stranger).tolist() == []
    empty = _index()
    assert empty.candidates(keyed_records(3, 5)).tolist() == []


def test_batches_and_removals_give_the_candidates_of_the_records_held() -> None:
    rng = np.random.default_rng(6)
    index = _index()
    held: dict[int, np.ndarray] = {}
    next_node = 0
    queries = keyed_records(12, 7)
    for step in range(8):
        size = int(rng.integers(1, 40))
        batch = keyed_records(size, 100 + step)
        nodes = list(range(next_node, next_node + size))
        next_node += size + int(rng.integers(0, 5))  # gaps in the node IDs
        index.add(nodes, batch)
        held.update(zip(nodes, batch, strict=True))
        if step % 2:
            gone = [int(n) for n in rng.choice(sorted(held), size=len(held) // 4, replace=False)]
            index.remove(gone)
            for node in gone:
                del held[node]
        order = sorted(held)
        packed = np.array([held[n] for n in order], dtype=np.uint64)
        for q in range(0, 12, 3):
            query = queries[q : q + 1]
            assert index.candidates(query).tolist() == _paired(query, order, packed)
    assert len(index) == sum(len(_values(rule, row)) for rule in RULES for row in held.values())


def test_a_removed_record_is_never_a_candidate() -> None:
    packed = keyed_records(60, 8, pool=5)
    index = _index()
    index.add(list(range(60)), packed)
    before = index.candidates(packed[:1]).tolist()
    assert 0 in before
    assert len(before) > 2
    index.remove(before[:2])
    after = index.candidates(packed[:1]).tolist()
    assert after == [n for n in before if n not in before[:2]]


def test_removing_unknown_nodes_changes_nothing() -> None:
    packed = keyed_records(30, 9)
    index = _index()
    index.add(list(range(30)), packed)
    expected = index.candidates(packed[:4]).tolist()
    index.remove([500, 501])
    assert index.candidates(packed[:4]).tolist() == expected


def test_a_removed_node_added_again_is_found_again() -> None:
    packed = keyed_records(30, 10)
    index = _index()
    index.add(list(range(30)), packed)
    index.candidates(packed[:1])
    index.remove([0])
    assert 0 not in index.candidates(packed[:1]).tolist()
    index.add([0], packed[:1])
    assert 0 in index.candidates(packed[:1]).tolist()


def test_a_node_removed_and_added_again_with_another_value_loses_its_old_keys() -> None:
    old = np.zeros((1, KEYED_LAYOUT.total_words), dtype=np.uint64)
    old[0, 1] = 7
    new = old.copy()
    new[0, 1] = 8
    index = _index()
    index.add([5], old)
    index.remove([5])
    index.add([5], new)
    assert index.candidates(new).tolist() == [5]
    assert index.candidates(old).tolist() == []


def test_a_value_held_by_more_than_max_block_records_gives_no_candidates() -> None:
    packed = keyed_records(60, 11, missing=0.0)
    packed[:30, 1] = np.uint64(424242)  # a placeholder name held by 30 records
    index = _index(max_block=10)
    index.add(list(range(60)), packed)
    held = dict(enumerate(packed))
    query = packed[:1]
    got = index.candidates(query).tolist()
    assert got == _capped(query, held, 10)
    # the cap drops the placeholder's 30 records, not what other rules find
    uncapped = _capped(query, held, 10**6)
    assert set(range(30)) <= set(uncapped)
    assert not set(range(30)) <= set(got)
    assert 0 in got  # the record itself, through its keys
    placeholder = np.zeros((1, KEYED_LAYOUT.total_words), dtype=np.uint64)
    placeholder[0, 1] = np.uint64(424242)
    assert index.candidates(placeholder).tolist() == []
    assert _index(max_block=30).candidates(placeholder).tolist() == []  # nothing added
    wide = _index(max_block=30)
    wide.add(list(range(60)), packed)
    assert wide.candidates(placeholder).tolist() == list(range(30))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.integers(1, 25), min_size=1, max_size=5),
    max_block=st.integers(1, 12),
)
def test_candidates_equal_the_capped_brute_force(
    seed: int, sizes: list[int], max_block: int
) -> None:
    index = _index(max_block)
    held: dict[int, np.ndarray] = {}
    node = 0
    for step, size in enumerate(sizes):
        batch = keyed_records(size, seed + step, pool=6, names=3)
        nodes = list(range(node, node + size))
        node += size
        index.add(nodes, batch)
        held.update(zip(nodes, batch, strict=True))
    queries = keyed_records(4, seed + 99, pool=6, names=3)
    for q in range(4):
        query = queries[q : q + 1]
        assert index.candidates(query).tolist() == _capped(query, held, max_block)


def test_an_explicit_merge_changes_no_answer() -> None:
    """merge() files added and drops removed records ahead of the next lookup (a server
    calls it after loading its index); the answers are those of a lazy merge."""
    packed = keyed_records(300, 17)
    nodes = list(range(300))
    eager, lazy = KeyIndex(KEYED_LAYOUT, RULES), KeyIndex(KEYED_LAYOUT, RULES)
    for index in (eager, lazy):
        index.add(nodes, packed)
        index.remove(nodes[::3])
    eager.merge()
    kept = [n for n in nodes if n % 3]
    for row in range(0, 300, 7):
        query = packed[row : row + 1]
        assert eager.candidates(query).tolist() == lazy.candidates(query).tolist()
        assert eager.candidates(query).tolist() == _paired(query, kept, packed[kept])


def test_a_batch_sharing_one_value_costs_memory_of_the_index_not_the_product() -> None:
    """2,000 batch rows and 20,000 indexed records with one name: each distinct digest is
    looked up once (the product would be 40 million node IDs, 320 MB)."""
    layout_rule = ExactRule(("name",))
    held = keyed_records(20_000, 3)
    held[:, 1] = np.uint64(0xABCDEF12345)
    index = KeyIndex(KEYED_LAYOUT, (layout_rule,))
    index.add(np.arange(20_000), held)
    index.merge()
    batch = held[:2000].copy()
    tracemalloc.start()
    try:
        (found,) = index.sharing(batch)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found.tolist() == list(range(20_000))
    assert peak < 20 * 2**20


def test_lookups_merging_while_a_writer_adds_lose_no_record() -> None:
    """Lookups merge the index while a batch adds to it (they do not take the service's
    writer lock): every added record is found afterwards."""
    packed = keyed_records(4000, 23, pool=400, names=300)
    index = KeyIndex(KEYED_LAYOUT, RULES)
    stop = threading.Event()

    def lookups() -> None:
        while not stop.is_set():
            index.candidates(packed[:1])

    reader = threading.Thread(target=lookups)
    reader.start()
    try:
        for start in range(0, 4000, 50):
            index.add(np.arange(start, start + 50), packed[start : start + 50])
    finally:
        stop.set()
        reader.join()
    for row in range(0, 4000, 97):
        query = packed[row : row + 1]
        if _paired(query, [row], query):  # the record has a key of some rule
            assert row in index.candidates(query).tolist()
