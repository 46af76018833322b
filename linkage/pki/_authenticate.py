"""From a TLS peer certificate to a :class:`Principal`: every check in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from linkage.errors import AuthenticationError
from linkage.identity import (
    Principal,
    check_validity,
    load_certificate,
    principal_from_certificate,
)
from linkage.pki._revocation import RevocationChecker

__all__ = ["PeerAuthenticator"]


class PeerAuthenticator:
    """What the server calls with ``auth_context()['x509_pem_cert']`` for each call.

    TLS has already verified the chain and the expiry; this repeats both as
    defence in depth, then reads the principal (same trust domain only) and
    refuses revoked serials. Every failure is an AuthenticationError.
    """

    def __init__(
        self,
        ca_certificate: x509.Certificate,
        trust_domain: str,
        *,
        revocation: RevocationChecker | None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ca = ca_certificate
        self._trust_domain = trust_domain
        self._revocation = revocation
        self._wall_clock = wall_clock

    def authenticate(self, peer_certificate: bytes | str | x509.Certificate | None) -> Principal:
        if peer_certificate is None:
            raise AuthenticationError("no peer certificate was presented")
        cert = load_certificate(peer_certificate)
        try:
            cert.verify_directly_issued_by(self._ca)
        except (ValueError, TypeError, InvalidSignature):
            raise AuthenticationError("peer certificate was not issued by the trusted CA") from None
        check_validity(cert, self._wall_clock())
        principal = principal_from_certificate(cert, trust_domain=self._trust_domain)
        if self._revocation is not None and self._revocation.is_revoked(cert.serial_number):
            raise AuthenticationError("peer certificate has been revoked")
        return principal
