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

The tile primitives are numba intrinsics emitting generic LLVM vector IR: the host's LLVM
backend picks the instructions, and numba's cache is keyed by the host CPU. The intrinsics
live in this module, beside the kernels that use them, so that numba's on-disk cache (keyed
by this file) is invalidated whenever either changes. Each path's kernels are copies of one
Python function with the path's constants and tile primitive in their globals, compiled
(and cached) under their own names.
"""

from __future__ import annotations

import types as _pytypes
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numba
import numpy as np
from llvmlite import ir  # type: ignore[import-untyped]
from numba import prange, types
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic as _intrinsic

__all__ = [
    "CHUNK_WORDS",
    "JOIN_KERNELS",
    "LANES",
    "ROWS",
    "JoinKernels",
    "greedy_bipartite_kernel",
    "lookup_kernel_1",
    "lookup_kernel_4",
    "lsh_join_kernel",
    "lsh_keys_kernel",
]

#: Records per transposed group of the lookup index and the ``nibble`` join (one 256-bit
#: vector of words).
LANES = 4
#: Left rows that share each right-hand load (register blocking) in the lookup and the
#: ``nibble`` join.
ROWS = 4
#: Words per unrolled chunk of a tile (16 * 8 = 128 fits in a byte for the nibble counts).
#: The kernels' layouts pad every CLK with zero words to a multiple of this.
CHUNK_WORDS = 16

_F = TypeVar("_F", bound=Callable[..., Any])

# numba's code-generation helpers are untyped: use them as Any.
cgutils: Any = _cgutils
intrinsic: Callable[[Callable[..., Any]], Any] = _intrinsic

_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_I8 = ir.IntType(8)


def _jit(*, parallel: bool = False, inline: bool = False) -> Callable[[_F], _F]:
    """``numba.njit`` with the project's options, typed for mypy."""
    decorator = numba.njit(
        cache=True,
        nogil=True,
        parallel=parallel,
        boundscheck=False,
        error_model="numpy",
        inline="always" if inline else "never",
    )
    return cast(Callable[[_F], _F], decorator)


def _make_tile_intrinsic(rows: int, lanes: int, words: int, accumulate: bool, split: bool) -> Any:
    """Build ``tile(a, a_row, bt, group, first_word, min_count, counts) -> int64 mask``.

    It adds ``popcount(a[a_row + r] & b[group * lanes + l])`` over the ``words`` words from
    ``first_word`` to ``counts[r, l]`` (or stores it there, unless ``accumulate``), and sets
    bit ``r * lanes + l`` of the returned mask iff the resulting count is ``>= min_count``.
    With ``split`` the left rows are nibble-split (``2 * W`` words a row) and counted with
    byte lookups; otherwise the left side is transposed in blocks of ``rows`` rows
    (``[block, word, row]``, as the right side is in groups) and counted with
    ``ctpop <lanes x i64>``. The words are unrolled: LLVM sees straight-line vector code.
    """
    if rows * lanes > 64:
        raise ValueError("a tile's mask has at most 64 bits")
    vec = ir.VectorType(_I64, lanes)
    bytes_vec = ir.VectorType(_I8, 8 * lanes)
    splat_mask = ir.Constant(ir.VectorType(_I32, lanes), [0] * lanes)
    nibbles = ir.Constant(vec, [0x0F0F0F0F0F0F0F0F] * lanes)
    byte_pairs = ir.Constant(vec, [0x00FF00FF00FF00FF] * lanes)
    width_attribute = f'"min-legal-vector-width"="{64 * lanes}"'

    def const(value: int) -> Any:
        return ir.Constant(vec, [value] * lanes)

    @intrinsic
    def tile(
        typingctx: Any,
        a_rows: Any,
        a_row: Any,
        bt: Any,
        group: Any,
        first_word: Any,
        min_count: Any,
        counts: Any,
    ) -> Any:
        sig = types.int64(a_rows, a_row, bt, group, first_word, min_count, counts)

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            a_val, row_val, bt_val, group_val, word_val, min_val, counts_val = args
            a_arr = context.make_array(signature.args[0])(context, builder, a_val)
            b_arr = context.make_array(signature.args[2])(context, builder, bt_val)
            c_arr = context.make_array(signature.args[6])(context, builder, counts_val)
            if 64 * lanes > 256:
                # Keep <8 x i64> in zmm registers even where the CPU's tuning prefers 256-bit
                # vectors (llvmlite only knows a fixed list of attribute names: add the
                # string attribute to the set directly).
                set.add(builder.function.attributes, width_attribute)

            n_words = builder.extract_value(b_arr.shape, 1)
            b_first = builder.mul(
                builder.add(builder.mul(group_val, n_words), word_val), ir.Constant(_I64, lanes)
            )
            b_base = builder.gep(b_arr.data, [b_first])
            if split:
                # rows of 2 * W words: W low-nibble words, then W high-nibble words
                row_stride = builder.mul(n_words, ir.Constant(_I64, 2))
                a_first = builder.add(builder.mul(row_val, row_stride), word_val)
                a_lo_rows = []
                a_hi_rows = []
                for r in range(rows):
                    lo = builder.add(a_first, builder.mul(ir.Constant(_I64, r), row_stride))
                    a_lo_rows.append(builder.gep(a_arr.data, [lo]))
                    a_hi_rows.append(builder.gep(a_arr.data, [builder.add(lo, n_words)]))
                totals = _nibble_counts(builder, a_lo_rows, a_hi_rows, b_base)
            else:
                # blocks transposed like the right side, [block, word, row]: every word of
                # the block's rows is a constant offset from one pointer
                a_first = builder.add(
                    builder.mul(row_val, n_words),
                    builder.mul(word_val, ir.Constant(_I64, rows)),
                )
                totals = _vector_counts(builder, builder.gep(a_arr.data, [a_first]), b_base)

            limit = _splat(builder, min_val)
            for r in range(rows):
                out_ptr = builder.bitcast(
                    builder.gep(c_arr.data, [ir.Constant(_I64, r * lanes)]), vec.as_pointer()
                )
                if accumulate:
                    totals[r] = builder.add(totals[r], builder.load(out_ptr, align=8))
                builder.store(totals[r], out_ptr, align=8)

            def hit_mask() -> Any:
                mask = ir.Constant(_I64, 0)
                for r in range(rows):
                    hits = builder.icmp_signed(">=", totals[r], limit)
                    bits = builder.zext(builder.bitcast(hits, ir.IntType(lanes)), _I64)
                    mask = builder.or_(mask, builder.shl(bits, ir.Constant(_I64, r * lanes)))
                return mask

            if split or rows == 1:
                return hit_mask()
            # Most tiles have no hit: test the rows' lane-wise maximum first (one compare
            # instead of one per row), and build the mask only where something reached it.
            peak = totals[0]
            for r in range(1, rows):
                peak = builder.select(builder.icmp_signed(">", peak, totals[r]), peak, totals[r])
            reached = builder.bitcast(builder.icmp_signed(">=", peak, limit), ir.IntType(lanes))
            any_hit = builder.icmp_unsigned("!=", reached, ir.Constant(ir.IntType(lanes), 0))
            entry = builder.block
            with builder.if_then(any_hit, likely=False):
                mask = hit_mask()
                hit_block = builder.block
            result = builder.phi(_I64)
            result.add_incoming(ir.Constant(_I64, 0), entry)
            result.add_incoming(mask, hit_block)
            return result

        def _load_b(builder: Any, b_base: Any, w: int) -> Any:
            b_ptr = builder.gep(b_base, [ir.Constant(_I64, w * lanes)])
            return builder.load(builder.bitcast(b_ptr, vec.as_pointer()), align=8)

        def _splat(builder: Any, value: Any) -> Any:
            vector = builder.insert_element(
                ir.Constant(vec, ir.Undefined), value, ir.Constant(_I32, 0)
            )
            return builder.shuffle_vector(vector, ir.Constant(vec, ir.Undefined), splat_mask)

        def _vector_counts(builder: Any, a_base: Any, b_base: Any) -> list[Any]:
            ctpop = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec]), f"llvm.ctpop.v{lanes}i64"
            )
            acc = [ir.Constant(vec, None)] * rows
            for w in range(words):
                b_vec = _load_b(builder, b_base, w)
                for r in range(rows):
                    a_ptr = builder.gep(a_base, [ir.Constant(_I64, w * rows + r)])
                    x = builder.and_(_splat(builder, builder.load(a_ptr, align=8)), b_vec)
                    acc[r] = builder.add(acc[r], builder.call(ctpop, [x]))
            return acc

        def _nibble_counts(
            builder: Any, a_lo_ptr: list[Any], a_hi_ptr: list[Any], b_base: Any
        ) -> list[Any]:
            ctpop = cgutils.get_or_insert_function(
                builder.module,
                ir.FunctionType(bytes_vec, [bytes_vec]),
                f"llvm.ctpop.v{8 * lanes}i8",
            )
            acc8 = [ir.Constant(bytes_vec, None)] * rows
            for w in range(words):
                b_vec = _load_b(builder, b_base, w)
                b_lo = builder.and_(b_vec, nibbles)
                b_hi = builder.and_(builder.lshr(b_vec, const(4)), nibbles)
                offset = ir.Constant(_I64, w)
                for r in range(rows):
                    a_lo = builder.load(builder.gep(a_lo_ptr[r], [offset]), align=8)
                    a_hi = builder.load(builder.gep(a_hi_ptr[r], [offset]), align=8)
                    x_lo = builder.bitcast(builder.and_(_splat(builder, a_lo), b_lo), bytes_vec)
                    x_hi = builder.bitcast(builder.and_(_splat(builder, a_hi), b_hi), bytes_vec)
                    # x has zero high nibbles (it is ANDed with a masked operand), so LLVM
                    # lowers this ctpop to one table lookup (vpshufb) on SSSE3/AVX2.
                    pair = builder.add(builder.call(ctpop, [x_lo]), builder.call(ctpop, [x_hi]))
                    acc8[r] = builder.add(acc8[r], pair)
            totals = []
            for r in range(rows):
                x = builder.bitcast(acc8[r], vec)
                x = builder.add(
                    builder.and_(x, byte_pairs), builder.and_(builder.lshr(x, const(8)), byte_pairs)
                )
                x = builder.add(x, builder.lshr(x, const(16)))
                x = builder.add(x, builder.lshr(x, const(32)))
                totals.append(builder.and_(x, const(0xFFFF)))
            return totals

        return sig, codegen

    return tile


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


def _variant(function: _F, name: str, **overrides: Any) -> _F:
    """A copy of ``function`` named ``name`` whose globals are the module's with
    ``overrides``. numba treats globals as compile-time constants and keys its on-disk cache
    by the function's qualified name, so each copy compiles and caches its own machine code."""
    namespace = dict(function.__globals__)
    namespace.update(overrides)
    clone = _pytypes.FunctionType(
        function.__code__, namespace, name, function.__defaults__, function.__closure__
    )
    clone.__qualname__ = name
    clone.__doc__ = function.__doc__
    return cast(_F, clone)


def _tile_function(name: str, rows: int, lanes: int, split: bool) -> Any:
    """The inlined ``tile`` of ``rows`` left rows against one group of ``lanes`` records."""
    first = _make_tile_intrinsic(rows, lanes, CHUNK_WORDS, accumulate=False, split=split)
    add = _make_tile_intrinsic(rows, lanes, CHUNK_WORDS, accumulate=True, split=split)
    return _jit(inline=True)(_variant(_tiles_impl, name, _tile_first=first, _tile_add=add))


_tile4 = _tile_function("_tile4", ROWS, LANES, split=True)
_tile1 = _tile_function("_tile1", 1, LANES, split=True)
#: The tile primitive that :func:`_pairs_impl` and :func:`_topk_impl` call: each path's
#: copies of them replace it (and ``ROWS`` and ``LANES``) in their globals.
_tile = _tile4


@intrinsic
def _lowest_bit(typingctx: Any, value: Any) -> Any:
    """Index of the lowest set bit of a non-zero ``int64`` (``llvm.cttz``: one ``tzcnt``)."""
    sig = types.int64(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I64, [_I64, ir.IntType(1)]), "llvm.cttz.i64"
        )
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])

    return sig, codegen


@intrinsic
def _claim(typingctx: Any, counter: Any) -> Any:
    """Atomically take the next work unit: ``counter[0]++`` (returns the old value).

    The kernels run ``len(queue) - 1`` workers (one per thread, see
    :func:`linkage.match._join.work_queue`), each claiming units until none are left."""
    sig = types.int64(counter)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", array.data, ir.Constant(_I64, 1), "monotonic")

    return sig, codegen


@_jit()
def _accepts(pa: int, pb: int, count: int, min_count: Any, max_delta: Any) -> Any:
    return abs(pa - pb) <= max_delta[pa] and count >= min_count[pa + pb]


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
            t = _claim(queue)
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
                        bit = _lowest_bit(mask)
                        mask &= mask - 1
                        r = bit // LANES
                        lane = bit - r * LANES
                        i = row0 + r
                        j = g * LANES + lane
                        if i >= a_n or j >= b_n or (self_join and j <= i):
                            continue
                        count = counts[r, lane]
                        if self_join and b_key[j] < a_key[i]:
                            ok = _accepts(b_pop[j], a_pop[i], count, min_count, max_delta)
                        else:
                            ok = _accepts(a_pop[i], b_pop[j], count, min_count, max_delta)
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


@_jit()
def _heap_insert(
    scores: Any, keys: Any, sizes: Any, row: int, k: int, score: float, key: int
) -> None:
    """Insert into row ``row``'s best-``k`` list, ordered by score desc then key asc."""
    n = sizes[row]
    if n == k:
        last_score = scores[row, k - 1]
        if score < last_score or (score == last_score and key > keys[row, k - 1]):
            return
        n -= 1
    pos = n
    while pos > 0:
        prev_score = scores[row, pos - 1]
        if prev_score > score or (prev_score == score and keys[row, pos - 1] < key):
            break
        scores[row, pos] = prev_score
        keys[row, pos] = keys[row, pos - 1]
        pos -= 1
    scores[row, pos] = score
    keys[row, pos] = key
    sizes[row] = n + 1


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
            t = _claim(queue)
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
                        bit = _lowest_bit(mask)
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
                            ok = _accepts(pb, pa, count, min_count, max_delta)
                            left_pop = pb
                        else:
                            ok = _accepts(pa, pb, count, min_count, max_delta)
                            left_pop = pa
                        if ok:
                            score = 0.0 if left_pop == 0 else (2.0 * count) / (pa + pb)
                            _heap_insert(top_score, top_key, top_n, i, k, score, b_key[j])


@_jit(parallel=True)
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
            s = _claim(queue)
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
                            if _accepts(pa, pb, count, min_count, max_delta):
                                score = 0.0 if pa == 0 else (2.0 * count) / (pa + pb)
                                _heap_insert(
                                    top_score, top_key, top_n, s * q_rows + i, k, score, b_key[j]
                                )


@_jit(parallel=True)
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
            s = _claim(queue)
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
                    if _accepts(pa, pb, count, min_count, max_delta):
                        score = 0.0 if pa == 0 else (2.0 * count) / (pa + pb)
                        _heap_insert(top_score, top_key, top_n, s, k, score, b_key[j])


@intrinsic
def _popcount64(typingctx: Any, value: Any) -> Any:
    """``llvm.ctpop.i64`` (a single ``popcnt`` on x86-64 with POPCNT)."""
    sig = types.int64(types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I64, [_I64]), "llvm.ctpop.i64"
        )
        return builder.call(fn, [args[0]])

    return sig, codegen


@_jit(parallel=True)
def lsh_keys_kernel(packed: Any, word_of: Any, shift_of: Any, out: Any) -> None:
    """``out[band, i]``: bit ``k`` is bit ``positions[band, k]`` of record ``i`` (positions
    given as ``word_of`` and ``shift_of``, the shift from the word's least significant bit)."""
    bands, per_band = word_of.shape
    for i in prange(packed.shape[0]):
        for band in range(bands):
            key = np.uint64(0)
            for k in range(per_band):
                bit = (packed[i, word_of[band, k]] >> np.uint64(shift_of[band, k])) & np.uint64(1)
                key |= bit << np.uint64(k)
            out[band, i] = key


@_jit(parallel=True)
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
            u = _claim(queue)
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
                        count += _popcount64(a[i, w] & b[j, w])
                    if _accepts(pa, b_pop[j], count, min_count, max_delta):
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


@_jit()
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
        pairs=_jit(parallel=True)(_variant(_pairs_impl, f"pairs_kernel_{name}", **constants)),
        topk=_jit(parallel=True)(_variant(_topk_impl, f"topk_kernel_{name}", **constants)),
    )


#: The join's code paths by name (see :mod:`linkage.match._paths` for which runs where).
JOIN_KERNELS: dict[str, JoinKernels] = {
    "vpopcnt512": _join_kernels("vpopcnt512", rows=8, lanes=8, split=False),
    "nibble": _join_kernels("nibble", rows=ROWS, lanes=LANES, split=True),
    "portable": _join_kernels("portable", rows=4, lanes=4, split=False),
}
