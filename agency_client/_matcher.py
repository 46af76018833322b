"""The agency client's side of the matcher's gRPC API: one channel, error translation, consent.

gRPC errors become :class:`~linkage.errors.LinkageError` subclasses whose messages say
what to do; the CLI maps their status hints to exit codes (docs/agency-client.md).
Field violations from the matcher (``google.rpc.BadRequest``) become problems; they
name fields such as ``mutations[3].upsert.clk``, never values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC
from typing import Final, TypeVar

import grpc

from agency_client._client_config import TlsFiles
from linkage.channel import mtls_channel
from linkage.consent import Consent, Purpose, serialize_consent
from linkage.errors import (
    AuthenticationError,
    ConflictError,
    FailedPreconditionError,
    InvalidInputError,
    LinkageError,
    NotFoundError,
    PermissionDeniedError,
    Problem,
    ResourceExhaustedError,
    UnavailableError,
)
from linkage.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, lookup_pb2, lookup_pb2_grpc
from linkage.wire import ROLE_FROM_PROTO, consent_to_proto

__all__ = [
    "MatcherClient",
    "consent_from_proto",
    "consent_to_proto",
    "translate_rpc_error",
]

_T = TypeVar("_T")
_UNARY_TIMEOUT_S: Final = 60.0

_ADVICE: Final[dict[grpc.StatusCode, tuple[type[LinkageError], str]]] = {
    grpc.StatusCode.UNAVAILABLE: (
        UnavailableError,
        "the matcher cannot be reached; check [matcher] address and that it is running, "
        "then run the same command again (acknowledged work is kept)",
    ),
    grpc.StatusCode.DEADLINE_EXCEEDED: (
        UnavailableError,
        "the matcher did not answer in time; run the same command again",
    ),
    grpc.StatusCode.CANCELLED: (UnavailableError, "the call was cancelled; run it again"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (
        ResourceExhaustedError,
        "a matcher limit was reached; wait and run it again, or lower [matcher] batch_size",
    ),
    grpc.StatusCode.ABORTED: (ConflictError, "a concurrent change conflicted; run it again"),
    grpc.StatusCode.UNAUTHENTICATED: (
        AuthenticationError,
        "the matcher refused this certificate (expired, revoked or from another CA); "
        "ask the operator for a new one and check [matcher] cert and key",
    ),
    grpc.StatusCode.PERMISSION_DENIED: (
        PermissionDeniedError,
        "this certificate may not do that; use the agency (IT) certificate for uploads "
        "and the gateway (responder) certificate for lookups",
    ),
    grpc.StatusCode.NOT_FOUND: (
        NotFoundError,
        "ask the operator to enrol this agency ID ([agency] id) at the matcher",
    ),
    grpc.StatusCode.INVALID_ARGUMENT: (InvalidInputError, "fix what the problems name"),
    grpc.StatusCode.FAILED_PRECONDITION: (
        FailedPreconditionError,
        "the matcher's key epoch or schema differs from this agency's config, or a batch ID "
        "was reused; align [agency] key_epoch and [schema] with the operator",
    ),
}


def _violations(error: grpc.RpcError) -> list[Problem]:
    try:
        from google.rpc import error_details_pb2
        from grpc_status import rpc_status

        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except (ImportError, ValueError):
        return []
    if status is None:
        return []
    problems: list[Problem] = []
    for detail in status.details:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            problems.extend(
                Problem(v.field, v.description) for v in bad_request.field_violations[:50]
            )
    return problems


def translate_rpc_error(what: str, error: grpc.RpcError) -> LinkageError:
    """A domain error for a failed call, saying what failed and what to do."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else None
    cls, advice = _ADVICE.get(code, (LinkageError, "see the matcher's log; then run it again"))
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    problems = _violations(error)
    for problem in problems:
        hint = _schema_hint(problem)
        if hint:
            advice = hint
    return cls(f"{what} failed ({name}: {details or 'no details'}); {advice}", problems=problems)


def _schema_hint(problem: Problem) -> str | None:
    """For a schema mismatch: the built-in schema whose fingerprint the matcher takes."""
    if problem.location != "schema_fingerprint" or "is not the matcher's" not in problem.reason:
        return None
    from agency_client._encoding import BUILTIN_SCHEMA_NAMES, builtin_encoding_schema

    for name in BUILTIN_SCHEMA_NAMES:
        schema = builtin_encoding_schema(name)
        if schema is not None and f"linkage schema {schema.fingerprint[:16]}" in problem.reason:
            return (
                f"the matcher takes the built-in schema {name!r}: set [schema] file = "
                f"{name!r} in agency.toml (agency-client init --schema {name}) and encode again"
            )
    return "encode with the schema the operator configured the matcher with ([schema] file)"


def consent_from_proto(message: common_pb2.Consent) -> Consent:
    """The domain form of a consent the matcher returned."""
    return Consent(
        allow_linkage=message.allow_linkage,
        recipient_roles=frozenset(
            ROLE_FROM_PROTO[r] for r in message.recipient_roles if r in ROLE_FROM_PROTO
        ),
        recipient_agencies=frozenset(message.recipient_agencies),
        purposes=frozenset(Purpose(p) for p in message.purposes),
        expires_at=(
            message.expire_time.ToDatetime(tzinfo=UTC) if message.HasField("expire_time") else None
        ),
        revoked=message.revoked,
    )


def canonical_consent(consent: Consent) -> bytes:
    """The canonical bytes the state keeps for a consent."""
    return serialize_consent(consent)


class MatcherClient:
    """One mutual-TLS channel to the matcher, with the calls the client makes."""

    def __init__(self, address: str, tls: TlsFiles) -> None:
        self.address = address
        self._channel = mtls_channel(
            address, ca_certificate=tls.ca_cert, certificate=tls.cert, private_key=tls.key
        )
        self._ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._lookup = lookup_pb2_grpc.LookupServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> MatcherClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except grpc.RpcError as error:
            raise translate_rpc_error(what, error) from None

    def stream_batches(
        self, requests: Iterable[ingest_pb2.WriteBatchRequest]
    ) -> Iterator[ingest_pb2.WriteBatchResponse]:
        """Send batches on one stream; yields one response per batch, in order, once durable."""
        responses = self._ingest.StreamWriteBatches(iter(requests))
        try:
            yield from responses
        except grpc.RpcError as error:
            raise translate_rpc_error("sending batches", error) from None
        finally:
            responses.cancel()

    def _paged(self, what: str, fetch: Callable[[str], tuple[Sequence[_T], str]]) -> Iterator[_T]:
        """Every item of a paged listing: ``fetch(page_token)`` gives one page's items
        and the next page token (empty on the last page)."""
        token = ""
        while True:
            items, token = self._call(what, functools.partial(fetch, token))
            yield from items
            if not token:
                return

    def list_records(self, parent: str, page_size: int = 5000) -> Iterator[ingest_pb2.RecordInfo]:
        def fetch(token: str) -> tuple[Sequence[ingest_pb2.RecordInfo], str]:
            request = ingest_pb2.ListRecordsRequest(
                parent=parent, page_size=page_size, page_token=token
            )
            page = self._ingest.ListRecords(request, timeout=_UNARY_TIMEOUT_S)
            return page.records, page.next_page_token

        return self._paged("listing records", fetch)

    def list_disclosures(
        self, parent: str, page_size: int = 1000
    ) -> Iterator[ingest_pb2.Disclosure]:
        """The accounting of disclosures of ``parent``'s records, newest first."""

        def fetch(token: str) -> tuple[Sequence[ingest_pb2.Disclosure], str]:
            request = ingest_pb2.ListDisclosuresRequest(
                parent=parent, page_size=page_size, page_token=token
            )
            page = self._ingest.ListDisclosures(request, timeout=_UNARY_TIMEOUT_S)
            return page.disclosures, page.next_page_token

        return self._paged("listing disclosures", fetch)

    def agency_status(self, name: str) -> ingest_pb2.AgencyStatus:
        return self._call(
            "reading the agency status",
            lambda: self._ingest.GetAgencyStatus(
                ingest_pb2.GetAgencyStatusRequest(name=name), timeout=_UNARY_TIMEOUT_S
            ),
        )

    def contact_card(self, name: str) -> ingest_pb2.AgencyContactCard:
        return self._call(
            "reading the contact card",
            lambda: self._ingest.GetContactCard(
                ingest_pb2.GetContactCardRequest(name=name), timeout=_UNARY_TIMEOUT_S
            ),
        )

    def settle_contact_card(
        self, name: str, digest: bytes, *, reject: bool
    ) -> ingest_pb2.AgencyContactCard:
        return self._call(
            "rejecting the proposed contact card" if reject else "confirming the contact card",
            lambda: self._ingest.ConfirmContactCard(
                ingest_pb2.ConfirmContactCardRequest(name=name, digest=digest, reject=reject),
                timeout=_UNARY_TIMEOUT_S,
            ),
        )

    def lookup(self, request: lookup_pb2.LookupRequest) -> lookup_pb2.LookupResponse:
        return self._call(
            "the lookup", lambda: self._lookup.Lookup(request, timeout=_UNARY_TIMEOUT_S)
        )
