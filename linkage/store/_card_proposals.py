"""Contact-card proposals: a change of an agency's card the agency has yet to confirm.

The card responders are shown (the phone number they call) is the agency's. The operator
may propose a new one (``UpdateAgency``); it takes effect only when the agency confirms
it (``IngestService.ConfirmContactCard``). One table (migration 5, both engines):
``contact_card_proposals``, at most one pending proposal per agency (a new proposal
replaces the old one), deleted when it is confirmed or rejected.

The statements are written once, with ``?`` parameters; each engine's host supplies how
to run them (the same hooks as :mod:`linkage.store._epochs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["CardProposalReads", "CardProposalWrites", "ContactCardProposalRow"]


@dataclass(frozen=True, slots=True)
class ContactCardProposalRow:
    """A proposed display name and contact card of an agency, not yet in force."""

    agency_id: str
    display_name: str
    contact_card: bytes
    proposed_by: str
    propose_time_us: int


_SELECT = (
    "SELECT agency_id, display_name, contact_card, proposed_by, propose_time_us "
    "FROM contact_card_proposals WHERE agency_id = ?"
)


def _row(rows: Sequence[Sequence[Any]]) -> ContactCardProposalRow | None:
    if not rows:
        return None
    agency_id, display_name, card, proposed_by, when = rows[0]
    return ContactCardProposalRow(agency_id, display_name, bytes(card), proposed_by, int(when))


class CardProposalWrites:
    """Writes of a write transaction (the host runs the statements)."""

    def _epoch_rows(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        raise NotImplementedError  # pragma: no cover - supplied by the engine

    def contact_card_proposal(self, agency_id: str) -> ContactCardProposalRow | None:
        """The agency's pending proposal, read inside this transaction."""
        return _row(self._epoch_rows(_SELECT, (agency_id,)))

    def save_contact_card_proposal(self, row: ContactCardProposalRow) -> None:
        """Record a proposal, replacing the agency's pending one."""
        self._epoch_rows("DELETE FROM contact_card_proposals WHERE agency_id = ?", (row.agency_id,))
        self._epoch_rows(
            "INSERT INTO contact_card_proposals (agency_id, display_name, contact_card, "
            "proposed_by, propose_time_us) VALUES (?, ?, ?, ?, ?)",
            (
                row.agency_id,
                row.display_name,
                row.contact_card,
                row.proposed_by,
                row.propose_time_us,
            ),
        )

    def delete_contact_card_proposal(self, agency_id: str) -> None:
        """Forget the agency's pending proposal (confirmed or rejected)."""
        self._epoch_rows("DELETE FROM contact_card_proposals WHERE agency_id = ?", (agency_id,))


class CardProposalReads:
    """Reads of a store (the host runs the statements)."""

    def _epoch_read(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        raise NotImplementedError  # pragma: no cover - supplied by the engine

    def contact_card_proposal(self, agency_id: str) -> ContactCardProposalRow | None:
        """The agency's pending proposal, or None."""
        return _row(self._epoch_read(_SELECT, (agency_id,)))
