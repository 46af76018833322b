"""Key-epoch rotation at scale: the matcher's time to move N records from epoch 1 to 2.

    .venv/bin/python benchmarks/bench_epoch_rotation.py [--records 1000000] [--batch 10000]

What is timed is the matcher's share of a rotation (docs/key-rotation.md), in the default
probabilistic mode on the embedded SQLite store, with the real service and admin code:

* ``begin``: ``linkage-admin epoch begin``'s transaction, then the matcher following it
  (one lookup; it builds the next epoch's empty mirror);
* ``upload``: every record's epoch-2 CLK through ``LinkageService.write_batch`` in batches
  of ``--batch`` (the upserts ``agency-client upload`` sends with ``[rotation]``):
  validation, the write transaction with its audit entry, the next epoch's mirror;
* ``finish``: ``linkage-admin epoch finish``'s one transaction (every record onto its
  epoch-2 CLK and pointer token, the epoch-1 ones deleted);
* ``follow``: the running matcher's next lookup after the finish (it catches up and makes
  the epoch-2 mirror the one in force).

Lookups run the whole time (``--lookup-every`` seconds apart, of epoch 1 until the
uploads are in, then of epoch 2, as gateways switch): their count, failures and latency
are reported, by phase; the finish above all, since its one transaction holds the store's
write lock and each lookup's audit entry waits for it. The admin operations use their own
store connection, as ``linkage-admin`` is its own process.

Not timed: encoding at the agencies (bench_encode.py measures it: one export per agency,
on the agency's own machine, in parallel with the others) and seeding the store. The
records are seeded straight into the store (epoch 1, linked in pairs); their CLKs are
real segmented CLKs of synthetic people (a pool of ``--pool`` rows encoded once per epoch
with the shipped default schema and a fresh secret each, reused round-robin), so every
check the matcher makes on a real upload applies. Link IDs are compared before and after.
With ``--store postgres`` the store is a fresh schema in the PostgreSQL database named by
``LINKAGE_TEST_PG_DSN`` (``python scripts/ci_postgres.py run -- python
benchmarks/bench_epoch_rotation.py --store postgres`` starts a throwaway server and sets
it), dropped afterwards.

Results: printed, and written to build/bench_epoch_rotation.json (``_postgres`` added to
the name for PostgreSQL).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.scenario_rows import mapped_rows  # noqa: E402
from linkage.consent import Consent, Purpose, serialize_consent  # noqa: E402
from linkage.encode import (  # noqa: E402
    SegmentedEncoder,
    default_segmented_schema,
    segment_layout,
)
from linkage.pki import Principal, Role  # noqa: E402
from linkage.service import (  # noqa: E402
    LinkageService,
    LinkageSettings,
    ProbabilisticSettings,
    RecordUpsert,
    ServiceLimits,
    WriteBatch,
)
from linkage.service._rotation import (  # noqa: E402
    begin_rotation,
    finish_rotation,
    rotation_status,
)
from linkage.store import LinkStore, NewRecord, SqliteLinkStore  # noqa: E402

AGENCIES = ("metro-police", "valley-mhc", "riverside-er", "harbour-sud")
SEGMENTED = default_segmented_schema()
LAYOUT = segment_layout(SEGMENTED.schema.length, SEGMENTED.segmentation)
SETTINGS = LinkageSettings(
    threshold=0.5,
    clk_bits=LAYOUT.total_words * 64,
    key_epoch=1,
    schema_fingerprint=SEGMENTED.fingerprint,
    probabilistic=ProbabilisticSettings(
        layout=LAYOUT, hardened=True, schema_source="default-segmented"
    ),
)
#: records per seeding transaction
_SEED_TX = 50_000
PG_DSN_VARIABLE = "LINKAGE_TEST_PG_DSN"


def _pool(rows: int, epoch: int, seed: int) -> list[bytes]:
    """Real segmented CLKs of ``rows`` synthetic records in ``epoch`` (a fresh secret)."""
    people = max(10, rows // 3)
    mapped = mapped_rows(people, seed)[:rows]
    encoder = SegmentedEncoder(SEGMENTED, secrets.token_bytes(32), key_epoch=epoch)
    batch = encoder.encode_valid([list(r.values) for r in mapped])
    return [clk.tobytes() for clk in batch.clks]


def _key(i: int) -> bytes:
    return b"rec-%09d" % i


def _seed(store: LinkStore, records: int, pool: list[bytes], consent: bytes) -> None:
    """``records`` epoch-1 records, round-robin over the agencies, linked in pairs."""
    with store.write() as tx:
        for agency_id in AGENCIES:
            tx.insert_agency(agency_id, agency_id, b"", 1)
    for start in range(0, records, _SEED_TX):
        stop = min(records, start + _SEED_TX)
        with store.write() as tx:
            nodes = [
                tx.insert_record(
                    NewRecord(
                        agency_id=AGENCIES[i % len(AGENCIES)],
                        record_key=_key(i),
                        key_epoch=1,
                        schema_fingerprint=SETTINGS.schema_fingerprint,
                        clk=pool[i % len(pool)],
                        pointer_token=secrets.token_bytes(48),
                        consent=consent,
                        linkable=True,
                        content_digest=secrets.token_bytes(32),
                        update_time_us=1,
                    )
                )
                for i in range(start, stop)
            ]
            links = tx.allocate_link_ids((len(nodes) + 1) // 2, 1)
            tx.assign_links(((node, links[k // 2]) for k, node in enumerate(nodes)), 1)


def _lookup(service: LinkageService, clk: bytes, epoch: int) -> int:
    who = Principal(Role.RESPONDER, AGENCIES[0], "bench", 3)
    return len(service.lookup(who, clk, epoch, SETTINGS.schema_fingerprint, "crisis_response", 5))


class _Lookups:
    """Lookups throughout the rotation, from a thread, as a responder gateway sends them."""

    def __init__(self, service: LinkageService, pools: dict[int, list[bytes]], every: float):
        self.service, self.pools, self.every = service, pools, every
        self.epoch = 1
        self.phase = "begin"
        self.times: dict[str, list[float]] = {}
        self.failures: dict[str, list[str]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        i = 0
        while not self.stop.is_set():
            phase, epoch = self.phase, self.epoch
            pool = self.pools[epoch]
            started = time.perf_counter()
            try:
                _lookup(self.service, pool[i % len(pool)], epoch)
            except Exception as exc:
                self.failures.setdefault(phase, []).append(f"{type(exc).__name__}: {exc}")
            else:
                self.times.setdefault(phase, []).append(time.perf_counter() - started)
            i += 1
            self.stop.wait(self.every)

    def figures(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for phase in dict.fromkeys([*self.times, *self.failures]):
            times = sorted(self.times.get(phase, []))
            out[phase] = {
                "answered": len(times),
                "failed": len(self.failures.get(phase, [])),
                "first_failures": self.failures.get(phase, [])[:3],
                "median_ms": 1000 * statistics.median(times) if times else None,
                "max_ms": 1000 * times[-1] if times else None,
            }
        return out


@dataclass(frozen=True, slots=True)
class _Database:
    """Where the benchmark's store lives: how to open it, its size, how to drop it."""

    open: Callable[[], LinkStore]
    size: Callable[[], int]
    drop: Callable[[], None]


def _database(engine: str, folder: Path) -> _Database:
    if engine == "sqlite":
        path = folder / "index.sqlite"
        return _Database(
            lambda: SqliteLinkStore(path),
            lambda: sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith("index")),
            lambda: None,  # the temporary folder goes with it
        )
    import psycopg
    from psycopg import sql

    from linkage.store import PostgresLinkStore

    dsn = os.environ.get(PG_DSN_VARIABLE)
    if not dsn:
        raise SystemExit(
            f"--store postgres needs {PG_DSN_VARIABLE}; run under scripts/ci_postgres.py run --"
        )
    schema = f"bench_rotation_{uuid.uuid4().hex[:12]}"

    def size() -> int:
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            ).fetchone()
        return int(row[0]) if row else 0

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    return _Database(lambda: PostgresLinkStore(dsn, schema=schema), size, drop)


def run(
    records: int,
    batch: int,
    pool_rows: int,
    out: Path,
    lookup_every: float,
    engine: str = "sqlite",
) -> dict[str, Any]:
    started_all = time.perf_counter()
    pool_1 = _pool(pool_rows, 1, 11)
    pool_2 = _pool(pool_rows, 2, 11)
    size = min(len(pool_1), len(pool_2))
    pool_1, pool_2 = pool_1[:size], pool_2[:size]
    consent = serialize_consent(
        Consent.for_recipients(
            roles=[Role.RESPONDER],
            purposes=[Purpose.CRISIS_RESPONSE],
            expires_at=datetime(2099, 1, 1, tzinfo=UTC),
            agencies=(),
            allow_linkage=True,
        )
    )
    figures: dict[str, Any] = {
        "records": records,
        "batch": batch,
        "distinct_clks": size,
        "store": engine,
    }
    with tempfile.TemporaryDirectory(prefix="bench-rotation-") as folder:
        os.chmod(folder, 0o700)
        database = _database(engine, Path(folder))
        store = database.open()
        t0 = time.perf_counter()
        _seed(store, records, pool_1, consent)
        figures["seed_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        limits = ServiceLimits(lookup_rate_per_s=1000, lookup_burst=1000)
        service = LinkageService(store, SETTINGS, limits)
        figures["matcher_start_s"] = time.perf_counter() - t0
        links_before = dict(store.iter_node_links())
        admin = database.open()  # linkage-admin's own connection
        lookups = _Lookups(service, {1: pool_1, 2: pool_2}, lookup_every)
        lookups.thread.start()

        t0 = time.perf_counter()
        begin_rotation(admin, 1, 2, "linkage-admin:bench", 2)
        _lookup(service, pool_2[0], 2)
        figures["begin_s"] = time.perf_counter() - t0
        lookups.phase = "upload"

        t0 = time.perf_counter()
        sent = 0
        for a, agency_id in enumerate(AGENCIES):
            mine = range(a, records, len(AGENCIES))
            who = Principal(Role.AGENCY, agency_id, "it", 2)
            for start in range(0, len(mine), batch):
                chunk = mine[start : start + batch]
                outcome = service.write_batch(
                    who,
                    WriteBatch(
                        agency_id=agency_id,
                        batch_id=f"rotate-{agency_id}-{start}",
                        key_epoch=2,
                        schema_fingerprint=SETTINGS.schema_fingerprint,
                        mutations=tuple(
                            RecordUpsert(
                                record_key=_key(i),
                                clk=pool_2[i % size],
                                pointer_token=secrets.token_bytes(48),
                                consent=consent,
                                linkable=True,
                            )
                            for i in chunk
                        ),
                    ),
                )
                sent += outcome.inserted
        figures["upload_s"] = time.perf_counter() - t0
        figures["upload_records_per_s"] = sent / max(figures["upload_s"], 1e-9)
        status = rotation_status(admin, 1)
        assert not status.blocking, status.blocking
        lookups.epoch, lookups.phase = 2, "finish"

        t0 = time.perf_counter()
        finished = finish_rotation(admin, 1, "linkage-admin:bench", 3)
        figures["finish_s"] = time.perf_counter() - t0
        lookups.phase = "follow"
        t0 = time.perf_counter()
        _lookup(service, pool_2[0], 2)
        figures["follow_s"] = time.perf_counter() - t0
        lookups.phase = "after"
        time.sleep(min(1.0, 20 * lookup_every))
        lookups.stop.set()
        lookups.thread.join()
        figures["lookups"] = lookups.figures()
        figures["lookups_answered"] = sum(p["answered"] for p in figures["lookups"].values())
        figures["lookups_failed"] = sum(p["failed"] for p in figures["lookups"].values())
        admin.close()
        assert finished.records_moved == records, finished
        assert service.settings.key_epoch == 2
        assert service.indexed_count == records
        changed = sum(1 for n, link in store.iter_node_links() if links_before.get(n) != link)
        figures["link_ids_changed"] = changed
        figures["database_bytes"] = database.size()
        store.close()
        database.drop()
    figures["rotation_s"] = sum(figures[k] for k in ("begin_s", "upload_s", "finish_s", "follow_s"))
    figures["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures["wall_s"] = time.perf_counter() - started_all
    figures["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_1m": os.getloadavg()[0],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="upserts per batch")
    parser.add_argument("--pool", type=int, default=4000, help="distinct CLKs per epoch")
    parser.add_argument("--lookup-every", type=float, default=0.05, help="seconds between lookups")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    name = "bench_epoch_rotation" + ("" if args.store == "sqlite" else "_postgres")
    out = args.out or REPO / "build" / f"{name}.json"
    figures = run(
        args.records, args.batch, min(args.pool, args.records), out, args.lookup_every, args.store
    )
    print(json.dumps(figures, indent=2, sort_keys=True))
    print(
        f"rotated {figures['records']:,} records in {figures['rotation_s']:.1f} s "
        f"(upload {figures['upload_s']:.1f} s, finish {figures['finish_s']:.1f} s, follow "
        f"{figures['follow_s']:.1f} s); link IDs changed: {figures['link_ids_changed']}; "
        f"lookups during it: {figures['lookups_answered']} answered, "
        f"{figures['lookups_failed']} failed; written to {out}"
    )


if __name__ == "__main__":
    main()
