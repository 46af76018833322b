"""Contact-card changes: the operator proposes, the agency confirms (issue 22)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from linkage.errors import FailedPreconditionError, InvalidInputError, NotFoundError
from linkage.service import LinkageService, proposal_digest
from linkage.store import SqliteLinkStore
from tests.service.factory import (
    FINGERPRINT,
    OPERATOR,
    agency,
    batch,
    clk_bytes,
    person,
    responder,
    upsert,
    variant,
)

OLD, NEW, NEWER = b"card: 555 0100", b"card: 555 0199", b"card: 555 0777"


def _card_seen_by_responders(service: LinkageService, bits: np.ndarray) -> bytes:
    (hit,) = service.lookup(
        responder("police"), clk_bytes(bits), 1, FINGERPRINT, "crisis_response", 0
    )
    (member,) = hit.members
    return member.contact_card


def _actions(store: SqliteLinkStore) -> list[tuple[str, str, dict[str, object]]]:
    return [
        (row.action, row.actor, json.loads(row.details))
        for row in store.iter_audit()
        if row.action.startswith("agency.card")
    ]


@pytest.fixture
def ann(service: LinkageService) -> np.ndarray:
    rng = np.random.default_rng(9)
    bits = person(rng)
    service.propose_agency_change(OPERATOR, "valley-mhc", "VALLEY-MHC", OLD)
    digest = proposal_digest(service.contact_card_proposal("valley-mhc"))  # type: ignore[arg-type]
    service.settle_contact_card(agency("valley-mhc"), "valley-mhc", digest)
    service.write_batch(agency("valley-mhc"), batch("valley-mhc", "m1", upsert("a", bits)))
    return variant(rng, bits)


def test_a_proposed_card_is_not_shown_until_the_agency_confirms_it(
    service: LinkageService, store: SqliteLinkStore, ann: np.ndarray
) -> None:
    current, proposal = service.propose_agency_change(OPERATOR, "valley-mhc", "VALLEY-MHC", NEW)
    assert current.contact_card == OLD
    assert proposal is not None
    assert (proposal.contact_card, proposal.proposed_by) == (NEW, OPERATOR.actor)
    assert service.get_agency("valley-mhc").contact_card == OLD
    assert _card_seen_by_responders(service, ann) == OLD
    row = service.settle_contact_card(agency("valley-mhc"), "valley-mhc", proposal_digest(proposal))
    assert row.contact_card == NEW
    assert _card_seen_by_responders(service, ann) == NEW
    assert service.contact_card_proposal("valley-mhc") is None
    proposed, confirmed = _actions(store)[-2:]
    assert (proposed[0], proposed[1]) == ("agency.card_proposed", OPERATOR.actor)
    assert (confirmed[0], confirmed[1]) == ("agency.card_confirmed", agency("valley-mhc").actor)
    assert confirmed[2]["digest"] == proposed[2]["digest"] == proposal_digest(proposal).hex()


def test_a_replaced_proposal_cannot_be_confirmed_by_the_old_digest(
    service: LinkageService, ann: np.ndarray
) -> None:
    _, first = service.propose_agency_change(OPERATOR, "valley-mhc", "VALLEY-MHC", NEW)
    _, second = service.propose_agency_change(OPERATOR, "valley-mhc", "VALLEY-MHC", NEWER)
    assert first is not None
    assert second is not None
    with pytest.raises(FailedPreconditionError, match="replaced since"):
        service.settle_contact_card(agency("valley-mhc"), "valley-mhc", proposal_digest(first))
    assert _card_seen_by_responders(service, ann) == OLD
    service.settle_contact_card(agency("valley-mhc"), "valley-mhc", proposal_digest(second))
    assert _card_seen_by_responders(service, ann) == NEWER


def test_a_rejected_proposal_is_gone_and_the_card_unchanged(
    service: LinkageService, store: SqliteLinkStore, ann: np.ndarray
) -> None:
    _, proposal = service.propose_agency_change(OPERATOR, "valley-mhc", "Renamed", NEW)
    assert proposal is not None
    row = service.settle_contact_card(
        agency("valley-mhc"), "valley-mhc", proposal_digest(proposal), reject=True
    )
    assert (row.display_name, row.contact_card) == ("VALLEY-MHC", OLD)
    assert service.contact_card_proposal("valley-mhc") is None
    assert _card_seen_by_responders(service, ann) == OLD
    assert _actions(store)[-1][0] == "agency.card_rejected"
    with pytest.raises(FailedPreconditionError, match="nothing to confirm"):
        service.settle_contact_card(agency("valley-mhc"), "valley-mhc", proposal_digest(proposal))


def test_proposing_the_card_in_force_withdraws_a_pending_proposal(
    service: LinkageService, ann: np.ndarray
) -> None:
    service.propose_agency_change(OPERATOR, "valley-mhc", "VALLEY-MHC", NEW)
    _, again = service.propose_agency_change(OPERATOR, "valley-mhc", "VALLEY-MHC", OLD)
    assert again is None
    assert service.contact_card_proposal("valley-mhc") is None


def test_bad_confirmations_and_unknown_agencies_are_named(service: LinkageService) -> None:
    with pytest.raises(InvalidInputError) as caught:
        service.settle_contact_card(agency("police"), "police", b"short")
    assert [p.location for p in caught.value.problems] == ["digest"]
    with pytest.raises(NotFoundError):
        service.propose_agency_change(OPERATOR, "nobody", "N", NEW)
