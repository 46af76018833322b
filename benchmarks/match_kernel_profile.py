"""Where a ``dice_join`` spends its time, per kernel path, and how close to the CPU's limit.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/match_kernel_profile.py plain 20000
    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/match_kernel_profile.py default 20000 \\
        --paths vpopcnt512 nibble --threshold 0.5

Runs the steps of :func:`linkage.match.dice_join` one by one on the first ``size`` rows per
side of the FEBRL4-derived data (``match_data``, same cache as ``bench_match.py``) for each
kernel path this CPU can run (``--paths``; paths it cannot run are named and skipped), the
paths interleaved, ``--repeats`` times, and prints wall and CPU seconds of each step, the
kernel's comparisons per CPU second (counting the pairs it visits; the popcount filter skips
the rest) and cycles per comparison at the clock measured here (a dependent ``imul`` +
``xor`` chain, 4 cycles an iteration). CPU seconds are what to read on a shared machine:
they do not count the time other processes held the cores.

The issue-rate limit printed beside each path is the count of vector instructions its tile
needs per comparison divided by the vector ports that can run them (see
docs/benchmarks-match.md); the share is limit / measured cycles. Beside it, the *tile
ceiling*: the same path's tile primitive alone, in a loop over 64 x 64 L1-resident records
that never reach the threshold (no pair emitted, no memory traffic), i.e. the best this
code reaches on this core.

``--synthetic`` uses random CLKs (no encoding, no cache) instead: for a quick smoke run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from linkage.match import _canonical, _join, _kernel_primitives, _kernels, _layout, _paths, warm_up
from linkage.match._dice import dice_rule
from linkage.match._kernels import JOIN_KERNELS

#: Vector instructions per 1024-bit comparison (16 words) and the ports that run them, by
#: path (see docs/benchmarks-match.md, "Where the time goes").
ISSUE_MODEL = {
    # per left row and word of 8 comparisons: vpandq (broadcast folded), vpopcntq, vpaddq;
    # 512-bit vector instructions issue on 2 ports (Intel p0+p1 fused and p5; AMD Zen 4
    # splits them over 2 of its 4 256-bit pipes each way).
    "vpopcnt512": (16 * 3 / 8, 2),
    # per left row and word of 4 comparisons: 2 vpand, 2 pshufb/vpopcntb, 2 vpaddb, plus the
    # right side's split (3 per word of a 4-row tile) and the widening: about 30 per
    # comparison; 256-bit vector instructions issue on 3 ports (Intel p0, p1, p5).
    "nibble": (30.0, 3),
    # per left row and word of 4 comparisons: vpand, vpopcntq ymm, vpaddq on 3 ports where the
    # CPU has VPOPCNTDQ; elsewhere LLVM's generic lowering costs more.
    "portable": (16 * 3 / 4, 3),
}


@numba.njit(cache=True)
def _clock_chain(n: int) -> int:  # pragma: no cover - compiled
    x = 1
    for i in range(n):
        x = (x * 0x9E3779B97F4A7C15) ^ i
    return x


def measured_ghz(iterations: int = 200_000_000) -> float:
    """The core clock, from a dependent multiply + xor chain (3 + 1 cycles an iteration)."""
    _clock_chain(1000)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        _clock_chain(iterations)
        best = min(best, time.process_time() - start)
    return 4 * iterations / best / 1e9


def _ceiling_loop_impl(a_rows: Any, bt: Any, reps: int, counts: Any) -> int:  # pragma: no cover
    total = 0
    blocks = a_rows.shape[0] if a_rows.ndim == 3 else a_rows.shape[0] // ROWS  # noqa: F821
    for _ in range(reps):
        for block in range(blocks):
            for g in range(bt.shape[0]):
                total += _tile(a_rows, block * ROWS, bt, g, 1 << 40, counts)  # noqa: F821
    return total


def tile_ceiling(path: str, reps: int = 4000) -> float:
    """Comparisons per CPU second of ``path``'s tile primitive alone (see the docstring)."""
    kernels = JOIN_KERNELS[path]
    tile = _kernels._tile_function(
        f"_tile_ceiling_{path}", kernels.rows, kernels.lanes, kernels.split
    )
    loop = numba.njit(
        _kernel_primitives.function_variant(
            _ceiling_loop_impl, f"_ceiling_{path}", _tile=tile, ROWS=kernels.rows
        )
    )
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, size=(64, 16), dtype=np.int64).astype(np.uint64)
    a_rows = _layout.left_layout(a, kernels)
    bt = _layout.transpose_groups(a, kernels.lanes)
    counts = np.empty((kernels.rows, kernels.lanes), dtype=np.int64)
    loop(a_rows, bt, 1, counts)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        loop(a_rows, bt, reps, counts)
        best = min(best, time.process_time() - start)
    return reps * 64 * 64 / best


def synthetic(size: int, fill: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    left = np.packbits(rng.random((size, 1024)) < fill, axis=1).view(">u8").astype(np.uint64)
    noise = np.packbits(rng.random((size, 1024)) < 0.05, axis=1).view(">u8").astype(np.uint64)
    return left, left ^ noise


def profile_once(path: str, a: np.ndarray, b: np.ndarray, threshold: float) -> dict[str, Any]:
    kernels = JOIN_KERNELS[path]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    rule = dice_rule(threshold, a.shape[1] * 64)
    pa, pb = _join.popcounts(a), _join.popcounts(b)
    order_a, pa_sorted = _layout.sorted_side(pa)
    order_b, pb_sorted = _layout.sorted_side(pb)
    sides = _layout.prepare_sides(
        kernels, rule, a[order_a], pa_sorted, order_a, b[order_b], pb_sorted, order_b, False
    )
    wall1, cpu1 = time.perf_counter(), time.process_time()
    i, j, c = _join.run_pairs(sides, rule, None)
    wall2, cpu2 = time.perf_counter(), time.process_time()
    pairs = _canonical.pairs_from_sorted_positions(
        i, j, c, order_a, order_b, pa, pb, rule, self_join=False
    )
    wall3, cpu3 = time.perf_counter(), time.process_time()
    return {
        "path": path,
        "prepare_s": wall1 - wall0,
        "prepare_cpu_s": cpu1 - cpu0,
        "kernel_s": wall2 - wall1,
        "kernel_cpu_s": cpu2 - cpu1,
        "order_s": wall3 - wall2,
        "order_cpu_s": cpu3 - cpu2,
        "pairs": len(pairs),
        "visited": sides.visited(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("schema", help='"default", "plain" or a schema path')
    parser.add_argument("size", type=int, help="rows per side (a multiple of 5,000)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--paths", nargs="+", choices=_paths.CPU_PATHS, default=_paths.CPU_PATHS)
    parser.add_argument(
        "--synthetic", action="store_true", help="random CLKs instead of FEBRL4 (smoke runs)"
    )
    args = parser.parse_args()
    if args.synthetic:
        a, b = synthetic(args.size, 0.4)
    else:
        import match_data

        data = match_data.load(20, schema=args.schema, verbose=False).head(
            max(1, args.size // match_data.FEBRL_SIDE)
        )
        a, b = data.left, data.right
    problems = _paths.path_problems()
    paths = []
    for path in args.paths:
        if problems[path] is None:
            paths.append(path)
        else:
            print(f"{path}: skipped, {problems[path]}", flush=True)
    warm_up()
    for path in paths:  # compile or load each path's kernels before timing
        profile_once(path, a[:64], b[:64], args.threshold)
    ghz = measured_ghz()
    target = _paths.compile_target()
    print(
        f"CPU target {target.name}; clock {ghz:.2f} GHz (dependent imul+xor chain);"
        f" {numba.get_num_threads()} numba thread(s); load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    ceilings = {path: tile_ceiling(path) for path in paths}
    for path, rate in ceilings.items():
        ops, ports = ISSUE_MODEL[path]
        cycles = ghz * 1e9 / rate
        print(
            f"{path:>10} tile ceiling: {rate / 1e6:.0f} M comparisons per CPU s,"
            f" {cycles:.2f} cycles per comparison (issue limit {ops / ports:.2f})",
            flush=True,
        )
    n = a.shape[0] * b.shape[0]
    for _ in range(args.repeats):
        for path in paths:
            r = profile_once(path, a, b, args.threshold)
            per_cpu_s = r["visited"] / r["kernel_cpu_s"]
            cycles = ghz * 1e9 / per_cpu_s
            ops, ports = ISSUE_MODEL[path]
            limit = ops / ports
            print(
                f"{path:>10} {args.schema} {a.shape[0]:,}x{b.shape[0]:,} @ {args.threshold}:"
                f" prepare {r['prepare_s']:.3f} s (CPU {r['prepare_cpu_s']:.3f}),"
                f" kernel {r['kernel_s']:.3f} s (CPU {r['kernel_cpu_s']:.3f}),"
                f" order {r['order_s']:.3f} s (CPU {r['order_cpu_s']:.3f}); {r['pairs']:,} pairs;"
                f" visits {r['visited'] / n:.3f} of all pairs: {per_cpu_s / 1e6:.0f} M per CPU s,"
                f" {cycles:.2f} cycles per comparison (issue limit {limit:.2f}:"
                f" {100 * limit / cycles:.0f} %; tile ceiling"
                f" {100 * per_cpu_s / ceilings[path]:.0f} %); load {os.getloadavg()[0]:.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
