"""Building blocks of the numba kernels (internal; see ``_kernels`` and ``_lsh_kernels``).

The project's ``njit`` options (:func:`jit_kernel`), the copier that compiles one Python
function under several names with different compile-time constants
(:func:`function_variant`), the LLVM tile primitive of the Dice join and the lookup
(:func:`make_tile_intrinsic`; docs/architecture.md, section 5, describes the layouts it
reads), and the small intrinsics and helpers the kernels share: the lowest set bit, the atomic
work-unit claim, the integer Dice test, the best-``k`` heap, the scalar popcount and the
binary search of a sorted array.

numba's on-disk cache of a kernel is keyed by the source file that defines the kernel, not
by the primitives it inlines. Every kernel module therefore carries ``PRIMITIVES_DIGEST``, a
digest of this file that ``tests/match/test_match_kernel_cache.py`` checks: a change here
fails that test until the digest in each kernel module is updated, and that edit is what
invalidates the kernels' cached machine code.
"""

from __future__ import annotations

import types as _pytypes
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
from llvmlite import ir  # type: ignore[import-untyped]
from numba import types
from numba.core import cgutils as _cgutils
from numba.extending import intrinsic as _intrinsic

__all__ = [
    "accepts",
    "claim",
    "function_variant",
    "heap_insert",
    "holds_sorted",
    "jit_kernel",
    "lowest_bit",
    "make_tile_intrinsic",
    "popcount64",
]

_F = TypeVar("_F", bound=Callable[..., Any])

# numba's code-generation helpers are untyped: use them as Any.
cgutils: Any = _cgutils
intrinsic: Callable[[Callable[..., Any]], Any] = _intrinsic

_I64 = ir.IntType(64)
_I32 = ir.IntType(32)
_I8 = ir.IntType(8)


def jit_kernel(*, parallel: bool = False, inline: bool = False) -> Callable[[_F], _F]:
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


def function_variant(function: _F, name: str, **overrides: Any) -> _F:
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


def make_tile_intrinsic(rows: int, lanes: int, words: int, accumulate: bool, split: bool) -> Any:
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


@intrinsic
def lowest_bit(typingctx: Any, value: Any) -> Any:
    """Index of the lowest set bit of a non-zero ``int64`` (``llvm.cttz``: one ``tzcnt``)."""
    sig = types.int64(types.int64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I64, [_I64, ir.IntType(1)]), "llvm.cttz.i64"
        )
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])

    return sig, codegen


@intrinsic
def claim(typingctx: Any, counter: Any) -> Any:
    """Atomically take the next work unit: ``counter[0]++`` (returns the old value).

    The kernels run ``len(queue) - 1`` workers (one per thread, see
    :func:`linkage.match._join.work_queue`), each claiming units until none are left."""
    sig = types.int64(counter)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", array.data, ir.Constant(_I64, 1), "monotonic")

    return sig, codegen


@jit_kernel()
def accepts(pa: int, pb: int, count: int, min_count: Any, max_delta: Any) -> Any:
    return abs(pa - pb) <= max_delta[pa] and count >= min_count[pa + pb]


@jit_kernel()
def heap_insert(
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


@intrinsic
def popcount64(typingctx: Any, value: Any) -> Any:
    """``llvm.ctpop.i64`` (a single ``popcnt`` on x86-64 with POPCNT)."""
    sig = types.int64(types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_I64, [_I64]), "llvm.ctpop.i64"
        )
        return builder.call(fn, [args[0]])

    return sig, codegen


@jit_kernel(inline=True)
def holds_sorted(sorted_values: Any, value: Any) -> bool:
    """Whether ascending ``sorted_values`` holds ``value`` (binary search)."""
    lo = 0
    hi = sorted_values.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if sorted_values[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return bool(lo < sorted_values.shape[0] and sorted_values[lo] == value)
