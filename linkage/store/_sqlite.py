"""The embedded default store: SQLite in WAL mode.

Durability: ``synchronous=FULL``, so a transaction is on disk when
:meth:`SqliteLinkStore.write` returns. Writers are serialised by a process
lock and by ``BEGIN IMMEDIATE``; readers use their own per-thread connections
and see committed data only (WAL snapshot isolation).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from linkage.errors import AlreadyExistsError, NotFoundError, StorageError
from linkage.store._interface import LinkStore, WriteTransaction
from linkage.store._model import (
    AgencyCounts,
    AgencyRow,
    AuditRow,
    BatchRow,
    DisclosureRow,
    EdgeRow,
    EventKind,
    EventRow,
    IndexChange,
    IndexRecord,
    LinkageRunRow,
    LinkMember,
    NewRecord,
    RecordListing,
    StoredRecordRef,
)

__all__ = ["SCHEMA_VERSION", "SqliteLinkStore"]

# Each migration moves the schema from version i to i + 1. Never edit a
# published migration; append a new one.
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE agencies (
        agency_id      TEXT PRIMARY KEY,
        agency_no      INTEGER NOT NULL UNIQUE,
        display_name   TEXT NOT NULL,
        contact_card   BLOB NOT NULL,
        create_time_us INTEGER NOT NULL,
        update_time_us INTEGER NOT NULL
    );
    CREATE TABLE links (
        link_id        INTEGER PRIMARY KEY AUTOINCREMENT,
        create_time_us INTEGER NOT NULL,
        update_time_us INTEGER NOT NULL
    );
    CREATE TABLE records (
        node_id            INTEGER PRIMARY KEY AUTOINCREMENT,
        agency_id          TEXT NOT NULL REFERENCES agencies(agency_id),
        record_key         BLOB NOT NULL,
        key_epoch          INTEGER NOT NULL,
        schema_fingerprint TEXT NOT NULL,
        clk                BLOB NOT NULL,
        pointer_token      BLOB NOT NULL,
        consent            BLOB NOT NULL,
        linkable           INTEGER NOT NULL,
        content_digest     BLOB NOT NULL,
        link_id            INTEGER REFERENCES links(link_id),
        update_time_us     INTEGER NOT NULL,
        UNIQUE (agency_id, record_key)
    );
    CREATE INDEX records_by_link ON records(link_id);
    CREATE INDEX records_by_space ON records(key_epoch, schema_fingerprint, node_id);
    CREATE TABLE edges (
        node_a INTEGER NOT NULL,
        node_b INTEGER NOT NULL,
        score  REAL NOT NULL,
        PRIMARY KEY (node_a, node_b)
    ) WITHOUT ROWID;
    CREATE INDEX edges_by_b ON edges(node_b);
    CREATE TABLE batches (
        agency_id      TEXT NOT NULL REFERENCES agencies(agency_id),
        batch_id       TEXT NOT NULL,
        request_digest BLOB NOT NULL,
        response       BLOB NOT NULL,
        commit_time_us INTEGER NOT NULL,
        PRIMARY KEY (agency_id, batch_id)
    );
    CREATE INDEX batches_by_time ON batches(agency_id, commit_time_us);
    CREATE TABLE events (
        sequence      INTEGER PRIMARY KEY AUTOINCREMENT,
        event_time_us INTEGER NOT NULL,
        kind          TEXT NOT NULL,
        agency_id     TEXT,
        batch_id      TEXT,
        source_links  TEXT NOT NULL,
        target_links  TEXT NOT NULL,
        record_count  INTEGER NOT NULL
    );
    CREATE TABLE linkage_runs (
        run_id               INTEGER PRIMARY KEY AUTOINCREMENT,
        start_time_us        INTEGER NOT NULL,
        end_time_us          INTEGER NOT NULL,
        record_count         INTEGER NOT NULL,
        candidate_pair_count INTEGER NOT NULL,
        link_count           INTEGER NOT NULL,
        changed_link_count   INTEGER NOT NULL,
        threshold            REAL NOT NULL,
        reason               TEXT NOT NULL,
        model                TEXT NOT NULL
    );
    CREATE TABLE audit_log (
        sequence      INTEGER PRIMARY KEY,
        entry_time_us INTEGER NOT NULL,
        actor         TEXT NOT NULL,
        action        TEXT NOT NULL,
        target_ids    TEXT NOT NULL,
        details       TEXT NOT NULL,
        prev_hash     BLOB NOT NULL,
        entry_hash    BLOB NOT NULL
    );
    CREATE TABLE disclosures (
        disclosure_id    INTEGER PRIMARY KEY AUTOINCREMENT,
        agency_id        TEXT NOT NULL,
        record_key       BLOB NOT NULL,
        link_id          INTEGER NOT NULL,
        recipient        TEXT NOT NULL,
        recipient_agency TEXT NOT NULL,
        purpose          TEXT NOT NULL,
        disclose_time_us INTEGER NOT NULL,
        audit_sequence   INTEGER NOT NULL
    );
    CREATE INDEX disclosures_by_agency ON disclosures(agency_id, disclosure_id);
    """,
    """
    CREATE TABLE index_changes (
        sequence INTEGER PRIMARY KEY,
        node_id  INTEGER NOT NULL,
        added    INTEGER NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)
_REF_COLUMNS = (
    "SELECT node_id, record_key, clk, pointer_token, content_digest, consent, linkable, link_id "
)
_CHUNK = 500  # host parameters per IN (...) list, well under SQLite's limit


def _chunks(items: Sequence[int] | Sequence[bytes]) -> Iterator[Sequence[int] | Sequence[bytes]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _agency(row: sqlite3.Row) -> AgencyRow:
    return AgencyRow(
        agency_id=row["agency_id"],
        agency_no=row["agency_no"],
        display_name=row["display_name"],
        contact_card=bytes(row["contact_card"]),
        create_time_us=row["create_time_us"],
        update_time_us=row["update_time_us"],
    )


def _ref(row: sqlite3.Row) -> StoredRecordRef:
    return StoredRecordRef(
        node_id=row["node_id"],
        record_key=bytes(row["record_key"]),
        clk=bytes(row["clk"]),
        pointer_token=bytes(row["pointer_token"]),
        content_digest=bytes(row["content_digest"]),
        consent=bytes(row["consent"]),
        linkable=bool(row["linkable"]),
        link_id=row["link_id"],
    )


def _event(row: sqlite3.Row) -> EventRow:
    return EventRow(
        kind=EventKind(row["kind"]),
        event_time_us=row["event_time_us"],
        agency_id=row["agency_id"],
        batch_id=row["batch_id"],
        source_links=tuple(json.loads(row["source_links"])),
        target_links=tuple(json.loads(row["target_links"])),
        record_count=row["record_count"],
        sequence=row["sequence"],
    )


def _audit(row: sqlite3.Row) -> AuditRow:
    return AuditRow(
        sequence=row["sequence"],
        entry_time_us=row["entry_time_us"],
        actor=row["actor"],
        action=row["action"],
        target_ids=tuple(json.loads(row["target_ids"])),
        details=row["details"],
        prev_hash=bytes(row["prev_hash"]),
        entry_hash=bytes(row["entry_hash"]),
    )


class _SqliteWriteTransaction(WriteTransaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _one(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    # -- agencies -------------------------------------------------------------
    def insert_agency(
        self, agency_id: str, display_name: str, contact_card: bytes, now_us: int
    ) -> AgencyRow:
        if self._one("SELECT 1 FROM agencies WHERE agency_id = ?", (agency_id,)):
            raise AlreadyExistsError(f"agency {agency_id!r} is already enrolled")
        row = self._one("SELECT COALESCE(MAX(agency_no), 0) + 1 AS n FROM agencies")
        agency_no = int(row["n"]) if row else 1
        self._conn.execute(
            "INSERT INTO agencies VALUES (?, ?, ?, ?, ?, ?)",
            (agency_id, agency_no, display_name, contact_card, now_us, now_us),
        )
        return AgencyRow(agency_id, agency_no, display_name, contact_card, now_us, now_us)

    def update_agency(
        self, agency_id: str, display_name: str, contact_card: bytes, now_us: int
    ) -> AgencyRow:
        cur = self._conn.execute(
            "UPDATE agencies SET display_name = ?, contact_card = ?, update_time_us = ? "
            "WHERE agency_id = ?",
            (display_name, contact_card, now_us, agency_id),
        )
        if cur.rowcount != 1:
            raise NotFoundError(f"agency {agency_id!r} is not enrolled")
        row = self._one("SELECT * FROM agencies WHERE agency_id = ?", (agency_id,))
        assert row is not None
        return _agency(row)

    # -- batches and records --------------------------------------------------
    def get_batch(self, agency_id: str, batch_id: str) -> BatchRow | None:
        row = self._one(
            "SELECT * FROM batches WHERE agency_id = ? AND batch_id = ?", (agency_id, batch_id)
        )
        if row is None:
            return None
        return BatchRow(
            agency_id=row["agency_id"],
            batch_id=row["batch_id"],
            request_digest=bytes(row["request_digest"]),
            response=bytes(row["response"]),
            commit_time_us=row["commit_time_us"],
        )

    def save_batch(self, batch: BatchRow) -> None:
        self._conn.execute(
            "INSERT INTO batches VALUES (?, ?, ?, ?, ?)",
            (
                batch.agency_id,
                batch.batch_id,
                batch.request_digest,
                batch.response,
                batch.commit_time_us,
            ),
        )

    def insert_record(self, record: NewRecord) -> int:
        cur = self._conn.execute(
            "INSERT INTO records (agency_id, record_key, key_epoch, schema_fingerprint, clk, "
            "pointer_token, consent, linkable, content_digest, link_id, update_time_us) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (
                record.agency_id,
                record.record_key,
                record.key_epoch,
                record.schema_fingerprint,
                record.clk,
                record.pointer_token,
                record.consent,
                int(record.linkable),
                record.content_digest,
                record.update_time_us,
            ),
        )
        node_id = cur.lastrowid
        assert node_id is not None
        return node_id

    def delete_records(self, node_ids: Sequence[int]) -> None:
        for chunk in _chunks(node_ids):
            marks = _marks(len(chunk))
            self._conn.execute(f"DELETE FROM edges WHERE node_a IN ({marks})", chunk)
            self._conn.execute(f"DELETE FROM edges WHERE node_b IN ({marks})", chunk)
            self._conn.execute(f"DELETE FROM records WHERE node_id IN ({marks})", chunk)

    def update_record(
        self,
        node_id: int,
        pointer_token: bytes,
        consent: bytes,
        linkable: bool,
        content_digest: bytes,
        now_us: int,
    ) -> None:
        self._conn.execute(
            "UPDATE records SET pointer_token = ?, consent = ?, linkable = ?, "
            "content_digest = ?, update_time_us = ? WHERE node_id = ?",
            (pointer_token, consent, int(linkable), content_digest, now_us, node_id),
        )

    def detach_nodes(self, node_ids: Sequence[int]) -> None:
        for chunk in _chunks(node_ids):
            marks = _marks(len(chunk))
            self._conn.execute(f"DELETE FROM edges WHERE node_a IN ({marks})", chunk)
            self._conn.execute(f"DELETE FROM edges WHERE node_b IN ({marks})", chunk)
            self._conn.execute(
                f"UPDATE records SET link_id = NULL WHERE node_id IN ({marks})", chunk
            )

    # -- links ----------------------------------------------------------------
    def insert_edges(self, edges: Iterable[EdgeRow]) -> None:
        self._conn.executemany(
            "INSERT INTO edges VALUES (?, ?, ?)",
            ((e.node_a, e.node_b, e.score) for e in edges),
        )

    def delete_all_edges(self) -> None:
        self._conn.execute("DELETE FROM edges")

    def allocate_link_ids(self, count: int, now_us: int) -> list[int]:
        ids = []
        for _ in range(count):
            cur = self._conn.execute(
                "INSERT INTO links (create_time_us, update_time_us) VALUES (?, ?)", (now_us, now_us)
            )
            assert cur.lastrowid is not None
            ids.append(cur.lastrowid)
        return ids

    def assign_links(self, assignments: Iterable[tuple[int, int]], now_us: int) -> None:
        pairs = list(assignments)
        self._conn.executemany(
            "UPDATE records SET link_id = ? WHERE node_id = ?", ((lk, n) for n, lk in pairs)
        )
        touched = sorted({lk for _, lk in pairs})
        for chunk in _chunks(touched):
            self._conn.execute(
                f"UPDATE links SET update_time_us = ? WHERE link_id IN ({_marks(len(chunk))})",
                (now_us, *chunk),
            )

    def delete_links(self, link_ids: Iterable[int]) -> None:
        ids = sorted(set(link_ids))
        for chunk in _chunks(ids):
            marks = _marks(len(chunk))
            row = self._one(
                f"SELECT COUNT(*) AS n FROM records WHERE link_id IN ({marks})",
                chunk,
            )
            if row is not None and row["n"]:
                raise StorageError("refusing to delete links that still have records")
            self._conn.execute(f"DELETE FROM links WHERE link_id IN ({marks})", chunk)

    # -- logs -----------------------------------------------------------------
    def append_events(self, events: Iterable[EventRow]) -> None:
        self._conn.executemany(
            "INSERT INTO events (event_time_us, kind, agency_id, batch_id, source_links, "
            "target_links, record_count) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    e.event_time_us,
                    e.kind.value,
                    e.agency_id,
                    e.batch_id,
                    json.dumps(list(e.source_links)),
                    json.dumps(list(e.target_links)),
                    e.record_count,
                )
                for e in events
            ),
        )

    def save_linkage_run(self, run: LinkageRunRow) -> int:
        cur = self._conn.execute(
            "INSERT INTO linkage_runs (start_time_us, end_time_us, record_count, "
            "candidate_pair_count, link_count, changed_link_count, threshold, reason, model) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.start_time_us,
                run.end_time_us,
                run.record_count,
                run.candidate_pair_count,
                run.link_count,
                run.changed_link_count,
                run.threshold,
                run.reason,
                run.model,
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def last_audit(self) -> AuditRow | None:
        row = self._one("SELECT * FROM audit_log ORDER BY sequence DESC LIMIT 1")
        return None if row is None else _audit(row)

    def append_audit(self, row: AuditRow) -> None:
        last = self.last_audit()
        expected = 1 if last is None else last.sequence + 1
        if row.sequence != expected:
            raise StorageError("audit entries must be appended in sequence")
        self._conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.sequence,
                row.entry_time_us,
                row.actor,
                row.action,
                json.dumps(list(row.target_ids)),
                row.details,
                row.prev_hash,
                row.entry_hash,
            ),
        )

    def insert_disclosures(self, rows: Iterable[DisclosureRow]) -> None:
        self._conn.executemany(
            "INSERT INTO disclosures (agency_id, record_key, link_id, recipient, "
            "recipient_agency, purpose, disclose_time_us, audit_sequence) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    r.agency_id,
                    r.record_key,
                    r.link_id,
                    r.recipient,
                    r.recipient_agency,
                    r.purpose,
                    r.disclose_time_us,
                    r.audit_sequence,
                )
                for r in rows
            ),
        )

    def record_index_changes(self, changes: Iterable[tuple[int, bool]]) -> None:
        rows = list(changes)
        if not rows:
            return
        row = self._one("SELECT COALESCE(MAX(sequence), 0) AS n FROM index_changes")
        first = (int(row["n"]) if row else 0) + 1
        self._conn.executemany(
            "INSERT INTO index_changes VALUES (?, ?, ?)",
            ((first + i, node, int(added)) for i, (node, added) in enumerate(rows)),
        )

    def index_changes_since(self, sequence: int) -> list[IndexChange]:
        return _changes(self._conn, sequence)

    def prune_index_changes(self, keep_last: int) -> None:
        self._conn.execute(
            "DELETE FROM index_changes WHERE sequence <= "
            "(SELECT COALESCE(MAX(sequence), 0) FROM index_changes) - ?",
            (keep_last,),
        )

    # -- reads inside the transaction -----------------------------------------
    def find_records(self, agency_id: str, record_keys: Sequence[bytes]) -> list[StoredRecordRef]:
        found: list[StoredRecordRef] = []
        for chunk in _chunks(record_keys):
            rows = self._conn.execute(
                _REF_COLUMNS
                + f"FROM records WHERE agency_id = ? AND record_key IN ({_marks(len(chunk))})",
                (agency_id, *chunk),
            ).fetchall()
            found.extend(_ref(r) for r in rows)
        return found

    def all_records(self, agency_id: str) -> list[StoredRecordRef]:
        rows = self._conn.execute(
            _REF_COLUMNS + "FROM records WHERE agency_id = ? ORDER BY node_id",
            (agency_id,),
        ).fetchall()
        return [_ref(r) for r in rows]

    def edges_touching(self, node_ids: Sequence[int]) -> list[EdgeRow]:
        seen: dict[tuple[int, int], float] = {}
        for chunk in _chunks(node_ids):
            marks = _marks(len(chunk))
            for column in ("node_a", "node_b"):
                for a, b, s in self._conn.execute(
                    f"SELECT node_a, node_b, score FROM edges WHERE {column} IN ({marks})",
                    chunk,
                ):
                    seen[(a, b)] = s
        return [EdgeRow(a, b, s) for (a, b), s in sorted(seen.items())]

    def node_links(self, node_ids: Sequence[int]) -> dict[int, int]:
        return _node_links(self._conn, node_ids)

    def node_agency_nos(self, node_ids: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for chunk in _chunks(node_ids):
            for node, no in self._conn.execute(
                "SELECT r.node_id, a.agency_no FROM records r JOIN agencies a "
                f"ON a.agency_id = r.agency_id WHERE r.node_id IN ({_marks(len(chunk))})",
                chunk,
            ):
                out[node] = no
        return out


_CHANGES_SINCE = (
    "SELECT c.sequence, c.node_id, c.added, r.clk FROM index_changes c "
    "LEFT JOIN records r ON r.node_id = c.node_id AND c.added = 1 "
    "WHERE c.sequence > ? ORDER BY c.sequence"
)


def _changes(conn: sqlite3.Connection, sequence: int) -> list[IndexChange]:
    return [
        IndexChange(seq, node, bool(added), None if clk is None else bytes(clk))
        for seq, node, added, clk in conn.execute(_CHANGES_SINCE, (sequence,))
    ]


def _node_links(conn: sqlite3.Connection, node_ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in _chunks(node_ids):
        for node, link in conn.execute(
            f"SELECT node_id, link_id FROM records WHERE node_id IN ({_marks(len(chunk))}) "
            "AND link_id IS NOT NULL",
            chunk,
        ):
            out[node] = link
    return out


class SqliteLinkStore(LinkStore):
    """A link index in one SQLite database file (WAL mode)."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"the store at {self._path} has schema version {version}, newer than this "
                    f"program's {SCHEMA_VERSION}; upgrade the program"
                )
            for script in _MIGRATIONS[version:]:
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            else:
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
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
                yield _SqliteWriteTransaction(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StorageError(f"cannot commit: {exc}") from exc

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            for conn in self._all_conns:
                conn.close()
            self._all_conns.clear()

    # -- agencies -------------------------------------------------------------
    def get_agency(self, agency_id: str) -> AgencyRow | None:
        row = (
            self._conn()
            .execute("SELECT * FROM agencies WHERE agency_id = ?", (agency_id,))
            .fetchone()
        )
        return None if row is None else _agency(row)

    def list_agencies(self, after_id: str = "", limit: int = 1000) -> list[AgencyRow]:
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM agencies WHERE agency_id > ? ORDER BY agency_id LIMIT ?",
                (after_id, limit),
            )
            .fetchall()
        )
        return [_agency(r) for r in rows]

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

    def last_index_change(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(sequence), 0) FROM index_changes")
        return int(row.fetchone()[0])

    def read_index_changes_since(self, sequence: int) -> list[IndexChange]:
        return _changes(self._conn(), sequence)

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
        return _node_links(self._conn(), node_ids)

    def link_members(self, link_ids: Sequence[int]) -> list[LinkMember]:
        out: list[LinkMember] = []
        for chunk in _chunks(sorted(set(link_ids))):
            rows = (
                self._conn()
                .execute(
                    "SELECT link_id, node_id, agency_id, record_key, pointer_token, consent "
                    f"FROM records WHERE link_id IN ({_marks(len(chunk))}) "
                    "ORDER BY link_id, node_id",
                    chunk,
                )
                .fetchall()
            )
            out.extend(
                LinkMember(
                    link_id=r["link_id"],
                    node_id=r["node_id"],
                    agency_id=r["agency_id"],
                    record_key=bytes(r["record_key"]),
                    pointer_token=bytes(r["pointer_token"]),
                    consent=bytes(r["consent"]),
                )
                for r in rows
            )
        return out

    # -- listings -------------------------------------------------------------
    def list_records(self, agency_id: str, after_key: bytes, limit: int) -> list[RecordListing]:
        rows = (
            self._conn()
            .execute(
                "SELECT r.record_key, r.consent, r.update_time_us, "
                "(SELECT COUNT(*) FROM records o WHERE o.link_id = r.link_id) > 1 AS linked "
                "FROM records r WHERE r.agency_id = ? AND r.record_key > ? "
                "ORDER BY r.record_key LIMIT ?",
                (agency_id, after_key, limit),
            )
            .fetchall()
        )
        return [
            RecordListing(
                record_key=bytes(r["record_key"]),
                consent=bytes(r["consent"]),
                linked=bool(r["linked"]),
                update_time_us=r["update_time_us"],
            )
            for r in rows
        ]

    def agency_counts(self) -> list[AgencyCounts]:
        conn = self._conn()
        linked_links = (
            "SELECT link_id FROM records WHERE link_id IS NOT NULL "
            "GROUP BY link_id HAVING COUNT(*) > 1"
        )
        rows = conn.execute(
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
        ).fetchall()
        return [
            AgencyCounts(
                agency_id=r["agency_id"],
                record_count=r["n"],
                linked_record_count=r["linked"],
                batch_count=r["batches"],
                last_batch_id=r["last_batch"],
                last_batch_time_us=r["last_time"],
            )
            for r in rows
        ]

    def link_count(self) -> int:
        row = (
            self._conn()
            .execute(
                "SELECT COUNT(*) FROM (SELECT link_id FROM records WHERE link_id IS NOT NULL "
                "GROUP BY link_id HAVING COUNT(*) > 1)"
            )
            .fetchone()
        )
        return int(row[0])

    def list_events(self, after_sequence: int, limit: int) -> list[EventRow]:
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM events WHERE sequence > ? ORDER BY sequence LIMIT ?",
                (after_sequence, limit),
            )
            .fetchall()
        )
        return [_event(r) for r in rows]

    def last_event_sequence(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(sequence), 0) FROM events").fetchone()
        return int(row[0])

    def iter_audit(self) -> Iterator[AuditRow]:
        for row in self._conn().execute("SELECT * FROM audit_log ORDER BY sequence"):
            yield _audit(row)

    def list_disclosures(
        self, agency_id: str, before_id: int | None, limit: int
    ) -> list[tuple[int, DisclosureRow]]:
        rows = (
            self._conn()
            .execute(
                "SELECT * FROM disclosures WHERE agency_id = ? AND disclosure_id < ? "
                "ORDER BY disclosure_id DESC LIMIT ?",
                (agency_id, before_id if before_id is not None else 2**62, limit),
            )
            .fetchall()
        )
        return [
            (
                r["disclosure_id"],
                DisclosureRow(
                    agency_id=r["agency_id"],
                    record_key=bytes(r["record_key"]),
                    link_id=r["link_id"],
                    recipient=r["recipient"],
                    recipient_agency=r["recipient_agency"],
                    purpose=r["purpose"],
                    disclose_time_us=r["disclose_time_us"],
                    audit_sequence=r["audit_sequence"],
                ),
            )
            for r in rows
        ]

    def list_linkage_runs(self, limit: int) -> list[LinkageRunRow]:
        rows = (
            self._conn()
            .execute("SELECT * FROM linkage_runs ORDER BY run_id DESC LIMIT ?", (limit,))
            .fetchall()
        )
        return [
            LinkageRunRow(
                run_id=r["run_id"],
                start_time_us=r["start_time_us"],
                end_time_us=r["end_time_us"],
                record_count=r["record_count"],
                candidate_pair_count=r["candidate_pair_count"],
                link_count=r["link_count"],
                changed_link_count=r["changed_link_count"],
                threshold=r["threshold"],
                reason=r["reason"],
                model=r["model"],
            )
            for r in rows
        ]
