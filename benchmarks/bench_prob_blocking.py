"""Probabilistic blocking at scale: the "default" and "large" rule sets of
:func:`linkage.probabilistic.default_blocking` on realistic multi-agency records, from
tens of thousands to about a million records (issue 10).

    python benchmarks/bench_prob_blocking.py generate [--chunks 22] [--people-per-chunk 25000]
        [--workers 1]
    python benchmarks/bench_prob_blocking.py run [--records 50000,200000,1000000]
        [--scales default,large] [--f1-up-to default=50000,large=200000]
        [--skip-blocking-above 1500000000] [--out build/prob-blocking/results.json]

(``run`` starts one ``measure --records N --scale S [--f1]`` process per row.)

Data. The synthetic generator (:func:`linkage.synth.generate_scenario`: four agencies with
their own export formats; nicknames, typos, swapped day and month, moves, missing fields,
duplicates within an agency, twins) is run in chunks of ``--people-per-chunk`` people, each
with its own seed (one scenario cannot hold a million records: two agencies draw local ids
from five digits). People are drawn from the same name, date and address distributions in
every chunk, so common surnames, dates of birth and streets recur across chunks as they
would in one large population; a person (and a twin pair) lives in one chunk. Every row
goes through its agency's own mapping (``benchmarks/scenario_rows.py``) and is encoded once
with the shipped segmented schema, hardened, under one benchmark secret; the packed records,
person ids and agency indices are cached per chunk under ``build/prob-blocking/`` (about 10
minutes of one core per million records). A size of ``N`` records is the first chunks'
records, cut at ``N``: the sizes are nested.

Measured, per size and rule set, each in a fresh process (its peak RSS is its own):
candidate pairs within the whole set (deduplication: every record against every other, as
the service's rebuild links), candidates per record, the seconds blocking took, peak RSS,
the candidates each rule makes before the union, pair completeness (true pairs among the
candidates / all true pairs: every pair of records of one person, within and across
agencies), and, up to ``--f1-up-to`` records, the final linkage: a Fellegi-Sunter model fitted
without labels (:func:`fit_model` with the default comparisons and training rules),
:class:`ProbabilisticLinker` at match probability 0.5 and ``AverageLinkClusterer(0.5, 0.5)``,
as ``benchmarks/quality/pprl.py`` ``run_ours`` does; pairwise precision, recall and F1.
A rule set whose blocking exceeds a guard (``ResourceExhaustedError``) is reported as such,
with each rule's candidate count (counted without materialising the pairs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

CACHE = REPO / "build" / "prob-blocking"
SEED = 20261127


def _chunk_path(index: int) -> Path:
    return CACHE / f"chunk-{index:03d}.npz"


def _secret() -> bytes:
    """The benchmark's encoding secret: random, kept beside the cache (synthetic data only)
    so that chunks generated in separate runs are encoded alike."""
    path = CACHE / "secret.bin"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def generate(chunks: int, people_per_chunk: int, workers: int = 1) -> None:
    """Cache chunks ``0 .. chunks - 1`` that are not cached yet, ``workers`` at a time
    (each chunk is one process's work; a chunk is written whole or not at all)."""
    _secret()  # created once, before any worker reads it
    missing = [index for index in range(chunks) if not _chunk_path(index).exists()]
    if workers <= 1:
        for index in missing:
            _generate_chunk(index, people_per_chunk)
        return
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(_generate_chunk, missing, [people_per_chunk] * len(missing)):
            pass


def _generate_chunk(index: int, people_per_chunk: int) -> None:
    from benchmarks.scenario_rows import mapped_rows
    from linkage.encode import SegmentedEncoder, default_segmented_schema
    from linkage.match import pack_clks

    encoder = SegmentedEncoder(default_segmented_schema(), _secret(), key_epoch=1)
    path = _chunk_path(index)
    started = time.perf_counter()
    rows = mapped_rows(people_per_chunk, SEED + index)
    agencies = sorted({r.agency_id for r in rows})
    person_index: dict[str, int] = {}
    for row in rows:
        person_index.setdefault(row.person_id, len(person_index))
    mapped = time.perf_counter() - started
    packed_parts = []
    accepted_parts = []
    for start in range(0, len(rows), 20_000):
        chunk = rows[start : start + 20_000]
        batch = encoder.encode_valid([list(r.values) for r in chunk])
        packed_parts.append(pack_clks(batch.clks))
        accepted_parts.append(batch.accepted.astype(np.int64) + start)
    accepted = np.concatenate(accepted_parts)
    person = np.asarray(
        [index * 10_000_000 + person_index[rows[i].person_id] for i in accepted.tolist()],
        dtype=np.int64,
    )
    agency = np.asarray(
        [agencies.index(rows[i].agency_id) for i in accepted.tolist()], dtype=np.int8
    )
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, packed=np.concatenate(packed_parts), person=person, agency=agency)
    tmp.rename(path)
    print(
        f"chunk {index}: {len(rows)} rows, {accepted.shape[0]} encoded;"
        f" mapped in {mapped:.0f} s, total {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def load(records: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first ``records`` cached records: packed, person ids, agency indices."""
    packed, person, agency = [], [], []
    have = 0
    index = 0
    while have < records:
        path = _chunk_path(index)
        if not path.exists():
            raise SystemExit(f"only {have} records cached; run generate with more chunks")
        with np.load(path) as data:
            packed.append(data["packed"])
            person.append(data["person"])
            agency.append(data["agency"])
        have += packed[-1].shape[0]
        index += 1
    return (
        np.ascontiguousarray(np.concatenate(packed)[:records]),
        np.concatenate(person)[:records],
        np.concatenate(agency)[:records],
    )


def _layout() -> Any:
    from linkage.encode import default_segmented_schema, segment_layout

    segmented = default_segmented_schema()
    return segment_layout(segmented.schema.length, segmented.segmentation)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def true_pair_keys(person: np.ndarray) -> np.ndarray:
    """Every pair ``i < j`` of records of one person, as sorted keys ``i * n + j``."""
    n = person.shape[0]
    order = np.argsort(person, kind="stable")
    sorted_person = person[order]
    starts = np.flatnonzero(np.r_[True, sorted_person[1:] != sorted_person[:-1]])
    sizes = np.diff(np.r_[starts, n])
    keys: list[np.ndarray] = []
    for size in np.unique(sizes[sizes > 1]).tolist():
        members = np.sort(order[starts[sizes == size][:, None] + np.arange(size)[None, :]], axis=1)
        upper_i, upper_j = np.triu_indices(size, k=1)
        keys.append((members[:, upper_i] * n + members[:, upper_j]).reshape(-1))
    return np.unique(np.concatenate(keys)) if keys else np.empty(0, np.int64)


def rule_pair_counts(rule: Any, packed: np.ndarray, layout: Any) -> int:
    """The pairs ``i < j`` one rule makes within ``packed``, counted without making them
    (an LSH rule: summed over its bands, before the bands' duplicates are removed)."""
    from linkage.probabilistic import ExactRule

    def pairs_of(counts: np.ndarray) -> int:
        c = counts.astype(np.int64)
        return int((c * (c - 1) // 2).sum())

    if isinstance(rule, ExactRule):
        values, present = rule._keys(packed, layout)  # the rule's own block keys
        if not present.any():
            return 0
        _, counts = np.unique(values[present], axis=0, return_counts=True)
        return pairs_of(counts)
    words = np.concatenate(
        [np.arange(layout.part(p).start_word, layout.part(p).stop_word) for p in rule.parts]
    )
    keys = rule.lsh.keys(np.ascontiguousarray(packed[:, words]))
    return sum(pairs_of(np.unique(band, return_counts=True)[1]) for band in keys)


def _rule_name(rule: Any) -> str:
    from linkage.probabilistic import ExactRule

    if isinstance(rule, ExactRule):
        return "exact " + "+".join(rule.segments) + (" (any order)" if rule.unordered else "")
    return f"LSH {'+'.join(rule.parts)} {rule.lsh.bands}x{rule.lsh.bits_per_band}"


def measure(records: int, scale: str, f1: bool, skip_blocking_above: int) -> dict[str, Any]:
    """One size and rule set, in this process (its peak RSS is this measurement's)."""
    from linkage.errors import ResourceExhaustedError
    from linkage.probabilistic import default_blocking

    started = time.perf_counter()
    packed, person, agency = load(records)
    n = packed.shape[0]
    layout = _layout()
    blocking = default_blocking(True, scale=scale)
    truth = true_pair_keys(person)
    out: dict[str, Any] = {
        "records": n,
        "scale": scale,
        "people": int(np.unique(person).shape[0]),
        "true_pairs": int(truth.shape[0]),
        "load_seconds": time.perf_counter() - started,
        "rss_after_load_mib": _rss_mib(),
    }
    started = time.perf_counter()
    counts = {_rule_name(r): rule_pair_counts(r, packed, layout) for r in blocking.rules}
    out["rule_pairs"] = counts
    out["rule_pairs_sum"] = sum(counts.values())
    out["count_seconds"] = time.perf_counter() - started
    if out["rule_pairs_sum"] > skip_blocking_above:
        out["blocking"] = (
            f"not run: the rules make {out['rule_pairs_sum']} pairs before the union"
            f" (over --skip-blocking-above {skip_blocking_above})"
        )
        return out
    started = time.perf_counter()
    try:
        left, right = blocking.candidate_pairs_within(packed, layout)
    except ResourceExhaustedError as error:
        out["blocking"] = f"refused: {error}"
        out["blocking_seconds"] = time.perf_counter() - started
        out["peak_rss_mib"] = _rss_mib()
        return out
    out["blocking"] = "ok"
    out["blocking_seconds"] = time.perf_counter() - started
    out["peak_rss_mib"] = _rss_mib()
    out["candidate_pairs"] = int(left.shape[0])
    out["pairs_per_record"] = left.shape[0] / n
    keys = left * n + right  # sorted and unique, as the union returns them
    position = np.minimum(np.searchsorted(keys, truth), max(keys.shape[0] - 1, 0))
    found = int((keys[position] == truth).sum()) if keys.shape[0] else 0
    out["true_pairs_found"] = found
    out["pair_completeness"] = found / truth.shape[0] if truth.shape[0] else 1.0
    del keys, position
    if f1:
        out.update(_linkage_quality(packed, person, agency, layout, blocking, left, right))
        out["peak_rss_with_linkage_mib"] = _rss_mib()
    return out


def _linkage_quality(
    packed: np.ndarray,
    person: np.ndarray,
    agency: np.ndarray,
    layout: Any,
    blocking: Any,
    left: np.ndarray,
    right: np.ndarray,
    model: Any = None,
) -> dict[str, Any]:
    """fit_model + ProbabilisticLinker + AverageLinkClusterer(0.5, 0.5), as
    benchmarks/quality/pprl.py run_ours links one pooled set; pairwise quality. A given
    ``model`` is used as it is (``fit_seconds`` is then 0)."""
    from benchmarks.quality.evaluate import evaluate_clusters
    from linkage.match import CandidateEdges, solve_components
    from linkage.probabilistic import (
        AverageLinkClusterer,
        ProbabilisticLinker,
        default_comparisons,
        default_training_rules,
        fit_model,
    )

    started = time.perf_counter()
    if model is None:
        model = fit_model(
            layout,
            default_comparisons(True),
            blocking,
            packed,
            training_rules=default_training_rules(),
        )
    fit_seconds = time.perf_counter() - started
    linker = ProbabilisticLinker(layout, model, blocking, 0.5)
    started = time.perf_counter()
    # the pairs measured above are the linker's candidate_pairs_within (same rules, same data)
    probabilities = linker.score(packed, packed, left, right)
    keep = probabilities >= 0.5
    a, b = left[keep], right[keep]
    sources = agency.astype(np.int64)
    score_seconds = time.perf_counter() - started
    started = time.perf_counter()
    edges = CandidateEdges(probabilities[keep], sources[a], a, sources[b], b)
    ends = np.unique(np.concatenate([a, b]))
    nodes = [(int(sources[i]), int(i)) for i in ends.tolist()]
    partition = solve_components(nodes, edges, AverageLinkClusterer(0.5, 0.5))
    groups = [[r for _d, r in group] for group in partition if len(group) > 1]
    cluster_seconds = time.perf_counter() - started
    quality = evaluate_clusters(groups, [str(p) for p in person.tolist()], sources.tolist())
    return {
        "fit_seconds": fit_seconds,
        "score_seconds": score_seconds,
        "cluster_seconds": cluster_seconds,
        "edges": int(keep.sum()),
        "quality": quality.as_dict(),
        "f1": quality.all_pairs.f1,
        "precision": quality.all_pairs.precision,
        "recall": quality.all_pairs.recall,
    }


def run(args: argparse.Namespace) -> None:
    results: list[dict[str, Any]] = []
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    for records in [int(x) for x in args.records.split(",")]:
        for scale in args.scales.split(","):
            command = [
                sys.executable,
                __file__,
                "measure",
                "--records",
                str(records),
                "--scale",
                scale,
                "--skip-blocking-above",
                str(args.skip_blocking_above),
            ]
            if records <= args.f1_up_to.get(scale, 0):
                command.append("--f1")
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                result: dict[str, Any] = {
                    "records": records,
                    "scale": scale,
                    "blocking": f"failed (exit {done.returncode}): {done.stderr[-800:]}",
                }
            else:
                result = json.loads(done.stdout.strip().splitlines()[-1])
            result["wall_seconds"] = time.perf_counter() - started
            result["load_average_after"] = os.getloadavg()
            results.append(result)
            print(json.dumps(result), flush=True)
            out_path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(table(results))


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| records | rules | candidate pairs | pairs / record | pair completeness"
        " | blocking s | peak RSS MiB | F1 (P / R) |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.get("blocking") != "ok":
            lines.append(
                f"| {r['records']:,} | {r['scale']} | {r.get('rule_pairs_sum', 0):,} before the"
                f" union | | | | {r.get('peak_rss_mib', 0):.0f} | {r.get('blocking', '')[:80]} |"
            )
            continue
        f1 = f"{r['f1']:.4f} ({r['precision']:.4f} / {r['recall']:.4f})" if "f1" in r else "not run"
        lines.append(
            f"| {r['records']:,} | {r['scale']} | {r['candidate_pairs']:,}"
            f" | {r['pairs_per_record']:.1f} | {r['pair_completeness']:.5f}"
            f" | {r['blocking_seconds']:.1f} | {r['peak_rss_mib']:.0f} | {f1} |"
        )
    return "\n".join(lines)


def _f1_limits(text: str) -> dict[str, int]:
    """``scale=records`` pairs (``default=50000,large=200000``), or one number for all."""
    if "=" not in text:
        return {"default": int(text), "large": int(text)}
    return {k: int(v) for k, v in (item.split("=") for item in text.split(","))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--chunks", type=int, default=22)
    gen.add_argument("--people-per-chunk", type=int, default=25_000)
    gen.add_argument("--workers", type=int, default=1, help="chunks generated at once")
    runner = sub.add_parser("run")
    runner.add_argument("--records", default="50000,200000,1000000")
    runner.add_argument("--scales", default="default,large")
    runner.add_argument(
        "--f1-up-to",
        type=_f1_limits,
        default="default=50000,large=200000",
        help="the largest size at which to link and measure F1, per rule set",
    )
    runner.add_argument("--skip-blocking-above", type=int, default=1_500_000_000)
    runner.add_argument("--out", default=str(CACHE / "results.json"))
    one = sub.add_parser("measure")
    one.add_argument("--records", type=int, required=True)
    one.add_argument("--scale", required=True)
    one.add_argument("--f1", action="store_true")
    one.add_argument("--skip-blocking-above", type=int, default=1_500_000_000)
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.chunks, args.people_per_chunk, args.workers)
    elif args.command == "run":
        run(args)
    else:
        result = measure(args.records, args.scale, args.f1, args.skip_blocking_above)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
