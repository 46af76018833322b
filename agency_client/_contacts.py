"""Contacts logged on the responder page, kept at the agency until ``agency-client upload``.

When a responder logs a contact ("log this contact": date and time, a disposition code,
nothing else), the gateway stores it here with the CLK of the identifiers the responder
looked up, never the identifiers themselves. The next ``agency-client upload`` sends each
distinct CLK as one record of this agency (a *field-contact record*) carrying one
``coresponder_contact`` event per contact logged for it; the matcher links it to the
person's other records like any record, which is how the contact reaches the person's
link without anyone matching names by hand. See docs/outcomes.md, "Contacts logged in
the field".

* **Record identity.** The local ID of a field-contact record is ``field-contact:`` and a
  hash of its CLK, so the same identifiers typed again add a contact to the same record;
  the record key and pointer token come from it as for any local ID (the pointer token
  opens to that local ID, which says the record is a logged contact).
* **What is kept.** The CLK (keyed by the linkage secret: unreadable without it, and what
  the matcher receives anyway), the schema fingerprint and key epoch it was encoded under,
  the contact's local date and time (only the date is sent), its disposition, and when it
  was logged. No name, date of birth or other identifier; no free text.
* **The file** (``field-contacts.sqlite`` beside the upload state) is agency-side state
  under the project's rule for private files: created 0600 without following links, and
  refused when it is a link, not a regular file, or open to group or others.
* **It is the source of those records.** An entry removed here withdraws its record at
  the next upload; a contact encoded under another schema or key epoch cannot be
  re-encoded (its identifiers were never kept) and is reported and not sent.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from linkage.errors import ConfigError, StorageError
from linkage.events import Disposition, EventCode, RecordEvent, canonical_events
from linkage.private_files import mode_problem

__all__ = [
    "FIELD_CONTACT_PREFIX",
    "FieldContactRecord",
    "FieldContactStore",
    "LoggedContact",
    "contacts_path",
    "field_contact_local_id",
]

#: Local IDs of field-contact records start with this.
FIELD_CONTACT_PREFIX: Final = "field-contact:"
_FILE_NAME: Final = "field-contacts.sqlite"
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS contacts (
    contact_id   INTEGER PRIMARY KEY,
    clk          BLOB NOT NULL,
    fingerprint  TEXT NOT NULL,
    key_epoch    INTEGER NOT NULL,
    contact_date TEXT NOT NULL,
    contact_time TEXT NOT NULL,
    disposition  TEXT NOT NULL,
    logged_at    TEXT NOT NULL
);
"""


def contacts_path(state_file: Path) -> Path:
    """Where the gateway keeps logged contacts: beside the upload state."""
    return state_file.parent / _FILE_NAME


def field_contact_local_id(clk: bytes) -> str:
    """The local ID of the field-contact record of a CLK (the same CLK, the same record)."""
    return FIELD_CONTACT_PREFIX + hashlib.sha256(b"field-contact/v1\0" + clk).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class LoggedContact:
    """One contact as the responder logged it."""

    contact_date: date
    contact_time: time
    disposition: Disposition


@dataclass(frozen=True, slots=True)
class FieldContactRecord:
    """One field-contact record to upload: its CLK and the contacts logged for it."""

    local_id: str
    clk: bytes
    events: tuple[RecordEvent, ...]


class FieldContactStore:
    """The field-contact file (see the module docstring). Use as a context manager."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        if not path.exists() and not path.is_symlink():
            if not create:
                raise ConfigError(f"no field-contact file at {path}")
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                os.close(os.open(path, flags, 0o600))
            except FileExistsError:
                pass
            except OSError as exc:
                raise ConfigError(f"cannot create {path}: {exc.strerror}") from None
        problem = mode_problem(path, "field-contact file", os.lstat(path))
        if problem is not None:
            raise ConfigError(problem)
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the field-contact file at {path} ({exc})") from None

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

    def add(self, clk: bytes, fingerprint: str, key_epoch: int, contact: LoggedContact) -> int:
        """Keep one logged contact; returns its number."""
        cursor = self._conn.execute(
            "INSERT INTO contacts (clk, fingerprint, key_epoch, contact_date, contact_time, "
            "disposition, logged_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                clk,
                fingerprint,
                key_epoch,
                contact.contact_date.isoformat(),
                contact.contact_time.strftime("%H:%M"),
                contact.disposition.value,
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM contacts").fetchone()[0])

    def records(self, fingerprint: str, key_epoch: int) -> tuple[list[FieldContactRecord], int]:
        """The field-contact records of this linkage space (one per distinct CLK, its
        contacts as ``coresponder_contact`` events), and how many contacts were logged
        under another schema or key epoch (kept, not sent)."""
        by_clk: dict[bytes, list[RecordEvent]] = {}
        other = 0
        for clk, row_fingerprint, row_epoch, day, disposition in self._rows():
            if row_fingerprint != fingerprint or row_epoch != key_epoch:
                other += 1
                continue
            event = RecordEvent(
                EventCode.CORESPONDER_CONTACT, date.fromisoformat(day), Disposition(disposition)
            )
            by_clk.setdefault(clk, []).append(event)
        records = [
            FieldContactRecord(field_contact_local_id(clk), clk, canonical_events(events))
            for clk, events in by_clk.items()
        ]
        return sorted(records, key=lambda r: r.local_id), other

    def _rows(self) -> Iterator[tuple[bytes, str, int, str, str]]:
        for clk, fingerprint, epoch, day, disposition in self._conn.execute(
            "SELECT clk, fingerprint, key_epoch, contact_date, disposition FROM contacts "
            "ORDER BY contact_id"
        ):
            yield bytes(clk), str(fingerprint), int(epoch), str(day), str(disposition)
