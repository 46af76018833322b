"""Load (or compile and cache) the probabilistic matcher's numba kernels before a request.

numba compiles a kernel on its first call and caches the machine code on disk, so the first
process on a machine would make its first lookup or batch wait for compilation (seconds).
:func:`warm_up_linker` runs a linker's whole path once on a few synthetic records of its
layout: blocking between two sets and within one (every LSH and exact rule pairs
something: half of the records are copies of the others), segment similarities, levels,
weights and probabilities, with term frequencies when given (the code a lookup and a
batch run; a rebuild's parallel variants compile at the first rebuild).

Pure: no I/O.
"""

from __future__ import annotations

import time

import numpy as np

from linkage.probabilistic._frequency import TermFrequencies
from linkage.probabilistic._linker import ProbabilisticLinker

__all__ = ["warm_up_linker"]


def warm_up_linker(linker: ProbabilisticLinker, frequencies: TermFrequencies | None) -> float:
    """Run ``linker`` once on 8 synthetic records; return the seconds it took."""
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    words = linker.layout.total_words
    half = rng.integers(0, 2**63, size=(4, words), dtype=np.int64).astype(np.uint64)
    records = np.ascontiguousarray(np.concatenate([half, half]))
    linker.link_within(records, frequencies)
    linker.link(records[:2], records, frequencies)
    return time.perf_counter() - started
