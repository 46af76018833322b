"""The embedded default store: SQLite in WAL mode.

Durability: ``synchronous=FULL``, so a transaction is on disk when
:meth:`SqliteLinkStore.write` returns. Writers are serialised by a process
lock and by ``BEGIN IMMEDIATE``; readers use their own per-thread connections
and see committed data only (WAL snapshot isolation). The write transaction is
:mod:`linkage.store._sqlite_write`, the schema :mod:`linkage.store._sqlite_schema`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from linkage.errors import ConfigError, StorageError
from linkage.store._card_proposals import CardProposalReads
from linkage.store._epochs import EpochReads
from linkage.store._interface import GraphReads, LinkStore, WriteTransaction
from linkage.store._migrate import migrate
from linkage.store._model import (
    AgencyCounts,
    AgencyRow,
    AuditRow,
    DisclosureRow,
    EdgeRow,
    EventRecord,
    EventRow,
    IndexChange,
    IndexRecord,
    LinkageRunRow,
    LinkMember,
    OutcomeReleaseRow,
    RecordEventRow,
    RecordListing,
)
from linkage.store._outcome_rows import (
    EVENT_RECORD_COLUMNS,
    RECORD_EVENT_COLUMNS,
    RELEASE_COLUMNS,
    event_record,
    outcome_release,
    record_event,
)
from linkage.store._rows import (
    AGENCY_COLUMNS,
    AUDIT_COLUMNS,
    DISCLOSURE_COLUMNS,
    EVENT_COLUMNS,
    MEMBER_COLUMNS,
    RUN_COLUMNS,
    agency_counts,
    agency_row,
    audit_row,
    disclosure,
    event_row,
    link_member,
    linkage_run,
    record_listing,
)
from linkage.store._sqlite_files import prepare_private_database
from linkage.store._sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from linkage.store._sqlite_write import (
    SqliteGraphSnapshot,
    SqliteWriteTransaction,
    chunks,
    qmarks,
    read_index_changes,
    read_node_links,
)

__all__ = ["SCHEMA_VERSION", "SqliteLinkStore"]


#: The oldest SQLite the store's statements run on (``RETURNING`` came in 3.35).
MIN_SQLITE_VERSION = (3, 35, 0)


class SqliteLinkStore(EpochReads, CardProposalReads, LinkStore):
    """A link index in one SQLite database file (WAL mode)."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise ConfigError(
                f"the SQLite store needs SQLite {'.'.join(map(str, MIN_SQLITE_VERSION))} or "
                f"newer (INSERT ... RETURNING); this Python links SQLite "
                f"{sqlite3.sqlite_version}: use a newer Python build, or the PostgreSQL store"
            )
        prepare_private_database(Path(path))  # 0700 folder, 0600 files, checked at start
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._closed = False
        self._all_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        try:
            self._migrate()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the SQLite store at {self._path}: {exc}") from exc

    # -- connections ----------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        with self._conns_lock:
            self._all_conns.append(conn)
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError("the store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _migrate(self) -> None:
        conn = self._conn()

        def fetch_one(sql: str, params: tuple[object, ...]) -> sqlite3.Row | None:
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
            return row

        def run_script(script: str) -> None:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)

        conn.execute("BEGIN IMMEDIATE")
        try:
            migrate(fetch_one, run_script, MIGRATIONS, where=self._path, placeholder="?")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self) -> Iterator[WriteTransaction]:
        with self._write_lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageError(f"cannot start a write transaction: {exc}") from exc
            try:
                yield SqliteWriteTransaction(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StorageError(f"cannot commit: {exc}") from exc

    @contextmanager
    def graph_snapshot(self) -> Iterator[GraphReads]:
        conn = self._conn()
        if _in_transaction(conn):
            raise StorageError("a graph snapshot cannot be taken inside a transaction")
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot start a read transaction: {exc}") from exc
        try:
            yield SqliteGraphSnapshot(conn)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read a snapshot of the link graph: {exc}") from exc
        finally:
            if _in_transaction(conn):  # SQLite ends it by itself after some errors
                conn.execute("ROLLBACK")

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            for conn in self._all_conns:
                conn.close()
            self._all_conns.clear()

    def refresh_statistics(self) -> None:
        """Nothing to do: without ``ANALYZE`` statistics SQLite's planner picks indexes by
        fixed rules, and every read of a lookup is a key or indexed-column lookup, whatever
        the tables' sizes."""

    def _epoch_read(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        return list(self._rows(sql, params))

    def _epoch_stream(self, sql: str, params: Sequence[object]) -> Iterator[Sequence[Any]]:
        yield from self._conn().execute(sql, params)

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = self._conn().execute(sql, params).fetchall()
        return rows

    # -- agencies -------------------------------------------------------------
    def get_agency(self, agency_id: str) -> AgencyRow | None:
        rows = self._rows(AGENCY_COLUMNS + "FROM agencies WHERE agency_id = ?", (agency_id,))
        return agency_row(rows[0]) if rows else None

    def list_agencies(self, after_id: str = "", limit: int = 1000) -> list[AgencyRow]:
        rows = self._rows(
            AGENCY_COLUMNS + "FROM agencies WHERE agency_id > ? ORDER BY agency_id LIMIT ?",
            (after_id, limit),
        )
        return [agency_row(r) for r in rows]

    # -- index ----------------------------------------------------------------
    def iter_index_records(self, key_epoch: int, schema_fingerprint: str) -> Iterator[IndexRecord]:
        cur = self._conn().execute(
            "SELECT r.node_id, a.agency_no, r.clk FROM records r "
            "JOIN agencies a ON a.agency_id = r.agency_id "
            "WHERE r.key_epoch = ? AND r.schema_fingerprint = ? AND r.linkable = 1 "
            "ORDER BY r.node_id",
            (key_epoch, schema_fingerprint),
        )
        for node_id, agency_no, clk in cur:
            yield IndexRecord(node_id, agency_no, bytes(clk))

    def count_index_records(self, key_epoch: int, schema_fingerprint: str) -> int:
        row = self._conn().execute(
            "SELECT COUNT(*) FROM records "
            "WHERE key_epoch = ? AND schema_fingerprint = ? AND linkable = 1",
            (key_epoch, schema_fingerprint),
        )
        return int(row.fetchone()[0])

    def last_index_change(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(sequence), 0) FROM index_changes")
        return int(row.fetchone()[0])

    def read_index_changes_since(self, sequence: int) -> list[IndexChange]:
        return read_index_changes(self._conn(), sequence)

    def iter_edges(self) -> Iterator[EdgeRow]:
        for a, b, s in self._conn().execute(
            "SELECT node_a, node_b, score FROM edges ORDER BY node_a, node_b"
        ):
            yield EdgeRow(a, b, s)

    def iter_node_links(self) -> Iterator[tuple[int, int]]:
        yield from self._conn().execute(
            "SELECT node_id, link_id FROM records WHERE link_id IS NOT NULL ORDER BY node_id"
        )

    def read_node_links(self, node_ids: Sequence[int]) -> dict[int, int]:
        return read_node_links(self._conn(), node_ids)

    def link_members(self, link_ids: Sequence[int]) -> list[LinkMember]:
        out: list[LinkMember] = []
        for chunk in chunks(sorted(set(link_ids))):
            rows = self._rows(
                MEMBER_COLUMNS + f"FROM records WHERE link_id IN ({qmarks(len(chunk))}) "
                "ORDER BY link_id, node_id",
                chunk,
            )
            out.extend(link_member(r) for r in rows)
        return out

    # -- listings -------------------------------------------------------------
    def list_records(self, agency_id: str, after_key: bytes, limit: int) -> list[RecordListing]:
        rows = self._rows(
            "SELECT r.record_key, r.consent, r.update_time_us, "
            "(SELECT COUNT(*) FROM records o WHERE o.link_id = r.link_id) > 1 AS linked "
            "FROM records r WHERE r.agency_id = ? AND r.record_key > ? "
            "ORDER BY r.record_key LIMIT ?",
            (agency_id, after_key, limit),
        )
        return [record_listing(r) for r in rows]

    def agency_counts(self) -> list[AgencyCounts]:
        linked_links = (
            "SELECT link_id FROM records WHERE link_id IS NOT NULL "
            "GROUP BY link_id HAVING COUNT(*) > 1"
        )
        rows = self._rows(
            "SELECT a.agency_id, "
            "(SELECT COUNT(*) FROM records r WHERE r.agency_id = a.agency_id) AS n, "
            "(SELECT COUNT(*) FROM records r WHERE r.agency_id = a.agency_id "
            f" AND r.link_id IN ({linked_links})) AS linked, "
            "(SELECT COUNT(*) FROM batches b WHERE b.agency_id = a.agency_id) AS batches, "
            "(SELECT b.batch_id FROM batches b WHERE b.agency_id = a.agency_id "
            " ORDER BY b.commit_time_us DESC, b.rowid DESC LIMIT 1) AS last_batch, "
            "(SELECT MAX(b.commit_time_us) FROM batches b WHERE b.agency_id = a.agency_id) "
            " AS last_time "
            "FROM agencies a ORDER BY a.agency_id"
        )
        return [agency_counts(r) for r in rows]

    def link_count(self) -> int:
        rows = self._rows(
            "SELECT COUNT(*) FROM (SELECT link_id FROM records WHERE link_id IS NOT NULL "
            "GROUP BY link_id HAVING COUNT(*) > 1)"
        )
        return int(rows[0][0])

    def list_events(self, after_sequence: int, limit: int) -> list[EventRow]:
        rows = self._rows(
            EVENT_COLUMNS + "FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?",
            (after_sequence, limit),
        )
        return [event_row(r, json.loads) for r in rows]

    def last_event_sequence(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(sequence), 0) FROM events").fetchone()
        return int(row[0])

    def iter_audit(self) -> Iterator[AuditRow]:
        for row in self._conn().execute(AUDIT_COLUMNS + "FROM audit_log ORDER BY sequence"):
            yield audit_row(row, json.loads)

    def read_last_audit(self) -> AuditRow | None:
        # a plain read: in WAL mode it sees the last commit while a writer works
        rows = self._rows(AUDIT_COLUMNS + "FROM audit_log ORDER BY sequence DESC LIMIT 1")
        return audit_row(rows[0], json.loads) if rows else None

    def list_disclosures(
        self, agency_id: str, before_id: int | None, limit: int
    ) -> list[tuple[int, DisclosureRow]]:
        rows = self._rows(
            DISCLOSURE_COLUMNS + "FROM disclosures WHERE agency_id = ? AND disclosure_id < ? "
            "ORDER BY disclosure_id DESC LIMIT ?",
            (agency_id, before_id if before_id is not None else 2**62, limit),
        )
        return [disclosure(r) for r in rows]

    def list_linkage_runs(self, limit: int) -> list[LinkageRunRow]:
        rows = self._rows(RUN_COLUMNS + "FROM linkage_runs ORDER BY run_id DESC LIMIT ?", (limit,))
        return [linkage_run(r) for r in rows]

    # -- programme events and outcome releases ----------------------------------
    def iter_event_records(self) -> Iterator[EventRecord]:
        cur = self._conn().execute(
            EVENT_RECORD_COLUMNS + "FROM records r WHERE r.node_id IN "
            "(SELECT node_id FROM record_events) ORDER BY r.node_id"
        )
        for row in cur:
            yield event_record(row)

    def iter_record_events(self) -> Iterator[RecordEventRow]:
        cur = self._conn().execute(RECORD_EVENT_COLUMNS + "FROM record_events ORDER BY node_id")
        for row in cur:
            yield record_event(row)

    def list_outcome_releases(self, programme: str) -> list[OutcomeReleaseRow]:
        rows = self._rows(
            RELEASE_COLUMNS + "FROM outcome_releases WHERE programme = ? ORDER BY release_id",
            (programme,),
        )
        return [outcome_release(r) for r in rows]


def _in_transaction(conn: sqlite3.Connection) -> bool:
    """Whether ``conn`` is inside a transaction now (a call, so that a check before a
    block does not narrow the attribute for a check after it)."""
    return conn.in_transaction
