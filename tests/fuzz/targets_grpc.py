"""The servicers' request parsing and validation, fuzzed: one input is a selector byte
(which RPC) and the bytes of a serialised request. The request is decoded the way the
server decodes it (:func:`linkage.server._calls.tolerant_deserializer`: an undecodable
message is INVALID_ARGUMENT), handed to the real servicer with the caller's principal set
as the interceptor sets it, over a real :class:`LinkageService` on a real SQLite store,
and the response is serialised as gRPC would. Any exception other than a
:class:`LinkageError` (which the interceptor maps to a status code) is a finding: it would
reach the caller as INTERNAL with a traceback in the server's log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from google.protobuf.message import Message

from linkage.errors import LinkageError
from linkage.pki import Principal, Role
from linkage.server._calls import Undecodable, tolerant_deserializer
from linkage.server._interceptor import _PRINCIPAL
from linkage.server._servicers import IngestServicer, LookupServicer, OperatorServicer
from linkage.service import LinkageService, LinkageSettings, ServiceLimits
from linkage.store import SqliteLinkStore
from linkage.v1 import ingest_pb2, lookup_pb2, operator_pb2
from tests.fuzz.targets import OneInput, scratch_dir

__all__ = ["AGENCIES", "BITS", "FINGERPRINT", "METHODS", "grpc_requests"]

BITS: Final = 1024
FINGERPRINT: Final = "ab" * 16
AGENCIES: Final = ("police", "valley-mhc")

_AGENCY = Principal(Role.AGENCY, "police", "it", 2)
_RESPONDER = Principal(Role.RESPONDER, "valley-mhc", "gw", 3)
_OPERATOR = Principal(Role.OPERATOR, None, "op", 1)

#: selector byte (index) -> (servicer kind, method name, request class, caller)
METHODS: Final[tuple[tuple[str, str, type[Message], Principal], ...]] = (
    ("ingest", "WriteBatch", ingest_pb2.WriteBatchRequest, _AGENCY),
    ("ingest", "ListRecords", ingest_pb2.ListRecordsRequest, _AGENCY),
    ("ingest", "GetAgencyStatus", ingest_pb2.GetAgencyStatusRequest, _AGENCY),
    ("ingest", "ListDisclosures", ingest_pb2.ListDisclosuresRequest, _AGENCY),
    ("lookup", "Lookup", lookup_pb2.LookupRequest, _RESPONDER),
    ("operator", "CreateAgency", operator_pb2.CreateAgencyRequest, _OPERATOR),
    ("operator", "GetAgency", operator_pb2.GetAgencyRequest, _OPERATOR),
    ("operator", "ListAgencies", operator_pb2.ListAgenciesRequest, _OPERATOR),
    ("operator", "UpdateAgency", operator_pb2.UpdateAgencyRequest, _OPERATOR),
    ("operator", "GetIndexStatus", operator_pb2.GetIndexStatusRequest, _OPERATOR),
    ("operator", "ListEvents", operator_pb2.ListEventsRequest, _OPERATOR),
    ("operator", "RebuildLinks", operator_pb2.RebuildLinksRequest, _OPERATOR),
)


def grpc_requests() -> OneInput:
    root = scratch_dir("grpc")
    store = SqliteLinkStore(root / "index.sqlite")
    service = LinkageService(
        store,
        LinkageSettings(threshold=0.8, clk_bits=BITS, key_epoch=1, schema_fingerprint=FINGERPRINT),
        ServiceLimits(max_batch_mutations=200, lookup_rate_per_s=1e9, lookup_burst=10**9),
    )
    for agency_id in AGENCIES:
        service.create_agency(_OPERATOR, agency_id, agency_id.upper(), b"")
    servicers: dict[str, Any] = {
        "ingest": IngestServicer(service),
        "lookup": LookupServicer(service),
        "operator": OperatorServicer(service),
    }
    handlers: list[tuple[Callable[[bytes], Any], Callable[..., Message], Principal]] = []
    for kind, method, request_class, principal in METHODS:
        decode = tolerant_deserializer(request_class.FromString)
        assert decode is not None
        handlers.append((decode, getattr(servicers[kind], method), principal))

    def one(data: bytes) -> None:
        if not data:
            return
        decode, behaviour, principal = handlers[data[0] % len(handlers)]
        request = decode(data[1:])
        if isinstance(request, Undecodable):
            request.error()  # what the interceptor answers: INVALID_ARGUMENT
            return
        token = _PRINCIPAL.set(principal)
        try:
            response = behaviour(request, None)
        except LinkageError:
            return
        finally:
            _PRINCIPAL.reset(token)
        response.SerializeToString()

    return one
