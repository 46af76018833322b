"""``audit_head`` (what ``agency-client status`` shows) reads the last audit entry without
a write transaction: a long write holding SQLite's write lock (an epoch finish at a
million records takes minutes) does not make it wait out the busy timeout."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from linkage.audit_heads import AuditHead
from linkage.service import LinkageService
from linkage.store import SqliteLinkStore

pytestmark = pytest.mark.unit


def test_audit_head_answers_while_another_connection_holds_the_write_lock(
    service: LinkageService, store: SqliteLinkStore, tmp_path: Path
) -> None:
    *_, last = store.iter_audit()
    expected = AuditHead(last.sequence, last.entry_hash)
    assert service.audit_head() == expected
    holder = sqlite3.connect(tmp_path / "index.db", isolation_level=None)
    answers: list[AuditHead | None] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            answers.append(service.audit_head())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    asking = threading.Thread(target=ask, daemon=True)
    try:
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as a long write holds it
        holder.execute("DELETE FROM audit_log")  # uncommitted: never seen
        asking.start()
        asking.join(5)
        answered_while_held = not asking.is_alive()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        asking.join(40)
    assert answered_while_held, "audit_head waited for the write lock"
    assert errors == []
    assert answers == [expected]
