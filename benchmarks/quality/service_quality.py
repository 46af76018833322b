"""Linkage quality of the matcher service as agencies use it, on scenario folders.

    .venv/bin/python benchmarks/quality/service_quality.py \\
        --scenarios faker_us,diverse_households,geco_admin,project_synth --people 20000 \\
        [--splink] [--batch 1000] [--out build/quality/service.json]

For each scenario (benchmarks/scenarios/README.md; generated once under build/scenarios):

1. every agency's export is mapped by its own mapping and encoded with the schema the
   matcher configuration names (the agency client's RowMapper and encoder);
2. an in-process :class:`LinkageService` on a fresh SQLite store, configured from a
   ``server.toml`` (``--server-config``; default: the shipped probabilistic sample the demo
   uses), receives every agency's whole export in batches of ``--batch`` records, agency
   after agency, as ``agency-client upload`` sends them; each batch is linked before the
   next, exactly as over gRPC (the server's own code path without the transport);
3. pairwise precision, recall and F1 of the links against the truth, over all pairs and
   over cross-agency pairs: after the uploads ("incremental") and after
   ``links rebuild`` ("rebuild");
4. the missed true pairs and the false pairs of the rebuilt links, explained: never a
   candidate of the blocking, a candidate scored below the threshold, or an edge that
   clustering kept apart (false pairs: an edge, or only clustered together);
5. the scenario's responder queries through the gateway's query encoder (the first
   agency's mapping, as its gateway would encode them) and the service's lookup: known
   people found (a returned link holds one of the person's records), strangers answered
   (any link returned), latency median and p99 (in-process, audit on);
6. with ``--splink``, Splink 5 on the same mapped plaintext rows (build/splink-venv);
7. with ``--lookups-before-rebuild``, step 5 also after the uploads and again after a
   restart (a new service on the same store), before the rebuild: the index loaded in
   batches of ``--batch`` must refuse no well-formed query.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
import tomllib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from agency_client._query import QueryEncoder  # noqa: E402
from benchmarks.quality.evaluate import evaluate_clusters  # noqa: E402
from benchmarks.quality.scenarios import (  # noqa: E402
    Scenario,
    agency_config,
    generate,
    load_scenario,
)
from linkage.consent import Consent, Purpose, serialize_consent  # noqa: E402
from linkage.errors import LinkageError  # noqa: E402
from linkage.match import pack_clk_bytes  # noqa: E402
from linkage.pki import Principal, Role  # noqa: E402
from linkage.server._config import parse_server_config  # noqa: E402
from linkage.service import (  # noqa: E402
    LinkageService,
    LinkageSettings,
    RecordUpsert,
    ServiceLimits,
    WriteBatch,
)
from linkage.store import SqliteLinkStore  # noqa: E402

OPERATOR = Principal(Role.OPERATOR, None, "bench-operator", 1)

#: The demo's matcher configuration: what a new operator runs.
DEFAULT_SERVER_TOML = """
[server]
listen = "127.0.0.1:0"

[store]
engine = "sqlite"
path = "index.sqlite"

[linkage]
threshold = "auto"
clk_bits = 0
key_epoch = 1
schema_fingerprint = "0000000000000000"

[linkage.probabilistic]
schema = "default-segmented"

[linkage.clustering]
method = "average_link"
"""


def load_settings(text: str, work: Path) -> tuple[LinkageSettings, str]:
    """Linkage settings from a server.toml text, with the CLK length and fingerprint of its
    probabilistic schema filled in (as an operator copies them from ``schema describe``);
    returns the settings and the schema name agencies encode with."""
    from linkage.encode import default_segmented_schema, segment_layout

    data = tomllib.loads(text)
    probabilistic = data.get("linkage", {}).get("probabilistic", {})
    schema_name = str(probabilistic.get("schema", "default-segmented"))
    if schema_name == "default-segmented":
        segmented = default_segmented_schema()
    else:
        from linkage.encode import load_segmented_schema

        segmented = load_segmented_schema((work / schema_name).read_text(encoding="utf-8"))
    layout = segment_layout(segmented.schema.length, segmented.segmentation)
    data["linkage"]["clk_bits"] = layout.total_words * 64
    data["linkage"]["schema_fingerprint"] = segmented.fingerprint
    config = parse_server_config(data, work, {})
    return config.linkage, schema_name


def _consent() -> bytes:
    return serialize_consent(
        Consent.for_recipients(
            roles=[Role.RESPONDER],
            purposes=[Purpose.CRISIS_RESPONSE],
            expires_at=(datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0),
            allow_linkage=True,
        )
    )


def encode_scenario(scenario: Scenario, schema: str, secret: bytes) -> np.ndarray:
    """``uint8[records, clk_bytes]``: every mapped row encoded as its agency would."""
    with tempfile.TemporaryDirectory() as work:
        first = scenario.agency_ids[0]
        config = agency_config(scenario.folder, first, f"{first}.mapping.toml", schema, Path(work))
    encoder = config.encoding_schema.encoder(secret, key_epoch=1)
    parts = []
    rows = [list(r) for r in scenario.data.rows]
    for start in range(0, len(rows), 20_000):
        batch = encoder.encode_valid(rows[start : start + 20_000])
        if len(batch.accepted) != len(rows[start : start + 20_000]):
            raise RuntimeError("a mapped row did not encode")
        parts.append(batch.clks)
    return np.concatenate(parts)


def groups_from_store(
    store: SqliteLinkStore, index_of: dict[tuple[str, bytes], int]
) -> list[list[int]]:
    by_link: dict[int, list[int]] = defaultdict(list)
    for node, link in store.iter_node_links():
        by_link[link].append(node)
    groups: dict[int, list[int]] = defaultdict(list)
    for member in store.link_members(list(by_link)):
        groups[member.link_id].append(index_of[(member.agency_id, member.record_key)])
    return [g for g in groups.values() if len(g) > 1]


def explain(
    service: LinkageService,
    packed: np.ndarray,
    groups: list[list[int]],
    entities: tuple[str, ...],
    threshold: float,
) -> dict[str, int]:
    """Why true pairs were missed and false pairs made, by the linker in force."""
    linker = service.linker
    assert linker is not None
    li, ri = linker.candidate_pairs_within(packed)
    candidates = set(zip(li.tolist(), ri.tolist(), strict=True))
    group_of = {}
    for number, group in enumerate(groups):
        for i in group:
            group_of[i] = number
    by_entity: dict[str, list[int]] = defaultdict(list)
    for i, entity in enumerate(entities):
        by_entity[entity].append(i)
    true_pairs = [
        (a, b)
        for members in by_entity.values()
        for x, a in enumerate(members)
        for b in members[x + 1 :]
    ]
    missed = [(a, b) for a, b in true_pairs if group_of.get(a, -1 - a) != group_of.get(b, -1 - b)]
    out = {"true_pairs": len(true_pairs), "missed": len(missed)}
    if missed:
        ma = np.array([a for a, _ in missed], dtype=np.int64)
        mb = np.array([b for _, b in missed], dtype=np.int64)
        scores = linker.score(packed, packed, ma, mb)
        cand = np.array([(a, b) in candidates for a, b in missed])
        out["missed_not_candidate"] = int((~cand).sum())
        out["missed_not_candidate_would_score_above"] = int(((~cand) & (scores >= threshold)).sum())
        out["missed_candidate_below_threshold"] = int((cand & (scores < threshold)).sum())
        out["missed_edge_clustered_apart"] = int((cand & (scores >= threshold)).sum())
    false_edge = false_cluster_only = 0
    for group in groups:
        members = sorted(group)
        fa, fb = [], []
        for x, a in enumerate(members):
            for b in members[x + 1 :]:
                if entities[a] != entities[b]:
                    fa.append(a)
                    fb.append(b)
        if fa:
            s = linker.score(packed, packed, np.array(fa), np.array(fb))
            false_edge += int((s >= threshold).sum())
            false_cluster_only += int((s < threshold).sum())
    out["false_pairs_with_edge"] = false_edge
    out["false_pairs_clustered_only"] = false_cluster_only
    out["candidate_pairs"] = len(candidates)
    return out


def run_service(
    scenario: Scenario,
    settings: LinkageSettings,
    schema: str,
    batch_size: int,
    work: Path,
    *,
    diagnose: bool,
    lookups_before_rebuild: bool = False,
) -> dict[str, Any]:
    secret = secrets.token_bytes(32)
    t0 = time.perf_counter()
    clks = encode_scenario(scenario, schema, secret)
    encode_seconds = time.perf_counter() - t0
    data = scenario.data
    store = SqliteLinkStore(work / f"{scenario.name}.sqlite")
    limits = ServiceLimits(
        max_batch_mutations=max(batch_size, 10_000), lookup_rate_per_s=1e9, lookup_burst=10**9
    )
    service = LinkageService(store, settings, limits)
    consent = _consent()
    for agency_id in scenario.agency_ids:
        service.create_agency(OPERATOR, agency_id, scenario.display_names[agency_id], b"")
    index_of: dict[tuple[str, bytes], int] = {}
    batch_seconds: list[float] = []
    started = time.perf_counter()
    number = 0
    for source, agency_id in enumerate(scenario.agency_ids):
        rows = [i for i in range(len(data)) if data.sources[i] == source]
        principal = Principal(Role.AGENCY, agency_id, "bench-it", 3)
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            number += 1
            mutations = []
            for i in chunk:
                key = scenario.local_ids[i].encode()
                index_of[(agency_id, key)] = i
                mutations.append(
                    RecordUpsert(
                        record_key=key,
                        clk=clks[i].tobytes(),
                        pointer_token=b"ptr",
                        consent=consent,
                        linkable=True,
                    )
                )
            t = time.perf_counter()
            service.write_batch(
                principal,
                WriteBatch(
                    agency_id=agency_id,
                    batch_id=f"b{number}",
                    key_epoch=settings.key_epoch,
                    schema_fingerprint=settings.schema_fingerprint,
                    mutations=tuple(mutations),
                ),
            )
            batch_seconds.append(time.perf_counter() - t)
    ingest_seconds = time.perf_counter() - started
    incremental = evaluate_clusters(groups_from_store(store, index_of), data.entities, data.sources)
    runs_after_ingest = len(store.list_linkage_runs(1000))
    before_rebuild: dict[str, Any] = {}
    if lookups_before_rebuild:
        # the refused-lookup check: the index loaded in batches, then a restart
        before_rebuild["after_uploads"] = run_lookups(
            scenario, service, settings, schema, secret, store, index_of
        )
        restarted = LinkageService(store, settings, limits)
        before_rebuild["after_restart"] = run_lookups(
            scenario, restarted, settings, schema, secret, store, index_of
        )
    t = time.perf_counter()
    run = service.rebuild(OPERATOR, "quality benchmark")
    rebuild_seconds = time.perf_counter() - t
    groups = groups_from_store(store, index_of)
    rebuilt = evaluate_clusters(groups, data.entities, data.sources)
    result: dict[str, Any] = {
        "records": len(data),
        "rejected_rows": scenario.rejected_rows,
        "encode_seconds": round(encode_seconds, 1),
        "ingest_seconds": round(ingest_seconds, 1),
        "batches": len(batch_seconds),
        "batch_seconds_max": round(max(batch_seconds), 2),
        "batch_seconds_median": round(statistics.median(batch_seconds), 2),
        "linkage_runs_during_ingest": runs_after_ingest,
        "rebuild_seconds": round(rebuild_seconds, 1),
        "candidate_edges": run.candidate_pair_count,
        "incremental": incremental.as_dict(),
        "rebuild": rebuilt.as_dict(),
        "model": json.loads(run.model).get("probabilistic", {}).get("model"),
    }
    if before_rebuild:
        result["lookups_before_rebuild"] = before_rebuild
    if diagnose:
        packed = pack_clk_bytes([c.tobytes() for c in clks], settings.clk_bits)
        result["explained"] = explain(service, packed, groups, data.entities, settings.threshold)
    result["lookups"] = run_lookups(scenario, service, settings, schema, secret, store, index_of)
    store.close()
    return result


def run_lookups(
    scenario: Scenario,
    service: LinkageService,
    settings: LinkageSettings,
    schema: str,
    secret: bytes,
    store: SqliteLinkStore,
    index_of: dict[tuple[str, bytes], int],
) -> dict[str, Any]:
    if not scenario.queries:
        return {}
    links_of: dict[str, set[int]] = defaultdict(set)
    by_link: dict[int, list[int]] = defaultdict(list)
    for node, link in store.iter_node_links():
        by_link[link].append(node)
    for member in store.link_members(list(by_link)):
        entity = scenario.data.entities[index_of[(member.agency_id, member.record_key)]]
        links_of[entity].add(member.link_id)
    with tempfile.TemporaryDirectory() as work:
        first = scenario.agency_ids[0]
        config = agency_config(scenario.folder, first, f"{first}.mapping.toml", schema, Path(work))
    import dataclasses

    from agency_client._config import LinkageSecret

    config = dataclasses.replace(config, secret=LinkageSecret(secret))
    encoder = QueryEncoder(config)
    responder = Principal(Role.RESPONDER, scenario.agency_ids[0], "bench-officer", 2)
    by_kind: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latencies: list[float] = []
    for query in scenario.queries:
        fields = {k: v for k, v in query.fields.items() if v and k in encoder.fields}
        counts = by_kind[query.kind]
        counts["queries"] += 1
        try:
            clk = encoder.encode(fields)
        except LinkageError:
            counts["refused_by_gateway"] += 1
            continue
        t = time.perf_counter()
        try:
            hits = service.lookup(
                responder,
                clk,
                settings.key_epoch,
                settings.schema_fingerprint,
                Purpose.CRISIS_RESPONSE.value,
                5,
            )
        except LinkageError:
            counts["refused_by_matcher"] += 1
            continue
        latencies.append(time.perf_counter() - t)
        links = {h.link_id for h in hits}
        if query.kind.startswith("known"):
            counts["found"] += bool(links & links_of.get(query.person_id, set()))
            counts["answered_wrongly"] += bool(links - links_of.get(query.person_id, set()))
        else:
            counts["answered"] += bool(links)
    out: dict[str, Any] = {kind: dict(v) for kind, v in by_kind.items()}
    if latencies:
        out["median_ms"] = round(1000 * statistics.median(latencies), 2)
        out["p99_ms"] = round(1000 * float(np.quantile(latencies, 0.99)), 2)
    return out


def run_splink_on(scenario: Scenario, work: Path) -> dict[str, Any]:
    from benchmarks.quality.run import run_splink

    results = run_splink(
        scenario.data, [0.5, 0.9, 0.99], work / f"splink-{scenario.name}", quiet=True
    )
    return {r["setting"]: r["quality"] for r in results}


def _line(name: str, label: str, quality: dict[str, Any]) -> str:
    a, c = quality["all"], quality["cross"]
    return (
        f"{name:<32} {label:<22} all P {a['precision']:.4f} R {a['recall']:.4f} "
        f"F1 {a['f1']:.4f} | cross P {c['precision']:.4f} R {c['recall']:.4f} F1 {c['f1']:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios", default="faker_us,diverse_households,geco_admin,project_synth"
    )
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--server-config", type=Path, default=None)
    parser.add_argument("--splink", action="store_true")
    parser.add_argument("--no-diagnose", action="store_true")
    parser.add_argument(
        "--lookups-before-rebuild",
        action="store_true",
        help="also run the lookups after the uploads and again after a restart, before "
        "the rebuild (queries refused by the matcher must be 0)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "build" / "quality" / "service.json")
    args = parser.parse_args()
    text = (
        args.server_config.read_text(encoding="utf-8")
        if args.server_config is not None
        else DEFAULT_SERVER_TOML
    )
    results: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "load_before": os.getloadavg()[0],
        },
        "server_config": text,
        "scenarios": {},
    }
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        settings, schema = load_settings(
            text, args.server_config.parent if args.server_config else work
        )
        for name in args.scenarios.split(","):
            scenario = load_scenario(generate(name, args.people, args.seed), schema=schema)
            result = run_service(
                scenario,
                settings,
                schema,
                args.batch,
                work,
                diagnose=not args.no_diagnose,
                lookups_before_rebuild=args.lookups_before_rebuild,
            )
            if args.splink:
                result["splink"] = run_splink_on(scenario, work)
            results["scenarios"][name] = result
            print(_line(name, "incremental", result["incremental"]), flush=True)
            print(_line(name, "rebuild", result["rebuild"]), flush=True)
            for setting, quality in result.get("splink", {}).items():
                print(_line(name, f"splink {setting}", quality), flush=True)
            print(f"{name:<32} explained {result.get('explained')}", flush=True)
            for moment, lookups in result.get("lookups_before_rebuild", {}).items():
                print(f"{name:<32} lookups {moment} {lookups}", flush=True)
            print(f"{name:<32} lookups {result['lookups']}", flush=True)
            print(
                f"{name:<32} ingest {result['ingest_seconds']} s, rebuild "
                f"{result['rebuild_seconds']} s, runs during ingest "
                f"{result['linkage_runs_during_ingest']}",
                flush=True,
            )
    results["machine"]["load_after"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
