"""The probabilistic rebuild's ``link_within`` in-process against Dask LocalClusters of 1
and 2 worker processes, on the realistic multi-agency records.

    python benchmarks/bench_dask_prob.py [--records 200000] [--workers 1,2]
        [--blocking large] [--data build/prob-blocking] [--work DIR]

The records are the first ``--records`` of the synthetic multi-agency records that
``benchmarks/bench_prob_blocking.py generate`` caches in ``--data`` (segmented CLKs of the
shipped schema, hardened; read with ``bench_prob_service_grpc.load_data``). The linker is
the one a matcher starts with: the shipped prior model for the default segmented layout,
``default_blocking(scale=--blocking)`` rules, match probability 0.5, and the term
frequencies of the records (as the rebuild computes them).

Each measurement runs in its own process (peak RSS is that run's alone):

1. in-process: ``ProbabilisticLinker.link_within`` with numba on every core (what the
   rebuild runs without ``[linkage.dask]``); wall time, peak RSS.
2. for each ``--workers`` W: a LocalCluster of W worker processes (1 task thread and 1
   numba thread each), ``DaskJoiner.run_link_within``: wall time, each task's wall and CPU
   seconds (one task per blocking rule, then scoring tasks over chunks of the candidates),
   the driver's serial steps (scatter, union, ordering), bytes moved, peak RSS of the
   driver and the workers. The pairs must equal run 1's exactly (checked: pairs,
   probabilities bit for bit, order).

Both warm up first (one ``link_within`` on the first 20,000 records), so numba's
compilation is not timed. A projection for 16 and 64 cores follows from the 1-worker
run's task times (each task alone on one core): the driver's serial steps, plus the
blocking rules' tasks scheduled longest first on the cores (a rule is one task, so the
largest rule bounds this phase), plus the scoring work divided by the cores (it is cut
into as many chunks as the cores want); the records' scatter once as measured, and also as
if every worker's copy left the driver one after the other.

Results go to stdout and WORK/results-N.json.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_prob_service_grpc import load_data  # noqa: E402
from linkage.distributed import DaskJoiner, DaskJoinSettings, LinkWithinReport  # noqa: E402
from linkage.encode import default_segmented_schema, segment_layout  # noqa: E402
from linkage.match import warm_up  # noqa: E402
from linkage.probabilistic import (  # noqa: E402
    ProbabilisticLinker,
    TermFrequencies,
    default_blocking,
)
from linkage.service import prior_model  # noqa: E402

THRESHOLD = 0.5
WARM_UP_RECORDS = 20_000
PROJECT_CORES = (16, 64)


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def setup(
    data: Path, records: int, blocking: str
) -> tuple[np.ndarray, ProbabilisticLinker, TermFrequencies | None, float]:
    """The records (in memory), the linker and the records' term frequencies, and the
    seconds the frequencies took."""
    packed_map, _, _ = load_data(data, records)
    packed = np.ascontiguousarray(packed_map)
    segmented = default_segmented_schema()
    layout = segment_layout(segmented.schema.length, segmented.segmentation)
    if packed.shape[1] != layout.total_words:
        raise SystemExit(f"{data} holds records of another layout")
    linker = ProbabilisticLinker(
        layout, prior_model(True, layout), default_blocking(True, scale=blocking), THRESHOLD
    )
    started = time.perf_counter()
    segments = [s for s in linker.model.term_frequency_segments() if s is not None]
    frequencies = TermFrequencies.of(packed, layout, segments) if segments else None
    return packed, linker, frequencies, time.perf_counter() - started


def run_in_process(args: argparse.Namespace) -> dict[str, object]:
    packed, linker, frequencies, frequencies_s = setup(args.data, args.records, args.blocking)
    warm_up()
    warm = min(WARM_UP_RECORDS, packed.shape[0])
    linker.link_within(packed[:warm], frequencies)
    started = time.perf_counter()
    pairs = linker.link_within(packed, frequencies)
    wall = time.perf_counter() - started
    np.savez(
        args.work / "pairs-inprocess.npz", scores=pairs.scores, left=pairs.left, right=pairs.right
    )
    return {
        "wall_s": wall,
        "pairs": len(pairs),
        "term_frequencies_s": frequencies_s,
        "peak_rss_mib": peak_rss_mib(),
        "numba_threads": int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count() or 1)),
    }


def _report_dict(report: LinkWithinReport) -> dict[str, object]:
    return {
        "records": report.records,
        "workers": report.workers,
        "rule_candidates": list(report.rule_candidates),
        "candidates": report.candidates,
        "pairs": report.pairs,
        "rule_task_s": [t.seconds for t in report.rule_tasks],
        "rule_task_cpu_s": [t.cpu_seconds for t in report.rule_tasks],
        "score_task_s": [t.seconds for t in report.score_tasks],
        "score_task_cpu_s": [t.cpu_seconds for t in report.score_tasks],
        "task_cpu_s": report.task_cpu_seconds,
        "task_s": report.task_seconds,
        "scatter_s": report.scatter_seconds,
        "union_s": report.union_seconds,
        "order_s": report.order_seconds,
        "scattered_bytes": report.scattered_bytes,
        "result_bytes": report.result_bytes,
        "seconds": report.seconds,
    }


def _worker_peak_rss_mib() -> float:
    return peak_rss_mib()


def run_dask(args: argparse.Namespace, workers: int) -> dict[str, object]:
    from distributed import Client, LocalCluster

    packed, linker, frequencies, _ = setup(args.data, args.records, args.blocking)
    warm_up()
    with (
        LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            env={"NUMBA_NUM_THREADS": "1"},
        ) as cluster,
        Client(cluster, set_as_default=False) as control,  # type: ignore[no-untyped-call]
    ):
        control.run(warm_up)
        joiner = DaskJoiner(DaskJoinSettings(cluster.scheduler_address, min_comparisons=0))
        warm = min(WARM_UP_RECORDS, packed.shape[0])
        joiner.run_link_within(linker, np.ascontiguousarray(packed[:warm]), frequencies)
        started = time.perf_counter()
        pairs, report = joiner.run_link_within(linker, packed, frequencies)
        wall = time.perf_counter() - started
        worker_rss = control.run(_worker_peak_rss_mib)
        joiner.close()
    np.savez(
        args.work / f"pairs-dask-{workers}.npz",
        scores=pairs.scores,
        left=pairs.left,
        right=pairs.right,
    )
    return {
        "wall_s": wall,
        "driver_peak_rss_mib": peak_rss_mib(),
        "worker_peak_rss_mib": sorted(worker_rss.values()),
        **_report_dict(report),
    }


def _makespan(tasks: list[float], cores: int) -> float:
    """Longest-first list scheduling of ``tasks`` on ``cores``: when the last one ends."""
    finish = [0.0] * cores
    for seconds in sorted(tasks, reverse=True):
        heapq.heappush(finish, heapq.heappop(finish) + seconds)
    return max(finish)


def project(run: dict[str, Any], cores: int) -> dict[str, float]:
    """Wall time on ``cores`` single-threaded workers, from one run's task times.

    ``wall_s`` counts the records' scatter once, as measured (every worker gets a copy;
    Dask replicates it between workers); ``wall_serial_scatter_s`` as if the driver sent
    every worker's copy one after the other at the measured rate (the bound when the
    copies do not spread in parallel)."""
    per_copy = float(run["scatter_s"]) / max(1, int(run["workers"]))
    driver = float(run["union_s"]) + float(run["order_s"])
    rules = _makespan(list(run["rule_task_s"]), cores)
    scoring = sum(run["score_task_s"]) / cores
    return {
        "cores": cores,
        "scatter_s": float(run["scatter_s"]),
        "driver_union_order_s": driver,
        "rules_s": rules,
        "largest_rule_s": max(run["rule_task_s"], default=0.0),
        "scoring_s": scoring,
        "wall_s": float(run["scatter_s"]) + driver + rules + scoring,
        "wall_serial_scatter_s": per_copy * cores + driver + rules + scoring,
    }


# ---------------------------------------------------------------------- driver
def in_subprocess(mode: str, args: argparse.Namespace) -> dict[str, object]:
    command = [sys.executable, __file__, "--mode", mode, "--records", str(args.records),
               "--blocking", args.blocking, "--data", str(args.data),
               "--work", str(args.work)]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True)
    last = output.stdout.strip().splitlines()[-1]
    return dict(json.loads(last))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma separated")
    parser.add_argument("--blocking", default="large", choices=("default", "large"))
    parser.add_argument("--data", type=Path, default=REPO / "build" / "prob-blocking")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--mode", default=None, help="inprocess or dask-W (internal)")
    args = parser.parse_args()
    args.work = args.work or REPO / "build" / f"bench-dask-prob-{args.records}"
    args.work.mkdir(parents=True, exist_ok=True)
    if args.mode is not None:
        if args.mode == "inprocess":
            result = run_in_process(args)
        else:
            result = run_dask(args, int(args.mode.removeprefix("dask-")))
        print(json.dumps(result))
        return
    worker_counts = [int(w) for w in args.workers.split(",") if w]
    results: dict[str, Any] = {
        "records": args.records,
        "blocking": args.blocking,
        "threshold": THRESHOLD,
        "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
    }
    results["inprocess"] = in_subprocess("inprocess", args)
    print("inprocess", json.dumps(results["inprocess"]), flush=True)
    expected = np.load(args.work / "pairs-inprocess.npz")
    for workers in worker_counts:
        run = in_subprocess(f"dask-{workers}", args)
        got = np.load(args.work / f"pairs-dask-{workers}.npz")
        run["pairs_equal_inprocess"] = all(
            np.array_equal(expected[name], got[name]) for name in ("scores", "left", "right")
        )
        results[f"dask_{workers}"] = run
        summary = {k: v for k, v in run.items() if not k.endswith("task_s") and "cpu_s" not in k}
        print(f"dask {workers} workers", json.dumps(summary), flush=True)
        print(f"dask {workers} pairs equal in-process:", run["pairs_equal_inprocess"], flush=True)
    runs = {w: results[f"dask_{w}"] for w in worker_counts}
    if 1 in runs and 2 in runs:
        results["speedup_1_to_2_workers"] = runs[1]["wall_s"] / runs[2]["wall_s"]
        print(f"speed-up 1 -> 2 workers: {results['speedup_1_to_2_workers']:.2f}")
    base = runs.get(1) or next(iter(runs.values()), None)
    if base is not None:
        results["projection_from"] = f"{base['workers']} worker(s)"
        results["projection"] = [project(base, cores) for cores in PROJECT_CORES]
        for row in results["projection"]:
            print("projected", json.dumps(row))
    for workers, run in runs.items():
        print(
            f"dask {workers}: wall {run['wall_s']:.2f} s, task CPU {run['task_cpu_s']:.2f} s, "
            f"in-process wall {results['inprocess']['wall_s']:.2f} s"
        )
    results["load_average_after"] = os.getloadavg()
    out = args.work / f"results-{args.records}.json"
    out.write_text(json.dumps(results, indent=2))
    print("results written to", out)


if __name__ == "__main__":
    main()
