"""Per-segment Dice similarities of record pairs, with NaN where a segment is missing.

A segment whose bits are all zero is *missing* (the encoder writes an all-zero segment,
whatever the hardening, when every feature of its group is missing; a present segment
always has bits set). The Dice coefficient of two segments is
``2 |a & b| / (|a| + |b|)``; a pair where either side is missing gets NaN, never 0, so
the model reads it as "no evidence" rather than "disagreement".

:func:`segment_dice` is the numba kernel (parallel over pairs); :func:`segment_dice_reference`
is plain numpy with the same signature and result, kept for tests.

Transposed fields. For each pair of segments ``(a, b)`` in the layout's ``swaps`` (encoded
under one key, so comparable across), the pair's cross similarities ``(Dice(a, b'),
Dice(b, a'))`` replace ``(Dice(a, a'), Dice(b, b'))`` when their sum (missing counting 0)
is larger: a given name and surname written the other way round read as agreeing names.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numba
import numpy as np
from numba import prange

from linkage.errors import InvalidInputError
from linkage.layout import SegmentLayout
from linkage.types import Float64Array, Int64Array, PackedClks

__all__ = ["key_set_agreement", "segment_dice", "segment_dice_reference", "segment_popcounts"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(*, parallel: bool) -> Callable[[_F], _F]:
    decorator = numba.njit(cache=True, nogil=True, parallel=parallel, boundscheck=False)
    return cast(Callable[[_F], _F], decorator)


def _check(packed: PackedClks, layout: SegmentLayout, name: str) -> PackedClks:
    array = np.ascontiguousarray(packed)
    if array.dtype != np.uint64 or array.ndim != 2:
        raise InvalidInputError(f"{name} must be a 2-D uint64 array of packed records")
    if array.shape[1] != layout.total_words:
        raise InvalidInputError(
            f"{name} has {array.shape[1]} words per record, the layout {layout.total_words}"
        )
    return array


def _indices(values: Int64Array, bound: int, name: str) -> Int64Array:
    array = np.ascontiguousarray(values, dtype=np.int64)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional")
    if array.size and (array.min() < 0 or array.max() >= bound):
        raise InvalidInputError(f"{name} holds a record index outside its set")
    return array


#: Below this many rows or pairs the serial kernels run: starting the parallel ones' threads
#: costs more than the work (a responder lookup scores a few hundred pairs).
_SERIAL_BELOW = 4096


def _popcount_impl(packed: Any, starts: Any, stops: Any, out: Any) -> None:  # pragma: no cover
    for i in prange(packed.shape[0]):
        for s in range(starts.shape[0]):
            count = 0
            for w in range(starts[s], stops[s]):
                x = packed[i, w]
                # SWAR popcount (LLVM turns this into popcnt where the CPU has it)
                x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
                x = (x & np.uint64(0x3333333333333333)) + (
                    (x >> np.uint64(2)) & np.uint64(0x3333333333333333)
                )
                x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
                count += int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))
            out[i, s] = count


def _named(function: _F, name: str) -> _F:
    """A copy of ``function`` under another name. numba's on-disk cache is keyed by the
    function's qualified name and line, not by the ``parallel`` flag, so a serial and a
    parallel variant of one Python function would load each other's machine code."""
    clone = types.FunctionType(
        function.__code__, function.__globals__, name, function.__defaults__, function.__closure__
    )
    clone.__qualname__ = name
    return cast(_F, clone)


_popcount_kernel = _jit(parallel=True)(_named(_popcount_impl, "_popcount_parallel"))
_popcount_serial = _jit(parallel=False)(_named(_popcount_impl, "_popcount_serial"))


def _dice_impl(
    left: Any,
    right: Any,
    left_idx: Any,
    right_idx: Any,
    left_pop: Any,
    right_pop: Any,
    starts: Any,
    stops: Any,
    swaps: Any,
    key_columns: Any,
    place: Any,
    out: Any,
) -> None:  # pragma: no cover - compiled; its twin is segment_dice_reference
    """Per pair: the Dice of every segment, then the transposed fields (``swaps[k]``: the
    segments of one swappable pair, applied in order, as :func:`_apply_swaps`), then the
    key segments (``key_columns``, as :func:`_apply_key_sets`), all in one pass; segment
    ``s`` is column ``place[s]`` of ``out``."""
    for p in prange(left_idx.shape[0]):
        i = left_idx[p]
        j = right_idx[p]
        for s in range(starts.shape[0]):
            pa = left_pop[i, s]
            pb = right_pop[j, s]
            if pa == 0 or pb == 0:
                out[p, place[s]] = np.nan
                continue
            count = 0
            for w in range(starts[s], stops[s]):
                count += _popcount(left[i, w] & right[j, w])
            out[p, place[s]] = 2.0 * count / (pa + pb)
        for k in range(swaps.shape[0]):
            first = swaps[k, 0]
            second = swaps[k, 1]
            cross_ab = _cross_dice(
                left, right, i, j, left_pop, right_pop, starts, stops, first, second
            )
            cross_ba = _cross_dice(
                left, right, i, j, left_pop, right_pop, starts, stops, second, first
            )
            direct = _or_zero(out[p, place[first]]) + _or_zero(out[p, place[second]])
            if _or_zero(cross_ab) + _or_zero(cross_ba) > direct:
                out[p, place[first]] = cross_ab
                out[p, place[second]] = cross_ba
        for k in range(key_columns.shape[0]):
            s = key_columns[k]
            if left_pop[i, s] == 0 or right_pop[j, s] == 0:
                out[p, place[s]] = np.nan
                continue
            shared = 0.0
            for u in range(starts[s], stops[s]):
                word = left[i, u]
                if word != 0:
                    for v in range(starts[s], stops[s]):
                        if word == right[j, v]:
                            shared = 1.0
            out[p, place[s]] = shared


@numba.njit(inline="always", cache=True)
def _popcount(x: Any) -> int:  # pragma: no cover - compiled
    # SWAR popcount (LLVM turns this into popcnt where the CPU has it)
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return int((x * np.uint64(0x0101010101010101)) >> np.uint64(56))


@numba.njit(inline="always", cache=True)
def _or_zero(value: float) -> float:  # pragma: no cover - compiled
    return 0.0 if np.isnan(value) else value


@numba.njit(inline="always", cache=True)
def _cross_dice(
    left: Any,
    right: Any,
    i: int,
    j: int,
    left_pop: Any,
    right_pop: Any,
    starts: Any,
    stops: Any,
    a: int,
    b: int,
) -> float:  # pragma: no cover - compiled
    """Dice of segment ``a`` of left record ``i`` with segment ``b`` of right record ``j``
    (segments of equal size; NaN when either is missing)."""
    pa = left_pop[i, a]
    pb = right_pop[j, b]
    if pa == 0 or pb == 0:
        return np.nan
    count = 0
    offset = starts[b] - starts[a]
    for w in range(starts[a], stops[a]):
        count += _popcount(left[i, w] & right[j, w + offset])
    dice: float = 2.0 * count / (pa + pb)
    return dice


_dice_kernel = _jit(parallel=True)(_named(_dice_impl, "_dice_parallel"))
_dice_serial = _jit(parallel=False)(_named(_dice_impl, "_dice_serial"))


def segment_popcounts(packed: PackedClks, layout: SegmentLayout) -> Int64Array:
    """Set bits of every field segment of every record, ``int64[n, segments]`` (0 = missing)."""
    array = _check(packed, layout, "packed")
    starts, stops = layout.bounds()
    out = np.zeros((array.shape[0], starts.shape[0]), dtype=np.int64)
    if array.shape[0]:
        kernel = _popcount_serial if array.shape[0] < _SERIAL_BELOW else _popcount_kernel
        kernel(array, starts, stops, out)
    return out


def segment_dice(
    left_packed: PackedClks,
    right_packed: PackedClks,
    left_idx: Int64Array,
    right_idx: Int64Array,
    layout: SegmentLayout,
    columns: Sequence[str] | None = None,
) -> Float64Array:
    """Dice of every field segment for each pair ``(left_idx[p], right_idx[p])``.

    Returns ``float64[pairs, segments]`` in the layout's segment order, or with
    ``columns`` (segment names) the columns of those segments in that order; NaN where
    either record's segment is missing (all zero). For pairs within one set pass the same
    array twice.
    """
    left = _check(left_packed, layout, "left_packed")
    right = left if right_packed is left_packed else _check(right_packed, layout, "right_packed")
    li = _indices(left_idx, left.shape[0], "left_idx")
    ri = _indices(right_idx, right.shape[0], "right_idx")
    if li.shape != ri.shape:
        raise InvalidInputError("left_idx and right_idx must have the same length")
    starts, stops = layout.bounds()
    segments = starts.shape[0]
    chosen = np.arange(segments, dtype=np.int64)
    if columns is not None:
        chosen = np.array([layout.index(name) for name in columns], dtype=np.int64)
    # written in place where the columns are every segment once (a permutation); a copy
    # of the columns of a [pairs, segments] array costs more than the kernel
    permutation = bool(np.array_equal(np.sort(chosen), np.arange(segments)))
    place = np.arange(segments, dtype=np.int64)
    if permutation:
        place[chosen] = np.arange(segments, dtype=np.int64)
    out = np.empty((li.shape[0], segments), dtype=np.float64)
    if li.shape[0] == 0:
        return out if permutation else out[:, chosen]
    # Popcounts only of the records the pairs touch would be cheaper for tiny batches;
    # computing all keeps the kernel simple and costs one pass over each set.
    left_pop = segment_popcounts(left, layout)
    right_pop = left_pop if right is left else segment_popcounts(right, layout)
    swaps = np.array(layout.swap_columns(), dtype=np.int64).reshape(-1, 2)
    key_columns = np.array([layout.index(name) for name in layout.key_sets], dtype=np.int64)
    kernel = _dice_serial if li.shape[0] < _SERIAL_BELOW else _dice_kernel
    kernel(left, right, li, ri, left_pop, right_pop, starts, stops, swaps, key_columns, place, out)
    if permutation:
        return out
    selected: Float64Array = np.ascontiguousarray(out[:, chosen])
    return selected


def key_set_agreement(a: np.ndarray, b: np.ndarray) -> Float64Array:
    """Per row: 1.0 when the key words ``a[r]`` and ``b[r]`` share a nonzero word, 0.0 when
    both hold words but none is shared, NaN when either holds none (missing)."""
    shared = np.zeros(a.shape[0], dtype=bool)
    for i in range(a.shape[1]):
        column = a[:, i]
        nonzero = column != 0
        for j in range(b.shape[1]):
            shared |= nonzero & (column == b[:, j])
    present = a.any(axis=1) & b.any(axis=1)
    out: Float64Array = np.where(present, shared.astype(np.float64), np.nan)
    return out


def _apply_key_sets(
    out: Float64Array,
    left: PackedClks,
    right: PackedClks,
    li: Int64Array,
    ri: Int64Array,
    layout: SegmentLayout,
) -> None:
    """Key segments agree when they share a key, not by Dice (:attr:`SegmentLayout.key_sets`)."""
    for name in layout.key_sets:
        column = layout.index(name)
        part = layout.fields[column]
        words = slice(part.start_word, part.stop_word)
        out[:, column] = key_set_agreement(left[li, words], right[ri, words])


def _part_dice(
    left: PackedClks,
    right: PackedClks,
    li: Int64Array,
    ri: Int64Array,
    left_words: slice,
    right_words: slice,
) -> Float64Array:
    a = left[li, left_words]
    b = right[ri, right_words]
    pa = np.bitwise_count(a).sum(axis=1, dtype=np.int64)
    pb = np.bitwise_count(b).sum(axis=1, dtype=np.int64)
    both = np.bitwise_count(a & b).sum(axis=1, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice: Float64Array = np.where((pa == 0) | (pb == 0), np.nan, 2.0 * both / (pa + pb)).astype(
            np.float64
        )
    return dice


def _apply_swaps(
    out: Float64Array,
    left: PackedClks,
    right: PackedClks,
    li: Int64Array,
    ri: Int64Array,
    layout: SegmentLayout,
) -> None:
    """Replace direct by cross similarities of swappable segments where the cross fit better."""
    for first, second in layout.swap_columns():
        a, b = layout.fields[first], layout.fields[second]
        wa = slice(a.start_word, a.stop_word)
        wb = slice(b.start_word, b.stop_word)
        cross_ab = _part_dice(left, right, li, ri, wa, wb)
        cross_ba = _part_dice(left, right, li, ri, wb, wa)
        direct = np.nan_to_num(out[:, first]) + np.nan_to_num(out[:, second])
        cross = np.nan_to_num(cross_ab) + np.nan_to_num(cross_ba)
        better = cross > direct
        out[better, first] = cross_ab[better]
        out[better, second] = cross_ba[better]


def segment_dice_reference(
    left_packed: PackedClks,
    right_packed: PackedClks,
    left_idx: Int64Array,
    right_idx: Int64Array,
    layout: SegmentLayout,
) -> Float64Array:
    """:func:`segment_dice` in plain numpy (for tests)."""
    left = _check(left_packed, layout, "left_packed")
    right = _check(right_packed, layout, "right_packed")
    li = _indices(left_idx, left.shape[0], "left_idx")
    ri = _indices(right_idx, right.shape[0], "right_idx")
    if li.shape != ri.shape:
        raise InvalidInputError("left_idx and right_idx must have the same length")
    columns: list[Float64Array] = []
    for part in layout.fields:
        words = slice(part.start_word, part.stop_word)
        columns.append(_part_dice(left, right, li, ri, words, words))
    if not columns:
        return np.empty((li.shape[0], 0), dtype=np.float64)
    out: Float64Array = np.stack(columns, axis=1)
    _apply_swaps(out, left, right, li, ri, layout)
    _apply_key_sets(out, left, right, li, ri, layout)
    return out
