"""The matcher service linking realistic multi-agency data: Dice mode against probabilistic
mode (segments + Fellegi-Sunter + average-link), side by side on the same records (issue 10).

    python benchmarks/bench_probabilistic_service.py --people 20000 [--batch 5000]
        [--queries 500] [--out build/bench-prob-service.json]

1. A synthetic scenario of ``--people`` people (four agencies, their own export formats;
   nicknames, typos, swapped day and month, moves, missing fields, duplicates within an
   agency, twins), each row mapped by its agency's mapping and encoded once with the shipped
   segmented schema (hardened). Dice mode gets the record-level CLK (the first 1,024 bits
   of the same encoding: the shipped hardened default), probabilistic mode the whole
   segmented CLK.
2. For each mode, an in-process :class:`LinkageService` on a fresh SQLite store (the
   production code path without gRPC): every agency uploads in batches of ``--batch``,
   each batch linked incrementally before the next (timed); one record of each of
   ``--queries`` people held back, and every record of ``--queries`` other people; then a
   rebuild (timed; the probabilistic one refits the model on the matcher's records).
3. Pairwise precision, recall and F1 of the links against the truth, all pairs.
4. Lookups with the audit on: each held-back record as a query (its person's other
   records are indexed: a hit is the link holding them), and each never-uploaded
   person's records (a hit is a false disclosure; people with a twin among the uploaded
   are left out: a twin's lookup finding the sibling is reported separately).

Dice mode runs at 0.54 (the hardened default's recommended threshold) with anonlink's
greedy clustering, its default; probabilistic mode at match probability 0.5 with
average-link clustering.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.scenario_rows import MappedRow, mapped_rows  # noqa: E402
from linkage.consent import Consent, Purpose, serialize_consent  # noqa: E402
from linkage.encode import SegmentedEncoder, default_segmented_schema, segment_layout  # noqa: E402
from linkage.pki import Principal, Role  # noqa: E402
from linkage.service import (  # noqa: E402
    ClusteringSettings,
    LinkageService,
    LinkageSettings,
    ProbabilisticSettings,
    RecordUpsert,
    ServiceLimits,
    WriteBatch,
)
from linkage.store import SqliteLinkStore  # noqa: E402

OPERATOR = Principal(Role.OPERATOR, None, "bench-operator", 1)
RESPONDER = Principal(Role.RESPONDER, "metro-police", "bench-officer", 2)


def _consent() -> bytes:
    return serialize_consent(
        Consent.for_recipients(
            roles=[Role.RESPONDER],
            purposes=[Purpose.CRISIS_RESPONSE],
            expires_at=(datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0),
            allow_linkage=True,
        )
    )


@dataclasses.dataclass(frozen=True)
class Encoded:
    row: MappedRow
    segmented: bytes


def _encode(rows: list[MappedRow]) -> tuple[list[Encoded], float]:
    started = time.perf_counter()
    encoder = SegmentedEncoder(default_segmented_schema(), secrets.token_bytes(32), key_epoch=1)
    out: list[Encoded] = []
    for start in range(0, len(rows), 20_000):
        chunk = rows[start : start + 20_000]
        batch = encoder.encode_valid([list(r.values) for r in chunk])
        out += [
            Encoded(chunk[i], clk.tobytes())
            for i, clk in zip(batch.accepted.tolist(), batch.clks, strict=True)
        ]
    return out, time.perf_counter() - started


def _split(records: list[Encoded], queries: int, seed: int) -> dict[str, list[Encoded]]:
    """Uploaded records, held-back single records of known people, never-uploaded people."""
    rng = np.random.default_rng(seed)
    by_person: dict[str, list[Encoded]] = defaultdict(list)
    for record in records:
        by_person[record.row.person_id].append(record)
    people = sorted(by_person)
    order = [people[i] for i in rng.permutation(len(people))]
    multi = [p for p in order if len(by_person[p]) >= 2]
    held_people = set(multi[:queries])
    stranger_people = [p for p in order if p not in held_people][:queries]
    strangers = {p for p in stranger_people}
    uploaded: list[Encoded] = []
    held: list[Encoded] = []
    for person in people:
        mine = by_person[person]
        if person in strangers:
            continue
        if person in held_people:
            held.append(mine[-1])
            uploaded += mine[:-1]
        else:
            uploaded += mine
    families = {r.row.family for r in uploaded}
    stranger_records = [r for p in stranger_people for r in by_person[p]]
    return {
        "uploaded": uploaded,
        "held": held,
        "strangers": [r for r in stranger_records if r.row.family not in families],
        "twins": [r for r in stranger_records if r.row.family in families],
    }


def _settings(mode: str, dice_lookup_threshold: float | None = None) -> LinkageSettings:
    segmented = default_segmented_schema()
    if mode == "dice":
        return LinkageSettings(
            threshold=0.54,
            lookup_threshold=dice_lookup_threshold,
            clk_bits=segmented.schema.length,
            key_epoch=1,
            schema_fingerprint="d1" * 16,
        )
    layout = segment_layout(segmented.schema.length, segmented.segmentation)
    return LinkageSettings(
        threshold=0.5,
        clk_bits=layout.total_words * 64,
        key_epoch=1,
        schema_fingerprint=segmented.fingerprint,
        probabilistic=ProbabilisticSettings(
            layout=layout, hardened=True, schema_source="default-segmented"
        ),
        clustering=ClusteringSettings(method="average_link"),
    )


def _clk(mode: str, record: Encoded, record_bytes: int) -> bytes:
    return record.segmented[:record_bytes] if mode == "dice" else record.segmented


def _quality(store: SqliteLinkStore, person_of: dict[tuple[str, bytes], str]) -> dict[str, float]:
    by_link: dict[int, list[int]] = defaultdict(list)
    for node, link in store.iter_node_links():
        by_link[link].append(node)
    names = {m.node_id: (m.agency_id, m.record_key) for m in store.link_members(list(by_link))}
    found = 0
    right = 0
    for nodes in by_link.values():
        persons = [person_of[names[n]] for n in nodes]
        for a, b in itertools.combinations(persons, 2):
            found += 1
            right += a == b
    sizes: dict[str, int] = defaultdict(int)
    for person in person_of.values():
        sizes[person] += 1
    true = sum(n * (n - 1) // 2 for n in sizes.values())
    precision = right / found if found else 0.0
    recall = right / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "pairs_found": found,
        "pairs_true": true,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def run_mode(
    mode: str,
    split: dict[str, list[Encoded]],
    batch_size: int,
    work: Path,
    dice_lookup_threshold: float | None = None,
) -> dict[str, Any]:
    settings = _settings(mode, dice_lookup_threshold)
    record_bytes = default_segmented_schema().schema.length // 8
    store = SqliteLinkStore(work / f"{mode}.sqlite")
    service = LinkageService(
        store,
        settings,
        ServiceLimits(max_batch_mutations=batch_size, lookup_burst=10**9, lookup_rate_per_s=1e9),
    )
    consent = _consent()
    by_agency: dict[str, list[Encoded]] = defaultdict(list)
    for record in split["uploaded"]:
        by_agency[record.row.agency_id].append(record)
    for agency_id in sorted(by_agency):
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    batch_seconds: list[float] = []
    batch_sizes: list[int] = []
    started = time.perf_counter()
    number = 0
    # Agencies take turns, one batch each, so the index grows from all of them.
    queues = {a: list(rs) for a, rs in by_agency.items()}
    while any(queues.values()):
        for agency_id in sorted(queues):
            chunk, queues[agency_id] = (
                queues[agency_id][:batch_size],
                queues[agency_id][batch_size:],
            )
            if not chunk:
                continue
            number += 1
            principal = Principal(Role.AGENCY, agency_id, "bench-it", 3)
            t0 = time.perf_counter()
            service.write_batch(
                principal,
                WriteBatch(
                    agency_id=agency_id,
                    batch_id=f"b{number}",
                    key_epoch=1,
                    schema_fingerprint=settings.schema_fingerprint,
                    mutations=tuple(
                        RecordUpsert(
                            record_key=r.row.local_id.encode(),
                            clk=_clk(mode, r, record_bytes),
                            pointer_token=b"ptr",
                            consent=consent,
                            linkable=True,
                        )
                        for r in chunk
                    ),
                ),
            )
            batch_seconds.append(time.perf_counter() - t0)
            batch_sizes.append(len(chunk))
    ingest_seconds = time.perf_counter() - started
    person_of = {
        (r.row.agency_id, r.row.local_id.encode()): r.row.person_id for r in split["uploaded"]
    }
    incremental = _quality(store, person_of)
    t0 = time.perf_counter()
    run = service.rebuild(OPERATOR, "benchmark")
    rebuild_seconds = time.perf_counter() - t0
    rebuilt = _quality(store, person_of)
    # Lookups: the link holding each held-back record's person.
    links_of: dict[str, set[int]] = defaultdict(set)
    by_link: dict[int, list[int]] = defaultdict(list)
    for node, link in store.iter_node_links():
        by_link[link].append(node)
    for member in store.link_members(list(by_link)):
        links_of[person_of[(member.agency_id, member.record_key)]].add(member.link_id)
    latencies: list[float] = []

    def ask(record: Encoded) -> list[int]:
        t = time.perf_counter()
        hits = service.lookup(
            RESPONDER,
            _clk(mode, record, record_bytes),
            1,
            settings.schema_fingerprint,
            Purpose.CRISIS_RESPONSE.value,
            5,
        )
        latencies.append(time.perf_counter() - t)
        return [h.link_id for h in hits]

    known_hits = sum(bool(set(ask(r)[:1]) & links_of[r.row.person_id]) for r in split["held"])
    false_hits = sum(bool(ask(r)) for r in split["strangers"])
    twin_hits = sum(bool(ask(r)) for r in split["twins"])
    store.close()
    model = json.loads(run.model)
    return {
        "mode": mode,
        "lookup_threshold": settings.effective_lookup_threshold,
        "records": len(split["uploaded"]),
        "batches": len(batch_seconds),
        "batch_size": batch_size,
        "ingest_seconds": round(ingest_seconds, 2),
        "records_per_second": round(len(split["uploaded"]) / ingest_seconds, 1),
        "last_batches_seconds": [round(s, 2) for s in batch_seconds[-4:]],
        "rebuild_seconds": round(rebuild_seconds, 2),
        "candidate_pairs": run.candidate_pair_count,
        "links": run.link_count,
        "quality_incremental": incremental,
        "quality_after_rebuild": rebuilt,
        "lookup": {
            "known_queries": len(split["held"]),
            "known_found": known_hits,
            "stranger_queries": len(split["strangers"]),
            "stranger_false_hits": false_hits,
            "twin_queries": len(split["twins"]),
            "twin_hits": twin_hits,
            "median_ms": round(1000 * statistics.median(latencies), 2),
            "p99_ms": round(1000 * float(np.quantile(latencies, 0.99)), 2),
        },
        "model_fit": model.get("probabilistic", {}).get("model", {}).get("fit"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--modes", nargs="+", default=["dice", "probabilistic"])
    parser.add_argument(
        "--dice-lookup-threshold",
        type=float,
        default=None,
        help="Dice mode's lookup_threshold (default: its linkage threshold, 0.54)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench-prob-service.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = mapped_rows(args.people, args.seed)
    map_seconds = time.perf_counter() - t0
    records, encode_seconds = _encode(rows)
    split = _split(records, args.queries, args.seed)
    print(
        f"{args.people} people, {len(records)} records ({len(split['uploaded'])} uploaded); "
        f"mapped in {map_seconds:.1f} s, encoded in {encode_seconds:.1f} s; load "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    results: dict[str, Any] = {
        "people": args.people,
        "records": len(records),
        "load_before": os.getloadavg()[0],
        "modes": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        for mode in args.modes:
            result = run_mode(mode, split, args.batch, Path(folder), args.dice_lookup_threshold)
            result["load_after"] = os.getloadavg()[0]
            results["modes"].append(result)
            q = result["quality_after_rebuild"]
            lk = result["lookup"]
            print(
                f"{mode:14s} ingest {result['ingest_seconds']:7.1f} s "
                f"({result['records_per_second']:.0f} rec/s), rebuild {result['rebuild_seconds']:6.1f} s, "
                f"P {q['precision']:.4f} R {q['recall']:.4f} F1 {q['f1']:.4f}; lookups: "
                f"{lk['known_found']}/{lk['known_queries']} known found, "
                f"{lk['stranger_false_hits']}/{lk['stranger_queries']} strangers hit, "
                f"{lk['twin_hits']}/{lk['twin_queries']} twins hit, "
                f"median {lk['median_ms']} ms p99 {lk['p99_ms']} ms",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
