"""The PKI against real TLS: a grpc server requiring client certificates on 127.0.0.1:0.

The lead's full role × RPC matrix runs against the real server; this proves the
certificates themselves work with grpc/BoringSSL and that the server side can
turn the peer certificate into a Principal (and refuse a revoked one).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pki_fixtures import PkiBundle, build_pki_bundle

from linkage.errors import AuthenticationError
from linkage.pki import (
    KeyAlgorithm,
    PkiDirectory,
    Principal,
    Role,
    generate_private_key,
    principal_from_certificate,
    private_key_to_pem,
)

pytestmark = pytest.mark.integration

WHOAMI = "/test.WhoAmI/Get"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> PkiBundle:
    return build_pki_bundle(tmp_path_factory.mktemp("mtls"))


@pytest.fixture(scope="module")
def server_port(bundle: PkiBundle) -> Iterator[int]:
    authenticator = bundle.authenticator(check_interval_s=0.0)

    def whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
        certs = list(context.auth_context().get("x509_pem_cert", ()))
        try:
            principal = authenticator.authenticate(bytes(certs[0]) if certs else None)
        except AuthenticationError as exc:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, exc.message)
        return principal.actor.encode()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.WhoAmI", {"Get": grpc.unary_unary_rpc_method_handler(whoami)}
            )
        ]
    )
    port = server.add_secure_port("127.0.0.1:0", bundle.server_credentials())
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None)


def _channel(bundle: PkiBundle, port: int, credentials: grpc.ChannelCredentials) -> grpc.Channel:
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials)


def _health(channel: grpc.Channel) -> health_pb2.HealthCheckResponse:
    stub = health_pb2_grpc.HealthStub(channel)
    return stub.Check(health_pb2.HealthCheckRequest(), timeout=10)


def _whoami(channel: grpc.Channel) -> str:
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(WHOAMI)
    return bytes(call(b"", timeout=10)).decode()


@pytest.mark.parametrize("role", [Role.AGENCY, Role.RESPONDER, Role.OPERATOR])
def test_valid_client_connects_and_server_reads_its_principal(
    bundle: PkiBundle, server_port: int, role: Role
) -> None:
    client = bundle.clients[role]
    with _channel(bundle, server_port, bundle.channel_credentials(client)) as channel:
        assert _health(channel).status == health_pb2.HealthCheckResponse.SERVING
        assert _whoami(channel) == client.principal.actor


@pytest.mark.parametrize("which", ["none", "foreign", "expired", "not_yet_valid"])
def test_handshake_refuses_bad_client_certificates(
    bundle: PkiBundle, server_port: int, which: str
) -> None:
    client = None if which == "none" else getattr(bundle, which)
    credentials = bundle.channel_credentials(client)
    with (
        _channel(bundle, server_port, credentials) as channel,
        pytest.raises(grpc.RpcError) as info,
    ):
        _health(channel)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


def test_client_refuses_a_server_from_another_ca(
    tmp_path_factory: pytest.TempPathFactory, bundle: PkiBundle, server_port: int
) -> None:
    stranger = build_pki_bundle(tmp_path_factory.mktemp("stranger"))
    # A client that trusts only another CA refuses our server's certificate.
    creds = stranger.channel_credentials(stranger.clients[Role.RESPONDER])
    with _channel(stranger, server_port, creds) as channel, pytest.raises(grpc.RpcError) as info:
        _health(channel)
    assert info.value.code() is grpc.StatusCode.UNAVAILABLE


def test_revoked_certificate_is_refused_without_restart(
    bundle: PkiBundle, server_port: int
) -> None:
    client = bundle.issue(Role.RESPONDER, "valley-mhc", "soon-revoked")
    with _channel(bundle, server_port, bundle.channel_credentials(client)) as channel:
        assert _whoami(channel) == client.principal.actor
        bundle.revoke(client)
        with pytest.raises(grpc.RpcError) as info:
            _whoami(channel)
    assert info.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (info.value.details() or "")


def test_p384_pki_works_over_mtls(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("p384")
    pki = PkiDirectory.initialise(root / "pki", "p384.test", algorithm=KeyAlgorithm.P384)
    now = datetime.now(UTC)

    def issue(role: Role, name: str) -> tuple[bytes, bytes]:
        key = generate_private_key(KeyAlgorithm.P384)
        assert isinstance(key.curve, ec.SECP384R1)
        cert = pki.issue(
            role=role,
            agency_id="a1" if role is Role.RESPONDER else None,
            name=name,
            public_key=key.public_key(),
            not_after=now + timedelta(hours=1),
            dns_names=("localhost",) if role is Role.SERVER else (),
            ip_addresses=("127.0.0.1",) if role is Role.SERVER else (),
        )
        return private_key_to_pem(key), cert.public_bytes(serialization.Encoding.PEM)

    server_key, server_cert = issue(Role.SERVER, "matcher")
    client_key, client_cert = issue(Role.RESPONDER, "gw")
    ca_pem = pki.ca_certificate_path.read_bytes()
    seen: list[Principal] = []

    def whoami(request: bytes, context: grpc.ServicerContext) -> bytes:
        pem = next(iter(context.auth_context()["x509_pem_cert"]))
        seen.append(principal_from_certificate(bytes(pem), trust_domain="p384.test"))
        return b"ok"

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "test.WhoAmI", {"Get": grpc.unary_unary_rpc_method_handler(whoami)}
            )
        ]
    )
    creds = grpc.ssl_server_credentials(
        [(server_key, server_cert)], root_certificates=ca_pem, require_client_auth=True
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    try:
        client = grpc.ssl_channel_credentials(ca_pem, client_key, client_cert)
        with grpc.secure_channel(f"127.0.0.1:{port}", client) as channel:
            assert _whoami(channel) == "ok"
    finally:
        server.stop(grace=None)
    assert [(p.role, p.agency_id, p.name) for p in seen] == [(Role.RESPONDER, "a1", "gw")]
