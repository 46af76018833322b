"""The matcher over real gRPC with mutual TLS on 127.0.0.1:0."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from linkage.pki import DemoPki
from linkage.server import load_server_config
from linkage.server._serve import start_matcher
from linkage.v1 import common_pb2, ingest_pb2, lookup_pb2, operator_pb2
from tests.server.conftest import Matcher, write_config
from tests.server.protos import query, upsert, write
from tests.service.factory import person, variant

pytestmark = pytest.mark.integration


def _violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    out = []
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            out.extend((v.field, v.description) for v in bad.field_violations)
    return out


def test_health_and_reflection(matcher: Matcher) -> None:
    channel = matcher.channel(matcher.pki.responders["police"])
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "linkage.v1.LookupService", "linkage.v1.IngestService"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = list(
        stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    )
    names = {s.name for s in replies[0].list_services_response.service}
    assert {
        "linkage.v1.IngestService",
        "linkage.v1.LookupService",
        "linkage.v1.OperatorService",
    } <= names


def test_ingest_link_and_lookup_end_to_end(matcher: Matcher) -> None:
    rng = np.random.default_rng(11)
    erin = person(rng)
    police, mhc = matcher.ingest("police"), matcher.ingest("valley-mhc")
    reply = police.WriteBatch(write("police", "p1", upsert("e", erin), upsert("x", person(rng))))
    assert (reply.name, reply.inserted_count, reply.replayed) == (
        "agencies/police/batches/p1",
        2,
        False,
    )
    reply = mhc.WriteBatch(write("valley-mhc", "m1", upsert("e", variant(rng, erin))))
    assert reply.linked_count == 1
    found = matcher.lookup("er").Lookup(query(variant(rng, erin)))
    assert len(found.links) == 1
    agencies = sorted(r.agency for r in found.links[0].records)
    assert agencies == ["agencies/police", "agencies/valley-mhc"]
    cards = {r.agency: r.contact_card.display_name for r in found.links[0].records}
    assert cards["agencies/valley-mhc"] == "valley-mhc desk"
    assert all(r.pointer_token.startswith(b"ptr-") for r in found.links[0].records)
    nothing = matcher.lookup("er").Lookup(query(person(rng)))
    assert list(nothing.links) == []


def test_the_lookup_response_carries_no_scores_or_clks() -> None:
    def fields(descriptor: object, seen: set[str]) -> list[tuple[str, int]]:
        out = []
        for field in descriptor.fields:  # type: ignore[attr-defined]
            out.append((field.name, field.type))
            if field.message_type is not None and field.message_type.full_name not in seen:
                seen.add(field.message_type.full_name)
                out.extend(fields(field.message_type, seen))
        return out

    all_fields = fields(lookup_pb2.LookupResponse.DESCRIPTOR, set())
    names = {name for name, _ in all_fields}
    assert not names & {"clk", "score", "similarity", "scores"}
    float_types = {1, 2}  # TYPE_DOUBLE, TYPE_FLOAT
    assert not [name for name, kind in all_fields if kind in float_types]


def test_a_replay_returns_the_original_and_a_reused_id_is_refused(matcher: Matcher) -> None:
    rng = np.random.default_rng(12)
    police = matcher.ingest("police")
    request = write("police", "p1", upsert("a", person(rng)))
    first = police.WriteBatch(request)
    second = police.WriteBatch(request)
    assert second.replayed
    assert second.commit_time == first.commit_time
    with pytest.raises(grpc.RpcError) as caught:
        police.WriteBatch(write("police", "p1", upsert("b", person(rng))))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_bad_input_is_invalid_argument_with_field_violations(matcher: Matcher) -> None:
    rng = np.random.default_rng(13)
    good, dup = upsert("a", person(rng)), upsert("a", person(rng))
    short = ingest_pb2.RecordMutation()
    short.CopyFrom(good)
    short.upsert.clk = b"\x01" * 10
    short.upsert.record_key = b"s"
    empty = upsert("", person(rng))
    police = matcher.ingest("police")
    with pytest.raises(grpc.RpcError) as caught:
        police.WriteBatch(write("police", "bad", good, dup, short, empty))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = [f for f, _ in _violations(caught.value)]
    assert fields == [
        "mutations[1].record_key",
        "mutations[2].upsert.clk",
        "mutations[3].record_key",
    ]
    status = police.GetAgencyStatus(ingest_pb2.GetAgencyStatusRequest(name="agencies/police"))
    assert (status.record_count, status.batch_count) == (0, 0), "nothing of the batch was stored"
    wrong = write("police", "w", good)
    wrong.schema_fingerprint = "cd" * 16
    wrong.key_epoch = 7
    with pytest.raises(grpc.RpcError) as caught:
        police.WriteBatch(wrong)
    assert {f for f, _ in _violations(caught.value)} == {"key_epoch", "schema_fingerprint"}


def test_limits_give_resource_exhausted(matcher: Matcher) -> None:
    rng = np.random.default_rng(14)
    police = matcher.ingest("police")
    too_many = write("police", "big", *(upsert(f"k{i}", person(rng)) for i in range(1001)))
    with pytest.raises(grpc.RpcError) as caught:
        police.WriteBatch(too_many)
    # 1001 records of ~180 bytes exceed the 1 MiB message limit as well as the
    # 1000-mutation batch limit; either way the answer is RESOURCE_EXHAUSTED.
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    small_but_many = write("police", "many", *(upsert(f"k{i}", person(rng)) for i in range(1001)))
    for m in small_but_many.mutations:
        m.upsert.pointer_token = b"p"
    with pytest.raises(grpc.RpcError) as caught:
        police.WriteBatch(small_but_many)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_stream_of_batches_is_acknowledged_in_order(matcher: Matcher) -> None:
    rng = np.random.default_rng(15)
    requests = [write("er", f"s{i}", upsert(f"k{i}", person(rng))) for i in range(5)]
    replies = list(matcher.ingest("er").StreamWriteBatches(iter(requests)))
    assert [r.name for r in replies] == [f"agencies/er/batches/s{i}" for i in range(5)]
    status = matcher.ingest("er").GetAgencyStatus(
        ingest_pb2.GetAgencyStatusRequest(name="agencies/er")
    )
    assert (status.record_count, status.batch_count, status.last_batch) == (
        5,
        5,
        "agencies/er/batches/s4",
    )


def test_operator_sees_status_events_and_can_rebuild(matcher: Matcher) -> None:
    rng = np.random.default_rng(16)
    frank = person(rng)
    matcher.ingest("police").WriteBatch(write("police", "p", upsert("f", frank)))
    matcher.ingest("sud").WriteBatch(write("sud", "s", upsert("f", variant(rng, frank))))
    op = matcher.operator()
    status = op.GetIndexStatus(operator_pb2.GetIndexStatusRequest())
    assert (status.record_count, status.link_count, status.clk_bits) == (2, 1, 1024)
    run = op.RebuildLinks(operator_pb2.RebuildLinksRequest(reason="test"))
    assert (run.record_count, run.link_count, run.changed_link_count) == (2, 1, 0)
    events = op.ListEvents(operator_pb2.ListEventsRequest()).events
    kinds = [e.kind for e in events]
    assert operator_pb2.Event.KIND_LINKS_REBUILT in kinds
    assert operator_pb2.Event.KIND_BATCH_COMMITTED in kinds
    agencies = op.ListAgencies(operator_pb2.ListAgenciesRequest(page_size=2))
    assert [a.name for a in agencies.agencies] == ["agencies/er", "agencies/police"]
    rest = op.ListAgencies(operator_pb2.ListAgenciesRequest(page_token=agencies.next_page_token))
    assert [a.name for a in rest.agencies] == ["agencies/sud", "agencies/valley-mhc"]


def test_an_agency_cannot_touch_another_agencys_records(matcher: Matcher) -> None:
    rng = np.random.default_rng(17)
    with pytest.raises(grpc.RpcError) as caught:
        matcher.ingest("police").WriteBatch(write("valley-mhc", "x", upsert("a", person(rng))))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as caught:
        matcher.ingest("police").ListRecords(ingest_pb2.ListRecordsRequest(parent="agencies/sud"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_card_without_a_name_shows_the_agencys_name(matcher: Matcher) -> None:
    # an agency enrolled with only --display-name: its card must still say who holds the record
    proposed = matcher.operator().UpdateAgency(
        operator_pb2.UpdateAgencyRequest(
            agency=operator_pb2.Agency(
                name="agencies/valley-mhc",
                display_name="Valley Mental Health",
                contact_card=common_pb2.ContactCard(phone_number="+1 555 0100"),
            )
        )
    )
    matcher.ingest("valley-mhc").ConfirmContactCard(  # the agency puts the change in force
        ingest_pb2.ConfirmContactCardRequest(
            name="agencies/valley-mhc", digest=proposed.proposal.digest
        )
    )
    rng = np.random.default_rng(12)
    ann = person(rng)
    matcher.ingest("valley-mhc").WriteBatch(write("valley-mhc", "m1", upsert("a", ann)))
    found = matcher.lookup("er").Lookup(query(variant(rng, ann)))
    card = found.links[0].records[0].contact_card
    assert (card.display_name, card.phone_number) == ("Valley Mental Health", "+1 555 0100")


def test_a_stream_the_caller_cancels_is_not_counted_as_a_fault(
    tmp_path: Path, demo_pki: DemoPki, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[tuple[str, str]] = []
    config = load_server_config(write_config(tmp_path, demo_pki), {})
    running, _ = start_matcher(config, observer=lambda m, code, s: calls.append((m, code)))
    matcher = Matcher(running, _, demo_pki, tmp_path)
    try:
        matcher.operator().CreateAgency(
            operator_pb2.CreateAgencyRequest(
                agency_id="er", agency=operator_pb2.Agency(display_name="ER")
            )
        )
        rng = np.random.default_rng(17)
        release = threading.Event()

        def requests() -> Iterator[ingest_pb2.WriteBatchRequest]:
            yield write("er", "c1", upsert("k1", person(rng)))
            release.wait(30)  # the caller holds the stream open and cancels it

        call = matcher.ingest("er").StreamWriteBatches(requests())
        assert next(call).name == "agencies/er/batches/c1"
        # cancelled while the request stream is still open (released only at the end, so
        # the stream cannot also end normally first)
        call.cancel()
        method = "/linkage.v1.IngestService/StreamWriteBatches"
        deadline = time.monotonic() + 10
        while not any(m == method for m, _ in calls) and time.monotonic() < deadline:
            time.sleep(0.02)
        # grpc may deliver the end of the request stream before the cancellation, and then
        # the call ends as OK on the matcher's side; it must never be a fault (INTERNAL)
        assert [code for m, code in calls if m == method] in (["CANCELLED"], ["OK"])
        assert "unexpected error" not in caplog.text
    finally:
        release.set()
        running.stop(0)
