"""The CUDA kernel of the ``cuda`` join path (see :mod:`linkage.match._cuda`).

Imported only when that path runs: importing it imports numba's CUDA target. ``cuda`` is a
module global on purpose: numba's CUDA simulator swaps module globals that hold the CUDA
module for its own, which is how the tests run this kernel without a GPU.
"""

from __future__ import annotations

import importlib
from typing import Any

from linkage.match._cuda import CHUNK, ROWS, WARP

__all__ = ["pairs_kernel"]

cuda: Any = importlib.import_module("numba.cuda")


@cuda.jit  # type: ignore[untyped-decorator]
def pairs_kernel(  # pragma: no cover - runs on the device or in the simulator
    a: Any,
    a_pop: Any,
    a_key: Any,
    bt: Any,
    b_pop: Any,
    b_key: Any,
    self_join: bool,
    min_count: Any,
    max_delta: Any,
    block_j0: Any,
    block_j1: Any,
    out_i: Any,
    out_j: Any,
    out_c: Any,
    out_n: Any,
) -> None:
    """Every accepted ``(i, j, count)`` of the left rows of block ``blockIdx.x`` against the
    right records of their window ``block_j0 .. block_j1``, chunk by chunk (``blockIdx.y``,
    striding by ``gridDim.y``). An accepted pair takes slot ``atomic_add(out_n)``; slots past
    the output's length are counted, not written (the caller reruns with more room). With
    ``self_join`` only ``j > i`` is visited and the pair is judged with the record of smaller
    key as left, as the CPU kernels do."""
    block = cuda.blockIdx.x
    i = block * ROWS + cuda.threadIdx.y
    if i >= a.shape[0]:
        return
    first = block_j0[block]
    j1 = block_j1[block]
    j0 = first
    if self_join:
        j0 = max(j0, i + 1)
    words = a.shape[1]
    cap = out_i.shape[0]
    pa = a_pop[i]
    chunk = cuda.blockIdx.y
    while first + chunk * CHUNK < j1:
        start = first + chunk * CHUNK + cuda.threadIdx.x
        stop = min(j1, first + (chunk + 1) * CHUNK)
        for j in range(start, stop, WARP):
            if j < j0:
                continue
            count = 0
            for w in range(words):
                count += cuda.popc(a[i, w] & bt[w, j])
            pb = b_pop[j]
            left = pa
            right = pb
            if self_join and b_key[j] < a_key[i]:
                left = pb
                right = pa
            if abs(left - right) <= max_delta[left] and count >= min_count[left + right]:
                slot = cuda.atomic.add(out_n, 0, 1)
                if slot < cap:
                    out_i[slot] = i
                    out_j[slot] = j
                    out_c[slot] = count
        chunk += cuda.gridDim.y
