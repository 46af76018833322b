"""A batch's rows as the store keeps them: content digests, events, the stored outcome.

The content digest tells an unchanged record from a changed one (:func:`content_digest`,
:func:`upsert_digest`); a record's events are kept as rows of their own (:func:`event_row`,
read back by :func:`stored_event`); a committed batch keeps its outcome
(:func:`outcome_to_json`) so that the same batch sent again gets it back
(:func:`replayed_outcome`). Both the batches of the epoch in force
(:mod:`linkage.service._ingest`) and those of the next epoch of a rotation
(:mod:`linkage.service._epochs`) use them.
"""

from __future__ import annotations

import hashlib
import json

from linkage.errors import FailedPreconditionError
from linkage.events import (
    Disposition,
    EventCode,
    RecordEvent,
    day_number,
    events_bytes,
    from_day_number,
)
from linkage.service._model import BatchOutcome, RecordUpsert, WriteBatch
from linkage.store import BatchRow, RecordEventRow, WriteTransaction

__all__ = [
    "content_digest",
    "event_row",
    "outcome_to_json",
    "replayed_outcome",
    "stored_event",
    "stored_event_bytes",
    "upsert_digest",
]


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


def stored_event_bytes(tx: WriteTransaction, node_ids: list[int]) -> dict[int, bytes]:
    """The canonical event bytes of stored records (for their content digest); a record
    without events is absent."""
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
