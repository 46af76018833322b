"""Row mappers of the outcome tables both engines share (see :mod:`linkage.store._rows`):
the privacy-budget ledger (``outcome_releases``) and the events of records; and the
ledger's statements inside a write transaction, written once with ``?`` parameters (the
engine's host runs them, as for :mod:`linkage.store._epochs`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from linkage.store._model import EventRecord, OutcomeReleaseRow, RecordEventRow
from linkage.store._rows import Row

__all__ = [
    "EVENT_RECORD_COLUMNS",
    "RECORD_EVENT_COLUMNS",
    "RELEASE_COLUMNS",
    "OutcomeLedgerWrites",
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


class OutcomeLedgerWrites:
    """The privacy-budget ledger inside a write transaction (the host runs the
    statements), so a release is checked against the budget and stored in one
    transaction."""

    def _epoch_rows(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        raise NotImplementedError  # pragma: no cover - supplied by the engine

    def latest_outcome_release(
        self, programme: str, query_digest: bytes
    ) -> OutcomeReleaseRow | None:
        """The newest release of this query in the programme's ledger, or None."""
        rows = self._epoch_rows(
            RELEASE_COLUMNS + "FROM outcome_releases WHERE programme = ? AND query_digest = ? "
            "ORDER BY release_id DESC LIMIT 1",
            (programme, query_digest),
        )
        return outcome_release(rows[0]) if rows else None

    def spent_epsilon(self, programme: str) -> float:
        """The epsilon the programme's releases have spent."""
        rows = self._epoch_rows(
            "SELECT COALESCE(SUM(epsilon), 0.0) FROM outcome_releases WHERE programme = ?",
            (programme,),
        )
        return float(rows[0][0]) if rows else 0.0

    def insert_outcome_release(self, row: OutcomeReleaseRow) -> int:
        """Store a release; its ID."""
        stored = self._epoch_rows(
            "INSERT INTO outcome_releases (programme, query_digest, epsilon, create_time_us, "
            "actor, audit_sequence, content) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "RETURNING release_id",
            outcome_release_params(row),
        )
        return int(stored[0][0])
