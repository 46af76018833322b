"""The row mappers and column lists both engines share, in both directions.

Reading: each ``*_COLUMNS`` constant is the select list of one kind of row, in the order
its mapper reads; both engines select with it, so one mapper turns a SQLite row and a
PostgreSQL row alike (both index by position) into the plain types of
:mod:`linkage.store._model`. Writing: each ``*_params`` function gives the values of one
row in the order of its table's columns (as both engines' INSERT statements name them).
The only difference between the engines, how a list column is stored (JSON text in
SQLite, an array in PostgreSQL), is the ``decode_list`` / ``encode_list`` argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from linkage.store._model import (
    AgencyCounts,
    AgencyRow,
    AuditRow,
    BatchRow,
    DisclosureRow,
    EventKind,
    EventRow,
    IndexChange,
    LinkageRunRow,
    LinkMember,
    NewRecord,
    RecordListing,
    StoredRecordRef,
)

__all__ = [
    "AGENCY_COLUMNS",
    "AUDIT_COLUMNS",
    "BATCH_COLUMNS",
    "DISCLOSURE_COLUMNS",
    "EVENT_COLUMNS",
    "MEMBER_COLUMNS",
    "REF_COLUMNS",
    "RUN_COLUMNS",
    "Row",
    "agency_counts",
    "agency_row",
    "audit_params",
    "audit_row",
    "batch_params",
    "batch_row",
    "disclosure",
    "disclosure_params",
    "event_params",
    "event_row",
    "index_change",
    "link_member",
    "linkage_run",
    "record_listing",
    "record_params",
    "record_ref",
    "run_params",
]

#: A result row of either engine (``sqlite3.Row`` or a psycopg tuple), read by position.
Row: TypeAlias = Sequence[Any]
#: How an engine stores a list column: JSON text (SQLite) or an array (PostgreSQL).
ListDecoder: TypeAlias = Callable[[Any], Sequence[Any]]
ListEncoder: TypeAlias = Callable[[list[Any]], Any]

AGENCY_COLUMNS = (
    "SELECT agency_id, agency_no, display_name, contact_card, create_time_us, update_time_us "
)
REF_COLUMNS = (
    "SELECT node_id, record_key, clk, pointer_token, content_digest, consent, linkable, link_id "
)
EVENT_COLUMNS = (
    "SELECT sequence, event_time_us, kind, agency_id, batch_id, source_links, target_links, "
    "record_count "
)
AUDIT_COLUMNS = (
    "SELECT sequence, entry_time_us, actor, action, target_ids, details, prev_hash, entry_hash "
)
BATCH_COLUMNS = "SELECT agency_id, batch_id, request_digest, response, commit_time_us "
MEMBER_COLUMNS = "SELECT link_id, node_id, agency_id, record_key, pointer_token, consent "
DISCLOSURE_COLUMNS = (
    "SELECT disclosure_id, agency_id, record_key, link_id, recipient, recipient_agency, "
    "purpose, disclose_time_us, audit_sequence "
)
RUN_COLUMNS = (
    "SELECT run_id, start_time_us, end_time_us, record_count, candidate_pair_count, "
    "link_count, changed_link_count, threshold, reason, model "
)


def agency_row(row: Row) -> AgencyRow:
    """An agency from :data:`AGENCY_COLUMNS`."""
    return AgencyRow(
        agency_id=row[0],
        agency_no=row[1],
        display_name=row[2],
        contact_card=bytes(row[3]),
        create_time_us=row[4],
        update_time_us=row[5],
    )


def record_ref(row: Row) -> StoredRecordRef:
    """What ingest needs of a record, from :data:`REF_COLUMNS`."""
    return StoredRecordRef(
        node_id=row[0],
        record_key=bytes(row[1]),
        clk=bytes(row[2]),
        pointer_token=bytes(row[3]),
        content_digest=bytes(row[4]),
        consent=bytes(row[5]),
        linkable=bool(row[6]),
        link_id=row[7],
    )


def event_row(row: Row, decode_list: ListDecoder = tuple) -> EventRow:
    """An event from :data:`EVENT_COLUMNS`."""
    return EventRow(
        kind=EventKind(row[2]),
        event_time_us=row[1],
        agency_id=row[3],
        batch_id=row[4],
        source_links=tuple(decode_list(row[5])),
        target_links=tuple(decode_list(row[6])),
        record_count=row[7],
        sequence=row[0],
    )


def audit_row(row: Row, decode_list: ListDecoder = tuple) -> AuditRow:
    """An audit entry from :data:`AUDIT_COLUMNS`."""
    return AuditRow(
        sequence=row[0],
        entry_time_us=row[1],
        actor=row[2],
        action=row[3],
        target_ids=tuple(decode_list(row[4])),
        details=row[5],
        prev_hash=bytes(row[6]),
        entry_hash=bytes(row[7]),
    )


def batch_row(row: Row) -> BatchRow:
    """A committed batch from :data:`BATCH_COLUMNS`."""
    return BatchRow(
        agency_id=row[0],
        batch_id=row[1],
        request_digest=bytes(row[2]),
        response=bytes(row[3]),
        commit_time_us=row[4],
    )


def link_member(row: Row) -> LinkMember:
    """A member of a link from :data:`MEMBER_COLUMNS`."""
    return LinkMember(
        link_id=row[0],
        node_id=row[1],
        agency_id=row[2],
        record_key=bytes(row[3]),
        pointer_token=bytes(row[4]),
        consent=bytes(row[5]),
    )


def record_listing(row: Row) -> RecordListing:
    """A record as its agency sees it: ``record_key, consent, update_time_us, linked``."""
    return RecordListing(
        record_key=bytes(row[0]), consent=bytes(row[1]), linked=bool(row[3]), update_time_us=row[2]
    )


def agency_counts(row: Row) -> AgencyCounts:
    """Counts of one agency: ``agency_id, records, linked, batches, last batch, its time``."""
    return AgencyCounts(
        agency_id=row[0],
        record_count=row[1],
        linked_record_count=row[2],
        batch_count=row[3],
        last_batch_id=row[4],
        last_batch_time_us=row[5],
    )


def disclosure(row: Row) -> tuple[int, DisclosureRow]:
    """A disclosure and its ID, from :data:`DISCLOSURE_COLUMNS`."""
    return (
        row[0],
        DisclosureRow(
            agency_id=row[1],
            record_key=bytes(row[2]),
            link_id=row[3],
            recipient=row[4],
            recipient_agency=row[5],
            purpose=row[6],
            disclose_time_us=row[7],
            audit_sequence=row[8],
        ),
    )


def linkage_run(row: Row) -> LinkageRunRow:
    """A linkage run from :data:`RUN_COLUMNS`."""
    return LinkageRunRow(
        run_id=row[0],
        start_time_us=row[1],
        end_time_us=row[2],
        record_count=row[3],
        candidate_pair_count=row[4],
        link_count=row[5],
        changed_link_count=row[6],
        threshold=row[7],
        reason=row[8],
        model=row[9],
    )


def index_change(row: Row) -> IndexChange:
    """One entry of the index-change feed: ``sequence, node_id, added, clk`` (the CLK of
    an added record still stored, else NULL)."""
    clk = row[3]
    return IndexChange(int(row[0]), int(row[1]), bool(row[2]), None if clk is None else bytes(clk))


# -- writing: one row's values in its table's column order ------------------------------


def batch_params(batch: BatchRow) -> tuple[object, ...]:
    """``agency_id, batch_id, request_digest, response, commit_time_us``."""
    return (
        batch.agency_id,
        batch.batch_id,
        batch.request_digest,
        batch.response,
        batch.commit_time_us,
    )


def record_params(record: NewRecord) -> tuple[object, ...]:
    """``agency_id, record_key, key_epoch, schema_fingerprint, clk, pointer_token, consent,
    linkable, content_digest, update_time_us`` (the node ID and link are the store's)."""
    return (
        record.agency_id,
        record.record_key,
        record.key_epoch,
        record.schema_fingerprint,
        record.clk,
        record.pointer_token,
        record.consent,
        record.linkable,
        record.content_digest,
        record.update_time_us,
    )


def event_params(event: EventRow, encode_list: ListEncoder = list) -> tuple[object, ...]:
    """``event_time_us, kind, agency_id, batch_id, source_links, target_links,
    record_count`` (the sequence number is the store's)."""
    return (
        event.event_time_us,
        event.kind.value,
        event.agency_id,
        event.batch_id,
        encode_list(list(event.source_links)),
        encode_list(list(event.target_links)),
        event.record_count,
    )


def run_params(run: LinkageRunRow) -> tuple[object, ...]:
    """``start_time_us, end_time_us, record_count, candidate_pair_count, link_count,
    changed_link_count, threshold, reason, model`` (the run ID is the store's)."""
    return (
        run.start_time_us,
        run.end_time_us,
        run.record_count,
        run.candidate_pair_count,
        run.link_count,
        run.changed_link_count,
        run.threshold,
        run.reason,
        run.model,
    )


def audit_params(row: AuditRow, encode_list: ListEncoder = list) -> tuple[object, ...]:
    """An audit entry's values in :data:`AUDIT_COLUMNS` order."""
    return (
        row.sequence,
        row.entry_time_us,
        row.actor,
        row.action,
        encode_list(list(row.target_ids)),
        row.details,
        row.prev_hash,
        row.entry_hash,
    )


def disclosure_params(row: DisclosureRow) -> tuple[object, ...]:
    """``agency_id, record_key, link_id, recipient, recipient_agency, purpose,
    disclose_time_us, audit_sequence`` (the disclosure ID is the store's)."""
    return (
        row.agency_id,
        row.record_key,
        row.link_id,
        row.recipient,
        row.recipient_agency,
        row.purpose,
        row.disclose_time_us,
        row.audit_sequence,
    )
