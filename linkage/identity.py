"""Identifiers both sides share: roles, principals, agency IDs and the SPIFFE-style SAN URIs.

Part of the shared core (docs/architecture.md, section 1): the agency client validates
its own agency ID and principal names with these rules, and the matcher's PKI
(:mod:`linkage.pki`, which re-exports this module) names principals with them.

Every certificate this PKI issues carries exactly one URI in its
subjectAltName, and that URI is the only thing authorisation trusts (the
subject's common name is informational)::

    spiffe://<trust-domain>/agency/<agency-id>/agency/<name>      agency IT client
    spiffe://<trust-domain>/agency/<agency-id>/responder/<name>   responder / gateway
    spiffe://<trust-domain>/operator/<name>                       linkage operator
    spiffe://<trust-domain>/server/<name>                         the matcher's own TLS cert

The trust domain follows the SPIFFE rules (lower-case letters, digits, ``.``,
``-`` and ``_``). Agency IDs and names are 1-64 characters of
``[A-Za-z0-9._-]`` starting with a letter or digit, so they are always valid
SPIFFE path segments and never ``.`` or ``..``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from linkage.errors import AuthenticationError, InvalidInputError

__all__ = [
    "AGENCY_ID_PATTERN",
    "AGENCY_SCOPED_ROLES",
    "Principal",
    "Role",
    "check_validity",
    "load_certificate",
    "parse_spiffe_id",
    "principal_from_certificate",
    "spiffe_id",
    "validate_identifier",
    "validate_trust_domain",
]

#: An agency ID the matcher enrols: lower-case letters, digits and ``-``, starting with a
#: letter, 2-63 characters (stricter than :func:`validate_identifier`, which certificates use).
AGENCY_ID_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,62}$")

_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TRUST_DOMAIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,252}")
_MAX_SERIAL = 1 << 159  # RFC 5280: at most 20 octets, positive


class Role(enum.Enum):
    """What a principal is allowed to be. The value is the URI path segment."""

    AGENCY = "agency"
    RESPONDER = "responder"
    OPERATOR = "operator"
    SERVER = "server"


#: Roles whose principals belong to one agency (their URI names the agency).
AGENCY_SCOPED_ROLES = frozenset({Role.AGENCY, Role.RESPONDER})


def validate_identifier(value: str, what: str) -> str:
    """Return ``value`` if it is a valid agency ID or principal name, else raise.

    ``what`` names the field in the error (for example ``"agency_id"``); the
    value itself is never echoed, because a name could be a person's name.
    """
    if not isinstance(value, str) or _IDENTIFIER.fullmatch(value) is None:
        raise InvalidInputError(
            f"{what}: must be 1-64 characters of [A-Za-z0-9._-] starting with a letter or digit"
        )
    return value


def validate_trust_domain(value: str) -> str:
    """Return ``value`` if it is a valid SPIFFE trust domain, else raise InvalidInputError."""
    if not isinstance(value, str) or _TRUST_DOMAIN.fullmatch(value) is None:
        raise InvalidInputError(
            "trust_domain: must be 1-253 characters of lower-case [a-z0-9._-] "
            "starting with a letter or digit"
        )
    return value


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller, as named by its certificate.

    ``agency_id`` is set exactly for agency-scoped roles (agency, responder).
    ``serial`` is the certificate serial number, so audit entries and
    revocations can name the exact credential.
    """

    role: Role
    agency_id: str | None
    name: str
    serial: int

    def __post_init__(self) -> None:
        if not isinstance(self.role, Role):
            raise InvalidInputError("principal.role: must be a Role")
        if self.role in AGENCY_SCOPED_ROLES:
            if self.agency_id is None:
                raise InvalidInputError(f"principal.agency_id: required for role {self.role.value}")
            validate_identifier(self.agency_id, "principal.agency_id")
        elif self.agency_id is not None:
            raise InvalidInputError(
                f"principal.agency_id: must be absent for role {self.role.value}"
            )
        validate_identifier(self.name, "principal.name")
        if (
            isinstance(self.serial, bool)
            or not isinstance(self.serial, int)
            or not 0 < self.serial < _MAX_SERIAL
        ):
            raise InvalidInputError("principal.serial: must be a positive integer below 2**159")

    def spiffe_id(self, trust_domain: str) -> str:
        """The SAN URI that names this principal in ``trust_domain``."""
        return spiffe_id(trust_domain, self.role, self.agency_id, self.name)

    @property
    def actor(self) -> str:
        """A stable, PII-free label for audit logs: ``role:agency/name#serial-hex``."""
        scope = f"{self.agency_id}/" if self.agency_id is not None else ""
        return f"{self.role.value}:{scope}{self.name}#{self.serial:x}"


def spiffe_id(trust_domain: str, role: Role, agency_id: str | None, name: str) -> str:
    """Build the SAN URI for a principal (validating every part)."""
    validate_trust_domain(trust_domain)
    validate_identifier(name, "name")
    if role in AGENCY_SCOPED_ROLES:
        if agency_id is None:
            raise InvalidInputError(f"agency_id: required for role {role.value}")
        validate_identifier(agency_id, "agency_id")
        return f"spiffe://{trust_domain}/agency/{agency_id}/{role.value}/{name}"
    if agency_id is not None:
        raise InvalidInputError(f"agency_id: must be absent for role {role.value}")
    return f"spiffe://{trust_domain}/{role.value}/{name}"


def parse_spiffe_id(uri: str) -> tuple[str, Role, str | None, str]:
    """Split a SAN URI into ``(trust_domain, role, agency_id, name)``.

    Raises AuthenticationError naming what is wrong (never echoing the URI).
    """
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise AuthenticationError("certificate URI SAN is not a valid URI") from None
    if parts.scheme != "spiffe":
        raise AuthenticationError("certificate URI SAN is not a spiffe:// URI")
    if parts.query or parts.fragment or "@" in parts.netloc or ":" in parts.netloc:
        raise AuthenticationError(
            "certificate URI SAN must not carry a query, fragment, user or port"
        )
    trust_domain = parts.netloc
    if _TRUST_DOMAIN.fullmatch(trust_domain) is None:
        raise AuthenticationError("certificate URI SAN has an invalid trust domain")
    segments = parts.path.split("/")[1:] if parts.path.startswith("/") else []
    if any(_IDENTIFIER.fullmatch(segment) is None for segment in segments):
        raise AuthenticationError("certificate URI SAN has an empty or invalid path segment")
    if len(segments) == 4 and segments[0] == "agency":
        role_segment, agency_id, name = segments[2], segments[1], segments[3]
        role = _role_from_segment(role_segment)
        if role not in AGENCY_SCOPED_ROLES:
            raise AuthenticationError("certificate URI SAN names a role that has no agency scope")
        return trust_domain, role, agency_id, name
    if len(segments) == 2:
        role = _role_from_segment(segments[0])
        if role in AGENCY_SCOPED_ROLES:
            raise AuthenticationError("certificate URI SAN names an agency role without an agency")
        return trust_domain, role, None, segments[1]
    raise AuthenticationError("certificate URI SAN path does not follow the principal scheme")


def _role_from_segment(segment: str) -> Role:
    try:
        return Role(segment)
    except ValueError:
        raise AuthenticationError("certificate URI SAN names an unknown role") from None


def load_certificate(pem_or_der: bytes | str | x509.Certificate) -> x509.Certificate:
    """Parse a certificate from PEM (bytes or text) or DER; AuthenticationError if unreadable."""
    if isinstance(pem_or_der, x509.Certificate):
        return pem_or_der
    data = pem_or_der.encode("ascii", "replace") if isinstance(pem_or_der, str) else pem_or_der
    if not isinstance(data, bytes | bytearray) or not data:
        raise AuthenticationError("no peer certificate was presented")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(bytes(data))
        return x509.load_der_x509_certificate(bytes(data))
    except ValueError:
        raise AuthenticationError("peer certificate cannot be parsed") from None


def principal_from_certificate(
    pem_or_der: bytes | str | x509.Certificate, *, trust_domain: str | None = None
) -> Principal:
    """Read the :class:`Principal` a certificate names.

    Checks the shape of the certificate only (one well-formed spiffe URI SAN,
    not a CA, the extended key usage that fits the role, and the trust domain
    when given); chain, expiry and revocation are :class:`PeerAuthenticator`'s
    job. Raises AuthenticationError with the reason.
    """
    cert = load_certificate(pem_or_der)
    try:
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        basic = None
    except ValueError:
        raise AuthenticationError("peer certificate has malformed extensions") from None
    if basic is not None and basic.ca:
        raise AuthenticationError("a CA certificate cannot identify a principal")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise AuthenticationError("certificate has no subjectAltName extension") from None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    if not uris:
        raise AuthenticationError("certificate has no URI subjectAltName naming a principal")
    if len(uris) > 1:
        raise AuthenticationError("certificate has more than one URI subjectAltName")
    domain, role, agency_id, name = parse_spiffe_id(uris[0])
    if trust_domain is not None and domain != trust_domain:
        raise AuthenticationError("certificate belongs to another trust domain")
    _check_key_usage(cert, role)
    try:
        return Principal(role=role, agency_id=agency_id, name=name, serial=cert.serial_number)
    except InvalidInputError as exc:
        raise AuthenticationError(f"certificate does not name a valid principal ({exc})") from None


def _check_key_usage(cert: x509.Certificate, role: Role) -> None:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise AuthenticationError("certificate has no extendedKeyUsage extension") from None
    needed = (
        ExtendedKeyUsageOID.SERVER_AUTH if role is Role.SERVER else ExtendedKeyUsageOID.CLIENT_AUTH
    )
    if needed not in eku:
        raise AuthenticationError(
            f"certificate's extendedKeyUsage does not allow the {role.value} role"
        )


def check_validity(cert: x509.Certificate, now: datetime) -> None:
    """Raise AuthenticationError unless ``now`` lies within the certificate's validity.

    TLS already enforces this; the server repeats it as defence in depth.
    ``now`` must be timezone-aware.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInputError("now: must be a timezone-aware datetime")
    if now < cert.not_valid_before_utc:
        raise AuthenticationError("certificate is not valid yet")
    if now > cert.not_valid_after_utc:
        raise AuthenticationError("certificate has expired")
