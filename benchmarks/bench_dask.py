"""The rebuild's similarity join at 1,000,000 records with blocking: in-process against a
2-worker Dask LocalCluster (issue 8).

    python benchmarks/bench_dask.py [--records 1000000] [--block-size 250000]
                                    [--sample 2000] [--work DIR]

"1,000,000 x 1,000,000" is the self-join of one million records (every pair of the
1M x 1M comparison space once, i < j), which is what ``LinkageService.rebuild`` runs.
The records are synthetic 1024-bit CLKs of realistic fill with errors, made as in
``bench_service.py`` (60 % as many people as records; each record a copy of a person
with 0-40 bits flipped). Blocking: Hamming-LSH, 24 bands of 24 bits (bench_service's).

Each measurement runs in its own process, so each peak RSS is that run's alone:

1. in-process: ``blocked_dice_self_join`` with numba on both cores; wall time, peak RSS.
2. Dask: a LocalCluster of 2 worker processes (1 task thread and 1 numba thread each),
   ``DaskJoiner.run_self_join``; wall time, peak RSS of the driver (which also hosts the
   LocalCluster's scheduler) and of each worker, and the bytes moved (scattered blocks,
   worker-to-worker transfers, results) per comparison. The pairs must equal run 1's
   exactly (checked).
3. Calibration for docs/scale-out.md: one off-diagonal and one diagonal block-pair task
   of ``--block-size`` records, alone on one core (NUMBA_NUM_THREADS=1).
4. Pair completeness of the blocked join against the unblocked join, on a sample: for
   ``--sample`` random records, every pair with any other record that the exact join
   accepts (both roles, as the self-join decides them), and the share the blocked join
   kept. The full unblocked 1M x 1M join (5e11 comparisons) is not run: at the measured
   kernel speed it takes about an hour on this machine.

Results go to stdout and WORK/results-N.json. The machine is shared: numbers measured in
one run side by side are what count.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_service import random_clks, with_errors

from linkage.distributed import DaskJoiner, DaskJoinSettings
from linkage.match import (
    HammingLsh,
    blocked_dice_self_join,
    dice_join,
    pack_clks,
    warm_up,
)

REPO = Path(__file__).resolve().parent.parent
THRESHOLD = 0.8
LSH = HammingLsh(bands=24, bits_per_band=24, seed=11)


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: its own address space only; Linux's
    ru_maxrss carries a parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


# ------------------------------------------------------------------ the modes
def prepare(work: Path, records: int) -> dict[str, object]:
    existing = work / "clks.npy"
    if existing.exists() and np.load(existing, mmap_mode="r").shape[0] == records:
        return {"cached": True}
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2026)
    people = random_clks(rng, int(records * 0.6))
    person = rng.integers(0, people.shape[0], records)
    clks = pack_clks(with_errors(rng, people[person]))
    np.save(work / "clks.npy", clks)
    np.save(work / "person.npy", person)
    return {"cached": False}


def run_in_process(work: Path) -> dict[str, object]:
    clks = np.load(work / "clks.npy")
    warm_up()
    started = time.perf_counter()
    result = blocked_dice_self_join(clks, THRESHOLD, LSH)
    wall = time.perf_counter() - started
    pairs = result.pairs
    np.savez(work / "pairs-inprocess.npz", scores=pairs.scores, left=pairs.left, right=pairs.right)
    return {
        "wall_s": wall,
        "peak_rss_mib": peak_rss_mib(),
        "pairs": len(pairs),
        "comparisons": result.candidate_pairs,
        "pair_space": result.total_pairs,
        "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)),
    }


def _worker_peak_rss_mib() -> float:
    return peak_rss_mib()


def run_dask(work: Path, block_size: int) -> dict[str, object]:
    from distributed import Client, LocalCluster

    clks = np.load(work / "clks.npy")
    warm_up()
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": "1"},
        ) as cluster,
        Client(cluster, set_as_default=False) as control,
    ):
        control.run(warm_up)
        before = control.run(_worker_peak_rss_mib)
        settings = DaskJoinSettings(
            cluster.scheduler_address, block_size=block_size, min_comparisons=0
        )
        joiner = DaskJoiner(settings)
        started = time.perf_counter()
        pairs, report = joiner.run_self_join(clks, THRESHOLD, LSH)
        wall = time.perf_counter() - started
        workers = control.run(_worker_peak_rss_mib)
        joiner.close()
    np.savez(work / "pairs-dask.npz", scores=pairs.scores, left=pairs.left, right=pairs.right)
    return {
        "wall_s": wall,
        "driver_peak_rss_mib": peak_rss_mib(),
        "worker_peak_rss_mib": sorted(workers.values()),
        "worker_rss_before_join_mib": sorted(before.values()),
        "block_size": block_size,
        "blocks": report.blocks,
        "tasks": report.tasks,
        "pairs": report.pairs,
        "comparisons": report.comparisons,
        "pair_space": report.pair_space,
        "scattered_bytes": report.scattered_bytes,
        "peer_bytes": report.peer_bytes,
        "result_bytes": report.result_bytes,
        "bytes_per_comparison": report.bytes_per_comparison,
        "bytes_per_pair_space": report.bytes_sent / report.pair_space,
        "resubmitted_tasks": report.resubmitted_tasks,
    }


def run_calibrate(work: Path, block_size: int) -> dict[str, object]:
    """One off-diagonal and one diagonal block-pair task on one core (run with
    NUMBA_NUM_THREADS=1): the per-task costs the scale-out projection builds on."""
    from linkage.distributed import join_block_pair

    clks = np.load(work / "clks.npy")
    warm_up()
    a, b = clks[:block_size], clks[block_size : 2 * block_size]
    out: dict[str, object] = {"block_size": block_size, "numba_threads": 1}
    for name, right in (("off_diagonal", b), ("diagonal", None)):
        started = time.perf_counter()
        result = join_block_pair(a, right, THRESHOLD, LSH)
        out[f"{name}_s"] = time.perf_counter() - started
        out[f"{name}_comparisons"] = result.comparisons
        out[f"{name}_pairs"] = int(result.scores.shape[0])
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def run_completeness(work: Path, sample: int) -> dict[str, object]:
    """Pairs involving sampled records: exact join against the blocked join."""
    clks = np.load(work / "clks.npy")
    person = np.load(work / "person.npy")
    blocked = np.load(work / "pairs-inprocess.npz")
    n = clks.shape[0]
    rows = np.sort(np.random.default_rng(5).choice(n, size=sample, replace=False))
    warm_up()
    started = time.perf_counter()
    # The self-join decides pair (i, j), i < j, with i on the left (anonlink's rule is
    # not symmetric at the margin), so take each sampled row's pairs in both roles.
    as_left = dice_join(clks[rows], clks, THRESHOLD)
    keep = as_left.right > rows[as_left.left]
    exact = set(zip(rows[as_left.left[keep]].tolist(), as_left.right[keep].tolist(), strict=True))
    as_right = dice_join(clks, clks[rows], THRESHOLD)
    keep = as_right.left < rows[as_right.right]
    exact |= set(
        zip(as_right.left[keep].tolist(), rows[as_right.right[keep]].tolist(), strict=True)
    )
    exact_s = time.perf_counter() - started
    sampled = np.zeros(n, dtype=bool)
    sampled[rows] = True
    touch = sampled[blocked["left"]] | sampled[blocked["right"]]
    kept = set(zip(blocked["left"][touch].tolist(), blocked["right"][touch].tolist(), strict=True))
    same_person = {(a, b) for a, b in exact if person[a] == person[b]}
    return {
        "sample": sample,
        "exact_pairs": len(exact),
        "blocked_pairs": len(kept),
        "blocked_not_in_exact": len(kept - exact),
        "pair_completeness": len(kept & exact) / len(exact) if exact else 1.0,
        "exact_same_person_pairs": len(same_person),
        "blocked_same_person_pairs": len(kept & same_person),
        "comparisons": 2 * sample * n,
        "exact_join_s": exact_s,
    }


# ---------------------------------------------------------------------- driver
def in_subprocess(mode: str, args: argparse.Namespace) -> dict[str, object]:
    command = [sys.executable, __file__, "--mode", mode, "--records", str(args.records),
               "--block-size", str(args.block_size), "--sample", str(args.sample),
               "--work", str(args.work)]  # fmt: skip
    env = dict(os.environ)
    if mode == "calibrate":
        env["NUMBA_NUM_THREADS"] = "1"
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    last = output.stdout.strip().splitlines()[-1]
    return dict(json.loads(last))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--block-size", type=int, default=250_000)
    parser.add_argument("--sample", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--mode",
        choices=["prepare", "inprocess", "dask", "calibrate", "completeness"],
        default=None,
    )
    args = parser.parse_args()
    args.work = args.work or REPO / "build" / f"bench-dask-{args.records}"
    if args.mode is not None:
        result = {
            "prepare": lambda: prepare(args.work, args.records),
            "inprocess": lambda: run_in_process(args.work),
            "dask": lambda: run_dask(args.work, args.block_size),
            "calibrate": lambda: run_calibrate(args.work, args.block_size),
            "completeness": lambda: run_completeness(args.work, args.sample),
        }[args.mode]()
        print(json.dumps(result))
        return
    started = time.perf_counter()
    in_subprocess("prepare", args)
    results: dict[str, object] = {
        "records": args.records,
        "threshold": THRESHOLD,
        "blocking": {"bands": LSH.bands, "bits_per_band": LSH.bits_per_band, "seed": LSH.seed},
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
        "prepare_s": time.perf_counter() - started,
    }
    for mode in ("inprocess", "dask", "calibrate", "completeness"):
        results[mode] = in_subprocess(mode, args)
        print(mode, json.dumps(results[mode]), flush=True)
    a = np.load(args.work / "pairs-inprocess.npz")
    b = np.load(args.work / "pairs-dask.npz")
    results["dask_pairs_equal_inprocess"] = all(
        np.array_equal(a[name], b[name]) for name in ("scores", "left", "right")
    )
    results["load_average_after"] = os.getloadavg()
    print("dask pairs equal in-process:", results["dask_pairs_equal_inprocess"])
    (args.work / f"results-{args.records}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
