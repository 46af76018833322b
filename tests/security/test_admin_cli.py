"""The real linkage-admin CLI, run in temporary directories."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from linkage.admin.cli import SUBCOMMANDS, main
from linkage.pki import (
    PkiDirectory,
    Principal,
    Role,
    generate_private_key,
    load_verified_crl,
    principal_from_certificate,
)

pytestmark = pytest.mark.unit


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def pki_dir(tmp_path: Path) -> Path:
    path = tmp_path / "pki"
    result = run("pki", "init", "--dir", str(path), "--trust-domain", "cli.test")
    assert result.exit_code == 0, result.output
    return path


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _issue(pki_dir: Path, out: Path, *args: str) -> Result:
    return run("cert", "issue", "--dir", str(pki_dir), "--out-dir", str(out), *args)


def _serials(pki_dir: Path) -> list[dict[str, str | None]]:
    result = run("cert", "list", "--dir", str(pki_dir), "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_init_creates_the_documented_layout(pki_dir: Path) -> None:
    assert _mode(pki_dir / "ca.key.pem") == 0o600
    for name in ("ca.cert.pem", "crl.pem", "index.json", "pki.json"):
        assert (pki_dir / name).is_file()
    assert PkiDirectory.open(pki_dir).trust_domain == "cli.test"


def test_init_twice_is_a_domain_error(pki_dir: Path) -> None:
    result = run("pki", "init", "--dir", str(pki_dir), "--trust-domain", "cli.test")
    assert result.exit_code == 2
    assert "error:" in result.stderr
    assert "already holds a PKI" in result.stderr


@pytest.mark.parametrize(
    ("args", "role", "agency"),
    [
        (["--role", "agency", "--agency", "valley-mhc"], Role.AGENCY, "valley-mhc"),
        (["--role", "responder", "--agency", "valley-mhc"], Role.RESPONDER, "valley-mhc"),
        (["--role", "operator"], Role.OPERATOR, None),
        (["--role", "server"], Role.SERVER, None),
    ],
)
def test_issue_writes_key_cert_and_bundle(
    pki_dir: Path, tmp_path: Path, args: list[str], role: Role, agency: str | None
) -> None:
    out = tmp_path / "out"
    result = _issue(pki_dir, out, *args, "--name", "alpha")
    assert result.exit_code == 0, result.output
    key_path, cert_path = out / "alpha.key.pem", out / "alpha.cert.pem"
    assert _mode(key_path) == 0o600
    assert (out / "ca.cert.pem").read_bytes() == (pki_dir / "ca.cert.pem").read_bytes()
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert principal_from_certificate(cert, trust_domain="cli.test") == Principal(
        role, agency, "alpha", cert.serial_number
    )
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert key.public_key() == cert.public_key()
    assert "PRIVATE KEY" not in result.output
    assert key_path.read_text() not in result.output
    if role is Role.SERVER:  # default names for a local server
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["localhost"]
        assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_issue_with_explicit_validity_can_make_expired_certificates(
    pki_dir: Path, tmp_path: Path
) -> None:
    result = _issue(
        pki_dir,
        tmp_path / "old",
        *("--role", "operator", "--name", "old"),
        *("--not-before", "2024-01-01", "--not-after", "2024-02-01T00:00:00Z"),
    )
    assert result.exit_code == 0, result.output
    cert = x509.load_pem_x509_certificate((tmp_path / "old" / "old.cert.pem").read_bytes())
    assert cert.not_valid_after_utc.isoformat() == "2024-02-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "responder", "--name", "x"], "agency_id: required"),
        (["--role", "operator", "--agency", "a", "--name", "x"], "must be absent"),
        (["--role", "operator", "--name", "bad name"], "name: must be"),
        (["--role", "operator", "--name", "x", "--dns", "h"], "DNS and IP names are for servers"),
        (["--role", "operator", "--name", "x", "--not-after", "soon"], "not an ISO 8601"),
    ],
)
def test_issue_domain_errors_exit_2(
    pki_dir: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = _issue(pki_dir, tmp_path / "o", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert _serials(pki_dir) == []  # nothing recorded


def test_issue_refuses_to_overwrite_before_issuing(pki_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert _issue(pki_dir, out, "--role", "operator", "--name", "op").exit_code == 0
    before = (out / "op.key.pem").read_bytes()
    again = _issue(pki_dir, out, "--role", "operator", "--name", "op")
    assert again.exit_code == 2
    assert "refusing to overwrite" in again.stderr
    assert (out / "op.key.pem").read_bytes() == before
    assert len(_serials(pki_dir)) == 1


def test_issue_from_a_csr_keeps_the_key_with_its_owner(pki_dir: Path, tmp_path: Path) -> None:
    key = generate_private_key()
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ignored")]))
        .sign(key, hashes.SHA256())
    )
    csr_path = tmp_path / "req.pem"
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    out = tmp_path / "o"
    args = ("--role", "responder", "--agency", "a1", "--name", "gw", "--csr", str(csr_path))
    result = _issue(pki_dir, out, *args)
    assert result.exit_code == 0, result.output
    assert not (out / "gw.key.pem").exists()
    cert = x509.load_pem_x509_certificate((out / "gw.cert.pem").read_bytes())
    assert cert.public_key() == key.public_key()
    assert principal_from_certificate(cert).role is Role.RESPONDER


def test_issue_rejects_a_tampered_csr(pki_dir: Path, tmp_path: Path) -> None:
    csr_path = tmp_path / "req.pem"
    csr_path.write_text(
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
    )
    result = _issue(
        pki_dir, tmp_path / "o", "--role", "operator", "--name", "x", "--csr", str(csr_path)
    )
    assert result.exit_code == 2
    assert "certificate signing request" in result.stderr


def test_list_revoke_and_crl(pki_dir: Path, tmp_path: Path) -> None:
    for name in ("one", "two"):
        assert _issue(pki_dir, tmp_path / name, "--role", "operator", "--name", name).exit_code == 0
    rows = _serials(pki_dir)
    assert [(r["name"], r["role"], r["revoked"]) for r in rows] == [
        ("one", "operator", None),
        ("two", "operator", None),
    ]
    victim = rows[0]["serial"]
    assert victim is not None
    result = run("cert", "revoke", "--dir", str(pki_dir), victim, "--reason", "key-compromise")
    assert result.exit_code == 0, result.output
    assert "revoked" in result.output
    again = run("cert", "revoke", "--dir", str(pki_dir), victim)
    assert again.exit_code == 0
    assert "already revoked" in again.output
    rows = _serials(pki_dir)
    assert rows[0]["revoked"] is not None
    assert rows[1]["revoked"] is None
    table = run("cert", "list", "--dir", str(pki_dir)).output.splitlines()
    assert table[0].split() == ["SERIAL", "ROLE", "AGENCY", "NAME", "NOT_AFTER", "REVOKED"]
    assert table[1].startswith(victim)
    assert " yes (" in table[1]
    assert table[2].endswith(" no")
    ca = x509.load_pem_x509_certificate((pki_dir / "ca.cert.pem").read_bytes())
    crl = load_verified_crl((pki_dir / "crl.pem").read_bytes(), ca)
    assert [entry.serial_number for entry in crl] == [int(victim, 16)]


def test_revoke_unknown_or_malformed_serial(pki_dir: Path) -> None:
    unknown = run("cert", "revoke", "--dir", str(pki_dir), "abcdef")
    assert unknown.exit_code == 2
    assert "not issued by this CA" in unknown.stderr
    malformed = run("cert", "revoke", "--dir", str(pki_dir), "not-hex")
    assert malformed.exit_code == 2
    assert "hexadecimal" in malformed.stderr


def test_pki_dir_from_the_environment(pki_dir: Path) -> None:
    result = run("cert", "list", env={"LINKAGE_PKI_DIR": str(pki_dir)})
    assert result.exit_code == 0
    assert result.output.startswith("SERIAL")


def test_missing_pki_is_a_domain_error(tmp_path: Path) -> None:
    result = run("cert", "list", "--dir", str(tmp_path / "none"))
    assert result.exit_code == 2
    assert "pki init" in result.stderr


def test_passphrase_comes_from_a_private_file(tmp_path: Path) -> None:
    secret = tmp_path / "pass"
    secret.write_text("correct horse battery staple\n")
    os.chmod(secret, 0o600)
    pki = tmp_path / "pki"
    init = ("pki", "init", "--dir", str(pki), "--trust-domain", "p.test")
    assert run(*init, "--ca-passphrase-file", str(secret)).exit_code == 0
    issue = ("cert", "issue", "--dir", str(pki), "--role", "operator", "--name", "op")
    without = run(*issue, "--out-dir", str(tmp_path / "a"))
    assert without.exit_code == 2
    assert "passphrase" in without.stderr
    env = {"LINKAGE_CA_PASSPHRASE_FILE": str(secret)}
    assert run(*issue, "--out-dir", str(tmp_path / "b"), env=env).exit_code == 0
    os.chmod(secret, 0o644)
    loose = run(*issue, "--out-dir", str(tmp_path / "c"), env=env)
    assert loose.exit_code == 2
    assert "chmod 600" in loose.stderr
    assert "correct horse" not in loose.output


def test_crl_refresh(pki_dir: Path) -> None:
    before = x509.load_pem_x509_crl((pki_dir / "crl.pem").read_bytes())
    assert run("pki", "crl", "--dir", str(pki_dir)).exit_code == 0
    after = x509.load_pem_x509_crl((pki_dir / "crl.pem").read_bytes())

    def number(crl: x509.CertificateRevocationList) -> int:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    assert number(after) == number(before) + 1


def test_demo_creates_every_principal(tmp_path: Path) -> None:
    result = run("pki", "demo", "--out", str(tmp_path / "demo"), "--agency", "a1")
    assert result.exit_code == 0, result.output
    roles = sorted(line.split()[0] for line in result.output.splitlines())
    assert roles == ["agency", "operator", "responder", "server"]
    creds = tmp_path / "demo" / "credentials"
    assert sorted(p.name for p in creds.iterdir()) == ["a1-gateway", "a1-it", "matcher", "operator"]
    assert _mode(creds / "a1-gateway" / "a1-gateway.key.pem") == 0o600


def test_every_registered_subcommand_loads() -> None:
    help_text = run("--help").output
    for name in SUBCOMMANDS:
        assert name in help_text
        assert run(name, "--help").exit_code == 0


@pytest.mark.integration
def test_module_entry_point_in_a_subprocess(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    ok = subprocess.run(
        [sys.executable, "-m", "linkage.admin", "pki", "init", "--dir", str(pki),
         "--trust-domain", "sub.test"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "linkage.admin", "cert", "revoke", "--dir", str(pki), "ff"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr
