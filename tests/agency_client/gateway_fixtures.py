"""Helpers for the gateway tests: a stand-in for the matcher's Lookup, a real gateway on
127.0.0.1:0 (plain or HTTPS) with a client for it, and the agency's web certificate made
with linkage.pki (a throw-away CA, a server certificate for 127.0.0.1 and localhost)."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from agency_client._client_config import HttpsFiles, load_client_config
from agency_client._gateway import GatewayApp
from agency_client._gateway_http import GatewayLimits
from agency_client._gateway_server import GatewayServer, start_gateway
from agency_client._matcher import consent_to_proto
from agency_client._query import QueryEncoder
from linkage.consent import Consent, Purpose
from linkage.pki import (
    Role,
    create_ca,
    generate_private_key,
    issue_certificate,
    private_key_to_pem,
)
from linkage.v1 import common_pb2, lookup_pb2
from tests.agency_client.workflow_fixtures import make_agency_folder

QUERY = {
    "given_name": "Jordan",
    "surname": "Whitfield-Okoro",
    "date_of_birth": "1987-03-14",
    "phone": "0412 555 019",
    "suburb": "Brunswick",
}
TOKEN = "a-long-enough-gateway-token-0123"


class FakeLookup:
    """Answers like the matcher: the card when the CLK is the known one, else nothing."""

    def __init__(self, known_clk: bytes, *, visible: bool = True) -> None:
        self.known_clk = known_clk
        self.visible = visible
        self.requests: list[lookup_pb2.LookupRequest] = []
        self.fail: Exception | None = None

    def __call__(self, request: lookup_pb2.LookupRequest) -> lookup_pb2.LookupResponse:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        if request.clk != self.known_clk or not self.visible:
            return lookup_pb2.LookupResponse()
        consent = Consent.for_recipients(
            roles=[Role.RESPONDER],
            purposes=[Purpose.CRISIS_RESPONSE],
            expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        )
        return lookup_pb2.LookupResponse(
            links=[
                lookup_pb2.LinkMatch(
                    link="links/7",
                    records=[
                        lookup_pb2.DisclosedRecord(
                            agency="agencies/valley-mhc",
                            contact_card=common_pb2.ContactCard(
                                display_name="Valley <Mental> Health",
                                instructions="crisis line, 24/7",
                                phone_number="555 0100",
                            ),
                            pointer_token=b"\x01\x02token\xff",
                            consent=consent_to_proto(consent),
                        )
                    ],
                )
            ]
        )


def make_app(
    tmp_path: Path,
    *,
    visible: bool = True,
    token: str | None = TOKEN,
    purpose: Purpose = Purpose.CRISIS_RESPONSE,
) -> tuple[GatewayApp, FakeLookup]:
    folder = make_agency_folder(tmp_path / "police", people=3)
    config = load_client_config(folder.config, {})
    encoder = QueryEncoder(config.encoding)
    lookup = FakeLookup(encoder.encode(QUERY), visible=visible)
    app = GatewayApp(
        agency_name="Metro Police",
        encoder=encoder,
        lookup=lookup,
        key_epoch=1,
        fingerprint="f" * 64,
        purpose=purpose,
        token=token,
    )
    return app, lookup


@dataclass(frozen=True)
class WebCertificate:
    """The agency's web server credential and the CA a client trusts it through."""

    ca: Path
    files: HttpsFiles

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_web_certificate(directory: Path) -> WebCertificate:
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost (key 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = create_ca("agency-web.test")
    key = generate_private_key()
    now = datetime.now(UTC)
    cert = issue_certificate(
        ca,
        role=Role.SERVER,
        agency_id=None,
        name="gateway",
        public_key=key.public_key(),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=1),
        dns_names=("localhost",),
        ip_addresses=("127.0.0.1",),
    )
    ca_path = directory / "web-ca.pem"
    ca_path.write_bytes(ca.certificate.public_bytes(Encoding.PEM))
    cert_path = directory / "web-cert.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.PEM))
    key_path = directory / "web-key.pem"
    key_path.touch(mode=0o600)
    key_path.write_bytes(private_key_to_pem(key))
    return WebCertificate(ca_path, HttpsFiles(cert_path, key_path))


class Gateway:
    """A real gateway on 127.0.0.1:0 and a client that sends the token unless told not to."""

    def __init__(
        self,
        app: GatewayApp,
        lookup: FakeLookup,
        listen: str = "127.0.0.1:0",
        *,
        web: WebCertificate | None = None,
        limits: GatewayLimits | None = None,
        allow_non_loopback: bool = False,
    ) -> None:
        self.app = app
        self.lookup = lookup
        self.web = web
        self.server: GatewayServer = start_gateway(
            app,
            listen,
            https=web.files if web is not None else None,
            limits=limits,
            allow_non_loopback=allow_non_loopback,
        )

    @property
    def port(self) -> int:
        return self.server.port

    def connection(self, timeout: float = 10) -> http.client.HTTPConnection:
        if self.web is not None:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.web.client_context()
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def api(
        self, query: object, headers: dict[str, str] | None = None, *, token: str | None = TOKEN
    ) -> tuple[int, dict]:  # type: ignore[type-arg]
        auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
        status, _, body = self.request(
            "POST",
            "/api/v1/lookup",
            json.dumps(query).encode(),
            {"Content-Type": "application/json", **auth, **(headers or {})},
        )
        return status, json.loads(body)

    def form(
        self,
        query: dict[str, str],
        headers: dict[str, str] | None = None,
        *,
        access_code: str | None = TOKEN,
    ) -> tuple[int, str]:
        fields = dict(query, access_code=access_code) if access_code is not None else query
        status, _, body = self.request(
            "POST",
            "/lookup",
            urllib.parse.urlencode(fields).encode(),
            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )
        return status, body.decode()

    def close(self) -> None:
        self.server.close()
