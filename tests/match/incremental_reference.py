"""The implementation of ``linkage.match._incremental`` before it was vectorised (commit
0662f3b), kept verbatim as the reference of its equality tests: the same partition, link
IDs, allocations and events, in the same order. Only the public names got a
``reference_`` prefix."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from linkage.arrays import unique_sorted
from linkage.errors import InvalidInputError
from linkage.match import (
    CandidateEdges,
    ComponentClusterer,
    LinkCreated,
    LinkDissolved,
    LinkEvent,
    LinksMerged,
    LinkSplit,
    LinkUpdate,
    Node,
    RecordsJoined,
    RecordsWithdrawn,
    canonical_edges,
    greedy_solve,
)
from linkage.match._incremental import LinkId
from linkage.types import Int64Array

__all__ = ["reference_solve_components", "reference_update_links"]


def _node_codes(
    dataset: Int64Array, record: Int64Array, datasets: Int64Array, records: Int64Array
) -> Int64Array:
    """One int64 per ``(dataset, record)`` node, in the nodes' tuple order: the rank of its
    dataset among ``datasets`` times ``len(records)`` plus the rank of its record among
    ``records`` (both sorted and distinct); a value absent from them ranks where it would go."""
    code: Int64Array = np.searchsorted(datasets, dataset).astype(np.int64) * np.int64(
        records.shape[0] + 1
    ) + np.searchsorted(records, record).astype(np.int64)
    return code


def _edge_positions(node_list: list[Node], edges: CandidateEdges) -> tuple[Int64Array, Int64Array]:
    """The positions in ``node_list`` (sorted, distinct) of each edge's two nodes, found
    vectorised through a code per node in tuple order."""
    count = len(node_list)
    node_array = np.array(node_list, dtype=np.int64).reshape(count, 2)
    datasets = unique_sorted(node_array[:, 0])
    records = unique_sorted(node_array[:, 1])
    node_codes = _node_codes(node_array[:, 0], node_array[:, 1], datasets, records)
    ends: list[Int64Array] = []
    for dataset, record in (
        (edges.dataset_left, edges.record_left),
        (edges.dataset_right, edges.record_right),
    ):
        codes = _node_codes(dataset, record, datasets, records)
        found = np.minimum(np.searchsorted(node_codes, codes), max(count - 1, 0))
        if codes.shape[0] and (
            count == 0
            or not np.array_equal(node_array[found, 0], dataset)
            or not np.array_equal(node_array[found, 1], record)
        ):
            raise InvalidInputError("a candidate edge refers to a record outside the components")
        ends.append(found.astype(np.int64))
    return ends[0], ends[1]


def _component_roots(count: int, left: list[int], right: list[int]) -> list[int]:
    """Union-find over node positions ``0..count-1``: each position's root, the smallest
    position of its connected component."""
    parent = list(range(count))
    for a, b in zip(left, right, strict=True):
        while parent[a] != a:
            parent[a] = a = parent[parent[a]]
        while parent[b] != b:
            parent[b] = b = parent[parent[b]]
        if a < b:
            parent[b] = a
        elif b < a:
            parent[a] = b
    # parent[i] <= i throughout, so one ascending pass leaves every position on its root
    for position in range(count):
        parent[position] = parent[parent[position]]
    return parent


def reference_solve_components(
    nodes: Iterable[Node],
    edges: CandidateEdges,
    clusterer: ComponentClusterer = greedy_solve,
) -> list[tuple[Node, ...]]:
    """Partition ``nodes`` (singletons included) by clustering each component on its own.

    Equal to clustering all edges at once for greedy (see the module docstring). Groups are
    sorted, and ordered by their smallest node.
    """
    ordered = canonical_edges(edges)
    node_list = sorted(set(nodes))
    count = len(node_list)
    left, right = _edge_positions(node_list, ordered)
    roots = _component_roots(count, left.tolist(), right.tolist())
    members_of: defaultdict[int, list[int]] = defaultdict(list)
    for position, root in enumerate(roots):
        members_of[root].append(position)
    # (position of the smallest member, group), sorted by that position at the end;
    # singletons first (a node whose only edges are to itself is one too)
    partition: list[tuple[int, tuple[Node, ...]]] = [
        (root, (node_list[root],)) for root, members in members_of.items() if len(members) == 1
    ]
    # Edges grouped by component (its root) in one stable sort, canonical order kept
    # within each.
    edge_root = np.asarray(roots, dtype=np.int64)[left]
    by_component = np.argsort(edge_root, kind="stable")
    edge_root = edge_root[by_component]
    starts = np.flatnonzero(np.r_[True, edge_root[1:] != edge_root[:-1]])[: edge_root.shape[0]]
    bounds = np.append(starts, edge_root.shape[0]).tolist()
    scores = ordered.scores[by_component]
    dataset_left = ordered.dataset_left[by_component]
    record_left = ordered.record_left[by_component]
    dataset_right = ordered.dataset_right[by_component]
    record_right = ordered.record_right[by_component]
    index_of = dict(zip(node_list, range(count), strict=True))
    for start, end, root in zip(bounds[:-1], bounds[1:], edge_root[starts].tolist(), strict=True):
        component = members_of[root]
        if len(component) == 1:
            continue
        grouped: set[int] = set()
        for group in clusterer(
            CandidateEdges(
                scores[start:end],
                dataset_left[start:end],
                record_left[start:end],
                dataset_right[start:end],
                record_right[start:end],
            )
        ):
            members = tuple(sorted(group))
            at = [index_of.get(m, -1) for m in members]
            if len(members) < 2 or any(p < 0 or roots[p] != root for p in at):
                raise InvalidInputError("the clusterer returned a group outside its component")
            if not grouped.isdisjoint(at):
                raise InvalidInputError("the clusterer returned overlapping groups")
            grouped.update(at)
            partition.append((at[0], members))
        partition.extend(
            (position, (node_list[position],)) for position in component if position not in grouped
        )
    partition.sort(key=_first)
    return [group for _, group in partition]


def _first(item: tuple[int, tuple[Node, ...]]) -> int:
    return item[0]


def reference_update_links(
    existing: Mapping[Node, LinkId],
    edges: CandidateEdges,
    allocate: Callable[[], LinkId],
    *,
    added: Iterable[Node] = (),
    withdrawn: Iterable[Node] = (),
    clusterer: ComponentClusterer = greedy_solve,
) -> LinkUpdate[LinkId]:
    """Recompute the affected components and carry link IDs over (see the module docstring).

    :param existing: the current link ID of every record of the affected components
        (singleton links included), withdrawn records included.
    :param edges: all candidate edges among the records that remain (existing minus
        withdrawn, plus added); edges that touch a withdrawn record are ignored.
    :param allocate: returns a fresh, never used link ID each time it is called.
    :param added: records new to the index; they must not be in ``existing``.
    :param withdrawn: records to remove; they must be in ``existing``.
    """
    added_set = set(added)
    withdrawn_set = set(withdrawn)
    if not added_set.isdisjoint(existing.keys()):
        raise InvalidInputError("an added record already has a link")
    if not withdrawn_set.issubset(existing.keys()):
        raise InvalidInputError("a withdrawn record has no link")
    remaining = (existing.keys() - withdrawn_set) | added_set
    kept = edges
    if withdrawn_set:
        keep = np.array(
            [a not in withdrawn_set and b not in withdrawn_set for _s, a, b in edges.as_tuples()],
            dtype=bool,
        )
        kept = CandidateEdges(
            edges.scores[keep],
            edges.dataset_left[keep],
            edges.record_left[keep],
            edges.dataset_right[keep],
            edges.record_right[keep],
        )
    partition = reference_solve_components(remaining, kept, clusterer)

    # Pair new groups with old IDs: overlap desc, old ID asc, smallest member asc.
    link_before = existing.get
    options: list[tuple[int, LinkId, Node, int]] = []
    for index, group in enumerate(partition):
        if len(group) == 1:
            link = link_before(group[0])
            if link is not None:
                options.append((-1, link, group[0], index))
            continue
        overlap: dict[LinkId, int] = {}
        for node in group:
            link = link_before(node)
            if link is not None:
                overlap[link] = overlap.get(link, 0) + 1
        options.extend((-count, link, group[0], index) for link, count in overlap.items())
    options.sort()
    link_of_group: dict[int, LinkId] = {}
    used: set[LinkId] = set()
    for _neg, link, _first, index in options:
        if index in link_of_group or link in used:
            continue
        link_of_group[index] = link
        used.add(link)
    old_links = set(existing.values())
    fresh: set[LinkId] = set()
    for index in range(len(partition)):
        if index not in link_of_group:
            link = allocate()
            if link in old_links or link in fresh:
                raise InvalidInputError("the link ID allocator returned an ID already in use")
            link_of_group[index] = link
            fresh.add(link)

    assignment = {node: link_of_group[i] for i, group in enumerate(partition) for node in group}
    return LinkUpdate(
        assignment,
        _events(existing, withdrawn_set, added_set, partition, link_of_group, fresh),
    )


def _events(
    existing: Mapping[Node, LinkId],
    withdrawn: set[Node],
    added: set[Node],
    partition: list[tuple[Node, ...]],
    link_of_group: dict[int, LinkId],
    fresh: set[LinkId],
) -> tuple[LinkEvent[LinkId], ...]:
    withdrawn_from: defaultdict[LinkId, list[Node]] = defaultdict(list)
    for node in withdrawn:
        withdrawn_from[existing[node]].append(node)
    # old link -> the links its remaining records are in; new link -> the old links of
    # its records; new link -> its added records
    destinations: dict[LinkId, set[LinkId]] = {}
    sources: dict[LinkId, set[LinkId]] = {}
    joined: dict[LinkId, list[Node]] = {}
    link_before = existing.get
    for index, group in enumerate(partition):
        link = link_of_group[index]
        for node in group:
            before = link_before(node)
            if before is not None:
                _add(destinations, before, link)
                _add(sources, link, before)
            elif node in added:
                joined.setdefault(link, []).append(node)
    surviving = set(link_of_group.values())
    old_links = sorted(set(existing.values()))

    withdrawals: list[LinkEvent[LinkId]] = [
        RecordsWithdrawn(link, tuple(sorted(withdrawn_from[link])))
        for link in old_links
        if link in withdrawn_from
    ]
    dissolved: list[LinkEvent[LinkId]] = [
        LinkDissolved(link) for link in old_links if link not in surviving
    ]
    splits: list[LinkEvent[LinkId]] = [
        LinkSplit(link, tuple(sorted(destinations[link])))
        for link in old_links
        if len(destinations.get(link, ())) > 1
    ]
    merges: list[LinkEvent[LinkId]] = []
    created: list[LinkEvent[LinkId]] = []
    joins: list[LinkEvent[LinkId]] = []
    # each group has a link of its own: by link ID
    for index, link in sorted(link_of_group.items(), key=_second):
        merged = sources.get(link, ())
        if len(merged) > 1:
            merges.append(LinksMerged(tuple(sorted(set(merged) - {link})), link))
        if link in fresh:
            created.append(LinkCreated(link, partition[index]))
        elif link in joined:
            joins.append(RecordsJoined(link, tuple(sorted(joined[link]))))
    return tuple(itertools.chain(withdrawals, dissolved, splits, merges, created, joins))


def _add(sets: dict[LinkId, set[LinkId]], key: LinkId, value: LinkId) -> None:
    found = sets.get(key)
    if found is None:
        sets[key] = {value}
    else:
        found.add(value)


def _second(item: tuple[int, LinkId]) -> LinkId:
    return item[1]
