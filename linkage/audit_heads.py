"""Audit heads kept outside the matcher: the file format both sides share.

Whoever holds the matcher's database can rewrite its audit log and re-seal the hash
chain from any entry to the end; the chain alone cannot show it. A head (the last
entry's sequence number and hash) copied elsewhere can: a chain re-sealed from an entry
at or before that head no longer carries that hash at that sequence, and a chain cut
short no longer reaches it. Agency clients keep the heads the matcher reports to them
(``agency-client status`` records each, ``agency-client audit-heads`` writes them out),
the operator can publish them (``linkage-admin audit head``), and ``linkage-admin audit
verify --trusted-head FILE`` checks the chain still contains every one.

A heads file holds one JSON object per line::

    {"entry_hash":"5f1c...","format":"coresponder-audit-head/v1","sequence":1234}

Blank lines and lines starting with ``#`` are ignored. Every problem is named by file
and line, never by a line's content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from linkage.errors import InvalidInputError, Problem

__all__ = ["AUDIT_HEAD_FORMAT", "AuditHead", "format_audit_head", "parse_audit_heads"]

AUDIT_HEAD_FORMAT: Final = "coresponder-audit-head/v1"
_HEX_HASH: Final = re.compile(r"[0-9a-f]{64}")
#: The largest sequence number the store holds (a signed 64-bit column).
_MAX_SEQUENCE: Final = 2**63 - 1


@dataclass(frozen=True, slots=True, order=True)
class AuditHead:
    """The last audit entry's sequence number and SHA-256 chain hash at some moment."""

    sequence: int
    entry_hash: bytes

    def __post_init__(self) -> None:
        if isinstance(self.sequence, bool) or not isinstance(self.sequence, int):
            raise InvalidInputError("audit head: sequence must be an integer")
        if not 1 <= self.sequence <= _MAX_SEQUENCE:
            raise InvalidInputError(f"audit head: sequence must be in [1, {_MAX_SEQUENCE}]")
        if not isinstance(self.entry_hash, bytes) or len(self.entry_hash) != 32:
            raise InvalidInputError("audit head: entry_hash must be 32 bytes")


def format_audit_head(head: AuditHead) -> str:
    """One line of a heads file (no newline)."""
    return json.dumps(
        {
            "entry_hash": head.entry_hash.hex(),
            "format": AUDIT_HEAD_FORMAT,
            "sequence": head.sequence,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def parse_audit_heads(lines: Iterable[str], source: str) -> list[AuditHead]:
    """The heads of a heads file's lines, in file order; InvalidInputError naming every
    bad line (``source`` line N) otherwise, and when the file holds no head."""
    heads: list[AuditHead] = []
    problems: list[Problem] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{source} line {number}"
        try:
            document = json.loads(text)
        except ValueError:
            problems.append(Problem(where, "is not a JSON object"))
            continue
        if not isinstance(document, dict) or set(document) != {
            "entry_hash",
            "format",
            "sequence",
        }:
            problems.append(Problem(where, "must hold exactly entry_hash, format and sequence"))
            continue
        if document["format"] != AUDIT_HEAD_FORMAT:
            problems.append(Problem(f"{where}: format", f"must be {AUDIT_HEAD_FORMAT}"))
            continue
        sequence, entry_hash = document["sequence"], document["entry_hash"]
        if type(sequence) is not int or not 1 <= sequence <= _MAX_SEQUENCE:
            problems.append(Problem(f"{where}: sequence", "must be a positive integer"))
            continue
        if not isinstance(entry_hash, str) or not _HEX_HASH.fullmatch(entry_hash):
            problems.append(Problem(f"{where}: entry_hash", "must be 64 lower-case hex characters"))
            continue
        heads.append(AuditHead(sequence, bytes.fromhex(entry_hash)))
    if problems:
        raise InvalidInputError(f"{source} is not a file of audit heads", problems=problems[:20])
    if not heads:
        raise InvalidInputError(f"{source} holds no audit head")
    return heads
