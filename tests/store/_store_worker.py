"""A matcher-like writer process for the concurrency tests (not a test module).

Run as ``python _store_worker.py NAME SEED WORKDIR``. It opens its own store on
the database the parent prepared (SQLite: ``LINKAGE_WORKER_SQLITE_PATH``;
PostgreSQL: ``LINKAGE_WORKER_PG_DSN`` and ``LINKAGE_WORKER_PG_SCHEMA``; the DSN
holds a password, so it never goes on argv), reports ready, waits for the
parent's go, then ingests every batch of the plan in its own shuffled order the
way the service does: a batch already committed is a replay and is skipped;
otherwise its records, link, edges, batch row, event and hash-chained audit
entry are written in one transaction. It writes what it committed to
``WORKDIR/NAME.json``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import sys
import time
from pathlib import Path

from linkage.store import (
    AuditRow,
    BatchRow,
    EdgeRow,
    EventKind,
    EventRow,
    LinkStore,
    NewRecord,
    SqliteLinkStore,
)

RECORDS_PER_BATCH = 20


def batch_plan(name: str) -> list[tuple[str, str]]:
    """``(agency, batch_id)``: 30 batches both workers upload, 10 of this worker's own."""
    shared = [(("police", "mhc")[i % 2], f"shared-{i:03d}") for i in range(30)]
    own = [(("police", "mhc")[i % 2], f"{name}-{i:03d}") for i in range(10)]
    return shared + own


def audit_hash(prev_hash: bytes, sequence: int, actor: str, batch_id: str) -> bytes:
    return hashlib.sha256(prev_hash + f"{sequence}|{actor}|{batch_id}".encode()).digest()


def open_store() -> LinkStore:
    sqlite_path = os.environ.get("LINKAGE_WORKER_SQLITE_PATH")
    if sqlite_path:
        return SqliteLinkStore(sqlite_path)
    from linkage.store import PostgresLinkStore

    return PostgresLinkStore(
        os.environ["LINKAGE_WORKER_PG_DSN"], schema=os.environ["LINKAGE_WORKER_PG_SCHEMA"]
    )


def ingest(store: LinkStore, name: str, agency: str, batch_id: str) -> bool:
    """One batch, all or nothing; False when it was already committed (a replay)."""
    now = time.time_ns() // 1000
    keys = [f"{batch_id}/{i}".encode() for i in range(RECORDS_PER_BATCH)]
    with store.write() as tx:
        if tx.get_batch(agency, batch_id) is not None:
            return False
        if tx.find_records(agency, keys):
            raise AssertionError("records of an uncommitted batch exist")
        nodes = [
            tx.insert_record(
                NewRecord(agency, key, 1, "fp", key.ljust(128, b"\0"), b"t", b"{}", True, b"d", now)
            )
            for key in keys
        ]
        (link,) = tx.allocate_link_ids(1, now)
        tx.assign_links([(node, link) for node in nodes], now)
        tx.insert_edges(EdgeRow(a, b, 0.9) for a, b in itertools.pairwise(nodes))
        tx.save_batch(BatchRow(agency, batch_id, b"digest", name.encode(), now))
        tx.append_events(
            [EventRow(EventKind.BATCH_COMMITTED, now, agency, batch_id, record_count=len(keys))]
        )
        last = tx.last_audit()
        sequence = 1 if last is None else last.sequence + 1
        prev = b"\0" * 32 if last is None else last.entry_hash
        tx.append_audit(
            AuditRow(
                sequence,
                now,
                name,
                "ingest",
                (f"batches/{batch_id}",),
                "{}",
                prev,
                audit_hash(prev, sequence, name, batch_id),
            )
        )
    return True


def main() -> int:
    name, seed, workdir = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    plan = batch_plan(name)
    random.Random(seed).shuffle(plan)
    store = open_store()
    try:
        (workdir / f"{name}.ready").touch()
        deadline = time.monotonic() + 60
        while not (workdir / "go").exists():
            if time.monotonic() > deadline:
                return 3
            time.sleep(0.005)
        committed = []
        for agency, batch_id in plan:
            if ingest(store, name, agency, batch_id):
                committed.append(batch_id)
            time.sleep(0.005)  # the next upload arrives a moment later, as over a network
    finally:
        store.close()
    (workdir / f"{name}.json").write_text(json.dumps(committed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
