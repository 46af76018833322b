"""Row mappers of the outcome tables both engines share (see :mod:`linkage.store._rows`):
the privacy-budget ledger (``outcome_releases``) and the events of records."""

from __future__ import annotations

from linkage.store._model import EventRecord, OutcomeReleaseRow, RecordEventRow
from linkage.store._rows import Row

__all__ = [
    "EVENT_RECORD_COLUMNS",
    "RECORD_EVENT_COLUMNS",
    "RELEASE_COLUMNS",
    "event_record",
    "outcome_release",
    "outcome_release_params",
    "record_event",
]

RELEASE_COLUMNS = (
    "SELECT release_id, programme, query_digest, epsilon, create_time_us, actor, "
    "audit_sequence, content "
)
#: records with at least one event (the engines add FROM ... ORDER BY)
EVENT_RECORD_COLUMNS = "SELECT r.node_id, r.link_id, r.agency_id, r.consent "
RECORD_EVENT_COLUMNS = "SELECT node_id, code, day, disposition "


def outcome_release(row: Row) -> OutcomeReleaseRow:
    return OutcomeReleaseRow(
        release_id=int(row[0]),
        programme=str(row[1]),
        query_digest=bytes(row[2]),
        epsilon=float(row[3]),
        create_time_us=int(row[4]),
        actor=str(row[5]),
        audit_sequence=int(row[6]),
        content=bytes(row[7]),
    )


def outcome_release_params(row: OutcomeReleaseRow) -> tuple[object, ...]:
    """The values of an ``outcome_releases`` row after its ID, in column order."""
    return (
        row.programme,
        row.query_digest,
        row.epsilon,
        row.create_time_us,
        row.actor,
        row.audit_sequence,
        row.content,
    )


def event_record(row: Row) -> EventRecord:
    return EventRecord(
        node_id=int(row[0]),
        link_id=None if row[1] is None else int(row[1]),
        agency_id=str(row[2]),
        consent=bytes(row[3]),
    )


def record_event(row: Row) -> RecordEventRow:
    return RecordEventRow(int(row[0]), str(row[1]), int(row[2]), str(row[3]))
