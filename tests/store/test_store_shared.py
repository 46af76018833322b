"""What both engines share: the migration runner and the row mappers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linkage.errors import StorageError
from linkage.store import AuditRow, EventKind, EventRow, SqliteLinkStore
from linkage.store._migrate import migrate
from linkage.store._rows import (
    audit_params,
    audit_row,
    event_params,
    event_row,
    index_change,
    record_listing,
)
from linkage.store._sqlite_schema import SCHEMA_VERSION

pytestmark = pytest.mark.unit

MIGRATIONS = (
    "CREATE TABLE a (x INTEGER); CREATE TABLE b (y INTEGER)",
    "CREATE TABLE c (z INTEGER)",
)


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    opened = sqlite3.connect(":memory:")
    yield opened
    opened.close()


def _migrate(conn: sqlite3.Connection, migrations: tuple[str, ...], log: list[str]) -> None:
    def fetch_one(sql: str, params: tuple[object, ...]) -> Any:
        log.append(sql.split()[0])
        return conn.execute(sql, params).fetchone()

    def run_script(script: str) -> None:
        log.append(f"script {migrations.index(script)}")
        conn.executescript(script)

    migrate(fetch_one, run_script, migrations, where="memory", placeholder="?")


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_fresh_store_gets_every_migration_and_its_version(conn: sqlite3.Connection) -> None:
    log: list[str] = []
    _migrate(conn, MIGRATIONS, log)
    assert log == ["CREATE", "SELECT", "script 0", "script 1", "INSERT"]
    assert _tables(conn) == {"schema_version", "a", "b", "c"}
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


def test_an_older_store_gets_only_the_newer_migrations(conn: sqlite3.Connection) -> None:
    _migrate(conn, MIGRATIONS[:1], [])
    log: list[str] = []
    _migrate(conn, MIGRATIONS, log)
    assert log == ["CREATE", "SELECT", "script 1", "UPDATE"]
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    log.clear()
    _migrate(conn, MIGRATIONS, log)  # current: nothing to do, nothing written
    assert log == ["CREATE", "SELECT"]


def test_a_store_newer_than_the_program_is_refused(conn: sqlite3.Connection) -> None:
    _migrate(conn, MIGRATIONS, [])
    with pytest.raises(StorageError, match="the store at memory has schema version 2, newer"):
        _migrate(conn, MIGRATIONS[:1], [])


def test_a_sqlite_store_opens_at_the_current_version(tmp_path: Path) -> None:
    SqliteLinkStore(tmp_path / "s.db").close()
    with sqlite3.connect(tmp_path / "s.db") as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StorageError, match="newer than this program"):
        SqliteLinkStore(tmp_path / "s.db")


def test_one_mapper_reads_both_engines_list_columns() -> None:
    sqlite_row = (3, 10, "link_merged", "police", "b1", "[1, 2]", "[1]", 0)
    pg_row = (3, 10, "link_merged", "police", "b1", [1, 2], [1], 0)
    assert event_row(sqlite_row, json.loads) == event_row(pg_row)
    assert event_row(pg_row).kind is EventKind.LINK_MERGED
    assert event_row(pg_row).source_links == (1, 2)
    audit = audit_row((1, 5, "op", "lookup", '["links/1"]', "{}", b"p", b"h"), json.loads)
    assert audit.target_ids == ("links/1",)
    assert record_listing((b"k", b"c", 7, 1)).linked is True
    assert index_change((4, 9, 1, memoryview(b"clk"))).clk == b"clk"
    assert index_change((5, 9, 0, None)).clk is None


def test_the_write_side_matches_the_read_side() -> None:
    event = EventRow(EventKind.LINK_SPLIT, 10, "police", "b1", (7,), (7, 9), 0, sequence=3)
    for encode, decode in ((json.dumps, json.loads), (list, tuple)):
        row = (event.sequence, *event_params(event, encode))
        assert event_row(row, decode) == event
    audit = AuditRow(1, 5, "op", "lookup", ("links/1",), "{}", b"p", b"h")
    assert audit_row(audit_params(audit, json.dumps), json.loads) == audit
