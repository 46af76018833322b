"""The storage interface of the link index.

One implementation per engine (SQLite is the embedded default; PostgreSQL is
for production). The service layer is the only caller. Its contract:

* Reads may run concurrently from any thread and see committed data only.
* All writes happen inside :meth:`LinkStore.write`, a transaction that is
  all or nothing: it commits when the ``with`` block ends normally, is durable
  once :meth:`LinkStore.write` returns, and rolls back entirely on any
  exception. Writers are serialised.
* Node IDs (records) and link IDs are never reused, so an in-memory index
  can refer to them safely after withdrawals.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager

from linkage.store._card_proposals import ContactCardProposalRow
from linkage.store._epochs import EpochCounts, KeyRotationRow, NextEpochRecord
from linkage.store._model import (
    AgencyCounts,
    AgencyRow,
    AuditRow,
    BatchRow,
    DisclosureRow,
    EdgeRow,
    EventRecord,
    EventRow,
    IndexChange,
    IndexRecord,
    LinkageRunRow,
    LinkMember,
    NewRecord,
    OutcomeReleaseRow,
    ReadPositions,
    RecordEventRow,
    RecordListing,
    StoredRecordRef,
)

__all__ = ["GraphReads", "LinkStore", "WriteTransaction"]


class GraphReads(abc.ABC):
    """The reads that re-clustering needs, all in one snapshot of the store: inside a
    write transaction (which sees its own writes) or in :meth:`LinkStore.graph_snapshot`
    (a read-only snapshot that takes no write lock)."""

    @abc.abstractmethod
    def edges_touching(self, node_ids: Sequence[int]) -> list[EdgeRow]:
        """Every stored edge with at least one end in ``node_ids``."""

    @abc.abstractmethod
    def node_links(self, node_ids: Sequence[int]) -> dict[int, int]:
        """The link of each of these nodes that exists and has one."""

    @abc.abstractmethod
    def node_agency_nos(self, node_ids: Sequence[int]) -> dict[int, int]:
        """The agency number of each of these nodes that exists."""

    @abc.abstractmethod
    def agency_no(self, agency_id: str) -> int | None:
        """The agency number of an enrolled agency (None: not enrolled)."""

    @abc.abstractmethod
    def last_event_sequence(self) -> int:
        """The sequence number of the newest event-log entry (0: none). Every change of
        records, edges or links appends an event or an index change, so two equal
        positions of both bracket no such change."""

    @abc.abstractmethod
    def last_index_change(self) -> int:
        """The sequence number of the newest index-change feed entry (0: none)."""


class WriteTransaction(GraphReads):
    """The write operations, valid only inside :meth:`LinkStore.write`."""

    # -- agencies -------------------------------------------------------------
    @abc.abstractmethod
    def insert_agency(
        self, agency_id: str, display_name: str, contact_card: bytes, now_us: int
    ) -> AgencyRow:
        """Enrol an agency; raises AlreadyExistsError if the ID is taken."""

    @abc.abstractmethod
    def update_agency(
        self, agency_id: str, display_name: str, contact_card: bytes, now_us: int
    ) -> AgencyRow:
        """Change an agency; raises NotFoundError if it is not enrolled."""

    # -- batches and records --------------------------------------------------
    @abc.abstractmethod
    def get_batch(self, agency_id: str, batch_id: str) -> BatchRow | None:
        """The committed batch with this ID, seen inside this transaction."""

    @abc.abstractmethod
    def save_batch(self, batch: BatchRow) -> None:
        """Record a committed batch and its response for idempotent replays."""

    @abc.abstractmethod
    def insert_record(self, record: NewRecord) -> int:
        """Insert a record with no link yet and return its new node ID."""

    @abc.abstractmethod
    def delete_records(self, node_ids: Sequence[int]) -> None:
        """Delete records, their events and every edge touching them."""

    @abc.abstractmethod
    def update_record(
        self,
        node_id: int,
        pointer_token: bytes,
        consent: bytes,
        linkable: bool,
        content_digest: bytes,
        now_us: int,
    ) -> None:
        """Replace what a record holds besides its CLK (which never changes in place)."""

    @abc.abstractmethod
    def detach_nodes(self, node_ids: Sequence[int]) -> None:
        """Take records out of the link graph: delete their edges, clear their link."""

    # -- programme events -----------------------------------------------------
    @abc.abstractmethod
    def insert_record_events(self, rows: Iterable[RecordEventRow]) -> None:
        """Store events of records (of this transaction or before)."""

    @abc.abstractmethod
    def delete_record_events(self, node_ids: Sequence[int]) -> None:
        """Forget every event of these records (before their new events are stored)."""

    @abc.abstractmethod
    def record_events(self, node_ids: Sequence[int]) -> list[RecordEventRow]:
        """The events of these records, by node, day, code and disposition."""

    # -- the privacy-budget ledger of outcome releases --------------------------
    @abc.abstractmethod
    def latest_outcome_release(
        self, programme: str, query_digest: bytes
    ) -> OutcomeReleaseRow | None:
        """The newest release of this query for this programme, seen inside this
        transaction."""

    @abc.abstractmethod
    def spent_epsilon(self, programme: str) -> float:
        """The epsilon every release of this programme spent, together."""

    @abc.abstractmethod
    def insert_outcome_release(self, row: OutcomeReleaseRow) -> int:
        """Record a release in the ledger and return its release ID."""

    # -- links ----------------------------------------------------------------
    @abc.abstractmethod
    def insert_edges(self, edges: Iterable[EdgeRow]) -> None:
        """Store candidate pairs (``node_a < node_b``)."""

    @abc.abstractmethod
    def delete_all_edges(self) -> None:
        """Forget every candidate pair (before a rebuild stores its own)."""

    @abc.abstractmethod
    def allocate_link_ids(self, count: int, now_us: int) -> list[int]:
        """Create ``count`` new, empty links and return their IDs, ascending."""

    @abc.abstractmethod
    def assign_links(self, assignments: Iterable[tuple[int, int]], now_us: int) -> None:
        """Set the link of each ``(node_id, link_id)``."""

    @abc.abstractmethod
    def delete_links(self, link_ids: Iterable[int]) -> None:
        """Delete links that no record belongs to any more."""

    # -- logs -----------------------------------------------------------------
    @abc.abstractmethod
    def append_events(self, events: Iterable[EventRow]) -> None:
        """Append entries to the event log; the store numbers them."""

    @abc.abstractmethod
    def save_linkage_run(self, run: LinkageRunRow) -> int:
        """Record a rebuild and return its run ID."""

    @abc.abstractmethod
    def last_audit(self) -> AuditRow | None:
        """The newest audit entry, read inside this transaction."""

    @abc.abstractmethod
    def append_audit(self, row: AuditRow) -> None:
        """Append an audit entry whose sequence is the last one plus one."""

    @abc.abstractmethod
    def insert_disclosures(self, rows: Iterable[DisclosureRow]) -> None:
        """Record disclosures for the accounting of disclosures."""

    @abc.abstractmethod
    def record_index_changes(self, changes: Iterable[tuple[int, bool]]) -> None:
        """Append ``(node_id, added)`` entries to the index change feed, numbered
        without gaps in commit order."""

    @abc.abstractmethod
    def index_changes_since(self, sequence: int) -> list[IndexChange]:
        """Feed entries after ``sequence``, oldest first (seen inside this transaction)."""

    @abc.abstractmethod
    def prune_index_changes(self, keep_last: int) -> None:
        """Forget all but the newest ``keep_last`` feed entries."""

    # -- reads that must see this transaction's own writes --------------------
    @abc.abstractmethod
    def find_records(self, agency_id: str, record_keys: Sequence[bytes]) -> list[StoredRecordRef]:
        """The existing records among these keys."""

    @abc.abstractmethod
    def all_records(self, agency_id: str) -> list[StoredRecordRef]:
        """Every record of an agency."""

    # -- contact-card proposals (linkage.store._card_proposals) --------------------
    @abc.abstractmethod
    def contact_card_proposal(self, agency_id: str) -> ContactCardProposalRow | None:
        """The agency's pending proposal, read inside this transaction."""

    @abc.abstractmethod
    def save_contact_card_proposal(self, row: ContactCardProposalRow) -> None:
        """Record a proposal, replacing the agency's pending one."""

    @abc.abstractmethod
    def delete_contact_card_proposal(self, agency_id: str) -> None:
        """Forget the agency's pending proposal (confirmed or rejected)."""

    # -- key-epoch rotation (linkage.store._epochs) ------------------------------
    @abc.abstractmethod
    def key_rotation(self) -> KeyRotationRow | None:
        """The rotation's state, read inside this transaction."""

    @abc.abstractmethod
    def save_key_rotation(self, row: KeyRotationRow) -> None:
        """Set the rotation's state."""

    @abc.abstractmethod
    def epoch_counts(self, current_epoch: int, next_epoch: int) -> list[EpochCounts]:
        """Per enrolled agency: its records of ``current_epoch`` and those of them with a
        ``next_epoch`` CLK."""

    @abc.abstractmethod
    def next_epoch_digests(self, node_ids: Sequence[int], key_epoch: int) -> dict[int, bytes]:
        """The content digest of each of these records' ``key_epoch`` CLK, where held."""

    @abc.abstractmethod
    def upsert_next_epoch_records(self, rows: Sequence[NextEpochRecord]) -> None:
        """Store (or replace) records' CLKs of the next key epoch."""

    @abc.abstractmethod
    def delete_next_epoch_records(self, node_ids: Sequence[int]) -> None:
        """Forget these records' CLKs of the next key epoch."""

    @abc.abstractmethod
    def delete_all_next_epoch_records(self) -> None:
        """Forget every CLK of the next key epoch (a rotation abandoned)."""

    @abc.abstractmethod
    def old_epoch_only_nodes(
        self, agency_ids: Sequence[str], current_epoch: int, next_epoch: int
    ) -> list[int]:
        """Records of these agencies in ``current_epoch`` with no ``next_epoch`` CLK."""

    @abc.abstractmethod
    def delete_empty_links(self, link_ids: Sequence[int]) -> None:
        """Delete those of these links that no record belongs to any more."""

    @abc.abstractmethod
    def adopt_next_epoch(self, next_epoch: int, now_us: int) -> int:
        """Records take their ``next_epoch`` CLK, pointer token and digest; every
        next-epoch row is deleted. Returns how many records moved."""


class LinkStore(abc.ABC):
    """A durable link index."""

    @abc.abstractmethod
    def write(self) -> AbstractContextManager[WriteTransaction]:
        """Open a serialised, all-or-nothing write transaction."""

    @abc.abstractmethod
    def graph_snapshot(self) -> AbstractContextManager[GraphReads]:
        """A read-only snapshot of the store for :class:`GraphReads`: every read in it sees
        the same committed state, and it blocks no writer (and no lookup's audit write)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store is unusable afterwards."""

    @abc.abstractmethod
    def refresh_statistics(self) -> None:
        """After a change to most of the index (a rebuild), let the database's query
        planner see the tables as they now are, so that the next lookups' reads keep using
        their indexes."""

    # -- agencies -------------------------------------------------------------
    @abc.abstractmethod
    def get_agency(self, agency_id: str) -> AgencyRow | None:
        """One agency, or None."""

    @abc.abstractmethod
    def list_agencies(self, after_id: str = "", limit: int = 1000) -> list[AgencyRow]:
        """Agencies ordered by ID, starting after ``after_id``."""

    # -- index ----------------------------------------------------------------
    @abc.abstractmethod
    def iter_index_records(self, key_epoch: int, schema_fingerprint: str) -> Iterator[IndexRecord]:
        """Every linkable record of this key epoch and schema, by node ID."""

    @abc.abstractmethod
    def count_index_records(self, key_epoch: int, schema_fingerprint: str) -> int:
        """How many records :meth:`iter_index_records` would yield now (a loader sizes its
        arrays by it once instead of growing them)."""

    @abc.abstractmethod
    def last_index_change(self) -> int:
        """The newest entry of the index change feed, 0 if none."""

    @abc.abstractmethod
    def read_index_changes_since(self, sequence: int) -> list[IndexChange]:
        """Feed entries after ``sequence``, oldest first (committed data)."""

    @abc.abstractmethod
    def iter_edges(self) -> Iterator[EdgeRow]:
        """Every stored candidate pair."""

    @abc.abstractmethod
    def iter_node_links(self) -> Iterator[tuple[int, int]]:
        """``(node_id, link_id)`` for every record."""

    @abc.abstractmethod
    def read_node_links(self, node_ids: Sequence[int]) -> dict[int, int]:
        """The link of each of these nodes that exists."""

    @abc.abstractmethod
    def link_members(self, link_ids: Sequence[int]) -> list[LinkMember]:
        """Every record of these links, ordered by link then node."""

    def node_links_with_members(
        self, node_ids: Sequence[int]
    ) -> tuple[dict[int, int], list[LinkMember]]:
        """The link of each of these nodes that has one, and every record of those links
        ordered by link then node: a lookup's two reads (one round trip where the store
        is across a network)."""
        links = self.read_node_links(node_ids)
        return links, self.link_members(sorted(set(links.values())))

    def read_positions(self) -> ReadPositions:
        """The newest index change and linkage run: what a lookup checks before it
        searches (one round trip where the store is across a network)."""
        runs = self.list_linkage_runs(1)
        return ReadPositions(self.last_index_change(), runs[0].run_id if runs else None)

    # -- listings -------------------------------------------------------------
    @abc.abstractmethod
    def list_records(self, agency_id: str, after_key: bytes, limit: int) -> list[RecordListing]:
        """An agency's records ordered by key, starting after ``after_key``."""

    @abc.abstractmethod
    def agency_counts(self) -> list[AgencyCounts]:
        """Counts per enrolled agency, ordered by agency ID."""

    @abc.abstractmethod
    def link_count(self) -> int:
        """Links with two or more records."""

    @abc.abstractmethod
    def list_events(self, after_sequence: int, limit: int) -> list[EventRow]:
        """Events after a sequence number, oldest first."""

    @abc.abstractmethod
    def last_event_sequence(self) -> int:
        """The newest event's sequence number, 0 if none."""

    @abc.abstractmethod
    def iter_audit(self) -> Iterator[AuditRow]:
        """Every audit entry, in sequence order."""

    @abc.abstractmethod
    def read_last_audit(self) -> AuditRow | None:
        """The newest committed audit entry, or None, read without a write transaction
        (a long write, which holds SQLite's write lock, does not hold it up)."""

    @abc.abstractmethod
    def list_disclosures(
        self, agency_id: str, before_id: int | None, limit: int
    ) -> list[tuple[int, DisclosureRow]]:
        """An agency's disclosures, newest first, as ``(disclosure_id, row)``."""

    @abc.abstractmethod
    def list_linkage_runs(self, limit: int) -> list[LinkageRunRow]:
        """The newest rebuilds first."""

    # -- programme events and outcome releases ----------------------------------
    @abc.abstractmethod
    def iter_event_records(self) -> Iterator[EventRecord]:
        """Every record that has at least one event, by node ID."""

    @abc.abstractmethod
    def iter_record_events(self) -> Iterator[RecordEventRow]:
        """Every stored event, by node ID."""

    @abc.abstractmethod
    def list_outcome_releases(self, programme: str) -> list[OutcomeReleaseRow]:
        """A programme's ledger, oldest release first."""

    # -- contact-card proposals (linkage.store._card_proposals) --------------------
    @abc.abstractmethod
    def contact_card_proposal(self, agency_id: str) -> ContactCardProposalRow | None:
        """The agency's pending proposal, or None."""

    # -- key-epoch rotation (linkage.store._epochs) ------------------------------
    @abc.abstractmethod
    def key_rotation(self) -> KeyRotationRow | None:
        """The rotation's state (None before the first rotation was begun)."""

    @abc.abstractmethod
    def epoch_counts(self, current_epoch: int, next_epoch: int) -> list[EpochCounts]:
        """Per enrolled agency: its records of ``current_epoch`` and those of them with a
        ``next_epoch`` CLK."""

    @abc.abstractmethod
    def iter_next_epoch_records(
        self, key_epoch: int, schema_fingerprint: str
    ) -> Iterator[IndexRecord]:
        """Every linkable record of this schema with a ``key_epoch`` CLK, by node ID,
        with that CLK."""

    @abc.abstractmethod
    def read_next_epoch_clks(self, node_ids: Sequence[int], key_epoch: int) -> dict[int, bytes]:
        """The ``key_epoch`` CLK of each of these records that is linkable and has one."""
