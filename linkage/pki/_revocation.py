"""Revocation that takes effect without a restart: a CRL reloaded when its file changes."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from linkage.errors import AuthenticationError, ConfigError, InvalidInputError

__all__ = ["RevocationChecker", "load_verified_crl"]

_log = logging.getLogger(__name__)


def load_verified_crl(
    data: bytes, ca_certificate: x509.Certificate
) -> x509.CertificateRevocationList:
    """Parse a PEM or DER CRL and verify it was issued and signed by ``ca_certificate``.

    Raises ConfigError naming the reason (never the content).
    """
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
    except ValueError:
        raise ConfigError("CRL cannot be parsed") from None
    if crl.issuer != ca_certificate.subject:
        raise ConfigError("CRL was not issued by the configured CA")
    public_key = ca_certificate.public_key()
    try:
        valid = crl.is_signature_valid(public_key)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ConfigError("CRL signature does not verify against the CA")
    return crl


@dataclass(frozen=True, slots=True)
class _Snapshot:
    stamp: tuple[int, int, int]
    revoked: frozenset[int]
    crl_number: int
    next_update: datetime | None


class RevocationChecker:
    """Answers ``is_revoked(serial)`` from a CA-signed CRL file that may change at any time.

    * The file is re-``stat``-ed at most every ``check_interval_s`` seconds
      (``clock`` is injectable for tests); when its inode, size or mtime
      changed it is re-read, its signature verified and its CRL number
      checked to be no older than the last one accepted (no rollback).
    * It fails **closed**: if the file disappears, stops verifying, rolls
      back or is past its ``nextUpdate`` (when ``enforce_next_update``),
      ``is_revoked`` raises AuthenticationError until a good CRL is back.
    * Thread-safe: readers see an immutable snapshot; reloads hold a lock.
    """

    def __init__(
        self,
        crl_path: Path,
        ca_certificate: x509.Certificate,
        *,
        check_interval_s: float = 1.0,
        enforce_next_update: bool = True,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if check_interval_s < 0:
            raise InvalidInputError("check_interval_s: must not be negative")
        self._path = crl_path
        self._ca = ca_certificate
        self._interval = check_interval_s
        self._enforce_next_update = enforce_next_update
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.Lock()
        self._failure: str | None = None
        self._snapshot = self._load(min_crl_number=0)
        self._next_check = clock() + check_interval_s

    @property
    def crl_number(self) -> int:
        """The CRL number of the list currently in force."""
        return self._snapshot.crl_number

    def is_revoked(self, serial: int) -> bool:
        """True if ``serial`` is on the current CRL; raises AuthenticationError if none is valid."""
        if self._clock() >= self._next_check:
            self.refresh()
        failure = self._failure
        if failure is not None:
            raise AuthenticationError(f"revocation status unavailable: {failure}")
        snapshot = self._snapshot
        if (
            self._enforce_next_update
            and snapshot.next_update is not None
            and self._wall_clock() > snapshot.next_update
        ):
            raise AuthenticationError(
                "revocation status unavailable: the CRL is past its nextUpdate"
            )
        return serial in snapshot.revoked

    def refresh(self) -> bool:
        """Check the file now; reload if it changed. True if a new CRL was loaded."""
        with self._lock:
            self._next_check = self._clock() + self._interval
            try:
                stamp = self._stat()
            except ConfigError as exc:
                self._fail(exc.message)
                return False
            if stamp == self._snapshot.stamp and self._failure is None:
                return False
            try:
                snapshot = self._load(min_crl_number=self._snapshot.crl_number)
            except ConfigError as exc:
                self._fail(exc.message)
                return False
            changed = snapshot.crl_number != self._snapshot.crl_number
            self._snapshot = snapshot
            if self._failure is not None:
                _log.warning("revocation list is valid again (CRL number %d)", snapshot.crl_number)
            self._failure = None
            return changed

    def _fail(self, reason: str) -> None:
        if self._failure != reason:
            _log.warning("revocation list rejected, failing closed: %s", reason)
        self._failure = reason

    def _stat(self) -> tuple[int, int, int]:
        try:
            info = os.stat(self._path)
        except OSError:
            raise ConfigError(f"{self._path}: CRL file cannot be read") from None
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def _load(self, *, min_crl_number: int) -> _Snapshot:
        # stat before reading: if the file is replaced in between, the next check reloads.
        stamp = self._stat()
        try:
            data = self._path.read_bytes()
        except OSError:
            raise ConfigError(f"{self._path}: CRL file cannot be read") from None
        crl = load_verified_crl(data, self._ca)
        try:
            number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        except x509.ExtensionNotFound:
            raise ConfigError("CRL has no CRL number") from None
        if number < min_crl_number:
            raise ConfigError("CRL is older than the one already in force (rollback refused)")
        revoked = frozenset(entry.serial_number for entry in crl)
        return _Snapshot(
            stamp=stamp, revoked=revoked, crl_number=number, next_update=crl.next_update_utc
        )
