"""Requests that cannot be decoded are INVALID_ARGUMENT naming the message type, never
gRPC's generic INTERNAL (issue 22, item 6: 52 of 310 fuzzed messages came back INTERNAL).
A caller must still be authenticated and authorised first."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from tests.server.conftest import Matcher

pytestmark = pytest.mark.integration

#: a truncated varint, an unknown wire type, invalid UTF-8 in a string field (parent)
UNDECODABLE = (b"\xff\xff\xff", b"\x0f", b"\x0a\x02\xff\xfe")


def _raw(data: bytes) -> bytes:
    return data


@pytest.mark.parametrize("data", UNDECODABLE)
def test_an_undecodable_unary_request_is_invalid_argument(matcher: Matcher, data: bytes) -> None:
    channel = matcher.channel(matcher.pki.agencies["police"])
    call = channel.unary_unary(
        "/linkage.v1.IngestService/WriteBatch", request_serializer=_raw, response_deserializer=_raw
    )
    with pytest.raises(grpc.RpcError) as caught:
        call(data, timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "request: is not a valid linkage.v1.WriteBatchRequest message" in str(
        caught.value.details()
    )


def test_an_undecodable_message_in_a_stream_is_invalid_argument(matcher: Matcher) -> None:
    channel = matcher.channel(matcher.pki.agencies["police"])
    call = channel.stream_stream(
        "/linkage.v1.IngestService/StreamWriteBatches",
        request_serializer=_raw,
        response_deserializer=_raw,
    )

    def requests() -> Iterator[bytes]:
        yield UNDECODABLE[0]

    with pytest.raises(grpc.RpcError) as caught:
        list(call(requests(), timeout=10))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "linkage.v1.WriteBatchRequest" in str(caught.value.details())


def test_an_undecodable_lookup_is_invalid_argument(matcher: Matcher) -> None:
    channel = matcher.channel(matcher.pki.responders["police"])
    call = channel.unary_unary(
        "/linkage.v1.LookupService/Lookup", request_serializer=_raw, response_deserializer=_raw
    )
    with pytest.raises(grpc.RpcError) as caught:
        call(b"\x0a\x05ab", timeout=10)  # a length past the end
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "linkage.v1.LookupRequest" in str(caught.value.details())


def test_the_caller_is_authorised_before_its_request_is_judged(matcher: Matcher) -> None:
    channel = matcher.channel(matcher.pki.responders["police"])  # a responder may not ingest
    call = channel.unary_unary(
        "/linkage.v1.IngestService/WriteBatch", request_serializer=_raw, response_deserializer=_raw
    )
    with pytest.raises(grpc.RpcError) as caught:
        call(UNDECODABLE[0], timeout=10)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
