"""Pure certificate-authority operations: keys, the CA, leaf certificates and CRLs.

Nothing here touches the file system; :mod:`linkage.pki._directory` persists
what these functions build.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from linkage.errors import InvalidInputError
from linkage.identity import (
    AGENCY_SCOPED_ROLES,
    Role,
    spiffe_id,
    validate_identifier,
    validate_trust_domain,
)

__all__ = [
    "CertificateAuthority",
    "KeyAlgorithm",
    "PrivateKey",
    "PublicKey",
    "RevokedCertificate",
    "build_crl",
    "create_ca",
    "generate_private_key",
    "issue_certificate",
    "private_key_to_pem",
]

PrivateKey: TypeAlias = ec.EllipticCurvePrivateKey
PublicKey: TypeAlias = ec.EllipticCurvePublicKey

#: Leaf certificates are back-dated this much to tolerate clock skew.
_BACKDATE = timedelta(minutes=5)


class KeyAlgorithm(enum.Enum):
    """Key types the PKI can issue. P-256 is the default and works everywhere.

    Ed25519 is deliberately absent: grpcio 1.85's BoringSSL fails the mTLS
    handshake with ``NO_COMMON_SIGNATURE_ALGORITHMS`` for Ed25519 certificates
    (checked; see docs/security.md).
    """

    P256 = "p256"
    P384 = "p384"


def generate_private_key(algorithm: KeyAlgorithm = KeyAlgorithm.P256) -> PrivateKey:
    """A fresh private key of the given type."""
    if algorithm is KeyAlgorithm.P256:
        return ec.generate_private_key(ec.SECP256R1())
    return ec.generate_private_key(ec.SECP384R1())


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key.curve, ec.SECP384R1):
        return hashes.SHA384()
    return hashes.SHA256()


def private_key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with ``passphrase`` when one is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """The operator's CA: its certificate, its key (never printed) and its trust domain."""

    certificate: x509.Certificate
    private_key: PrivateKey = field(repr=False)
    trust_domain: str

    def __post_init__(self) -> None:
        validate_trust_domain(self.trust_domain)
        ca_public = self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        key_public = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if ca_public != key_public:
            raise InvalidInputError("ca: the private key does not belong to the CA certificate")


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{what}: must be a timezone-aware datetime")
    return value.astimezone(UTC)


def create_ca(
    trust_domain: str,
    *,
    now: datetime | None = None,
    validity: timedelta = timedelta(days=3650),
    algorithm: KeyAlgorithm = KeyAlgorithm.P256,
    private_key: PrivateKey | None = None,
) -> CertificateAuthority:
    """Create a self-signed CA for ``trust_domain`` (path length 0: it signs leaves only)."""
    validate_trust_domain(trust_domain)
    start = _aware(now, "now") if now is not None else datetime.now(UTC)
    if validity <= timedelta(0):
        raise InvalidInputError("validity: must be positive")
    key = private_key if private_key is not None else generate_private_key(algorithm)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "coresponder linkage"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{trust_domain} CA"[:64]),
        ]
    )
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - _BACKDATE)
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, _signature_hash(key))
    )
    return CertificateAuthority(certificate=cert, private_key=key, trust_domain=trust_domain)


def issue_certificate(
    ca: CertificateAuthority,
    *,
    role: Role,
    agency_id: str | None,
    name: str,
    public_key: PublicKey,
    not_before: datetime,
    not_after: datetime,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    serial: int | None = None,
) -> x509.Certificate:
    """Issue a leaf certificate naming one principal, with explicit validity.

    The principal is carried as the certificate's only URI SAN (see
    :mod:`linkage.identity`). Server certificates get ``serverAuth`` and
    need at least one DNS name or IP address; every other role gets
    ``clientAuth`` and must not carry DNS or IP names. ``not_before`` may lie
    in the past and ``not_after`` may lie before now, so tests can build
    expired certificates.
    """
    start = _aware(not_before, "not_before")
    end = _aware(not_after, "not_after")
    if end <= start:
        raise InvalidInputError("not_after: must be later than not_before")
    if end > ca.certificate.not_valid_after_utc:
        raise InvalidInputError("not_after: must not outlive the CA certificate")
    uri = spiffe_id(ca.trust_domain, role, agency_id, name)
    general_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    if role is Role.SERVER:
        if not dns_names and not ip_addresses:
            raise InvalidInputError("server certificate: needs at least one DNS name or IP address")
        for dns in dns_names:
            general_names.append(x509.DNSName(_validate_dns(dns)))
        for ip in ip_addresses:
            try:
                general_names.append(x509.IPAddress(ipaddress.ip_address(ip)))
            except ValueError:
                raise InvalidInputError("ip_addresses: not an IP address") from None
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        if dns_names or ip_addresses:
            raise InvalidInputError(f"{role.value} certificate: DNS and IP names are for servers")
        usage = ExtendedKeyUsageOID.CLIENT_AUTH
    subject_attrs = [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role.value)]
    if role in AGENCY_SCOPED_ROLES and agency_id is not None:
        subject_attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency_id))
    subject_attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, validate_identifier(name, "name")))
    serial_number = serial if serial is not None else x509.random_serial_number()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(subject_attrs))
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectAlternativeName(general_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
    )
    return builder.sign(ca.private_key, _signature_hash(ca.private_key))


def _validate_dns(name: str) -> str:
    labels = name.split(".")
    ok = 0 < len(name) <= 253 and all(
        0 < len(label) <= 63
        and label.replace("-", "").isalnum()
        and label.isascii()
        and not label.startswith("-")
        for label in labels
    )
    if not ok:
        raise InvalidInputError("dns_names: not a valid DNS name")
    return name


@dataclass(frozen=True, slots=True)
class RevokedCertificate:
    """One revocation as it goes into the CRL."""

    serial: int
    revoked_at: datetime
    reason: x509.ReasonFlags | None = None


def build_crl(
    ca: CertificateAuthority,
    revoked: Iterable[RevokedCertificate],
    *,
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """A CRL signed by the CA listing ``revoked`` (serial order, deterministic)."""
    start = _aware(this_update, "this_update")
    end = _aware(next_update, "next_update")
    if end <= start:
        raise InvalidInputError("next_update: must be later than this_update")
    if crl_number < 0:
        raise InvalidInputError("crl_number: must not be negative")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(start)
        .next_update(end)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
    )
    for item in sorted(revoked, key=lambda r: r.serial):
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(item.serial)
            .revocation_date(_aware(item.revoked_at, "revoked_at"))
        )
        if item.reason is not None and item.reason is not x509.ReasonFlags.unspecified:
            entry = entry.add_extension(x509.CRLReason(item.reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca.private_key, _signature_hash(ca.private_key))
