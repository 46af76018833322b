"""Blocking on CLKs: Hamming-LSH bit sampling, then exact Dice on the candidates only.

Each of ``bands`` bands samples ``bits_per_band`` bit positions (drawn once from ``seed``);
two records are candidates when they agree on every sampled bit of at least one band. A
pair whose CLKs differ in a fraction ``d`` of their bits shares a given band with probability
``(1 - d) ** bits_per_band``, so similar pairs are found with high probability while the
expected number of random candidates falls geometrically with ``bits_per_band``.

Candidates are then verified with the exact anonlink Dice rule, so a blocked join returns a
subset of the unblocked join's pairs, with the same scores, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.match import _kernels
from linkage.match._dice import dice_rule
from linkage.match._join import canonical_pairs, kernel_launch
from linkage.match._packing import check_packed, popcounts
from linkage.match._results import CandidatePairs
from linkage.types import Int64Array, PackedClks

__all__ = [
    "BlockingReport",
    "HammingLsh",
    "blocked_dice_join",
    "blocked_dice_self_join",
    "blocking_report",
    "lsh_candidates",
    "lsh_self_candidates",
]

_DEFAULT_MAX_CANDIDATES = 200_000_000


@dataclass(frozen=True, slots=True)
class HammingLsh:
    """Hamming-LSH bit-sampling configuration.

    ``bands`` independent bands of ``bits_per_band`` sampled bit positions each, drawn from
    ``numpy.random.default_rng(seed)``; ``max_candidates`` bounds the candidate pairs
    enumerated before deduplication (a guard against too few bits per band).
    """

    bands: int = 32
    bits_per_band: int = 16
    seed: int = 0
    max_candidates: int = _DEFAULT_MAX_CANDIDATES

    def __post_init__(self) -> None:
        if self.bands < 1:
            raise InvalidInputError("bands must be at least 1")
        if not 1 <= self.bits_per_band <= 64:
            raise InvalidInputError("bits_per_band must be between 1 and 64")
        if self.seed < 0:
            raise InvalidInputError("seed must be non-negative")
        if self.max_candidates < 1:
            raise InvalidInputError("max_candidates must be positive")

    def positions(self, bits: int) -> Int64Array:
        """The sampled bit positions, ``int64[bands, bits_per_band]``, for CLKs of ``bits``."""
        if self.bits_per_band > bits:
            raise InvalidInputError("bits_per_band exceeds the CLK length")
        rng = np.random.default_rng(self.seed)
        return np.stack(
            [
                np.sort(rng.choice(bits, size=self.bits_per_band, replace=False))
                for _ in range(self.bands)
            ]
        ).astype(np.int64)

    def keys(self, packed: PackedClks) -> np.ndarray:
        """Band keys, ``uint64[bands, n]``: the sampled bits of each record, packed."""
        array = check_packed(packed, "packed")
        positions = self.positions(array.shape[1] * 64)
        weights = np.left_shift(np.uint64(1), np.arange(self.bits_per_band, dtype=np.uint64))
        out = np.empty((self.bands, array.shape[0]), dtype=np.uint64)
        for band, pos in enumerate(positions):
            columns = array[:, pos // 64]
            shifts = (63 - pos % 64).astype(np.uint64)
            bits = (columns >> shifts) & np.uint64(1)
            out[band] = (bits * weights).sum(axis=1, dtype=np.uint64)
        return out


def _buckets(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sorted order, and for each distinct key its value, first sorted position, count."""
    order = np.argsort(keys, kind="stable")
    values, starts, counts = np.unique(keys[order], return_index=True, return_counts=True)
    return order.astype(np.int64), values, starts.astype(np.int64), counts.astype(np.int64)


def _cross(
    order_a: Int64Array,
    starts_a: Int64Array,
    counts_a: Int64Array,
    order_b: Int64Array,
    starts_b: Int64Array,
    counts_b: Int64Array,
) -> tuple[Int64Array, Int64Array]:
    sizes = counts_a * counts_b
    total = int(sizes.sum())
    group = np.repeat(np.arange(sizes.shape[0]), sizes)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    width = counts_b[group]
    left = order_a[starts_a[group] + offset // width]
    right = order_b[starts_b[group] + offset % width]
    return left, right


def _check_budget(total: int, config: HammingLsh) -> None:
    if total > config.max_candidates:
        raise ResourceExhaustedError(
            f"blocking would enumerate {total} candidate pairs (limit {config.max_candidates});"
            " use more bits per band"
        )


def lsh_candidates(
    left: PackedClks, right: PackedClks, config: HammingLsh
) -> tuple[Int64Array, Int64Array]:
    """Deduplicated candidate pairs ``(i, j)`` sharing a band, sorted by ``i`` then ``j``."""
    a = check_packed(left, "left")
    b = check_packed(right, "right")
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError("left and right CLKs differ in length")
    n_b = b.shape[0]
    keys_a, keys_b = config.keys(a), config.keys(b)
    per_band = []
    for band in range(config.bands):
        order_a, values_a, starts_a, counts_a = _buckets(keys_a[band])
        order_b, values_b, starts_b, counts_b = _buckets(keys_b[band])
        _common, ia, ib = np.intersect1d(
            values_a, values_b, assume_unique=True, return_indices=True
        )
        per_band.append((order_a, starts_a[ia], counts_a[ia], order_b, starts_b[ib], counts_b[ib]))
    _check_budget(sum(int((p[2] * p[5]).sum()) for p in per_band), config)
    codes = [np.empty(0, dtype=np.int64)]
    for order_a, s_a, c_a, order_b, s_b, c_b in per_band:
        i, j = _cross(order_a, s_a, c_a, order_b, s_b, c_b)
        codes.append(np.unique(i * n_b + j))
    unique = np.unique(np.concatenate(codes))
    return unique // max(n_b, 1), unique % max(n_b, 1)


def lsh_self_candidates(clks: PackedClks, config: HammingLsh) -> tuple[Int64Array, Int64Array]:
    """Deduplicated candidate pairs ``i < j`` within one set, sorted by ``i`` then ``j``."""
    a = check_packed(clks, "clks")
    n = a.shape[0]
    keys = config.keys(a)
    per_band = []
    for band in range(config.bands):
        order, _values, starts, counts = _buckets(keys[band])
        shared = counts > 1
        per_band.append((order, starts[shared], counts[shared]))
    _check_budget(sum(int((p[2] * p[2]).sum()) for p in per_band), config)
    codes = [np.empty(0, dtype=np.int64)]
    for order, starts, counts in per_band:
        i, j = _cross(order, starts, counts, order, starts, counts)
        below = i < j
        codes.append(np.unique(i[below] * n + j[below]))
    unique = np.unique(np.concatenate(codes))
    return unique // max(n, 1), unique % max(n, 1)


def _verify(
    a: PackedClks, b: PackedClks, left: Int64Array, right: Int64Array, threshold: float
) -> CandidatePairs:
    rule = dice_rule(threshold, a.shape[1] * 64)
    if left.shape[0] == 0:
        return CandidatePairs.empty()
    counts = np.empty(left.shape[0], dtype=np.int64)
    with kernel_launch():
        _kernels.pair_counts_kernel(a, b, left, right, counts)
    pop_a = popcounts(a)
    pop_b = popcounts(b)
    pa = pop_a[left]
    pb = pop_b[right]
    accepted = (np.abs(pa - pb) <= rule.max_delta[pa]) & (counts >= rule.min_count[pa + pb])
    return canonical_pairs(
        counts[accepted], left[accepted], right[accepted], pop_a, pop_b, threshold,
        rule.bits, b.shape[0],
    )  # fmt: skip


def blocked_dice_join(
    left: PackedClks, right: PackedClks, threshold: float, config: HammingLsh
) -> CandidatePairs:
    """The pairs of :func:`linkage.match.dice_join` that share an LSH band (same scores and
    order)."""
    a = check_packed(left, "left")
    b = check_packed(right, "right")
    i, j = lsh_candidates(a, b, config)
    return _verify(a, b, i, j, threshold)


def blocked_dice_self_join(
    clks: PackedClks, threshold: float, config: HammingLsh
) -> CandidatePairs:
    """The pairs of :func:`linkage.match.dice_self_join` that share an LSH band."""
    a = check_packed(clks, "clks")
    i, j = lsh_self_candidates(a, config)
    return _verify(a, a, i, j, threshold)


@dataclass(frozen=True, slots=True)
class BlockingReport:
    """How well a set of candidate pairs covers the true matches, and what it saves.

    ``pair_completeness`` = true matches among the candidates / true matches (1.0 when there
    are none); ``reduction_ratio`` = 1 - candidates / all possible pairs.
    """

    candidate_pairs: int
    total_pairs: int
    true_matches: int
    true_matches_found: int

    @property
    def pair_completeness(self) -> float:
        return 1.0 if self.true_matches == 0 else self.true_matches_found / self.true_matches

    @property
    def reduction_ratio(self) -> float:
        return 1.0 - self.candidate_pairs / self.total_pairs if self.total_pairs else 0.0


def blocking_report(
    candidate_left: Int64Array,
    candidate_right: Int64Array,
    total_pairs: int,
    true_left: Int64Array,
    true_right: Int64Array,
) -> BlockingReport:
    """Compare deduplicated candidate pairs with the ground-truth matching pairs.

    For one set (deduplication), give both as ``i < j``; ``total_pairs`` is ``n * m`` for
    two sets and ``n * (n - 1) / 2`` for one.
    """
    candidate_left = np.asarray(candidate_left, dtype=np.int64)
    candidate_right = np.asarray(candidate_right, dtype=np.int64)
    true_left = np.asarray(true_left, dtype=np.int64)
    true_right = np.asarray(true_right, dtype=np.int64)
    if candidate_left.shape != candidate_right.shape or true_left.shape != true_right.shape:
        raise InvalidInputError("left and right index arrays must have the same length")
    width = int(max(candidate_right.max(initial=0), true_right.max(initial=0))) + 1
    candidates = np.unique(candidate_left * width + candidate_right)
    truth = np.unique(true_left * width + true_right)
    found = int(np.isin(truth, candidates, assume_unique=True).sum())
    return BlockingReport(int(candidates.shape[0]), int(total_pairs), int(truth.shape[0]), found)
