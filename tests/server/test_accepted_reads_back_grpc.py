"""Issue 22's consent poisoning, over real gRPC with mutual TLS: one agency can no longer
hide another agency's consented card by storing a consent the read side refuses."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from linkage.service import read_stored_consent
from linkage.store import NewRecord
from linkage.v1 import ingest_pb2, operator_pb2
from tests.server.conftest import Matcher
from tests.server.protos import query, upsert, write
from tests.service.factory import FINGERPRINT, clk_bytes, person, variant

pytestmark = pytest.mark.integration


def _violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    found = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            found.extend((v.field, v.description) for v in bad.field_violations)
    return found


def _poisoned(bits: np.ndarray, recipients: list[str]) -> ingest_pb2.RecordMutation:
    mutation = upsert("erin-copy", bits)
    mutation.upsert.consent.recipient_agencies.extend(recipients)
    return mutation


def _cards(matcher: Matcher, bits: np.ndarray) -> list[list[str]]:
    found = matcher.lookup("police").Lookup(query(bits))
    return [[r.contact_card.display_name for r in link.records] for link in found.links]


def test_a_consent_naming_two_thousand_agencies_is_refused_and_hides_nothing(
    matcher: Matcher,
) -> None:
    rng = np.random.default_rng(22)
    erin = person(rng)
    matcher.ingest("valley-mhc").WriteBatch(write("valley-mhc", "m1", upsert("erin", erin)))
    sud = matcher.ingest("sud")
    attack = _poisoned(variant(rng, erin), [f"agency-{i:04d}" for i in range(2000)])
    with pytest.raises(grpc.RpcError) as caught:
        sud.WriteBatch(write("sud", "s1", attack))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in _violations(caught.value)] == [
        "mutations[0].upsert.consent.$.recipient_agencies"
    ]
    stranger = _poisoned(variant(rng, erin), ["police", "nobody-here"])
    with pytest.raises(grpc.RpcError) as caught:
        sud.WriteBatch(write("sud", "s2", stranger))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _violations(caught.value) == [
        (
            "mutations[0].upsert.consent.recipient_agencies",
            "agency 'nobody-here' is not enrolled; a consent names enrolled agencies only",
        )
    ]
    assert _cards(matcher, variant(rng, erin)) == [["valley-mhc desk"]]
    status = sud.GetAgencyStatus(ingest_pb2.GetAgencyStatusRequest(name="agencies/sud"))
    assert (status.record_count, status.batch_count) == (0, 0)


def test_a_consent_stored_before_the_limits_hides_only_its_own_record(matcher: Matcher) -> None:
    """A store written by an older matcher holds sud's 30 KB consent on erin's record:
    lookups still show valley-mhc's card, and sud's status and listing answer."""
    rng = np.random.default_rng(23)
    erin = person(rng)
    matcher.ingest("valley-mhc").WriteBatch(write("valley-mhc", "m1", upsert("erin", erin)))
    names = ",".join(f'"agency-{i:04d}"' for i in range(2000))
    poisoned = (
        '{"allow_linkage":true,"expires_at":"2099-01-01T00:00:00Z","purposes":'
        f'["crisis_response"],"recipient_agencies":[{names}],"recipient_roles":["responder"],'
        '"revoked":false,"version":1}'
    ).encode()
    assert read_stored_consent(poisoned, "sud") is None
    store = matcher.service._store  # what an older matcher left behind
    with store.write() as tx:
        tx.insert_record(
            NewRecord(
                "sud",
                b"k",
                1,
                FINGERPRINT,
                clk_bytes(variant(rng, erin)),
                b"p",
                poisoned,
                True,
                b"\0" * 32,
                1,
            )
        )
    matcher.operator().RebuildLinks(operator_pb2.RebuildLinksRequest(reason="old store"))
    assert _cards(matcher, variant(rng, erin)) == [["valley-mhc desk"]]
    sud = matcher.ingest("sud")
    status = sud.GetAgencyStatus(ingest_pb2.GetAgencyStatusRequest(name="agencies/sud"))
    assert (status.record_count, status.disclosable_record_count) == (1, 0)
    (listed,) = sud.ListRecords(ingest_pb2.ListRecordsRequest(parent="agencies/sud")).records
    assert (listed.record_key, listed.consent.revoked, list(listed.consent.recipient_agencies)) == (
        b"k",
        True,
        [],
    )
