"""The matcher's audit heads this agency has seen, kept in the client's state.

Each ``agency-client status`` asks the matcher for its audit head (the last audit entry's
sequence number and hash) and keeps it here, outside the matcher's database.
``agency-client audit-heads`` writes them as a trusted-heads file
(:mod:`linkage.audit_heads`) for ``linkage-admin audit verify --trusted-head``: a log
re-sealed by whoever holds the matcher's database no longer contains them. A head whose
sequence is lower than one kept before is itself a sign the log was cut short; the
client says so.
"""

from __future__ import annotations

from typing import Final, Protocol

from linkage.audit_heads import AuditHead, format_audit_head, parse_audit_heads
from linkage.v1 import common_pb2

__all__ = ["carry_audit_heads", "kept_audit_heads", "remember_audit_head"]

_META: Final = "audit_heads"
#: The most heads kept (the oldest are dropped; the latest head catches any re-seal
#: before it, so older ones only add redundancy).
_KEEP: Final = 1000


class _Meta(Protocol):
    def get_meta(self, name: str) -> str | None: ...

    def set_meta(self, name: str, value: str) -> None: ...


def kept_audit_heads(state: _Meta) -> list[AuditHead]:
    """The heads kept, oldest first."""
    text = state.get_meta(_META)
    return [] if not text else parse_audit_heads(text.splitlines(), "the client state")


def remember_audit_head(state: _Meta, message: common_pb2.AuditHead) -> str | None:
    """Keep the head the matcher reported (nothing for an empty log); returns a warning
    when its sequence is lower than a head kept before, or a head kept before has that
    sequence with another hash."""
    if message.sequence == 0:
        return None
    head = AuditHead(message.sequence, bytes(message.entry_hash))
    heads = kept_audit_heads(state)
    warning = None
    latest = max(heads, default=None)
    if latest is not None and head.sequence < latest.sequence:
        warning = (
            f"the matcher's audit log ends at entry {head.sequence}, but this client saw it "
            f"reach entry {latest.sequence}: entries were deleted; tell the operator and keep "
            "the output of agency-client audit-heads"
        )
    elif any(h.sequence == head.sequence and h != head for h in heads):
        warning = (
            f"the matcher's audit log entry {head.sequence} has another hash than when this "
            "client saw it: the log was rewritten and re-sealed; tell the operator and keep "
            "the output of agency-client audit-heads"
        )
    if head not in heads:
        heads = [*heads, head][-_KEEP:]
        state.set_meta(_META, "\n".join(format_audit_head(h) for h in heads))
    return warning


def carry_audit_heads(source: _Meta, target: _Meta) -> None:
    """Keep ``source``'s heads in ``target`` too, before those ``target`` holds (a state
    that takes another's place: a key-epoch rotation's adopted upload state)."""
    carried = kept_audit_heads(source)
    if not carried:
        return
    heads = [*carried, *(h for h in kept_audit_heads(target) if h not in carried)][-_KEEP:]
    target.set_meta(_META, "\n".join(format_audit_head(h) for h in heads))
