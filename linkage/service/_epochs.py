"""Batches of the next key epoch during a rotation (docs/key-rotation.md).

While the store's rotation names a next epoch, an agency uploads its records twice: in
the epoch in force, as always (:class:`~linkage.service._ingest.Ingest`), and in the
next epoch, beside it. A batch of the next epoch comes here. Its upserts give existing
records (the same agency and record key) their next-epoch CLK, pointer token and content
digest; a record keeps its node ID, so it stays in its link and the new CLK joins the
link by construction; nothing is compared or relinked (linkage runs in the epoch in
force until the finish). A withdrawal drops a record's next-epoch CLK (the record itself
leaves through the batch of the epoch in force); ``withdraw_all`` drops all of the
agency's. Consent changes belong to the epoch in force and are refused here, as are
upserts of records the epoch in force does not hold (upload that epoch first).

The batch is validated like any other (the same limits, in the next epoch's linkage
space), is idempotent by batch ID, is one write transaction with its audit entry, and
appends its records to the index-change feed so that other matcher processes on the
store update their next-epoch mirrors.
"""

from __future__ import annotations

import time

from linkage.errors import FailedPreconditionError, Problem
from linkage.pki import Principal
from linkage.service._batch_rows import outcome_to_json, replayed_outcome, upsert_digest
from linkage.service._ingest import Ingest
from linkage.service._ingest_checks import refused_batch
from linkage.service._model import (
    BatchOutcome,
    ConsentChange,
    RecordUpsert,
    RecordWithdrawal,
    WriteBatch,
)
from linkage.service._state import ServiceState
from linkage.store import BatchRow, NextEpochRecord, StoredRecordRef, WriteTransaction

__all__ = ["NextEpochIngest"]


class NextEpochIngest:
    """Batches of the next key epoch of a rotation (see the module docstring)."""

    def __init__(self, state: ServiceState, ingest: Ingest) -> None:
        self._state = state
        self._ingest = ingest

    def accepts(self, batch: WriteBatch) -> bool:
        """Whether ``batch`` is of the next epoch of a rotation in progress."""
        state = self._state
        if batch.key_epoch == state.settings.key_epoch:
            return False
        if state.next_epoch is None:
            state.catch_up_for_reads()  # a rotation begun since the last call
        return state.next_epoch is not None and batch.key_epoch == state.next_epoch

    def write_batch(self, actor: Principal, batch: WriteBatch) -> BatchOutcome | None:
        """Store the batch's next-epoch CLKs all or nothing, idempotently. None: the
        rotation finished meanwhile and the batch's epoch is in force now (the caller
        ingests it as any batch)."""
        state = self._state
        with state.epoch_scope(batch.key_epoch):
            self._ingest.validate(batch)
        current = state.settings.key_epoch
        refused = [
            Problem(
                f"mutations[{i}].consent_update",
                f"consent changes are sent in the key epoch in force ({current}), "
                "not in the next one",
            )
            for i, mutation in enumerate(batch.mutations)
            if isinstance(mutation, ConsentChange)
        ]
        if refused:
            raise refused_batch(batch, refused)
        digest = batch.digest()
        started = time.perf_counter()
        with state.writer:
            with state.store.write() as tx:
                stored = tx.get_batch(batch.agency_id, batch.batch_id)
                if stored is not None:
                    return replayed_outcome(batch, digest, stored)
                state.catch_up(tx.index_changes_since(state.seen_change))
                rotation = tx.key_rotation()
                if rotation is not None and rotation.current_epoch == batch.key_epoch:
                    return None
                if rotation is None or rotation.next_epoch != batch.key_epoch:
                    raise FailedPreconditionError(
                        f"the matcher is not rotating to key epoch {batch.key_epoch} any more "
                        f"(the key epoch in force is {state.settings.key_epoch})"
                    )
                now = state.clock()
                outcome, changed = self._apply(tx, actor, batch, rotation.current_epoch, now)
                tx.save_batch(
                    BatchRow(batch.agency_id, batch.batch_id, digest, outcome_to_json(outcome), now)
                )
                tx.record_index_changes((node, True) for node in changed)
                mine = tx.index_changes_since(state.seen_change)
                seen_after = mine[-1].sequence if mine else state.seen_change
            state.follow_next_epoch(changed)
            state.seen_change = seen_after
        state.observer.batch_committed(
            batch.agency_id, len(batch.mutations), time.perf_counter() - started
        )
        return outcome

    def _apply(
        self, tx: WriteTransaction, actor: Principal, batch: WriteBatch, current: int, now: int
    ) -> tuple[BatchOutcome, list[int]]:
        """Write the batch's next-epoch CLKs; the outcome and the linkable records whose
        next-epoch CLK changed."""
        keys = [m.record_key for m in batch.mutations]
        held = {r.record_key: r for r in tx.find_records(batch.agency_id, keys)}
        problems = [
            Problem(
                f"mutations[{i}].upsert",
                f"the agency holds no record with this key in key epoch {current}: upload "
                "that epoch first (agency-client upload sends both)",
            )
            for i, m in enumerate(batch.mutations)
            if isinstance(m, RecordUpsert) and m.record_key not in held
        ]
        if problems:
            raise refused_batch(batch, problems)
        changed: list[StoredRecordRef] = []
        dropped: list[StoredRecordRef] = []
        if batch.withdraw_all:
            dropped = tx.all_records(batch.agency_id)
        upserts = [m for m in batch.mutations if isinstance(m, RecordUpsert)]
        digests = tx.next_epoch_digests(
            [held[m.record_key].node_id for m in upserts], batch.key_epoch
        )
        rows: list[NextEpochRecord] = []
        counts = {"inserted": 0, "updated": 0, "unchanged": 0, "withdrawn": 0}
        for upsert in upserts:
            ref = held[upsert.record_key]
            content = upsert_digest(upsert)
            before = digests.get(ref.node_id)
            if before == content and not batch.withdraw_all:
                counts["unchanged"] += 1
                continue
            counts["inserted" if before is None or batch.withdraw_all else "updated"] += 1
            rows.append(
                NextEpochRecord(
                    ref.node_id, batch.key_epoch, upsert.clk, upsert.pointer_token, content
                )
            )
            changed.append(ref)
        withdrawn = [
            held[m.record_key]
            for m in batch.mutations
            if isinstance(m, RecordWithdrawal) and m.record_key in held
        ]
        leaving = sorted({r.node_id for r in dropped + withdrawn})
        counts["withdrawn"] = len(tx.next_epoch_digests(leaving, batch.key_epoch))
        tx.delete_next_epoch_records(leaving)
        tx.upsert_next_epoch_records(rows)
        outcome = BatchOutcome(
            agency_id=batch.agency_id,
            batch_id=batch.batch_id,
            replayed=False,
            consent_updated=0,
            linked=0,
            commit_time_us=now,
            **counts,
        )
        self._state.audit(
            tx,
            actor,
            "ingest.next_epoch_batch",
            [f"agencies/{batch.agency_id}/batches/{batch.batch_id}"],
            {"key_epoch": batch.key_epoch, **counts},
            now,
        )
        touched = {r.node_id: r for r in changed + withdrawn + dropped}
        return outcome, sorted(node for node, r in touched.items() if r.linkable)
