"""Store benchmark: SQLite (WAL) against PostgreSQL, side by side in one run.

    .venv/bin/python benchmarks/bench_store.py [--transactions 5] [--records-per-tx 10000]

The operations the service uses most, in one run and interleaved, so that both
engines see the same load on a shared machine: each ingest, assignment and
the edges transaction runs on SQLite and then at once on PostgreSQL, and the
lookups and audits alternate in ``--rounds`` rounds. Same deterministic data:

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
from collections.abc import Iterator
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
        total = args.transactions * args.records_per_tx
        positions: set[tuple[int, int]] = set()
        while len(positions) < args.edges:
            a, b = rng.sample(range(total), 2)
            positions.add((min(a, b), max(a, b)))
        self.edge_positions = [
            (a, b, round(rng.uniform(0.8, 1.0), 6)) for a, b in sorted(positions)
        ]


class EngineRun:
    """The phases on one store, keeping the state the later phases need."""

    def __init__(self, store: LinkStore, work: Workload) -> None:
        self.store = store
        self.work = work
        self.times: dict[str, list[float]] = {}
        self.nodes_per_batch: list[list[int]] = []
        self.link_of: dict[int, int] = {}
        self.audit_count = 0
        with store.write() as tx:
            for agency in AGENCIES:
                tx.insert_agency(agency, agency.title(), b"card", 1)

    def _record(self, phase: str, seconds: float) -> None:
        self.times.setdefault(phase, []).append(seconds)

    def ingest(self, batch_no: int) -> None:
        records = self.work.batches[batch_no]
        agency = records[0].agency_id
        start = time.perf_counter()
        with self.store.write() as tx:
            nodes = [tx.insert_record(r) for r in records]
            tx.save_batch(BatchRow(agency, f"b{batch_no}", b"d" * 32, b"r" * 64, 1))
            tx.append_events(
                [
                    EventRow(
                        EventKind.BATCH_COMMITTED,
                        1,
                        agency,
                        f"b{batch_no}",
                        record_count=len(records),
                    )
                ]
            )
        self._record("ingest", time.perf_counter() - start)
        self.nodes_per_batch.append(nodes)

    def edges(self) -> None:
        # Node IDs differ between engines (sequences vs AUTOINCREMENT), so the
        # pairs are drawn by position, identically for both.
        nodes = sorted(n for batch in self.nodes_per_batch for n in batch)
        rows = [
            EdgeRow(nodes[min(a, b)], nodes[max(a, b)], score)
            for a, b, score in self.work.edge_positions
        ]
        start = time.perf_counter()
        with self.store.write() as tx:
            tx.insert_edges(rows)
        self._record("edges", time.perf_counter() - start)

    def assign(self, batch_no: int) -> None:
        nodes = self.nodes_per_batch[batch_no]
        start = time.perf_counter()
        with self.store.write() as tx:
            links = tx.allocate_link_ids(len(nodes) // 2, 2)
            assignments = [(n, links[i // 2]) for i, n in enumerate(nodes[: 2 * len(links)])]
            tx.assign_links(assignments, 2)
        self._record("assign", time.perf_counter() - start)
        self.link_of.update(assignments)

    def lookups(self, positions: list[tuple[int, int]]) -> None:
        for batch_no, index in positions:
            node = self.nodes_per_batch[batch_no][index]
            start = time.perf_counter()
            links = self.store.read_node_links([node])
            members = self.store.link_members(sorted(set(links.values())))
            self._record("lookup", time.perf_counter() - start)
            assert len(members) == 2

    def audits(self, count: int) -> None:
        for _ in range(count):
            i = self.audit_count
            self.audit_count += 1
            link = self.link_of[self.nodes_per_batch[0][i % 1000]]
            start = time.perf_counter()
            with self.store.write() as tx:
                last = tx.last_audit()
                seq = 1 if last is None else last.sequence + 1
                prev = b"\0" * 32 if last is None else last.entry_hash
                tx.append_audit(
                    AuditRow(
                        seq, i, "responder", "lookup", (f"links/{link}",), "{}", prev, b"h" * 32
                    )
                )
                tx.insert_disclosures(
                    [DisclosureRow("police", b"k", link, "r1", "mhc", "crisis", i, seq)]
                )
            self._record("audit", time.perf_counter() - start)

    def index_load(self) -> None:
        start = time.perf_counter()
        count = sum(1 for _ in self.store.iter_index_records(1, "0123456789abcdef"))
        self._record("index_load", time.perf_counter() - start)
        assert count == sum(len(b) for b in self.work.batches)

    def summary(self) -> dict[str, float]:
        t = self.times
        total = sum(len(b) for b in self.work.batches)
        lookup = sorted(t["lookup"])
        return {
            "ingest_records_per_s": total / sum(t["ingest"]),
            "ingest_ms_per_tx_median": statistics.median(t["ingest"]) * 1000,
            "edges_per_s": len(self.work.edge_positions) / sum(t["edges"]),
            "assign_records_per_s": total / sum(t["assign"]),
            "lookup_us_median": statistics.median(lookup) * 1e6,
            "lookup_us_p99": lookup[max(0, int(len(lookup) * 0.99) - 1)] * 1e6,
            "lookups_per_s": len(lookup) / sum(lookup),
            "audit_ms_per_tx_median": statistics.median(t["audit"]) * 1000,
            "audit_tx_per_s": len(t["audit"]) / sum(t["audit"]),
            "index_load_records_per_s": total / sum(t["index_load"]),
        }


def run_interleaved(engines: list[EngineRun], work: Workload, rounds: int) -> None:
    """Every phase on each engine in turn, so both see the same machine load."""
    args = work.args
    for batch_no in range(args.transactions):
        for run in engines:
            run.ingest(batch_no)
    for run in engines:
        run.edges()
    for batch_no in range(args.transactions):
        for run in engines:
            run.assign(batch_no)
    rng = random.Random(11)
    positions = [
        (rng.randrange(args.transactions), rng.randrange(args.records_per_tx // 2 * 2))
        for _ in range(args.lookups)
    ]
    per_round = max(1, args.lookups // rounds)
    for first in range(0, args.lookups, per_round):
        for run in engines:
            run.lookups(positions[first : first + per_round])
    audits_per_round = max(1, args.audits // rounds)
    for _ in range(0, args.audits, audits_per_round):
        for run in engines:
            run.audits(audits_per_round)
    for run in engines:
        run.index_load()


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
    parser.add_argument("--rounds", type=int, default=10, help="alternations of the latency phases")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench_store.json")
    args = parser.parse_args()
    work = Workload(args)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp, postgres_dsn() as dsn:
        sqlite = SqliteLinkStore(Path(tmp) / "index.db")
        pg = PostgresLinkStore(dsn, schema=f"bench_{uuid.uuid4().hex[:12]}")
        try:
            runs = {"sqlite": EngineRun(sqlite, work), "postgres": EngineRun(pg, work)}
            run_interleaved(list(runs.values()), work, args.rounds)
            results = {name: run.summary() for name, run in runs.items()}
        finally:
            sqlite.close()
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
