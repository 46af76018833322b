"""Dice similarity joins: two sets, one set (deduplication), many sets; all pairs or top-k.

Every function here returns exactly the pairs and scores anonlink 0.15.3's
``find_candidate_pairs(..., dice_coefficient_accelerated, threshold, k)`` returns on the same
input (see :mod:`linkage.match._dice` for the acceptance rule), in anonlink's order.

How: both sides are sorted by popcount (stable), the left is nibble-split and the right is
transposed into groups of ``LANES`` records; work is cut into tiles of (``_TILE_BLOCKS``
blocks of ``ROWS`` left rows) x (``_TILE_GROUPS`` right groups), a right slab that stays in
L2 cache; tiles outside every row's feasible popcount window are never created; numba runs
the tiles on all cores. Memory is the inputs' copies (``3 *`` left + right bytes) plus a
bounded tile buffer, never an ``n x m`` matrix.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numba
import numpy as np

from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.match import _kernels
from linkage.match._dice import DiceRule, dice_rule, score_ranks
from linkage.match._kernels import CHUNK_WORDS, LANES, ROWS
from linkage.match._packing import check_packed, popcounts
from linkage.match._results import CandidateEdges, CandidatePairs
from linkage.types import Int64Array, PackedClks

__all__ = [
    "Launch",
    "canonical_pairs",
    "collect_pairs",
    "dice_join",
    "dice_join_multiparty",
    "dice_self_join",
    "enforce_k",
    "kernel_launch",
    "nibble_split",
    "padded_words",
    "transpose_groups",
    "work_queue",
]

#: Row blocks per tile (``_TILE_BLOCKS * ROWS`` left rows).
_TILE_BLOCKS = 16
#: Right groups per tile: ``_TILE_GROUPS * LANES`` records of 128 bytes = 256 KiB at 1024 bits.
_TILE_GROUPS = 512
#: Pairs each thread may buffer per launch, at first and at most (12 bytes a pair).
_BUFFER_START = 1 << 16
_BUFFER_MAX = 1 << 22
#: Work units (tiles, rows) per kernel launch, at most, and per thread in the first launch
#: (which measures the pair density to size the next launches).
_MAX_UNITS_PER_LAUNCH = 1 << 14
_PROBE_UNITS_PER_THREAD = 8
#: Launches a join aims at (fewer if buffers would exceed ``_BUFFER_MAX``).
_TARGET_LAUNCHES = 16

_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)

_launch_lock = threading.Lock()


@contextmanager
def kernel_launch() -> Iterator[None]:
    """Guard one parallel kernel launch.

    numba's ``workqueue`` threading layer (the fallback when neither TBB nor OpenMP is
    installed) aborts the process if two threads launch parallel kernels at once, so launches
    are serialised under that layer; under OpenMP or TBB they run concurrently.
    """
    layer = _threading_layer()
    if layer == "workqueue" or layer is None:
        with _launch_lock:
            yield
    else:
        yield


def _threading_layer() -> str | None:
    try:
        return str(numba.threading_layer())  # type: ignore[attr-defined]
    except ValueError:  # no parallel kernel has run yet: the layer is not chosen
        return None


def padded_words(words: int) -> int:
    """Words per CLK in the kernels' layouts: a multiple of ``CHUNK_WORDS`` (zero padded)."""
    return -(-words // CHUNK_WORDS) * CHUNK_WORDS


def work_queue() -> Int64Array:
    """A fresh work-unit counter for one kernel launch: element 0 counts claimed units; its
    length is one more than the number of workers (one per numba thread)."""
    return np.zeros(numba.get_num_threads() + 1, dtype=np.int64)


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


def transpose_groups(packed: PackedClks) -> np.ndarray:
    """Right-hand layout ``[group, word, lane]`` (words padded to a multiple of
    ``CHUNK_WORDS``, records zero-padded to a multiple of ``LANES``)."""
    n, words = packed.shape
    groups = -(-max(n, 1) // LANES)
    out = np.zeros((groups * LANES, padded_words(words)), dtype=np.uint64)
    out[:n, :words] = packed
    return np.ascontiguousarray(out.reshape(groups, LANES, -1).transpose(0, 2, 1))


@dataclass(frozen=True, slots=True)
class _Side:
    """One side of a join, sorted by popcount and laid out for the kernels."""

    order: Int64Array  # sorted position -> original row
    pop: Int64Array  # popcount by sorted position (padded)
    n: int


def _sorted_side(pop: Int64Array) -> tuple[Int64Array, Int64Array]:
    order = np.argsort(pop, kind="stable").astype(np.int64)
    return order, pop[order]


def _padded(values: Int64Array, length: int, fill: int) -> Int64Array:
    out = np.full(length, fill, dtype=np.int64)
    out[: values.shape[0]] = values
    return out


def _block_groups(
    rule: DiceRule, a_pop_sorted: Int64Array, b_pop_sorted: Int64Array, either_role: bool
) -> tuple[Int64Array, Int64Array]:
    """For each block of ``ROWS`` sorted left rows, the right groups it must visit."""
    n = a_pop_sorted.shape[0]
    blocks = -(-n // ROWS)
    low, high = rule.low, rule.high
    if either_role:
        low = np.minimum(low, rule.low_as_right)
        high = np.maximum(high, rule.high_as_right)
    lo = _padded(low[a_pop_sorted], blocks * ROWS, rule.bits + 1).reshape(blocks, ROWS).min(1)
    hi = _padded(high[a_pop_sorted], blocks * ROWS, -1).reshape(blocks, ROWS).max(1)
    j0 = np.searchsorted(b_pop_sorted, lo, side="left")
    j1 = np.searchsorted(b_pop_sorted, hi, side="right")
    g0 = (j0 // LANES).astype(np.int64)
    g1 = (-(-j1 // LANES)).astype(np.int64)
    empty = (lo > hi) | (g1 <= g0)
    g0[empty] = 0
    g1[empty] = 0
    return g0, g1


def _tiles(
    block_g0: Int64Array, block_g1: Int64Array, self_join: bool
) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
    blocks = block_g0.shape[0]
    t_b0: list[int] = []
    t_b1: list[int] = []
    t_g0: list[int] = []
    t_g1: list[int] = []
    for b0 in range(0, blocks, _TILE_BLOCKS):
        b1 = min(blocks, b0 + _TILE_BLOCKS)
        nonempty = block_g1[b0:b1] > block_g0[b0:b1]
        if not nonempty.any():
            continue
        g_lo = int(block_g0[b0:b1][nonempty].min())
        g_hi = int(block_g1[b0:b1][nonempty].max())
        if self_join:
            g_lo = max(g_lo, (b0 * ROWS + 1) // LANES)
        s0 = g_lo // _TILE_GROUPS
        for s in range(s0, -(-g_hi // _TILE_GROUPS)):
            t_b0.append(b0)
            t_b1.append(b1)
            t_g0.append(max(g_lo, s * _TILE_GROUPS))
            t_g1.append(min(g_hi, (s + 1) * _TILE_GROUPS))
    as_array = [np.array(x, dtype=np.int64) for x in (t_b0, t_b1, t_g0, t_g1)]
    return as_array[0], as_array[1], as_array[2], as_array[3]


#: ``launch(units, out_i, out_j, out_c, out_n, failed)`` runs a kernel over some work units.
Launch = Callable[[Int64Array, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]


def collect_pairs(
    n_units: int, launch: Launch, max_pairs: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a pair-emitting kernel over ``n_units`` work units with bounded buffers.

    Each thread appends ``(i, j, count)`` to its own buffer row; a unit that does not fit is
    rolled back and flagged, and rerun later with twice the room. Units run in a fixed
    shuffled order, so that every launch is a fair sample of the pair density and the
    density seen so far sizes the next launch. Returns ``int32`` arrays, in no order.
    """
    threads = numba.get_num_threads()
    cap = _BUFFER_START
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    pending = np.random.default_rng(0).permutation(n_units).astype(np.int64)
    done_units = 0
    found_pairs = 0
    last_rate = 0.0
    out_i = out_j = out_c = np.empty((threads, 0), dtype=np.int32)
    while pending.shape[0]:
        if done_units == 0:
            size = threads * _PROBE_UNITS_PER_THREAD
        else:
            # Few, large launches (each ends with a barrier, which costs dearly when the
            # cores are shared), with buffers sized from the density seen so far.
            rate = max(found_pairs / done_units, last_rate, 1e-3)
            size = max(threads * _PROBE_UNITS_PER_THREAD, n_units // _TARGET_LAUNCHES)
            while 2 * rate * size > threads * cap and cap < _BUFFER_MAX:
                cap *= 2
            size = min(size, int(0.5 * threads * cap / rate))
        size = max(threads * 2, min(_MAX_UNITS_PER_LAUNCH, size, pending.shape[0]))
        chosen, pending = pending[:size], pending[size:]
        if out_i.shape[1] != cap:
            out_i = np.empty((threads, cap), dtype=np.int32)
            out_j = np.empty((threads, cap), dtype=np.int32)
            out_c = np.empty((threads, cap), dtype=np.int32)
        out_n = np.zeros(threads, dtype=np.int64)
        failed = np.zeros(chosen.shape[0], dtype=np.bool_)
        with kernel_launch():
            launch(chosen, out_i, out_j, out_c, out_n, failed)
        launch_pairs = 0
        for thread in range(threads):
            n = int(out_n[thread])
            if n:
                row = (out_i[thread, :n].copy(), out_j[thread, :n].copy(), out_c[thread, :n].copy())
                parts.append(row)
            launch_pairs += n
        launch_units = int(chosen.shape[0] - failed.sum())
        found_pairs += launch_pairs
        done_units += launch_units
        last_rate = launch_pairs / launch_units if launch_units else 2 * last_rate
        if max_pairs is not None and found_pairs > max_pairs:
            raise ResourceExhaustedError(
                f"the join produces more than {max_pairs} candidate pairs;"
                " raise the threshold or use blocking"
            )
        if failed.any():
            if cap == _BUFFER_MAX and launch_units == 0 and chosen.shape[0] <= threads:
                raise ResourceExhaustedError(
                    "one work unit produces more pairs than a buffer holds"
                )
            pending = np.concatenate([chosen[failed], pending])
            cap = min(2 * cap, _BUFFER_MAX)
    if not parts:
        none = np.empty(0, dtype=np.int32)
        return none, none, none
    i = np.concatenate([p[0] for p in parts])
    j = np.concatenate([p[1] for p in parts])
    c = np.concatenate([p[2] for p in parts])
    return i, j, c


def _run_pairs(
    a_split: np.ndarray,
    a_pop: Int64Array,
    a_n: int,
    bt: np.ndarray,
    b_pop: Int64Array,
    b_n: int,
    a_key: Int64Array,
    b_key: Int64Array,
    self_join: bool,
    rule: DiceRule,
    block_g0: Int64Array,
    block_g1: Int64Array,
    max_pairs: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All accepted ``(i, j, count)`` (``int32``, sorted positions), in no particular order."""
    tiles = _tiles(block_g0, block_g1, self_join)

    def launch(
        chosen: Int64Array,
        out_i: np.ndarray,
        out_j: np.ndarray,
        out_c: np.ndarray,
        out_n: np.ndarray,
        failed: np.ndarray,
    ) -> None:
        _kernels.pairs_kernel(
            work_queue(), a_split, a_pop, a_n, bt, b_pop, b_n, a_key, b_key, self_join,
            rule.min_count, rule.count_floor, rule.max_delta, block_g0, block_g1,
            tiles[0][chosen], tiles[1][chosen], tiles[2][chosen], tiles[3][chosen],
            out_i, out_j, out_c, out_n, failed,
        )  # fmt: skip

    return collect_pairs(tiles[0].shape[0], launch, max_pairs)


def _run_topk(
    a_split: np.ndarray,
    a_pop: Int64Array,
    a_n: int,
    bt: np.ndarray,
    b_pop: Int64Array,
    b_n: int,
    a_key: Int64Array,
    b_key: Int64Array,
    self_join: bool,
    rule: DiceRule,
    block_g0: Int64Array,
    block_g1: Int64Array,
    k: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sorted left row, its best ``k`` (score, right key), best first."""
    blocks = block_g0.shape[0]
    per_tile = 1 if blocks < 64 else _TILE_BLOCKS // 4
    tile_b0 = np.arange(0, blocks, per_tile, dtype=np.int64)
    tile_b1 = np.minimum(tile_b0 + per_tile, blocks)
    rows = a_split.shape[0]
    top_score = np.zeros((rows, k), dtype=np.float64)
    top_key = np.zeros((rows, k), dtype=np.int64)
    top_n = np.zeros(rows, dtype=np.int64)
    with kernel_launch():
        _kernels.topk_kernel(
            work_queue(), a_split, a_pop, a_n, bt, b_pop, b_n, a_key, b_key, self_join,
            rule.min_count, rule.count_floor, rule.max_delta, block_g0, block_g1, tile_b0, tile_b1,
            k, top_score, top_key, top_n,
        )  # fmt: skip
    return top_score[:a_n], top_key[:a_n], top_n[:a_n]


def _canonical(scores: np.ndarray, left: np.ndarray, right: np.ndarray) -> CandidatePairs:
    order = np.lexsort((right, left, -scores))
    return CandidatePairs.adopt(scores[order], left[order], right[order])


def canonical_pairs(
    counts: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    left_pop: Int64Array,
    right_pop: Int64Array,
    threshold: float,
    bits: int,
    n_right: int,
) -> CandidatePairs:
    """Accepted pairs (``counts`` of ``left[i] & right[i]``) as :class:`CandidatePairs` in
    the canonical order, with anonlink's scores.

    The order is computed with integers: each pair's score rank (see
    :func:`linkage.match._dice.score_ranks`) and its indices are packed into one ``int64``
    key, which is sorted in place and decoded. ``left`` and ``right`` must be arrays the
    caller owns and gives up (they are overwritten). Peak memory is about 36 bytes a pair.
    """
    ranks = score_ranks(threshold, bits)
    n_left = int(left.max(initial=0)) + 1
    n_right = max(n_right, int(right.max(initial=0)) + 1)
    sums = left_pop[left]
    sums += right_pop[right]
    position = ranks.offsets[sums]
    position -= ranks.first[sums]
    del sums
    position += counts
    rank = ranks.ranks[position]
    del position
    span = n_left * n_right
    if ranks.values.shape[0] * span >= 2**62:  # too wide to pack: sort three keys instead
        order = np.lexsort((right, left, rank))
        return CandidatePairs.adopt(ranks.values[rank[order]], left[order], right[order])
    key = rank
    key *= span
    left *= n_right  # the caller's arrays are ours to reuse
    key += left
    key += right
    del rank, left, right
    key.sort()
    quotient = key // span
    scores = ranks.values[quotient]
    del quotient
    key %= span
    right_rows = key % n_right
    key //= n_right
    return CandidatePairs.adopt(scores, key, right_rows)


def _pairs_from_sorted_positions(
    i: np.ndarray,
    j: np.ndarray,
    c: np.ndarray,
    order_a: Int64Array,
    order_b: Int64Array,
    pa: Int64Array,
    pb: Int64Array,
    rule: DiceRule,
    self_join: bool,
) -> CandidatePairs:
    """Turn kernel output (sorted positions) into canonical pairs of original rows."""
    left = order_a[i]
    del i
    right = order_b[j]
    del j
    if self_join:
        left, right = np.minimum(left, right), np.maximum(left, right)
    return canonical_pairs(c, left, right, pa, pb, rule.threshold, rule.bits, pb.shape[0])


def enforce_k(pairs: CandidatePairs, k: int) -> CandidatePairs:
    """anonlink's ``_enforce_k``: walk the pairs in order and keep a pair only while both of
    its records have been *seen* at most ``k`` times (a rejected pair still counts)."""
    if len(pairs) == 0:
        return pairs
    keep = _kernels_enforce_k(pairs.left, pairs.right, k)
    return CandidatePairs(pairs.scores[keep], pairs.left[keep], pairs.right[keep])


def _kernels_enforce_k(left: Int64Array, right: Int64Array, k: int) -> np.ndarray:
    seen_left: dict[int, int] = {}
    seen_right: dict[int, int] = {}
    keep = np.zeros(left.shape[0], dtype=bool)
    for index, (a, b) in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        na = seen_left.get(a, 0) + 1
        nb = seen_right.get(b, 0) + 1
        seen_left[a] = na
        seen_right[b] = nb
        keep[index] = na <= k and nb <= k
    return keep


def _check_pair(left: PackedClks, right: PackedClks) -> tuple[PackedClks, PackedClks]:
    a = check_packed(left, "left")
    b = check_packed(right, "right")
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError(
            f"left and right CLKs differ in length: {a.shape[1] * 64} and {b.shape[1] * 64} bits"
        )
    return a, b


def _check_k(k: int | None) -> int | None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0):
        raise InvalidInputError("k must be a non-negative integer or None")
    return None if k is None else int(k)


def dice_join(
    left: PackedClks,
    right: PackedClks,
    threshold: float,
    *,
    k: int | None = None,
    max_pairs: int | None = None,
) -> CandidatePairs:
    """Every pair ``(i, j)`` of a left and a right CLK with Dice ``>= threshold``.

    With ``k``, keep anonlink's top-k semantics: each left row contributes its best ``k``
    right rows (score desc, right index asc), then pairs are walked in order and kept while
    both of their records have been seen at most ``k`` times.

    The pairs and scores are exactly anonlink 0.15.3's ``find_candidate_pairs([left, right],
    dice_coefficient_accelerated, threshold, k)``, in its order: score descending, then
    left ascending, then right ascending.

    ``max_pairs`` bounds the result (and so the memory, about 40 bytes a pair at the peak):
    beyond it :class:`~linkage.errors.ResourceExhaustedError` is raised. Everything else is
    bounded by the inputs: the sorted, nibble-split and transposed copies (4x the inputs).
    """
    a, b = _check_pair(left, right)
    k = _check_k(k)
    rule = dice_rule(threshold, a.shape[1] * 64)
    n_a, n_b = a.shape[0], b.shape[0]
    if n_a == 0 or n_b == 0 or k == 0:
        return CandidatePairs.empty()
    pa = popcounts(a)
    pb = popcounts(b)
    order_a, pa_sorted = _sorted_side(pa)
    order_b, pb_sorted = _sorted_side(pb)
    a_split = nibble_split(a[order_a], ROWS)
    bt = transpose_groups(b[order_b])
    a_pop = _padded(pa_sorted, a_split.shape[0], 0)
    b_pop = _padded(pb_sorted, bt.shape[0] * LANES, 0)
    block_g0, block_g1 = _block_groups(rule, pa_sorted, pb_sorted, either_role=False)
    if k is None:
        return _pairs_from_sorted_positions(
            *_run_pairs(
                a_split, a_pop, n_a, bt, b_pop, n_b, order_a, order_b, False, rule,
                block_g0, block_g1, max_pairs,
            ),
            order_a, order_b, pa, pb, rule, self_join=False,
        )  # fmt: skip
    top_score, top_key, top_n = _run_topk(
        a_split, a_pop, n_a, bt, b_pop, n_b, order_a, order_b, False, rule,
        block_g0, block_g1, min(k, n_b),
    )  # fmt: skip
    width = top_score.shape[1]
    valid = np.arange(width)[None, :] < top_n[:, None]
    left_rows = np.broadcast_to(order_a[:n_a, None], (n_a, width))[valid]
    pairs = _canonical(top_score[valid], left_rows, top_key[valid])
    return enforce_k(pairs, k)


def dice_self_join(
    clks: PackedClks,
    threshold: float,
    *,
    k: int | None = None,
    max_pairs: int | None = None,
) -> CandidatePairs:
    """Deduplication: every pair ``i < j`` within one set with Dice ``>= threshold``.

    A pair is accepted exactly when anonlink would accept it as the pair ``(i, j)`` of
    ``find_candidate_pairs([clks, clks], ...)`` (``i`` on the left). Order: score descending,
    then ``i``, then ``j``.

    With ``k``: every record nominates its best ``k`` others (score desc, index asc); the
    nominated pairs, each once, are walked in order and kept while both of their records have
    been seen at most ``k`` times (anonlink's ``_enforce_k`` rule applied within one set).
    ``max_pairs`` is as in :func:`dice_join`.
    """
    a = check_packed(clks, "clks")
    k = _check_k(k)
    rule = dice_rule(threshold, a.shape[1] * 64)
    n = a.shape[0]
    if n < 2 or k == 0:
        return CandidatePairs.empty()
    pop = popcounts(a)
    order, pop_sorted = _sorted_side(pop)
    sorted_clks = a[order]
    a_split = nibble_split(sorted_clks, ROWS)
    bt = transpose_groups(sorted_clks)
    a_pop = _padded(pop_sorted, a_split.shape[0], 0)
    b_pop = _padded(pop_sorted, bt.shape[0] * LANES, 0)
    block_g0, block_g1 = _block_groups(rule, pop_sorted, pop_sorted, either_role=True)
    if k is None:
        return _pairs_from_sorted_positions(
            *_run_pairs(
                a_split, a_pop, n, bt, b_pop, n, order, order, True, rule, block_g0, block_g1,
                max_pairs,
            ),
            order, order, pop, pop, rule, self_join=True,
        )  # fmt: skip
    top_score, top_key, top_n = _run_topk(
        a_split, a_pop, n, bt, b_pop, n, order, order, True, rule, block_g0, block_g1,
        min(k, n - 1),
    )  # fmt: skip
    width = top_score.shape[1]
    valid = np.arange(width)[None, :] < top_n[:, None]
    rows = np.broadcast_to(order[:n, None], (n, width))[valid]
    others = top_key[valid]
    scores = top_score[valid]
    first = np.minimum(rows, others)
    second = np.maximum(rows, others)
    unique = np.unique(np.stack([first, second], axis=1), axis=0, return_index=True)[1]
    pairs = _canonical(scores[unique], first[unique], second[unique])
    return enforce_k(pairs, k)


def dice_join_multiparty(
    datasets: Sequence[PackedClks], threshold: float, *, k: int | None = None
) -> CandidateEdges:
    """Candidate edges between every two of several datasets (no pairs within one).

    Equal to anonlink's ``find_candidate_pairs(datasets, dice_coefficient_accelerated,
    threshold, k)``: for each dataset pair ``d0 < d1`` the pairs of :func:`dice_join`, all
    merged in anonlink's order (score desc, ``d0``, ``d1``, record indices).
    """
    if len(datasets) < 2:
        raise InvalidInputError("multi-party linkage needs at least two datasets")
    parts = []
    for d0 in range(len(datasets)):
        for d1 in range(d0 + 1, len(datasets)):
            pairs = dice_join(datasets[d0], datasets[d1], threshold, k=k)
            parts.append(pairs.to_edges(d0, d1))
    return CandidateEdges.concatenate(parts).sorted()
