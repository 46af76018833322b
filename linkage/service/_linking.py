"""Linking: candidate pairs, clustering and link IDs, shared by ingest and rebuilds.

* :meth:`Linking.join` finds the candidate pairs of joining CLKs against the in-memory
  index and among themselves: the model's blocking and Fellegi-Sunter score in
  probabilistic mode, a (blocked) Dice join in Dice mode, on a Dask cluster when one is
  configured (in probabilistic mode the joins within one set: :meth:`Linking.link_within`,
  the rebuild's).
* :meth:`Linking.clusterer_for` is the configured clusterer; average-link in
  probabilistic mode scores the pairs without an edge with the model.
* :meth:`Linking.update_links` re-clusters nodes closed under their edges and carries
  link IDs over (:func:`linkage.match.update_links`); :meth:`Linking.relink` does it for
  the components a batch touched.
* :func:`link_event` turns a link change into its event-log row.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import numpy as np

from linkage.distributed import DaskJoiner
from linkage.errors import InvalidInputError
from linkage.match import (
    CandidateEdges,
    CandidatePairs,
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
    blocked_dice_join,
    blocked_dice_self_join,
    dice_join,
    dice_self_join,
    pack_clk_bytes,
    update_links,
)
from linkage.match._incremental import PairRule, update_int_links
from linkage.probabilistic import (
    AverageLinkClusterer,
    ProbabilisticLinker,
    TermFrequencies,
    greedy_one_per_agency,
    one_per_agency_pair_rule,
)
from linkage.service._state import ServiceState
from linkage.store import EdgeRow, EventKind, EventRow
from linkage.types import PackedClks

__all__ = ["Linking", "RelinkTransaction", "edge", "int_pairs", "link_event"]

#: Pairs as ``(left, right, score)``: rows or node IDs.
Pairs = list[tuple[int, int, float]]


class RelinkTransaction(Protocol):
    """What re-clustering reads and writes: a store's write transaction, or a batch's
    relinking planned ahead of it (:mod:`linkage.service._relink_plan`)."""

    def edges_touching(self, node_ids: Sequence[int]) -> list[EdgeRow]: ...

    def node_links(self, node_ids: Sequence[int]) -> dict[int, int]: ...

    def node_agency_nos(self, node_ids: Sequence[int]) -> dict[int, int]: ...

    def allocate_link_ids(self, count: int, now_us: int) -> list[int]: ...

    def assign_links(self, assignments: Iterable[tuple[int, int]], now_us: int) -> None: ...

    def delete_links(self, link_ids: Iterable[int]) -> None: ...


class Linking:
    """Joins, clustering and link-ID upkeep over one service's state."""

    def __init__(
        self, state: ServiceState, cluster: ComponentClusterer, joiner: DaskJoiner | None
    ) -> None:
        self._state = state
        self._cluster = cluster
        self._joiner = joiner

    # ------------------------------------------------------------------ joins
    def join(self, clks: list[bytes], leaving: set[int]) -> tuple[Pairs, Pairs]:
        """Candidate pairs of joining CLKs: ``(row, node_id, score)`` against the
        index (minus ``leaving``) and ``(row, row, score)`` among themselves."""
        if not clks:
            return [], []
        state = self._state
        packed = pack_clk_bytes(clks, state.settings.clk_bits)
        linked = None
        if state.linker is not None:
            # only the records the blocking may pair with the batch are read
            linked = state.mirror.link_batch(state.linker, packed, leaving)
        if linked is not None:
            against, nodes = linked
        else:
            nodes, held = state.mirror.packed_except(leaving)
            against = self.pair_join(packed, held) if nodes.size else CandidatePairs.empty()
        keys = nodes.tolist()
        against_index = [(row, keys[col], score) for score, row, col in against.as_tuples()]
        return against_index, int_pairs(self.self_join(packed))

    def pair_join(self, left: PackedClks, right: PackedClks) -> CandidatePairs:
        """Candidate pairs between two sets, blocked if configured."""
        state = self._state
        if state.linker is not None:
            return state.linker.link(left, right, state.mirror.frequencies)
        settings = state.settings
        blocking = settings.blocking
        if self._joiner is not None:
            return self._joiner.pair_join(left, right, settings.threshold, blocking)
        if blocking is None:
            return dice_join(left, right, settings.threshold)
        return blocked_dice_join(left, right, settings.threshold, blocking).pairs

    def self_join(self, clks: PackedClks) -> CandidatePairs:
        """Candidate pairs within one set, blocked if configured."""
        state = self._state
        if state.linker is not None:
            return self.link_within(state.linker, clks, state.mirror.frequencies)
        settings = state.settings
        blocking = settings.blocking
        if self._joiner is not None:
            return self._joiner.self_join(clks, settings.threshold, blocking)
        if blocking is None:
            return dice_self_join(clks, settings.threshold)
        return blocked_dice_self_join(clks, settings.threshold, blocking).pairs

    def link_within(
        self,
        linker: ProbabilisticLinker,
        clks: PackedClks,
        frequencies: TermFrequencies | None,
    ) -> CandidatePairs:
        """``linker.link_within(clks, frequencies)``: on the Dask cluster when one is
        configured and the set is big enough (``min_comparisons``), in-process
        otherwise; the same pairs, probabilities and order either way."""
        if self._joiner is not None:
            return self._joiner.link_within(linker, clks, frequencies)
        return linker.link_within(clks, frequencies)

    # ------------------------------------------------------------- clustering
    def clusterer_for(
        self,
        linker: ProbabilisticLinker | None,
        frequencies: TermFrequencies | None,
        pending: Mapping[int, bytes],
    ) -> ComponentClusterer:
        """The clusterer, scoring the pairs without an edge with ``linker`` when it is
        average-link in probabilistic mode (``pending``: CLKs of records not yet in the
        in-memory index)."""
        cluster = self._cluster
        if linker is None or not isinstance(cluster, AverageLinkClusterer):
            return cluster
        settings = self._state.settings
        clustering = settings.clustering
        if settings.auto_threshold:
            # the model's threshold, where the configuration sets none of its own
            cluster = dataclasses.replace(
                cluster,
                join_threshold=clustering.join_threshold or linker.threshold,
                merge_threshold=max(
                    clustering.join_threshold or linker.threshold,
                    clustering.merge_threshold or linker.threshold,
                ),
            )
        mirror = self._state.mirror
        # the pending records packed once for every call of the scorer
        pending_nodes = list(pending)
        pending_row = {n: i for i, n in enumerate(pending_nodes)}
        pending_packed = pack_clk_bytes([pending[n] for n in pending_nodes], settings.clk_bits)

        def scorer(left: Sequence[Node], right: Sequence[Node]) -> list[float]:
            wanted = sorted({n for _, n in left} | {n for _, n in right})
            held = [n for n in wanted if n in mirror]
            extra = [n for n in wanted if n not in mirror and n in pending_row]
            parts = []
            if held:
                parts.append(mirror.packed(held))
            if extra:
                parts.append(pending_packed[[pending_row[n] for n in extra]])
            row = {n: i for i, n in enumerate(held + extra)}
            li = np.array([row.get(n, -1) for _, n in left], dtype=np.int64)
            ri = np.array([row.get(n, -1) for _, n in right], dtype=np.int64)
            out = np.zeros(li.shape[0], dtype=np.float64)
            known = (li >= 0) & (ri >= 0)
            if parts and known.any():
                packed = np.concatenate(parts)
                out[known] = linker.score(packed, packed, li[known], ri[known], frequencies)
            return out.tolist()

        return dataclasses.replace(cluster, scorer=scorer)

    # -------------------------------------------------------------- link IDs
    @staticmethod
    def component_edges(tx: RelinkTransaction, seeds: set[int]) -> tuple[set[int], list[EdgeRow]]:
        """Close ``seeds`` under stored edges: every node and edge reachable."""
        nodes = set(seeds)
        edges: dict[tuple[int, int], EdgeRow] = {}
        frontier = sorted(seeds)
        while frontier:
            found: set[int] = set()
            for row in tx.edges_touching(frontier):
                edges[(row.node_a, row.node_b)] = row
                found.update((row.node_a, row.node_b))
            frontier = sorted(found - nodes)
            nodes |= found
        return nodes, list(edges.values())

    @staticmethod
    def update_links(
        tx: RelinkTransaction,
        nodes: Sequence[int],
        edges: Sequence[EdgeRow],
        leaving: Mapping[int, tuple[int, int]],
        now: int,
        clusterer: ComponentClusterer,
    ) -> tuple[LinkUpdate[int], dict[int, int]]:
        """Re-cluster ``nodes`` (closed under ``edges``) and carry link IDs over.

        ``leaving`` maps nodes that left the graph to ``(agency_no, old link)``.
        Returns the update and the old link of every node that had one. Beyond a few
        hundred nodes (a rebuild passes all of them) the records go to
        :func:`linkage.match._incremental.update_int_links` as arrays.
        """
        agency_of = tx.node_agency_nos(nodes)
        old = tx.node_links(nodes)

        # Fresh link IDs come from the store in growing blocks; unused ones are
        # deleted again below (link IDs are never reused either way).
        spare: list[int] = []
        allocated: list[int] = []

        def allocate() -> int:
            if not spare:
                block = tx.allocate_link_ids(max(1, min(4096, 2 * len(allocated))), now)
                allocated.extend(block)
                spare.extend(reversed(block))
            return spare.pop()

        small = len(nodes) + len(leaving) <= _SMALL_LINKING
        update, changed, gone = (_small_link_update if small else _array_link_update)(
            agency_of, old, nodes, edges, leaving, allocate, clusterer
        )
        tx.assign_links(changed, now)
        tx.delete_links(sorted(gone | set(spare)))
        return update, old

    @staticmethod
    def relink(
        tx: RelinkTransaction,
        seeds: set[int],
        leaving: Mapping[int, tuple[int, int]],
        now: int,
        clusterer: ComponentClusterer,
    ) -> tuple[tuple[LinkEvent[int], ...], set[int]]:
        """Re-cluster every component reachable from ``seeds``: the link events and the
        nodes now in a link of two or more records. (Static: it needs only the store and
        the clusterer, so a key-epoch finish run on the store calls it too.)"""
        nodes, edges = Linking.component_edges(tx, seeds)
        update, _ = Linking.update_links(tx, sorted(nodes), edges, leaving, now, clusterer)
        sizes: dict[int, int] = defaultdict(int)
        for link in update.assignment.values():
            sizes[link] += 1
        linked = {node for (_, node), link in update.assignment.items() if sizes[link] > 1}
        return update.events, linked


#: Linking.update_links on at most this many nodes builds its dicts in Python (an
#: ingest batch's components); beyond, it passes arrays (a rebuild's every record).
_SMALL_LINKING = 300

#: What Linking.update_links computes from the store's reads: the update, the (node, link)
#: pairs to assign and the old links to delete.
_LinkChanges = tuple[LinkUpdate[int], list[tuple[int, int]], set[int]]


def _small_link_update(
    agency_of: Mapping[int, int],
    old: Mapping[int, int],
    nodes: Sequence[int],
    edges: Sequence[EdgeRow],
    leaving: Mapping[int, tuple[int, int]],
    allocate: Callable[[], int],
    clusterer: ComponentClusterer,
) -> _LinkChanges:
    """:meth:`Linking.update_links` for few nodes: records as ``(agency_no, node)`` tuples."""
    existing: dict[tuple[int, int], int] = {(agency_of[n], n): link for n, link in old.items()}
    withdrawn = [(agency, node) for node, (agency, _) in leaving.items()]
    existing.update({(agency, node): link for node, (agency, link) in leaving.items()})
    added = [(agency_of[n], n) for n in nodes if n not in old]
    candidate_edges = CandidateEdges.from_tuples(
        [(e.score, (agency_of[e.node_a], e.node_a), (agency_of[e.node_b], e.node_b)) for e in edges]
    )
    update = update_links(
        existing,
        candidate_edges,
        allocate,
        added=added,
        withdrawn=withdrawn,
        clusterer=clusterer,
        pair_rule=_pair_rule(clusterer),
    )
    changed = [
        (node, link) for (_, node), link in update.assignment.items() if old.get(node) != link
    ]
    surviving = set(update.assignment.values())
    gone = (set(old.values()) | {link for _, link in leaving.values()}) - surviving
    return update, changed, gone


def _array_link_update(
    agency_of: Mapping[int, int],
    old: Mapping[int, int],
    nodes: Sequence[int],
    edges: Sequence[EdgeRow],
    leaving: Mapping[int, tuple[int, int]],
    allocate: Callable[[], int],
    clusterer: ComponentClusterer,
) -> _LinkChanges:
    """:meth:`Linking.update_links` for many nodes: records as arrays
    (:func:`linkage.match._incremental.update_int_links`); the same update, assignments
    and deletions as :func:`_small_link_update`."""
    agencies = _IntLookup(agency_of)
    node_ids = np.fromiter(nodes, dtype=np.int64, count=len(nodes))
    old_nodes = np.fromiter(old.keys(), dtype=np.int64, count=len(old))
    old_links = np.fromiter(old.values(), dtype=np.int64, count=len(old))
    # existing: {(agency, node): link} of the nodes with a link, then of those leaving
    # (a leaving entry replaces one with the same agency and node)
    ex_agency, ex_node, ex_link = agencies.of(old_nodes), old_nodes, old_links
    withdrawn = (np.empty(0, np.int64), np.empty(0, np.int64))
    if leaving:
        leaving_node = np.fromiter(leaving.keys(), dtype=np.int64, count=len(leaving))
        leaving_agency = np.array([a for a, _ in leaving.values()], dtype=np.int64)
        leaving_link = np.array([lk for _, lk in leaving.values()], dtype=np.int64)
        replaced = np.zeros(old_nodes.shape[0], dtype=np.bool_)
        for at in np.flatnonzero(np.isin(old_nodes, leaving_node)).tolist():
            replaced[at] = leaving[int(old_nodes[at])][0] == int(ex_agency[at])
        keep = ~replaced
        ex_agency = np.concatenate([ex_agency[keep], leaving_agency])
        ex_node = np.concatenate([ex_node[keep], leaving_node])
        ex_link = np.concatenate([ex_link[keep], leaving_link])
        withdrawn = (leaving_agency, leaving_node)
    new_nodes = node_ids[~np.isin(node_ids, old_nodes)]
    count = len(edges)
    node_a = np.fromiter((e.node_a for e in edges), dtype=np.int64, count=count)
    node_b = np.fromiter((e.node_b for e in edges), dtype=np.int64, count=count)
    candidate_edges = CandidateEdges(
        np.fromiter((e.score for e in edges), dtype=np.float64, count=count),
        agencies.of(node_a),
        node_a,
        agencies.of(node_b),
        node_b,
    )
    update = update_int_links(
        (ex_agency, ex_node, ex_link),
        candidate_edges,
        allocate,
        added=(agencies.of(new_nodes), new_nodes),
        withdrawn=withdrawn,
        clusterer=clusterer,
        pair_rule=_pair_rule(clusterer),
    )
    assert update.arrays is not None  # int link IDs
    _, assigned_node, assigned_link = update.arrays
    # (node, link) of every assigned node whose link is not its old one, in the
    # assignment's order
    before, had = _IntLookup(old).find(assigned_node)
    differs = (before != assigned_link) | ~had
    changed = list(
        zip(assigned_node[differs].tolist(), assigned_link[differs].tolist(), strict=True)
    )
    old_ids = np.concatenate(
        [old_links, np.array([lk for _, lk in leaving.values()], dtype=np.int64)]
    )
    gone = set(np.setdiff1d(old_ids, assigned_link).tolist())
    return update, changed, gone


class _IntLookup:
    """Values of an ``int -> int`` mapping, looked up for arrays of keys: through a table
    indexed by key where the keys span little more than their count (node IDs), else by
    binary search."""

    def __init__(self, mapping: Mapping[int, int]) -> None:
        count = len(mapping)
        keys = np.fromiter(mapping.keys(), dtype=np.int64, count=count)
        values = np.fromiter(mapping.values(), dtype=np.int64, count=count)
        self._table: np.ndarray | None = None
        self._known: np.ndarray | None = None
        self._low = 0
        self._keys = self._values = np.empty(0, dtype=np.int64)
        low = int(keys.min()) if count else 0
        span = int(keys.max()) - low + 1 if count else 0
        if count and span <= 4 * count + 64:
            self._low = low
            self._table = np.zeros(span, dtype=np.int64)
            self._known = np.zeros(span, dtype=np.bool_)
            self._table[keys - low] = values
            self._known[keys - low] = True
            return
        order = np.argsort(keys, kind="stable")
        self._keys, self._values = keys[order], values[order]

    def of(self, keys: np.ndarray) -> np.ndarray:
        """The values of ``keys``, all of them in the mapping (else InvalidInputError)."""
        values, found = self.find(keys)
        if not found.all():
            raise InvalidInputError("a node of the update has no agency")
        return values

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The values of ``keys`` (0 where absent) and whether each is in the mapping."""
        if self._table is not None and self._known is not None:
            offset = keys - np.int64(self._low)
            inside = (offset >= 0) & (offset < self._table.shape[0])
            at = np.where(inside, offset, 0)
            found = inside & self._known[at]
            values = self._table[at]
        else:
            count = self._keys.shape[0]
            at = np.minimum(np.searchsorted(self._keys, keys), max(count - 1, 0))
            if count:
                found, values = self._keys[at] == keys, self._values[at]
            else:
                found = np.zeros(keys.shape[0], dtype=np.bool_)
                values = np.zeros(keys.shape[0], dtype=np.int64)
        return np.where(found, values, 0), found


def _pair_rule(clusterer: ComponentClusterer) -> PairRule | None:
    """What ``clusterer`` decides for a component of one edge, for many at once, where it
    is one of the service's clusterers and says so (greedy's is built into the update; else
    None: the clusterer decides each)."""
    if clusterer is greedy_one_per_agency:
        return one_per_agency_pair_rule
    if type(clusterer) is AverageLinkClusterer:
        return clusterer.pair_rule
    return None


def int_pairs(pairs: CandidatePairs) -> Pairs:
    """Candidate pairs as ``(left, right, score)`` tuples."""
    return [(left, right, score) for score, left, right in pairs.as_tuples()]


def edge(a: int, b: int, score: float) -> EdgeRow:
    """The stored edge between two nodes (lower node ID first)."""
    return EdgeRow(a, b, score) if a < b else EdgeRow(b, a, score)


def link_event(
    event: LinkEvent[int], now: int, agency_id: str | None, batch_id: str | None
) -> EventRow:
    """The event-log row for one link change."""
    kind: EventKind
    sources: tuple[int, ...]
    targets: tuple[int, ...]
    count = 0
    match event:
        case LinkCreated():
            kind, sources, targets, count = (
                EventKind.LINK_CREATED,
                (),
                (event.link_id,),
                len(event.members),
            )
        case RecordsJoined():
            kind, sources, targets = EventKind.LINK_JOINED, (event.link_id,), (event.link_id,)
            count = len(event.records)
        case LinksMerged():
            kind, sources, targets = EventKind.LINK_MERGED, event.from_ids, (event.into_id,)
        case LinkSplit():
            kind, sources, targets = EventKind.LINK_SPLIT, (event.from_id,), event.into_ids
        case LinkDissolved():
            kind, sources, targets = EventKind.LINK_DISSOLVED, (event.link_id,), ()
        case RecordsWithdrawn():
            kind, sources, targets = EventKind.LINK_LEFT, (event.link_id,), (event.link_id,)
            count = len(event.records)
    return EventRow(
        kind,
        now,
        agency_id=agency_id,
        batch_id=batch_id,
        source_links=tuple(sources),
        target_links=tuple(targets),
        record_count=count,
    )
