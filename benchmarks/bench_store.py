"""Store benchmark: SQLite (WAL) against PostgreSQL, side by side in one run.

    .venv/bin/python benchmarks/bench_store.py [--transactions 5] [--records-per-tx 10000]

The operations the service uses most, in one run: every phase on SQLite, then
every phase on PostgreSQL, with the same deterministic data:

* ingest: ``--transactions`` write transactions of ``--records-per-tx`` new
  records each (128-byte CLKs), plus the batch row and its event, as an upload;
* edges: one transaction storing ``--edges`` candidate pairs;
* links: one transaction per ingested batch allocating links for pairs of
  records and assigning them;
* lookups: ``--lookups`` single-thread lookups as the service does them,
  ``read_node_links`` of a node, then ``link_members`` of its link;
* audit: ``--audits`` transactions each reading the last audit entry,
  appending the next and recording one disclosure (a consented lookup);
* index load: streaming every record back with ``iter_index_records`` (start-up).

Both engines are durable: SQLite with ``synchronous=FULL``, PostgreSQL with
fsync and ``synchronous_commit = on``, on the same disk. PostgreSQL is the
server named by ``LINKAGE_BENCH_PG_DSN`` (a fresh schema in it) or, by
default, a throwaway local server started by scripts/ci_postgres.py (TCP on
127.0.0.1, default settings but ``shared_buffers = 128MB``).
Results: printed, and written to build/bench_store.json; see docs/postgres.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

from linkage.store import (  # noqa: E402
    AuditRow,
    BatchRow,
    DisclosureRow,
    EdgeRow,
    EventKind,
    EventRow,
    LinkStore,
    NewRecord,
    PostgresLinkStore,
    SqliteLinkStore,
)

AGENCIES = ("police", "valley-mhc", "county-ems", "st-mary")


def _ci_postgres() -> Any:
    spec = importlib.util.spec_from_file_location(
        "ci_postgres", REPO / "scripts" / "ci_postgres.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def postgres_dsn() -> Iterator[str]:
    given = os.environ.get("LINKAGE_BENCH_PG_DSN")
    if given:
        yield given
        return
    ci = _ci_postgres()
    bindir = ci.install_postgres()
    with ci.temp_postgres(bindir) as server:
        yield server.dsn


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class Workload:
    """The same deterministic data for every engine."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        rng = random.Random(20240611)
        self.batches: list[list[NewRecord]] = []
        for t in range(args.transactions):
            agency = AGENCIES[t % len(AGENCIES)]
            self.batches.append(
                [
                    NewRecord(
                        agency_id=agency,
                        record_key=rng.randbytes(16),
                        key_epoch=1,
                        schema_fingerprint="0123456789abcdef",
                        clk=rng.randbytes(128),
                        pointer_token=rng.randbytes(60),
                        consent=b'{"scope":"crisis_response","expires":0}',
                        linkable=True,
                        content_digest=rng.randbytes(32),
                        update_time_us=1_700_000_000_000_000 + t,
                    )
                    for _ in range(args.records_per_tx)
                ]
            )
        self.rng = rng


def run_engine(store: LinkStore, work: Workload) -> dict[str, float]:
    """Every phase on one store; returns rates and latencies."""
    args = work.args
    rng = random.Random(7)
    out: dict[str, float] = {}
    with store.write() as tx:
        for agency in AGENCIES:
            tx.insert_agency(agency, agency.title(), b"card", 1)

    nodes_per_batch: list[list[int]] = []

    def ingest(batch_no: int, records: list[NewRecord]) -> None:
        with store.write() as tx:
            nodes = [tx.insert_record(r) for r in records]
            tx.save_batch(BatchRow(records[0].agency_id, f"b{batch_no}", b"d" * 32, b"r" * 64, 1))
            tx.append_events(
                [
                    EventRow(
                        EventKind.BATCH_COMMITTED,
                        1,
                        records[0].agency_id,
                        f"b{batch_no}",
                        record_count=len(records),
                    )
                ]
            )
        nodes_per_batch.append(nodes)

    ingest_s = [_timed(partial(ingest, i, b)) for i, b in enumerate(work.batches)]
    total = sum(len(b) for b in work.batches)
    out["ingest_records_per_s"] = total / sum(ingest_s)
    out["ingest_ms_per_tx_median"] = statistics.median(ingest_s) * 1000

    all_nodes = sorted(n for nodes in nodes_per_batch for n in nodes)
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < args.edges:
        a, b = rng.sample(all_nodes, 2)
        pairs.add((min(a, b), max(a, b)))
    edges = [EdgeRow(a, b, round(rng.uniform(0.8, 1.0), 6)) for a, b in sorted(pairs)]

    def store_edges() -> None:
        with store.write() as tx:
            tx.insert_edges(edges)

    out["edges_per_s"] = len(edges) / _timed(store_edges)

    link_of: dict[int, int] = {}

    def assign(nodes: list[int]) -> None:
        with store.write() as tx:
            links = tx.allocate_link_ids(len(nodes) // 2, 2)
            assignments = [(n, links[i // 2]) for i, n in enumerate(nodes[: 2 * len(links)])]
            tx.assign_links(assignments, 2)
        link_of.update(assignments)

    assign_s = [_timed(partial(assign, n)) for n in nodes_per_batch]
    out["assign_records_per_s"] = sum(len(n) for n in nodes_per_batch) / sum(assign_s)

    sample = [rng.choice(all_nodes) for _ in range(args.lookups)]
    lookup_s: list[float] = []
    for node in sample:
        start = time.perf_counter()
        links = store.read_node_links([node])
        members = store.link_members(sorted(set(links.values())))
        lookup_s.append(time.perf_counter() - start)
        assert len(members) == 2
    out["lookup_us_median"] = statistics.median(lookup_s) * 1e6
    out["lookup_us_p99"] = sorted(lookup_s)[int(len(lookup_s) * 0.99) - 1] * 1e6
    out["lookups_per_s"] = len(lookup_s) / sum(lookup_s)

    def audit_once(i: int) -> None:
        node = sample[i % len(sample)]
        with store.write() as tx:
            last = tx.last_audit()
            seq = 1 if last is None else last.sequence + 1
            prev = b"\0" * 32 if last is None else last.entry_hash
            tx.append_audit(
                AuditRow(
                    seq,
                    i,
                    "responder",
                    "lookup",
                    (f"links/{link_of[node]}",),
                    "{}",
                    prev,
                    b"h" * 32,
                )
            )
            tx.insert_disclosures(
                [DisclosureRow("police", b"k", link_of[node], "r1", "mhc", "crisis", i, seq)]
            )

    audit_s = [_timed(partial(audit_once, i)) for i in range(args.audits)]
    out["audit_ms_per_tx_median"] = statistics.median(audit_s) * 1000
    out["audit_tx_per_s"] = len(audit_s) / sum(audit_s)

    def load() -> None:
        count = sum(1 for _ in store.iter_index_records(1, "0123456789abcdef"))
        assert count == total

    out["index_load_records_per_s"] = total / _timed(load)
    return out


ROWS = (
    ("ingest_records_per_s", "ingest: records/s ({tx} tx x {per} records)", "{:,.0f}"),
    ("ingest_ms_per_tx_median", "ingest: ms per {per}-record tx (median)", "{:,.1f}"),
    ("edges_per_s", "edges insert: edges/s ({edges} in one tx)", "{:,.0f}"),
    ("assign_records_per_s", "link assignment: records/s", "{:,.0f}"),
    ("lookup_us_median", "lookup (read_node_links + link_members): us median", "{:,.0f}"),
    ("lookup_us_p99", "lookup: us p99", "{:,.0f}"),
    ("lookups_per_s", "lookups/s (one thread)", "{:,.0f}"),
    ("audit_ms_per_tx_median", "audit append + disclosure: ms per tx (median)", "{:,.2f}"),
    ("audit_tx_per_s", "audit append tx/s", "{:,.0f}"),
    ("index_load_records_per_s", "index load (iter_index_records): records/s", "{:,.0f}"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transactions", type=int, default=5)
    parser.add_argument("--records-per-tx", type=int, default=10_000)
    parser.add_argument("--edges", type=int, default=50_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--audits", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench_store.json")
    args = parser.parse_args()
    work = Workload(args)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        sqlite = SqliteLinkStore(Path(tmp) / "index.db")
        try:
            results["sqlite"] = run_engine(sqlite, work)
        finally:
            sqlite.close()
    with postgres_dsn() as dsn:
        pg = PostgresLinkStore(dsn, schema=f"bench_{uuid.uuid4().hex[:12]}")
        try:
            results["postgres"] = run_engine(pg, work)
        finally:
            pg.close()
    fmt = {"tx": args.transactions, "per": args.records_per_tx, "edges": args.edges}
    print(f"{'operation':<58} {'SQLite':>12} {'PostgreSQL':>12} {'PG/SQLite':>9}")
    for key, label, number in ROWS:
        s, p = results["sqlite"][key], results["postgres"][key]
        print(
            f"{label.format(**fmt):<58} {number.format(s):>12} {number.format(p):>12} {p / s:>9.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "args": {k: v for k, v in vars(args).items() if k != "out"},
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "results": results,
            },
            indent=2,
        )
    )
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
