"""Ingest: one agency's batch, validated, planned, joined, applied and relinked.

:meth:`Ingest.write_batch` commits a batch all or nothing, idempotently (a batch ID
committed before returns its first outcome; reused for other content it is refused),
in four phases under the service's writer lock:

1. **Reads** (a store transaction): the replay check, catch-up of other processes'
   index changes, and the **plan**: which records are inserted, replaced, updated in
   place, left unchanged, withdrawn, or get new consent.
2. **The graph** (CPU only, no store lock): which nodes leave the link graph, which
   join it, and the joiners' candidate pairs against the in-memory index.
3. **One write transaction**: if another process committed in between (a shared
   PostgreSQL store) or saved another model, the plan and graph are made again under
   the store's writer lock; then the records, edges and relinked components are
   written, with the batch's outcome, its events, its audit entry and its index changes.
4. The committed state goes into the in-memory index.

The expensive join thus runs before the store's write lock is taken; lookups never wait
for it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from linkage.consent import Consent, parse_consent, serialize_consent
from linkage.errors import (
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    Problem,
    ResourceExhaustedError,
)
from linkage.events import (
    Disposition,
    EventCode,
    RecordEvent,
    day_number,
    events_bytes,
    from_day_number,
    too_late_problem,
)
from linkage.field_limits import (
    MAX_EVENTS_PER_RECORD,
    MAX_POINTER_TOKEN_BYTES,
    MAX_RECORD_KEY_BYTES,
)
from linkage.pki import Principal
from linkage.security import record_clk_problems
from linkage.service._agencies import Agencies
from linkage.service._clock import datetime_from_us
from linkage.service._linking import Linking, Pairs, edge, link_event
from linkage.service._model import (
    BATCH_ID_PATTERN,
    BatchOutcome,
    ConsentChange,
    RecordUpsert,
    RecordWithdrawal,
    WriteBatch,
)
from linkage.service._state import ServiceState
from linkage.store import (
    BatchRow,
    EventKind,
    EventRow,
    NewRecord,
    RecordEventRow,
    StoredRecordRef,
    WriteTransaction,
)

__all__ = ["Ingest", "content_digest", "event_row", "stored_event", "upsert_digest"]

_MAX_PROBLEMS = 100
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


@dataclass(frozen=True, slots=True)
class Graph:
    """How a batch changes the link graph."""

    deleted: set[int]
    detached: set[int]
    rejoining: list[StoredRecordRef]
    pairs_vs_index: Pairs
    pairs_within: Pairs


def content_digest(clk: bytes, pointer_token: bytes, consent: bytes, events: bytes = b"") -> bytes:
    """The digest that tells an unchanged record from a changed one (``events``: the
    canonical bytes of its events; a record without events digests as before events)."""
    h = hashlib.sha256()
    for part in (clk, pointer_token, consent) + ((events,) if events else ()):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


def upsert_digest(upsert: RecordUpsert) -> bytes:
    """The content digest of a record as an upsert sends it (its events included)."""
    return content_digest(
        upsert.clk, upsert.pointer_token, upsert.consent, events_bytes(upsert.events)
    )


def event_row(node_id: int, event: RecordEvent) -> RecordEventRow:
    """How the store keeps one event of a record."""
    disposition = "" if event.disposition is None else event.disposition.value
    return RecordEventRow(node_id, event.code.value, day_number(event.day), disposition)


def stored_event(row: RecordEventRow) -> RecordEvent:
    """An event as the store keeps it, read back."""
    disposition = Disposition(row.disposition) if row.disposition else None
    return RecordEvent(EventCode(row.code), from_day_number(row.day), disposition)


def _stored_event_bytes(tx: WriteTransaction, node_ids: list[int]) -> dict[int, bytes]:
    """The canonical event bytes of stored records (for their content digest)."""
    events: dict[int, list[RecordEvent]] = {}
    for row in tx.record_events(node_ids):
        events.setdefault(row.node_id, []).append(stored_event(row))
    return {node: events_bytes(found) for node, found in events.items()}


def outcome_to_json(outcome: BatchOutcome) -> bytes:
    """A batch's outcome as stored with the batch, for its replay."""
    return json.dumps(
        {
            "inserted": outcome.inserted,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "withdrawn": outcome.withdrawn,
            "consent_updated": outcome.consent_updated,
            "linked": outcome.linked,
            "commit_time_us": outcome.commit_time_us,
        },
        sort_keys=True,
    ).encode()


def replayed_outcome(batch: WriteBatch, digest: bytes, stored: BatchRow) -> BatchOutcome:
    """The original outcome of a batch committed already; its ID reused for another batch
    (another request digest) is refused."""
    if stored.request_digest != digest:
        raise FailedPreconditionError(
            f"batch ID {batch.batch_id!r} was already used for a different "
            "batch; choose a new batch ID"
        )
    values = json.loads(stored.response)
    return BatchOutcome(agency_id=batch.agency_id, batch_id=batch.batch_id, replayed=True, **values)


def refused_batch(batch: WriteBatch, problems: list[Problem]) -> InvalidInputError:
    """The error of a batch refused whole, naming each problem."""
    return InvalidInputError(
        f"batch {batch.batch_id!r} was refused; nothing of it was stored", problems=problems
    )


class _ConsentCheck:
    """The consents of one batch, checked at write so that every lookup, listing and
    status can read them back: canonical bytes within :data:`~linkage.field_limits.
    MAX_CONSENT_BYTES` that parse to a valid consent (at most :data:`~linkage.field_limits.
    MAX_RECIPIENT_AGENCIES` recipients), the record's linkability as the consent says, and
    every recipient agency enrolled. A batch's records mostly share one consent, so each
    distinct consent is parsed once."""

    def __init__(self, agencies: Agencies) -> None:
        self._agencies = agencies
        self._parsed: dict[bytes, Consent | list[Problem]] = {}
        self._enrolled: dict[str, bool] = {}

    def problems(self, data: bytes, linkable: bool, where: str) -> list[Problem]:
        """The problems of one mutation's consent, named under ``where``."""
        parsed = self._parsed.get(data)
        if parsed is None:
            parsed = self._parse(data)
            self._parsed[data] = parsed
        if isinstance(parsed, list):
            return [Problem(f"{where}{p.location.removeprefix('$')}", p.reason) for p in parsed]
        problems: list[Problem] = []
        if linkable != parsed.allow_linkage:
            problems.append(Problem(f"{where}.allow_linkage", "disagrees with the record's"))
        for agency_id in sorted(parsed.recipient_agencies):
            if not self._is_enrolled(agency_id):
                problems.append(
                    Problem(
                        f"{where}.recipient_agencies",
                        f"agency {agency_id!r} is not enrolled; a consent names enrolled "
                        "agencies only",
                    )
                )
        return problems

    def _parse(self, data: bytes) -> Consent | list[Problem]:
        try:
            consent = parse_consent(data)
        except InvalidInputError as exc:
            return list(exc.problems) or [Problem("$", exc.message.removeprefix("consent: "))]
        if serialize_consent(consent) != data:
            return [Problem("$", "must be the consent's canonical bytes")]
        return consent

    def _is_enrolled(self, agency_id: str) -> bool:
        known = self._enrolled.get(agency_id)
        if known is None:
            known = self._agencies.cached(agency_id) is not None
            self._enrolled[agency_id] = known
        return known


def _check_epoch_in_force(batch: WriteBatch, state: ServiceState) -> None:
    """A key-epoch rotation that finished since the batch was validated (the catch-up just
    brought it) leaves the batch in an epoch no longer in force: refused, nothing stored."""
    if batch.key_epoch != state.settings.key_epoch:
        raise FailedPreconditionError(
            f"batch {batch.batch_id!r} is of key epoch {batch.key_epoch}, no longer in force "
            f"(a rotation finished: the matcher's key epoch is {state.settings.key_epoch}); "
            "nothing of it was stored"
        )


class Ingest:
    """Batches of one service (see the module docstring)."""

    def __init__(self, state: ServiceState, agencies: Agencies, linking: Linking) -> None:
        self._state = state
        self._agencies = agencies
        self._linking = linking

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
                _check_epoch_in_force(batch, state)
                state.refresh_model()
                plan = self.plan(tx, batch)
            # Phase 2 (CPU, no lock): the similarity join.
            graph = self.graph(plan)
            # Phase 3: one write transaction.
            now = state.clock()
            with state.store.write() as tx:
                replay = self._replayed(tx, batch, digest)
                if replay is not None:
                    return replay
                others = tx.index_changes_since(state.seen_change)
                model_run = state.model_run_id
                state.refresh_model()
                if others or state.model_run_id != model_run:
                    state.catch_up(others)
                    _check_epoch_in_force(batch, state)
                    plan = self.plan(tx, batch)
                    graph = self.graph(plan)
                outcome, index_adds = self._apply(tx, actor, batch, plan, digest, graph, now)
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
        state.observer.index_size(len(state.mirror), state.store.link_count())
        return outcome

    # ------------------------------------------------------------- validation
    def validate(self, batch: WriteBatch) -> None:
        """Refuse a batch that is too large, of an agency not enrolled, of another linkage
        space, or with malformed mutations (up to 100 problems, each with its path)."""
        limits, settings = self._state.limits, self._state.settings
        if len(batch.mutations) > limits.max_batch_mutations:
            raise ResourceExhaustedError(
                f"a batch may hold at most {limits.max_batch_mutations} mutations, "
                f"this one holds {len(batch.mutations)}; split it"
            )
        if self._agencies.cached(batch.agency_id) is None:
            raise NotFoundError(f"agency {batch.agency_id!r} is not enrolled")
        problems: list[Problem] = []
        if not BATCH_ID_PATTERN.match(batch.batch_id):
            problems.append(Problem("batch_id", "must be 1-128 of [A-Za-z0-9._:-]"))
        self._state.check_space(batch.key_epoch, batch.schema_fingerprint, problems)
        if problems:
            # another linkage space: one line says why, not one per record's CLK length
            raise refused_batch(batch, problems)
        seen: dict[bytes, int] = {}
        consents = _ConsentCheck(self._agencies)
        clk_len = settings.clk_bytes
        for i, mutation in enumerate(batch.mutations):
            if len(problems) >= _MAX_PROBLEMS:
                break
            where = f"mutations[{i}]"
            key = mutation.record_key
            if not key:
                problems.append(Problem(f"{where}.record_key", "must not be empty"))
            elif len(key) > MAX_RECORD_KEY_BYTES:
                problems.append(
                    Problem(f"{where}.record_key", f"must be at most {MAX_RECORD_KEY_BYTES} bytes")
                )
            elif key in seen:
                problems.append(
                    Problem(f"{where}.record_key", f"duplicates the key of mutations[{seen[key]}]")
                )
            else:
                seen[key] = i
            if isinstance(mutation, RecordUpsert):
                if len(mutation.clk) != clk_len:
                    problems.append(
                        Problem(
                            f"{where}.upsert.clk",
                            f"must be {clk_len} bytes ({settings.clk_bits} bits), "
                            f"got {len(mutation.clk)}",
                        )
                    )
                else:
                    problems.extend(self._clk_problems(mutation.clk, f"{where}.upsert.clk"))
                if not mutation.pointer_token:
                    problems.append(Problem(f"{where}.upsert.pointer_token", "must not be empty"))
                elif len(mutation.pointer_token) > MAX_POINTER_TOKEN_BYTES:
                    problems.append(
                        Problem(
                            f"{where}.upsert.pointer_token",
                            f"must be at most {MAX_POINTER_TOKEN_BYTES} bytes",
                        )
                    )
                problems.extend(
                    consents.problems(
                        mutation.consent, mutation.linkable, f"{where}.upsert.consent"
                    )
                )
                problems.extend(self._event_problems(mutation.events, f"{where}.upsert.events"))
            elif isinstance(mutation, ConsentChange):
                problems.extend(
                    consents.problems(
                        mutation.consent, mutation.linkable, f"{where}.consent_update.consent"
                    )
                )
        if problems:
            raise refused_batch(batch, problems[:_MAX_PROBLEMS])

    def _clk_problems(self, clk: bytes, where: str) -> list[Problem]:
        """A CLK no encoding produces (all ones, a segment all ones, fill beyond a fixed
        bound; :func:`linkage.security.record_clk_problems`) is refused as at lookup."""
        probabilistic = self._state.settings.probabilistic
        if probabilistic is None:
            return record_clk_problems(clk, where)
        layout = probabilistic.layout
        record = layout.record
        return record_clk_problems(
            clk,
            where,
            record_words=None if record is None else (record.start_word, record.stop_word),
            segments=[(part.name, part.start_word, part.stop_word) for part in layout.fields],
        )

    def _event_problems(self, events: tuple[RecordEvent, ...], where: str) -> list[Problem]:
        """At most 1000 events, none in the future (by the matcher's clock)."""
        if len(events) > MAX_EVENTS_PER_RECORD:
            return [Problem(where, f"must be at most {MAX_EVENTS_PER_RECORD} events")]
        if not events:
            return []
        today = datetime_from_us(self._state.clock()).date()
        found = (too_late_problem(e, today, f"{where}[{i}]") for i, e in enumerate(events))
        return [p for p in found if p is not None]

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
                    digest = upsert_digest(mutation)
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
            raise refused_batch(batch, problems[:_MAX_PROBLEMS])
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
    ) -> tuple[BatchOutcome, list[tuple[int, bytes]]]:
        state = self._state
        settings = state.settings
        leaving = sorted(graph.deleted | graph.detached)
        # The neighbourhood and links of leaving nodes, before their edges go.
        old_neighbours: set[int] = set()
        leaving_nodes: dict[int, tuple[int, int]] = {}
        if leaving:
            for row in tx.edges_touching(leaving):
                old_neighbours.update((row.node_a, row.node_b))
            agency_nos = tx.node_agency_nos(leaving)
            leaving_nodes = {
                node: (agency_nos[node], link) for node, link in tx.node_links(leaving).items()
            }
            old_neighbours.difference_update(leaving)
        if graph.deleted:
            tx.delete_records(sorted(graph.deleted))
        if graph.detached:
            tx.detach_nodes(sorted(graph.detached))
        # Inserts and in-place updates.
        batch_nodes: list[int] = []
        joining_nodes: list[int] = []
        index_adds: list[tuple[int, bytes]] = []
        pending: dict[int, bytes] = {}
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
                    content_digest=upsert_digest(upsert),
                    update_time_us=now,
                )
            )
            event_rows.extend(event_row(node, e) for e in upsert.events)
            batch_nodes.append(node)
            if upsert.linkable:
                joining_nodes.append(node)
                index_adds.append((node, upsert.clk))
                pending[node] = upsert.clk
        if plan.updated_in_place:
            # the events of a record are replaced with it (an upsert carries all of them)
            tx.delete_record_events([ref.node_id for ref, _ in plan.updated_in_place])
        for ref, upsert in plan.updated_in_place:
            tx.update_record(
                ref.node_id,
                upsert.pointer_token,
                upsert.consent,
                upsert.linkable,
                upsert_digest(upsert),
                now,
            )
            event_rows.extend(event_row(ref.node_id, e) for e in upsert.events)
            batch_nodes.append(ref.node_id)
        tx.insert_record_events(event_rows)
        kept_events = _stored_event_bytes(tx, [ref.node_id for ref, _ in plan.consent_changes])
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
        for ref in graph.rejoining:
            joining_nodes.append(ref.node_id)
            index_adds.append((ref.node_id, ref.clk))
            pending[ref.node_id] = ref.clk
        # Candidate edges of the joining nodes, now that they have node IDs.
        edges = [edge(joining_nodes[row], node, score) for row, node, score in graph.pairs_vs_index]
        edges += [
            edge(joining_nodes[a], joining_nodes[b], score) for a, b, score in graph.pairs_within
        ]
        tx.insert_edges(edges)
        # Re-cluster every component the batch touched.
        seeds = set(joining_nodes) | old_neighbours
        clusterer = self._linking.clusterer_for(state.linker, state.mirror.frequencies, pending)
        changes, linked_nodes = self._linking.relink(tx, seeds, leaving_nodes, now, clusterer)
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
        events.extend(link_event(c, now, batch.agency_id, batch.batch_id) for c in changes)
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
