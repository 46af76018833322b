"""A batch's relinking, worked out before its write transaction.

Re-clustering the components a batch touches reads their stored edges and links and scores
their pairs: about a second for 10,000 records joined to 1,000,000. Inside the write
transaction that second would hold the store's writer lock, and on SQLite every lookup's
audit write would wait for it. So :func:`plan_relink` works it out beforehand, from a
read-only snapshot (:meth:`~linkage.store.LinkStore.graph_snapshot`) of the state the batch
was planned on, with placeholder IDs for the records not yet inserted and the links not yet
allocated; :meth:`Relinked.write` then only writes it, mapping the placeholders to the IDs
the store gives.

Why the result is the one re-clustering inside the transaction would give:

* **The same state.** The snapshot is used only when the store's newest event and newest
  index change are those the batch's plan was made on, and the write transaction uses the
  result only when they still are (every change of records, edges or links appends one or
  the other; :class:`~linkage.store.GraphReads`). Otherwise the relinking is worked out
  again inside the transaction, on the IDs it gave, as before.
* **The same order.** Clustering and link-ID carry-over depend on node and link IDs only
  through their order (:mod:`linkage.match._incremental`). Placeholders are above every ID
  the store holds, in insertion and allocation order, as the store's new IDs are (never
  reused, always growing). :meth:`Relinked.write` checks that the IDs given keep that order
  and otherwise works the relinking out again with them.

:class:`_PlannedGraph` is the store as re-clustering sees it after the batch's deletions,
detachments, inserts and new edges, read from a state before them; it records the link
writes instead of making them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from linkage.match import LinkEvent
from linkage.service._linking import Linking, Pairs, edge, link_event
from linkage.store import EdgeRow, EventRow, GraphReads, WriteTransaction

if TYPE_CHECKING:
    from linkage.match import ComponentClusterer

__all__ = ["NODE_PLACEHOLDERS", "Departures", "Relinked", "plan_relink"]

#: Placeholder node IDs of records not inserted yet (placeholder link IDs start here too):
#: above any ID a store gives.
NODE_PLACEHOLDERS = 1 << 62
_LINK_PLACEHOLDERS = 1 << 62


@dataclasses.dataclass(frozen=True, slots=True)
class Departures:
    """The nodes leaving the link graph (withdrawn, replaced or no longer linkable), read
    before they go: all of them, their old neighbours, and ``node -> (agency_no, old
    link)`` of those with a link."""

    nodes: frozenset[int]
    neighbours: frozenset[int]
    links: Mapping[int, tuple[int, int]]

    @classmethod
    def read(cls, reads: GraphReads, leaving: Sequence[int]) -> Departures:
        """Read from ``reads`` while the leaving nodes are still stored."""
        if not leaving:
            return cls(frozenset(), frozenset(), {})
        neighbours: set[int] = set()
        for row in reads.edges_touching(leaving):
            neighbours.update((row.node_a, row.node_b))
        neighbours.difference_update(leaving)
        agency_nos = reads.node_agency_nos(leaving)
        links = {node: (agency_nos[node], link) for node, link in reads.node_links(leaving).items()}
        return cls(frozenset(leaving), frozenset(neighbours), links)


@dataclasses.dataclass(frozen=True, slots=True)
class Relinked:
    """A batch's new edges and relinked components, with the node IDs its inserts were
    planned with (placeholders or the store's) and placeholder IDs for fresh links."""

    departures: Departures
    #: the node ID each insert of the plan was planned with, in the plan's order
    planned_nodes: tuple[int, ...]
    edges: tuple[EdgeRow, ...]
    assignments: tuple[tuple[int, int], ...]
    deleted_links: tuple[int, ...]
    events: tuple[LinkEvent[int], ...]
    linked: frozenset[int]
    #: the largest stored node and link ID the relinking saw (0: none)
    newest_node: int
    newest_link: int

    def fits(self, inserted: Sequence[int]) -> bool:
        """Whether the store's IDs for the inserts keep the planned order: growing and
        above every stored node the relinking saw (always, for IDs the store gives after
        those it holds)."""
        if tuple(inserted) == self.planned_nodes:
            return True
        return all(a < b for a, b in itertools.pairwise(inserted)) and (
            not inserted or inserted[0] > self.newest_node
        )

    def write(self, tx: WriteTransaction, inserted: Sequence[int], now: int) -> Relinking | None:
        """Write the edges and links with the inserts' IDs (``inserted``, in the plan's
        order) and fresh link IDs from the store. None (nothing kept; link IDs allocated
        and deleted again are never reused anyway) when the IDs the store gives do not keep
        the planned order: the caller works the relinking out again with them."""
        if not self.fits(inserted):
            return None
        return self._write(tx, inserted, now, strict=True)

    def write_as_planned(self, tx: WriteTransaction, now: int) -> Relinking:
        """Write a relinking planned inside this transaction with the store's node IDs:
        fresh link IDs as the store gives them, in whatever order."""
        written = self._write(tx, self.planned_nodes, now, strict=False)
        assert written is not None  # not strict: never refused
        return written

    def _write(
        self, tx: WriteTransaction, inserted: Sequence[int], now: int, *, strict: bool
    ) -> Relinking | None:
        nodes = dict(zip(self.planned_nodes, inserted, strict=True))
        named = {link for _, link in self.assignments}
        named.update(link for event in self.events for link in _event_links(event))
        fresh = sorted(link for link in named if link >= _LINK_PLACEHOLDERS)
        links: dict[int, int] = {}
        if fresh:
            given = tx.allocate_link_ids(len(fresh), now)
            growing = all(a < b for a, b in itertools.pairwise(given))
            if strict and (not growing or given[0] <= self.newest_link):
                tx.delete_links(given)
                return None
            links = dict(zip(fresh, given, strict=True))
        tx.insert_edges(
            edge(nodes.get(e.node_a, e.node_a), nodes.get(e.node_b, e.node_b), e.score)
            for e in self.edges
        )
        tx.assign_links(
            [(nodes.get(node, node), links.get(link, link)) for node, link in self.assignments],
            now,
        )
        tx.delete_links([link for link in self.deleted_links if link < _LINK_PLACEHOLDERS])
        return Relinking(self.events, links, frozenset(nodes.get(n, n) for n in self.linked))


@dataclasses.dataclass(frozen=True, slots=True)
class Relinking:
    """What :meth:`Relinked.write` wrote: the link events (in planned IDs), the link IDs
    the placeholders got, and the nodes now in a link of two or more records."""

    events: tuple[LinkEvent[int], ...]
    links: Mapping[int, int]
    linked: frozenset[int]

    def event_rows(self, now: int, agency_id: str, batch_id: str) -> list[EventRow]:
        """The event-log rows of the link changes, with the links' stored IDs."""
        rows = []
        for change in self.events:
            row = link_event(change, now, agency_id, batch_id)
            rows.append(
                dataclasses.replace(
                    row,
                    source_links=tuple(self.links.get(i, i) for i in row.source_links),
                    target_links=tuple(self.links.get(i, i) for i in row.target_links),
                )
            )
        return rows


def plan_relink(
    reads: GraphReads,
    *,
    departures: Departures,
    inserted: Sequence[int],
    linkable: Sequence[bool],
    rejoining: Sequence[int],
    agency_no: int,
    pairs_vs_index: Pairs,
    pairs_within: Pairs,
    clusterer_for: Callable[[Mapping[int, bytes]], ComponentClusterer],
    clks: Sequence[bytes],
    now: int,
) -> Relinked:
    """Work out a batch's new edges and relinked components from ``reads``: the store as the
    batch's plan saw it (a snapshot), or the write transaction after the batch's deletions
    and inserts.

    ``inserted`` and ``linkable``: each insert's node ID (a placeholder, or the store's) and
    whether it joins the graph; ``rejoining``: stored nodes that become linkable again;
    ``clks``: the joining nodes' CLKs (linkable inserts, then rejoining nodes), in the order
    the join's rows number them (``pairs_vs_index`` rows against index nodes,
    ``pairs_within`` rows against rows). ``clusterer_for`` makes the clusterer, given the
    CLKs of the joining nodes the in-memory index does not hold yet.
    """
    joining = [node for node, joins in zip(inserted, linkable, strict=True) if joins]
    joining += rejoining
    pending = dict(zip(joining, clks, strict=True))
    edges = [edge(joining[row], node, score) for row, node, score in pairs_vs_index]
    edges += [edge(joining[a], joining[b], score) for a, b, score in pairs_within]
    new_nodes = {node: agency_no for node in inserted}
    planned = _PlannedGraph(reads, departures.nodes, new_nodes, edges)
    seeds = set(joining) | departures.neighbours
    changes, linked = Linking.relink(planned, seeds, departures.links, now, clusterer_for(pending))
    return Relinked(
        departures=departures,
        planned_nodes=tuple(inserted),
        edges=tuple(edges),
        assignments=tuple(planned.assignments),
        deleted_links=tuple(planned.deleted_links),
        events=changes,
        linked=frozenset(linked),
        newest_node=max(planned.newest_node, max(departures.links, default=0)),
        newest_link=max(
            planned.newest_link, max((link for _, link in departures.links.values()), default=0)
        ),
    )


class _PlannedGraph:
    """A :class:`~linkage.service._linking.RelinkTransaction`: the store as re-clustering
    sees it after a batch's deletions, detachments, inserts and new edges, read from
    ``reads`` (the state before them, or after the deletions and inserts); records the link
    writes instead of making them."""

    def __init__(
        self,
        reads: GraphReads,
        leaving: Iterable[int],
        new_nodes: Mapping[int, int],
        new_edges: Sequence[EdgeRow],
    ) -> None:
        self._reads = reads
        self._leaving = frozenset(leaving)
        self._new_nodes = new_nodes
        self._new_edges: dict[int, list[EdgeRow]] = {}
        for row in new_edges:
            self._new_edges.setdefault(row.node_a, []).append(row)
            self._new_edges.setdefault(row.node_b, []).append(row)
        self._next_link = _LINK_PLACEHOLDERS
        self.assignments: list[tuple[int, int]] = []
        self.deleted_links: list[int] = []
        self.newest_node = 0
        self.newest_link = 0

    def _stored(self, node_ids: Sequence[int]) -> list[int]:
        stored = [node for node in node_ids if node not in self._new_nodes]
        if stored:
            self.newest_node = max(self.newest_node, max(stored))
        return stored

    def edges_touching(self, node_ids: Sequence[int]) -> list[EdgeRow]:
        leaving = self._leaving
        found = {
            (row.node_a, row.node_b): row
            for row in self._reads.edges_touching(self._stored(node_ids))
            if row.node_a not in leaving and row.node_b not in leaving
        }
        for node in node_ids:
            for row in self._new_edges.get(node, ()):
                found[(row.node_a, row.node_b)] = row
        return [found[key] for key in sorted(found)]

    def node_links(self, node_ids: Sequence[int]) -> dict[int, int]:
        links = self._reads.node_links(self._stored(node_ids))
        if links:
            self.newest_link = max(self.newest_link, max(links.values()))
        return links

    def node_agency_nos(self, node_ids: Sequence[int]) -> dict[int, int]:
        found = self._reads.node_agency_nos(self._stored(node_ids))
        found.update((node, self._new_nodes[node]) for node in node_ids if node in self._new_nodes)
        return found

    def allocate_link_ids(self, count: int, now_us: int) -> list[int]:
        del now_us
        first = self._next_link
        self._next_link += count
        return list(range(first, first + count))

    def assign_links(self, assignments: Iterable[tuple[int, int]], now_us: int) -> None:
        del now_us
        self.assignments.extend(assignments)

    def delete_links(self, link_ids: Iterable[int]) -> None:
        self.deleted_links.extend(link_ids)


def _event_links(event: LinkEvent[int]) -> tuple[int, ...]:
    """Every link ID an event names."""
    row = link_event(event, 0, None, None)
    return row.source_links + row.target_links
