"""Ingest: one agency's batch, validated, planned, joined, applied and relinked.

:meth:`Ingest.write_batch` commits a batch all or nothing, idempotently (a batch ID
committed before returns its first outcome; reused for other content it is refused),
in four phases under the service's writer lock:

1. **Reads** (a store transaction): the replay check, catch-up of other processes'
   index changes, and the **plan**: which records are inserted, replaced, updated in
   place, left unchanged, withdrawn, or get new consent.
2. **The graph** (CPU and a read-only snapshot, no write lock): which nodes leave the
   link graph, which join it, and the joiners' candidate pairs against the in-memory
   index; then the **relinking** of every component the batch touches, worked out from a
   snapshot of the store as the plan saw it, with placeholder IDs for the records and
   links not created yet (:mod:`._relink_plan`).
3. **One write transaction**: if another process committed in between (a shared
   PostgreSQL store) or saved another model, the plan and graph are made again under
   the store's writer lock; if the links changed otherwise (another process's rebuild),
   the relinking is. Then the records, edges and links are written, with the batch's
   outcome, its events, its audit entry and its index changes.
4. The committed state goes into the in-memory index.

The join and the re-clustering thus run before the store's write lock is taken; lookups
(whose audit entry is a write) do not wait for them (unless another process committed, and
the lookup's catch-up waits for this process's writer lock).

The checks of a batch before all this are :mod:`._ingest_checks`; the rows it
stores (content digests, events, its outcome for replay) are :mod:`._batch_rows`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from linkage.errors import NotFoundError, Problem, StorageError, UnavailableError
from linkage.pki import Principal
from linkage.service._agencies import Agencies
from linkage.service._batch_rows import (
    content_digest,
    event_row,
    outcome_to_json,
    replayed_outcome,
    stored_event_bytes,
    upsert_digest,
)
from linkage.service._ingest_checks import (
    MAX_PROBLEMS,
    BatchValidator,
    check_epoch_in_force,
    refused_batch,
)
from linkage.service._linking import Linking, Pairs
from linkage.service._model import (
    BatchOutcome,
    ConsentChange,
    RecordUpsert,
    RecordWithdrawal,
    WriteBatch,
)
from linkage.service._observer import NullObserver
from linkage.service._relink_plan import NODE_PLACEHOLDERS, Departures, Relinked, plan_relink
from linkage.service._state import ServiceState
from linkage.store import (
    BatchRow,
    EventKind,
    EventRow,
    GraphReads,
    NewRecord,
    RecordEventRow,
    StoredRecordRef,
    WriteTransaction,
)

__all__ = ["Graph", "Ingest", "Plan"]

_log = logging.getLogger("linkage.service")

_FEED_KEEP = 1_000_000  # index-change entries kept for other processes to replay


@dataclass(slots=True)
class Plan:
    """What a batch will change, decided before the write transaction."""

    inserts: list[RecordUpsert]
    replaced: list[StoredRecordRef]
    updated_in_place: list[tuple[StoredRecordRef, RecordUpsert]]
    unchanged: int
    withdrawn: list[StoredRecordRef]
    consent_changes: list[tuple[StoredRecordRef, ConsentChange]]
    #: the content digest of each upsert (by record key, unique within a batch)
    digests: dict[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Graph:
    """How a batch changes the link graph."""

    deleted: set[int]
    detached: set[int]
    rejoining: list[StoredRecordRef]
    pairs_vs_index: Pairs
    pairs_within: Pairs


class Ingest:
    """Batches of one service (see the module docstring)."""

    def __init__(self, state: ServiceState, agencies: Agencies, linking: Linking) -> None:
        self._state = state
        self._agencies = agencies
        self._linking = linking
        self._validator = BatchValidator(state, agencies)

    def write_batch(self, actor: Principal, batch: WriteBatch) -> BatchOutcome:
        """Commit a batch all or nothing, idempotently, and link it incrementally.

        The similarity join runs against the in-memory index between two
        transactions, so the store's writer lock is held only to write. If
        another matcher process committed in between (a shared PostgreSQL
        store), the batch is planned and joined again under the lock.
        """
        self.validate(batch)
        state = self._state
        digest = batch.digest()
        started = time.perf_counter()
        with state.writer:
            # Phase 1 (reads): replay check, catch-up, plan.
            with state.store.write() as tx:
                replay = self._replayed(tx, batch, digest)
                if replay is not None:
                    return replay
                state.catch_up(tx.index_changes_since(state.seen_change))
                check_epoch_in_force(batch, state)
                state.refresh_model()
                plan = self.plan(tx, batch)
                planned_at = (tx.last_event_sequence(), tx.last_index_change())
            # Phase 2 (CPU and a read snapshot, no lock): the similarity join, then the
            # relinking of the components it touches.
            graph = self.graph(plan)
            now = state.clock()
            relinked = self._relink_ahead(batch, plan, graph, planned_at, now)
            # Phase 3: one write transaction.
            with state.store.write() as tx:
                replay = self._replayed(tx, batch, digest)
                if replay is not None:
                    return replay
                others = tx.index_changes_since(state.seen_change)
                model_run = state.model_run_id
                state.refresh_model()
                if others or state.model_run_id != model_run:
                    state.catch_up(others)
                    check_epoch_in_force(batch, state)
                    plan = self.plan(tx, batch)
                    graph = self.graph(plan)
                    relinked = None
                elif relinked is not None and tx.last_event_sequence() != planned_at[0]:
                    relinked = None  # links changed meanwhile (another process's rebuild)
                outcome, index_adds = self._apply(
                    tx, actor, batch, plan, digest, graph, now, relinked
                )
                leaving = sorted(graph.deleted | graph.detached)
                tx.record_index_changes(
                    [(node, False) for node in leaving] + [(node, True) for node, _ in index_adds]
                )
                mine = tx.index_changes_since(state.seen_change)
                seen_after = mine[-1].sequence if mine else state.seen_change
                if seen_after % 10_000 < len(mine):
                    tx.prune_index_changes(keep_last=_FEED_KEEP)
            # Phase 4: the committed state goes into the in-memory index.
            state.mirror.remove(leaving)
            if index_adds:
                nodes, clks = zip(*index_adds, strict=True)
                state.mirror.add(nodes, clks)
            state.seen_change = seen_after
            state.mirror.refresh_band()
        state.observer.batch_committed(
            batch.agency_id, len(batch.mutations), time.perf_counter() - started
        )
        if type(state.observer) is not NullObserver:
            # counting the links scans the store's link index (0.1-0.15 s at 1M records);
            # the null observer would drop the count
            state.observer.index_size(len(state.mirror), state.store.link_count())
        return outcome

    def validate(self, batch: WriteBatch) -> None:
        """Refuse a batch that is too large, of an agency not enrolled, of another linkage
        space, or with malformed mutations (:class:`~linkage.service._ingest_checks.
        BatchValidator`)."""
        self._validator.validate(batch)

    # ------------------------------------------------------------------ plan
    def plan(self, tx: WriteTransaction, batch: WriteBatch) -> Plan:
        """What the batch changes, against the records stored now (inside ``tx``)."""
        keys = [m.record_key for m in batch.mutations]
        plan = Plan([], [], [], 0, [], [])
        if batch.withdraw_all:
            plan.withdrawn.extend(tx.all_records(batch.agency_id))
            existing: dict[bytes, StoredRecordRef] = {}
        else:
            existing = {r.record_key: r for r in tx.find_records(batch.agency_id, keys)}
        problems: list[Problem] = []
        for i, mutation in enumerate(batch.mutations):
            ref = existing.get(mutation.record_key)
            match mutation:
                case RecordUpsert():
                    digest = plan.digests[mutation.record_key] = upsert_digest(mutation)
                    if ref is None:
                        plan.inserts.append(mutation)
                    elif ref.content_digest == digest:
                        plan.unchanged += 1
                    elif ref.clk == mutation.clk:
                        plan.updated_in_place.append((ref, mutation))
                    else:
                        plan.replaced.append(ref)
                        plan.inserts.append(mutation)
                case RecordWithdrawal():
                    if ref is None:
                        problems.append(
                            Problem(f"mutations[{i}].withdraw_record_key", "no such record")
                        )
                    else:
                        plan.withdrawn.append(ref)
                case ConsentChange():
                    if ref is None:
                        problems.append(
                            Problem(f"mutations[{i}].consent_update.record_key", "no such record")
                        )
                    else:
                        plan.consent_changes.append((ref, mutation))
        if problems:
            raise refused_batch(batch, problems[:MAX_PROBLEMS])
        return plan

    def _replayed(
        self, tx: WriteTransaction, batch: WriteBatch, digest: bytes
    ) -> BatchOutcome | None:
        """The original outcome if this batch was committed already."""
        stored = tx.get_batch(batch.agency_id, batch.batch_id)
        return None if stored is None else replayed_outcome(batch, digest, stored)

    def graph(self, plan: Plan) -> Graph:
        """Which nodes leave the link graph, which join it, and the joiners'
        candidate pairs against the in-memory index (CPU work, no lock)."""
        deleted = {r.node_id for r in plan.withdrawn} | {r.node_id for r in plan.replaced}
        detached: set[int] = set()
        rejoining: list[StoredRecordRef] = []
        for ref, new_linkable in [(r, u.linkable) for r, u in plan.updated_in_place] + [
            (r, c.linkable) for r, c in plan.consent_changes
        ]:
            if ref.node_id in deleted:
                continue
            if ref.linkable and not new_linkable:
                detached.add(ref.node_id)
            elif new_linkable and not ref.linkable:
                rejoining.append(ref)
        joining_clks = [u.clk for u in plan.inserts if u.linkable] + [r.clk for r in rejoining]
        pairs_vs_index, pairs_within = self._linking.join(joining_clks, deleted | detached)
        return Graph(deleted, detached, rejoining, pairs_vs_index, pairs_within)

    def _relink_ahead(
        self,
        batch: WriteBatch,
        plan: Plan,
        graph: Graph,
        planned_at: tuple[int, int],
        now: int,
    ) -> Relinked | None:
        """The batch's relinking worked out from a read-only snapshot, before the write
        transaction (:mod:`._relink_plan`); None when the store has moved on since the plan
        (``planned_at``: its newest event and index change then)."""
        try:
            with self._state.store.graph_snapshot() as reads:
                if (reads.last_event_sequence(), reads.last_index_change()) != planned_at:
                    return None
                agency_no = reads.agency_no(batch.agency_id)
                if agency_no is None:
                    return None  # not enrolled any more: the write transaction will say so
                departures = Departures.read(reads, sorted(graph.deleted | graph.detached))
                placeholders = range(NODE_PLACEHOLDERS, NODE_PLACEHOLDERS + len(plan.inserts))
                return self._relink(reads, plan, graph, departures, placeholders, agency_no, now)
        except (StorageError, UnavailableError) as exc:
            # only a head start: the write transaction relinks by itself (and says what
            # is wrong with the store if it is still wrong then)
            _log.warning("relinking before the write transaction failed, relinking in it: %s", exc)
            return None

    def _relink(
        self,
        reads: GraphReads,
        plan: Plan,
        graph: Graph,
        departures: Departures,
        inserted: Sequence[int],
        agency_no: int,
        now: int,
    ) -> Relinked:
        """:func:`plan_relink` for this batch (``inserted``: each insert's node ID)."""
        state = self._state
        linking = self._linking
        linker = state.linker
        frequencies = state.mirror.frequencies
        return plan_relink(
            reads,
            departures=departures,
            inserted=inserted,
            linkable=[upsert.linkable for upsert in plan.inserts],
            rejoining=[ref.node_id for ref in graph.rejoining],
            agency_no=agency_no,
            pairs_vs_index=graph.pairs_vs_index,
            pairs_within=graph.pairs_within,
            clusterer_for=lambda pending: linking.clusterer_for(linker, frequencies, pending),
            clks=[u.clk for u in plan.inserts if u.linkable] + [r.clk for r in graph.rejoining],
            now=now,
        )

    # ----------------------------------------------------------------- apply
    def _apply(
        self,
        tx: WriteTransaction,
        actor: Principal,
        batch: WriteBatch,
        plan: Plan,
        digest: bytes,
        graph: Graph,
        now: int,
        relinked: Relinked | None,
    ) -> tuple[BatchOutcome, list[tuple[int, bytes]]]:
        state = self._state
        settings = state.settings
        # The neighbourhood and links of leaving nodes, before their edges go.
        departures = (
            relinked.departures
            if relinked is not None
            else Departures.read(tx, sorted(graph.deleted | graph.detached))
        )
        if graph.deleted:
            tx.delete_records(sorted(graph.deleted))
        if graph.detached:
            tx.detach_nodes(sorted(graph.detached))
        # Inserts and in-place updates.
        batch_nodes: list[int] = []
        index_adds: list[tuple[int, bytes]] = []
        event_rows: list[RecordEventRow] = []
        for upsert in plan.inserts:
            node = tx.insert_record(
                NewRecord(
                    agency_id=batch.agency_id,
                    record_key=upsert.record_key,
                    key_epoch=settings.key_epoch,
                    schema_fingerprint=settings.schema_fingerprint,
                    clk=upsert.clk,
                    pointer_token=upsert.pointer_token,
                    consent=upsert.consent,
                    linkable=upsert.linkable,
                    content_digest=plan.digests[upsert.record_key],
                    update_time_us=now,
                )
            )
            event_rows.extend(event_row(node, e) for e in upsert.events)
            batch_nodes.append(node)
            if upsert.linkable:
                index_adds.append((node, upsert.clk))
        if plan.updated_in_place:
            # the events of a record are replaced with it (an upsert carries all of them)
            tx.delete_record_events([ref.node_id for ref, _ in plan.updated_in_place])
        for ref, upsert in plan.updated_in_place:
            tx.update_record(
                ref.node_id,
                upsert.pointer_token,
                upsert.consent,
                upsert.linkable,
                plan.digests[upsert.record_key],
                now,
            )
            event_rows.extend(event_row(ref.node_id, e) for e in upsert.events)
            batch_nodes.append(ref.node_id)
        tx.insert_record_events(event_rows)
        kept_events = stored_event_bytes(tx, [ref.node_id for ref, _ in plan.consent_changes])
        for ref, change in plan.consent_changes:
            tx.update_record(
                ref.node_id,
                ref.pointer_token,
                change.consent,
                change.linkable,
                content_digest(
                    ref.clk, ref.pointer_token, change.consent, kept_events.get(ref.node_id, b"")
                ),
                now,
            )
        index_adds.extend((ref.node_id, ref.clk) for ref in graph.rejoining)
        # The new edges and the components the batch touched, re-clustered: as worked out
        # before this transaction, or now.
        inserted = batch_nodes[: len(plan.inserts)]
        relinking = None if relinked is None else relinked.write(tx, inserted, now)
        if relinking is None:
            agency_no = tx.agency_no(batch.agency_id)
            if agency_no is None:
                raise NotFoundError(f"agency {batch.agency_id!r} is not enrolled")
            relinking = self._relink(
                tx, plan, graph, departures, inserted, agency_no, now
            ).write_as_planned(tx, now)
        linked_nodes = relinking.linked
        outcome = BatchOutcome(
            agency_id=batch.agency_id,
            batch_id=batch.batch_id,
            replayed=False,
            inserted=len(plan.inserts) - len(plan.replaced),
            updated=len(plan.replaced) + len(plan.updated_in_place),
            unchanged=plan.unchanged,
            withdrawn=len(plan.withdrawn),
            consent_updated=len(plan.consent_changes),
            linked=sum(1 for node in batch_nodes if node in linked_nodes),
            commit_time_us=now,
        )
        tx.save_batch(
            BatchRow(batch.agency_id, batch.batch_id, digest, outcome_to_json(outcome), now)
        )
        events = [
            EventRow(
                EventKind.BATCH_COMMITTED,
                now,
                agency_id=batch.agency_id,
                batch_id=batch.batch_id,
                record_count=len(batch.mutations),
            )
        ]
        if plan.withdrawn:
            events.append(
                EventRow(
                    EventKind.RECORD_WITHDRAWN,
                    now,
                    agency_id=batch.agency_id,
                    batch_id=batch.batch_id,
                    record_count=len(plan.withdrawn),
                )
            )
        events.extend(relinking.event_rows(now, batch.agency_id, batch.batch_id))
        tx.append_events(events)
        state.audit(
            tx,
            actor,
            "ingest.batch",
            [f"agencies/{batch.agency_id}/batches/{batch.batch_id}"],
            {
                "inserted": outcome.inserted,
                "updated": outcome.updated,
                "unchanged": outcome.unchanged,
                "withdrawn": outcome.withdrawn,
                "consent_updated": outcome.consent_updated,
            },
            now,
        )
        return outcome, index_adds
