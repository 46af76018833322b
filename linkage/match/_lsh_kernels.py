"""numba kernels of the LSH-blocked Dice join and of greedy 1:1 matching (internal; see
``_blocking`` and ``_greedy``)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from linkage.match._kernel_primitives import accepts, claim, jit_kernel, popcount64

__all__ = ["PRIMITIVES_DIGEST", "greedy_bipartite_kernel", "lsh_join_kernel", "lsh_keys_kernel"]

#: Digest of ``_kernel_primitives.py`` (see its docstring): changing it invalidates numba's
#: cached kernels of this file when a primitive they inline changes.
PRIMITIVES_DIGEST = "5be6954f06a4a55a"


#: Records per block of :func:`lsh_keys_kernel` (a block's words, transposed, stay in L1/L2).
KEY_BLOCK = 256


@jit_kernel(parallel=True)
def lsh_keys_kernel(packed: Any, word_of: Any, shift_of: Any, out: Any) -> None:
    """``out[band, i]``: bit ``k`` is bit ``positions[band, k]`` of record ``i`` (positions
    given as ``word_of`` and ``shift_of``, the shift from the word's least significant bit).

    Records are taken in blocks of :data:`KEY_BLOCK`, transposed word-major into a local
    buffer, so that each sampled bit is extracted for a whole block by one loop over
    contiguous words, which LLVM vectorises (shift, mask, shift, or: a few vector
    instructions per 4-8 records, against a scalar load and four operations per record and
    bit in the record-major loop)."""
    n, words = packed.shape
    bands, per_band = word_of.shape
    one = np.uint64(1)
    for block in prange((n + KEY_BLOCK - 1) // KEY_BLOCK):
        start = block * KEY_BLOCK
        size = min(KEY_BLOCK, n - start)
        columns = np.zeros((words, KEY_BLOCK), dtype=np.uint64)
        for i in range(size):
            for w in range(words):
                columns[w, i] = packed[start + i, w]
        keys = np.empty(KEY_BLOCK, dtype=np.uint64)
        for band in range(bands):
            keys[:] = 0
            for k in range(per_band):
                column = columns[word_of[band, k]]
                shift = np.uint64(shift_of[band, k])
                place = np.uint64(k)
                for i in range(KEY_BLOCK):  # a constant trip count: one vectorised loop
                    keys[i] |= ((column[i] >> shift) & one) << place
            for i in range(size):
                out[band, start + i] = keys[i]


@jit_kernel(parallel=True)
def lsh_join_kernel(
    queue: Any,
    a: Any,
    b: Any,
    a_pop: Any,
    b_pop: Any,
    bucket_lo: Any,
    bucket_hi: Any,
    order_b: Any,
    self_join: bool,
    min_count: Any,
    max_delta: Any,
    rows: Any,
    stamps: Any,
    next_stamp: Any,
    candidates: Any,
    out_i: Any,
    out_j: Any,
    out_c: Any,
    out_n: Any,
    failed: Any,
) -> None:
    """Verify every LSH candidate of the given left rows with the exact Dice rule.

    Row ``i``'s candidates are the right records sharing its key in at least one band:
    ``order_b[band, bucket_lo[band, i] : bucket_hi[band, i]]``; each is
    counted once (a per-thread stamp array deduplicates across bands) in ``candidates[u]``
    and, if accepted, appended to the thread's buffer row as in :func:`pairs_kernel`. With
    ``self_join`` only ``j > i`` is considered (``i`` is the left record).
    """
    cap = out_i.shape[1]
    bands = bucket_lo.shape[0]
    words = a.shape[1]
    for _worker in prange(queue.shape[0] - 1):
        while True:  # claim work units one at a time (dynamic balance)
            u = claim(queue)
            if u >= rows.shape[0]:
                break
            thread = numba.get_thread_id()  # type: ignore[attr-defined]
            i = rows[u]
            mark = next_stamp[thread]
            next_stamp[thread] = mark + 1
            start = out_n[thread]
            pos = start
            full = False
            seen = 0
            pa = a_pop[i]
            for band in range(bands):
                for p in range(bucket_lo[band, i], bucket_hi[band, i]):
                    j = order_b[band, p]
                    if (self_join and j <= i) or stamps[thread, j] == mark:
                        continue
                    stamps[thread, j] = mark
                    seen += 1
                    count = 0
                    for w in range(words):
                        count += popcount64(a[i, w] & b[j, w])
                    if accepts(pa, b_pop[j], count, min_count, max_delta):
                        if pos == cap:
                            full = True
                            break
                        out_i[thread, pos] = i
                        out_j[thread, pos] = j
                        out_c[thread, pos] = count
                        pos += 1
                if full:
                    break
            candidates[u] = seen
            if full:
                failed[u] = True
            else:
                out_n[thread] = pos


@jit_kernel()
def greedy_bipartite_kernel(left: Any, right: Any, n_left: int, n_right: int, keep: Any) -> None:
    """Greedy 1:1 on distinct bipartite edges in the given order: keep an edge iff both of its
    records are still unmatched. (On such edges anonlink's greedy reduces to exactly this:
    a merge would need an edge within one side.)"""
    used_left = np.zeros(n_left, dtype=np.bool_)
    used_right = np.zeros(n_right, dtype=np.bool_)
    for e in range(left.shape[0]):
        a = left[e]
        b = right[e]
        if not used_left[a] and not used_right[b]:
            used_left[a] = True
            used_right[b] = True
            keep[e] = True
