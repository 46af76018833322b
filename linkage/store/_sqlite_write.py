"""The SQLite engine's write transaction (see :mod:`linkage.store._sqlite`).

Every statement runs on the connection that holds ``BEGIN IMMEDIATE``; ID lists are
sent in chunks of :data:`CHUNK` host parameters.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

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
from linkage.store._outcome_rows import OutcomeLedgerWrites
from linkage.store._rows import (
    AGENCY_COLUMNS,
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
    "SqliteGraphReads",
    "SqliteGraphSnapshot",
    "SqliteWriteTransaction",
    "chunks",
    "qmarks",
    "read_index_changes",
    "read_node_links",
]

CHUNK = 500  # host parameters per IN (...) list, well under SQLite's limit


def chunks(items: Sequence[int] | Sequence[bytes]) -> Iterator[Sequence[int] | Sequence[bytes]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def qmarks(n: int) -> str:
    return ",".join("?" * n)


def json_list(values: list[Any]) -> str:
    """``json.dumps(values)``, spelled directly for a list of plain ints (the link IDs of
    an event: thousands of them per batch)."""
    if all(type(value) is int for value in values):
        return "[" + ", ".join(map(str, values)) + "]"
    return json.dumps(values)


class SqliteGraphReads(GraphReads):
    """The graph reads (:class:`~linkage.store.GraphReads`) on one connection: in the
    write transaction, or in a read-only snapshot (:class:`SqliteGraphSnapshot`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _tuples(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """All rows as plain tuples (cheaper than the connection's sqlite3.Row)."""
        cursor = self._conn.cursor()
        cursor.row_factory = None
        rows: list[tuple[Any, ...]] = cursor.execute(sql, params).fetchall()
        return rows

    def _one(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
        return row

    def edges_touching(self, node_ids: Sequence[int]) -> list[EdgeRow]:
        # one statement per chunk for both columns; an edge between two of the nodes
        # comes twice (and may come again from another chunk): the set keeps it once
        found: set[tuple[int, int, float]] = set()
        for chunk in chunks(node_ids):
            marks = qmarks(len(chunk))
            found.update(
                self._tuples(
                    f"SELECT node_a, node_b, score FROM edges WHERE node_a IN ({marks}) "
                    f"UNION ALL SELECT node_a, node_b, score FROM edges WHERE node_b IN ({marks})",
                    (*chunk, *chunk),
                )
            )
        return [EdgeRow(a, b, s) for a, b, s in sorted(found)]

    def node_links(self, node_ids: Sequence[int]) -> dict[int, int]:
        return read_node_links(self._conn, node_ids)

    def node_agency_nos(self, node_ids: Sequence[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for chunk in chunks(node_ids):
            out.update(
                self._tuples(
                    "SELECT r.node_id, a.agency_no FROM records r JOIN agencies a "
                    f"ON a.agency_id = r.agency_id WHERE r.node_id IN ({qmarks(len(chunk))})",
                    chunk,
                )
            )
        return out

    def agency_no(self, agency_id: str) -> int | None:
        row = self._one("SELECT agency_no FROM agencies WHERE agency_id = ?", (agency_id,))
        return None if row is None else int(row[0])

    def last_event_sequence(self) -> int:
        row = self._one("SELECT COALESCE(MAX(sequence), 0) FROM events")
        return int(row[0]) if row else 0

    def last_index_change(self) -> int:
        row = self._one("SELECT COALESCE(MAX(sequence), 0) FROM index_changes")
        return int(row[0]) if row else 0


class SqliteGraphSnapshot(SqliteGraphReads):
    """The graph reads in a read transaction (``BEGIN`` … ``ROLLBACK`` on the calling
    thread's connection): one WAL snapshot, taken at its first read, which no writer
    waits for."""


class SqliteWriteTransaction(
    SqliteGraphReads, EpochWrites, CardProposalWrites, OutcomeLedgerWrites, WriteTransaction
):
    """The write operations on the connection that holds the write lock."""

    def _epoch_rows(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        return list(self._conn.execute(sql, params).fetchall())

    def _epoch_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._conn.executemany(sql, rows)

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
        row = self._one(AGENCY_COLUMNS + "FROM agencies WHERE agency_id = ?", (agency_id,))
        assert row is not None
        return agency_row(row)

    # -- batches and records --------------------------------------------------
    def get_batch(self, agency_id: str, batch_id: str) -> BatchRow | None:
        row = self._one(
            BATCH_COLUMNS + "FROM batches WHERE agency_id = ? AND batch_id = ?",
            (agency_id, batch_id),
        )
        return None if row is None else batch_row(row)

    def save_batch(self, batch: BatchRow) -> None:
        self._conn.execute("INSERT INTO batches VALUES (?, ?, ?, ?, ?)", batch_params(batch))

    def insert_record(self, record: NewRecord) -> int:
        cur = self._conn.execute(
            "INSERT INTO records (agency_id, record_key, key_epoch, schema_fingerprint, clk, "
            "pointer_token, consent, linkable, content_digest, link_id, update_time_us) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            record_params(record),
        )
        node_id = cur.lastrowid
        assert node_id is not None
        return node_id

    def delete_records(self, node_ids: Sequence[int]) -> None:
        for chunk in chunks(node_ids):
            marks = qmarks(len(chunk))
            self._conn.execute(f"DELETE FROM edges WHERE node_a IN ({marks})", chunk)
            self._conn.execute(f"DELETE FROM edges WHERE node_b IN ({marks})", chunk)
            self._conn.execute(f"DELETE FROM record_events WHERE node_id IN ({marks})", chunk)
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
        for chunk in chunks(node_ids):
            marks = qmarks(len(chunk))
            self._conn.execute(f"DELETE FROM edges WHERE node_a IN ({marks})", chunk)
            self._conn.execute(f"DELETE FROM edges WHERE node_b IN ({marks})", chunk)
            self._conn.execute(
                f"UPDATE records SET link_id = NULL WHERE node_id IN ({marks})", chunk
            )

    # -- programme events -----------------------------------------------------
    def insert_record_events(self, rows: Iterable[RecordEventRow]) -> None:
        self._conn.executemany(
            "INSERT INTO record_events (node_id, code, day, disposition) VALUES (?, ?, ?, ?)",
            ((r.node_id, r.code, r.day, r.disposition) for r in rows),
        )

    def delete_record_events(self, node_ids: Sequence[int]) -> None:
        for chunk in chunks(node_ids):
            self._conn.execute(
                f"DELETE FROM record_events WHERE node_id IN ({qmarks(len(chunk))})", chunk
            )

    def record_events(self, node_ids: Sequence[int]) -> list[RecordEventRow]:
        out: list[RecordEventRow] = []
        for chunk in chunks(sorted(set(node_ids))):
            out.extend(
                RecordEventRow(int(n), str(c), int(d), str(p))
                for n, c, d, p in self._conn.execute(
                    "SELECT node_id, code, day, disposition FROM record_events "
                    f"WHERE node_id IN ({qmarks(len(chunk))}) "
                    "ORDER BY node_id, day, code, disposition",
                    chunk,
                )
            )
        return out

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
        for chunk in chunks(touched):
            self._conn.execute(
                f"UPDATE links SET update_time_us = ? WHERE link_id IN ({qmarks(len(chunk))})",
                (now_us, *chunk),
            )

    def delete_links(self, link_ids: Iterable[int]) -> None:
        ids = sorted(set(link_ids))
        for chunk in chunks(ids):
            marks = qmarks(len(chunk))
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
            (event_params(e, json_list) for e in events),
        )

    def save_linkage_run(self, run: LinkageRunRow) -> int:
        cur = self._conn.execute(
            "INSERT INTO linkage_runs (start_time_us, end_time_us, record_count, "
            "candidate_pair_count, link_count, changed_link_count, threshold, reason, model) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_params(run),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def last_audit(self) -> AuditRow | None:
        row = self._one(AUDIT_COLUMNS + "FROM audit_log ORDER BY sequence DESC LIMIT 1")
        return None if row is None else audit_row(row, json.loads)

    def append_audit(self, row: AuditRow) -> None:
        last = self.last_audit()
        expected = 1 if last is None else last.sequence + 1
        if row.sequence != expected:
            raise StorageError("audit entries must be appended in sequence")
        self._conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            audit_params(row, json.dumps),
        )

    def insert_disclosures(self, rows: Iterable[DisclosureRow]) -> None:
        self._conn.executemany(
            "INSERT INTO disclosures (agency_id, record_key, link_id, recipient, "
            "recipient_agency, purpose, disclose_time_us, audit_sequence) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (disclosure_params(r) for r in rows),
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
        return read_index_changes(self._conn, sequence)

    def prune_index_changes(self, keep_last: int) -> None:
        self._conn.execute(
            "DELETE FROM index_changes WHERE sequence <= "
            "(SELECT COALESCE(MAX(sequence), 0) FROM index_changes) - ?",
            (keep_last,),
        )

    # -- reads inside the transaction -----------------------------------------
    def find_records(self, agency_id: str, record_keys: Sequence[bytes]) -> list[StoredRecordRef]:
        found: list[StoredRecordRef] = []
        for chunk in chunks(record_keys):
            rows = self._conn.execute(
                REF_COLUMNS
                + f"FROM records WHERE agency_id = ? AND record_key IN ({qmarks(len(chunk))})",
                (agency_id, *chunk),
            ).fetchall()
            found.extend(record_ref(r) for r in rows)
        return found

    def all_records(self, agency_id: str) -> list[StoredRecordRef]:
        rows = self._conn.execute(
            REF_COLUMNS + "FROM records WHERE agency_id = ? ORDER BY node_id",
            (agency_id,),
        ).fetchall()
        return [record_ref(r) for r in rows]


_CHANGES_SINCE = (
    "SELECT c.sequence, c.node_id, c.added, r.clk FROM index_changes c "
    "LEFT JOIN records r ON r.node_id = c.node_id AND c.added = 1 "
    "WHERE c.sequence > ? ORDER BY c.sequence"
)


def read_index_changes(conn: sqlite3.Connection, sequence: int) -> list[IndexChange]:
    """The index-change feed after ``sequence``."""
    return [index_change(row) for row in conn.execute(_CHANGES_SINCE, (sequence,))]


def read_node_links(conn: sqlite3.Connection, node_ids: Sequence[int]) -> dict[int, int]:
    """The links of those nodes that have one."""
    out: dict[int, int] = {}
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples
    for chunk in chunks(node_ids):
        out.update(
            cursor.execute(
                f"SELECT node_id, link_id FROM records WHERE node_id IN ({qmarks(len(chunk))}) "
                "AND link_id IS NOT NULL",
                chunk,
            ).fetchall()
        )
    return out
