"""Agencies: enrolment, changes, reads, and the per-agency listings the servicers page.

A change of an agency's display name or contact card (the number responders call) is
proposed by the operator and takes effect only when the agency confirms it
(:meth:`Agencies.propose`, :meth:`Agencies.settle`); the card given at enrolment is in
force at once.

Enrolment and changes take the service's writer lock, write one event and one audit
entry in the same transaction, and refresh the small in-process cache that ingest
(is the agency enrolled?) and lookups (its contact card) read on every call. They also
append a mark to the index-change feed (:data:`~linkage.store.AGENCY_MARK_NODE`): every
matcher process sharing the store follows the feed before a lookup
(:meth:`ServiceState.catch_up`), counts the state's ``agency_generation`` up at the mark,
and so reads the changed agency again instead of its cached copy.
"""

from __future__ import annotations

import hashlib
import hmac

from linkage.errors import FailedPreconditionError, InvalidInputError, NotFoundError, Problem
from linkage.field_limits import MAX_AGENCY_DISPLAY_NAME_CHARS, MAX_CONTACT_CARD_BYTES
from linkage.pki import Principal
from linkage.security import DetailValue
from linkage.service._model import AGENCY_ID_PATTERN
from linkage.service._state import ServiceState
from linkage.store import (
    AGENCY_MARK_NODE,
    AgencyCounts,
    AgencyRow,
    ContactCardProposalRow,
    EventKind,
    EventRow,
    RecordListing,
)

__all__ = ["Agencies", "proposal_digest"]


def proposal_digest(proposal: ContactCardProposalRow) -> bytes:
    """What an agency confirms: SHA-256 over the agency and the proposed display name and
    card (length-prefixed), so a proposal replaced meanwhile is never confirmed unseen."""
    digest = hashlib.sha256(b"coresponder-contact-card-proposal/v1\0")
    for part in (
        proposal.agency_id.encode(),
        proposal.display_name.encode(),
        proposal.contact_card,
    ):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.digest()


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
        #: agency ID -> (the state's ``agency_generation`` when it was read, the row); a
        #: row of an older generation is read again
        self._cache: dict[str, tuple[int, AgencyRow]] = {}

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
            generation = state.agency_generation
            row = tx.insert_agency(agency_id, display_name, contact_card, now)
            tx.append_events(
                [EventRow(EventKind.AGENCY_CHANGED, now, agency_id=agency_id, record_count=0)]
            )
            tx.record_index_changes([(AGENCY_MARK_NODE, False)])
            state.audit(tx, actor, "agency.create", [f"agencies/{agency_id}"], {}, now)
        self._cache[agency_id] = (generation, row)
        return row

    def propose(
        self, actor: Principal, agency_id: str, display_name: str, contact_card: bytes
    ) -> tuple[AgencyRow, ContactCardProposalRow | None]:
        """The operator proposes a new display name and contact card for an agency. The
        agency's card in force is unchanged until the agency confirms (:meth:`settle`);
        a proposal replaces a pending one, and proposing what is in force withdraws it.
        Returns the agency as it is and the pending proposal."""
        _check_agency(display_name, contact_card)
        state = self._state
        now = state.clock()
        with state.writer, state.store.write() as tx:
            current = state.store.get_agency(agency_id)
            if current is None:
                raise NotFoundError(f"agency {agency_id!r} is not enrolled")
            proposal: ContactCardProposalRow | None = None
            if (display_name, contact_card) == (current.display_name, current.contact_card):
                tx.delete_contact_card_proposal(agency_id)
            else:
                proposal = ContactCardProposalRow(
                    agency_id, display_name, contact_card, actor.actor, now
                )
                tx.save_contact_card_proposal(proposal)
            state.audit(
                tx,
                actor,
                "agency.card_proposed",
                [f"agencies/{agency_id}"],
                {"digest": "" if proposal is None else proposal_digest(proposal).hex()},
                now,
            )
        return current, proposal

    def proposal(self, agency_id: str) -> ContactCardProposalRow | None:
        """The agency's pending contact-card proposal, or None."""
        return self._state.store.contact_card_proposal(agency_id)

    def settle(self, actor: Principal, agency_id: str, digest: bytes, *, reject: bool) -> AgencyRow:
        """The agency confirms (or rejects) the proposal whose digest it was shown; a
        confirmed card is in force for responders from the next lookup."""
        if len(digest) != 32:
            raise InvalidInputError(
                "invalid confirmation",
                problems=[Problem("digest", "must be the 32-byte digest GetContactCard returned")],
            )
        state = self._state
        now = state.clock()
        with state.writer, state.store.write() as tx:
            generation = state.agency_generation
            proposal = tx.contact_card_proposal(agency_id)
            if proposal is None:
                raise FailedPreconditionError(
                    f"no contact-card change is pending for agency {agency_id!r}; "
                    "nothing to confirm"
                )
            if not hmac.compare_digest(digest, proposal_digest(proposal)):
                raise FailedPreconditionError(
                    "the pending contact-card change is not the one confirmed (it was "
                    "replaced since); read it again (agency-client contact-card show)"
                )
            tx.delete_contact_card_proposal(agency_id)
            details: dict[str, DetailValue] = {
                "digest": digest.hex(),
                "proposed_by": proposal.proposed_by,
            }
            if reject:
                state.audit(
                    tx, actor, "agency.card_rejected", [f"agencies/{agency_id}"], details, now
                )
                row = state.store.get_agency(agency_id)
                if row is None:  # pragma: no cover - a proposal names an enrolled agency
                    raise NotFoundError(f"agency {agency_id!r} is not enrolled")
            else:
                row = tx.update_agency(agency_id, proposal.display_name, proposal.contact_card, now)
                tx.append_events([EventRow(EventKind.AGENCY_CHANGED, now, agency_id=agency_id)])
                # other matcher processes on the store read the agency again
                tx.record_index_changes([(AGENCY_MARK_NODE, False)])
                state.audit(
                    tx, actor, "agency.card_confirmed", [f"agencies/{agency_id}"], details, now
                )
        self._cache[agency_id] = (generation, row)
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
        """The agency from the cache (read from the store once, and again after an agency
        change this process followed in the feed), or None if not enrolled."""
        generation = self._state.agency_generation
        entry = self._cache.get(agency_id)
        if entry is not None and entry[0] == generation:
            return entry[1]
        # tagged with the generation read before the store: a row read just before a
        # change commits is stale, and its tag is older than the mark's
        row = self._state.store.get_agency(agency_id)
        if row is not None:
            self._cache[agency_id] = (generation, row)
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
