"""numba kernels of the Dice join and the lookup (internal; see ``_join``, ``_index`` and
``_paths``).

Layout and code shape (docs/architecture.md, section 5): the right-hand side is stored transposed in
groups of ``lanes`` records, ``bt[group, word, lane]``, so one vector load fetches the same
word of ``lanes`` records; each left word is broadcast and ANDed against a group; ``rows``
left rows share every right-hand load (register blocking); the threshold test is integer: a
tile is discarded unless some count reaches ``count_floor[min_pa + min_pb]``, a lower bound
of every pair's exact ``min_count``, and the rare survivors are checked exactly against
:class:`linkage.match._dice.DiceRule`. CLKs are padded with zero words to a multiple of
``CHUNK_WORDS`` (16 words, 1024 bits), which changes no count.

The join comes in three code paths (:mod:`linkage.match._paths` picks one by the CPU):

* ``vpopcnt512`` (AVX-512 VPOPCNTDQ): groups of 8 records, one 512-bit vector per word;
  per left row and word one ``vpandq`` (the broadcast folds into its memory operand), one
  ``vpopcntq`` and one ``vpaddq`` into a 64-bit accumulator: 6 vector instructions per
  1024-bit comparison. The tile primitive emits ``llvm.ctpop.v8i64`` and marks the function
  ``"min-legal-vector-width"="512"``, so LLVM keeps 512-bit registers even on CPUs whose
  tuning prefers 256-bit vectors; no ``NUMBA_CPU_FEATURES`` setting is needed (numba gives
  its functions no vector-width attribute, and an explicit ``<8 x i64>`` operation is legal
  in zmm registers wherever the target has AVX-512).
* ``nibble`` (AVX2): groups of 4 records; the left-hand side is stored *nibble-split*: per
  row, its ``W`` words masked to their low nibbles (``x & 0x0f..``), then its ``W`` words
  shifted down by four and masked. The popcount of ``a & b`` is then ``LUT[a_lo & b_lo] +
  LUT[a_hi & b_hi]`` per byte, and LLVM, which knows the high nibble of each byte is zero,
  lowers each ``ctpop <32 x i8>`` to a single ``vpshufb`` on AVX2. The right-hand side is
  split on the fly, once per load, shared by the left rows. Byte counts are summed over 16
  words (at most 128 per byte), then widened once.
* ``portable``: groups of 4 records and plain left words, ``ctpop <4 x i64>`` left to LLVM,
  which lowers it to whatever the target has (``vpopcntq``, ``cnt`` on NEON, a bit-twiddling
  sequence on a baseline x86-64): correct on any CPU numba supports.

The tile primitives are numba intrinsics emitting generic LLVM vector IR
(:mod:`linkage.match._kernel_primitives`): the host's LLVM backend picks the instructions,
and numba's cache is keyed by the host CPU. numba keys its on-disk cache by this file only,
so ``PRIMITIVES_DIGEST`` below records the primitives' source (checked by a test); editing
it on every change of a primitive invalidates the cached kernels. Each path's kernels are
copies of one Python function with the path's constants and tile primitive in their globals,
compiled (and cached) under their own names. The LSH join and greedy matching kernels are in
:mod:`linkage.match._lsh_kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
from numba import prange

from linkage.match._kernel_primitives import (
    accepts,
    claim,
    function_variant,
    heap_insert,
    jit_kernel,
    lowest_bit,
    make_tile_intrinsic,
)

__all__ = [
    "CHUNK_WORDS",
    "JOIN_KERNELS",
    "LANES",
    "PRIMITIVES_DIGEST",
    "ROWS",
    "JoinKernels",
    "lookup_kernel_1",
    "lookup_kernel_4",
]

#: Digest of ``_kernel_primitives.py`` (see its docstring): changing it invalidates numba's
#: cached kernels of this file when a primitive they inline changes.
PRIMITIVES_DIGEST = "2c209345a974d0cd"

#: Records per transposed group of the lookup index and the ``nibble`` join (one 256-bit
#: vector of words).
LANES = 4
#: Left rows that share each right-hand load (register blocking) in the lookup and the
#: ``nibble`` join.
ROWS = 4
#: Words per unrolled chunk of a tile (16 * 8 = 128 fits in a byte for the nibble counts).
#: The kernels' layouts pad every CLK with zero words to a multiple of this.
CHUNK_WORDS = 16
# The chunk primitives that :func:`_tiles_impl` calls: each copy of it (``_tile_function``)
# replaces them in its globals.
_tile_first: Any = None
_tile_add: Any = None


def _tiles_impl(a_rows: Any, a_row: int, bt: Any, group: int, min_count: int, counts: Any) -> Any:
    """Counts of ``ROWS`` left rows against one group over all words; mask of hits.

    The word count is a multiple of ``CHUNK_WORDS`` (the layouts pad with zero words): the
    hot loop has no branch, so LLVM keeps each chunk in one basic block, where it can see
    that the bytes fed to a nibble ``ctpop`` have zero high nibbles.
    """
    mask = _tile_first(a_rows, a_row, bt, group, 0, min_count, counts)
    for w in range(CHUNK_WORDS, bt.shape[1], CHUNK_WORDS):
        mask = _tile_add(a_rows, a_row, bt, group, w, min_count, counts)
    return mask


def _tile_function(name: str, rows: int, lanes: int, split: bool) -> Any:
    """The inlined ``tile`` of ``rows`` left rows against one group of ``lanes`` records."""
    first = make_tile_intrinsic(rows, lanes, CHUNK_WORDS, accumulate=False, split=split)
    add = make_tile_intrinsic(rows, lanes, CHUNK_WORDS, accumulate=True, split=split)
    return jit_kernel(inline=True)(
        function_variant(_tiles_impl, name, _tile_first=first, _tile_add=add)
    )


_tile4 = _tile_function("_tile4", ROWS, LANES, split=True)
_tile1 = _tile_function("_tile1", 1, LANES, split=True)
#: The tile primitive that :func:`_pairs_impl` and :func:`_topk_impl` call: each path's
#: copies of them replace it (and ``ROWS`` and ``LANES``) in their globals.
_tile = _tile4


def _pairs_impl(
    queue: Any,
    a_rows: Any,
    a_pop: Any,
    a_n: int,
    bt: Any,
    b_pop: Any,
    b_n: int,
    a_key: Any,
    b_key: Any,
    self_join: bool,
    min_count: Any,
    count_floor: Any,
    max_delta: Any,
    block_g0: Any,
    block_g1: Any,
    tile_block0: Any,
    tile_block1: Any,
    tile_group0: Any,
    tile_group1: Any,
    out_i: Any,
    out_j: Any,
    out_c: Any,
    out_n: Any,
    failed: Any,
) -> None:  # pragma: no cover - compiled; its twin is dice_join_reference
    """Every accepted pair of a left row and a right record, tile by tile.

    Tile ``t`` covers row blocks ``tile_block0[t] .. tile_block1[t]`` against groups
    ``tile_group0[t] .. tile_group1[t]``. Each thread appends its pairs (sorted positions
    and intersection count) to its own row of ``out_*``, ``out_n[thread]`` counting them;
    a tile that does not fit in what is left of the row is rolled back and flagged in
    ``failed[t]`` (the caller reruns it with more room).
    With ``self_join`` the left and right are the same sorted array, only positions
    ``j > i`` are visited, and the pair is judged with the record of smaller key as left.
    """
    cap = out_i.shape[1]
    for _worker in prange(queue.shape[0] - 1):
        while True:  # claim work units one at a time (dynamic balance)
            t = claim(queue)
            if t >= tile_block0.shape[0]:
                break
            thread = numba.get_thread_id()  # type: ignore[attr-defined]
            start = out_n[thread]
            pos = start
            full = False
            counts = np.empty((ROWS, LANES), dtype=np.int64)
            for block in range(tile_block0[t], tile_block1[t]):
                row0 = block * ROWS
                g0 = max(block_g0[block], tile_group0[t])
                g1 = min(block_g1[block], tile_group1[t])
                if self_join:
                    g0 = max(g0, (row0 + 1) // LANES)
                pa_min = a_pop[row0]
                for g in range(g0, g1):
                    bound = count_floor[pa_min + b_pop[g * LANES]]
                    mask = _tile(a_rows, row0, bt, g, bound, counts)
                    while mask != 0:  # each hit, lowest bit first (row, then lane)
                        bit = lowest_bit(mask)
                        mask &= mask - 1
                        r = bit // LANES
                        lane = bit - r * LANES
                        i = row0 + r
                        j = g * LANES + lane
                        if i >= a_n or j >= b_n or (self_join and j <= i):
                            continue
                        count = counts[r, lane]
                        if self_join and b_key[j] < a_key[i]:
                            ok = accepts(b_pop[j], a_pop[i], count, min_count, max_delta)
                        else:
                            ok = accepts(a_pop[i], b_pop[j], count, min_count, max_delta)
                        if ok:
                            if pos == cap:
                                full = True
                                break
                            out_i[thread, pos] = i
                            out_j[thread, pos] = j
                            out_c[thread, pos] = count
                            pos += 1
                    if full:
                        break
                if full:
                    break
            if full:
                failed[t] = True
            else:
                out_n[thread] = pos


def _topk_impl(
    queue: Any,
    a_rows: Any,
    a_pop: Any,
    a_n: int,
    bt: Any,
    b_pop: Any,
    b_n: int,
    a_key: Any,
    b_key: Any,
    self_join: bool,
    min_count: Any,
    count_floor: Any,
    max_delta: Any,
    block_g0: Any,
    block_g1: Any,
    tile_block0: Any,
    tile_block1: Any,
    k: int,
    top_score: Any,
    top_key: Any,
    top_n: Any,
) -> None:  # pragma: no cover - compiled; its twin is dice_join_reference
    """The best ``k`` accepted right records of every left row (by score desc, key asc).

    With ``self_join`` the two sides are the same sorted array; a row never pairs with itself
    and each pair is judged with the record of smaller key as left.
    """
    for _worker in prange(queue.shape[0] - 1):
        while True:  # claim work units one at a time (dynamic balance)
            t = claim(queue)
            if t >= tile_block0.shape[0]:
                break
            counts = np.empty((ROWS, LANES), dtype=np.int64)
            for block in range(tile_block0[t], tile_block1[t]):
                row0 = block * ROWS
                pa_min = a_pop[row0]
                for g in range(block_g0[block], block_g1[block]):
                    bound = count_floor[pa_min + b_pop[g * LANES]]
                    mask = _tile(a_rows, row0, bt, g, bound, counts)
                    while mask != 0:  # each hit, lowest bit first (row, then lane)
                        bit = lowest_bit(mask)
                        mask &= mask - 1
                        r = bit // LANES
                        lane = bit - r * LANES
                        i = row0 + r
                        j = g * LANES + lane
                        if i >= a_n or j >= b_n or (self_join and j == i):
                            continue
                        count = counts[r, lane]
                        pa = a_pop[i]
                        pb = b_pop[j]
                        if self_join and b_key[j] < a_key[i]:
                            ok = accepts(pb, pa, count, min_count, max_delta)
                            left_pop = pb
                        else:
                            ok = accepts(pa, pb, count, min_count, max_delta)
                            left_pop = pa
                        if ok:
                            score = 0.0 if left_pop == 0 else (2.0 * count) / (pa + pb)
                            heap_insert(top_score, top_key, top_n, i, k, score, b_key[j])


@jit_kernel(parallel=True)
def lookup_kernel_4(
    queue: Any,
    q_split: Any,
    q_pop: Any,
    q_n: int,
    bt: Any,
    b_pop: Any,
    group_min_pop: Any,
    alive: Any,
    b_key: Any,
    n_slots: int,
    min_count: Any,
    count_floor: Any,
    max_delta: Any,
    slab_g0: Any,
    slab_g1: Any,
    k: int,
    top_score: Any,
    top_key: Any,
    top_n: Any,
) -> None:
    """Best ``k`` live index records per query, one partial list per slab of groups.

    ``top_*`` are indexed ``[slab * q_rows + query]``; queries are padded to ``ROWS``.
    """
    q_rows = q_split.shape[0]
    for _worker in prange(queue.shape[0] - 1):
        while True:  # claim work units one at a time (dynamic balance)
            s = claim(queue)
            if s >= slab_g0.shape[0]:
                break
            counts = np.empty((ROWS, LANES), dtype=np.int64)
            for row0 in range(0, q_rows, ROWS):
                pa_min = q_pop[row0]
                for r in range(1, ROWS):
                    if row0 + r < q_n:
                        pa_min = min(pa_min, q_pop[row0 + r])
                for g in range(slab_g0[s], slab_g1[s]):
                    bound = count_floor[pa_min + group_min_pop[g]]
                    mask = _tile4(q_split, row0, bt, g, bound, counts)
                    if mask == 0:
                        continue
                    for r in range(ROWS):
                        i = row0 + r
                        if i >= q_n:
                            break
                        for lane in range(LANES):
                            if (mask >> (r * LANES + lane)) & 1 == 0:
                                continue
                            j = g * LANES + lane
                            if j >= n_slots or not alive[j]:
                                continue
                            count = counts[r, lane]
                            pa = q_pop[i]
                            pb = b_pop[j]
                            if accepts(pa, pb, count, min_count, max_delta):
                                score = 0.0 if pa == 0 else (2.0 * count) / (pa + pb)
                                heap_insert(
                                    top_score, top_key, top_n, s * q_rows + i, k, score, b_key[j]
                                )


@jit_kernel(parallel=True)
def lookup_kernel_1(
    queue: Any,
    q_split: Any,
    q_pop: Any,
    q_n: int,
    bt: Any,
    b_pop: Any,
    group_min_pop: Any,
    alive: Any,
    b_key: Any,
    n_slots: int,
    min_count: Any,
    count_floor: Any,
    max_delta: Any,
    slab_g0: Any,
    slab_g1: Any,
    k: int,
    top_score: Any,
    top_key: Any,
    top_n: Any,
) -> None:
    """:func:`lookup_kernel_4` for a single query (no padding rows to compute)."""
    for _worker in prange(queue.shape[0] - 1):
        while True:  # claim work units one at a time (dynamic balance)
            s = claim(queue)
            if s >= slab_g0.shape[0]:
                break
            counts = np.empty((1, LANES), dtype=np.int64)
            pa = q_pop[0]
            for g in range(slab_g0[s], slab_g1[s]):
                bound = count_floor[pa + group_min_pop[g]]
                mask = _tile1(q_split, 0, bt, g, bound, counts)
                if mask == 0:
                    continue
                for lane in range(LANES):
                    if (mask >> lane) & 1 == 0:
                        continue
                    j = g * LANES + lane
                    if j >= n_slots or not alive[j]:
                        continue
                    count = counts[0, lane]
                    pb = b_pop[j]
                    if accepts(pa, pb, count, min_count, max_delta):
                        score = 0.0 if pa == 0 else (2.0 * count) / (pa + pb)
                        heap_insert(top_score, top_key, top_n, s, k, score, b_key[j])


@dataclass(frozen=True, slots=True)
class JoinKernels:
    """One code path of the Dice join: its layout and its compiled kernels.

    The left-hand side is transposed in blocks of ``rows`` rows, ``[block, word, row]`` (or,
    with ``split``, nibble-split rows); the right-hand side is transposed in groups of
    ``lanes`` records, ``[group, word, lane]``.
    ``pairs`` has the signature of :func:`_pairs_impl`, ``topk`` that of :func:`_topk_impl`.
    """

    name: str
    rows: int
    lanes: int
    split: bool
    pairs: Any
    topk: Any


def _join_kernels(name: str, rows: int, lanes: int, split: bool) -> JoinKernels:
    tile = _tile_function(f"_tile_{name}", rows, lanes, split)
    constants = {"_tile": tile, "ROWS": rows, "LANES": lanes}
    return JoinKernels(
        name=name,
        rows=rows,
        lanes=lanes,
        split=split,
        pairs=jit_kernel(parallel=True)(
            function_variant(_pairs_impl, f"pairs_kernel_{name}", **constants)
        ),
        topk=jit_kernel(parallel=True)(
            function_variant(_topk_impl, f"topk_kernel_{name}", **constants)
        ),
    )


#: The join's code paths by name (see :mod:`linkage.match._paths` for which runs where).
JOIN_KERNELS: dict[str, JoinKernels] = {
    "vpopcnt512": _join_kernels("vpopcnt512", rows=8, lanes=8, split=False),
    "nibble": _join_kernels("nibble", rows=ROWS, lanes=LANES, split=True),
    "portable": _join_kernels("portable", rows=4, lanes=4, split=False),
}
