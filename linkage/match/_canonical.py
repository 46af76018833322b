"""Candidate pairs in the canonical order, and anonlink's top-k rule over them.

The join kernels emit accepted pairs as ``(i, j, count)`` in no order; the functions here map
them to original rows, give them anonlink's scores and sort them in the canonical order
(score descending, then left, then right: see :class:`~linkage.match.CandidatePairs`), and
apply anonlink's ``_enforce_k`` to a top-k join's nominated pairs.
"""

from __future__ import annotations

import numpy as np

from linkage.match._dice import DiceRule, score_ranks
from linkage.match._results import CandidatePairs
from linkage.types import Int64Array

__all__ = [
    "canonical_order",
    "canonical_pairs",
    "enforce_k",
    "pairs_from_sorted_positions",
]


def canonical_order(scores: np.ndarray, left: np.ndarray, right: np.ndarray) -> CandidatePairs:
    """Scored pairs of original rows as :class:`CandidatePairs` in the canonical order."""
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


def pairs_from_sorted_positions(
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
