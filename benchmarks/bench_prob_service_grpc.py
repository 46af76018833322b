"""The matcher in probabilistic mode over gRPC on a large realistic index (issue 10 at scale).

    python benchmarks/bench_prob_service_grpc.py --records 1000000 [--queries 1000]
        [--ingest-batches 3] [--batch-records 10000] [--blocking large]
        [--data build/prob-blocking] [--store sqlite|postgres] [--lookups-during-batch]
        [--skip-rebuild]

    python scripts/ci_postgres.py run -- \
        python benchmarks/bench_prob_service_grpc.py --store postgres --records 1000000

Like ``benchmarks/bench_service.py`` (whose server runner, channels and consent it uses),
but with realistic segmented CLKs instead of random ones: the multi-agency records that
``benchmarks/bench_prob_blocking.py generate`` caches (CLKs of the shipped
segmented schema, person ids, agencies).

1. Prepare (cached in --work, keyed by --records and --blocking): a demo PKI; a server.toml
   with ``[linkage.probabilistic]`` (match probability 0.5, the named blocking rule set,
   average-link clusters); the first ``--records`` records bulk-loaded into SQLite (minus
   the held-out ones below; the packed records are read through a memory map of
   ``all-packed-<n>.npy``, written once from the chunks), then one rebuild, in a process of
   its own, which fits the Fellegi-Sunter model on them (timed; its peak RSS reported).
   A bulk load that finished is kept (``loaded.json``) when the rebuild fails.
   ``--skip-rebuild`` stops after the bulk load: no record holds a link, the model is the
   shipped prior, and a lookup can only find what the batches linked. It measures the
   server's load, memory, lookup search and batches at a size the rebuild cannot handle
   yet (ten million records: docs/matcher.md).
2. Lookups over gRPC with mTLS and audit, from this process, against the server started
   on that store: half the queries are a held-out record of a person whose other records
   are indexed (counted: a link came back), half records of people held out entirely
   (counted: an answer is a false disclosure).
3. Ingest: batches of 10,000 records (``--batch-records``) of people not yet indexed or
   partly indexed, over gRPC with mTLS, each linked before it is acknowledged.
   ``--lookups-during-batch`` instead sends one batch while another thread of this process
   asks lookups without pause (known people), and reports the lookups' latencies in the
   5 s before the batch and while it runs.
4. The server's resident memory.

With ``--store postgres`` the store is the PostgreSQL database named by
``LINKAGE_TEST_PG_DSN`` (``scripts/ci_postgres.py run`` starts a throwaway server and sets
it); the preparation is then never cached, because that server is gone after the run.
The batches hold no record of the stranger queries' people, so a later run on the same
prepared store still asks about strangers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.bench_service import (  # noqa: E402
    Server,
    channel,
    consent_bytes,
    new_records_request,
    open_store,
    send_batches,
    server_toml,
    store_section,
)
from linkage.encode import default_segmented_schema, segment_layout  # noqa: E402
from linkage.match import unpack_clks  # noqa: E402
from linkage.pki import Principal, Role, create_demo_pki  # noqa: E402
from linkage.server import load_server_config  # noqa: E402
from linkage.service import LinkageService, ServiceLimits  # noqa: E402
from linkage.store import NewRecord  # noqa: E402
from linkage.v1 import (  # noqa: E402
    ingest_pb2_grpc,
    lookup_pb2,
    lookup_pb2_grpc,
)

AGENCIES = ("metro-police", "valley-mhc", "riverside-er", "harbour-sud")
SEGMENTED = default_segmented_schema()
#: Bits of a segmented CLK: the record CLK and its segments (the layout's words).
SEGMENTED_BITS = segment_layout(SEGMENTED.schema.length, SEGMENTED.segmentation).total_words * 64


def load_data(data: Path, needed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``needed`` cached records: packed (a read-only memory map of
    ``all-packed-<n>.npy`` beside the chunks, written once from them, so that ten million
    records are not held in this process), person ids and agency indices."""
    paths = sorted(p for p in data.glob("chunk-*.npz") if ".tmp" not in p.name)
    person, agency, sizes = [], [], []
    for path in paths:
        with np.load(path) as chunk:
            person.append(chunk["person"])
            agency.append(chunk["agency"])
        sizes.append(person[-1].shape[0])
    total = sum(sizes)
    if total < needed:
        raise SystemExit(
            f"{data} holds {total} records, {needed} needed: "
            "run benchmarks/bench_prob_blocking.py generate first"
        )
    flat = data / f"all-packed-{total}.npy"
    if not flat.exists():
        with np.load(paths[0]) as chunk:
            words = chunk["packed"].shape[1]
        tmp = data / f"all-packed-{total}.tmp.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint64, shape=(total, words))
        start = 0
        for path, size in zip(paths, sizes, strict=True):
            with np.load(path) as chunk:
                out[start : start + size] = chunk["packed"]
            start += size
        out.flush()
        del out
        tmp.rename(flat)
    packed = np.load(flat, mmap_mode="r")
    return packed[:needed], np.concatenate(person)[:needed], np.concatenate(agency)[:needed]


def plan(person: np.ndarray, records: int, queries: int, ingest: int) -> dict[str, np.ndarray]:
    """Row numbers: indexed, known-person queries, stranger queries, later batches."""
    rng = np.random.default_rng(11)
    base = np.arange(records)
    ids, first, counts = np.unique(person[:records], return_index=True, return_counts=True)
    several = first[counts >= 2]
    known = np.sort(rng.choice(several, size=queries // 2, replace=False))
    single_people = ids[counts == 1]
    chosen = rng.choice(single_people, size=queries - queries // 2, replace=False)
    stranger_mask = np.isin(person[:records], chosen)
    indexed = np.ones(records, dtype=bool)
    indexed[known] = False
    indexed[stranger_mask] = False
    extra = np.arange(records, len(person))
    extra = extra[~np.isin(person[records:], chosen)][:ingest]
    return {
        "indexed": base[indexed],
        "known": known,
        "strangers": base[stranger_mask],
        "ingest": extra,
    }


def write_config(work: Path, pki_root: Path, blocking: str, engine: str) -> Path:
    pki = create_demo_pki(pki_root, agency_ids=AGENCIES)
    path = work / "server.toml"
    linkage = f"""
[linkage]
threshold = 0.5
clk_bits = {SEGMENTED_BITS}
key_epoch = 1
schema_fingerprint = "{SEGMENTED.fingerprint}"

[linkage.probabilistic]
schema = "default-segmented"
blocking = "{blocking}"

[linkage.clustering]
method = "average_link"
"""
    path.write_text(server_toml(pki, store_section(engine), linkage))
    return path


def prepare(
    work: Path,
    packed: np.ndarray,
    rows: np.ndarray,
    blocking: str,
    engine: str,
    skip_rebuild: bool = False,
) -> dict[str, object]:
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o700)  # the store's folder must be private (docs/security.md)
    marker = work / "prepared.json"
    loaded = work / "loaded.json"
    if marker.exists() and engine == "sqlite":
        return dict(json.loads(marker.read_text()))
    if loaded.exists() and engine == "sqlite":
        result = dict(json.loads(loaded.read_text()))  # loaded before; the rebuild failed
    else:
        result = bulk_load(work, packed, rows, blocking, engine)
        loaded.write_text(json.dumps(result))
    if skip_rebuild:
        result["rebuild"] = "skipped: the records hold no links"
        marker.write_text(json.dumps(result))
        return result
    # the rebuild in a process of its own: its peak memory is its own, not this one's
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        result.update(pool.apply(rebuild, (work, engine)))
    marker.write_text(json.dumps(result))
    return result


def bulk_load(
    work: Path, packed: np.ndarray, rows: np.ndarray, blocking: str, engine: str
) -> dict[str, object]:
    """A new store (and PKI) holding the records ``rows``, inserted 50,000 at a time."""
    for stale in ("index.db", "index.db-wal", "index.db-shm"):
        (work / stale).unlink(missing_ok=True)
    shutil.rmtree(work / "pki-root", ignore_errors=True)  # a new store gets a new PKI
    config = load_server_config(write_config(work, work / "pki-root", blocking, engine), os.environ)
    store = open_store(work, engine)
    operator = Principal(Role.OPERATOR, None, "bench", 1)
    service = LinkageService(store, config.linkage, ServiceLimits())
    for agency_id in AGENCIES:
        service.create_agency(operator, agency_id, agency_id, b"")
    consent = consent_bytes()
    now = int(time.time() * 1e6)
    started = time.perf_counter()
    for start in range(0, len(rows), 50_000):
        chunk = rows[start : start + 50_000]
        clks = unpack_clks(np.ascontiguousarray(packed[chunk]))
        with store.write() as tx:
            for row, clk in zip(chunk.tolist(), clks, strict=True):
                key = f"r{row}".encode()
                tx.insert_record(
                    NewRecord(
                        agency_id=AGENCIES[row % len(AGENCIES)],
                        record_key=key,
                        key_epoch=1,
                        schema_fingerprint=SEGMENTED.fingerprint,
                        clk=clk.tobytes(),
                        pointer_token=b"ptr-" + key,
                        consent=consent,
                        linkable=True,
                        content_digest=key,
                        update_time_us=now,
                    )
                )
        if start % 1_000_000 == 0 and start:
            print(
                f"bulk load: {start} records in {time.perf_counter() - started:.0f} s", flush=True
            )
    load_s = time.perf_counter() - started
    store.close()
    return {"store": engine, "records": len(rows), "blocking": blocking, "bulk_load_s": load_s}


def rebuild(work: Path, engine: str) -> dict[str, object]:
    """Open the prepared store, load the index and rebuild every link once (the model fit
    included); in a process of its own (its peak RSS is reported)."""
    config = load_server_config(work / "server.toml", os.environ)
    operator = Principal(Role.OPERATOR, None, "bench", 1)
    store = open_store(work, engine)
    started = time.perf_counter()
    service = LinkageService(store, config.linkage, ServiceLimits())
    index_load_s = time.perf_counter() - started
    loaded_rss = _rss_mib()
    started = time.perf_counter()
    run = service.rebuild(operator, "benchmark preparation")
    rebuild_s = time.perf_counter() - started
    store.close()
    fit = json.loads(run.model)["probabilistic"]["model"].get("fit")
    return {
        "index_load_s": index_load_s,
        "rebuild_s": rebuild_s,
        "rebuild_candidate_pairs": run.candidate_pair_count,
        "rebuild_links": run.link_count,
        "rebuild_rss_after_load_mib": loaded_rss,
        "rebuild_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "model_fit": fit,
    }


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def lookup_request(packed: np.ndarray, row: int) -> lookup_pb2.LookupRequest:
    """A responder's lookup of record ``row`` for crisis response."""
    return lookup_pb2.LookupRequest(
        clk=unpack_clks(np.ascontiguousarray(packed[row : row + 1]))[0].tobytes(),
        key_epoch=1,
        schema_fingerprint=SEGMENTED.fingerprint,
        purpose="crisis_response",
    )


def lookups(work: Path, packed: np.ndarray, split: dict[str, np.ndarray]) -> dict[str, object]:
    server = Server(work, insecure=False, audit=True)
    try:
        stub = lookup_pb2_grpc.LookupServiceStub(
            channel(server, work / "pki-root", "metro-police-gateway", False)
        )

        def ask(row: int) -> int:
            return len(stub.Lookup(lookup_request(packed, row)).links)

        rng = np.random.default_rng(5)
        known = split["known"].tolist()
        strangers = rng.choice(split["strangers"], size=len(known), replace=False).tolist()
        for row in known[:20]:
            ask(row)
        latencies: list[float] = []
        found = {"known": 0, "strangers": 0}
        order = [("known", r) for r in known] + [("strangers", r) for r in strangers]
        for index in rng.permutation(len(order)).tolist():
            kind, row = order[index]
            started = time.perf_counter()
            found[kind] += ask(row) > 0
            latencies.append(time.perf_counter() - started)
        latencies.sort()
        return {
            "queries": len(latencies),
            "known_found": found["known"],
            "known_queries": len(known),
            "strangers_answered": found["strangers"],
            "stranger_queries": len(strangers),
            "median_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "server_start_s": server.start_s,
            **server.memory_mib(),
        }
    finally:
        server.stop()


def ingest(
    work: Path, packed: np.ndarray, rows: np.ndarray, batches: int, size: int = 10_000
) -> dict[str, object]:
    return send_batches(
        work,
        "metro-police-it",
        "metro-police",
        SEGMENTED.fingerprint,
        (
            unpack_clks(np.ascontiguousarray(packed[rows[b * size : (b + 1) * size]]))
            for b in range(batches)
        ),
    )


def lookups_during_batch(
    work: Path, packed: np.ndarray, split: dict[str, np.ndarray], size: int
) -> dict[str, object]:
    """Lookups without pause before and while one batch of ``size`` records is linked."""
    server = Server(work, insecure=False, audit=True)
    try:
        look = lookup_pb2_grpc.LookupServiceStub(
            channel(server, work / "pki-root", "metro-police-gateway", False)
        )
        ingest_stub = ingest_pb2_grpc.IngestServiceStub(
            channel(server, work / "pki-root", "metro-police-it", False)
        )
        known = split["known"].tolist()
        queries = [lookup_request(packed, row) for row in known]
        for request in queries[:20]:
            look.Lookup(request)
        samples: list[tuple[float, float]] = []  # (start, seconds)
        stop = threading.Event()

        def ask_without_pause() -> None:
            asked = 0
            while not stop.is_set():
                started = time.perf_counter()
                look.Lookup(queries[asked % len(queries)])
                samples.append((started, time.perf_counter() - started))
                asked += 1

        asker = threading.Thread(target=ask_without_pause)
        asker.start()
        try:
            time.sleep(5)
            rows = split["ingest"][:size]
            clks = unpack_clks(np.ascontiguousarray(packed[rows]))
            request = new_records_request(
                "metro-police",
                f"during-{int(time.time())}",
                "during-",
                SEGMENTED.fingerprint,
                clks,
            )
            batch_started = time.perf_counter()
            ingest_stub.WriteBatch(request, timeout=1800)
            batch_ended = time.perf_counter()
        finally:
            stop.set()
            asker.join()

        def latencies(kept: list[float]) -> dict[str, float]:
            kept.sort()
            if not kept:
                return {"lookups": 0}
            return {
                "lookups": len(kept),
                "median_ms": 1000 * statistics.median(kept),
                "p99_ms": 1000 * kept[int(0.99 * (len(kept) - 1))],
                "max_ms": 1000 * kept[-1],
            }

        return {
            "batch_seconds": batch_ended - batch_started,
            "before": latencies([s for t, s in samples if t < batch_started]),
            "during": latencies([s for t, s in samples if batch_started <= t < batch_ended]),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--ingest-batches", type=int, default=3)
    parser.add_argument("--batch-records", type=int, default=10_000)
    parser.add_argument(
        "--blocking", choices=("xlarge", "large", "medium", "small"), default="large"
    )
    parser.add_argument("--data", type=Path, default=REPO / "build" / "prob-blocking")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--lookups-during-batch", action="store_true")
    parser.add_argument(
        "--skip-rebuild",
        action="store_true",
        help="bulk load only, no rebuild (no record holds a link before the batches): "
        "loading, lookups' search and batches at a size the rebuild does not handle yet",
    )
    args = parser.parse_args()
    work = (
        args.work
        or REPO
        / "build"
        / (
            f"bench-prob-grpc-{args.records}-{args.blocking}"
            + ("" if args.store == "sqlite" else "-postgres")
            + ("-no-rebuild" if args.skip_rebuild else "")
        )
    ).resolve()
    os.environ.setdefault("PYTHONPATH", str(REPO))
    batches = 1 if args.lookups_during_batch else args.ingest_batches
    ingest_rows = args.batch_records * batches
    # a few more than the batches need: rows of the stranger queries' people are left out
    spare = ingest_rows // 5
    packed, person, _ = load_data(args.data, args.records + ingest_rows + spare)
    split = plan(person, args.records, args.queries, ingest_rows)
    results: dict[str, object] = {"load_average_start": os.getloadavg()[0]}
    results["prepare"] = prepare(
        work, packed, split["indexed"], args.blocking, args.store, args.skip_rebuild
    )
    print("prepare", json.dumps(results["prepare"]), flush=True)
    results["lookup_mtls_audit"] = lookups(work, packed, split)
    print("lookup", json.dumps(results["lookup_mtls_audit"]), flush=True)
    if args.lookups_during_batch:
        results["lookups_during_batch"] = lookups_during_batch(
            work, packed, split, args.batch_records
        )
        print("lookups_during_batch", json.dumps(results["lookups_during_batch"]), flush=True)
    elif args.ingest_batches:
        results["ingest"] = ingest(
            work, packed, split["ingest"], args.ingest_batches, args.batch_records
        )
        print("ingest", json.dumps(results["ingest"]), flush=True)
    results["load_average_end"] = os.getloadavg()[0]
    (work / "results.json").write_text(json.dumps(results, indent=2))
    print(f"results written to {work / 'results.json'}")


if __name__ == "__main__":
    main()
