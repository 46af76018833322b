"""Who may call what, over the real server with real mutual TLS: the full
role x RPC matrix, and callers without a valid certificate."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import message

from linkage.channel import mtls_channel
from linkage.pki import (
    DemoCredentials,
    Role,
    create_demo_pki,
    generate_private_key,
    write_credentials,
)
from linkage.v1 import (
    ingest_pb2,
    ingest_pb2_grpc,
    lookup_pb2,
    lookup_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
)
from tests.server.conftest import Matcher
from tests.server.protos import query, write
from tests.service.factory import person

pytestmark = pytest.mark.integration

# Every RPC of the API with a minimal request, and the roles allowed to call it.
Call = Callable[[grpc.Channel], message.Message | list[message.Message]]


def _calls() -> dict[str, tuple[Call, set[Role]]]:
    import numpy as np

    clk_query = query(person(np.random.default_rng(0)))
    ingest = ingest_pb2_grpc.IngestServiceStub
    lookup = lookup_pb2_grpc.LookupServiceStub
    op = operator_pb2_grpc.OperatorServiceStub
    agency = {Role.AGENCY}
    return {
        "IngestService.WriteBatch": (
            lambda ch: ingest(ch).WriteBatch(write("police", "m")),
            agency,
        ),
        "IngestService.StreamWriteBatches": (
            lambda ch: list(ingest(ch).StreamWriteBatches(iter([write("police", "s")]))),
            agency,
        ),
        "IngestService.ListRecords": (
            lambda ch: ingest(ch).ListRecords(
                ingest_pb2.ListRecordsRequest(parent="agencies/police")
            ),
            agency,
        ),
        "IngestService.GetAgencyStatus": (
            lambda ch: ingest(ch).GetAgencyStatus(
                ingest_pb2.GetAgencyStatusRequest(name="agencies/police")
            ),
            agency,
        ),
        "IngestService.ListDisclosures": (
            lambda ch: ingest(ch).ListDisclosures(
                ingest_pb2.ListDisclosuresRequest(parent="agencies/police")
            ),
            agency,
        ),
        "IngestService.GetContactCard": (
            lambda ch: ingest(ch).GetContactCard(
                ingest_pb2.GetContactCardRequest(name="agencies/police")
            ),
            agency,
        ),
        "IngestService.ConfirmContactCard": (
            lambda ch: ingest(ch).ConfirmContactCard(
                ingest_pb2.ConfirmContactCardRequest(name="agencies/police", digest=bytes(32))
            ),
            agency,
        ),
        "LookupService.Lookup": (lambda ch: lookup(ch).Lookup(clk_query), {Role.RESPONDER}),
        "OperatorService.CreateAgency": (
            lambda ch: op(ch).CreateAgency(
                operator_pb2.CreateAgencyRequest(
                    agency_id="new-agency", agency=operator_pb2.Agency(display_name="N")
                )
            ),
            {Role.OPERATOR},
        ),
        "OperatorService.GetAgency": (
            lambda ch: op(ch).GetAgency(operator_pb2.GetAgencyRequest(name="agencies/police")),
            {Role.OPERATOR},
        ),
        "OperatorService.ListAgencies": (
            lambda ch: op(ch).ListAgencies(operator_pb2.ListAgenciesRequest()),
            {Role.OPERATOR},
        ),
        "OperatorService.UpdateAgency": (
            lambda ch: op(ch).UpdateAgency(
                operator_pb2.UpdateAgencyRequest(
                    agency=operator_pb2.Agency(name="agencies/police", display_name="P")
                )
            ),
            {Role.OPERATOR},
        ),
        "OperatorService.RebuildLinks": (
            lambda ch: op(ch).RebuildLinks(operator_pb2.RebuildLinksRequest()),
            {Role.OPERATOR},
        ),
        "OperatorService.GetIndexStatus": (
            lambda ch: op(ch).GetIndexStatus(operator_pb2.GetIndexStatusRequest()),
            {Role.OPERATOR},
        ),
        "OperatorService.ListEvents": (
            lambda ch: op(ch).ListEvents(operator_pb2.ListEventsRequest()),
            {Role.OPERATOR},
        ),
    }


def test_the_matrix_covers_every_rpc_of_the_api() -> None:
    declared = {
        f"{service.name}.{method.name}"
        for module in (ingest_pb2, lookup_pb2, operator_pb2)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert set(_calls()) == declared


def _principals(matcher: Matcher) -> dict[Role, DemoCredentials]:
    return {
        Role.OPERATOR: matcher.pki.operator,
        Role.AGENCY: matcher.pki.agencies["police"],
        Role.RESPONDER: matcher.pki.responders["police"],
    }


def test_every_role_may_call_exactly_its_own_rpcs(matcher: Matcher) -> None:
    outcomes: dict[tuple[str, Role], grpc.StatusCode] = {}
    for role, creds in _principals(matcher).items():
        channel = matcher.channel(creds)
        for name, (call, allowed) in _calls().items():
            try:
                call(channel)
                code = grpc.StatusCode.OK
            except grpc.RpcError as error:
                code = error.code()
            outcomes[(name, role)] = code
            if role in allowed:
                assert code not in (
                    grpc.StatusCode.PERMISSION_DENIED,
                    grpc.StatusCode.UNAUTHENTICATED,
                ), (name, role, code)
            else:
                assert code == grpc.StatusCode.PERMISSION_DENIED, (name, role, code)
    assert len(outcomes) == len(_calls()) * 3


def test_the_servers_own_certificate_cannot_act_as_a_client(matcher: Matcher) -> None:
    # Its certificate is for server authentication only: the handshake fails.
    assert _lookup_code(matcher.channel(matcher.pki.server)) == grpc.StatusCode.UNAVAILABLE


def _raw_channel(
    matcher: Matcher, *, key: Path | None, cert: Path | None, ca: Path
) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.secure_channel(matcher.target, credentials)


def _lookup_code(channel: grpc.Channel) -> grpc.StatusCode:
    import numpy as np

    try:
        lookup_pb2_grpc.LookupServiceStub(channel).Lookup(
            query(person(np.random.default_rng(1))), timeout=5
        )
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_no_client_certificate_is_refused(matcher: Matcher) -> None:
    ca = matcher.pki.server.paths.ca_certificate
    assert (
        _lookup_code(_raw_channel(matcher, key=None, cert=None, ca=ca))
        == grpc.StatusCode.UNAVAILABLE
    )


def test_a_certificate_from_another_ca_is_refused(matcher: Matcher, tmp_path: Path) -> None:
    other = create_demo_pki(tmp_path / "other", agency_ids=("police",))
    creds = other.responders["police"]
    assert creds.paths.private_key is not None
    channel = _raw_channel(
        matcher,
        key=creds.paths.private_key,
        cert=creds.paths.certificate,
        ca=matcher.pki.server.paths.ca_certificate,
    )
    assert _lookup_code(channel) == grpc.StatusCode.UNAVAILABLE


def test_an_expired_certificate_is_refused(matcher: Matcher, tmp_path: Path) -> None:
    directory = matcher.pki.directory
    key = generate_private_key(directory.algorithm)
    past = datetime.now(UTC) - timedelta(days=10)
    cert = directory.issue(
        role=Role.RESPONDER,
        agency_id="police",
        name="expired-officer",
        public_key=key.public_key(),
        not_before=past - timedelta(days=1),
        not_after=past,
        now=past,
    )
    paths = write_credentials(
        tmp_path / "expired",
        "expired",
        certificate=cert,
        ca_certificate=directory.ca_certificate(),
        private_key=key,
    )
    assert paths.private_key is not None
    channel = mtls_channel(
        matcher.target,
        ca_certificate=paths.ca_certificate,
        certificate=paths.certificate,
        private_key=paths.private_key,
    )
    assert _lookup_code(channel) == grpc.StatusCode.UNAVAILABLE


def test_a_revoked_certificate_is_refused_without_a_restart(
    matcher: Matcher, tmp_path: Path
) -> None:
    directory = matcher.pki.directory
    key = generate_private_key(directory.algorithm)
    cert = directory.issue(
        role=Role.RESPONDER, agency_id="police", name="soon-revoked", public_key=key.public_key()
    )
    paths = write_credentials(
        tmp_path / "rev",
        "rev",
        certificate=cert,
        ca_certificate=directory.ca_certificate(),
        private_key=key,
    )
    assert paths.private_key is not None
    channel = mtls_channel(
        matcher.target,
        ca_certificate=paths.ca_certificate,
        certificate=paths.certificate,
        private_key=paths.private_key,
    )
    assert _lookup_code(channel) == grpc.StatusCode.OK
    directory.revoke(cert.serial_number)
    deadline = time.monotonic() + 10
    code = _lookup_code(channel)
    while code == grpc.StatusCode.OK and time.monotonic() < deadline:
        time.sleep(0.2)
        code = _lookup_code(channel)
    assert code == grpc.StatusCode.UNAUTHENTICATED
