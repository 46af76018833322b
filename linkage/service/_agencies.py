"""Agencies: enrolment, changes, reads, and the per-agency listings the servicers page.

Enrolment and changes take the service's writer lock, write one event and one audit
entry in the same transaction, and refresh the small in-process cache that ingest
(is the agency enrolled?) and lookups (its contact card) read on every call.
"""

from __future__ import annotations

from linkage.errors import InvalidInputError, NotFoundError, Problem
from linkage.field_limits import MAX_AGENCY_DISPLAY_NAME_CHARS, MAX_CONTACT_CARD_BYTES
from linkage.pki import Principal
from linkage.service._model import AGENCY_ID_PATTERN
from linkage.service._state import ServiceState
from linkage.store import AgencyCounts, AgencyRow, EventKind, EventRow, RecordListing

__all__ = ["Agencies"]


def _check_agency(display_name: str, contact_card: bytes) -> None:
    """The display name and the contact card's stored size (the servicers check the
    card's fields, :func:`linkage.server._convert.contact_card_to_bytes`)."""
    problems = []
    if not display_name.strip() or len(display_name) > MAX_AGENCY_DISPLAY_NAME_CHARS:
        problems.append(
            Problem("agency.display_name", f"must be 1-{MAX_AGENCY_DISPLAY_NAME_CHARS} characters")
        )
    if len(contact_card) > MAX_CONTACT_CARD_BYTES:
        problems.append(
            Problem("agency.contact_card", f"must be at most {MAX_CONTACT_CARD_BYTES} bytes")
        )
    if problems:
        raise InvalidInputError("invalid agency", problems=problems)


class Agencies:
    """The agencies of one service and their cache."""

    def __init__(self, state: ServiceState) -> None:
        self._state = state
        self._cache: dict[str, AgencyRow] = {}

    def create(
        self, actor: Principal, agency_id: str, display_name: str, contact_card: bytes
    ) -> AgencyRow:
        """Enrol an agency."""
        if not AGENCY_ID_PATTERN.match(agency_id):
            raise InvalidInputError(
                "invalid agency ID",
                problems=[
                    Problem("agency_id", "must be 2-63 of [a-z0-9-], starting with a letter")
                ],
            )
        _check_agency(display_name, contact_card)
        state = self._state
        now = state.clock()
        with state.writer, state.store.write() as tx:
            row = tx.insert_agency(agency_id, display_name, contact_card, now)
            tx.append_events(
                [EventRow(EventKind.AGENCY_CHANGED, now, agency_id=agency_id, record_count=0)]
            )
            state.audit(tx, actor, "agency.create", [f"agencies/{agency_id}"], {}, now)
        self._cache[agency_id] = row
        return row

    def update(
        self, actor: Principal, agency_id: str, display_name: str, contact_card: bytes
    ) -> AgencyRow:
        """Change an agency's display name and contact card."""
        _check_agency(display_name, contact_card)
        state = self._state
        now = state.clock()
        with state.writer, state.store.write() as tx:
            row = tx.update_agency(agency_id, display_name, contact_card, now)
            tx.append_events([EventRow(EventKind.AGENCY_CHANGED, now, agency_id=agency_id)])
            state.audit(tx, actor, "agency.update", [f"agencies/{agency_id}"], {}, now)
        self._cache[agency_id] = row
        return row

    def get(self, agency_id: str) -> AgencyRow:
        """One agency; NotFoundError if it is not enrolled."""
        row = self._state.store.get_agency(agency_id)
        if row is None:
            raise NotFoundError(f"agency {agency_id!r} is not enrolled")
        return row

    def list_agencies(self, after_id: str, limit: int) -> list[AgencyRow]:
        """Agencies by ID, after ``after_id``."""
        return self._state.store.list_agencies(after_id, limit)

    def cached(self, agency_id: str) -> AgencyRow | None:
        """The agency from the cache (read from the store once), or None if not enrolled."""
        row = self._cache.get(agency_id)
        if row is None:
            row = self._state.store.get_agency(agency_id)
            if row is not None:
                self._cache[agency_id] = row
        return row

    def list_records(self, agency_id: str, after_key: bytes, limit: int) -> list[RecordListing]:
        """An agency's records, by key."""
        return self._state.store.list_records(agency_id, after_key, limit)

    def counts(self, agency_id: str) -> AgencyCounts:
        """Counts for one agency."""
        for counts in self._state.store.agency_counts():
            if counts.agency_id == agency_id:
                return counts
        raise NotFoundError(f"agency {agency_id!r} is not enrolled")
