from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prob_helpers import LAYOUT, random_records

from linkage.errors import ConfigError, ResourceExhaustedError
from linkage.match import CandidateEdges, HammingLsh, lsh_candidates, solve_components, update_links
from linkage.probabilistic import (
    AverageLinkClusterer,
    BlockingRules,
    ExactRule,
    LshRule,
    _blocking,
    greedy_one_per_agency,
)

pytestmark = pytest.mark.unit


def _with_duplicates(seed: int) -> np.ndarray:
    base = random_records(40, seed, missing=0.2)
    rng = np.random.default_rng(seed)
    # every third record shares its dob segment with another record
    for i in range(0, 39, 3):
        base[i + 1, 3:5] = base[i, 3:5]
    return base[rng.permutation(40)]


def _brute_exact(a: np.ndarray, b: np.ndarray, within: bool) -> set[tuple[int, int]]:
    out = set()
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            if within and i >= j:
                continue
            x, y = a[i, 3:5], b[j, 3:5]
            if x.any() and y.any() and (x == y).all():
                out.add((i, j))
    return out


def test_exact_rule_equals_brute_force() -> None:
    packed = _with_duplicates(1)
    other = _with_duplicates(2)
    other[:5, 3:5] = packed[:5, 3:5]
    rules = BlockingRules((ExactRule(("dob",)),))
    a, b = rules.candidate_pairs_within(packed, LAYOUT)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == _brute_exact(packed, packed, True)
    assert len(a) > 0
    a, b = rules.candidate_pairs(packed, other, LAYOUT)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == _brute_exact(packed, other, False)


@pytest.mark.parametrize("collide", [False, True])
@pytest.mark.parametrize(("left_size", "right_size"), [(40, 7), (7, 40), (40, 40)])
def test_exact_pairs_between_sets_equal_brute_force_either_side_smaller(
    monkeypatch: pytest.MonkeyPatch, collide: bool, left_size: int, right_size: int
) -> None:
    """The smaller side's hashes are sorted and the larger's looked up in them; pairs whose
    hashes agree but values differ (every hash made equal here) are not candidates."""
    if collide:
        monkeypatch.setattr(
            _blocking, "_row_hashes", lambda rows: np.zeros(rows.shape[0], dtype=np.uint64)
        )
    left = _with_duplicates(3)[:left_size]
    right = _with_duplicates(4)[:right_size]
    right[:5, 3:5] = left[:5, 3:5]
    rule = ExactRule(("dob",))
    a, b = rule.pairs(left, right, LAYOUT)
    got = set(zip(a.tolist(), b.tolist(), strict=True))
    assert got == _brute_exact(left, right, False)
    assert got  # the copied values (where present) are candidates
    assert len(got) == a.shape[0]  # each pair once (one value per record on this rule)


def test_exact_pairs_guard_counts_equal_values_not_equal_hashes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Colliding hashes over the limit fall back to the exact count: no false refusal."""
    monkeypatch.setattr(
        _blocking, "_row_hashes", lambda rows: np.zeros(rows.shape[0], dtype=np.uint64)
    )
    left, right = _with_duplicates(5), _with_duplicates(6)
    right[:3, 3:5] = left[:3, 3:5]
    expected = _brute_exact(left, right, False)
    a, b = ExactRule(("dob",), max_candidates=len(expected)).pairs(left, right, LAYOUT)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == expected
    with pytest.raises(ResourceExhaustedError):
        ExactRule(("dob",), max_candidates=len(expected) - 1).pairs(left, right, LAYOUT)


def _same_partition(groups: np.ndarray, rows: np.ndarray) -> bool:
    """Equal rows and only equal rows share a group id."""
    _, exact = np.unique(rows, axis=0, return_inverse=True)
    exact = exact.reshape(-1)
    pairs = {(int(g), int(e)) for g, e in zip(groups, exact, strict=True)}
    return len(pairs) == len(set(groups.tolist())) == len(set(exact.tolist()))


def test_row_groups_are_the_rows_equality_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    rows = rng.integers(0, 4, size=(500, 3), dtype=np.uint64)  # many repeats
    rows[::7] = rows[0]
    groups = _blocking._row_groups(rows)
    assert groups.dtype == np.int64
    assert groups.shape == (500,)
    assert _same_partition(groups, rows)
    assert _blocking._row_groups(rows[:0]).shape == (0,)
    # a hash that collides for every row must not merge different rows
    monkeypatch.setattr(_blocking, "_row_hashes", lambda r: np.zeros(r.shape[0], np.uint64))
    collided = _blocking._row_groups(rows)
    assert _same_partition(collided, rows)
    packed = _with_duplicates(3)
    rules = BlockingRules((ExactRule(("dob",)),))
    a, b = rules.candidate_pairs_within(packed, LAYOUT)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == _brute_exact(packed, packed, True)


def test_union_deduplicates_and_sorts() -> None:
    packed = _with_duplicates(3)
    lsh = HammingLsh(bands=8, bits_per_band=4, seed=1)
    exact = BlockingRules((ExactRule(("dob",)),)).candidate_pairs_within(packed, LAYOUT)
    by_lsh = BlockingRules((LshRule(("record",), lsh),)).candidate_pairs_within(packed, LAYOUT)
    both = BlockingRules((ExactRule(("dob",)), LshRule(("record",), lsh)))
    a, b = both.candidate_pairs_within(packed, LAYOUT)
    union = set(zip(*exact, strict=True)) | set(zip(*by_lsh, strict=True))
    got = list(zip(a.tolist(), b.tolist(), strict=True))
    assert got == sorted(union)
    assert all(i < j for i, j in got)


def test_lsh_rule_is_lsh_on_the_part() -> None:
    left, right = random_records(30, 4), random_records(25, 5)
    lsh = HammingLsh(bands=6, bits_per_band=5, seed=2)
    a, b = BlockingRules((LshRule(("record",), lsh),)).candidate_pairs(left, right, LAYOUT)
    ea, eb = lsh_candidates(left[:, 0:2].copy(), right[:, 0:2].copy(), lsh)
    assert a.tolist() == ea.tolist()
    assert b.tolist() == eb.tolist()


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.integers(0, 39), min_size=2, max_size=40, unique=True))
def test_candidates_are_pairwise_deterministic(seed: int, subset: list[int]) -> None:
    """A pair is a candidate in a subset exactly when it is one in the whole set."""
    packed = _with_duplicates(seed)
    rules = BlockingRules(
        (ExactRule(("dob",)), LshRule(("record",), HammingLsh(bands=4, bits_per_band=6)))
    )
    a, b = rules.candidate_pairs_within(packed, LAYOUT)
    whole = set(zip(a.tolist(), b.tolist(), strict=True))
    chosen = np.array(sorted(subset))
    sa, sb = rules.candidate_pairs_within(packed[chosen], LAYOUT)
    part = {(int(chosen[i]), int(chosen[j])) for i, j in zip(sa, sb, strict=True)}
    expected = {(i, j) for i, j in whole if i in set(subset) and j in set(subset)}
    assert part == expected


def test_blocking_guards() -> None:
    packed = random_records(10, 6)
    packed[:, 3:5] = np.uint64(5)  # everyone has the same dob segment
    with pytest.raises(ResourceExhaustedError):
        BlockingRules((ExactRule(("dob",), max_candidates=10),)).candidate_pairs_within(
            packed, LAYOUT
        )
    with pytest.raises(ConfigError):
        BlockingRules((ExactRule(("nope",)),)).candidate_pairs_within(packed, LAYOUT)
    with pytest.raises(ConfigError):
        BlockingRules(())


# ----------------------------------------------------------------------------- clustering


def _edges(items: list[tuple[float, tuple[int, int], tuple[int, int]]]) -> CandidateEdges:
    return CandidateEdges.from_tuples(items)


def _groups(result: object) -> set[frozenset[tuple[int, int]]]:
    assert isinstance(result, list)
    return {frozenset(group) for group in result}


def test_duplicates_within_an_agency_share_a_group() -> None:
    edges = _edges([(0.99, (0, 1), (0, 2)), (0.97, (0, 1), (1, 5)), (0.96, (0, 2), (1, 5))])
    assert _groups(AverageLinkClusterer()(edges)) == {frozenset({(0, 1), (0, 2), (1, 5)})}
    # greedy keeps one record per agency
    assert all(
        len({node[0] for node in group}) == len(group) for group in greedy_one_per_agency(edges)
    )


def test_one_weak_edge_does_not_chain_two_clusters() -> None:
    a = [(0, 1), (1, 1), (2, 1)]
    b = [(0, 2), (1, 2), (2, 2)]
    strong = [(0.99, x, y) for x, y in itertools.combinations(a, 2)]
    strong += [(0.98, x, y) for x, y in itertools.combinations(b, 2)]
    weak = [(0.9, a[0], b[0])]
    groups = _groups(AverageLinkClusterer(0.5, 0.6)(_edges(strong + weak)))
    assert groups == {frozenset(a), frozenset(b)}
    # evidence between most members merges them
    dense = [(0.9, x, y) for x in a for y in b]
    assert _groups(AverageLinkClusterer(0.5, 0.6)(_edges(strong + dense))) == {frozenset(a + b)}


def test_singleton_joins_on_average_evidence() -> None:
    cluster = [(0, 1), (1, 1), (2, 1)]
    edges = [(0.99, x, y) for x, y in itertools.combinations(cluster, 2)]
    newcomer = (3, 1)
    joined = [*edges, (0.95, newcomer, cluster[0]), (0.9, newcomer, cluster[1])]
    assert _groups(AverageLinkClusterer(0.5, 0.9)(_edges(joined))) == {
        frozenset([*cluster, newcomer])
    }
    lonely = [*edges, (0.95, newcomer, cluster[0])]  # mean 0.95 / 3 < 0.5
    assert _groups(AverageLinkClusterer(0.5, 0.9)(_edges(lonely))) == {frozenset(cluster)}


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_clusters_do_not_depend_on_edge_order(seed: int) -> None:
    rng = random.Random(seed)
    nodes = [(rng.randrange(3), i) for i in range(12)]
    items = [
        (round(rng.random(), 3), x, y)
        for x, y in itertools.combinations(nodes, 2)
        if rng.random() < 0.3
    ]
    clusterer = AverageLinkClusterer(0.4, 0.6)
    expected = _groups(clusterer(_edges(items)))
    rng.shuffle(items)
    assert _groups(clusterer(_edges(items))) == expected
    for group in expected:
        assert len(group) >= 2


def test_incremental_update_equals_rebuild_with_this_clusterer() -> None:
    rng = random.Random(7)
    nodes = [(rng.randrange(4), i) for i in range(30)]
    items = [
        (round(0.5 + rng.random() / 2, 3), x, y)
        for x, y in itertools.combinations(nodes, 2)
        if rng.random() < 0.08
    ]
    clusterer = AverageLinkClusterer(0.5, 0.7)
    rebuild = solve_components(nodes, _edges(items), clusterer)
    first, later = nodes[:18], nodes[18:]
    early = [e for e in items if e[1] in first and e[2] in first]
    counter = iter(range(1000))
    start = update_links({}, _edges(early), lambda: next(counter), added=first, clusterer=clusterer)
    done = update_links(
        dict(start.assignment),
        _edges(items),
        lambda: next(counter),
        added=later,
        clusterer=clusterer,
    )
    assert sorted(done.groups().values()) == sorted(rebuild)
