"""A throw-away test PKI: CA, server, one certificate per role, plus the bad cases.

Import it from any test (``from pki_fixtures import build_pki_bundle`` inside
tests/security, where pytest puts this folder on ``sys.path``; elsewhere
load it by path or copy the ``pki_bundle`` fixture). Every key is generated
fresh in a temporary directory; nothing is read from the repository.

    bundle = build_pki_bundle(tmp_path)
    server_creds = bundle.server_credentials()              # mTLS, client certs required
    channel_creds = bundle.channel_credentials(bundle.clients[Role.RESPONDER])
    bundle.revoke(bundle.clients[Role.AGENCY])               # rewrites the CRL on disk
    authenticator = bundle.authenticator()                   # PeerAuthenticator with CRL reload
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from linkage.pki import (
    PeerAuthenticator,
    PkiDirectory,
    Principal,
    RevocationChecker,
    Role,
    create_ca,
    generate_private_key,
    issue_certificate,
    private_key_to_pem,
)

__all__ = [
    "AGENCY_ID",
    "OTHER_AGENCY_ID",
    "TRUST_DOMAIN",
    "Credentials",
    "PkiBundle",
    "build_pki_bundle",
    "issue_credentials",
    "pki_bundle",
]

TRUST_DOMAIN = "test.coresponder"
AGENCY_ID = "valley-mhc"
OTHER_AGENCY_ID = "metro-pd"


@dataclass(frozen=True)
class Credentials:
    """A principal's key and certificate in PEM, as a client or server would load them."""

    principal: Principal
    certificate: x509.Certificate
    key_pem: bytes = field(repr=False)

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class PkiBundle:
    """Everything a TLS test needs; see the module docstring."""

    directory: PkiDirectory
    trust_domain: str
    server: Credentials
    clients: dict[Role, Credentials]
    other_agency: Credentials
    expired: Credentials
    not_yet_valid: Credentials
    foreign: Credentials

    @property
    def ca_certificate(self) -> x509.Certificate:
        return self.directory.ca_certificate()

    @property
    def ca_pem(self) -> bytes:
        return self.ca_certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        role: Role,
        agency_id: str | None,
        name: str,
        *,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
    ) -> Credentials:
        """Issue (and record in the index) a fresh certificate with an explicit validity."""
        return issue_credentials(
            self.directory,
            role,
            agency_id,
            name,
            not_before=not_before,
            not_after=not_after,
            dns_names=dns_names,
            ip_addresses=ip_addresses,
        )

    def revoke(self, credentials: Credentials) -> None:
        """Revoke through the PKI directory (index + signed CRL rewritten atomically)."""
        self.directory.revoke(credentials.principal.serial)

    def revocation_checker(
        self, *, check_interval_s: float = 0.0, clock: Callable[[], float] | None = None
    ) -> RevocationChecker:
        if clock is None:
            return RevocationChecker(
                self.directory.crl_path, self.ca_certificate, check_interval_s=check_interval_s
            )
        return RevocationChecker(
            self.directory.crl_path,
            self.ca_certificate,
            check_interval_s=check_interval_s,
            clock=clock,
        )

    def authenticator(self, *, check_interval_s: float = 0.0) -> PeerAuthenticator:
        return PeerAuthenticator(
            self.ca_certificate,
            self.trust_domain,
            revocation=self.revocation_checker(check_interval_s=check_interval_s),
        )

    def server_credentials(self) -> grpc.ServerCredentials:
        """mTLS server credentials: this CA is the only trust anchor; client certs required."""
        return grpc.ssl_server_credentials(
            [(self.server.key_pem, self.server.cert_pem)],
            root_certificates=self.ca_pem,
            require_client_auth=True,
        )

    def channel_credentials(self, client: Credentials | None) -> grpc.ChannelCredentials:
        """Client credentials trusting this CA, presenting ``client`` (None: no certificate)."""
        if client is None:
            return grpc.ssl_channel_credentials(root_certificates=self.ca_pem)
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=client.key_pem,
            certificate_chain=client.cert_pem,
        )


def issue_credentials(
    directory: PkiDirectory,
    role: Role,
    agency_id: str | None,
    name: str,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    dns_names: tuple[str, ...] = (),
    ip_addresses: tuple[str, ...] = (),
) -> Credentials:
    """Issue a certificate from ``directory``'s CA for a freshly generated key."""
    key = generate_private_key()
    now = datetime.now(UTC)
    cert = directory.issue(
        role=role,
        agency_id=agency_id,
        name=name,
        public_key=key.public_key(),
        not_before=not_before or now - timedelta(minutes=5),
        not_after=not_after or now + timedelta(days=1),
        dns_names=dns_names,
        ip_addresses=ip_addresses,
    )
    return Credentials(
        Principal(role, agency_id, name, cert.serial_number), cert, private_key_to_pem(key)
    )


def build_pki_bundle(directory: Path, *, trust_domain: str = TRUST_DOMAIN) -> PkiBundle:
    """Create a PKI in ``directory / "pki"`` and issue the standard set of test principals."""
    pki = PkiDirectory.initialise(directory / "pki", trust_domain)
    now = datetime.now(UTC)
    # Same trust domain and names as a real client, but a different CA: never accepted.
    other_ca = create_ca(trust_domain)
    foreign_key = generate_private_key()
    foreign_cert = issue_certificate(
        other_ca,
        role=Role.RESPONDER,
        agency_id=AGENCY_ID,
        name="valley-gateway",
        public_key=foreign_key.public_key(),
        not_before=now - timedelta(minutes=5),
        not_after=now + timedelta(days=1),
    )
    return PkiBundle(
        directory=pki,
        trust_domain=trust_domain,
        server=issue_credentials(
            pki, Role.SERVER, None, "matcher", dns_names=("localhost",), ip_addresses=("127.0.0.1",)
        ),
        clients={
            Role.AGENCY: issue_credentials(pki, Role.AGENCY, AGENCY_ID, "valley-it"),
            Role.RESPONDER: issue_credentials(pki, Role.RESPONDER, AGENCY_ID, "valley-gateway"),
            Role.OPERATOR: issue_credentials(pki, Role.OPERATOR, None, "operator-1"),
        },
        other_agency=issue_credentials(pki, Role.AGENCY, OTHER_AGENCY_ID, "metro-it"),
        expired=issue_credentials(
            pki,
            Role.RESPONDER,
            AGENCY_ID,
            "expired-gateway",
            not_before=now - timedelta(days=10),
            not_after=now - timedelta(days=1),
        ),
        not_yet_valid=issue_credentials(
            pki,
            Role.RESPONDER,
            AGENCY_ID,
            "future-gateway",
            not_before=now + timedelta(days=1),
            not_after=now + timedelta(days=2),
        ),
        foreign=Credentials(
            Principal(Role.RESPONDER, AGENCY_ID, "valley-gateway", foreign_cert.serial_number),
            foreign_cert,
            private_key_to_pem(foreign_key),
        ),
    )


@pytest.fixture
def pki_bundle(tmp_path: Path) -> PkiBundle:
    """A fresh test PKI per test (EC P-256 keys: a few milliseconds)."""
    return build_pki_bundle(tmp_path)
