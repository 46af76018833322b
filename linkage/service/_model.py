"""Domain types of the linkage service: what the servicers convert protos to."""

from __future__ import annotations

import hashlib
import re
import struct
from dataclasses import dataclass
from typing import TypeAlias

from linkage.events import RecordEvent, events_bytes
from linkage.identity import AGENCY_ID_PATTERN

__all__ = [
    "AGENCY_ID_PATTERN",
    "BATCH_ID_PATTERN",
    "BatchOutcome",
    "ConsentChange",
    "DisclosedMember",
    "LinkHit",
    "Mutation",
    "RecordUpsert",
    "RecordWithdrawal",
    "WriteBatch",
]

BATCH_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class RecordUpsert:
    """Insert or replace a record. ``consent`` is canonical consent bytes; ``events`` are
    all of the record's programme events, in canonical order."""

    record_key: bytes
    clk: bytes
    pointer_token: bytes
    consent: bytes
    linkable: bool
    events: tuple[RecordEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordWithdrawal:
    """Withdraw a record by key."""

    record_key: bytes


@dataclass(frozen=True, slots=True)
class ConsentChange:
    """Replace the consent of an existing record."""

    record_key: bytes
    consent: bytes
    linkable: bool


Mutation: TypeAlias = RecordUpsert | RecordWithdrawal | ConsentChange


def _field(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """One batch of mutations from one agency, applied all or nothing."""

    agency_id: str
    batch_id: str
    key_epoch: int
    schema_fingerprint: str
    mutations: tuple[Mutation, ...]
    withdraw_all: bool = False

    def digest(self) -> bytes:
        """A digest of the batch's content, to tell a replay from a reused ID."""
        h = hashlib.sha256()
        h.update(b"linkage.v1.WriteBatch\0")
        for text in (self.agency_id, self.batch_id, self.schema_fingerprint):
            h.update(_field(text.encode()))
        h.update(struct.pack(">I?", self.key_epoch, self.withdraw_all))
        for mutation in self.mutations:
            match mutation:
                case RecordUpsert():
                    h.update(b"U")
                    for part in (
                        mutation.record_key,
                        mutation.clk,
                        mutation.pointer_token,
                        mutation.consent,
                    ):
                        h.update(_field(part))
                    if mutation.events:  # batches without events digest as before
                        h.update(b"E" + _field(events_bytes(mutation.events)))
                case RecordWithdrawal():
                    h.update(b"W" + _field(mutation.record_key))
                case ConsentChange():
                    h.update(b"C" + _field(mutation.record_key) + _field(mutation.consent))
        return h.digest()


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What committing a batch did."""

    agency_id: str
    batch_id: str
    replayed: bool
    inserted: int
    updated: int
    unchanged: int
    withdrawn: int
    consent_updated: int
    linked: int
    commit_time_us: int


@dataclass(frozen=True, slots=True)
class DisclosedMember:
    """A record a lookup may disclose (``agency_display_name``: the holding agency's name,
    for a contact card that names no one)."""

    agency_id: str
    contact_card: bytes
    pointer_token: bytes
    consent: bytes
    agency_display_name: str = ""


@dataclass(frozen=True, slots=True)
class LinkHit:
    """A matched link with the members the caller may see (never empty)."""

    link_id: int
    members: tuple[DisclosedMember, ...]
