"""The audit log's hash chain: canonical entry encoding, chaining and streaming verification.

Encoding of one entry (all integers big-endian, ``lp(x)`` is a 4-byte length
followed by the UTF-8 bytes of ``x``)::

    b"coresponder-audit/v1\\x00" | u64 sequence | i64 entry_time_us
    | lp(actor) | lp(action) | u32 len(target_ids) | lp(target) ... | lp(details_json)

``entry_hash = SHA-256(prev_hash || encoding)``, with ``prev_hash`` 32 bytes
(:data:`GENESIS_HASH`, all zero, before the first entry). Sequences start at
1 and are contiguous. ``details_json`` is canonical JSON (sorted keys, no
spaces, ASCII) of a flat object whose values are strings, integers, booleans,
null or lists of those. Entries must never hold PII, CLKs, pointer
plaintext or keys: actors are principal labels, targets are link IDs, agency
IDs, batch IDs and the like.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from linkage.errors import IntegrityError, InvalidInputError

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditRowTuple",
    "ChainedAuditEntry",
    "DetailValue",
    "VerificationResult",
    "canonical_details_json",
    "chain_hash",
    "encode_entry",
    "seal",
    "verify_chain",
    "verify_rows",
]

GENESIS_HASH = bytes(32)
_DOMAIN = b"coresponder-audit/v1\x00"
_HEAD = struct.Struct(">QqI")
_U32 = struct.Struct(">I")
_ACTION = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_KNOWN_ACTIONS: set[str] = set()  # validated action names (a small vocabulary)
_MAX_U64 = (1 << 64) - 1
_MIN_I64, _MAX_I64 = -(1 << 63), (1 << 63) - 1

Scalar: TypeAlias = str | int | bool | None
DetailValue: TypeAlias = Scalar | list[Scalar] | tuple[Scalar, ...]


def _check_scalar(value: object, where: str) -> None:
    if value is None or isinstance(value, str | bool):
        return
    if isinstance(value, int):
        if not _MIN_I64 <= value <= _MAX_I64:
            raise InvalidInputError(f"{where}: integer out of 64-bit range")
        return
    raise InvalidInputError(f"{where}: must be a string, integer, boolean or null")


def canonical_details_json(details: Mapping[str, DetailValue]) -> str:
    """Canonical JSON for an entry's details (validated: flat, no floats)."""
    if not isinstance(details, Mapping):
        raise InvalidInputError("audit details: must be a mapping")
    for key, value in details.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError("audit details: keys must be non-empty strings")
        if isinstance(value, list | tuple):
            for i, item in enumerate(value):
                _check_scalar(item, f"audit details.{key}[{i}]")
        else:
            _check_scalar(value, f"audit details.{key}")
    return json.dumps(
        {k: list(v) if isinstance(v, tuple) else v for k, v in details.items()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit event. Build new ones with :meth:`new`; stored ones with the constructor.

    ``details_json`` is kept as text so the store can hand back exactly what
    it stored and verification hashes those bytes without re-encoding.
    """

    sequence: int
    entry_time_us: int
    actor: str
    action: str
    target_ids: tuple[str, ...]
    details_json: str

    def __post_init__(self) -> None:
        seq = self.sequence
        if type(seq) is not int or not 1 <= seq <= _MAX_U64:
            raise InvalidInputError("audit entry: sequence must be an integer from 1")
        ts = self.entry_time_us
        if type(ts) is not int or not _MIN_I64 <= ts <= _MAX_I64:
            raise InvalidInputError("audit entry: entry_time_us must be a 64-bit integer")
        if type(self.actor) is not str or not self.actor:
            raise InvalidInputError("audit entry: actor must be a non-empty string")
        if type(self.action) is not str or _ACTION.fullmatch(self.action) is None:
            raise InvalidInputError("audit entry: action must match [a-z][a-z0-9_.]{0,63}")
        if type(self.target_ids) is not tuple or not all(type(t) is str for t in self.target_ids):
            raise InvalidInputError("audit entry: target_ids must be a tuple of strings")
        if type(self.details_json) is not str:
            raise InvalidInputError("audit entry: details_json must be a string")

    @classmethod
    def new(
        cls,
        *,
        sequence: int,
        entry_time_us: int,
        actor: str,
        action: str,
        target_ids: Iterable[str] = (),
        details: Mapping[str, DetailValue] | None = None,
    ) -> AuditEntry:
        """A new entry with canonical details."""
        return cls(
            sequence=sequence,
            entry_time_us=entry_time_us,
            actor=actor,
            action=action,
            target_ids=tuple(target_ids),
            details_json=canonical_details_json(details or {}),
        )

    @property
    def details(self) -> dict[str, Any]:
        """The details, parsed."""
        try:
            value = json.loads(self.details_json)
        except ValueError:
            raise IntegrityError(f"audit entry {self.sequence}: details are not JSON") from None
        if not isinstance(value, dict):
            raise IntegrityError(f"audit entry {self.sequence}: details are not a JSON object")
        return value


def encode_entry(entry: AuditEntry) -> bytes:
    """The canonical, length-prefixed encoding that the chain hashes."""
    return _encode(
        entry.sequence,
        entry.entry_time_us,
        entry.actor,
        entry.action,
        entry.target_ids,
        entry.details_json,
    )


def _encode(
    sequence: int,
    entry_time_us: int,
    actor: str,
    action: str,
    target_ids: Sequence[str],
    details_json: str,
) -> bytes:
    pack = _U32.pack
    actor_raw = actor.encode("utf-8")
    action_raw = action.encode("utf-8")
    details_raw = details_json.encode("utf-8")
    targets = b""
    if target_ids:
        parts: list[bytes] = []
        for target in target_ids:
            raw = target.encode("utf-8")
            parts.append(pack(len(raw)))
            parts.append(raw)
        targets = b"".join(parts)
    return b"".join(
        (
            _DOMAIN,
            _HEAD.pack(sequence, entry_time_us, len(actor_raw)),
            actor_raw,
            pack(len(action_raw)),
            action_raw,
            pack(len(target_ids)),
            targets,
            pack(len(details_raw)),
            details_raw,
        )
    )


def chain_hash(prev_hash: bytes, entry: AuditEntry) -> bytes:
    """SHA-256 over the previous entry's hash and this entry's canonical encoding."""
    if len(prev_hash) != 32:
        raise InvalidInputError("prev_hash: must be 32 bytes")
    return hashlib.sha256(prev_hash + encode_entry(entry)).digest()


@dataclass(frozen=True, slots=True)
class ChainedAuditEntry:
    """An entry as stored: its content, the hash it chains from and its own hash.

    ``prev_hash`` may be None for stores that keep only ``entry_hash``; the
    verifier then cannot tell a rewritten entry from a broken link as finely.
    """

    entry: AuditEntry
    prev_hash: bytes | None
    entry_hash: bytes


def seal(entry: AuditEntry, prev: ChainedAuditEntry | None) -> ChainedAuditEntry:
    """Chain ``entry`` after ``prev`` (None: the first entry), checking its sequence."""
    prev_hash = GENESIS_HASH if prev is None else prev.entry_hash
    expected = 1 if prev is None else prev.entry.sequence + 1
    if entry.sequence != expected:
        raise InvalidInputError(f"audit entry: sequence must be {expected}")
    return ChainedAuditEntry(entry, prev_hash, chain_hash(prev_hash, entry))


@dataclass(frozen=True, slots=True)
class VerificationResult:
    """The outcome of :func:`verify_chain`.

    ``first_bad_sequence`` names the earliest entry found altered, missing,
    inserted or out of place (None when ``ok``); ``head_hash`` is the last
    verified hash, which callers can publish as a checkpoint.
    """

    ok: bool
    entries_checked: int
    last_sequence: int
    head_hash: bytes
    first_bad_sequence: int | None = None
    reason: str | None = None

    def raise_for_failure(self) -> None:
        """Raise IntegrityError naming the first bad entry, if any."""
        if not self.ok:
            raise IntegrityError(
                f"audit chain broken at sequence {self.first_bad_sequence}: {self.reason}"
            )


#: One stored row, as a store can yield it straight from its cursor:
#: ``(sequence, entry_time_us, actor, action, target_ids, details_json, prev_hash, entry_hash)``.
AuditRowTuple: TypeAlias = tuple[int, int, str, str, Sequence[str], str, bytes | None, bytes]


def verify_chain(
    entries: Iterable[ChainedAuditEntry],
    *,
    start_sequence: int = 1,
    start_hash: bytes = GENESIS_HASH,
    trusted_head: tuple[int, bytes] | None = None,
    trusted_heads: Iterable[tuple[int, bytes]] = (),
) -> VerificationResult:
    """Verify a stream of stored entries in one pass (constant memory).

    Detects altered content or hashes, deleted, inserted, duplicated and
    reordered entries, and names the first bad sequence number. A chain can
    be recomputed wholesale by whoever can write to the store; to catch that
    (or a truncated tail), pass ``trusted_head=(sequence, hash)`` from a
    checkpoint kept elsewhere; the entry at that sequence must carry exactly
    that hash and the log must reach it. ``trusted_heads`` are more such checkpoints
    (heads agency clients kept, for example); each must hold. ``start_sequence``/
    ``start_hash`` verify a segment that starts after a trusted checkpoint.
    """
    rows = (
        (
            item.entry.sequence,
            item.entry.entry_time_us,
            item.entry.actor,
            item.entry.action,
            item.entry.target_ids,
            item.entry.details_json,
            item.prev_hash,
            item.entry_hash,
        )
        for item in entries
    )
    return verify_rows(
        rows,
        start_sequence=start_sequence,
        start_hash=start_hash,
        trusted_head=trusted_head,
        trusted_heads=trusted_heads,
    )


def verify_rows(
    rows: Iterable[AuditRowTuple],
    *,
    start_sequence: int = 1,
    start_hash: bytes = GENESIS_HASH,
    trusted_head: tuple[int, bytes] | None = None,
    trusted_heads: Iterable[tuple[int, bytes]] = (),
) -> VerificationResult:
    """:func:`verify_chain` over plain tuples (the fast path for a store's cursor).

    A row whose fields have the wrong types is reported as the first bad entry.
    """
    if len(start_hash) != 32:
        raise InvalidInputError("start_hash: must be 32 bytes")
    heads: dict[int, bytes] = {}
    for seq, digest in [*trusted_heads, *([trusted_head] if trusted_head is not None else [])]:
        if heads.setdefault(seq, digest) != digest:
            return VerificationResult(
                False,
                0,
                start_sequence - 1,
                start_hash,
                seq,
                "the trusted heads name two different hashes for this entry (the chain was "
                "re-sealed between the moments they were taken)",
            )
    head_seq = max(heads, default=-1)
    expected = start_sequence
    prev = start_hash
    checked = 0
    sha256 = hashlib.sha256
    encode = _encode

    def fail(sequence: int, reason: str) -> VerificationResult:
        return VerificationResult(False, checked, expected - 1, prev, sequence, reason)

    for seq, time_us, actor, action, targets, details, stored_prev, stored_hash in rows:
        if seq != expected:
            if type(seq) is not int:
                return fail(expected, "malformed entry (sequence is not an integer)")
            if seq > expected:
                gap = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
                return fail(expected, f"entries missing: {gap} deleted (next present is {seq})")
            return fail(seq, f"entry out of order or duplicated (expected {expected})")
        try:
            encoded = encode(seq, time_us, actor, action, targets, details)
        except (AttributeError, TypeError, struct.error, UnicodeError):
            return fail(seq, "malformed entry (a field has the wrong type or range)")
        computed = sha256(prev + encoded).digest()
        if computed != stored_hash:
            if (
                stored_prev is not None
                and stored_prev != prev
                and sha256(stored_prev + encoded).digest() == stored_hash
            ):
                # This entry is intact but chains from a different predecessor.
                if checked == 0:
                    return fail(seq, "does not chain from the expected starting hash")
                return fail(
                    seq - 1,
                    f"entry rewritten with a recomputed hash (entry {seq} still chains "
                    "to its original), or entries before it were replaced",
                )
            return fail(seq, "content does not match its stored hash (entry altered)")
        if stored_prev is not None and stored_prev != prev:
            return fail(seq, "stored prev_hash does not match the previous entry's hash")
        if heads and seq in heads and computed != heads[seq]:
            return fail(seq, "does not match the trusted checkpoint (chain rewritten up to here)")
        prev = computed
        checked += 1
        expected += 1

    last = expected - 1
    if last < head_seq:
        return VerificationResult(
            False,
            checked,
            last,
            prev,
            last + 1,
            f"log ends at {last} but the trusted checkpoint is at {head_seq} (tail deleted)",
        )
    return VerificationResult(True, checked, last, prev)
