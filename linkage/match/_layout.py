"""Memory layouts of a Dice join's two sides, as the CPU join kernels read them.

Each side is sorted by popcount (stable); the left is laid out in blocks of ``rows`` rows
(nibble-split on the ``nibble`` path, else transposed like the right) and the right is
transposed into groups of ``lanes`` records, as the code path in force wants
(:mod:`linkage.match._paths`); words are zero-padded to a multiple of ``CHUNK_WORDS``. For
each left block, :func:`block_windows` finds the right groups inside its feasible popcount
window. :class:`JoinSides` holds the result for :mod:`linkage.match._join`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.match._dice import DiceRule
from linkage.match._kernels import CHUNK_WORDS, LANES, JoinKernels
from linkage.types import Int64Array, PackedClks

__all__ = [
    "JoinSides",
    "block_windows",
    "left_layout",
    "nibble_split",
    "padded_words",
    "prepare_sides",
    "sorted_side",
    "transpose_groups",
]

_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)


def padded_words(words: int) -> int:
    """Words per CLK in the kernels' layouts: a multiple of ``CHUNK_WORDS`` (zero padded)."""
    return -(-words // CHUNK_WORDS) * CHUNK_WORDS


def nibble_split(packed: PackedClks, rows_multiple: int) -> np.ndarray:
    """Left-hand layout: per row, ``W`` low-nibble words then ``W`` high-nibble words.

    ``W`` is the word count padded to a multiple of ``CHUNK_WORDS``; rows are padded with
    zeros to a multiple of ``rows_multiple``.
    """
    n, words = packed.shape
    width = padded_words(words)
    padded = -(-max(n, 1) // rows_multiple) * rows_multiple
    out = np.zeros((padded, 2 * width), dtype=np.uint64)
    out[:n, :words] = packed & _NIBBLES
    out[:n, width : width + words] = (packed >> np.uint64(4)) & _NIBBLES
    return out


def left_layout(packed: PackedClks, kernels: JoinKernels) -> np.ndarray:
    """The left-hand side as ``kernels`` read it: nibble-split rows, or blocks of
    ``kernels.rows`` rows transposed like the right side (``[block, word, row]``)."""
    if kernels.split:
        return nibble_split(packed, kernels.rows)
    return transpose_groups(packed, kernels.rows)


def transpose_groups(packed: PackedClks, lanes: int = LANES) -> np.ndarray:
    """Right-hand layout ``[group, word, lane]`` (words padded to a multiple of
    ``CHUNK_WORDS``, records zero-padded to a multiple of ``lanes``)."""
    n, words = packed.shape
    groups = -(-max(n, 1) // lanes)
    out = np.zeros((groups * lanes, padded_words(words)), dtype=np.uint64)
    out[:n, :words] = packed
    return np.ascontiguousarray(out.reshape(groups, lanes, -1).transpose(0, 2, 1))


def sorted_side(pop: Int64Array) -> tuple[Int64Array, Int64Array]:
    """The stable popcount order of one side (sorted position -> original row) and the
    popcounts in that order."""
    order = np.argsort(pop, kind="stable").astype(np.int64)
    return order, pop[order]


def _padded(values: Int64Array, length: int, fill: int) -> Int64Array:
    out = np.full(length, fill, dtype=np.int64)
    out[: values.shape[0]] = values
    return out


def block_windows(
    rule: DiceRule,
    a_pop_sorted: Int64Array,
    b_pop_sorted: Int64Array,
    either_role: bool,
    rows: int,
    lanes: int,
) -> tuple[Int64Array, Int64Array]:
    """For each block of ``rows`` sorted left rows, the right groups of ``lanes`` records it
    must visit, ``g0 .. g1`` (empty: ``0 .. 0``); with ``lanes == 1``, right records.
    ``either_role`` (a self join) widens each window to the popcounts accepted with the left
    row on either side."""
    n = a_pop_sorted.shape[0]
    blocks = -(-n // rows)
    low, high = rule.low, rule.high
    if either_role:
        low = np.minimum(low, rule.low_as_right)
        high = np.maximum(high, rule.high_as_right)
    lo = _padded(low[a_pop_sorted], blocks * rows, rule.bits + 1).reshape(blocks, rows).min(1)
    hi = _padded(high[a_pop_sorted], blocks * rows, -1).reshape(blocks, rows).max(1)
    j0 = np.searchsorted(b_pop_sorted, lo, side="left")
    j1 = np.searchsorted(b_pop_sorted, hi, side="right")
    g0 = (j0 // lanes).astype(np.int64)
    g1 = (-(-j1 // lanes)).astype(np.int64)
    empty = (lo > hi) | (g1 <= g0)
    g0[empty] = 0
    g1[empty] = 0
    return g0, g1


@dataclass(frozen=True, slots=True, eq=False)
class JoinSides:
    """Both sides of a join sorted by popcount and laid out for one path's kernels.

    ``a_key`` / ``b_key`` map sorted positions to original rows; ``a_pop`` / ``b_pop`` are
    the sorted popcounts, zero-padded to the layouts' lengths; ``block_g0[b] ..
    block_g1[b]`` are the right groups that left block ``b`` must visit.
    """

    kernels: JoinKernels
    a_rows: np.ndarray
    a_pop: Int64Array
    a_n: int
    bt: np.ndarray
    b_pop: Int64Array
    b_n: int
    a_key: Int64Array
    b_key: Int64Array
    self_join: bool
    block_g0: Int64Array
    block_g1: Int64Array

    def visited(self) -> int:
        """Comparisons the kernels make (tiles outside the popcount window are skipped)."""
        return int((self.block_g1 - self.block_g0).sum()) * self.kernels.rows * self.kernels.lanes


def prepare_sides(
    kernels: JoinKernels,
    rule: DiceRule,
    a_sorted: PackedClks,
    pa_sorted: Int64Array,
    a_key: Int64Array,
    b_sorted: PackedClks,
    pb_sorted: Int64Array,
    b_key: Int64Array,
    self_join: bool,
) -> JoinSides:
    """Lay out two popcount-sorted sides for ``kernels`` (the same array twice when
    ``self_join``)."""
    a_rows = left_layout(a_sorted, kernels)
    bt = transpose_groups(b_sorted, kernels.lanes)
    block_g0, block_g1 = block_windows(
        rule, pa_sorted, pb_sorted, self_join, kernels.rows, kernels.lanes
    )
    return JoinSides(
        kernels=kernels,
        a_rows=a_rows,
        a_pop=_padded(pa_sorted, -(-max(a_sorted.shape[0], 1) // kernels.rows) * kernels.rows, 0),
        a_n=a_sorted.shape[0],
        bt=bt,
        b_pop=_padded(pb_sorted, bt.shape[0] * kernels.lanes, 0),
        b_n=b_sorted.shape[0],
        a_key=a_key,
        b_key=b_key,
        self_join=self_join,
        block_g0=block_g0,
        block_g1=block_g1,
    )
