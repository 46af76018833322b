"""Over real mutual TLS: the operator proposes a contact card, only the agency it belongs
to puts it in force, and responders see the old card until then (issue 22)."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from linkage.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, operator_pb2
from tests.server.conftest import Matcher
from tests.server.protos import query, upsert, write
from tests.service.factory import person, variant

pytestmark = pytest.mark.integration

NAME = "agencies/valley-mhc"


def _phone_shown(matcher: Matcher, bits: np.ndarray) -> str:
    found = matcher.lookup("police").Lookup(query(bits))
    return str(found.links[0].records[0].contact_card.phone_number)


def test_the_operator_proposes_and_only_the_agency_confirms(matcher: Matcher) -> None:
    rng = np.random.default_rng(31)
    ann = person(rng)
    matcher.ingest("valley-mhc").WriteBatch(write("valley-mhc", "m1", upsert("a", ann)))
    assert _phone_shown(matcher, variant(rng, ann)) == "+1 555 0100"
    answer = matcher.operator().UpdateAgency(
        operator_pb2.UpdateAgencyRequest(
            agency=operator_pb2.Agency(
                name=NAME,
                display_name="VALLEY-MHC",
                contact_card=common_pb2.ContactCard(
                    display_name="valley-mhc desk", phone_number="+1 555 0666"
                ),
            )
        )
    )
    assert answer.contact_card.phone_number == "+1 555 0100", "still the card in force"
    assert answer.proposal.contact_card.phone_number == "+1 555 0666"
    assert _phone_shown(matcher, variant(rng, ann)) == "+1 555 0100"

    shown = matcher.ingest("valley-mhc").GetContactCard(ingest_pb2.GetContactCardRequest(name=NAME))
    assert shown.proposal.digest == answer.proposal.digest
    confirm = ingest_pb2.ConfirmContactCardRequest(name=NAME, digest=shown.proposal.digest)
    # not another agency, not the operator
    with pytest.raises(grpc.RpcError) as caught:
        matcher.ingest("police").ConfirmContactCard(confirm)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    as_operator = ingest_pb2_grpc.IngestServiceStub(matcher.channel(matcher.pki.operator))
    with pytest.raises(grpc.RpcError) as caught:
        as_operator.ConfirmContactCard(confirm)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as caught:
        matcher.ingest("valley-mhc").ConfirmContactCard(
            ingest_pb2.ConfirmContactCardRequest(name=NAME, digest=bytes(32))
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert _phone_shown(matcher, variant(rng, ann)) == "+1 555 0100"

    settled = matcher.ingest("valley-mhc").ConfirmContactCard(confirm)
    assert settled.contact_card.phone_number == "+1 555 0666"
    assert not settled.HasField("proposal")
    assert _phone_shown(matcher, variant(rng, ann)) == "+1 555 0666"
    agency = matcher.operator().GetAgency(operator_pb2.GetAgencyRequest(name=NAME))
    assert not agency.HasField("proposal")
