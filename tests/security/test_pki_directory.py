"""The on-disk PKI: layout, modes, index, revocation and CRLs."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509

from linkage.errors import AlreadyExistsError, ConfigError, InvalidInputError, NotFoundError
from linkage.pki import (
    KeyAlgorithm,
    PkiDirectory,
    Role,
    format_serial,
    generate_private_key,
    load_verified_crl,
    parse_serial,
    write_credentials,
)

pytestmark = pytest.mark.unit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def pki(tmp_path: Path) -> PkiDirectory:
    return PkiDirectory.initialise(tmp_path / "pki", "example.test")


def _issue(pki: PkiDirectory, role: Role = Role.OPERATOR, name: str = "op") -> x509.Certificate:
    agency = "valley" if role in (Role.AGENCY, Role.RESPONDER) else None
    return pki.issue(
        role=role,
        agency_id=agency,
        name=name,
        public_key=generate_private_key().public_key(),
        dns_names=["localhost"] if role is Role.SERVER else (),
    )


def test_layout_and_modes(pki: PkiDirectory) -> None:
    root = pki.path
    assert sorted(p.name for p in root.iterdir()) == [
        ".lock",
        "ca.cert.pem",
        "ca.key.pem",
        "certs",
        "crl.pem",
        "index.json",
        "pki.json",
    ]
    assert _mode(root) == 0o700
    assert _mode(root / "ca.key.pem") == 0o600
    assert _mode(root / "index.json") == 0o600
    assert b"PRIVATE KEY" in (root / "ca.key.pem").read_bytes()
    assert b"ENCRYPTED" not in (root / "ca.key.pem").read_bytes()
    crl = load_verified_crl((root / "crl.pem").read_bytes(), pki.ca_certificate())
    assert len(crl) == 0
    config = json.loads((root / "pki.json").read_text())
    assert config["trust_domain"] == "example.test"
    assert config["key_algorithm"] == "p256"


def test_initialise_refuses_to_replace_an_existing_ca(pki: PkiDirectory) -> None:
    before = pki.ca_key_path.read_bytes()
    with pytest.raises(AlreadyExistsError, match="already holds a PKI"):
        PkiDirectory.initialise(pki.path, "example.test")
    assert pki.ca_key_path.read_bytes() == before


def test_open_reads_back_the_configuration(pki: PkiDirectory) -> None:
    opened = PkiDirectory.open(pki.path)
    assert opened.trust_domain == "example.test"
    assert opened.algorithm is KeyAlgorithm.P256
    assert opened.crl_validity == timedelta(days=30)


def test_open_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="pki init"):
        PkiDirectory.open(tmp_path / "nothing")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("not json", "not valid JSON"),
        ('{"format": "other"}', "not a coresponder PKI"),
        ('{"format": "coresponder-pki", "version": 2}', "unsupported version"),
    ],
)
def test_open_rejects_a_bad_configuration(pki: PkiDirectory, content: str, reason: str) -> None:
    (pki.path / "pki.json").write_text(content)
    with pytest.raises(ConfigError, match=reason):
        PkiDirectory.open(pki.path)


def test_issue_records_every_certificate(pki: PkiDirectory) -> None:
    issued = [_issue(pki, Role.OPERATOR, "op"), _issue(pki, Role.RESPONDER, "gw")]
    records = pki.certificates()
    assert [r.serial for r in records] == [c.serial_number for c in issued]
    assert [(r.role, r.agency_id, r.name) for r in records] == [
        (Role.OPERATOR, None, "op"),
        (Role.RESPONDER, "valley", "gw"),
    ]
    for record, cert in zip(records, issued, strict=True):
        assert record.not_after == cert.not_valid_after_utc
        assert not record.revoked
        copy = pki.path / "certs" / f"{format_serial(cert.serial_number)}.cert.pem"
        assert x509.load_pem_x509_certificate(copy.read_bytes()) == cert
        cert.verify_directly_issued_by(pki.ca_certificate())


def test_revoke_updates_index_and_signed_crl(pki: PkiDirectory) -> None:
    keep, drop = _issue(pki, name="keep"), _issue(pki, name="drop")
    when = datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
    assert pki.revoke(drop.serial_number, reason=x509.ReasonFlags.key_compromise, now=when)
    crl = load_verified_crl(pki.crl_path.read_bytes(), pki.ca_certificate())
    entry = crl.get_revoked_certificate_by_serial_number(drop.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == when
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )
    assert crl.get_revoked_certificate_by_serial_number(keep.serial_number) is None
    by_serial = {r.serial: r for r in pki.certificates()}
    assert by_serial[drop.serial_number].revoked_at == when
    assert not by_serial[keep.serial_number].revoked


def test_revoke_is_idempotent_and_crl_numbers_increase(pki: PkiDirectory) -> None:
    cert = _issue(pki)

    def crl_number() -> int:
        crl = x509.load_pem_x509_crl(pki.crl_path.read_bytes())
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    first = crl_number()
    assert pki.revoke(cert.serial_number) is True
    second = crl_number()
    assert pki.revoke(cert.serial_number) is False
    assert crl_number() == second > first
    pki.write_crl()
    assert crl_number() == second + 1


def test_revoke_unknown_serial(pki: PkiDirectory) -> None:
    with pytest.raises(NotFoundError, match="not issued by this CA"):
        pki.revoke(12345)


def test_crl_validity_window(tmp_path: Path) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    pki = PkiDirectory.initialise(
        tmp_path / "p", "example.test", now=now, crl_validity=timedelta(days=7)
    )
    crl = x509.load_pem_x509_crl(pki.crl_path.read_bytes())
    assert crl.last_update_utc == now
    assert crl.next_update_utc == now + timedelta(days=7)


def test_ca_key_readable_by_others_is_refused(pki: PkiDirectory) -> None:
    os.chmod(pki.ca_key_path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        pki.load_ca()
    with pytest.raises(ConfigError, match="group or others"):
        _issue(pki)


def test_passphrase_protected_ca(tmp_path: Path) -> None:
    secret = b"a long test passphrase"
    pki = PkiDirectory.initialise(tmp_path / "p", "example.test", passphrase=secret)
    assert b"ENCRYPTED PRIVATE KEY" in pki.ca_key_path.read_bytes()
    with pytest.raises(ConfigError, match="give its passphrase"):
        pki.load_ca()
    with pytest.raises(ConfigError, match="wrong passphrase"):
        pki.load_ca(b"not the right passphrase")
    assert pki.load_ca(secret).trust_domain == "example.test"


def test_p384_ca(tmp_path: Path) -> None:
    pki = PkiDirectory.initialise(tmp_path / "p", "example.test", algorithm=KeyAlgorithm.P384)
    cert = _issue(PkiDirectory.open(pki.path))
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha384"


def test_corrupt_index_is_reported_by_path(pki: PkiDirectory) -> None:
    pki.index_path.write_text('{"version": 1, "crl_number": 0, "certificates": [{"serial": 1}]}')
    with pytest.raises(ConfigError, match=r"\$\.certificates\[0\]"):
        pki.certificates()


def test_write_credentials_modes_and_no_overwrite(pki: PkiDirectory, tmp_path: Path) -> None:
    key = generate_private_key()
    cert = pki.issue(role=Role.OPERATOR, agency_id=None, name="op", public_key=key.public_key())
    out = tmp_path / "out"
    paths = write_credentials(
        out, "op", certificate=cert, ca_certificate=pki.ca_certificate(), private_key=key
    )
    assert paths.private_key is not None
    assert _mode(paths.private_key) == 0o600
    assert _mode(out) == 0o700
    assert paths.ca_certificate.read_bytes() == pki.ca_certificate_path.read_bytes()
    with pytest.raises(AlreadyExistsError):
        write_credentials(out, "op", certificate=cert, ca_certificate=pki.ca_certificate())


@pytest.mark.parametrize(
    ("text", "value"),
    [("ff", 255), ("0xFF", 255), ("0f:a0", 0xFA0), (" 1a ", 26), ("a" * 40, int("a" * 40, 16))],
)
def test_parse_serial(text: str, value: int) -> None:
    assert parse_serial(text) == value
    assert parse_serial(format_serial(value)) == value


@pytest.mark.parametrize("text", ["", "0", "xyz", "-1", "a" * 41, "0x"])
def test_parse_serial_rejects(text: str) -> None:
    with pytest.raises(InvalidInputError, match="serial"):
        parse_serial(text)
