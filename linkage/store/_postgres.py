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
* **Bulk paths** (the write transaction, :mod:`linkage.store._pg_write`).
  ``insert_record`` takes node IDs from blocks reserved from
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

from linkage.errors import (
    ConfigError,
    ConflictError,
    LinkageError,
    StorageError,
    UnavailableError,
)
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
    ReadPositions,
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
from linkage.store._pg_schema import MIGRATIONS, SCHEMA_VERSION
from linkage.store._pg_write import (
    CHANGES_SINCE,
    Conn,
    PgGraphSnapshot,
    PgWriteTransaction,
    read_node_links,
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
    index_change,
    link_member,
    linkage_run,
    record_listing,
)

__all__ = ["SCHEMA_VERSION", "PostgresLinkStore"]

_T = TypeVar("_T")
_Row = tuple[Any, ...]

# First half of the two-int advisory lock key ("LNK1"); the second is the schema's CRC.
_LOCK_CLASS = 0x4C4E4B31
_STREAM_ROWS = 5000  # rows fetched per round trip by the iter_* methods
_NO_UPPER_ID = 2**62


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


def _rollback_quietly(conn: Conn) -> None:
    if not conn.closed:
        with suppress(psycopg.Error):
            conn.execute("ROLLBACK")


class PostgresLinkStore(EpochReads, CardProposalReads, LinkStore):
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
        self._pool: ConnectionPool[Conn] = ConnectionPool(
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
    def _configure(self, conn: Conn) -> None:
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

    def _read(self, doing: str, work: Callable[[Conn], _T]) -> _T:
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

    def _epoch_read(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        return list(self._fetch("reading the key rotation", sql.replace("?", "%s"), params))

    def _epoch_stream(self, sql: str, params: Sequence[object]) -> Iterator[Sequence[Any]]:
        yield from self._stream("reading next-epoch CLKs", sql.replace("?", "%s"), params)

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

            def fetch_one(query: str, params: tuple[object, ...]) -> _Row | None:
                cur = conn.execute(query, params)
                return cur.fetchone() if cur.description is not None else None

            def run_script(script: str) -> None:
                conn.execute(script)

            migrate(fetch_one, run_script, MIGRATIONS, where=self._where, placeholder="%s")

    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        rows = self._fetch("reading the schema version", "SELECT version FROM schema_version")
        return int(rows[0][0]) if rows else 0

    def _begin_write(self) -> Conn:
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
                tx = PgWriteTransaction(conn)
                yield tx
                tx.commit()
            except BaseException:
                _rollback_quietly(conn)
                raise
            finally:
                self._pool.putconn(conn)

    @contextmanager
    def graph_snapshot(self) -> Iterator[GraphReads]:
        with (
            self._translated("reading a snapshot of the link graph"),
            self._pool.connection() as conn,
        ):
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            try:
                yield PgGraphSnapshot(conn)
            finally:
                _rollback_quietly(conn)

    def close(self) -> None:
        self._closed = True
        self._pool.close()

    def refresh_statistics(self) -> None:
        """``ANALYZE`` the tables a rebuild rewrites. Until autovacuum gets to them, the
        planner still sees the sizes it last sampled: after a first rebuild of a freshly
        loaded index (statistics of an empty table) the lookups' ``node_id = ANY(...)``
        read took 450-650 ms instead of under 1 ms at 1,000,000 records, for the first
        hundreds of lookups (benchmarks/bench_prob_service_grpc.py --store postgres)."""
        self._read(
            "refreshing the planner's statistics",
            lambda conn: conn.execute("ANALYZE records, links, edges"),
        )

    # -- agencies -------------------------------------------------------------
    def get_agency(self, agency_id: str) -> AgencyRow | None:
        rows = self._fetch(
            "reading an agency",
            AGENCY_COLUMNS + "FROM agencies WHERE agency_id = %s",
            (agency_id,),
        )
        return agency_row(rows[0]) if rows else None

    def list_agencies(self, after_id: str = "", limit: int = 1000) -> list[AgencyRow]:
        rows = self._fetch(
            "listing agencies",
            AGENCY_COLUMNS + "FROM agencies WHERE agency_id > %s ORDER BY agency_id LIMIT %s",
            (after_id, limit),
        )
        return [agency_row(r) for r in rows]

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

    def count_index_records(self, key_epoch: int, schema_fingerprint: str) -> int:
        rows = self._fetch(
            "counting the index",
            "SELECT COUNT(*) FROM records "
            "WHERE key_epoch = %s AND schema_fingerprint = %s AND linkable",
            (key_epoch, schema_fingerprint),
        )
        return int(rows[0][0])

    def last_index_change(self) -> int:
        rows = self._fetch(
            "reading the index change feed",
            "SELECT COALESCE(MAX(sequence), 0) FROM index_changes",
        )
        return int(rows[0][0])

    def read_index_changes_since(self, sequence: int) -> list[IndexChange]:
        rows = self._fetch("reading the index change feed", CHANGES_SINCE, (sequence,))
        return [index_change(r) for r in rows]

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
        return self._read("reading node links", lambda conn: read_node_links(conn, node_ids))

    def node_links_with_members(
        self, node_ids: Sequence[int]
    ) -> tuple[dict[int, int], list[LinkMember]]:
        if not node_ids:
            return {}, []
        rows = self._fetch(
            "reading node links and their members",
            "WITH asked AS (SELECT node_id, link_id FROM records "
            "WHERE node_id = ANY(%s::bigint[]) AND link_id IS NOT NULL) "
            "SELECT 0, node_id, link_id, NULL::text, NULL::bytea, NULL::bytea, NULL::bytea "
            "FROM asked UNION ALL "
            "SELECT 1, link_id, node_id, agency_id, record_key, pointer_token, consent "
            "FROM records WHERE link_id IN (SELECT link_id FROM asked) "
            "ORDER BY 1, 2, 3",
            (list(node_ids),),
        )
        links = {int(r[1]): int(r[2]) for r in rows if r[0] == 0}
        return links, [link_member(r[1:]) for r in rows if r[0] == 1]

    def read_positions(self) -> ReadPositions:
        rows = self._fetch(
            "reading the change feed and linkage runs",
            "SELECT (SELECT COALESCE(MAX(sequence), 0) FROM index_changes), "
            "(SELECT MAX(run_id) FROM linkage_runs)",
        )
        return ReadPositions(int(rows[0][0]), None if rows[0][1] is None else int(rows[0][1]))

    def link_members(self, link_ids: Sequence[int]) -> list[LinkMember]:
        if not link_ids:
            return []
        rows = self._fetch(
            "reading link members",
            MEMBER_COLUMNS
            + "FROM records WHERE link_id = ANY(%s::bigint[]) ORDER BY link_id, node_id",
            (sorted(set(link_ids)),),
        )
        return [link_member(r) for r in rows]

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
        return [record_listing(r) for r in rows]

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
        return [agency_counts(r) for r in rows]

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
            EVENT_COLUMNS + "FROM events WHERE sequence > %s ORDER BY sequence LIMIT %s",
            (after_sequence, limit),
        )
        return [event_row(r) for r in rows]

    def last_event_sequence(self) -> int:
        rows = self._fetch("reading events", "SELECT COALESCE(MAX(sequence), 0) FROM events")
        return int(rows[0][0])

    def iter_audit(self) -> Iterator[AuditRow]:
        for row in self._stream(
            "reading the audit log", AUDIT_COLUMNS + "FROM audit_log ORDER BY sequence"
        ):
            yield audit_row(row)

    def read_last_audit(self) -> AuditRow | None:
        # a plain read on a pooled connection: it takes no lock (the writer lock is an
        # advisory lock only write transactions take)
        rows = self._fetch(
            "reading the audit log",
            AUDIT_COLUMNS + "FROM audit_log ORDER BY sequence DESC LIMIT 1",
        )
        return audit_row(rows[0]) if rows else None

    def list_disclosures(
        self, agency_id: str, before_id: int | None, limit: int
    ) -> list[tuple[int, DisclosureRow]]:
        rows = self._fetch(
            "listing disclosures",
            DISCLOSURE_COLUMNS + "FROM disclosures WHERE agency_id = %s AND disclosure_id < %s "
            "ORDER BY disclosure_id DESC LIMIT %s",
            (agency_id, before_id if before_id is not None else _NO_UPPER_ID, limit),
        )
        return [disclosure(r) for r in rows]

    def list_linkage_runs(self, limit: int) -> list[LinkageRunRow]:
        rows = self._fetch(
            "listing linkage runs",
            RUN_COLUMNS + "FROM linkage_runs ORDER BY run_id DESC LIMIT %s",
            (limit,),
        )
        return [linkage_run(r) for r in rows]

    # -- programme events and outcome releases ----------------------------------
    def iter_event_records(self) -> Iterator[EventRecord]:
        for row in self._stream(
            "reading records with events",
            EVENT_RECORD_COLUMNS + "FROM records r WHERE EXISTS "
            "(SELECT 1 FROM record_events e WHERE e.node_id = r.node_id) ORDER BY r.node_id",
        ):
            yield event_record(row)

    def iter_record_events(self) -> Iterator[RecordEventRow]:
        for row in self._stream(
            "reading events", RECORD_EVENT_COLUMNS + "FROM record_events ORDER BY node_id"
        ):
            yield record_event(row)

    def list_outcome_releases(self, programme: str) -> list[OutcomeReleaseRow]:
        rows = self._fetch(
            "reading the privacy-budget ledger",
            RELEASE_COLUMNS + "FROM outcome_releases WHERE programme = %s ORDER BY release_id",
            (programme,),
        )
        return [outcome_release(r) for r in rows]
