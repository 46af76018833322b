"""The PostgreSQL engine's write transaction (see :mod:`linkage.store._postgres`).

Every statement runs on the connection that holds the writer lock. Inserted records are
buffered and written with one binary ``COPY``, record updates with one pipelined
``executemany``, before the transaction's next other statement or its commit; node IDs
come from blocks reserved from the ``node_ids`` sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from linkage.errors import AlreadyExistsError, NotFoundError, StorageError
from linkage.store._card_proposals import CardProposalWrites
from linkage.store._epochs import EpochWrites
from linkage.store._interface import GraphReads, WriteTransaction
from linkage.store._model import (
    AgencyRow,
    AuditRow,
    BatchRow,
    DisclosureRow,
    EdgeRow,
    EventRow,
    IndexChange,
    LinkageRunRow,
    NewRecord,
    RecordEventRow,
    StoredRecordRef,
)
from linkage.store._outcome_rows import (
    RECORD_EVENT_COLUMNS,
    OutcomeLedgerWrites,
    record_event,
)
from linkage.store._rows import (
    AUDIT_COLUMNS,
    BATCH_COLUMNS,
    REF_COLUMNS,
    agency_row,
    audit_params,
    audit_row,
    batch_params,
    batch_row,
    disclosure_params,
    event_params,
    index_change,
    record_params,
    record_ref,
    run_params,
)

__all__ = [
    "CHANGES_SINCE",
    "Conn",
    "PgGraphReads",
    "PgGraphSnapshot",
    "PgWriteTransaction",
    "read_node_links",
]

Conn = psycopg.Connection[TupleRow]
_Row = tuple[Any, ...]

_MAX_ID_BLOCK = 1024  # node IDs reserved per round trip, at most
_FLUSH_ROWS = 5000  # buffered record rows written per COPY

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


class PgGraphReads(GraphReads):
    """The graph reads (:class:`~linkage.store.GraphReads`) on one connection: in the
    write transaction, or in a read-only snapshot (:class:`PgGraphSnapshot`)."""

    _conn: Conn

    def _sync(self) -> None:
        """Before a read: nothing to write here (the write transaction flushes)."""

    def _exec(self, query: str, params: Sequence[object] = ()) -> psycopg.Cursor[TupleRow]:
        self._sync()
        return self._conn.execute(query, params)

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
        self._sync()
        return read_node_links(self._conn, node_ids)

    def node_agency_nos(self, node_ids: Sequence[int]) -> dict[int, int]:
        if not node_ids:
            return {}
        rows = self._exec(
            "SELECT r.node_id, a.agency_no FROM records r JOIN agencies a "
            "ON a.agency_id = r.agency_id WHERE r.node_id = ANY(%s::bigint[])",
            (list(node_ids),),
        ).fetchall()
        return {node: no for node, no in rows}

    def agency_no(self, agency_id: str) -> int | None:
        row = self._exec(
            "SELECT agency_no FROM agencies WHERE agency_id = %s", (agency_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def last_event_sequence(self) -> int:
        row = self._exec("SELECT COALESCE(MAX(sequence), 0) FROM events").fetchone()
        return int(row[0]) if row else 0

    def last_index_change(self) -> int:
        row = self._exec("SELECT COALESCE(MAX(sequence), 0) FROM index_changes").fetchone()
        return int(row[0]) if row else 0


class PgGraphSnapshot(PgGraphReads):
    """The graph reads in one ``REPEATABLE READ, READ ONLY`` transaction: one snapshot,
    which takes no lock a writer waits for."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn


class PgWriteTransaction(
    PgGraphReads, EpochWrites, CardProposalWrites, OutcomeLedgerWrites, WriteTransaction
):
    """Write operations on one connection that holds the writer lock."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self._free_ids: list[int] = []  # reserved node IDs, descending (pop() is the smallest)
        self._next_block = 1
        self._pending: list[tuple[object, ...]] = []
        self._pending_updates: list[tuple[object, ...]] = []
        # appends whose results nobody reads (the audit entry, disclosures): sent with the
        # next statement's flush, or with the COMMIT in one pipeline
        self._pending_appends: list[tuple[str, list[Sequence[object]]]] = []
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
        """Write the buffered records, then the buffered record updates, then the buffered
        appends, in call order per kind (before any other statement and before the
        commit)."""
        self._flush_records()
        self._flush_statements()

    def commit(self) -> None:
        """Write what is buffered and commit: the records by COPY, then the updates, the
        appends and the COMMIT pipelined in one round trip (a lookup's audit entry, its
        disclosures and the commit cost one round trip, not three)."""
        self._flush_records()
        with self._conn.pipeline():
            self._flush_statements()
            self._conn.execute("COMMIT")

    def _flush_records(self) -> None:
        if self._pending:
            rows, self._pending = self._pending, []
            with self._conn.cursor() as cur, cur.copy(_RECORD_COPY) as copy:
                copy.set_types(_RECORD_COPY_TYPES)
                for row in rows:
                    copy.write_row(row)

    def _flush_statements(self) -> None:
        if self._pending_updates:
            updates, self._pending_updates = self._pending_updates, []
            with self._conn.cursor() as cur:  # pipelined: one round trip per batch
                cur.executemany(
                    "UPDATE records SET pointer_token = %s, consent = %s, linkable = %s, "
                    "content_digest = %s, update_time_us = %s WHERE node_id = %s",
                    updates,
                )
        if self._pending_appends:
            appends, self._pending_appends = self._pending_appends, []
            with self._conn.cursor() as cur:
                for query, rows in appends:
                    cur.executemany(query, rows)

    def _sync(self) -> None:
        """Before any other statement: the buffered writes go first."""
        self.flush()

    def _one(self, query: str, params: Sequence[object] = ()) -> _Row | None:
        return self._exec(query, params).fetchone()

    def _epoch_rows(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        cur = self._exec(sql.replace("?", "%s"), params)
        return list(cur.fetchall()) if cur.description is not None else []

    def _epoch_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.flush()
        if rows:
            with self._conn.cursor() as cur:
                cur.executemany(sql.replace("?", "%s"), rows)

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
        return agency_row(row)

    # -- batches and records --------------------------------------------------
    def get_batch(self, agency_id: str, batch_id: str) -> BatchRow | None:
        row = self._one(
            BATCH_COLUMNS + "FROM batches WHERE agency_id = %s AND batch_id = %s",
            (agency_id, batch_id),
        )
        return None if row is None else batch_row(row)

    def save_batch(self, batch: BatchRow) -> None:
        self._exec(
            "INSERT INTO batches (agency_id, batch_id, request_digest, response, commit_time_us) "
            "VALUES (%s, %s, %s, %s, %s)",
            batch_params(batch),
        )

    def insert_record(self, record: NewRecord) -> int:
        if not self._free_ids:
            self._reserve_ids()
        node_id = self._free_ids.pop()
        self._pending.append((node_id, *record_params(record)))
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
        self._exec("DELETE FROM record_events WHERE node_id = ANY(%s::bigint[])", (ids,))
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

    # -- programme events -----------------------------------------------------
    def insert_record_events(self, rows: Iterable[RecordEventRow]) -> None:
        iterator = iter(rows)
        first = next(iterator, None)
        if first is None:
            return
        self.flush()
        with (
            self._conn.cursor() as cur,
            cur.copy(
                "COPY record_events (node_id, code, day, disposition) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["int8", "text", "int4", "text"])
            for r in (first, *iterator):
                copy.write_row((r.node_id, r.code, r.day, r.disposition))

    def delete_record_events(self, node_ids: Sequence[int]) -> None:
        if node_ids:
            self._exec(
                "DELETE FROM record_events WHERE node_id = ANY(%s::bigint[])", (list(node_ids),)
            )

    def record_events(self, node_ids: Sequence[int]) -> list[RecordEventRow]:
        if not node_ids:
            return []
        rows = self._exec(
            RECORD_EVENT_COLUMNS + "FROM record_events WHERE node_id = ANY(%s::bigint[]) "
            "ORDER BY node_id, day, code, disposition",
            (sorted(set(node_ids)),),
        ).fetchall()
        return [record_event(r) for r in rows]

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
                [(first + i, *event_params(e)) for i, e in enumerate(rows)],
            )

    def save_linkage_run(self, run: LinkageRunRow) -> int:
        row = self._one(
            "INSERT INTO linkage_runs (start_time_us, end_time_us, record_count, "
            "candidate_pair_count, link_count, changed_link_count, threshold, reason, model) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING run_id",
            run_params(run),
        )
        assert row is not None
        return int(row[0])

    def last_audit(self) -> AuditRow | None:
        row = self._one(AUDIT_COLUMNS + "FROM audit_log ORDER BY sequence DESC LIMIT 1")
        self._last_audit_sequence = 0 if row is None else int(row[0])
        return None if row is None else audit_row(row)

    def append_audit(self, row: AuditRow) -> None:
        # Nobody else can append while this transaction holds the writer lock,
        # so the last sequence read in it stays the last one.
        if self._last_audit_sequence is None:
            last = self._one("SELECT COALESCE(MAX(sequence), 0) FROM audit_log")
            self._last_audit_sequence = int(last[0]) if last else 0
        if row.sequence != self._last_audit_sequence + 1:
            raise StorageError("audit entries must be appended in sequence")
        self._pending_appends.append(
            (
                "INSERT INTO audit_log (sequence, entry_time_us, actor, action, target_ids, "
                "details, prev_hash, entry_hash) "
                "VALUES (%s, %s, %s, %s, %s::text[], %s, %s, %s)",
                [audit_params(row)],
            )
        )
        self._last_audit_sequence = row.sequence

    def insert_disclosures(self, rows: Iterable[DisclosureRow]) -> None:
        params: list[Sequence[object]] = [disclosure_params(r) for r in rows]
        if not params:
            return
        self._pending_appends.append(
            (
                "INSERT INTO disclosures (agency_id, record_key, link_id, recipient, "
                "recipient_agency, purpose, disclose_time_us, audit_sequence) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                params,
            )
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
        return [index_change(r) for r in self._exec(CHANGES_SINCE, (sequence,)).fetchall()]

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
            REF_COLUMNS + "FROM records WHERE agency_id = %s AND record_key = ANY(%s::bytea[])",
            (agency_id, list(record_keys)),
        ).fetchall()
        return [record_ref(r) for r in rows]

    def all_records(self, agency_id: str) -> list[StoredRecordRef]:
        rows = self._exec(
            REF_COLUMNS + "FROM records WHERE agency_id = %s ORDER BY node_id", (agency_id,)
        ).fetchall()
        return [record_ref(r) for r in rows]


CHANGES_SINCE = (
    "SELECT c.sequence, c.node_id, c.added, r.clk FROM index_changes c "
    "LEFT JOIN records r ON r.node_id = c.node_id AND c.added "
    "WHERE c.sequence > %s ORDER BY c.sequence"
)


def read_node_links(conn: Conn, node_ids: Sequence[int]) -> dict[int, int]:
    """The links of those nodes that have one."""
    if not node_ids:
        return {}
    rows = conn.execute(
        "SELECT node_id, link_id FROM records WHERE node_id = ANY(%s::bigint[]) "
        "AND link_id IS NOT NULL",
        (list(node_ids),),
    ).fetchall()
    return {node: link for node, link in rows}
