"""Incremental linkage: recomputing the affected components equals a full rebuild."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import InvalidInputError
from linkage.match import (
    CandidateEdges,
    LinkCreated,
    LinkDissolved,
    LinksMerged,
    LinkSplit,
    LinkUpdate,
    MatchGroups,
    Node,
    RecordsJoined,
    RecordsWithdrawn,
    canonical_edges,
    connected_components,
    greedy_solve,
    solve_components,
    update_links,
)

pytestmark = pytest.mark.unit

Graph = dict[tuple[Node, Node], float]


class Service:
    """What the service does: keep link IDs, gather the affected components, apply updates."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.links: dict[Node, int] = {}
        self.ids = itertools.count(1)
        self.events: list[object] = []

    def edges_among(self, nodes: set[Node]) -> CandidateEdges:
        return CandidateEdges.from_tuples(
            [(s, a, b) for (a, b), s in self.graph.items() if a in nodes and b in nodes]
        )

    def affected(self, present: set[Node], touched: set[Node]) -> set[Node]:
        out: set[Node] = set()
        for component in connected_components(present, self.edges_among(present)):
            if touched.intersection(component):
                out.update(component)
        return out

    def add(self, batch: Sequence[Node]) -> LinkUpdate[int]:
        present = set(self.links) | set(batch)
        affected = self.affected(present, set(batch))
        existing = {n: self.links[n] for n in affected if n in self.links}
        update = update_links(
            existing, self.edges_among(affected), lambda: next(self.ids), added=batch
        )
        self.links.update(update.assignment)
        self.events.extend(update.events)
        return update

    def withdraw(self, batch: Sequence[Node]) -> LinkUpdate[int]:
        before = set(self.links)
        affected = self.affected(before, set(batch))
        remaining = affected - set(batch)
        existing = {n: self.links[n] for n in affected}
        update = update_links(
            existing, self.edges_among(remaining), lambda: next(self.ids), withdrawn=batch
        )
        for node in batch:
            del self.links[node]
        self.links.update(update.assignment)
        self.events.extend(update.events)
        return update

    def partition(self) -> MatchGroups:
        groups: dict[int, list[Node]] = {}
        for node, link in self.links.items():
            groups.setdefault(link, []).append(node)
        return tuple(sorted(tuple(sorted(g)) for g in groups.values() if len(g) > 1))


def rebuild(graph: Graph, present: set[Node]) -> MatchGroups:
    edges = CandidateEdges.from_tuples(
        [(s, a, b) for (a, b), s in graph.items() if a in present and b in present]
    )
    return greedy_solve(canonical_edges(edges))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Graph, list[list[Node]]]:
    nodes = draw(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 9)), min_size=1, max_size=16, unique=True
        )
    )
    graph: Graph = {}
    for a, b in draw(
        st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=40)
    ):
        if a != b:
            graph[(min(a, b), max(a, b))] = draw(st.sampled_from([1.0, 0.9, 0.9, 0.85, 0.8]))
    order = draw(st.permutations(nodes))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(order) - 1)), max_size=len(order))))
    batches = [list(order[i:j]) for i, j in itertools.pairwise([0, *cuts, len(order)]) if i < j]
    return graph, batches


@given(scenario=scenarios())
@settings(max_examples=250, deadline=None)
def test_any_arrival_order_in_batches_ends_as_a_full_rebuild(
    scenario: tuple[Graph, list[list[Node]]],
) -> None:
    graph, batches = scenario
    service = Service(graph)
    seen: set[Node] = set()
    for batch in batches:
        service.add(batch)
        seen.update(batch)
        assert service.partition() == rebuild(graph, seen)
    assert set(service.links) == seen


@given(scenario=scenarios(), data=st.data())
@settings(max_examples=150, deadline=None)
def test_withdrawals_end_as_a_rebuild_without_the_withdrawn(
    scenario: tuple[Graph, list[list[Node]]], data: st.DataObject
) -> None:
    graph, batches = scenario
    service = Service(graph)
    everyone = [n for batch in batches for n in batch]
    service.add(everyone)
    gone = data.draw(st.lists(st.sampled_from(everyone), unique=True, max_size=len(everyone)))
    for node in gone:
        service.withdraw([node])
    assert service.partition() == rebuild(graph, set(everyone) - set(gone))


def test_a_new_record_joins_an_existing_link() -> None:
    a, b, c = (0, 1), (1, 1), (2, 1)
    graph = {(a, b): 0.95, (a, c): 0.9, (b, c): 0.9}
    service = Service(graph)
    first = service.add([a, b])
    assert first.events == (LinkCreated(1, (a, b)),)
    second = service.add([c])
    assert second.assignment == {a: 1, b: 1, c: 1}
    assert second.events == (RecordsJoined(1, (c,)),)


def test_an_unmatched_record_gets_a_fresh_link() -> None:
    service = Service({})
    update = service.add([(0, 7)])
    assert update.events == (LinkCreated(1, ((0, 7),)),)


def test_a_record_matching_both_members_of_a_link_joins_it() -> None:
    a, b, x = (0, 1), (1, 1), (2, 1)
    graph = {(a, b): 0.81, (a, x): 0.95, (b, x): 0.95}
    service = Service(graph)
    service.add([a])
    service.add([b])
    assert service.links[a] == service.links[b] == 1
    update = service.add([x])
    assert service.partition() == ((a, b, x),)
    assert update.events == (RecordsJoined(1, (x,)),)


def test_a_better_match_splits_a_link_and_the_events_say_so() -> None:
    a, b, c = (0, 1), (1, 1), (1, 2)
    # a-b first (0.85); then c arrives and a-c (0.99) wins; b-c is no candidate.
    graph = {(a, b): 0.85, (a, c): 0.99}
    service = Service(graph)
    service.add([a, b])
    assert service.links == {a: 1, b: 1}
    update = service.add([c])
    assert update.assignment == {a: 1, c: 1, b: 2}
    assert update.events == (
        LinkSplit(1, (1, 2)),
        LinkCreated(2, (b,)),
        RecordsJoined(1, (c,)),
    )


def test_merge_events_and_dissolved_ids() -> None:
    a, b, c, d = (0, 1), (1, 1), (0, 2), (1, 2)
    graph = {(a, b): 0.9, (c, d): 0.9, (a, c): 0.95, (a, d): 0.95, (b, c): 0.95, (b, d): 0.95}
    existing = {a: 5, b: 5, c: 3, d: 3}
    update = update_links(
        existing,
        CandidateEdges.from_tuples([(s, x, y) for (x, y), s in graph.items()]),
        lambda: 99,
    )
    assert set(update.assignment.values()) == {3}
    assert update.events == (LinkDissolved(5), LinksMerged((5,), 3))


def test_withdrawal_events() -> None:
    a, b, c = (0, 1), (1, 1), (2, 1)
    service = Service({(a, b): 0.9, (b, c): 0.85})
    service.add([a, b, c])
    assert service.partition() == ((a, b),)
    update = service.withdraw([a])
    assert update.events[0] == RecordsWithdrawn(1, (a,))
    assert service.partition() == ((b, c),)


def test_the_clusterer_is_pluggable() -> None:
    a, b, c = (0, 1), (1, 1), (2, 1)
    edges = CandidateEdges.from_tuples([(0.9, a, b), (0.8, b, c)])

    def everything_in_one(component: CandidateEdges) -> Sequence[Sequence[Node]]:
        members = {n for _s, x, y in component.as_tuples() for n in (x, y)}
        return [sorted(members)]

    assert solve_components([a, b, c], edges, everything_in_one) == [(a, b, c)]
    assert solve_components([a, b, c], edges) == [(a, b), (c,)]


@pytest.mark.parametrize(
    ("existing", "added", "withdrawn", "allocator", "message"),
    [
        ({(0, 1): 1}, [(0, 1)], [], lambda: 2, "already has a link"),
        ({(0, 1): 1}, [], [(0, 2)], lambda: 2, "has no link"),
        ({}, [(0, 1)], [], lambda: 1, None),
        ({(0, 1): 1}, [(0, 2)], [], lambda: 1, "already in use"),
    ],
)
def test_bad_updates_are_rejected(
    existing: dict[Node, int],
    added: list[Node],
    withdrawn: list[Node],
    allocator: Callable[[], int],
    message: str | None,
) -> None:
    if message is None:
        assert update_links(existing, CandidateEdges.empty(), allocator, added=added).assignment
        return
    with pytest.raises(InvalidInputError, match=message):
        update_links(existing, CandidateEdges.empty(), allocator, added=added, withdrawn=withdrawn)


def test_duplicate_and_foreign_edges_are_rejected() -> None:
    a, b = (0, 1), (1, 1)
    twice = CandidateEdges.from_tuples([(0.9, a, b), (0.9, b, a)])
    with pytest.raises(InvalidInputError, match="twice"):
        update_links({}, twice, lambda: 1, added=[a, b])
    foreign = CandidateEdges.from_tuples([(0.9, a, (5, 5))])
    with pytest.raises(InvalidInputError, match="outside"):
        update_links({}, foreign, lambda: 1, added=[a])


def test_string_link_ids_work_too() -> None:
    names = iter(["L-b", "L-a"])
    update = update_links({}, CandidateEdges.empty(), lambda: next(names), added=[(0, 2), (0, 1)])
    assert update.assignment == {(0, 1): "L-b", (0, 2): "L-a"}
    assert update.groups() == {"L-b": ((0, 1),), "L-a": ((0, 2),)}


def _solve_per_component(nodes: set[Node], edges: CandidateEdges) -> list[tuple[Node, ...]]:
    """The plain reading of solve_components: each connected component clustered alone
    (greedy, the edges in canonical order), every node not grouped a singleton."""
    ordered = canonical_edges(edges)
    partition: list[tuple[Node, ...]] = []
    for component in connected_components(nodes, ordered):
        if len(component) == 1:
            partition.append((component[0],))
            continue
        inside = set(component)
        groups = greedy_solve(
            CandidateEdges.from_tuples([e for e in ordered.as_tuples() if e[1] in inside])
        )
        grouped = {node for group in groups for node in group}
        partition.extend(groups)
        partition.extend((node,) for node in component if node not in grouped)
    return sorted(partition, key=lambda group: group[0])


@given(
    nodes=st.lists(
        st.tuples(st.integers(-3, 3), st.integers(-(2**40), 2**40)), min_size=0, max_size=24
    ),
    data=st.data(),
)
@settings(max_examples=300, deadline=None)
def test_solve_components_equals_clustering_each_component_alone(
    nodes: list[Node], data: st.DataObject
) -> None:
    # self-edges included: a node whose only edge is to itself stays a singleton
    pairs = (
        data.draw(st.lists(st.tuples(st.sampled_from(nodes), st.sampled_from(nodes)), max_size=40))
        if nodes
        else []
    )
    graph = {(min(a, b), max(a, b)): 0.9 - 0.01 * (i % 7) for i, (a, b) in enumerate(pairs)}
    edges = CandidateEdges.from_tuples([(s, a, b) for (a, b), s in graph.items()])
    assert solve_components(nodes, edges) == _solve_per_component(set(nodes), edges)
    stranger = data.draw(st.tuples(st.integers(-4, 4), st.integers(-(2**40), 2**40)))
    if nodes and stranger not in nodes:
        foreign = CandidateEdges.from_tuples([*edges.as_tuples(), (0.95, nodes[0], stranger)])
        with pytest.raises(InvalidInputError, match="outside"):
            solve_components(nodes, foreign)
