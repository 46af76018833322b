"""Contact-card proposals in the store, on every engine: one pending proposal per agency,
replaced by a newer one, read inside and outside a transaction, deleted when settled."""

from __future__ import annotations

import pytest

from linkage.store import ContactCardProposalRow, LinkStore

pytestmark = pytest.mark.integration


def test_a_proposal_round_trips_is_replaced_and_deleted(store: LinkStore) -> None:
    with store.write() as tx:
        tx.insert_agency("police", "Police", b"old card", 1)
        tx.insert_agency("mhc", "MHC", b"card", 1)
    assert store.contact_card_proposal("police") is None
    first = ContactCardProposalRow("police", "Police", b"new card", "operator:op#1", 5)
    second = ContactCardProposalRow("police", "Metro Police", b"newer card", "operator:op#1", 6)
    with store.write() as tx:
        tx.save_contact_card_proposal(first)
        assert tx.contact_card_proposal("police") == first
        tx.save_contact_card_proposal(second)
    assert store.contact_card_proposal("police") == second
    assert store.contact_card_proposal("mhc") is None
    assert store.get_agency("police").contact_card == b"old card"  # type: ignore[union-attr]
    with store.write() as tx:
        tx.delete_contact_card_proposal("police")
    assert store.contact_card_proposal("police") is None
