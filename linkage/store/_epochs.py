"""Key-epoch rotation in the store: the rotation's state and the next epoch's CLKs.

Two tables (migration 4, both engines; docs/key-rotation.md):

* ``key_rotation``: one row once a rotation was begun: the key epoch in force
  (``current_epoch``) and, while a rotation runs, the one the agencies are moving to
  (``next_epoch``);
* ``next_epoch_records``: per record (by node ID, so a record's next CLK joins the
  record's link by construction) its CLK, pointer token and content digest in the next
  epoch. Deleting a record deletes its row (``ON DELETE CASCADE``).

:meth:`EpochWrites.adopt_next_epoch` ends a rotation inside the caller's transaction: the
records take their next-epoch CLK, pointer token and digest, and every next-epoch row is
deleted, so the old epoch's CLKs and tokens are gone when the transaction commits and
untouched when it rolls back.

The statements are written once, with ``?`` parameters; each engine's mixin host supplies
how to run them (:meth:`EpochWrites._epoch_rows`, :meth:`EpochReads._epoch_read`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from linkage.store._model import IndexRecord

__all__ = [
    "ROTATION_MARK_NODE",
    "EpochCounts",
    "EpochReads",
    "EpochWrites",
    "KeyRotationRow",
    "NextEpochRecord",
]

#: The node ID of the index-change entry a rotation's begin and finish append: no record
#: has it (node IDs start at 1), so older readers ignore it, and a matcher process that
#: replays it re-reads the rotation's state.
ROTATION_MARK_NODE = 0

#: Node IDs per ``IN (...)`` list.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class KeyRotationRow:
    """The key epoch in force and, during a rotation, the next one."""

    current_epoch: int
    next_epoch: int | None
    update_time_us: int


@dataclass(frozen=True, slots=True)
class EpochCounts:
    """An agency's records in the epoch in force, and how many of them hold a CLK of the
    next epoch too (the rest are only on the old epoch)."""

    agency_id: str
    current_records: int
    next_records: int

    @property
    def old_only(self) -> int:
        """Records with no CLK of the next epoch yet."""
        return self.current_records - self.next_records


@dataclass(frozen=True, slots=True)
class NextEpochRecord:
    """A record's CLK, pointer token and content digest in the next key epoch."""

    node_id: int
    key_epoch: int
    clk: bytes
    pointer_token: bytes
    content_digest: bytes


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _chunks(items: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


_ROTATION = "SELECT current_epoch, next_epoch, update_time_us FROM key_rotation"
_COUNTS = (
    "SELECT a.agency_id, COUNT(r.node_id), COUNT(n.node_id) FROM agencies a "
    "LEFT JOIN records r ON r.agency_id = a.agency_id AND r.key_epoch = ? "
    "LEFT JOIN next_epoch_records n ON n.node_id = r.node_id AND n.key_epoch = ? "
    "GROUP BY a.agency_id ORDER BY a.agency_id"
)


def _rotation_row(rows: Sequence[Sequence[Any]]) -> KeyRotationRow | None:
    if not rows:
        return None
    current, following, when = rows[0]
    return KeyRotationRow(int(current), None if following is None else int(following), int(when))


def _counts(rows: Iterable[Sequence[Any]]) -> list[EpochCounts]:
    return [EpochCounts(str(a), int(c), int(n)) for a, c, n in rows]


class EpochWrites:
    """The rotation's writes, mixed into each engine's write transaction."""

    def _epoch_rows(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        """Run one statement (``?`` parameters) and return its rows (none for a write)."""
        raise NotImplementedError

    def _epoch_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement for each parameter row."""
        raise NotImplementedError

    def key_rotation(self) -> KeyRotationRow | None:
        """The rotation's state, read inside this transaction."""
        return _rotation_row(self._epoch_rows(_ROTATION, ()))

    def save_key_rotation(self, row: KeyRotationRow) -> None:
        """Set the rotation's state."""
        self._epoch_rows(
            "INSERT INTO key_rotation (singleton, current_epoch, next_epoch, update_time_us) "
            "VALUES (1, ?, ?, ?) ON CONFLICT (singleton) DO UPDATE SET "
            "current_epoch = excluded.current_epoch, next_epoch = excluded.next_epoch, "
            "update_time_us = excluded.update_time_us",
            (row.current_epoch, row.next_epoch, row.update_time_us),
        )

    def epoch_counts(self, current_epoch: int, next_epoch: int) -> list[EpochCounts]:
        """Per enrolled agency: records of ``current_epoch``, and those with a
        ``next_epoch`` CLK (read inside this transaction)."""
        return _counts(self._epoch_rows(_COUNTS, (current_epoch, next_epoch)))

    def next_epoch_digests(self, node_ids: Sequence[int], key_epoch: int) -> dict[int, bytes]:
        """The content digest of each of these records' ``key_epoch`` CLK, where held."""
        out: dict[int, bytes] = {}
        for chunk in _chunks(node_ids):
            for node, digest in self._epoch_rows(
                "SELECT node_id, content_digest FROM next_epoch_records "
                f"WHERE key_epoch = ? AND node_id IN ({_marks(len(chunk))})",
                (key_epoch, *chunk),
            ):
                out[int(node)] = bytes(digest)
        return out

    def upsert_next_epoch_records(self, rows: Sequence[NextEpochRecord]) -> None:
        """Store (or replace) records' CLKs of the next epoch."""
        self._epoch_many(
            "INSERT INTO next_epoch_records "
            "(node_id, key_epoch, clk, pointer_token, content_digest) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (node_id) DO UPDATE SET key_epoch = excluded.key_epoch, "
            "clk = excluded.clk, pointer_token = excluded.pointer_token, "
            "content_digest = excluded.content_digest",
            [(r.node_id, r.key_epoch, r.clk, r.pointer_token, r.content_digest) for r in rows],
        )

    def delete_next_epoch_records(self, node_ids: Sequence[int]) -> None:
        """Forget these records' CLKs of the next epoch."""
        for chunk in _chunks(node_ids):
            self._epoch_rows(
                f"DELETE FROM next_epoch_records WHERE node_id IN ({_marks(len(chunk))})",
                tuple(chunk),
            )

    def delete_all_next_epoch_records(self) -> None:
        """Forget every CLK of the next epoch (a rotation abandoned)."""
        self._epoch_rows("DELETE FROM next_epoch_records", ())

    def old_epoch_only_nodes(
        self, agency_ids: Sequence[str], current_epoch: int, next_epoch: int
    ) -> list[int]:
        """Records of these agencies in ``current_epoch`` with no ``next_epoch`` CLK."""
        out: list[int] = []
        for agency_id in agency_ids:
            out.extend(
                int(row[0])
                for row in self._epoch_rows(
                    "SELECT r.node_id FROM records r LEFT JOIN next_epoch_records n "
                    "ON n.node_id = r.node_id AND n.key_epoch = ? "
                    "WHERE r.agency_id = ? AND r.key_epoch = ? AND n.node_id IS NULL "
                    "ORDER BY r.node_id",
                    (next_epoch, agency_id, current_epoch),
                )
            )
        return out

    def delete_empty_links(self, link_ids: Sequence[int]) -> None:
        """Delete those of these links that no record belongs to any more."""
        for chunk in _chunks(link_ids):
            self._epoch_rows(
                f"DELETE FROM links WHERE link_id IN ({_marks(len(chunk))}) AND NOT EXISTS "
                "(SELECT 1 FROM records r WHERE r.link_id = links.link_id)",
                tuple(chunk),
            )

    def adopt_next_epoch(self, next_epoch: int, now_us: int) -> int:
        """Every record with a ``next_epoch`` CLK takes it (with its pointer token and
        digest) in place of its old one; then every next-epoch row is deleted. Returns
        how many records moved."""
        moved = self._epoch_rows(
            "SELECT COUNT(*) FROM next_epoch_records WHERE key_epoch = ?", (next_epoch,)
        )
        self._epoch_rows(
            "UPDATE records SET clk = n.clk, pointer_token = n.pointer_token, "
            "content_digest = n.content_digest, key_epoch = n.key_epoch, update_time_us = ? "
            "FROM next_epoch_records AS n "
            "WHERE records.node_id = n.node_id AND n.key_epoch = ?",
            (now_us, next_epoch),
        )
        self._epoch_rows("DELETE FROM next_epoch_records", ())
        return int(moved[0][0])


class EpochReads:
    """The rotation's reads of committed data, mixed into each engine's store."""

    def _epoch_read(self, sql: str, params: Sequence[object]) -> list[Sequence[Any]]:
        """Run one query (``?`` parameters) and return its rows."""
        raise NotImplementedError

    def _epoch_stream(self, sql: str, params: Sequence[object]) -> Iterator[Sequence[Any]]:
        """Run one query and yield its rows as they come (big results)."""
        raise NotImplementedError

    def key_rotation(self) -> KeyRotationRow | None:
        """The rotation's state (None before the first rotation was begun)."""
        return _rotation_row(self._epoch_read(_ROTATION, ()))

    def epoch_counts(self, current_epoch: int, next_epoch: int) -> list[EpochCounts]:
        """Per enrolled agency: records of ``current_epoch``, and those with a
        ``next_epoch`` CLK."""
        return _counts(self._epoch_read(_COUNTS, (current_epoch, next_epoch)))

    def iter_next_epoch_records(
        self, key_epoch: int, schema_fingerprint: str
    ) -> Iterator[IndexRecord]:
        """Every linkable record of this schema with a ``key_epoch`` CLK, by node ID,
        with that CLK."""
        for node, agency_no, clk in self._epoch_stream(
            "SELECT r.node_id, a.agency_no, n.clk FROM next_epoch_records n "
            "JOIN records r ON r.node_id = n.node_id "
            "JOIN agencies a ON a.agency_id = r.agency_id "
            "WHERE n.key_epoch = ? AND r.schema_fingerprint = ? AND r.linkable "
            "ORDER BY n.node_id",
            (key_epoch, schema_fingerprint),
        ):
            yield IndexRecord(int(node), int(agency_no), bytes(clk))

    def read_next_epoch_clks(self, node_ids: Sequence[int], key_epoch: int) -> dict[int, bytes]:
        """The ``key_epoch`` CLK of each of these records that is linkable and has one."""
        out: dict[int, bytes] = {}
        for chunk in _chunks(node_ids):
            for node, clk in self._epoch_read(
                "SELECT n.node_id, n.clk FROM next_epoch_records n "
                "JOIN records r ON r.node_id = n.node_id "
                f"WHERE n.key_epoch = ? AND r.linkable AND n.node_id IN ({_marks(len(chunk))})",
                (key_epoch, *chunk),
            ):
                out[int(node)] = bytes(clk)
        return out
