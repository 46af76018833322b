"""The operator's PKI directory: the CA, an index of issued certificates and the CRL.

Layout (``DIR`` is created with mode 0700)::

    DIR/pki.json          format marker, trust domain, key algorithm, CRL validity
    DIR/ca.key.pem        the CA private key, PKCS#8 PEM, mode 0600 (optionally encrypted)
    DIR/ca.cert.pem       the CA certificate (the trust anchor every party installs)
    DIR/index.json        every issued certificate, its revocation state and the CRL number
    DIR/certs/<serial>.cert.pem   a copy of each issued certificate (serial in hex)
    DIR/crl.pem           the current CRL, signed by the CA, replaced atomically
    DIR/.lock             advisory lock taken by every command that changes the directory

Serial numbers are shown and accepted as lower-case hexadecimal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from linkage.errors import (
    AlreadyExistsError,
    ConfigError,
    InvalidInputError,
    NotFoundError,
    StorageError,
)
from linkage.identity import Principal, Role, validate_identifier
from linkage.pki._files import (
    exclusive_lock,
    read_private_file,
    write_private_file,
    write_public_file,
)
from linkage.pki._issue import (
    CertificateAuthority,
    KeyAlgorithm,
    PrivateKey,
    PublicKey,
    RevokedCertificate,
    build_crl,
    create_ca,
    issue_certificate,
    private_key_to_pem,
)

__all__ = [
    "CredentialPaths",
    "IssuedCertificateRecord",
    "PkiDirectory",
    "format_serial",
    "parse_serial",
    "write_credentials",
]

_FORMAT = "coresponder-pki"
_VERSION = 1
CONFIG_FILE = "pki.json"
CA_KEY_FILE = "ca.key.pem"
CA_CERT_FILE = "ca.cert.pem"
INDEX_FILE = "index.json"
CRL_FILE = "crl.pem"
CERTS_DIR = "certs"
LOCK_FILE = ".lock"


def format_serial(serial: int) -> str:
    """A certificate serial as lower-case hex, the form the CLI shows and accepts."""
    return f"{serial:x}"


def parse_serial(text: str) -> int:
    """Parse a serial given as hex (optionally ``0x``-prefixed or colon-separated)."""
    cleaned = text.strip().lower().replace(":", "")
    cleaned = cleaned.removeprefix("0x")
    if not cleaned or len(cleaned) > 40 or any(c not in "0123456789abcdef" for c in cleaned):
        raise InvalidInputError("serial: must be a certificate serial number in hexadecimal")
    value = int(cleaned, 16)
    if value <= 0:
        raise InvalidInputError("serial: must be positive")
    return value


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a timestamp string")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ConfigError(f"{where}: is not a YYYY-MM-DDTHH:MM:SSZ timestamp") from None


@dataclass(frozen=True, slots=True)
class IssuedCertificateRecord:
    """One line of the index: an issued certificate and whether it is revoked."""

    serial: int
    role: Role
    agency_id: str | None
    name: str
    not_before: datetime
    not_after: datetime
    issued_at: datetime
    fingerprint_sha256: str
    revoked_at: datetime | None = None
    revocation_reason: x509.ReasonFlags | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def principal(self) -> Principal:
        return Principal(self.role, self.agency_id, self.name, self.serial)

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": format_serial(self.serial),
            "role": self.role.value,
            "agency_id": self.agency_id,
            "name": self.name,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "issued_at": _iso(self.issued_at),
            "fingerprint_sha256": self.fingerprint_sha256,
            "revoked_at": _iso(self.revoked_at) if self.revoked_at is not None else None,
            "revocation_reason": (
                self.revocation_reason.value if self.revocation_reason is not None else None
            ),
        }

    @classmethod
    def from_json(cls, item: object, where: str) -> IssuedCertificateRecord:
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be an object")
        try:
            serial = parse_serial(str(item["serial"]))
            role = Role(item["role"])
            agency_id = item["agency_id"]
            name = item["name"]
            reason_text = item["revocation_reason"]
            revoked_text = item["revoked_at"]
            fingerprint = item["fingerprint_sha256"]
        except (KeyError, ValueError, InvalidInputError) as exc:
            raise ConfigError(f"{where}: malformed index entry ({type(exc).__name__})") from None
        if not isinstance(name, str) or not (agency_id is None or isinstance(agency_id, str)):
            raise ConfigError(f"{where}: malformed index entry (name/agency_id)")
        if not isinstance(fingerprint, str):
            raise ConfigError(f"{where}.fingerprint_sha256: must be a string")
        try:
            reason = x509.ReasonFlags(reason_text) if reason_text is not None else None
        except ValueError:
            raise ConfigError(f"{where}.revocation_reason: unknown reason") from None
        return cls(
            serial=serial,
            role=role,
            agency_id=agency_id,
            name=name,
            not_before=_parse_iso(item.get("not_before"), f"{where}.not_before"),
            not_after=_parse_iso(item.get("not_after"), f"{where}.not_after"),
            issued_at=_parse_iso(item.get("issued_at"), f"{where}.issued_at"),
            fingerprint_sha256=fingerprint,
            revoked_at=(
                _parse_iso(revoked_text, f"{where}.revoked_at")
                if revoked_text is not None
                else None
            ),
            revocation_reason=reason,
        )


@dataclass(frozen=True, slots=True)
class CredentialPaths:
    """Where :func:`write_credentials` put a principal's files."""

    certificate: Path
    private_key: Path | None
    ca_certificate: Path


@dataclass(frozen=True, slots=True)
class _Index:
    crl_number: int
    certificates: tuple[IssuedCertificateRecord, ...]


class PkiDirectory:
    """An on-disk PKI (see the module docstring for the layout).

    Use :meth:`initialise` once, then :meth:`open`. Methods that change the
    directory hold its lock, so two admin commands never interleave.
    """

    def __init__(
        self, path: Path, trust_domain: str, algorithm: KeyAlgorithm, crl_validity: timedelta
    ) -> None:
        self.path = path
        self.trust_domain = trust_domain
        self.algorithm = algorithm
        self.crl_validity = crl_validity

    # -- paths ---------------------------------------------------------------
    @property
    def ca_certificate_path(self) -> Path:
        return self.path / CA_CERT_FILE

    @property
    def ca_key_path(self) -> Path:
        return self.path / CA_KEY_FILE

    @property
    def crl_path(self) -> Path:
        return self.path / CRL_FILE

    @property
    def index_path(self) -> Path:
        return self.path / INDEX_FILE

    # -- creation ------------------------------------------------------------
    @classmethod
    def initialise(
        cls,
        path: Path,
        trust_domain: str,
        *,
        now: datetime | None = None,
        ca_validity: timedelta = timedelta(days=3650),
        crl_validity: timedelta = timedelta(days=30),
        algorithm: KeyAlgorithm = KeyAlgorithm.P256,
        passphrase: bytes | None = None,
    ) -> PkiDirectory:
        """Create the CA, an empty index and an empty signed CRL in ``path``."""
        if crl_validity <= timedelta(0):
            raise InvalidInputError("crl_validity: must be positive")
        start = now if now is not None else datetime.now(UTC)
        ca = create_ca(trust_domain, now=start, validity=ca_validity, algorithm=algorithm)
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"{path}: cannot create directory ({exc.strerror})") from None
        if (path / CONFIG_FILE).exists() or (path / CA_KEY_FILE).exists():
            raise AlreadyExistsError(f"{path}: already holds a PKI; refusing to replace its CA")
        directory = cls(path, trust_domain, algorithm, crl_validity)
        with exclusive_lock(path / LOCK_FILE):
            write_private_file(
                directory.ca_key_path, private_key_to_pem(ca.private_key, passphrase)
            )
            write_public_file(
                directory.ca_certificate_path,
                ca.certificate.public_bytes(serialization.Encoding.PEM),
            )
            (path / CERTS_DIR).mkdir(mode=0o755, exist_ok=True)
            directory._write_index(_Index(crl_number=0, certificates=()))
            directory._write_crl_locked(ca, start)
            config = {
                "format": _FORMAT,
                "version": _VERSION,
                "trust_domain": trust_domain,
                "key_algorithm": algorithm.value,
                "crl_validity_seconds": int(crl_validity.total_seconds()),
            }
            write_public_file(path / CONFIG_FILE, _json_bytes(config))
        return directory

    @classmethod
    def open(cls, path: Path) -> PkiDirectory:
        """Open an existing PKI directory, validating its configuration."""
        config_path = path / CONFIG_FILE
        try:
            raw = config_path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{path}: no PKI here (run 'linkage-admin pki init')") from None
        except OSError as exc:
            raise ConfigError(f"{config_path}: cannot read ({exc.strerror})") from None
        try:
            config = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"{config_path}: not valid JSON") from None
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise ConfigError(f"{config_path}: not a coresponder PKI configuration")
        if config.get("version") != _VERSION:
            raise ConfigError(f"{config_path}: unsupported version")
        try:
            algorithm = KeyAlgorithm(config.get("key_algorithm"))
        except ValueError:
            raise ConfigError(f"{config_path}: $.key_algorithm is unknown") from None
        validity = config.get("crl_validity_seconds")
        if not isinstance(validity, int) or isinstance(validity, bool) or validity <= 0:
            raise ConfigError(f"{config_path}: $.crl_validity_seconds must be a positive integer")
        trust_domain = config.get("trust_domain")
        if not isinstance(trust_domain, str):
            raise ConfigError(f"{config_path}: $.trust_domain must be a string")
        return cls(path, trust_domain, algorithm, timedelta(seconds=validity))

    # -- reading -------------------------------------------------------------
    def ca_certificate(self) -> x509.Certificate:
        try:
            return x509.load_pem_x509_certificate(self.ca_certificate_path.read_bytes())
        except FileNotFoundError:
            raise NotFoundError(f"{self.ca_certificate_path}: CA certificate not found") from None
        except ValueError:
            raise ConfigError(f"{self.ca_certificate_path}: not a PEM certificate") from None

    def load_ca(self, passphrase: bytes | None = None) -> CertificateAuthority:
        """Load the CA key (refusing a group/world-readable key file) and certificate."""
        key_pem = read_private_file(self.ca_key_path, "CA private key")
        try:
            key = serialization.load_pem_private_key(key_pem, password=passphrase or None)
        except TypeError:
            raise ConfigError(
                f"{self.ca_key_path}: the CA key is encrypted; give its passphrase file"
                if not passphrase
                else f"{self.ca_key_path}: the CA key is not encrypted; omit the passphrase"
            ) from None
        except ValueError:
            raise ConfigError(
                f"{self.ca_key_path}: cannot decrypt or parse the CA key (wrong passphrase?)"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{self.ca_key_path}: the CA key is not an EC key")
        try:
            return CertificateAuthority(self.ca_certificate(), key, self.trust_domain)
        except InvalidInputError:
            raise ConfigError(
                f"{self.path}: the CA key does not match the CA certificate"
            ) from None

    def certificates(self) -> list[IssuedCertificateRecord]:
        """Every certificate issued so far, in issue order."""
        return list(self._read_index().certificates)

    def find(self, serial: int) -> IssuedCertificateRecord:
        for record in self._read_index().certificates:
            if record.serial == serial:
                return record
        raise NotFoundError(f"certificate {format_serial(serial)}: not issued by this CA")

    # -- changing ------------------------------------------------------------
    def issue(
        self,
        *,
        role: Role,
        agency_id: str | None,
        name: str,
        public_key: PublicKey,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        validity: timedelta = timedelta(days=365),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        passphrase: bytes | None = None,
        now: datetime | None = None,
    ) -> x509.Certificate:
        """Issue a certificate for ``public_key`` and record it in the index."""
        current = now if now is not None else datetime.now(UTC)
        start = not_before if not_before is not None else current - timedelta(minutes=5)
        end = not_after if not_after is not None else current + validity
        ca = self.load_ca(passphrase)
        with exclusive_lock(self.path / LOCK_FILE):
            cert = issue_certificate(
                ca,
                role=role,
                agency_id=agency_id,
                name=name,
                public_key=public_key,
                not_before=start,
                not_after=end,
                dns_names=dns_names,
                ip_addresses=ip_addresses,
            )
            pem = cert.public_bytes(serialization.Encoding.PEM)
            record = IssuedCertificateRecord(
                serial=cert.serial_number,
                role=role,
                agency_id=agency_id,
                name=name,
                not_before=cert.not_valid_before_utc,
                not_after=cert.not_valid_after_utc,
                issued_at=current.astimezone(UTC).replace(microsecond=0),
                fingerprint_sha256=hashlib.sha256(
                    cert.public_bytes(serialization.Encoding.DER)
                ).hexdigest(),
            )
            index = self._read_index()
            certs_dir = self.path / CERTS_DIR
            certs_dir.mkdir(mode=0o755, exist_ok=True)
            write_public_file(certs_dir / f"{format_serial(cert.serial_number)}.cert.pem", pem)
            self._write_index(replace(index, certificates=(*index.certificates, record)))
        return cert

    def revoke(
        self,
        serial: int,
        *,
        reason: x509.ReasonFlags | None = None,
        now: datetime | None = None,
        passphrase: bytes | None = None,
    ) -> bool:
        """Revoke ``serial`` and rewrite the CRL. False if it was already revoked."""
        current = now if now is not None else datetime.now(UTC)
        ca = self.load_ca(passphrase)
        with exclusive_lock(self.path / LOCK_FILE):
            index = self._read_index()
            updated: list[IssuedCertificateRecord] = []
            found: IssuedCertificateRecord | None = None
            for record in index.certificates:
                if record.serial == serial:
                    found = record
                    if not record.revoked:
                        record = replace(
                            record,
                            revoked_at=current.astimezone(UTC).replace(microsecond=0),
                            revocation_reason=reason,
                        )
                updated.append(record)
            if found is None:
                raise NotFoundError(f"certificate {format_serial(serial)}: not issued by this CA")
            if found.revoked:
                return False
            self._write_index(replace(index, certificates=tuple(updated)))
            self._write_crl_locked(ca, current)
        return True

    def write_crl(self, *, now: datetime | None = None, passphrase: bytes | None = None) -> Path:
        """Re-sign the CRL with a fresh validity window (run before it goes stale)."""
        ca = self.load_ca(passphrase)
        with exclusive_lock(self.path / LOCK_FILE):
            self._write_crl_locked(ca, now if now is not None else datetime.now(UTC))
        return self.crl_path

    # -- internals -----------------------------------------------------------
    def _write_crl_locked(self, ca: CertificateAuthority, now: datetime) -> None:
        index = self._read_index()
        number = index.crl_number + 1
        revoked = [
            RevokedCertificate(r.serial, r.revoked_at, r.revocation_reason)
            for r in index.certificates
            if r.revoked_at is not None
        ]
        crl = build_crl(
            ca, revoked, crl_number=number, this_update=now, next_update=now + self.crl_validity
        )
        write_public_file(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))
        self._write_index(replace(index, crl_number=number))

    def _read_index(self) -> _Index:
        try:
            raw = self.index_path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"{self.index_path}: certificate index not found") from None
        except OSError as exc:
            raise ConfigError(f"{self.index_path}: cannot read ({exc.strerror})") from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ConfigError(f"{self.index_path}: not valid JSON") from None
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise ConfigError(f"{self.index_path}: not a version-1 certificate index")
        number = data.get("crl_number")
        items = data.get("certificates")
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise ConfigError(f"{self.index_path}: $.crl_number must be a non-negative integer")
        if not isinstance(items, list):
            raise ConfigError(f"{self.index_path}: $.certificates must be a list")
        records = tuple(
            IssuedCertificateRecord.from_json(item, f"{self.index_path}: $.certificates[{i}]")
            for i, item in enumerate(items)
        )
        return _Index(crl_number=number, certificates=records)

    def _write_index(self, index: _Index) -> None:
        data = {
            "version": _VERSION,
            "crl_number": index.crl_number,
            "certificates": [record.to_json() for record in index.certificates],
        }
        write_public_file(self.index_path, _json_bytes(data), mode=0o600)


def _json_bytes(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_credentials(
    out_dir: Path,
    stem: str,
    *,
    certificate: x509.Certificate,
    ca_certificate: x509.Certificate,
    private_key: PrivateKey | None = None,
    key_passphrase: bytes | None = None,
) -> CredentialPaths:
    """Write ``<stem>.key.pem`` (0600, if a key is given), ``<stem>.cert.pem`` and ``ca.cert.pem``.

    Refuses to overwrite an existing key or certificate. The CA bundle is
    rewritten atomically (it is public and always the same CA).
    """
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"{out_dir}: cannot create directory ({exc.strerror})") from None
    validate_identifier(stem, "file stem")
    cert_path = out_dir / f"{stem}.cert.pem"
    if cert_path.exists():
        raise AlreadyExistsError(f"{cert_path}: already exists; refusing to overwrite")
    key_path: Path | None = None
    if private_key is not None:
        key_path = out_dir / f"{stem}.key.pem"
        write_private_file(key_path, private_key_to_pem(private_key, key_passphrase))
    write_public_file(cert_path, certificate.public_bytes(serialization.Encoding.PEM))
    ca_path = out_dir / "ca.cert.pem"
    write_public_file(ca_path, ca_certificate.public_bytes(serialization.Encoding.PEM))
    return CredentialPaths(certificate=cert_path, private_key=key_path, ca_certificate=ca_path)
