"""Roles and consent on the wire: one conversion for the matcher and the agency client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from agency_client._matcher import consent_from_proto as agency_reads
from linkage.consent import Consent, Purpose, serialize_consent
from linkage.pki import Role
from linkage.server._convert import consent_from_proto as matcher_reads
from linkage.server._convert import stored_consent_to_proto
from linkage.v1 import common_pb2
from linkage.wire import ROLE_FROM_PROTO, ROLE_TO_PROTO, consent_to_proto

pytestmark = pytest.mark.unit

CONSENT = Consent.for_recipients(
    roles=[Role.RESPONDER, Role.AGENCY],
    purposes=[Purpose.CRISIS_RESPONSE],
    expires_at=datetime(2031, 5, 1, 12, 30, tzinfo=UTC),
    agencies=("police", "ems"),
)


def test_every_recipient_role_has_one_proto_value_and_back() -> None:
    # the server is never a recipient of a disclosure, so it has no consent role
    assert set(ROLE_TO_PROTO) == set(Role) - {Role.SERVER}
    assert {ROLE_FROM_PROTO[v]: v for v in ROLE_TO_PROTO.values()} == {
        r: v for r, v in ROLE_TO_PROTO.items()
    }
    assert common_pb2.ROLE_UNSPECIFIED not in ROLE_FROM_PROTO


def test_a_consent_reads_back_the_same_on_either_side() -> None:
    message = consent_to_proto(CONSENT)
    assert list(message.recipient_agencies) == ["ems", "police"]
    assert message.expire_time.ToDatetime(tzinfo=UTC) == CONSENT.expires_at
    assert matcher_reads(message, "consent") == CONSENT
    assert agency_reads(message) == CONSENT
    for consent in (CONSENT.revoke(), Consent.no_disclosure(allow_linkage=False)):
        assert matcher_reads(consent_to_proto(consent), "consent") == consent


def test_stored_consent_goes_out_as_the_agency_sent_it() -> None:
    assert stored_consent_to_proto(serialize_consent(CONSENT)) == consent_to_proto(CONSENT)
