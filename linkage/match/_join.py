"""Dice similarity joins: two sets, one set (deduplication), many sets; all pairs or top-k.

Every function here returns exactly the pairs and scores anonlink 0.15.3's
``find_candidate_pairs(..., dice_coefficient_accelerated, threshold, k)`` returns on the same
input (see :mod:`linkage.match._dice` for the acceptance rule), in anonlink's order.

How: both sides are sorted by popcount and laid out for the kernels of the code path in
force (:mod:`linkage.match._layout`); work is cut into tiles of ``_TILE_ROWS`` left rows x
``_TILE_RECORDS`` right records, a right slab that stays in L2 cache; tiles outside every
row's feasible popcount window are never created; numba runs the tiles on all cores, each
thread appending pairs to a bounded buffer (:func:`collect_pairs`); the pairs are then put
in the canonical order (:mod:`linkage.match._canonical`). Memory is the inputs' copies (at
most ``3 *`` left + right bytes) plus a bounded tile buffer, never an ``n x m`` matrix. On
the ``cuda`` path, joins without ``k`` run on the GPU (:mod:`linkage.match._cuda`) from the
same sorted sides and end in the same canonical ordering.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numba
import numpy as np

from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.match import _paths
from linkage.match._canonical import canonical_order, enforce_k, pairs_from_sorted_positions
from linkage.match._dice import DiceRule, dice_rule
from linkage.match._kernels import JOIN_KERNELS, JoinKernels
from linkage.match._layout import JoinSides, prepare_sides, sorted_side
from linkage.match._packing import check_packed, popcounts
from linkage.match._results import CandidateEdges, CandidatePairs
from linkage.types import Int64Array, PackedClks

__all__ = [
    "Launch",
    "collect_pairs",
    "dice_join",
    "dice_join_multiparty",
    "dice_self_join",
    "join_kernels",
    "kernel_launch",
    "run_pairs",
    "work_queue",
]

#: Left rows per tile.
_TILE_ROWS = 64
#: Right records per tile: 2048 records of 128 bytes = 256 KiB at 1024 bits.
_TILE_RECORDS = 2048
#: Pairs each thread may buffer per launch, at first and at most (12 bytes a pair).
_BUFFER_START = 1 << 16
_BUFFER_MAX = 1 << 22
#: Work units (tiles, rows) per kernel launch, at most, and per thread in the first launch
#: (which measures the pair density to size the next launches).
_MAX_UNITS_PER_LAUNCH = 1 << 14
_PROBE_UNITS_PER_THREAD = 8
#: Launches a join aims at (fewer if buffers would exceed ``_BUFFER_MAX``).
_TARGET_LAUNCHES = 16

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


def work_queue() -> Int64Array:
    """A fresh work-unit counter for one kernel launch: element 0 counts claimed units; its
    length is one more than the number of workers (one per numba thread)."""
    return np.zeros(numba.get_num_threads() + 1, dtype=np.int64)


def join_kernels() -> JoinKernels:
    """The CPU join kernels of the path in force."""
    return JOIN_KERNELS[_paths.cpu_join_path()]


def _tiles(
    block_g0: Int64Array, block_g1: Int64Array, self_join: bool, rows: int, lanes: int
) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
    blocks = block_g0.shape[0]
    tile_blocks = max(1, _TILE_ROWS // rows)
    tile_groups = max(1, _TILE_RECORDS // lanes)
    t_b0: list[int] = []
    t_b1: list[int] = []
    t_g0: list[int] = []
    t_g1: list[int] = []
    for b0 in range(0, blocks, tile_blocks):
        b1 = min(blocks, b0 + tile_blocks)
        nonempty = block_g1[b0:b1] > block_g0[b0:b1]
        if not nonempty.any():
            continue
        g_lo = int(block_g0[b0:b1][nonempty].min())
        g_hi = int(block_g1[b0:b1][nonempty].max())
        if self_join:
            g_lo = max(g_lo, (b0 * rows + 1) // lanes)
        s0 = g_lo // tile_groups
        for s in range(s0, -(-g_hi // tile_groups)):
            t_b0.append(b0)
            t_b1.append(b1)
            t_g0.append(max(g_lo, s * tile_groups))
            t_g1.append(min(g_hi, (s + 1) * tile_groups))
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


def run_pairs(
    sides: JoinSides, rule: DiceRule, max_pairs: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All accepted ``(i, j, count)`` (``int32``, sorted positions), in no particular order."""
    k = sides.kernels
    tiles = _tiles(sides.block_g0, sides.block_g1, sides.self_join, k.rows, k.lanes)

    def launch(
        chosen: Int64Array,
        out_i: np.ndarray,
        out_j: np.ndarray,
        out_c: np.ndarray,
        out_n: np.ndarray,
        failed: np.ndarray,
    ) -> None:
        k.pairs(
            work_queue(), sides.a_rows, sides.a_pop, sides.a_n, sides.bt, sides.b_pop,
            sides.b_n, sides.a_key, sides.b_key, sides.self_join,
            rule.min_count, rule.count_floor, rule.max_delta, sides.block_g0, sides.block_g1,
            tiles[0][chosen], tiles[1][chosen], tiles[2][chosen], tiles[3][chosen],
            out_i, out_j, out_c, out_n, failed,
        )  # fmt: skip

    return collect_pairs(tiles[0].shape[0], launch, max_pairs)


def _run_topk(
    sides: JoinSides, rule: DiceRule, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per sorted left row, its best ``k`` (score, right key), best first."""
    kernels = sides.kernels
    blocks = sides.block_g0.shape[0]
    per_tile = 1 if blocks < 64 else max(1, 16 // kernels.rows)
    tile_b0 = np.arange(0, blocks, per_tile, dtype=np.int64)
    tile_b1 = np.minimum(tile_b0 + per_tile, blocks)
    rows = sides.a_pop.shape[0]
    top_score = np.zeros((rows, k), dtype=np.float64)
    top_key = np.zeros((rows, k), dtype=np.int64)
    top_n = np.zeros(rows, dtype=np.int64)
    with kernel_launch():
        kernels.topk(
            work_queue(), sides.a_rows, sides.a_pop, sides.a_n, sides.bt, sides.b_pop,
            sides.b_n, sides.a_key, sides.b_key, sides.self_join,
            rule.min_count, rule.count_floor, rule.max_delta, sides.block_g0, sides.block_g1,
            tile_b0, tile_b1, k, top_score, top_key, top_n,
        )  # fmt: skip
    n = sides.a_n
    return top_score[:n], top_key[:n], top_n[:n]


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
    order_a, pa_sorted = sorted_side(pa)
    order_b, pb_sorted = sorted_side(pb)
    if k is None and _paths.kernel_path() == _paths.CUDA:
        from linkage.match import _cuda

        found = _cuda.cuda_pairs(
            rule, a[order_a], pa_sorted, order_a, b[order_b], pb_sorted, order_b, False,
            max_pairs,
        )  # fmt: skip
        return pairs_from_sorted_positions(*found, order_a, order_b, pa, pb, rule, self_join=False)
    sides = prepare_sides(
        join_kernels(), rule, a[order_a], pa_sorted, order_a, b[order_b], pb_sorted, order_b,
        self_join=False,
    )  # fmt: skip
    if k is None:
        return pairs_from_sorted_positions(
            *run_pairs(sides, rule, max_pairs), order_a, order_b, pa, pb, rule, self_join=False
        )
    top_score, top_key, top_n = _run_topk(sides, rule, min(k, n_b))
    width = top_score.shape[1]
    valid = np.arange(width)[None, :] < top_n[:, None]
    left_rows = np.broadcast_to(order_a[:n_a, None], (n_a, width))[valid]
    pairs = canonical_order(top_score[valid], left_rows, top_key[valid])
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
    order, pop_sorted = sorted_side(pop)
    sorted_clks = a[order]
    if k is None and _paths.kernel_path() == _paths.CUDA:
        from linkage.match import _cuda

        found = _cuda.cuda_pairs(
            rule, sorted_clks, pop_sorted, order, sorted_clks, pop_sorted, order, True, max_pairs
        )
        return pairs_from_sorted_positions(*found, order, order, pop, pop, rule, self_join=True)
    sides = prepare_sides(
        join_kernels(), rule, sorted_clks, pop_sorted, order, sorted_clks, pop_sorted, order,
        self_join=True,
    )  # fmt: skip
    if k is None:
        return pairs_from_sorted_positions(
            *run_pairs(sides, rule, max_pairs), order, order, pop, pop, rule, self_join=True
        )
    top_score, top_key, top_n = _run_topk(sides, rule, min(k, n - 1))
    width = top_score.shape[1]
    valid = np.arange(width)[None, :] < top_n[:, None]
    rows = np.broadcast_to(order[:n, None], (n, width))[valid]
    others = top_key[valid]
    scores = top_score[valid]
    first = np.minimum(rows, others)
    second = np.maximum(rows, others)
    unique = np.unique(np.stack([first, second], axis=1), axis=0, return_index=True)[1]
    pairs = canonical_order(scores[unique], first[unique], second[unique])
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
