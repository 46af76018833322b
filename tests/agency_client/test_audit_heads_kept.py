"""The audit heads agency-client status keeps, and what it warns of."""

from __future__ import annotations

import pytest

from agency_client._audit_heads import kept_audit_heads, remember_audit_head
from linkage.v1 import common_pb2

pytestmark = pytest.mark.unit


class _Meta:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get_meta(self, name: str) -> str | None:
        return self.values.get(name)

    def set_meta(self, name: str, value: str) -> None:
        self.values[name] = value


def _head(sequence: int, fill: int) -> common_pb2.AuditHead:
    return common_pb2.AuditHead(sequence=sequence, entry_hash=bytes([fill]) * 32)


def test_an_entry_seen_again_with_another_hash_warns() -> None:
    """The matcher reporting an entry this client saw with another hash is a re-sealed
    chain: the client says so at once (and keeps both for audit verify --trusted-head)."""
    state = _Meta()
    assert remember_audit_head(state, _head(5, 1)) is None
    assert remember_audit_head(state, _head(5, 1)) is None  # the same head: nothing
    assert remember_audit_head(state, _head(9, 2)) is None
    warning = remember_audit_head(state, _head(9, 3))
    assert warning is not None
    assert "entry 9" in warning
    assert "another hash" in warning
    assert [(h.sequence, h.entry_hash[0]) for h in kept_audit_heads(state)] == [
        (5, 1),
        (9, 2),
        (9, 3),
    ]


def test_a_lower_head_warns_that_entries_were_deleted() -> None:
    state = _Meta()
    assert remember_audit_head(state, _head(9, 2)) is None
    warning = remember_audit_head(state, _head(4, 7))
    assert warning is not None
    assert "entries were deleted" in warning
