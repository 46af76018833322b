"""The audit log as the store keeps it: sealing entries onto its hash chain, verifying it.

:mod:`linkage.security._audit_chain` defines the chain (encoding, hashing, streaming
verification) over plain values; this module connects it to the link store's audit
table. :func:`append_audit_entry` reads the last stored entry inside the caller's write
transaction, seals the new entry onto it and appends it, so an entry commits or rolls
back with the change it records. :func:`verify_audit_log` streams the whole table through
:func:`~linkage.security.verify_rows`.

Entries never hold PII, CLKs, pointer plaintext or keys (see the chain's module).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from linkage.security._audit_chain import (
    AuditEntry,
    ChainedAuditEntry,
    DetailValue,
    VerificationResult,
    seal,
    verify_rows,
)
from linkage.store import AuditRow

if TYPE_CHECKING:
    from linkage.store import LinkStore, WriteTransaction

__all__ = ["append_audit_entry", "verify_audit_log"]


def _chained(row: AuditRow) -> ChainedAuditEntry:
    return ChainedAuditEntry(
        AuditEntry(
            row.sequence, row.entry_time_us, row.actor, row.action, row.target_ids, row.details
        ),
        row.prev_hash,
        row.entry_hash,
    )


def append_audit_entry(
    tx: WriteTransaction,
    actor: str,
    action: str,
    targets: Iterable[str],
    details: Mapping[str, DetailValue],
    now_us: int,
) -> int:
    """Seal one entry onto the chain inside ``tx`` and return its sequence number.

    The caller holds the store's writer (``tx``), so the last entry read here stays the
    last until this one is appended.
    """
    last = tx.last_audit()
    entry = AuditEntry.new(
        sequence=1 if last is None else last.sequence + 1,
        entry_time_us=now_us,
        actor=actor,
        action=action,
        target_ids=tuple(targets),
        details=details,
    )
    sealed = seal(entry, None if last is None else _chained(last))
    tx.append_audit(
        AuditRow(
            sequence=entry.sequence,
            entry_time_us=entry.entry_time_us,
            actor=entry.actor,
            action=entry.action,
            target_ids=entry.target_ids,
            details=entry.details_json,
            prev_hash=sealed.prev_hash or b"",
            entry_hash=sealed.entry_hash,
        )
    )
    return entry.sequence


def verify_audit_log(
    store: LinkStore, trusted_heads: Iterable[tuple[int, bytes]] = ()
) -> VerificationResult:
    """Verify a store's audit hash chain; names the first altered, inserted,
    deleted or reordered entry. Each of ``trusted_heads`` (sequence, hash), kept outside
    the store, must be in the chain: a chain re-sealed from an entry at or before one of
    them, or cut short of it, fails."""
    rows = (
        (
            row.sequence,
            row.entry_time_us,
            row.actor,
            row.action,
            row.target_ids,
            row.details,
            row.prev_hash,
            row.entry_hash,
        )
        for row in store.iter_audit()
    )
    return verify_rows(rows, trusted_heads=trusted_heads)
