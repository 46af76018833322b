"""The matcher as a service: lookup latency, ingest throughput, incremental
linkage and memory on a large index (issues 4 and 5).

    python benchmarks/bench_service.py --records 1000000 [--queries 2000] [--work DIR]
    python scripts/ci_postgres.py run -- \
        python benchmarks/bench_service.py --store postgres --records 1000000

With ``--store postgres`` the store is the PostgreSQL database named by the
``LINKAGE_TEST_PG_DSN`` environment variable (``scripts/ci_postgres.py run``
starts a throwaway server and sets it); the preparation is then never cached,
because that server is gone after the run.

1. Prepare (cached in --work, keyed by --records): a demo PKI, a server.toml
   with Hamming-LSH blocking, and a SQLite store holding N synthetic records of
   1024 bits across four agencies (people appear in one to four agencies, with
   a few bits of error per record), linked by one rebuild (timed).
2. Lookups over gRPC on loopback from a separate client process: median and p99
   over Q queries (half of them known people, half strangers) against four
   server variants started one after another on the same store: mTLS + audit
   (production), mTLS without audit, plaintext with audit, neither.
3. Ingest: batches of 10,000 new records over gRPC with mTLS into the N-record
   index; each batch is linked incrementally before it is acknowledged.
4. The server's resident memory after loading the index and after ingest.

Results go to stdout and to WORK/results-N.json. Numbers depend on the machine
and on what else runs on it; compare variants measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np

from linkage.channel import mtls_channel
from linkage.consent import Consent, Purpose, serialize_consent
from linkage.pki import DemoPki, Role, create_demo_pki
from linkage.portfile import wait_for_port_file
from linkage.server import load_server_config
from linkage.service import LinkageService, ServiceLimits
from linkage.store import LinkStore, NewRecord, SqliteLinkStore
from linkage.v1 import common_pb2, ingest_pb2, ingest_pb2_grpc, lookup_pb2, lookup_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
AGENCIES = ("police", "valley-mhc", "er", "sud")
BITS = 1024
FINGERPRINT = "be" * 16
BLOCKING = {"bands": 24, "bits_per_band": 24, "seed": 11}


# ----------------------------------------------------------------- synthetic data
def random_clks(rng: np.random.Generator, n: int, fill: float = 0.3) -> np.ndarray:
    """``uint8[n, 128]`` CLKs with about ``fill`` of their bits set."""
    out = np.empty((n, BITS // 8), dtype=np.uint8)
    threshold = int(256 * fill)
    for start in range(0, n, 50_000):
        stop = min(n, start + 50_000)
        bits = rng.integers(0, 256, size=(stop - start, BITS), dtype=np.uint8) < threshold
        out[start:stop] = np.packbits(bits, axis=1)
    return out


def with_errors(rng: np.random.Generator, clks: np.ndarray, max_flips: int = 40) -> np.ndarray:
    """Each CLK with 0..max_flips random bits flipped (typos, moved addresses)."""
    n = clks.shape[0]
    flips = rng.integers(0, max_flips + 1, size=n)
    positions = rng.integers(0, BITS, size=(n, max_flips))
    keep = np.arange(max_flips)[None, :] < flips[:, None]
    rows = np.repeat(np.arange(n), max_flips)[keep.ravel()]
    pos = positions.ravel()[keep.ravel()]
    mask = np.zeros_like(clks)
    np.bitwise_xor.at(mask, (rows, pos // 8), (1 << (7 - pos % 8)).astype(np.uint8))
    return clks ^ mask


def consent_bytes() -> bytes:
    expires = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)
    return serialize_consent(
        Consent.for_recipients(
            roles=[Role.RESPONDER], purposes=[Purpose.CRISIS_RESPONSE], expires_at=expires
        )
    )


def responder_consent() -> common_pb2.Consent:
    """A batch's consent over gRPC: linkage, and responders for crisis response, until 2030."""
    consent = common_pb2.Consent(
        allow_linkage=True,
        recipient_roles=[common_pb2.ROLE_RESPONDER],
        purposes=["crisis_response"],
    )
    consent.expire_time.FromDatetime(datetime(2030, 1, 1))
    return consent


# ---------------------------------------------------------------------- prepare
PG_DSN_VARIABLE = "LINKAGE_TEST_PG_DSN"


def store_section(engine: str) -> str:
    if engine == "postgres":
        return f'engine = "postgres"\ndsn_env = "{PG_DSN_VARIABLE}"'
    return 'engine = "sqlite"\npath = "index.db"'


def open_store(work: Path, engine: str) -> LinkStore:
    if engine == "postgres":
        from linkage.store import PostgresLinkStore

        dsn = os.environ.get(PG_DSN_VARIABLE)
        if not dsn:
            raise SystemExit(
                f"--store postgres needs {PG_DSN_VARIABLE}; run under scripts/ci_postgres.py run --"
            )
        return PostgresLinkStore(dsn)
    return SqliteLinkStore(work / "index.db")


def server_toml(pki: DemoPki, store: str, linkage: str) -> str:
    """A benchmark matcher's server.toml: loopback, the demo PKI's mTLS, generous limits;
    ``store`` and ``linkage`` are the bodies of the [store] section and of the linkage
    tables (from ``[linkage]`` on)."""
    server = pki.server.paths
    return f"""
[server]
listen = "127.0.0.1:0"
max_workers = 16

[tls]
trust_domain = "coresponder.test"
ca_cert = "{server.ca_certificate}"
cert = "{server.certificate}"
key = "{server.private_key}"
crl = "{pki.directory.crl_path}"

[store]
{store}

{linkage.strip()}

[limits]
max_batch_mutations = 10000
max_message_bytes = 67108864
lookup_rate_per_s = 1000000
lookup_burst = 1000000
"""


def write_config(work: Path, pki: DemoPki, engine: str) -> Path:
    path = work / "server.toml"
    linkage = f"""
[linkage]
threshold = 0.8
clk_bits = {BITS}
key_epoch = 1
schema_fingerprint = "{FINGERPRINT}"

[linkage.blocking]
method = "hamming_lsh"
bands = {BLOCKING["bands"]}
bits_per_band = {BLOCKING["bits_per_band"]}
seed = {BLOCKING["seed"]}
"""
    path.write_text(server_toml(pki, store_section(engine), linkage))
    return path


def prepare(work: Path, records: int, engine: str) -> dict[str, object]:
    """Build the store once; later runs reuse it (SQLite only)."""
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o700)  # the store's folder must be private (docs/security.md)
    marker = work / "prepared.json"
    if marker.exists() and engine == "sqlite":
        return {"store": engine, **json.loads(marker.read_text())}
    for stale in ("index.db", "index.db-wal", "index.db-shm", "people.npy"):
        (work / stale).unlink(missing_ok=True)
    pki = create_demo_pki(work / "pki-root", agency_ids=AGENCIES)
    config = load_server_config(write_config(work, pki, engine), os.environ)
    rng = np.random.default_rng(2026)
    people = random_clks(rng, int(records * 0.6))
    np.save(work / "people.npy", people)
    consent = consent_bytes()
    store = open_store(work, engine)
    from linkage.pki import Principal

    operator = Principal(Role.OPERATOR, None, "bench", 1)
    service = LinkageService(store, config.linkage, ServiceLimits())
    for agency_id in AGENCIES:
        service.create_agency(operator, agency_id, agency_id, b"")
    started = time.perf_counter()
    per_agency = records // len(AGENCIES)
    now = int(time.time() * 1e6)
    for agency_id in AGENCIES:
        chosen = rng.choice(people.shape[0], size=per_agency, replace=False)
        clks = with_errors(rng, people[chosen])
        for start in range(0, per_agency, 50_000):
            with store.write() as tx:
                for i in range(start, min(per_agency, start + 50_000)):
                    key = f"{agency_id}-{i}".encode()
                    clk = clks[i].tobytes()
                    tx.insert_record(
                        NewRecord(
                            agency_id=agency_id,
                            record_key=key,
                            key_epoch=1,
                            schema_fingerprint=FINGERPRINT,
                            clk=clk,
                            pointer_token=b"ptr-" + key,
                            consent=consent,
                            linkable=True,
                            content_digest=key,
                            update_time_us=now,
                        )
                    )
    load_s = time.perf_counter() - started
    store.close()
    store = open_store(work, engine)
    started = time.perf_counter()
    service = LinkageService(store, config.linkage, ServiceLimits())
    index_load_s = time.perf_counter() - started
    started = time.perf_counter()
    run = service.rebuild(operator, "benchmark preparation")
    rebuild_s = time.perf_counter() - started
    store.close()
    result = {
        "store": engine,
        "records": float(records),
        "bulk_load_s": load_s,
        "index_load_s": index_load_s,
        "rebuild_s": rebuild_s,
        "rebuild_candidate_pairs": float(run.candidate_pair_count),
        "rebuild_links": float(run.link_count),
    }
    marker.write_text(json.dumps(result))
    return result


# ----------------------------------------------------------------------- server
class Server:
    def __init__(self, work: Path, *, insecure: bool, audit: bool) -> None:
        self.work = work
        port_file = work / "port"
        port_file.unlink(missing_ok=True)
        args = [sys.executable, str(REPO / "benchmarks" / "service_runner.py"),
                "--config", str(work / "server.toml"), "--port-file", str(port_file)]  # fmt: skip
        if insecure:
            args.append("--insecure")
        if not audit:
            args.append("--no-audit")
        started = time.perf_counter()
        with open(work / "server.log", "ab") as log:
            self.proc = subprocess.Popen(args, cwd=work, stdout=log, stderr=log)
        self.port = wait_for_port_file(
            port_file, self.proc, "matcher", timeout_s=None, log=work / "server.log"
        )
        self.start_s = time.perf_counter() - started

    def memory_mib(self) -> dict[str, float]:
        status = Path(f"/proc/{self.proc.pid}/status").read_text().splitlines()
        values = {line.split(":")[0]: line.split()[1] for line in status if line.startswith("Vm")}
        return {"rss_mib": int(values["VmRSS"]) / 1024, "peak_rss_mib": int(values["VmHWM"]) / 1024}

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def channel(server: Server, pki_root: Path, name: str, insecure: bool) -> grpc.Channel:
    if insecure:
        return grpc.insecure_channel(f"127.0.0.1:{server.port}")
    creds = pki_root / "credentials" / name
    return mtls_channel(
        f"localhost:{server.port}",
        ca_certificate=creds / "ca.cert.pem",
        certificate=creds / f"{name}.cert.pem",
        private_key=creds / f"{name}.key.pem",
    )


def dev_metadata(role: str, agency: str, name: str, insecure: bool) -> list[tuple[str, str]]:
    return [("x-linkage-dev-principal", f"{role}/{agency}/{name}")] if insecure else []


def lookups(work: Path, queries: int, insecure: bool, audit: bool) -> dict[str, float]:
    server = Server(work, insecure=insecure, audit=audit)
    try:
        rng = np.random.default_rng(7)
        people = np.load(work / "people.npy", mmap_mode="r")
        half = queries // 2
        known = with_errors(rng, np.asarray(people[rng.choice(people.shape[0], half)]), 30)
        strangers = random_clks(rng, queries - half)
        batch = np.concatenate([known, strangers])
        batch = batch[rng.permutation(batch.shape[0])]
        stub = lookup_pb2_grpc.LookupServiceStub(
            channel(server, work / "pki-root", "police-gateway", insecure)
        )
        metadata = dev_metadata("responder", "police", "gateway", insecure)

        def ask(clk: bytes) -> int:
            request = lookup_pb2.LookupRequest(
                clk=clk, key_epoch=1, schema_fingerprint=FINGERPRINT, purpose="crisis_response"
            )
            return len(stub.Lookup(request, metadata=metadata).links)

        for row in batch[:50]:
            ask(row.tobytes())
        latencies = []
        found = 0
        for row in batch:
            started = time.perf_counter()
            found += ask(row.tobytes()) > 0
            latencies.append(time.perf_counter() - started)
        latencies.sort()
        return {
            "queries": float(len(latencies)),
            "found": float(found),
            "median_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "max_ms": 1000 * latencies[-1],
            "server_start_s": server.start_s,
            **server.memory_mib(),
        }
    finally:
        server.stop()


def new_records_request(
    agency_id: str, batch_id: str, key_prefix: str, fingerprint: str, clks: np.ndarray
) -> ingest_pb2.WriteBatchRequest:
    """A batch of new records of ``agency_id``, one per row of ``uint8[n, bytes]`` CLKs,
    keyed ``<key_prefix><row>``, each consenting to crisis-response disclosure."""
    consent = responder_consent()
    return ingest_pb2.WriteBatchRequest(
        parent=f"agencies/{agency_id}",
        batch_id=batch_id,
        key_epoch=1,
        schema_fingerprint=fingerprint,
        mutations=[
            ingest_pb2.RecordMutation(
                upsert=ingest_pb2.RecordUpsert(
                    record_key=f"{key_prefix}{i}".encode(),
                    clk=clks[i].tobytes(),
                    pointer_token=b"ptr",
                    consent=consent,
                )
            )
            for i in range(clks.shape[0])
        ],
    )


def send_batches(
    work: Path, credential: str, agency_id: str, fingerprint: str, batches: Iterable[np.ndarray]
) -> dict[str, object]:
    """Start the server (mTLS, audit) on ``work`` and send each ``uint8[n, bytes]`` array of
    CLKs as one batch of new records of ``agency_id``, timing each until acknowledged."""
    server = Server(work, insecure=False, audit=True)
    try:
        before = server.memory_mib()
        stub = ingest_pb2_grpc.IngestServiceStub(
            channel(server, work / "pki-root", credential, False)
        )
        seconds = []
        linked = []
        sent = 0
        stamp = int(time.time())
        for b, clks in enumerate(batches):
            request = new_records_request(
                agency_id, f"bench-{stamp}-{b}", f"new-{stamp}-{b}-", fingerprint, clks
            )
            started = time.perf_counter()
            reply = stub.WriteBatch(request, timeout=1800)
            seconds.append(time.perf_counter() - started)
            linked.append(reply.linked_count)
            sent += clks.shape[0]
        return {
            "batch_seconds": seconds,
            "records_per_s": sent / sum(seconds),
            "linked_per_batch": linked,
            "memory_before": before,
            "memory_after": server.memory_mib(),
        }
    finally:
        server.stop()


def ingest(work: Path, batches: int) -> dict[str, object]:
    rng = np.random.default_rng(99)
    people = np.load(work / "people.npy", mmap_mode="r")
    return send_batches(
        work,
        "police-it",
        "police",
        FINGERPRINT,
        (
            with_errors(rng, np.asarray(people[rng.choice(people.shape[0], 10_000)]))
            for _ in range(batches)
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--ingest-batches", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    suffix = f"{args.records}" if args.store == "sqlite" else f"postgres-{args.records}"
    work = (args.work or REPO / "build" / f"bench-service-{suffix}").resolve()
    os.environ.setdefault("PYTHONPATH", str(REPO))
    results: dict[str, object] = {"prepare": prepare(work, args.records, args.store)}
    print("prepare", json.dumps(results["prepare"]), flush=True)
    for name, insecure, audit in (
        ("mtls_audit", False, True),
        ("mtls_no_audit", False, False),
        ("plain_audit", True, True),
        ("plain_no_audit", True, False),
    ):
        results[f"lookup_{name}"] = lookups(work, args.queries, insecure, audit)
        print(f"lookup {name}", json.dumps(results[f"lookup_{name}"]), flush=True)
    results["ingest"] = ingest(work, args.ingest_batches)
    print("ingest", json.dumps(results["ingest"]), flush=True)
    (work / f"results-{suffix}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
