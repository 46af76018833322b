"""The local upload state: what the matcher holds for this agency, and work not yet acknowledged.

One SQLite file (default ``state/upload-state.sqlite``, mode 0600) with:

* ``records``: per record key (an HMAC of the local ID, see :mod:`agency_client._keys`)
  a keyed digest of its export row (the mapped cells, with the schema, key epoch and
  mapping), its consent and whether that consent was set explicitly
  (``agency-client consent``) rather than taken from the config's default. No names,
  dates of birth, local record IDs or CLKs.
* ``consents``: the distinct canonical consents those records refer to.
* ``pending_batches`` / ``pending_effects``: planned batches, stored as the exact
  serialised ``WriteBatchRequest`` bytes, with what each does to ``records``. A
  pending batch holds CLKs and pointer tokens until it is acknowledged, then it
  is deleted. Re-sending a stored batch is byte-identical, so the matcher's
  idempotency by batch ID turns a resend into a replay, never a duplicate.
* ``meta``: the last export's path and times (no PII).

Updates are SQLite transactions: :meth:`UploadState.acknowledge` applies one
batch's effects and deletes it atomically, so the state changes only for
acknowledged batches and a crash at any point leaves it consistent.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from linkage.errors import ConfigError, StorageError

__all__ = [
    "EFFECT_CONSENT",
    "EFFECT_UPSERT",
    "EFFECT_WITHDRAW",
    "Effect",
    "PendingBatch",
    "StateEntry",
    "UploadState",
]

EFFECT_UPSERT: Final = 0
EFFECT_WITHDRAW: Final = 1
EFFECT_CONSENT: Final = 2
_SCHEMA_VERSION: Final = "1"

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS consents (
    consent_id INTEGER PRIMARY KEY,
    canonical BLOB NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS records (
    record_key BLOB PRIMARY KEY,
    row_digest BLOB NOT NULL,
    consent_id INTEGER NOT NULL REFERENCES consents (consent_id),
    explicit INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending_batches (
    seq INTEGER PRIMARY KEY,
    operation TEXT NOT NULL,
    batch_id TEXT NOT NULL UNIQUE,
    withdraw_all INTEGER NOT NULL,
    mutation_count INTEGER NOT NULL,
    request BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_effects (
    seq INTEGER NOT NULL,
    record_key BLOB NOT NULL,
    kind INTEGER NOT NULL,
    row_digest BLOB,
    consent_id INTEGER,
    explicit INTEGER
);
CREATE INDEX IF NOT EXISTS pending_effects_by_seq ON pending_effects (seq);
"""


@dataclass(frozen=True, slots=True)
class StateEntry:
    """What the state knows about one record the matcher holds."""

    row_digest: bytes
    consent_id: int
    explicit: bool


@dataclass(frozen=True, slots=True)
class Effect:
    """What acknowledging a batch does to one record of the state."""

    record_key: bytes
    kind: int
    row_digest: bytes | None = None
    consent_id: int | None = None
    explicit: bool = False


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """A planned batch not yet acknowledged by the matcher."""

    seq: int
    operation: str
    batch_id: str
    withdraw_all: bool
    mutation_count: int
    request: bytes


class UploadState:
    """The state file. Use as a context manager (it closes the connection)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not path.exists():
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
            self._conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
            version = self.get_meta("schema_version")
            if version is None:
                self.set_meta("schema_version", _SCHEMA_VERSION)
            elif version != _SCHEMA_VERSION:
                raise ConfigError(
                    f"{path}: upload state version {version} is not supported by this client; "
                    "use the client version that wrote it"
                )
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot open the upload state at {path} ({exc}); check the path and permissions"
            ) from None

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ meta
    def get_meta(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    # ------------------------------------------------------------------ records
    def consent_id(self, canonical: bytes) -> int:
        """The ID of a canonical consent, stored on first use."""
        row = self._conn.execute(
            "SELECT consent_id FROM consents WHERE canonical = ?", (canonical,)
        ).fetchone()
        if row is not None:
            return int(row[0])
        cursor = self._conn.execute("INSERT INTO consents (canonical) VALUES (?)", (canonical,))
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def consent_bytes(self, consent_id: int) -> bytes:
        row = self._conn.execute(
            "SELECT canonical FROM consents WHERE consent_id = ?", (consent_id,)
        ).fetchone()
        if row is None:
            raise StorageError(
                f"{self.path}: consent {consent_id} is missing; the state is damaged"
            )
        return bytes(row[0])

    def records(self) -> dict[bytes, StateEntry]:
        """Every record the matcher has acknowledged, by record key."""
        return {
            bytes(key): StateEntry(bytes(digest), int(consent), bool(explicit))
            for key, digest, consent, explicit in self._conn.execute(
                "SELECT record_key, row_digest, consent_id, explicit FROM records"
            )
        }

    def record(self, record_key: bytes) -> StateEntry | None:
        row = self._conn.execute(
            "SELECT row_digest, consent_id, explicit FROM records WHERE record_key = ?",
            (record_key,),
        ).fetchone()
        return None if row is None else StateEntry(bytes(row[0]), int(row[1]), bool(row[2]))

    def record_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    # ------------------------------------------------------------------ pending work
    def add_pending(
        self,
        operation: str,
        batches: Iterable[tuple[str, bool, int, bytes, Sequence[Effect]]],
    ) -> int:
        """Store planned batches ``(batch_id, withdraw_all, mutation_count, request, effects)``
        in one transaction; returns how many."""
        count = 0
        with self._transaction():
            for batch_id, withdraw_all, mutation_count, request, effects in batches:
                cursor = self._conn.execute(
                    "INSERT INTO pending_batches "
                    "(operation, batch_id, withdraw_all, mutation_count, request) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (operation, batch_id, int(withdraw_all), mutation_count, request),
                )
                seq = cursor.lastrowid
                self._conn.executemany(
                    "INSERT INTO pending_effects "
                    "(seq, record_key, kind, row_digest, consent_id, explicit) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        (seq, e.record_key, e.kind, e.row_digest, e.consent_id, int(e.explicit))
                        for e in effects
                    ),
                )
                count += 1
        return count

    def pending(self) -> Iterator[PendingBatch]:
        """Unacknowledged batches, in the order they must be sent."""
        rows = self._conn.execute(
            "SELECT seq, operation, batch_id, withdraw_all, mutation_count, request "
            "FROM pending_batches ORDER BY seq"
        ).fetchall()
        for seq, operation, batch_id, withdraw_all, count, request in rows:
            yield PendingBatch(
                int(seq), operation, batch_id, bool(withdraw_all), int(count), bytes(request)
            )

    def pending_summary(self) -> tuple[int, int]:
        """``(batches, mutations)`` still to send."""
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(mutation_count), 0) FROM pending_batches"
        ).fetchone()
        return int(row[0]), int(row[1])

    def acknowledge(self, seq: int) -> None:
        """Apply an acknowledged batch's effects and forget the batch, atomically."""
        with self._transaction():
            row = self._conn.execute(
                "SELECT withdraw_all FROM pending_batches WHERE seq = ?", (seq,)
            ).fetchone()
            if row is None:
                return
            if row[0]:
                self._conn.execute("DELETE FROM records")
            effects = self._conn.execute(
                "SELECT record_key, kind, row_digest, consent_id, explicit "
                "FROM pending_effects WHERE seq = ?",
                (seq,),
            ).fetchall()
            upserts = [(k, d, c, x) for k, kind, d, c, x in effects if kind == EFFECT_UPSERT]
            withdrawals = [(k,) for k, kind, *_ in effects if kind == EFFECT_WITHDRAW]
            consents = [(c, x, k) for k, kind, _, c, x in effects if kind == EFFECT_CONSENT]
            self._conn.executemany(
                "INSERT INTO records (record_key, row_digest, consent_id, explicit) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (record_key) DO UPDATE SET "
                "row_digest = excluded.row_digest, consent_id = excluded.consent_id, "
                "explicit = excluded.explicit",
                upserts,
            )
            self._conn.executemany("DELETE FROM records WHERE record_key = ?", withdrawals)
            self._conn.executemany(
                "UPDATE records SET consent_id = ?, explicit = ? WHERE record_key = ?", consents
            )
            self._conn.execute("DELETE FROM pending_effects WHERE seq = ?", (seq,))
            self._conn.execute("DELETE FROM pending_batches WHERE seq = ?", (seq,))

    def discard_pending(self) -> int:
        """Forget every unacknowledged batch; returns how many there were."""
        with self._transaction():
            count = int(self._conn.execute("SELECT COUNT(*) FROM pending_batches").fetchone()[0])
            self._conn.execute("DELETE FROM pending_effects")
            self._conn.execute("DELETE FROM pending_batches")
        return count

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")
