"""Matcher benchmarks: candidate generation against anonlink, lookup latency, blocking, quality.

    .venv/bin/python benchmarks/bench_match.py                 # everything (about 10 minutes)
    .venv/bin/python benchmarks/bench_match.py --only join --sizes 20000
    .venv/bin/python benchmarks/bench_match.py --only lookup quality
    .venv/bin/python benchmarks/bench_match.py --copies 1 --sizes 5000 \
        --lookup-records 20000 --queries 20        # smoke run (tests), about 20 s

Data: FEBRL4 x copies per side (``benchmarks/match_data.py``; 20 copies, 100,000 records a
side, unless ``--copies``), encoded with the encoder's shipped default schema. The join
runs on the kernel path chosen for this CPU (``LINKAGE_MATCH_KERNEL`` forces one; the
results name it). Sections:

* ``join``: ``dice_join`` against anonlink 0.15.3 ``find_candidate_pairs(...,
  dice_coefficient_accelerated, 0.8)`` at 20k x 20k, 50k x 50k and 100k x 100k, side by side
  in one process, checking that pairs, scores and order are identical; plus the peak RSS of
  the 100k join, measured in a fresh child process.
* ``lookup``: one query (and batches of 4) against 1,000,000 indexed CLKs
  (``--lookup-records``), kernel alone.
* ``blocking``: Hamming-LSH at 100k x 100k: time, pair completeness, reduction ratio, and the
  share of the unblocked join's pairs it keeps.
* ``quality``: precision, recall and F1 of Dice >= threshold (``--thresholds``, default 0.8)
  and greedy 1:1 on FEBRL4 (and on the 100k x 100k scrambled copies).

Results are printed and written to ``build/match-bench/results-<schema>-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import encode_febrl
import match_data

from linkage.encode import schema_fingerprint
from linkage.errors import ResourceExhaustedError
from linkage.match import (
    BlockingReport,
    CandidatePairs,
    ClkIndex,
    HammingLsh,
    blocked_dice_join,
    dice_join,
    greedy_match,
    kernel_path,
    popcounts,
    unpack_clks,
    warm_up,
)
from linkage.match.reference import lookup_reference

THRESHOLD = 0.8
RESULTS_DIR = match_data.CACHE_DIR


def anonlink_modules() -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        encode_febrl.import_anonlink()
        from anonlink.candidate_generation import (  # type: ignore[import-untyped]
            find_candidate_pairs,
        )
        from anonlink.similarities import (  # type: ignore[import-untyped]
            dice_coefficient_accelerated,
        )
    return find_candidate_pairs, dice_coefficient_accelerated


def bitarrays(packed: np.ndarray) -> list[Any]:
    from bitarray import bitarray

    out = []
    for row in unpack_clks(packed):
        bits = bitarray()
        bits.frombytes(row.tobytes())
        out.append(bits)
    return out


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """Result, wall seconds, CPU seconds of this process."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def identical(ours: CandidatePairs, theirs: Any) -> bool:
    sims, _datasets, (rec0, rec1) = theirs
    return bool(
        len(sims) == len(ours)
        and np.array_equal(np.frombuffer(sims, dtype=np.float64), ours.scores)
        and np.array_equal(np.asarray(rec0, dtype=np.int64), ours.left)
        and np.array_equal(np.asarray(rec1, dtype=np.int64), ours.right)
    )


def run_join(
    data: match_data.FebrlData, sizes: list[int], threshold: float = THRESHOLD
) -> dict[str, Any]:
    find_candidate_pairs, dice = anonlink_modules()
    rows = []
    for size in sizes:
        part = data.head(size // match_data.FEBRL_SIDE)
        left_bits, right_bits = bitarrays(part.left), bitarrays(part.right)
        load_before = os.getloadavg()[0]
        ours, ours_wall, ours_cpu = timed(dice_join, part.left, part.right, threshold)
        theirs, their_wall, their_cpu = timed(
            find_candidate_pairs, [left_bits, right_bits], dice, threshold
        )
        comparisons = size * size
        row = {
            "size": size,
            "pairs": len(ours),
            "identical": identical(ours, theirs),
            "ours_s": ours_wall,
            "ours_cpu_s": ours_cpu,
            "anonlink_s": their_wall,
            "anonlink_cpu_s": their_cpu,
            "ours_m_per_s": comparisons / ours_wall / 1e6,
            "anonlink_m_per_s": comparisons / their_wall / 1e6,
            "ratio": their_wall / ours_wall,
            "cpu_ratio": their_cpu / ours_cpu,
            "load_average_before": load_before,
        }
        rows.append(row)
        print(
            f"  {size:>7} x {size:<7} pairs {row['pairs']:>10,}  identical {row['identical']}"
            f"  ours {ours_wall:7.2f} s ({row['ours_m_per_s']:6.0f} M/s)"
            f"  anonlink {their_wall:7.2f} s ({row['anonlink_m_per_s']:5.0f} M/s)"
            f"  ratio {row['ratio']:.2f}x (CPU time {row['cpu_ratio']:.2f}x; load {load_before:.1f})",
            flush=True,
        )
        del theirs, left_bits, right_bits
        if not row["identical"]:
            raise SystemExit(f"the {size} x {size} join differs from anonlink's")
    return {"threads": numba.get_num_threads(), "threshold": threshold, "rows": rows}


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_child(copies: int, schema: str) -> None:
    """Child mode: print the peak RSS of one 100k x 100k join as JSON.

    The kernel peak is read from ``VmHWM`` after resetting it (``/proc/self/clear_refs``)
    once the data is loaded and the kernels are warm, so it covers the join alone (plus
    the process's resident baseline).
    """
    data = match_data.load(copies, schema=schema, verbose=False)
    warm_up()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_mib("VmRSS")
    pairs, wall, _cpu = timed(dice_join, data.left, data.right, THRESHOLD)
    peak = _status_mib("VmHWM")
    result_bytes = pairs.scores.nbytes + pairs.left.nbytes + pairs.right.nbytes
    print(
        json.dumps(
            {
                "pairs": len(pairs),
                "seconds": wall,
                "rss_before_mib": before,
                "rss_peak_mib": peak,
                "result_mib": result_bytes / 2**20,
            }
        )
    )


def run_peak_rss(copies: int, schema: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(copies), "--schema", schema],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"  peak RSS during a {copies * match_data.FEBRL_SIDE:,}^2 join:"
        f" {result['rss_peak_mib']:.0f} MiB (RSS before it {result['rss_before_mib']:.0f} MiB;"
        f" the {result['pairs']:,} resulting pairs are {result['result_mib']:.0f} MiB)",
        flush=True,
    )
    return result


def million_records(
    data: match_data.FebrlData, count: int = 1_000_000
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` (1,000,000) distinct CLKs with FEBRL's popcount profile: both 100k sides and
    four word rotations of each (a rotation keeps the popcount, and looks unrelated)."""
    base = np.vstack([data.left, data.right])
    parts = [base] + [np.roll(base, shift, axis=1) for shift in (3, 6, 9, 12)]
    records = np.vstack(parts)[:count]
    keys = np.arange(records.shape[0], dtype=np.int64)
    return records, keys


def run_lookup(
    data: match_data.FebrlData, queries: int = 300, count: int = 1_000_000
) -> dict[str, Any]:
    records, keys = million_records(data, count)
    index = ClkIndex(1024, capacity=records.shape[0])
    _, add_s, _ = timed(index.add, keys, records)
    rng = np.random.default_rng(0)
    picks = rng.choice(data.right.shape[0], size=queries, replace=False)
    probes = data.right[picks]
    for q in probes[:5]:
        index.search(q[None, :], THRESHOLD, 10)
    single = []
    hits = 0
    for q in probes:
        start = time.perf_counter()
        found = index.search(q[None, :], THRESHOLD, 10)
        single.append(time.perf_counter() - start)
        hits += len(found[0]) > 0
    batched = []
    for start_row in range(0, min(80, queries), 4):
        start = time.perf_counter()
        index.search(probes[start_row : start_row + 4], THRESHOLD, 10)
        batched.append(time.perf_counter() - start)
    checked = lookup_reference(probes[:2], records, keys, THRESHOLD, 10)
    exact = [h.as_tuples() for h in index.search(probes[:2], THRESHOLD, 10)] == checked
    ms = np.array(single) * 1e3
    batch_ms = np.array(batched) * 1e3
    result = {
        "records": int(records.shape[0]),
        "index_mib": index.capacity * (1024 // 8) / 2**20,
        "add_s": add_s,
        "queries": queries,
        "queries_with_a_hit": hits,
        "single_median_ms": float(np.median(ms)),
        "single_p99_ms": float(np.percentile(ms, 99)),
        "single_max_ms": float(ms.max()),
        "batch4_median_ms": float(np.median(batch_ms)),
        "batch4_p99_ms": float(np.percentile(batch_ms, 99)),
        "equal_to_reference": exact,
        "threads": numba.get_num_threads(),
    }
    print(
        f"  1 query vs {records.shape[0]:,}: median {result['single_median_ms']:.2f} ms,"
        f" p99 {result['single_p99_ms']:.2f} ms; 4 queries: median"
        f" {result['batch4_median_ms']:.2f} ms, p99 {result['batch4_p99_ms']:.2f} ms;"
        f" {hits}/{queries} found a match; equal to the reference: {exact}",
        flush=True,
    )
    return result


def run_blocking(data: match_data.FebrlData, configs: list[HammingLsh]) -> dict[str, Any]:
    full, full_s, _ = timed(dice_join, data.left, data.right, THRESHOLD)
    full_keys = set(zip(full.left.tolist(), full.right.tolist(), strict=True))
    truth = set(zip(data.true_left.tolist(), data.true_right.tolist(), strict=True))
    true_in_full = len(truth & full_keys)
    n = data.left.shape[0]
    rows = []
    print(
        f"  unblocked: {full_s:.2f} s, {len(full):,} pairs, {true_in_full:,} of"
        f" {len(truth):,} true matches among them",
        flush=True,
    )
    for config in configs:
        blocked, blocked_s, _ = timed(blocked_dice_join, data.left, data.right, THRESHOLD, config)
        shared = config.shares_band(data.left, data.right, data.true_left, data.true_right)
        report = BlockingReport(
            blocked.candidate_pairs, n * n, len(truth), int(np.count_nonzero(shared))
        )
        blocked_keys = set(
            zip(blocked.pairs.left.tolist(), blocked.pairs.right.tolist(), strict=True)
        )
        row = {
            "bands": config.bands,
            "bits_per_band": config.bits_per_band,
            "candidates": report.candidate_pairs,
            "reduction_ratio": report.reduction_ratio,
            "pair_completeness": report.pair_completeness,
            "blocked_join_s": blocked_s,
            "unblocked_join_s": full_s,
            "speedup": full_s / blocked_s,
            "pairs": len(blocked.pairs),
            "unblocked_pairs_kept": len(blocked_keys) / len(full_keys) if full_keys else 1.0,
            "true_matches_kept": len(truth & blocked_keys) / true_in_full if true_in_full else 1.0,
        }
        rows.append(row)
        print(
            f"  LSH {config.bands:>3} bands x {config.bits_per_band} bits: {blocked_s:6.2f} s"
            f" ({row['speedup']:.1f}x faster), candidates {report.candidate_pairs:>11,},"
            f" RR {report.reduction_ratio:.6f}, PC {report.pair_completeness:.4f}; keeps"
            f" {row['unblocked_pairs_kept']:.4f} of the unblocked pairs and"
            f" {row['true_matches_kept']:.4f} of the true matches among them",
            flush=True,
        )
    return {"size": n, "unblocked_pairs": len(full), "unblocked_s": full_s, "rows": rows}


def run_quality(
    data: match_data.FebrlData, copies: int, thresholds: list[float]
) -> list[dict[str, Any]]:
    """Precision, recall and F1 of Dice >= threshold then greedy 1:1, per threshold."""
    part = data.head(copies)
    truth = set(zip(part.true_left.tolist(), part.true_right.tolist(), strict=True))
    results = []
    for threshold in thresholds:
        try:
            pairs = dice_join(part.left, part.right, threshold, max_pairs=50_000_000)
        except ResourceExhaustedError:
            print(
                f"  FEBRL4 x{copies} at {threshold:.2f}: over 50M candidate pairs, skipped",
                flush=True,
            )
            continue
        matched = greedy_match(pairs)
        found = set(zip(matched.left.tolist(), matched.right.tolist(), strict=True))
        tp = len(found & truth)
        precision = tp / len(found) if found else 0.0
        recall = tp / len(truth) if truth else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        results.append(
            {
                "copies": copies,
                "threshold": threshold,
                "rows_per_side": part.left.shape[0],
                "true_matches": len(truth),
                "candidate_pairs": len(pairs),
                "matched": len(found),
                "precision": precision,
                "recall": recall,
                "f1": f1,
            }
        )
        print(
            f"  FEBRL4 x{copies} ({part.left.shape[0]:,} per side), Dice >= {threshold:.2f}:"
            f" precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f}"
            f" ({len(pairs):,} candidates, {len(found):,} matched)",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", nargs="+", choices=["join", "rss", "lookup", "blocking", "quality"]
    )
    parser.add_argument("--sizes", nargs="+", type=int, default=[20_000, 50_000, 100_000])
    parser.add_argument(
        "--schema",
        default="default",
        help='schema to encode FEBRL4 with: "default" (the shipped one), "plain", or a path',
    )
    parser.add_argument(
        "--thresholds",
        nargs="+",
        type=float,
        default=[THRESHOLD],
        help="Dice thresholds for the quality section (default 0.8)",
    )
    parser.add_argument(
        "--join-threshold",
        type=float,
        default=THRESHOLD,
        help="Dice threshold of the join section (default 0.8, the issue's figure)",
    )
    parser.add_argument(
        "--copies",
        type=int,
        default=20,
        help="FEBRL4 copies per side for the RSS, blocking and quality sections (default 20)",
    )
    parser.add_argument("--lookup-records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300, help="lookup queries (default 300)")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        peak_rss_child(args.rss_child, args.schema)
        return
    sections = set(args.only or ["join", "rss", "lookup", "blocking", "quality"])
    copies = max(args.sizes) // match_data.FEBRL_SIDE
    print("loading FEBRL4-derived data (encoded once, then cached under build/) ...", flush=True)
    data = match_data.load(max(copies, args.copies), schema=args.schema)
    popcount = popcounts(data.left)
    print(
        f"warm-up (compile or load cached kernels): {warm_up():.1f} s;"
        f" kernel path {kernel_path()}; {numba.get_num_threads()} numba threads",
        flush=True,
    )
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "numba_threads": numba.get_num_threads(),
            "threading_layer": str(numba.threading_layer()),  # type: ignore[attr-defined]
            "cpu": _cpu_name(),
            "kernel_path": kernel_path(),
            "load_average": os.getloadavg()[0],
        },
        "schema": args.schema,
        "schema_fingerprint": schema_fingerprint(
            match_data.febrl_config(args.schema, "0" * 64).schema
        ),
        "popcount": {
            "min": int(popcount.min()),
            "mean": float(popcount.mean()),
            "max": int(popcount.max()),
        },
    }
    if "join" in sections:
        print(
            f"candidate generation, threshold {args.join_threshold},"
            " ours vs anonlink (side by side):"
        )
        results["join"] = run_join(data, args.sizes, args.join_threshold)
    if "rss" in sections:
        results["peak_rss"] = run_peak_rss(args.copies, args.schema)
    if "lookup" in sections:
        print("lookup (kernel alone, warm index):")
        results["lookup"] = run_lookup(data, args.queries, args.lookup_records)
    if "blocking" in sections:
        print("blocking at 100k x 100k:")
        results["blocking"] = run_blocking(
            data.head(args.copies),
            [
                HammingLsh(bands=32, bits_per_band=24),
                HammingLsh(bands=64, bits_per_band=24),
                HammingLsh(bands=128, bits_per_band=24),
            ],
        )
    if "quality" in sections:
        print("linkage quality (Dice >= threshold, greedy 1:1):")
        results["quality"] = run_quality(data, 1, args.thresholds) + run_quality(
            data, args.copies, args.thresholds
        )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    name = args.schema if args.schema in ("default", "plain") else "custom"
    path = RESULTS_DIR / f"results-{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"results written to {path}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


if __name__ == "__main__":
    main()
