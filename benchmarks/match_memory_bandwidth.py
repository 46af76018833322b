"""The floor under a 1M lookup: the time to merely read an index's bytes once.

    .venv/bin/python benchmarks/match_memory_bandwidth.py

Sums 1,000,000 x 16 uint64 words (122 MiB, the size of a 1M x 1024-bit index) with every
numba thread, 30 times, and prints the median and best time and the bandwidth. A lookup
that scans the whole index cannot be faster than this.
"""

from __future__ import annotations

import time
from typing import Any

import numba
import numpy as np


@numba.njit(parallel=True, cache=False)  # type: ignore[misc]
def _sum_words(words: Any) -> Any:
    total = np.uint64(0)
    for i in numba.prange(words.shape[0]):
        total += words[i]
    return total


def main() -> None:
    words = np.ones(1_000_000 * 16, dtype=np.uint64)
    _sum_words(words)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        _sum_words(words)
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1e3
    print(
        f"read {words.nbytes / 2**20:.0f} MiB with {numba.get_num_threads()} threads:"
        f" median {np.median(ms):.2f} ms ({words.nbytes / np.median(ms) / 1e6:.1f} GB/s),"
        f" best {ms.min():.2f} ms ({words.nbytes / ms.min() / 1e6:.1f} GB/s)"
    )


if __name__ == "__main__":
    main()
