"""The production store: PostgreSQL through psycopg 3 (optional extra ``postgres``).

Semantics are the SQLite engine's (see :mod:`linkage.store._interface`):

* **Writes** run in one PostgreSQL transaction (READ COMMITTED) per
  :meth:`PostgresLinkStore.write`, all or nothing, and are durable when it
  returns (``synchronous_commit = on`` is forced for the transaction, whatever
  the server's default).
* **Writers are serialised across processes** by a transaction-level advisory
  lock (``pg_advisory_xact_lock``) taken as the first statement of every write
  transaction, and within a process by a thread lock (so waiting threads do not
  hold pooled connections). Because the isolation level is READ COMMITTED,
  every statement after the lock sees everything other writers committed
  before it was granted: two servers on one database behave like one.
  The lock key is derived from the schema name, so stores in different
  schemas of one database do not contend.
* **Numbering.** Node, link, run and disclosure IDs come from sequences, which
  never reuse a value (a rolled-back transaction leaves a gap). Event and
  audit sequence numbers are computed under the writer lock, so they are
  gap-free and in commit order; ``append_audit`` refuses anything but last + 1.
* **Readers** run concurrently on other pooled connections in autocommit
  mode and see committed data only. The ``iter_*`` methods stream through a
  server-side cursor inside a read-only snapshot, holding one pooled
  connection until the iterator is exhausted or closed.
* **Connections** come from a :class:`psycopg_pool.ConnectionPool`
  (``min_size=1``, ``max_size=max_connections``); a caller waits up to
  ``connect_timeout_s`` for a free one. Connections are not probed on
  checkout (that would cost a round trip per call); instead a read, or the
  opening of a write transaction, that finds its connection dropped (server
  restart, idle timeout, a killed backend) has the pool probe its idle
  connections and is repeated once, which is safe because nothing had
  happened yet. A write that loses its
  connection later fails with :class:`UnavailableError` and rolls back.
* **Bulk paths.** ``insert_record`` takes node IDs from blocks reserved from
  the sequence (1, 2, 4, ... up to 1024 per round trip, so a small batch
  wastes none and a large one wastes under 1024) and buffers the rows; they
  are written with one binary ``COPY`` before the transaction's next other
  operation or its commit. A constraint violation of an inserted record is
  therefore raised by that later call or by the commit, still inside
  :meth:`write`, and still rolls everything back. ``update_record`` calls
  are buffered the same way and sent as one pipelined ``executemany``.
* **Errors** are translated into :mod:`linkage.errors`: constraint violations
  into :class:`StorageError` naming the constraint (never the values), lock
  timeouts, deadlocks and serialisation failures into :class:`ConflictError`,
  lost or refused connections into :class:`UnavailableError`.
* **Schema.** Versioned migrations (:mod:`linkage.store._pg_schema`) are
  applied on open under the same advisory lock, in one transaction, and
  recorded in ``schema_version``.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from linkage.errors import (
    AlreadyExistsError,
    ConfigError,
    ConflictError,
    LinkageError,
    NotFoundError,
    StorageError,
    UnavailableError,
)
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
from linkage.store._pg_schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "PostgresLinkStore"]

_Conn = psycopg.Connection[TupleRow]
_T = TypeVar("_T")
_Row = tuple[Any, ...]

# First half of the two-int advisory lock key ("LNK1"); the second is the schema's CRC.
_LOCK_CLASS = 0x4C4E4B31
_MAX_ID_BLOCK = 1024  # node IDs reserved per round trip, at most
_FLUSH_ROWS = 5000  # buffered record rows written per COPY
_STREAM_ROWS = 5000  # rows fetched per round trip by the iter_* methods
_NO_UPPER_ID = 2**62

_AGENCY_COLUMNS = (
    "SELECT agency_id, agency_no, display_name, contact_card, create_time_us, update_time_us "
)
_REF_COLUMNS = (
    "SELECT node_id, record_key, clk, pointer_token, content_digest, consent, linkable, link_id "
)
_EVENT_COLUMNS = (
    "SELECT sequence, event_time_us, kind, agency_id, batch_id, source_links, target_links, "
    "record_count "
)
_AUDIT_COLUMNS = (
    "SELECT sequence, entry_time_us, actor, action, target_ids, details, prev_hash, entry_hash "
)
_RECORD_COPY = (
    "COPY records (node_id, agency_id, record_key, key_epoch, schema_fingerprint, clk, "
    "pointer_token, consent, linkable, content_digest, update_time_us) FROM STDIN (FORMAT BINARY)"
)
_RECORD_COPY_TYPES = [
    "int8",
    "text",
    "bytea",
    "int8",
    "text",
    "bytea",
    "bytea",
    "bytea",
    "bool",
    "bytea",
    "int8",
]


def _signed32(value: int) -> int:
    return value - 2**32 if value >= 2**31 else value


def _server_location(dsn: str) -> str:
    """``host:port/dbname`` of a DSN, for messages; never the password."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise ConfigError("the PostgreSQL DSN is malformed") from None
    host = str(params.get("host") or params.get("hostaddr") or "local socket")
    port = str(params.get("port") or "5432")
    dbname = str(params.get("dbname") or "(default database)")
    return f"{host}:{port}/{dbname}"


def _translate(exc: psycopg.Error, doing: str, where: str) -> LinkageError:
    """A project error for a driver error; names constraints, never values."""
    kind = type(exc).__name__
    state = exc.sqlstate or "none"
    diag = exc.diag
    if isinstance(exc, psycopg.IntegrityError):
        what = {
            psycopg.errors.UniqueViolation: "UNIQUE",
            psycopg.errors.ForeignKeyViolation: "FOREIGN KEY",
            psycopg.errors.NotNullViolation: "NOT NULL",
            psycopg.errors.CheckViolation: "CHECK",
        }.get(type(exc), "integrity")
        return StorageError(
            f"{doing}: {what} constraint {diag.constraint_name or '?'} violated "
            f"on table {diag.table_name or '?'}"
        )
    if isinstance(
        exc,
        psycopg.errors.LockNotAvailable
        | psycopg.errors.DeadlockDetected
        | psycopg.errors.SerializationFailure,
    ):
        return ConflictError(f"{doing}: {kind} (SQLSTATE {state}); retrying may succeed")
    if isinstance(exc, PoolClosed):
        return StorageError("the store is closed")
    if isinstance(exc, PoolTimeout | psycopg.OperationalError):
        return UnavailableError(
            f"{doing}: the PostgreSQL server at {where} is unavailable ({kind}, SQLSTATE {state})"
        )
    return StorageError(f"{doing}: PostgreSQL error {kind} (SQLSTATE {state})")


def _agency(row: _Row) -> AgencyRow:
    return AgencyRow(
        agency_id=row[0],
        agency_no=row[1],
        display_name=row[2],
        contact_card=bytes(row[3]),
        create_time_us=row[4],
        update_time_us=row[5],
    )


def _ref(row: _Row) -> StoredRecordRef:
    return StoredRecordRef(
        node_id=row[0],
        record_key=bytes(row[1]),
        clk=bytes(row[2]),
        pointer_token=bytes(row[3]),
        content_digest=bytes(row[4]),
        consent=bytes(row[5]),
        linkable=bool(row[6]),
        link_id=row[7],
    )


def _event(row: _Row) -> EventRow:
    return EventRow(
        kind=EventKind(row[2]),
        event_time_us=row[1],
        agency_id=row[3],
        batch_id=row[4],
        source_links=tuple(row[5]),
        target_links=tuple(row[6]),
        record_count=row[7],
        sequence=row[0],
    )


def _audit(row: _Row) -> AuditRow:
    return AuditRow(
        sequence=row[0],
        entry_time_us=row[1],
        actor=row[2],
        action=row[3],
        target_ids=tuple(row[4]),
        details=row[5],
        prev_hash=bytes(row[6]),
        entry_hash=bytes(row[7]),
    )


class _PgWriteTransaction(WriteTransaction):
    """Write operations on one connection that holds the writer lock."""

    def __init__(self, conn: _Conn) -> None:
        self._conn = conn
        self._free_ids: list[int] = []  # reserved node IDs, descending (pop() is the smallest)
        self._next_block = 1
        self._pending: list[tuple[object, ...]] = []
        self._pending_updates: list[tuple[object, ...]] = []
        self._last_audit_sequence: int | None = None  # known under the lock once read

    # -- buffered record inserts ----------------------------------------------
    def _reserve_ids(self) -> None:
        count = self._next_block
        self._next_block = min(self._next_block * 2, _MAX_ID_BLOCK)
        rows = self._conn.execute(
            "SELECT nextval('node_ids') FROM generate_series(1, %s)", (count,)
        ).fetchall()
        self._free_ids = sorted((r[0] for r in rows), reverse=True)

    def flush(self) -> None:
        """Write the buffered records, then the buffered record updates, in call
        order per kind (before any other statement and before the commit)."""
        if self._pending:
            rows, self._pending = self._pending, []
            with self._conn.cursor() as cur, cur.copy(_RECORD_COPY) as copy:
                copy.set_types(_RECORD_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)
        if self._pending_updates:
            updates, self._pending_updates = self._pending_updates, []
            with self._conn.cursor() as cur:  # pipelined: one round trip per batch
                cur.executemany(
                    "UPDATE records SET pointer_token = %s, consent = %s, linkable = %s, "
                    "content_digest = %s, update_time_us = %s WHERE node_id = %s",
                    updates,
                )

    def _exec(self, query: str, params: Sequence[object] = ()) -> psycopg.Cursor[TupleRow]:
        self.flush()
        return self._conn.execute(query, params)

    def _one(self, query: str, params: Sequence[object] = ()) -> _Row | None:
        return self._exec(query, params).fetchone()

    # -- agencies -------------------------------------------------------------
    def insert_agency(
        self, agency_id: str, display_name: str, contact_card: bytes, now_us: int
    ) -> AgencyRow:
        if self._one("SELECT 1 FROM agencies WHERE agency_id = %s", (agency_id,)):
            raise AlreadyExistsError(f"agency {agency_id!r} is already enrolled")
        row = self._one("SELECT COALESCE(MAX(agency_no), 0) + 1 FROM agencies")
        agency_no = int(row[0]) if row else 1
        self._exec(
            "INSERT INTO agencies (agency_id, agency_no, display_name, contact_card, "
            "create_time_us, update_time_us) VALUES (%s, %s, %s, %s, %s, %s)",
            (agency_id, agency_no, display_name, contact_card, now_us, now_us),
        )
        return AgencyRow(agency_id, agency_no, display_name, contact_card, now_us, now_us)

    def update_agency(
        self, agency_id: str, display_name: str, contact_card: bytes, now_us: int
    ) -> AgencyRow:
        row = self._one(
            "UPDATE agencies SET display_name = %s, contact_card = %s, update_time_us = %s "
            "WHERE agency_id = %s RETURNING agency_id, agency_no, display_name, contact_card, "
            "create_time_us, update_time_us",
            (display_name, contact_card, now_us, agency_id),
        )
        if row is None:
            raise NotFoundError(f"agency {agency_id!r} is not enrolled")
        return _agency(row)

    # -- batches and records --------------------------------------------------
    def get_batch(self, agency_id: str, batch_id: str) -> BatchRow | None:
        row = self._one(
            "SELECT agency_id, batch_id, request_digest, response, commit_time_us "
            "FROM batches WHERE agency_id = %s AND batch_id = %s",
            (agency_id, batch_id),
        )
        if row is None:
            return None
        return BatchRow(
            agency_id=row[0],
            batch_id=row[1],
            request_digest=bytes(row[2]),
            response=bytes(row[3]),
            commit_time_us=row[4],
        )

    def save_batch(self, batch: BatchRow) -> None:
        self._exec(
            "INSERT INTO batches (agency_id, batch_id, request_digest, response, commit_time_us) "
            "VALUES (%s, %s, %s, %s, %s)",
            (
                batch.agency_id,
                batch.batch_id,
                batch.request_digest,
                batch.response,
                batch.commit_time_us,
            ),
        )

    def insert_record(self, record: NewRecord) -> int:
        if not self._free_ids:
            self._reserve_ids()
        node_id = self._free_ids.pop()
        self._pending.append(
            (
                node_id,
                record.agency_id,
                record.record_key,
                record.key_epoch,
                record.schema_fingerprint,
                record.clk,
                record.pointer_token,
                record.consent,
                record.linkable,
                record.content_digest,
                record.update_time_us,
            )
        )
        if len(self._pending) >= _FLUSH_ROWS:
            self.flush()
        return node_id

    def delete_records(self, node_ids: Sequence[int]) -> None:
        if not node_ids:
            return
        ids = list(node_ids)
        self._exec(
            "DELETE FROM edges WHERE node_a = ANY(%s::bigint[]) OR node_b = ANY(%s::bigint[])",
            (ids, ids),
        )
        self._exec("DELETE FROM records WHERE node_id = ANY(%s::bigint[])", (ids,))

    def update_record(
        self,
        node_id: int,
        pointer_token: bytes,
        consent: bytes,
        linkable: bool,
        content_digest: bytes,
        now_us: int,
    ) -> None:
        # Only existing nodes are updated, so applying updates after the buffered
        # inserts gives the same result as applying them in call order.
        self._pending_updates.append(
            (pointer_token, consent, linkable, content_digest, now_us, node_id)
        )
        if len(self._pending_updates) >= _FLUSH_ROWS:
            self.flush()

    def detach_nodes(self, node_ids: Sequence[int]) -> None:
        if not node_ids:
            return
        ids = list(node_ids)
        self._exec(
            "DELETE FROM edges WHERE node_a = ANY(%s::bigint[]) OR node_b = ANY(%s::bigint[])",
            (ids, ids),
        )
        self._exec("UPDATE records SET link_id = NULL WHERE node_id = ANY(%s::bigint[])", (ids,))

    # -- links ----------------------------------------------------------------
    def insert_edges(self, edges: Iterable[EdgeRow]) -> None:
        iterator = iter(edges)
        first = next(iterator, None)
        if first is None:
            return
        self.flush()
        with (
            self._conn.cursor() as cur,
            cur.copy("COPY edges (node_a, node_b, score) FROM STDIN (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["int8", "int8", "float8"])
            copy.write_row((first.node_a, first.node_b, first.score))
            for e in iterator:
                copy.write_row((e.node_a, e.node_b, e.score))

    def delete_all_edges(self) -> None:
        self._exec("DELETE FROM edges")

    def allocate_link_ids(self, count: int, now_us: int) -> list[int]:
        if count <= 0:
            return []
        rows = self._exec(
            "INSERT INTO links (create_time_us, update_time_us) "
            "SELECT %s, %s FROM generate_series(1, %s) RETURNING link_id",
            (now_us, now_us, count),
        ).fetchall()
        return sorted(r[0] for r in rows)

    def assign_links(self, assignments: Iterable[tuple[int, int]], now_us: int) -> None:
        final: dict[int, int] = {}
        for node, link in assignments:  # the last assignment of a node wins, as in SQLite
            final[node] = link
        if not final:
            return
        self._exec(
            "UPDATE records AS r SET link_id = v.link_id "
            "FROM unnest(%s::bigint[], %s::bigint[]) AS v(node_id, link_id) "
            "WHERE r.node_id = v.node_id",
            (list(final), list(final.values())),
        )
        self._exec(
            "UPDATE links SET update_time_us = %s WHERE link_id = ANY(%s::bigint[])",
            (now_us, sorted(set(final.values()))),
        )

    def delete_links(self, link_ids: Iterable[int]) -> None:
        ids = sorted(set(link_ids))
        if not ids:
            return
        row = self._one(
            "SELECT EXISTS (SELECT 1 FROM records WHERE link_id = ANY(%s::bigint[]))", (ids,)
        )
        if row is not None and row[0]:
            raise StorageError("refusing to delete links that still have records")
        self._exec("DELETE FROM links WHERE link_id = ANY(%s::bigint[])", (ids,))

    # -- logs -----------------------------------------------------------------
    def append_events(self, events: Iterable[EventRow]) -> None:
        rows = list(events)
        if not rows:
            return
        # Numbered here, under the writer lock: gap-free and in commit order.
        last = self._one("SELECT COALESCE(MAX(sequence), 0) FROM events")
        first = (int(last[0]) if last else 0) + 1
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO events (sequence, event_time_us, kind, agency_id, batch_id, "
                "source_links, target_links, record_count) "
                "VALUES (%s, %s, %s, %s, %s, %s::bigint[], %s::bigint[], %s)",
                [
                    (
                        first + i,
                        e.event_time_us,
                        e.kind.value,
                        e.agency_id,
                        e.batch_id,
                        list(e.source_links),
                        list(e.target_links),
                        e.record_count,
                    )
                    for i, e in enumerate(rows)
                ],
            )

    def save_linkage_run(self, run: LinkageRunRow) -> int:
        row = self._one(
            "INSERT INTO linkage_runs (start_time_us, end_time_us, record_count, "
            "candidate_pair_count, link_count, changed_link_count, threshold, reason, model) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING run_id",
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
        assert row is not None
        return int(row[0])

    def last_audit(self) -> AuditRow | None:
        row = self._one(_AUDIT_COLUMNS + "FROM audit_log ORDER BY sequence DESC LIMIT 1")
        self._last_audit_sequence = 0 if row is None else int(row[0])
        return None if row is None else _audit(row)

    def append_audit(self, row: AuditRow) -> None:
        # Nobody else can append while this transaction holds the writer lock,
        # so the last sequence read in it stays the last one.
        if self._last_audit_sequence is None:
            last = self._one("SELECT COALESCE(MAX(sequence), 0) FROM audit_log")
            self._last_audit_sequence = int(last[0]) if last else 0
        if row.sequence != self._last_audit_sequence + 1:
            raise StorageError("audit entries must be appended in sequence")
        self._exec(
            "INSERT INTO audit_log (sequence, entry_time_us, actor, action, target_ids, details, "
            "prev_hash, entry_hash) VALUES (%s, %s, %s, %s, %s::text[], %s, %s, %s)",
            (
                row.sequence,
                row.entry_time_us,
                row.actor,
                row.action,
                list(row.target_ids),
                row.details,
                row.prev_hash,
                row.entry_hash,
            ),
        )
        self._last_audit_sequence = row.sequence

    def insert_disclosures(self, rows: Iterable[DisclosureRow]) -> None:
        params = [
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
        ]
        if not params:
            return
        self.flush()
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO disclosures (agency_id, record_key, link_id, recipient, "
                "recipient_agency, purpose, disclose_time_us, audit_sequence) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                params,
            )

    # -- reads inside the transaction -----------------------------------------
    def record_index_changes(self, changes: Iterable[tuple[int, bool]]) -> None:
        rows = list(changes)
        if not rows:
            return
        # Numbered here, under the writer lock: gap-free and in commit order.
        last = self._one("SELECT COALESCE(MAX(sequence), 0) FROM index_changes")
        first = (int(last[0]) if last else 0) + 1
        with self._conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO index_changes (sequence, node_id, added) VALUES (%s, %s, %s)",
                [(first + i, node, added) for i, (node, added) in enumerate(rows)],
            )

    def index_changes_since(self, sequence: int) -> list[IndexChange]:
        return [_change(r) for r in self._exec(_CHANGES_SINCE, (sequence,)).fetchall()]

    def prune_index_changes(self, keep_last: int) -> None:
        self._exec(
            "DELETE FROM index_changes WHERE sequence <= "
            "(SELECT COALESCE(MAX(sequence), 0) FROM index_changes) - %s",
            (keep_last,),
        )

    def find_records(self, agency_id: str, record_keys: Sequence[bytes]) -> list[StoredRecordRef]:
        if not record_keys:
            return []
        rows = self._exec(
            _REF_COLUMNS + "FROM records WHERE agency_id = %s AND record_key = ANY(%s::bytea[])",
            (agency_id, list(record_keys)),
        ).fetchall()
        return [_ref(r) for r in rows]

    def all_records(self, agency_id: str) -> list[StoredRecordRef]:
        rows = self._exec(
            _REF_COLUMNS + "FROM records WHERE agency_id = %s ORDER BY node_id", (agency_id,)
        ).fetchall()
        return [_ref(r) for r in rows]

    def edges_touching(self, node_ids: Sequence[int]) -> list[EdgeRow]:
        if not node_ids:
            return []
        ids = list(node_ids)
        rows = self._exec(
            "SELECT node_a, node_b, score FROM edges WHERE node_a = ANY(%s::bigint[]) "
            "UNION SELECT node_a, node_b, score FROM edges WHERE node_b = ANY(%s::bigint[]) "
            "ORDER BY 1, 2",
            (ids, ids),
        ).fetchall()
        return [EdgeRow(a, b, s) for a, b, s in rows]

    def node_links(self, node_ids: Sequence[int]) -> dict[int, int]:
        self.flush()
        return _node_links(self._conn, node_ids)

    def node_agency_nos(self, node_ids: Sequence[int]) -> dict[int, int]:
        if not node_ids:
            return {}
        rows = self._exec(
            "SELECT r.node_id, a.agency_no FROM records r JOIN agencies a "
            "ON a.agency_id = r.agency_id WHERE r.node_id = ANY(%s::bigint[])",
            (list(node_ids),),
        ).fetchall()
        return {node: no for node, no in rows}


_CHANGES_SINCE = (
    "SELECT c.sequence, c.node_id, c.added, r.clk FROM index_changes c "
    "LEFT JOIN records r ON r.node_id = c.node_id AND c.added "
    "WHERE c.sequence > %s ORDER BY c.sequence"
)


def _change(row: _Row) -> IndexChange:
    clk = row[3]
    return IndexChange(int(row[0]), int(row[1]), bool(row[2]), None if clk is None else bytes(clk))


def _rollback_quietly(conn: _Conn) -> None:
    if not conn.closed:
        with suppress(psycopg.Error):
            conn.execute("ROLLBACK")


def _node_links(conn: _Conn, node_ids: Sequence[int]) -> dict[int, int]:
    if not node_ids:
        return {}
    rows = conn.execute(
        "SELECT node_id, link_id FROM records WHERE node_id = ANY(%s::bigint[]) "
        "AND link_id IS NOT NULL",
        (list(node_ids),),
    ).fetchall()
    return {node: link for node, link in rows}


class PostgresLinkStore(LinkStore):
    """A link index in a PostgreSQL database (or one schema of it).

    ``dsn`` is a libpq connection string or URI; it may carry a password, so
    it is never logged or put in a message. ``schema`` (optional) names the
    schema to use, created if missing; without it the DSN's ``search_path``
    decides. ``max_connections`` bounds the pool. ``connect_timeout_s`` bounds
    opening and waiting for a pooled connection. ``lock_timeout_s`` bounds the
    wait for the writer lock (None waits as long as it takes); a timeout
    raises :class:`ConflictError`.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        max_connections: int = 10,
        connect_timeout_s: float = 30.0,
        lock_timeout_s: float | None = None,
    ) -> None:
        if schema is not None and not 0 < len(schema.encode()) <= 63:
            raise ConfigError("the PostgreSQL schema name must be 1 to 63 bytes")
        if max_connections < 2:
            raise ConfigError("max_connections must be at least 2 (a writer and a reader)")
        if lock_timeout_s is not None and lock_timeout_s <= 0:
            raise ConfigError("lock_timeout_s must be positive")
        self._where = _server_location(dsn)
        self._schema = schema
        # "0" disables PostgreSQL's lock_timeout; a set timeout is at least 1 ms.
        self._lock_timeout = (
            "0" if lock_timeout_s is None else f"{max(1, round(lock_timeout_s * 1000))}ms"
        )
        self._write_lock = threading.Lock()
        self._closed = False
        self._pool: ConnectionPool[_Conn] = ConnectionPool(
            dsn,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=max_connections,
            timeout=connect_timeout_s,
            configure=self._configure,
            name="linkage-store",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
            self._lock_key = (_LOCK_CLASS, _signed32(zlib.crc32(self._schema_name().encode())))
            # One round trip: BEGIN, durability, lock timeout, writer lock. Every
            # value is an integer or the timeout this class formatted, never input.
            self._begin_sql = (
                "BEGIN; SELECT set_config('synchronous_commit', 'on', true), "
                f"set_config('lock_timeout', '{self._lock_timeout}', true), "
                f"pg_advisory_xact_lock({int(self._lock_key[0])}, {int(self._lock_key[1])})"
            )
            self._migrate()
        except psycopg.Error as exc:
            self._pool.close()
            raise _translate(exc, "opening the store", self._where) from None
        except BaseException:
            self._pool.close()
            raise

    # -- connections ----------------------------------------------------------
    def _configure(self, conn: _Conn) -> None:
        if self._schema is not None:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))

    def _schema_name(self) -> str:
        if self._schema is not None:
            return self._schema
        with self._pool.connection() as conn:
            row = conn.execute("SELECT current_schema()").fetchone()
        if row is None or row[0] is None:
            raise ConfigError(
                "the PostgreSQL search_path names no existing schema: create the schema the"
                " matcher's role should use (CREATE SCHEMA ... AUTHORIZATION ...), or set the"
                " role's search_path to an existing one"
            )
        return str(row[0])

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        if self._closed:
            raise StorageError("the store is closed")
        try:
            yield
        except psycopg.Error as exc:
            raise _translate(exc, doing, self._where) from None

    def _read(self, doing: str, work: Callable[[_Conn], _T]) -> _T:
        """Run ``work`` on a pooled connection, and once more on a fresh one if
        that connection turns out to have been dropped (a read is safe to repeat)."""
        with self._translated(doing):
            for attempt in range(2):
                with self._pool.connection() as conn:
                    try:
                        return work(conn)
                    except psycopg.OperationalError:
                        if attempt or not conn.broken:
                            raise
                self._replace_dropped()
            raise AssertionError("unreachable")

    def _replace_dropped(self) -> None:
        """After one dropped connection, probe the idle ones (a restart drops all)."""
        self._pool.check()

    def _fetch(self, doing: str, query: str, params: Sequence[object] = ()) -> list[_Row]:
        return self._read(doing, lambda conn: conn.execute(query, params).fetchall())

    def _stream(self, doing: str, query: str, params: Sequence[object] = ()) -> Iterator[_Row]:
        with self._translated(doing):
            for attempt in range(2):
                started = False
                with self._pool.connection() as conn:
                    try:
                        with conn.transaction(), conn.cursor(name="linkage_stream") as cur:
                            cur.itersize = _STREAM_ROWS
                            cur.execute(query, params)
                            for row in cur:
                                started = True
                                yield row
                        return
                    except psycopg.OperationalError:
                        if attempt or started or not conn.broken:
                            raise
                self._replace_dropped()

    def _migrate(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", self._lock_key)
            if self._schema is not None:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema))
                )
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"the store at {self._where} has schema version {version}, newer than this "
                    f"program's {SCHEMA_VERSION}; upgrade the program"
                )
            for script in MIGRATIONS[version:]:
                conn.execute(script)
            if row is None:
                conn.execute("INSERT INTO schema_version VALUES (%s)", (SCHEMA_VERSION,))
            elif version != SCHEMA_VERSION:
                conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION,))

    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        rows = self._fetch("reading the schema version", "SELECT version FROM schema_version")
        return int(rows[0][0]) if rows else 0

    def _begin_write(self) -> _Conn:
        """A pooled connection in a transaction that holds the writer lock.

        A connection found dropped at BEGIN is replaced once: nothing had run on it.
        """
        for attempt in range(2):
            conn = self._pool.getconn()
            try:
                conn.execute(self._begin_sql, prepare=False)
                return conn
            except BaseException as exc:
                dropped = conn.broken
                _rollback_quietly(conn)
                self._pool.putconn(conn)  # the pool discards a dropped connection
                if attempt == 0 and dropped and isinstance(exc, psycopg.OperationalError):
                    self._replace_dropped()
                    continue
                raise
        raise AssertionError("unreachable")

    @contextmanager
    def write(self) -> Iterator[WriteTransaction]:
        with self._write_lock, self._translated("write transaction"):
            conn = self._begin_write()
            try:
                tx = _PgWriteTransaction(conn)
                yield tx
                tx.flush()
                conn.execute("COMMIT")
            except BaseException:
                _rollback_quietly(conn)
                raise
            finally:
                self._pool.putconn(conn)

    def close(self) -> None:
        self._closed = True
        self._pool.close()

    # -- agencies -------------------------------------------------------------
    def get_agency(self, agency_id: str) -> AgencyRow | None:
        rows = self._fetch(
            "reading an agency",
            _AGENCY_COLUMNS + "FROM agencies WHERE agency_id = %s",
            (agency_id,),
        )
        return _agency(rows[0]) if rows else None

    def list_agencies(self, after_id: str = "", limit: int = 1000) -> list[AgencyRow]:
        rows = self._fetch(
            "listing agencies",
            _AGENCY_COLUMNS + "FROM agencies WHERE agency_id > %s ORDER BY agency_id LIMIT %s",
            (after_id, limit),
        )
        return [_agency(r) for r in rows]

    # -- index ----------------------------------------------------------------
    def iter_index_records(self, key_epoch: int, schema_fingerprint: str) -> Iterator[IndexRecord]:
        for node_id, agency_no, clk in self._stream(
            "reading the index",
            "SELECT r.node_id, a.agency_no, r.clk FROM records r "
            "JOIN agencies a ON a.agency_id = r.agency_id "
            "WHERE r.key_epoch = %s AND r.schema_fingerprint = %s AND r.linkable "
            "ORDER BY r.node_id",
            (key_epoch, schema_fingerprint),
        ):
            yield IndexRecord(node_id, agency_no, bytes(clk))

    def last_index_change(self) -> int:
        rows = self._fetch(
            "reading the index change feed",
            "SELECT COALESCE(MAX(sequence), 0) FROM index_changes",
        )
        return int(rows[0][0])

    def read_index_changes_since(self, sequence: int) -> list[IndexChange]:
        rows = self._fetch("reading the index change feed", _CHANGES_SINCE, (sequence,))
        return [_change(r) for r in rows]

    def iter_edges(self) -> Iterator[EdgeRow]:
        for a, b, s in self._stream(
            "reading edges", "SELECT node_a, node_b, score FROM edges ORDER BY node_a, node_b"
        ):
            yield EdgeRow(a, b, s)

    def iter_node_links(self) -> Iterator[tuple[int, int]]:
        for row in self._stream(
            "reading node links",
            "SELECT node_id, link_id FROM records WHERE link_id IS NOT NULL ORDER BY node_id",
        ):
            yield row[0], row[1]

    def read_node_links(self, node_ids: Sequence[int]) -> dict[int, int]:
        return self._read("reading node links", lambda conn: _node_links(conn, node_ids))

    def link_members(self, link_ids: Sequence[int]) -> list[LinkMember]:
        if not link_ids:
            return []
        rows = self._fetch(
            "reading link members",
            "SELECT link_id, node_id, agency_id, record_key, pointer_token, consent "
            "FROM records WHERE link_id = ANY(%s::bigint[]) ORDER BY link_id, node_id",
            (sorted(set(link_ids)),),
        )
        return [
            LinkMember(
                link_id=r[0],
                node_id=r[1],
                agency_id=r[2],
                record_key=bytes(r[3]),
                pointer_token=bytes(r[4]),
                consent=bytes(r[5]),
            )
            for r in rows
        ]

    # -- listings -------------------------------------------------------------
    def list_records(self, agency_id: str, after_key: bytes, limit: int) -> list[RecordListing]:
        rows = self._fetch(
            "listing records",
            "SELECT r.record_key, r.consent, r.update_time_us, "
            "(SELECT COUNT(*) FROM records o WHERE o.link_id = r.link_id) > 1 AS linked "
            "FROM records r WHERE r.agency_id = %s AND r.record_key > %s "
            "ORDER BY r.record_key LIMIT %s",
            (agency_id, after_key, limit),
        )
        return [
            RecordListing(
                record_key=bytes(r[0]), consent=bytes(r[1]), linked=bool(r[3]), update_time_us=r[2]
            )
            for r in rows
        ]

    def agency_counts(self) -> list[AgencyCounts]:
        linked_links = (
            "SELECT link_id FROM records WHERE link_id IS NOT NULL "
            "GROUP BY link_id HAVING COUNT(*) > 1"
        )
        rows = self._fetch(
            "counting records",
            "SELECT a.agency_id, "
            "(SELECT COUNT(*) FROM records r WHERE r.agency_id = a.agency_id), "
            "(SELECT COUNT(*) FROM records r WHERE r.agency_id = a.agency_id "
            f" AND r.link_id IN ({linked_links})), "
            "(SELECT COUNT(*) FROM batches b WHERE b.agency_id = a.agency_id), "
            "(SELECT b.batch_id FROM batches b WHERE b.agency_id = a.agency_id "
            " ORDER BY b.commit_time_us DESC, b.batch_seq DESC LIMIT 1), "
            "(SELECT MAX(b.commit_time_us) FROM batches b WHERE b.agency_id = a.agency_id) "
            "FROM agencies a ORDER BY a.agency_id",
        )
        return [
            AgencyCounts(
                agency_id=r[0],
                record_count=r[1],
                linked_record_count=r[2],
                batch_count=r[3],
                last_batch_id=r[4],
                last_batch_time_us=r[5],
            )
            for r in rows
        ]

    def link_count(self) -> int:
        rows = self._fetch(
            "counting links",
            "SELECT COUNT(*) FROM (SELECT link_id FROM records WHERE link_id IS NOT NULL "
            "GROUP BY link_id HAVING COUNT(*) > 1) AS linked",
        )
        return int(rows[0][0])

    def list_events(self, after_sequence: int, limit: int) -> list[EventRow]:
        rows = self._fetch(
            "listing events",
            _EVENT_COLUMNS + "FROM events WHERE sequence > %s ORDER BY sequence LIMIT %s",
            (after_sequence, limit),
        )
        return [_event(r) for r in rows]

    def last_event_sequence(self) -> int:
        rows = self._fetch("reading events", "SELECT COALESCE(MAX(sequence), 0) FROM events")
        return int(rows[0][0])

    def iter_audit(self) -> Iterator[AuditRow]:
        for row in self._stream(
            "reading the audit log", _AUDIT_COLUMNS + "FROM audit_log ORDER BY sequence"
        ):
            yield _audit(row)

    def list_disclosures(
        self, agency_id: str, before_id: int | None, limit: int
    ) -> list[tuple[int, DisclosureRow]]:
        rows = self._fetch(
            "listing disclosures",
            "SELECT disclosure_id, agency_id, record_key, link_id, recipient, recipient_agency, "
            "purpose, disclose_time_us, audit_sequence FROM disclosures "
            "WHERE agency_id = %s AND disclosure_id < %s ORDER BY disclosure_id DESC LIMIT %s",
            (agency_id, before_id if before_id is not None else _NO_UPPER_ID, limit),
        )
        return [
            (
                r[0],
                DisclosureRow(
                    agency_id=r[1],
                    record_key=bytes(r[2]),
                    link_id=r[3],
                    recipient=r[4],
                    recipient_agency=r[5],
                    purpose=r[6],
                    disclose_time_us=r[7],
                    audit_sequence=r[8],
                ),
            )
            for r in rows
        ]

    def list_linkage_runs(self, limit: int) -> list[LinkageRunRow]:
        rows = self._fetch(
            "listing linkage runs",
            "SELECT run_id, start_time_us, end_time_us, record_count, candidate_pair_count, "
            "link_count, changed_link_count, threshold, reason, model FROM linkage_runs "
            "ORDER BY run_id DESC LIMIT %s",
            (limit,),
        )
        return [
            LinkageRunRow(
                run_id=r[0],
                start_time_us=r[1],
                end_time_us=r[2],
                record_count=r[3],
                candidate_pair_count=r[4],
                link_count=r[5],
                changed_link_count=r[6],
                threshold=r[7],
                reason=r[8],
                model=r[9],
            )
            for r in rows
        ]
