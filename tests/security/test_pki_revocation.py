"""Revocation without a restart, and the PeerAuthenticator that puts every check together."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pki_fixtures import PkiBundle, build_pki_bundle

from linkage.errors import AuthenticationError, ConfigError, InvalidInputError
from linkage.pki import (
    PeerAuthenticator,
    PkiDirectory,
    RevocationChecker,
    Role,
    build_crl,
    create_ca,
)

pytestmark = pytest.mark.unit


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_revocation_takes_effect_after_the_check_interval(pki_bundle: PkiBundle) -> None:
    clock = FakeClock()
    checker = pki_bundle.revocation_checker(check_interval_s=0.5, clock=clock)
    victim = pki_bundle.clients[Role.RESPONDER].principal.serial
    assert checker.is_revoked(victim) is False
    pki_bundle.revoke(pki_bundle.clients[Role.RESPONDER])
    clock.now += 0.1
    assert checker.is_revoked(victim) is False  # not re-checked yet: at most every 0.5 s
    clock.now += 0.5
    assert checker.is_revoked(victim) is True
    assert checker.is_revoked(pki_bundle.clients[Role.AGENCY].principal.serial) is False


def test_refresh_reports_whether_a_new_crl_was_loaded(pki_bundle: PkiBundle) -> None:
    checker = pki_bundle.revocation_checker(check_interval_s=3600)
    number = checker.crl_number
    assert checker.refresh() is False
    pki_bundle.revoke(pki_bundle.expired)
    assert checker.refresh() is True
    assert checker.crl_number == number + 1


def test_missing_crl_at_start_is_a_config_error(pki_bundle: PkiBundle) -> None:
    pki_bundle.directory.crl_path.unlink()
    with pytest.raises(ConfigError, match="CRL file cannot be read"):
        pki_bundle.revocation_checker()


def test_fails_closed_when_the_crl_disappears_and_recovers(pki_bundle: PkiBundle) -> None:
    checker = pki_bundle.revocation_checker()
    crl = pki_bundle.directory.crl_path
    saved = crl.read_bytes()
    crl.unlink()
    with pytest.raises(AuthenticationError, match="revocation status unavailable"):
        checker.is_revoked(1)
    crl.write_bytes(saved)
    assert checker.is_revoked(1) is False


def test_fails_closed_on_a_crl_from_another_ca(pki_bundle: PkiBundle, tmp_path: Path) -> None:
    checker = pki_bundle.revocation_checker()
    other = PkiDirectory.initialise(tmp_path / "other", "other.test")
    original = pki_bundle.directory.crl_path.read_bytes()
    shutil.copy(other.crl_path, pki_bundle.directory.crl_path)
    with pytest.raises(AuthenticationError, match="not issued by the configured CA"):
        checker.is_revoked(1)
    pki_bundle.directory.crl_path.write_bytes(original)
    assert checker.is_revoked(1) is False


def test_fails_closed_on_a_forged_signature(pki_bundle: PkiBundle) -> None:
    checker = pki_bundle.revocation_checker()
    # Same issuer name, different key: a forger's CRL that "un-revokes" everything.
    forger = create_ca(pki_bundle.trust_domain)
    assert forger.certificate.subject == pki_bundle.ca_certificate.subject
    now = datetime.now(UTC)
    forged = build_crl(
        forger, [], crl_number=10**6, this_update=now, next_update=now + timedelta(days=1)
    )
    pki_bundle.directory.crl_path.write_bytes(forged.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(AuthenticationError, match="signature does not verify"):
        checker.is_revoked(1)


def test_fails_closed_on_garbage(pki_bundle: PkiBundle) -> None:
    checker = pki_bundle.revocation_checker()
    pki_bundle.directory.crl_path.write_bytes(b"-----BEGIN X509 CRL-----\nnope\n")
    with pytest.raises(AuthenticationError, match="cannot be parsed"):
        checker.is_revoked(1)


def test_rollback_to_an_older_crl_is_refused(pki_bundle: PkiBundle) -> None:
    crl = pki_bundle.directory.crl_path
    before_revocation = crl.read_bytes()
    checker = pki_bundle.revocation_checker()
    victim = pki_bundle.clients[Role.OPERATOR]
    pki_bundle.revoke(victim)
    assert checker.is_revoked(victim.principal.serial) is True
    crl.write_bytes(before_revocation)  # an attacker restores the old, validly signed CRL
    with pytest.raises(AuthenticationError, match="rollback refused"):
        checker.is_revoked(victim.principal.serial)


def test_stale_crl_fails_closed_unless_disabled(pki_bundle: PkiBundle) -> None:
    ca_cert = pki_bundle.ca_certificate
    later = lambda: datetime.now(UTC) + timedelta(days=31)  # noqa: E731
    strict = RevocationChecker(pki_bundle.directory.crl_path, ca_cert, wall_clock=later)
    with pytest.raises(AuthenticationError, match="nextUpdate"):
        strict.is_revoked(1)
    lenient = RevocationChecker(
        pki_bundle.directory.crl_path, ca_cert, wall_clock=later, enforce_next_update=False
    )
    assert lenient.is_revoked(1) is False


def test_negative_interval_is_rejected(pki_bundle: PkiBundle) -> None:
    with pytest.raises(InvalidInputError):
        pki_bundle.revocation_checker(check_interval_s=-1)


def test_concurrent_readers_see_the_revocation(pki_bundle: PkiBundle) -> None:
    checker = pki_bundle.revocation_checker(check_interval_s=0.0)
    serial = pki_bundle.clients[Role.AGENCY].principal.serial
    errors: list[BaseException] = []
    seen: list[list[bool]] = [[] for _ in range(4)]
    stop = threading.Event()

    def reader(mine: list[bool]) -> None:
        try:
            while not stop.is_set():
                mine.append(checker.is_revoked(serial))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(mine,)) for mine in seen]
    for t in threads:
        t.start()
    for i in range(5):  # unrelated churn: every write replaces the file atomically
        pki_bundle.directory.write_crl()
        if i == 2:
            pki_bundle.revoke(pki_bundle.clients[Role.AGENCY])
    pki_bundle.directory.write_crl()
    assert checker.is_revoked(serial) is True
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    for mine in seen:
        assert mine, "every reader ran"
        # Once a reader has seen the revocation it never sees the certificate valid again.
        if True in mine:
            assert False not in mine[mine.index(True) :]


# -- PeerAuthenticator -----------------------------------------------------------


def test_authenticator_accepts_every_valid_role(pki_bundle: PkiBundle) -> None:
    auth = pki_bundle.authenticator()
    for role, credentials in pki_bundle.clients.items():
        principal = auth.authenticate(credentials.cert_pem)
        assert principal == credentials.principal
        assert principal.role is role


@pytest.mark.parametrize(
    ("which", "reason"),
    [
        ("expired", "expired"),
        ("not_yet_valid", "not valid yet"),
        ("foreign", "not issued by the trusted CA"),
    ],
)
def test_authenticator_refuses(pki_bundle: PkiBundle, which: str, reason: str) -> None:
    credentials = getattr(pki_bundle, which)
    with pytest.raises(AuthenticationError, match=reason):
        pki_bundle.authenticator().authenticate(credentials.cert_pem)


def test_authenticator_refuses_no_certificate(pki_bundle: PkiBundle) -> None:
    with pytest.raises(AuthenticationError, match="no peer certificate"):
        pki_bundle.authenticator().authenticate(None)
    with pytest.raises(AuthenticationError, match="no peer certificate"):
        pki_bundle.authenticator().authenticate(b"")


def test_authenticator_refuses_revoked_without_restart(pki_bundle: PkiBundle) -> None:
    auth = pki_bundle.authenticator(check_interval_s=0.0)
    client = pki_bundle.clients[Role.RESPONDER]
    assert auth.authenticate(client.cert_pem) == client.principal
    pki_bundle.revoke(client)
    with pytest.raises(AuthenticationError, match="revoked"):
        auth.authenticate(client.cert_pem)


def test_authenticator_refuses_another_trust_domain(tmp_path: Path) -> None:
    bundle = build_pki_bundle(tmp_path, trust_domain="one.test")
    auth = PeerAuthenticator(bundle.ca_certificate, "two.test", revocation=None)
    with pytest.raises(AuthenticationError, match="another trust domain"):
        auth.authenticate(bundle.clients[Role.OPERATOR].cert_pem)


def test_crl_file_is_never_partially_written(pki_bundle: PkiBundle) -> None:
    inode = os.stat(pki_bundle.directory.crl_path).st_ino
    pki_bundle.directory.write_crl()
    assert os.stat(pki_bundle.directory.crl_path).st_ino != inode  # replaced by rename
    leftovers = [p.name for p in pki_bundle.directory.path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
