"""The vectorised incremental linkage equals its earlier per-node implementation
(``incremental_reference``; small updates still run a copy of it in ``_incremental``, so
the tests run every update on arrays too): on random graphs with existing links, added and withdrawn
records, singletons, self-edges and tied scores, under greedy, average-link (with and
without a scorer) and custom clusterers, with and without a pair rule, the partition,
the assignment (in its order), the link IDs allocated (in their order) and the events (in
their order) are the same, and so is every error."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from incremental_reference import reference_solve_components, reference_update_links

import linkage.match._incremental as incremental
from linkage.errors import InvalidInputError
from linkage.match import (
    CandidateEdges,
    ComponentClusterer,
    LinkUpdate,
    Node,
    greedy_solve,
    solve_components,
    update_links,
)
from linkage.match._incremental import PairRule, greedy_pair_rule, update_int_links
from linkage.probabilistic import AverageLinkClusterer, greedy_one_per_agency

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("path")]


@pytest.fixture(params=["arrays", "default"], autouse=False)
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every update on arrays (even the smallest), or small ones per node as in service."""
    if request.param == "arrays":
        monkeypatch.setattr(incremental, "_SMALL_UPDATE", -1)
    return str(request.param)


def _scorer(left: Sequence[Node], right: Sequence[Node]) -> list[float]:
    """A deterministic score of two records (a function of the pair alone)."""
    return [
        ((a[0] * 7 + a[1] * 13 + b[0] * 7 + b[1] * 13) % 10) / 10
        for a, b in zip(left, right, strict=True)
    ]


def _everything_in_one(edges: CandidateEdges, /) -> Sequence[Sequence[Node]]:
    """A custom clusterer: the whole component is one group (members in reverse order)."""
    members = {n for _s, a, b in edges.as_tuples() for n in (a, b) if a != b}
    return [sorted(members, reverse=True)] if len(members) > 1 else []


def _average_link_rule(threshold: float) -> PairRule:
    def rule(edges: CandidateEdges, /) -> np.ndarray:
        return ~(edges.scores < threshold)

    return rule


def _cross_agency_rule(edges: CandidateEdges, /) -> np.ndarray:
    return edges.dataset_left != edges.dataset_right


#: (name, clusterer, pair rule or None)
CLUSTERERS: list[tuple[str, ComponentClusterer, PairRule | None]] = [
    ("greedy", greedy_solve, None),
    ("greedy-explicit-rule", greedy_solve, greedy_pair_rule),
    ("average-link", AverageLinkClusterer(0.8, 0.85), _average_link_rule(0.8)),
    ("average-link-no-rule", AverageLinkClusterer(0.8, 0.9), None),
    (
        "average-link-scorer",
        AverageLinkClusterer(0.7, 0.8, scorer=_scorer),
        _average_link_rule(0.7),
    ),
    ("cross-agency-greedy", greedy_one_per_agency, _cross_agency_rule),
    ("everything-in-one", _everything_in_one, None),
]


@dataclass
class Scenario:
    existing: dict[Node, int]
    added: list[Node]
    withdrawn: list[Node]
    edges: CandidateEdges


def _scenario(seed: int, size: int) -> Scenario:
    rng = random.Random(seed)
    datasets = rng.choice([1, 2, 4])
    wide = rng.random() < 0.2  # records far apart: codes by rank
    nodes = sorted(
        {
            (
                rng.randrange(-1, datasets),
                rng.randrange(-(2**40), 2**40) if wide else rng.randrange(3 * size),
            )
            for _ in range(size)
        }
    )
    rng.shuffle(nodes)
    cut = rng.randrange(len(nodes) + 1)
    old, added = nodes[:cut], nodes[cut:]
    # existing links: groups of the old records (a link per group), some IDs shared with
    # nothing, singletons included
    existing: dict[Node, int] = {}
    ids = rng.sample(range(1, 10 * size + 10), len(old) + 1)
    at = 0
    while at < len(old):
        width = rng.choice([1, 1, 1, 2, 2, 3, 5])
        link = ids.pop()
        for node in old[at : at + width]:
            existing[node] = link
        at += width
    withdrawn = [n for n in old if rng.random() < 0.15]
    scores = [1.0, 0.95, 0.9, 0.9, 0.85, 0.8, 0.75, 0.7]
    pairs: dict[tuple[Node, Node], float] = {}
    for _ in range(rng.randrange(2 * len(nodes) + 1)):
        a, b = rng.choice(nodes), rng.choice(nodes)
        if a == b and rng.random() < 0.8:
            continue
        key = (a, b) if rng.random() < 0.5 else (b, a)  # either orientation
        if (b, a) in pairs or (a, b) in pairs:
            continue
        pairs[key] = rng.choice(scores)
    if nodes and rng.random() < 0.3:  # a chain: long components
        chain = rng.sample(nodes, min(len(nodes), 12))
        for a, b in itertools.pairwise(chain):
            if (a, b) not in pairs and (b, a) not in pairs:
                pairs[(a, b)] = rng.choice(scores)
    edges = list(pairs.items())
    rng.shuffle(edges)
    return Scenario(
        existing,
        added,
        withdrawn,
        CandidateEdges.from_tuples([(s, a, b) for (a, b), s in edges]),
    )


def _counter(start: int) -> tuple[Callable[[], int], list[int]]:
    given: list[int] = []
    state = [start]

    def allocate() -> int:
        state[0] += 1
        given.append(state[0])
        return state[0]

    return allocate, given


def _same(new: LinkUpdate[int] | LinkUpdate[str], old: LinkUpdate[int] | LinkUpdate[str]) -> None:
    assert list(new.assignment.items()) == list(old.assignment.items())
    assert new.events == old.events
    assert new == old


def _outcome(
    run: Callable[..., LinkUpdate[int]], *args: Any, **kwargs: Any
) -> LinkUpdate[int] | str:
    try:
        return run(*args, **kwargs)
    except InvalidInputError as exc:
        return f"error: {exc.message}"


@pytest.mark.parametrize(("name", "clusterer", "rule"), CLUSTERERS, ids=[c[0] for c in CLUSTERERS])
@pytest.mark.parametrize("size", [1, 4, 12, 40, 150])
def test_update_links_equals_the_reference_on_random_graphs(
    name: str, clusterer: ComponentClusterer, rule: PairRule | None, size: int
) -> None:
    for seed in range(60 if size < 100 else 15):
        case = _scenario(seed * 1000 + size, size)
        start = 10 * size + 20  # fresh IDs above every old one
        new_allocate, new_given = _counter(start)
        old_allocate, old_given = _counter(start)
        new = _outcome(
            update_links,
            case.existing,
            case.edges,
            new_allocate,
            added=case.added,
            withdrawn=case.withdrawn,
            clusterer=clusterer,
            pair_rule=rule,
        )
        old = _outcome(
            reference_update_links,
            case.existing,
            case.edges,
            old_allocate,
            added=case.added,
            withdrawn=case.withdrawn,
            clusterer=clusterer,
        )
        if isinstance(new, str) or isinstance(old, str):
            assert new == old
            continue
        _same(new, old)
        assert new_given == old_given
        # the array form of the same update
        array_allocate, array_given = _counter(start)
        keys = list(case.existing)
        arrays = update_int_links(
            (
                np.array([k[0] for k in keys], dtype=np.int64),
                np.array([k[1] for k in keys], dtype=np.int64),
                np.array([case.existing[k] for k in keys], dtype=np.int64),
            ),
            case.edges,
            array_allocate,
            added=(
                np.array([n[0] for n in case.added], dtype=np.int64),
                np.array([n[1] for n in case.added], dtype=np.int64),
            ),
            withdrawn=(
                np.array([n[0] for n in case.withdrawn], dtype=np.int64),
                np.array([n[1] for n in case.withdrawn], dtype=np.int64),
            ),
            clusterer=clusterer,
            pair_rule=rule,
        )
        _same(arrays, old)
        assert array_given == old_given
        assert arrays.arrays is not None
        datasets, records, links = arrays.arrays
        assert list(
            zip(zip(datasets.tolist(), records.tolist(), strict=True), links.tolist(), strict=True)
        ) == list(old.assignment.items())


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_update_links_equals_the_reference_hypothesis(data: st.DataObject) -> None:
    nodes = data.draw(
        st.lists(st.tuples(st.integers(0, 2), st.integers(0, 9)), max_size=18, unique=True)
    )
    old = data.draw(st.lists(st.sampled_from(nodes), unique=True)) if nodes else []
    existing = {n: data.draw(st.integers(1, 6)) for n in old}
    added = [n for n in nodes if n not in existing]
    withdrawn = data.draw(st.lists(st.sampled_from(old), unique=True)) if old else []
    pairs = (
        data.draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=30))
        if nodes
        else []
    )
    graph: dict[tuple[Node, Node], float] = {}
    for a, b in pairs:
        if (b, a) not in graph:
            graph[(a, b)] = data.draw(st.sampled_from([1.0, 0.9, 0.9, 0.8]))
    edges = CandidateEdges.from_tuples([(s, a, b) for (a, b), s in graph.items()])
    name, clusterer, rule = data.draw(st.sampled_from(CLUSTERERS))
    new_allocate, new_given = _counter(100)
    old_allocate, old_given = _counter(100)
    new = _outcome(
        update_links,
        existing,
        edges,
        new_allocate,
        added=added,
        withdrawn=withdrawn,
        clusterer=clusterer,
        pair_rule=rule,
    )
    reference = _outcome(
        reference_update_links,
        existing,
        edges,
        old_allocate,
        added=added,
        withdrawn=withdrawn,
        clusterer=clusterer,
    )
    if isinstance(new, str) or isinstance(reference, str):
        assert new == reference, name
        return
    _same(new, reference)
    assert new_given == old_given


def test_string_link_ids_equal_the_reference() -> None:
    for seed in range(40):
        case = _scenario(seed, 30)
        existing = {n: f"L{link:05d}" for n, link in case.existing.items()}
        new_names = (f"N{i:04d}" for i in range(10**4))
        old_names = (f"N{i:04d}" for i in range(10**4))
        new = update_links(
            existing,
            case.edges,
            new_names.__next__,
            added=case.added,
            withdrawn=case.withdrawn,
        )
        old = reference_update_links(
            existing,
            case.edges,
            old_names.__next__,
            added=case.added,
            withdrawn=case.withdrawn,
        )
        _same(new, old)
        assert new.arrays is None


@pytest.mark.parametrize(("name", "clusterer", "rule"), CLUSTERERS, ids=[c[0] for c in CLUSTERERS])
def test_solve_components_equals_the_reference(
    name: str, clusterer: ComponentClusterer, rule: PairRule | None
) -> None:
    for seed in range(80):
        case = _scenario(seed, 50)
        nodes = list(case.existing) + case.added
        assert solve_components(nodes, case.edges, clusterer, rule) == (
            reference_solve_components(nodes, case.edges, clusterer)
        )


def test_a_pair_rule_is_a_vectorised_clusterer_of_one_edge() -> None:
    rng = np.random.default_rng(3)
    scores = rng.choice([0.5, 0.7, 0.75, 0.8, 0.9, float("nan")], size=200)
    for _name, clusterer, rule in CLUSTERERS:
        if rule is None:
            continue
        for i, score in enumerate(scores.tolist()):
            edge = CandidateEdges.from_tuples([(score, (i % 3, i), ((i + 1) % 2, i + 1))])
            assert bool(rule(edge)[0]) == bool(clusterer(edge)), (_name, score)


@pytest.mark.parametrize("rounds", [1, 2, 48])
def test_components_settle_whatever_the_hooking_rounds(
    rounds: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with few rounds of vectorised hooking, the Python union-find finishes the rest
    monkeypatch.setattr(incremental, "_HOOK_ROUNDS", rounds)
    count = 3000
    # a path whose positions alternate from both ends
    order = [i // 2 if i % 2 == 0 else count - 1 - i // 2 for i in range(count)]
    nodes = [(0, i) for i in range(count)]
    edges = CandidateEdges.from_tuples(
        [(0.9, (0, a), (0, b)) for a, b in itertools.pairwise(order)]
    )
    assert solve_components(nodes, edges, _everything_in_one) == [tuple(nodes)]
    assert solve_components(nodes, edges) == reference_solve_components(nodes, edges)
    for seed in range(40):
        case = _scenario(seed, 60)
        nodes = list(case.existing) + case.added
        assert solve_components(nodes, case.edges) == reference_solve_components(nodes, case.edges)


def test_bad_clusterers_are_rejected_as_before() -> None:
    a, b, c, d = (0, 1), (0, 2), (0, 3), (0, 4)
    edges = CandidateEdges.from_tuples([(0.9, a, b), (0.9, b, c), (0.9, c, d)])
    cases: list[Callable[[CandidateEdges], Sequence[Sequence[Node]]]] = [
        lambda e: [(a, b), (b, c)],  # overlapping
        lambda e: [(a,)],  # a group of one
        lambda e: [(a, (9, 9))],  # outside
        lambda e: [(a, b), (c, (9, 9))],  # outside after a good group
    ]
    for clusterer in cases:
        with pytest.raises(InvalidInputError) as new:
            solve_components([a, b, c, d], edges, clusterer)
        with pytest.raises(InvalidInputError) as old:
            reference_solve_components([a, b, c, d], edges, clusterer)
        assert new.value.message == old.value.message


def test_duplicate_and_foreign_edges_are_refused_as_before() -> None:
    a, b, c, stranger = (0, 1), (1, 1), (1, 2), (5, 5)
    cases = [
        [(0.9, a, b), (0.8, b, a)],  # a pair twice, either way round
        [(0.9, a, b), (0.9, a, b), (0.9, a, stranger)],  # twice and outside: twice first
        [(0.9, a, stranger), (0.8, b, c)],  # outside
        [(0.9, a, a), (0.8, a, a)],  # a self-edge twice
        [(0.9, a, a), (0.8, b, c), (0.7, c, a)],  # fine
    ]
    for edges in cases:
        candidate = CandidateEdges.from_tuples(edges)
        new_allocate, new_given = _counter(10)
        old_allocate, old_given = _counter(10)
        new = _outcome(update_links, {a: 1}, candidate, new_allocate, added=[b, c])
        old = _outcome(reference_update_links, {a: 1}, candidate, old_allocate, added=[b, c])
        assert new == old
        assert new_given == old_given
        nodes = [a, b, c]
        try:
            solved: object = solve_components(nodes, candidate)
        except InvalidInputError as exc:
            solved = exc.message
        try:
            expected: object = reference_solve_components(nodes, candidate)
        except InvalidInputError as exc:
            expected = exc.message
        assert solved == expected
