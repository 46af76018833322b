"""Report benchmark: ``linkage-admin report`` on a one-million-record index.

    .venv/bin/python benchmarks/bench_report.py [--records 1000000] [--weeks 26]
        [--lookups 2000] [--work DIR] [--screenshot docs/report-screenshot.png]
    .venv/bin/python benchmarks/bench_report.py --demo-run demo-run [--screenshot PNG]   # a demo run with --linkage dice
    .venv/bin/python benchmarks/bench_report.py --linkage probabilistic [--records 1000000]
        [--weeks 26] [--lookups 2000] [--work DIR] [--data build/prob-blocking] [--blocking large]
    .venv/bin/python benchmarks/bench_report.py --linkage probabilistic --scenario faker_us
        [--people 20000] [--seed 1] [--work DIR] [--screenshot PNG]

Probabilistic mode (``--linkage probabilistic``, the matcher's default: segmented CLKs
scored by its Fellegi-Sunter model):

* a million-record index from the realistic multi-agency records that
  ``benchmarks/bench_prob_blocking.py generate`` caches under ``--data`` (segmented CLKs of
  the shipped schema, hardened; person ids; agencies): records stored in weekly batches
  per agency with a BATCH_COMMITTED event each, then the matcher's own rebuild (fits the
  model on a 200,000-record sample, plans the blocking, links every record, average-link
  clusters; its link events all fall in the week after the last upload), then
  ``--lookups`` lookups through the service, spread over the weeks by a fake clock;
* or, with ``--scenario NAME``, a scenario folder (``benchmarks/quality/scenarios.py``,
  generated under build/scenarios if absent): every agency's export mapped and encoded as
  the agency would (``benchmarks/quality/service_quality.py``'s pieces and its default
  probabilistic server.toml), uploaded through the service in batches of 1,000 spread over
  ``--weeks`` weeks, the scenario's responder queries as lookups, then a rebuild; the
  truth file comes from the scenario's truth.

Builds the index directly through the store and service APIs (no gRPC, no
per-batch similarity join, which is what keeps a million records affordable):

* synthetic records of four agencies (tests/report/synthetic.py: bigram-like CLKs,
  messy copies, twins), uploaded as weekly batches over ``--weeks`` weeks with a
  BATCH_COMMITTED event each;
* candidate pairs (edges): every cross-agency pair at or above the threshold
  within a *family* (a person and their twin: the only records that come close
  in this generator), scored exactly; this is what the matcher's join would
  store, computed without the all-pairs join;
* links: the matcher's own solver (cross-agency greedy) over those edges, with
  one singleton link per unmatched record and LINK_CREATED / LINK_JOINED events
  in upload order, as incremental linkage writes them;
* lookups: ``--lookups`` consented lookups through LinkageService (audited, with
  disclosures), spread over the weeks by a fake clock.

Then it runs the real CLI in a fresh process, twice (without and with
``--truth``), and reports wall time, peak RSS, the per-phase timings from
summary.json's report, and the size of report.html and the PNG figures; with
``--screenshot`` it renders the report in headless Chromium and saves a
full-page screenshot (scaled to 1000 px wide). Results: printed, and written to
build/bench_report.json; see docs/report.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from linkage.match import CandidateEdges  # noqa: E402
from linkage.pki import Principal, Role  # noqa: E402
from linkage.report._evaluate import dice_of_pairs  # noqa: E402
from linkage.service import (  # noqa: E402
    LinkageService,
    LinkageSettings,
    ServiceLimits,
    cross_agency_greedy,
)
from linkage.store import (  # noqa: E402
    BatchRow,
    EdgeRow,
    EventKind,
    EventRow,
    NewRecord,
    SqliteLinkStore,
)
from tests.report.synthetic import SyntheticRecords, synthetic_records  # noqa: E402
from tests.service.factory import consent  # noqa: E402

FINGERPRINT = "be" * 16
THRESHOLD = 0.8
START = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)  # a Monday
OPERATOR = Principal(Role.OPERATOR, None, "bench-operator", 1)
#: The agencies of the cached probabilistic records, in the order of their indices.
PROB_AGENCIES = ("harbour-sud", "metro-police", "riverside-er", "valley-mhc")


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1e6)


def _family_pairs(records: SyntheticRecords) -> tuple[np.ndarray, np.ndarray]:
    """Every cross-agency pair of rows within one family (``i < j``)."""
    order = np.argsort(records.family, kind="stable")
    keys = records.family[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    sizes = np.diff(np.concatenate((starts, [keys.shape[0]])))
    left, right = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for size in np.unique(sizes[sizes >= 2]):
        members = order[starts[sizes == size][:, None] + np.arange(size)[None, :]]
        i, j = np.triu_indices(int(size), k=1)
        a, b = members[:, i].ravel(), members[:, j].ravel()
        cross = records.agency[a] != records.agency[b]
        left.append(np.minimum(a, b)[cross])
        right.append(np.maximum(a, b)[cross])
    return np.concatenate(left), np.concatenate(right)


def build_index(db: Path, records: SyntheticRecords, weeks: int, lookups: int) -> dict[str, Any]:
    """Fill an SQLite store; return timings and counts."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    n = records.agency.shape[0]
    store = SqliteLinkStore(db)
    agencies = records.agencies
    # Upload schedule: each agency's rows in ``weeks`` weekly batches.
    batch_of = np.empty(n, dtype=np.int64)
    week_of = np.empty(n, dtype=np.int64)
    batches: list[tuple[int, str, np.ndarray]] = []  # (week, agency, rows)
    for a, agency_id in enumerate(agencies):
        rows = np.flatnonzero(records.agency == a)
        for week, chunk in enumerate(np.array_split(rows, weeks)):
            week_of[chunk] = week
            batches.append((week, agency_id, chunk))
    batches.sort(key=lambda b: (b[0], b[1]))
    for index, (_, _, chunk) in enumerate(batches):
        batch_of[chunk] = index
    now0 = _us(START)
    with store.write() as tx:
        for agency_id in agencies:
            tx.insert_agency(agency_id, agency_id.upper(), b"", now0)
    clks = records.clk_bytes(np.arange(n))
    tokens = [secrets.token_bytes(32) for _ in range(n)]
    consents = [consent(disclose=True), consent(disclose=False)]
    node_of = np.zeros(n, dtype=np.int64)
    for week, agency_id, chunk in batches:
        when = _us(START + timedelta(weeks=week, hours=6 * agencies.index(agency_id)))
        with store.write() as tx:
            for row in chunk.tolist():
                node_of[row] = tx.insert_record(
                    NewRecord(
                        agency_id=agency_id,
                        record_key=records.record_key(row),
                        key_epoch=1,
                        schema_fingerprint=FINGERPRINT,
                        clk=clks[row],
                        pointer_token=tokens[row],
                        consent=consents[row % 9 == 0],
                        linkable=True,
                        content_digest=b"",
                        update_time_us=when,
                    )
                )
            tx.save_batch(BatchRow(agency_id, f"week-{week:02d}", b"", b"{}", when))
            tx.append_events(
                [
                    EventRow(
                        EventKind.BATCH_COMMITTED,
                        when,
                        agency_id=agency_id,
                        batch_id=f"week-{week:02d}",
                        record_count=int(chunk.size),
                    )
                ]
            )
    del clks
    timings["records"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    left, right = _family_pairs(records)
    scores = dice_of_pairs(records.packed, left, right)
    keep = scores >= THRESHOLD
    left, right, scores = left[keep], right[keep], scores[keep]
    agency_no = records.agency + 1
    groups = cross_agency_greedy(
        CandidateEdges.from_tuples(
            [
                (float(s), (int(agency_no[a]), int(a)), (int(agency_no[b]), int(b)))
                for a, b, s in zip(left.tolist(), right.tolist(), scores.tolist(), strict=True)
            ]
        )
    )
    group_of = np.full(n, -1, dtype=np.int64)
    for g, members in enumerate(groups):
        for _, row in members:
            group_of[row] = g
    timings["edges and solving"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    link_of_group: dict[int, int] = {}
    with store.write() as tx:
        tx.insert_edges(
            EdgeRow(int(min(node_of[a], node_of[b])), int(max(node_of[a], node_of[b])), float(s))
            for a, b, s in zip(left.tolist(), right.tolist(), scores.tolist(), strict=True)
        )
    for week, agency_id, chunk in batches:
        when = _us(START + timedelta(weeks=week, hours=6 * agencies.index(agency_id) + 1))
        joined: dict[int, int] = defaultdict(int)
        created: dict[int, int] = defaultdict(int)
        assignments: list[tuple[int, int]] = []
        with store.write() as tx:
            fresh = [row for row in chunk.tolist() if group_of[row] < 0]
            grouped = [row for row in chunk.tolist() if group_of[row] >= 0]
            new_groups = sorted({int(group_of[r]) for r in grouped} - set(link_of_group))
            ids = tx.allocate_link_ids(len(fresh) + len(new_groups), when)
            for row, link in zip(fresh, ids[: len(fresh)], strict=True):
                assignments.append((int(node_of[row]), link))
                created[link] += 1
            for g, link in zip(new_groups, ids[len(fresh) :], strict=True):
                link_of_group[g] = link
            for row in grouped:
                link = link_of_group[int(group_of[row])]
                assignments.append((int(node_of[row]), link))
                (created if int(group_of[row]) in new_groups else joined)[link] += 1
            tx.assign_links(assignments, when)
            tx.append_events(
                [
                    *(
                        EventRow(EventKind.LINK_CREATED, when, agency_id=agency_id,
                                 batch_id=f"week-{week:02d}", target_links=(link,),
                                 record_count=count)
                        for link, count in created.items()
                    ),
                    *(
                        EventRow(EventKind.LINK_JOINED, when, agency_id=agency_id,
                                 batch_id=f"week-{week:02d}", source_links=(link,),
                                 target_links=(link,), record_count=count)
                        for link, count in joined.items()
                    ),
                ]
            )  # fmt: skip
    timings["links and events"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    clock_now = [now0]
    settings = LinkageSettings(
        threshold=THRESHOLD, clk_bits=records.bits, key_epoch=1, schema_fingerprint=FINGERPRINT
    )
    service = LinkageService(
        store,
        settings,
        ServiceLimits(lookup_rate_per_s=1e6, lookup_burst=10**9),
        clock=lambda: clock_now[0],
    )
    timings["service start (index load)"] = time.perf_counter() - t3
    t4 = time.perf_counter()
    rng = np.random.default_rng(7)
    span_us = weeks * 7 * 86400 * 1_000_000
    times = np.sort(rng.integers(0, span_us, lookups)) + now0
    for when in times.tolist():
        clock_now[0] = when
        row = int(rng.integers(0, n))
        asking = agencies[int(rng.integers(0, len(agencies)))]
        responder = Principal(Role.RESPONDER, asking, "gateway", 3)
        (clk,) = records.clk_bytes([row])
        service.lookup(responder, clk, 1, FINGERPRINT, "crisis_response", 5)
    timings["lookups"] = time.perf_counter() - t4
    counts = {
        "records": n,
        "edges": int(left.size),
        "links": store.link_count(),
        "lookups": lookups,
        "disclosures": sum(len(store.list_disclosures(a, None, 10**7)) for a in agencies),
    }
    store.close()
    return {"timings_s": timings, "counts": counts}


def prob_config_text(threshold: str = "0.5", blocking: str = "auto") -> str:
    """The server.toml of a probabilistic matcher on ``index.db`` (the demo's settings:
    the shipped segmented schema, average-link clusters; ``blocking``: the rule set)."""
    from linkage.encode import default_segmented_schema, segment_layout

    segmented = default_segmented_schema()
    layout = segment_layout(segmented.schema.length, segmented.segmentation)
    return f"""[server]
listen = "127.0.0.1:0"

[store]
engine = "sqlite"
path = "index.db"

[linkage]
threshold = {threshold}
clk_bits = {layout.total_words * 64}
key_epoch = 1
schema_fingerprint = "{segmented.fingerprint}"

[linkage.probabilistic]
schema = "default-segmented"
blocking = "{blocking}"

[linkage.clustering]
method = "average_link"
"""


def _weekly_batches(
    agency: np.ndarray, names: tuple[str, ...], weeks: int
) -> list[tuple[int, str, np.ndarray]]:
    """Each agency's rows in ``weeks`` weekly batches: ``(week, agency, rows)``, by week."""
    batches = []
    for a, agency_id in enumerate(names):
        rows = np.flatnonzero(agency == a)
        for week, chunk in enumerate(np.array_split(rows, weeks)):
            batches.append((week, agency_id, chunk))
    batches.sort(key=lambda b: (b[0], b[1]))
    return batches


def build_prob_index(
    work: Path, data: Path, records: int, weeks: int, lookups: int, blocking: str
) -> dict[str, Any]:
    """A probabilistic matcher's store of ``records`` cached realistic records: weekly
    batches stored directly, then the matcher's rebuild and audited lookups. Writes
    ``server.toml`` and ``truth.csv`` into ``work``."""
    from benchmarks.bench_prob_blocking import CACHE, load
    from linkage.match import unpack_clks
    from linkage.server import load_server_config

    if data.resolve() != CACHE.resolve():
        raise SystemExit(f"--data must be {CACHE} (bench_prob_blocking.py's cache)")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    packed, person, agency = load(records)
    agency = agency.astype(np.int64)
    n = packed.shape[0]
    timings["load cached records"] = time.perf_counter() - t0
    config_path = work / "server.toml"
    config_path.write_text(prob_config_text(blocking=blocking))
    config = load_server_config(config_path, {})
    settings = config.linkage
    store = SqliteLinkStore(work / "index.db")
    t1 = time.perf_counter()
    now0 = _us(START)
    with store.write() as tx:
        for agency_id in PROB_AGENCIES:
            tx.insert_agency(agency_id, agency_id.upper(), b"", now0)
    consents = [consent(disclose=True), consent(disclose=False)]
    for week, agency_id, chunk in _weekly_batches(agency, PROB_AGENCIES, weeks):
        when = _us(START + timedelta(weeks=week, hours=6 * PROB_AGENCIES.index(agency_id)))
        for start in range(0, chunk.size, 50_000):
            part = chunk[start : start + 50_000]
            clks = unpack_clks(np.ascontiguousarray(packed[part]))
            with store.write() as tx:
                for row, clk in zip(part.tolist(), clks, strict=True):
                    key = f"r{row:07d}".encode()
                    tx.insert_record(
                        NewRecord(
                            agency_id=agency_id,
                            record_key=key,
                            key_epoch=1,
                            schema_fingerprint=settings.schema_fingerprint,
                            clk=clk.tobytes(),
                            pointer_token=secrets.token_bytes(32),
                            consent=consents[row % 9 == 0],
                            linkable=True,
                            content_digest=key,
                            update_time_us=when,
                        )
                    )
        with store.write() as tx:
            tx.save_batch(BatchRow(agency_id, f"week-{week:02d}", b"", b"{}", when))
            tx.append_events(
                [
                    EventRow(
                        EventKind.BATCH_COMMITTED,
                        when,
                        agency_id=agency_id,
                        batch_id=f"week-{week:02d}",
                        record_count=int(chunk.size),
                    )
                ]
            )
    timings["records"] = time.perf_counter() - t1
    clock_now = [_us(START + timedelta(weeks=weeks))]
    t2 = time.perf_counter()
    service = LinkageService(
        store,
        settings,
        ServiceLimits(lookup_rate_per_s=1e6, lookup_burst=10**9),
        clock=lambda: clock_now[0],
    )
    timings["service start (index load)"] = time.perf_counter() - t2
    t3 = time.perf_counter()
    run = service.rebuild(OPERATOR, "benchmark: link the bulk-loaded records")
    timings["rebuild (fit, plan, link, cluster)"] = time.perf_counter() - t3
    t4 = time.perf_counter()
    rng = np.random.default_rng(7)
    span_us = weeks * 7 * 86400 * 1_000_000
    times = np.sort(rng.integers(0, span_us, lookups)) + now0
    for when in times.tolist():
        clock_now[0] = when
        row = int(rng.integers(0, n))
        asking = PROB_AGENCIES[int(rng.integers(0, len(PROB_AGENCIES)))]
        responder = Principal(Role.RESPONDER, asking, "gateway", 3)
        clk = unpack_clks(np.ascontiguousarray(packed[row : row + 1]))[0].tobytes()
        service.lookup(responder, clk, 1, settings.schema_fingerprint, "crisis_response", 5)
    timings["lookups"] = time.perf_counter() - t4
    counts = {
        "records": n,
        "people": int(np.unique(person).size),
        "rebuild_candidate_pairs": run.candidate_pair_count,
        "links": store.link_count(),
        "lookups": lookups,
        "disclosures": sum(len(store.list_disclosures(a, None, 10**7)) for a in PROB_AGENCIES),
    }
    store.close()
    with (work / "truth.csv").open("w") as stream:
        stream.write("agency_id,record_key,entity_id\n")
        for row in range(n):
            agency_id = PROB_AGENCIES[int(agency[row])]
            stream.write(f"{agency_id},{f'r{row:07d}'.encode().hex()},{int(person[row])}\n")
    return {"timings_s": timings, "counts": counts}


def build_scenario_index(
    work: Path, name: str, people: int, seed: int, weeks: int, blocking: str
) -> dict[str, Any]:
    """A probabilistic matcher's store of a scenario's agencies, uploaded through the
    service in batches of 1,000 over ``weeks`` weeks, with the scenario's responder
    queries as lookups and a final rebuild. Writes ``server.toml`` and ``truth.csv``."""
    from benchmarks.quality.scenarios import generate, load_scenario
    from benchmarks.quality.service_quality import (
        DEFAULT_SERVER_TOML,
        encode_scenario,
        load_settings,
        run_lookups,
    )
    from linkage.server import load_server_config
    from linkage.service import RecordUpsert, WriteBatch

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    settings, schema = load_settings(DEFAULT_SERVER_TOML, work)
    scenario = load_scenario(generate(name, people, seed), schema=schema)
    secret = secrets.token_bytes(32)
    clks = encode_scenario(scenario, schema, secret)
    timings["map and encode"] = time.perf_counter() - t0
    config_path = work / "server.toml"
    config_path.write_text(prob_config_text('"auto"', blocking))
    settings = load_server_config(config_path, {}).linkage
    data = scenario.data
    clock_now = [_us(START)]
    store = SqliteLinkStore(work / "index.db")
    service = LinkageService(
        store,
        settings,
        ServiceLimits(max_batch_mutations=10_000, lookup_rate_per_s=1e9, lookup_burst=10**9),
        clock=lambda: clock_now[0],
    )
    for agency_id in scenario.agency_ids:
        service.create_agency(OPERATOR, agency_id, scenario.display_names[agency_id], b"")
    sources = np.asarray(data.sources, dtype=np.int64)
    index_of: dict[tuple[str, bytes], int] = {}
    consents = [consent(disclose=True), consent(disclose=False)]
    t1 = time.perf_counter()
    for week, agency_id, chunk in _weekly_batches(sources, scenario.agency_ids, weeks):
        clock_now[0] = _us(
            START + timedelta(weeks=week, hours=6 * scenario.agency_ids.index(agency_id))
        )
        principal = Principal(Role.AGENCY, agency_id, "bench-it", 2)
        for number, start in enumerate(range(0, chunk.size, 1000)):
            mutations = []
            for i in chunk[start : start + 1000].tolist():
                key = scenario.local_ids[i].encode()
                index_of[(agency_id, key)] = i
                mutations.append(
                    RecordUpsert(
                        record_key=key,
                        clk=clks[i].tobytes(),
                        pointer_token=secrets.token_bytes(32),
                        consent=consents[i % 9 == 0],
                        linkable=True,
                    )
                )
            service.write_batch(
                principal,
                WriteBatch(
                    agency_id=agency_id,
                    batch_id=f"w{week}-{number}",
                    key_epoch=settings.key_epoch,
                    schema_fingerprint=settings.schema_fingerprint,
                    mutations=tuple(mutations),
                ),
            )
            clock_now[0] += 60_000_000
    timings["ingest (linked batch by batch)"] = time.perf_counter() - t1
    clock_now[0] = _us(START + timedelta(weeks=weeks - 1, days=5))
    t2 = time.perf_counter()
    answered = run_lookups(scenario, service, settings, schema, secret, store, index_of)
    timings["lookups"] = time.perf_counter() - t2
    clock_now[0] = _us(START + timedelta(weeks=weeks - 1, days=6))
    t3 = time.perf_counter()
    run = service.rebuild(OPERATOR, "benchmark: rebuild after the uploads")
    timings["rebuild"] = time.perf_counter() - t3
    counts = {
        "records": len(data),
        "scenario": f"{name}-{people}-{seed}",
        "rebuild_candidate_pairs": run.candidate_pair_count,
        "links": store.link_count(),
        "lookups": {k: v for k, v in answered.items() if not k.endswith("_ms")},
        "disclosures": sum(
            len(store.list_disclosures(a, None, 10**7)) for a in scenario.agency_ids
        ),
    }
    store.close()
    with (work / "truth.csv").open("w") as stream:
        stream.write("agency_id,record_key,entity_id\n")
        for i in range(len(data)):
            agency_id = scenario.agency_ids[int(sources[i])]
            key = scenario.local_ids[i].encode().hex()
            stream.write(f"{agency_id},{key},{data.entities[i]}\n")
    return {"timings_s": timings, "counts": counts}


def write_config(root: Path) -> Path:
    path = root / "server.toml"
    path.write_text(
        f"""[server]
listen = "127.0.0.1:0"

[store]
engine = "sqlite"
path = "index.db"

[linkage]
threshold = {THRESHOLD}
clk_bits = 1024
key_epoch = 1
schema_fingerprint = "{FINGERPRINT}"
"""
    )
    return path


def _high_water_mb(pid: int, peak: list[float], done: threading.Event) -> None:
    """Poll the process's VmHWM (its own address space's peak RSS) until it ends."""
    while not done.is_set():
        try:
            with open(f"/proc/{pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]) / 1024)
        except OSError:
            return
        done.wait(0.2)


def run_report(config: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    """The real CLI in a fresh process: wall time, its own CPU time (``wait4``) and peak
    RSS, and what it wrote.

    The peak is the child's VmHWM, polled: ``ru_maxrss`` of a child started by
    ``subprocess`` (vfork, then exec) keeps the high-water mark of the address space it
    started in, this process's, which after building a big index in-process is the
    build's peak, not the report's."""
    started = time.perf_counter()
    peak = [0.0]
    done = threading.Event()
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "linkage.admin", "report", "--config", str(config),
             "--out", str(out), *extra],
            stdout=stdout, stderr=stderr, text=True, cwd=REPO,
        )  # fmt: skip
        watcher = threading.Thread(target=_high_water_mb, args=(process.pid, peak, done))
        watcher.start()
        _, status, usage = os.wait4(process.pid, 0)
        done.set()
        watcher.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        stdout.seek(0)
        stderr.seek(0)
        output, errors = stdout.read(), stderr.read()
    if process.returncode != 0:
        raise SystemExit(f"report failed ({process.returncode}):\n{output}\n{errors}")
    html = out / "report.html"
    pngs = {p.name: p.stat().st_size for p in sorted(out.glob("*.png"))}
    footer = html.read_text().split("Computed in: ", 1)[-1].split(".</li>", 1)[0]
    return {
        "args": extra,
        "wall_s": round(wall, 2),
        # CPU time of the report process (user + system): less sensitive than wall
        # time to other work on a shared machine.
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(peak[0], 1),
        "html_bytes": html.stat().st_size,
        "png_bytes": pngs,
        "phases": footer,
        "summary": json.loads((out / "summary.json").read_text()),
        "stdout": output.strip().splitlines(),
    }


def screenshot(html: Path, target: Path) -> None:
    from PIL import Image
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
    raw = target.with_suffix(".raw.png")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=flags
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(html.as_uri(), wait_until="load")
        page.screenshot(path=str(raw), full_page=True)
        browser.close()
    with Image.open(raw) as image:
        width = 1000
        scaled = image.convert("RGB").resize(
            (width, round(image.height * width / image.width)), Image.Resampling.LANCZOS
        )
        scaled.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    raw.unlink()


def demo_truth(demo: Path) -> Path:
    """Ground truth for the report from a ``./dev.sh demo`` work folder: the demo made
    every agency's pointer key, so it can turn local record IDs into record keys
    (a real operator cannot; agencies would send these rows for test data)."""
    import csv

    from agency_client._keys import AgencyKeys
    from agency_client.pointer import load_pointer_key

    keys = {
        folder.name: AgencyKeys.from_pointer_key(
            load_pointer_key(folder / "pointer.key"), folder.name
        )
        for folder in sorted((demo / "agencies").iterdir())
        if (folder / "pointer.key").exists()
    }
    target = demo / "report-truth.csv"
    with (demo / "exports" / "truth.csv").open(newline="") as source, target.open("w") as out:
        out.write("agency_id,record_key,entity_id\n")
        for row in csv.DictReader(source):
            agency = row["agency_id"]
            if agency in keys:
                key = keys[agency].record_key(row["local_id"]).hex()
                out.write(f"{agency},{key},{row['person_id']}\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=None, help="Keep the store here.")
    parser.add_argument("--screenshot", type=Path, default=None)
    parser.add_argument("--linkage", choices=("dice", "probabilistic"), default="dice")
    parser.add_argument(
        "--data",
        type=Path,
        default=REPO / "build" / "prob-blocking",
        help="probabilistic: the records cached by bench_prob_blocking.py generate",
    )
    parser.add_argument(
        "--scenario",
        default=None,
        help="probabilistic: a scenario generator (e.g. faker_us) instead of the cache",
    )
    parser.add_argument(
        "--blocking",
        default="auto",
        help="probabilistic: the matcher's [linkage.probabilistic] blocking (auto, large, ...)",
    )
    parser.add_argument("--people", type=int, default=20_000, help="with --scenario")
    parser.add_argument("--seed", type=int, default=1, help="with --scenario")
    parser.add_argument(
        "--demo-run",
        type=Path,
        default=None,
        help="Instead: report on a './dev.sh demo' work folder (real synthetic exports, "
        "encoded and uploaded through agency-client), with its truth.",
    )
    args = parser.parse_args()
    if args.demo_run is not None:
        demo = args.demo_run.resolve()
        measured = run_report(
            demo / "server.toml", demo / "report", ["--truth", str(demo_truth(demo))]
        )
        print(json.dumps(measured, indent=1), flush=True)
        if args.screenshot is not None:
            screenshot(demo / "report" / "report.html", args.screenshot)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-report-"))
    # The store's folder must be private (0700), as the matcher requires.
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    db = work / "index.db"
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other work)",
        "load_average_before": os.getloadavg(),
        "linkage": args.linkage,
        "records_requested": args.records,
    }
    if args.linkage == "probabilistic":
        if not db.exists():
            if args.scenario is not None:
                built = build_scenario_index(
                    work, args.scenario, args.people, args.seed, args.weeks, args.blocking
                )
            else:
                built = build_prob_index(
                    work, args.data, args.records, args.weeks, args.lookups, args.blocking
                )
            (work / "build.json").write_text(json.dumps(built, indent=1))
            print(f"built the index: {json.dumps(built)}", flush=True)
        result["build"] = json.loads((work / "build.json").read_text())
        config = work / "server.toml"
    elif not db.exists():
        t = time.perf_counter()
        people = int(args.records / 1.55) + 1000
        records = synthetic_records(people=people, seed=1)
        # A random subset of exactly --records records (twins, appended last by the
        # generator, must not be cut off).
        keep = np.sort(
            np.random.default_rng(2).choice(
                records.agency.shape[0], min(args.records, records.agency.shape[0]), replace=False
            )
        )
        records = SyntheticRecords(
            records.agencies, records.agency[keep], records.entity[keep],
            records.family[keep], records.packed[keep], records.bits,
        )  # fmt: skip
        generated = time.perf_counter() - t
        print(f"generated {keep.size:,} records in {generated:.1f} s", flush=True)
        result["build"] = build_index(db, records, args.weeks, args.lookups)
        result["build"]["timings_s"]["generate"] = generated
        truth = work / "truth.csv"
        with truth.open("w") as stream:
            stream.write("agency_id,record_key,entity_id\n")
            for row in range(records.agency.shape[0]):
                agency = records.agencies[int(records.agency[row])]
                stream.write(f"{agency},{records.record_key(row).hex()},{records.entity[row]}\n")
        print(f"built the index: {json.dumps(result['build'])}", flush=True)
    if args.linkage == "dice":
        config = write_config(work)
    result["db_bytes"] = db.stat().st_size
    result["report"] = run_report(config, work / "report", [])
    print(json.dumps(result["report"], indent=1), flush=True)
    result["report_with_truth"] = run_report(
        config, work / "report-truth", ["--truth", str(work / "truth.csv")]
    )
    print(json.dumps(result["report_with_truth"], indent=1), flush=True)
    result["load_average_after"] = os.getloadavg()
    if args.screenshot is not None:
        screenshot(work / "report-truth" / "report.html", args.screenshot)
        result["screenshot"] = str(args.screenshot)
    name = "bench_report.json" if args.linkage == "dice" else "bench_report_probabilistic.json"
    if args.scenario is not None:
        name = f"bench_report_{args.scenario}.json"
    out = REPO / "build" / name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"written {out}")


if __name__ == "__main__":
    main()
