"""Where a ``dice_join`` spends its time: preparation, the pair kernel, canonical ordering.

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/match_kernel_profile.py plain 20000
    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/match_kernel_profile.py default 20000

Runs the steps of :func:`linkage.match.dice_join` one by one (threshold 0.8) on the first
``size`` rows per side of the FEBRL4-derived data (``match_data``, same cache as
``bench_match.py``), twice, and prints wall and CPU seconds of each step and the kernel's
throughput per CPU second, counting the pairs it visits (the popcount filter skips the
rest). CPU seconds are what to read on a shared machine: they do not count the time other
processes held the cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import match_data

from linkage.match import _join, warm_up
from linkage.match._dice import dice_rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("schema", help='"default", "plain" or a schema path')
    parser.add_argument("size", type=int, help="rows per side (a multiple of 5,000)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    data = match_data.load(20, schema=args.schema, verbose=False).head(
        args.size // match_data.FEBRL_SIDE
    )
    warm_up()
    a, b = data.left, data.right
    n = a.shape[0] * b.shape[0]
    for _ in range(args.repeats):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        rule = dice_rule(0.8, a.shape[1] * 64)
        pa, pb = _join.popcounts(a), _join.popcounts(b)
        order_a, pa_sorted = _join._sorted_side(pa)
        order_b, pb_sorted = _join._sorted_side(pb)
        a_split = _join.nibble_split(a[order_a], _join.ROWS)
        bt = _join.transpose_groups(b[order_b])
        a_pop = _join._padded(pa_sorted, a_split.shape[0], 0)
        b_pop = _join._padded(pb_sorted, bt.shape[0] * _join.LANES, 0)
        g0, g1 = _join._block_groups(rule, pa_sorted, pb_sorted, either_role=False)
        wall1, cpu1 = time.perf_counter(), time.process_time()
        i, j, c = _join._run_pairs(
            a_split, a_pop, a.shape[0], bt, b_pop, b.shape[0], order_a, order_b, False, rule,
            g0, g1, None,
        )  # fmt: skip
        wall2, cpu2 = time.perf_counter(), time.process_time()
        pairs = _join._pairs_from_sorted_positions(
            i, j, c, order_a, order_b, pa, pb, rule, self_join=False
        )
        wall3, cpu3 = time.perf_counter(), time.process_time()
        visited = int((g1 - g0).sum()) * _join.ROWS * _join.LANES
        kernel_cpu = cpu2 - cpu1
        print(
            f"{args.schema} {args.size:,}^2: prepare {wall1 - wall0:.3f} s (CPU {cpu1 - cpu0:.3f}),"
            f" kernel {wall2 - wall1:.3f} s (CPU {kernel_cpu:.3f}), order {wall3 - wall2:.3f} s"
            f" (CPU {cpu3 - cpu2:.3f}); {len(pairs):,} pairs; the kernel visits"
            f" {visited / n:.3f} of all pairs: {visited / kernel_cpu / 1e6:.0f} M visited"
            f" pairs per CPU second ({n / kernel_cpu / 1e6:.0f} M of all pairs)",
            flush=True,
        )


if __name__ == "__main__":
    main()
