"""``linkage-admin pki ...`` and ``linkage-admin cert ...``: the operator's PKI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from linkage.admin._options import (
    parse_utc,
    passphrase_file_option,
    pki_dir_option,
    read_passphrase,
)
from linkage.errors import AlreadyExistsError, ConfigError, InvalidInputError, NotFoundError
from linkage.pki import (
    IssuedCertificateRecord,
    KeyAlgorithm,
    PkiDirectory,
    PublicKey,
    Role,
    create_demo_pki,
    format_serial,
    generate_private_key,
    parse_serial,
    write_credentials,
)

__all__ = ["cert", "pki"]

_DEFAULT_SERVER_DNS = ("localhost",)
_DEFAULT_SERVER_IPS = ("127.0.0.1",)
_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
    "privilege-withdrawn": x509.ReasonFlags.privilege_withdrawn,
}


@click.group()
def pki() -> None:
    """Create and maintain the operator's certificate authority."""


@pki.command("init")
@pki_dir_option
@click.option(
    "--trust-domain", required=True, help="SPIFFE trust domain, e.g. coresponder.example."
)
@click.option("--ca-days", type=click.IntRange(min=1), default=3650, show_default=True)
@click.option(
    "--crl-days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Validity of each CRL; run 'pki crl' (or revoke) before it runs out.",
)
@click.option(
    "--algorithm",
    type=click.Choice([a.value for a in KeyAlgorithm]),
    default=KeyAlgorithm.P256.value,
    show_default=True,
)
@passphrase_file_option
def pki_init(
    pki_dir: Path,
    trust_domain: str,
    ca_days: int,
    crl_days: int,
    algorithm: str,
    ca_passphrase_file: Path | None,
) -> None:
    """Create the CA, an empty certificate index and an empty signed CRL in --dir."""
    directory = PkiDirectory.initialise(
        pki_dir,
        trust_domain,
        ca_validity=timedelta(days=ca_days),
        crl_validity=timedelta(days=crl_days),
        algorithm=KeyAlgorithm(algorithm),
        passphrase=read_passphrase(ca_passphrase_file),
    )
    ca = directory.ca_certificate()
    click.echo(f"created CA for trust domain {trust_domain} in {pki_dir}")
    click.echo(f"  CA certificate: {directory.ca_certificate_path}")
    click.echo(f"  CA key (0600):  {directory.ca_key_path}")
    click.echo(f"  CRL:            {directory.crl_path}")
    click.echo(f"  valid until:    {ca.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")


@pki.command("crl")
@pki_dir_option
@passphrase_file_option
def pki_crl(pki_dir: Path, ca_passphrase_file: Path | None) -> None:
    """Re-sign the CRL with a fresh validity window (schedule this before it expires)."""
    directory = PkiDirectory.open(pki_dir)
    path = directory.write_crl(passphrase=read_passphrase(ca_passphrase_file))
    click.echo(f"wrote {path}")


@pki.command("demo")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the demo PKI (pki/) and every principal's credentials (credentials/).",
)
@click.option("--trust-domain", default="coresponder.test", show_default=True)
@click.option(
    "--agency",
    "agencies",
    multiple=True,
    default=("valley-mhc", "metro-pd"),
    show_default=True,
    help="Agency ID to enrol (repeatable).",
)
def pki_demo(out_dir: Path, trust_domain: str, agencies: tuple[str, ...]) -> None:
    """Create a complete demo/test PKI: CA, server, operator, and per agency IT + gateway."""
    demo = create_demo_pki(out_dir, trust_domain=trust_domain, agency_ids=agencies)
    everyone = [demo.server, demo.operator, *demo.agencies.values(), *demo.responders.values()]
    for credentials in everyone:
        principal = credentials.principal
        scope = principal.agency_id or "-"
        click.echo(
            f"{principal.role.value:<10} {scope:<16} {principal.name:<24} "
            f"{credentials.paths.certificate.parent}"
        )


@click.group()
def cert() -> None:
    """Issue, list and revoke certificates."""


def _load_csr_public_key(path: Path) -> PublicKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{path}: CSR not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read CSR ({exc.strerror})") from None
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise InvalidInputError(f"{path}: not a PEM certificate signing request") from None
    if not csr.is_signature_valid:
        raise InvalidInputError(f"{path}: CSR signature does not verify")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
        key.curve, ec.SECP256R1 | ec.SECP384R1
    ):
        raise InvalidInputError(f"{path}: CSR key must be EC P-256 or P-384")
    return key


@cert.command("issue")
@pki_dir_option
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--agency", "agency_id", default=None, help="Agency ID (agency and responder roles).")
@click.option("--name", required=True, help="Principal name, unique within its role and agency.")
@click.option(
    "--out-dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write NAME.key.pem (0600), NAME.cert.pem and ca.cert.pem.",
)
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True)
@click.option("--not-before", default=None, help="Explicit start (ISO 8601, UTC if no offset).")
@click.option("--not-after", default=None, help="Explicit end (ISO 8601, UTC if no offset).")
@click.option("--dns", "dns_names", multiple=True, help="DNS SAN (server role; repeatable).")
@click.option("--ip", "ip_addresses", multiple=True, help="IP SAN (server role; repeatable).")
@click.option(
    "--csr",
    "csr_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sign this PEM CSR's key instead of generating one (the key never leaves its owner).",
)
@passphrase_file_option
def cert_issue(
    pki_dir: Path,
    role: str,
    agency_id: str | None,
    name: str,
    out_dir: Path,
    days: int,
    not_before: str | None,
    not_after: str | None,
    dns_names: tuple[str, ...],
    ip_addresses: tuple[str, ...],
    csr_path: Path | None,
    ca_passphrase_file: Path | None,
) -> None:
    """Issue a certificate for one principal."""
    directory = PkiDirectory.open(pki_dir)
    for existing in (out_dir / f"{name}.cert.pem", out_dir / f"{name}.key.pem"):
        if existing.exists():  # checked before issuing, so no orphan lands in the index
            raise AlreadyExistsError(f"{existing}: already exists; refusing to overwrite")
    principal_role = Role(role)
    if principal_role is Role.SERVER and not dns_names and not ip_addresses:
        dns_names, ip_addresses = _DEFAULT_SERVER_DNS, _DEFAULT_SERVER_IPS
    now = datetime.now(UTC)
    start = parse_utc(not_before, "--not-before")
    end = parse_utc(not_after, "--not-after")
    private_key = None
    if csr_path is not None:
        public_key = _load_csr_public_key(csr_path)
    else:
        private_key = generate_private_key(directory.algorithm)
        public_key = private_key.public_key()
    certificate = directory.issue(
        role=principal_role,
        agency_id=agency_id,
        name=name,
        public_key=public_key,
        not_before=start,
        not_after=end,
        validity=timedelta(days=days),
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        passphrase=read_passphrase(ca_passphrase_file),
        now=now,
    )
    paths = write_credentials(
        out_dir,
        name,
        certificate=certificate,
        ca_certificate=directory.ca_certificate(),
        private_key=private_key,
    )
    click.echo(
        f"issued {principal_role.value} certificate {format_serial(certificate.serial_number)}"
    )
    click.echo(f"  certificate: {paths.certificate}")
    if paths.private_key is not None:
        click.echo(f"  key (0600):  {paths.private_key}")
    click.echo(f"  CA bundle:   {paths.ca_certificate}")
    click.echo(f"  valid until: {certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}")


def _row(record: IssuedCertificateRecord) -> dict[str, str | None]:
    return {
        "serial": format_serial(record.serial),
        "role": record.role.value,
        "agency": record.agency_id,
        "name": record.name,
        "not_after": f"{record.not_after:%Y-%m-%dT%H:%M:%SZ}",
        "revoked": (
            f"{record.revoked_at:%Y-%m-%dT%H:%M:%SZ}" if record.revoked_at is not None else None
        ),
    }


@cert.command("list")
@pki_dir_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line, for scripts.")
def cert_list(pki_dir: Path, as_json: bool) -> None:
    """List issued certificates: serial, role, agency, name, not_after, revoked?"""
    records = PkiDirectory.open(pki_dir).certificates()
    if as_json:
        for record in records:
            click.echo(json.dumps(_row(record), sort_keys=True))
        return
    header = ("SERIAL", "ROLE", "AGENCY", "NAME", "NOT_AFTER", "REVOKED")
    rows = [
        (
            row["serial"] or "",
            row["role"] or "",
            row["agency"] or "-",
            row["name"] or "",
            row["not_after"] or "",
            f"yes ({row['revoked']})" if row["revoked"] else "no",
        )
        for row in map(_row, records)
    ]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for line in (header, *rows):
        cells = (cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@cert.command("revoke")
@pki_dir_option
@click.argument("serial")
@click.option(
    "--reason",
    type=click.Choice(sorted(_REASONS)),
    default="unspecified",
    show_default=True,
)
@passphrase_file_option
def cert_revoke(pki_dir: Path, serial: str, reason: str, ca_passphrase_file: Path | None) -> None:
    """Revoke SERIAL (hex) and rewrite the signed CRL; servers pick it up without a restart."""
    directory = PkiDirectory.open(pki_dir)
    value = parse_serial(serial)
    changed = directory.revoke(
        value, reason=_REASONS[reason], passphrase=read_passphrase(ca_passphrase_file)
    )
    if changed:
        click.echo(f"revoked {format_serial(value)}; CRL rewritten at {directory.crl_path}")
    else:
        click.echo(f"{format_serial(value)} was already revoked; nothing changed")
