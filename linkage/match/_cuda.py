"""The Dice join on an NVIDIA GPU (numba's CUDA target): the ``cuda`` kernel path.

Never required and never chosen by itself: :mod:`linkage.match._paths` selects it only when
``LINKAGE_MATCH_KERNEL=cuda`` (or ``set_kernel_path("cuda")``) asks for it *and*
:func:`cuda_problem` finds a device. numba's CUDA target is imported only then, so the
project installs and runs without a GPU or CUDA libraries.

It computes the same thing as the CPU pair kernel, from the same popcount-sorted sides: every
accepted ``(i, j, count)`` in sorted positions, judged with the same integer
:class:`~linkage.match._dice.DiceRule` tables, then ordered on the host by the same
``canonical_pairs``; so the pairs, scores and order are the CPU's. Layout: the left side
row-major (``a[i, w]``: one word is read by a whole warp at once, a broadcast), the right
side transposed (``bt[w, j]``: a warp's 32 consecutive records are one coalesced read).
A thread block is ``ROWS`` left rows x 32 right records and walks a chunk of
``CHUNK`` records inside its rows' feasible popcount window (the same window the CPU tiles
use); each accepted pair takes a slot of the output with an atomic add. When the output is
too small, the kernel counts every pair anyway and the join is rerun once with exactly the
room it needs.

The kernel's logic is tested under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), which
runs it in Python threads on the CPU.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from typing import Any

import numpy as np

from linkage.errors import ResourceExhaustedError
from linkage.match._dice import DiceRule
from linkage.types import Int64Array, PackedClks

__all__ = ["CHUNK", "ROWS", "WARP", "cuda_pairs", "cuda_problem"]

#: Left rows per thread block (``threadIdx.y``) and right records per row of threads
#: (``threadIdx.x``) of the kernel (``_cuda_kernel``).
ROWS = 8
WARP = 32
#: Right records a block walks per chunk of its rows' popcount window.
CHUNK = 32 * WARP
#: Most blocks along the grid's second dimension (CUDA's limit is 65,535).
_MAX_GRID_Y = 65_535
#: Pairs the first launch has room for.
_FIRST_CAPACITY = 1 << 20


def _cuda_module() -> Any:
    """numba's CUDA target (untyped: used as ``Any``)."""
    return importlib.import_module("numba.cuda")


def cuda_problem() -> str | None:
    """Why the ``cuda`` path cannot run here (a sentence), or ``None`` when it can."""
    try:
        cuda = _cuda_module()
    except Exception as exc:  # ImportError or a CUDA library that fails to load
        return f"numba's CUDA target cannot be imported ({type(exc).__name__}: {exc})"
    try:
        available = bool(cuda.is_available())
    except Exception as exc:  # a broken driver installation
        return f"numba cannot query CUDA ({type(exc).__name__}: {exc})"
    if not available:
        return "no CUDA GPU and driver were found (numba.cuda.is_available() is false)"
    return None


@functools.cache
def _kernel() -> Any:
    """The CUDA kernel (compiled at its first launch); numba's CUDA target is imported here."""
    from linkage.match import _cuda_kernel

    return _cuda_kernel.pairs_kernel


def _windows(
    rule: DiceRule, pa_sorted: Int64Array, pb_sorted: Int64Array, self_join: bool
) -> tuple[Int64Array, Int64Array]:
    """For each block of ``ROWS`` sorted left rows, the right records ``j0 .. j1`` it visits."""
    from linkage.match._layout import block_windows

    return block_windows(rule, pa_sorted, pb_sorted, self_join, ROWS, 1)


def cuda_pairs(
    rule: DiceRule,
    a_sorted: PackedClks,
    pa_sorted: Int64Array,
    a_key: Int64Array,
    b_sorted: PackedClks,
    pb_sorted: Int64Array,
    b_key: Int64Array,
    self_join: bool,
    max_pairs: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All accepted ``(i, j, count)`` (``int32``, sorted positions) of two popcount-sorted
    sides, in no order, computed on the GPU (as :func:`linkage.match._join.run_pairs`)."""
    from numba.core.errors import NumbaPerformanceWarning

    cuda = _cuda_module()
    kernel = _kernel()
    j0, j1 = _windows(rule, pa_sorted, pb_sorted, self_join)
    blocks = j0.shape[0]
    widest = int((j1 - j0).max(initial=0))
    none = np.empty(0, dtype=np.int32)
    if blocks == 0 or widest <= 0:
        return none, none, none
    grid = (blocks, max(1, min(_MAX_GRID_Y, -(-widest // CHUNK))))
    device = [
        cuda.to_device(np.ascontiguousarray(x))
        for x in (
            a_sorted,
            pa_sorted,
            a_key,
            np.ascontiguousarray(b_sorted.T),
            pb_sorted,
            b_key,
            rule.min_count,
            rule.max_delta,
            j0,
            j1,
        )
    ]
    capacity = _FIRST_CAPACITY if max_pairs is None else min(_FIRST_CAPACITY, max_pairs + 1)
    while True:
        out = [cuda.device_array(max(capacity, 1), dtype=np.int32) for _ in range(3)]
        out_n = cuda.to_device(np.zeros(1, dtype=np.int64))
        with warnings.catch_warnings():
            # Small joins leave most of the GPU idle, which numba warns about.
            warnings.simplefilter("ignore", NumbaPerformanceWarning)
            kernel[grid, (WARP, ROWS)](
                device[0], device[1], device[2], device[3], device[4], device[5], self_join,
                device[6], device[7], device[8], device[9], out[0], out[1], out[2], out_n,
            )  # fmt: skip
        total = int(out_n.copy_to_host()[0])
        if max_pairs is not None and total > max_pairs:
            raise ResourceExhaustedError(
                f"the join produces more than {max_pairs} candidate pairs;"
                " raise the threshold or use blocking"
            )
        if total <= capacity:
            i, j, c = (x.copy_to_host()[:total] for x in out)
            return i, j, c
        capacity = total  # the rerun produces the same pairs: exactly this many
