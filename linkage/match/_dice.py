"""The exact Dice acceptance rule of anonlink 0.15.3, as integer tables.

anonlink's ``dice_coefficient_accelerated`` accepts the pair (a, b) of CLKs with popcounts
``pa`` and ``pb`` and ``c = popcount(a & b)`` iff

* ``pa == 0``: the threshold is ``<= 0`` (every score is then 0.0);
* otherwise ``|pa - pb| <= max_delta(pa)``, where ``max_delta`` is the C expression
  ``(uint32_t)(2 * pa * (1 / threshold - 1))`` (or the CLK length when the threshold is
  ``<= 0``), and ``(2 * c) / (double)(pa + pb) >= threshold`` in IEEE double arithmetic.

The score reported is ``(2 * c) / (double)(pa + pb)``, or 0.0 when ``pa == 0``.

:class:`DiceRule` turns that rule into integer lookups so that the kernels never divide:
``min_count[s]`` is the smallest ``c`` whose double score over ``s = pa + pb`` reaches the
threshold (score division is monotone in ``c``, so ``c >= min_count[s]`` is exactly the double
comparison), and ``max_delta[pa]`` is anonlink's popcount window, including its truncation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from linkage.errors import InvalidInputError
from linkage.types import Float64Array, Int64Array

__all__ = [
    "NO_COUNT",
    "DiceRule",
    "check_threshold",
    "dice_rule",
    "dice_scores",
]

#: ``min_count`` entry meaning "no intersection count reaches the threshold".
NO_COUNT = np.iinfo(np.int64).max // 4


def check_threshold(threshold: float) -> float:
    """Validate a Dice threshold: a finite number in ``[0, 1]``."""
    value = float(threshold)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidInputError("threshold must be a finite number between 0 and 1")
    return value


def _c_uint32_of_double(value: float) -> int:
    """What x86-64 C code gets from ``(uint32_t)value``: truncation, then the low 32 bits.

    In range this is plain truncation; out of range, compilers emit a 64-bit ``cvttsd2si``
    whose result is then cut to 32 bits (``0x8000000000000000`` for NaN and overflow).
    """
    if not math.isfinite(value) or not -(2.0**63) <= value < 2.0**63:
        return 0
    return math.trunc(value) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True, eq=False)
class DiceRule:
    """Integer tables that decide anonlink's Dice acceptance for one threshold and length.

    * ``min_count[s]`` for ``s`` in ``0 .. 2 * bits``: the least intersection count accepted
      when ``pa + pb == s`` (``NO_COUNT`` when none is);
    * ``count_floor[s]``: ``min(min_count[s:])``, non-decreasing in ``s``; a kernel can skip a
      tile whose counts all stay below ``count_floor`` of its smallest popcount sum
      (``min_count`` itself is not monotone at ``s == 0``);
    * ``max_delta[p]`` for ``p`` in ``0 .. bits``: anonlink's popcount window for a left
      record of popcount ``p``;
    * ``low[p]``, ``high[p]``: every right popcount that can be accepted against a left
      popcount ``p`` lies in ``low[p] .. high[p]`` (``low > high`` when none can);
    * ``low_as_right[p]``, ``high_as_right[p]``: likewise, the left popcounts that can be
      accepted against a right popcount ``p``.
    """

    threshold: float
    bits: int
    min_count: Int64Array
    count_floor: Int64Array
    max_delta: Int64Array
    low: Int64Array
    high: Int64Array
    low_as_right: Int64Array
    high_as_right: Int64Array

    def __post_init__(self) -> None:
        if self.bits <= 0 or self.bits % 64:
            raise InvalidInputError(
                f"CLK length must be a positive multiple of 64, got {self.bits}"
            )
        for name in ("min_count", "count_floor"):
            if getattr(self, name).shape != (2 * self.bits + 1,):
                raise InvalidInputError(f"{name} must have 2 * bits + 1 entries")
        for name in ("max_delta", "low", "high", "low_as_right", "high_as_right"):
            if getattr(self, name).shape != (self.bits + 1,):
                raise InvalidInputError(f"{name} must have bits + 1 entries")

    def accepts(self, pa: int, pb: int, count: int) -> bool:
        """Whether anonlink accepts a pair with these popcounts and intersection count."""
        return abs(pa - pb) <= int(self.max_delta[pa]) and count >= int(self.min_count[pa + pb])


def _min_counts(threshold: float, bits: int) -> Int64Array:
    sums = np.arange(2 * bits + 1, dtype=np.int64)
    result = np.full(sums.shape, NO_COUNT, dtype=np.int64)
    if threshold <= 0.0:
        result[:] = 0
        return result
    # Start a little below the real-valued bound and step up while the double test fails.
    positive = sums[1:]
    candidate = np.maximum(np.floor(threshold * positive / 2.0).astype(np.int64) - 2, 0)
    limit = positive  # c can never exceed s; beyond it there is no accepted count
    for _ in range(8):
        failing = ((2 * candidate) / positive.astype(np.float64) < threshold) & (candidate <= limit)
        if not failing.any():
            break
        candidate = candidate + failing
    else:  # pragma: no cover - the real-valued start is at most two steps away
        raise AssertionError("threshold table did not converge")
    accepted = (2 * candidate) / positive.astype(np.float64) >= threshold
    result[1:] = np.where(accepted, candidate, NO_COUNT)
    # s == 0 only arises for pa == pb == 0, which anonlink accepts iff threshold <= 0.
    return result


def _max_deltas(threshold: float, bits: int) -> Int64Array:
    if threshold <= 0.0:
        return np.full(bits + 1, bits, dtype=np.int64)
    factor = 1.0 / threshold - 1.0
    return np.array(
        [_c_uint32_of_double(float(2 * p) * factor) for p in range(bits + 1)], dtype=np.int64
    )


def _feasible_bounds(
    min_count: Int64Array, max_delta: Int64Array, bits: int
) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
    low = np.full(bits + 1, bits + 1, dtype=np.int64)
    high = np.full(bits + 1, -1, dtype=np.int64)
    low_as_right = np.full(bits + 1, bits + 1, dtype=np.int64)
    high_as_right = np.full(bits + 1, -1, dtype=np.int64)
    right = np.arange(bits + 1, dtype=np.int64)
    step = 256
    for start in range(0, bits + 1, step):
        left = np.arange(start, min(start + step, bits + 1), dtype=np.int64)[:, None]
        best_count = np.minimum(left, right[None, :])
        ok = (np.abs(left - right[None, :]) <= max_delta[left]) & (
            min_count[left + right[None, :]] <= best_count
        )
        any_ok = ok.any(axis=1)
        first = np.argmax(ok, axis=1)
        last = bits - np.argmax(ok[:, ::-1], axis=1)
        rows = left[:, 0]
        low[rows] = np.where(any_ok, first, bits + 1)
        high[rows] = np.where(any_ok, last, -1)
        column_ok = ok.any(axis=0)
        column_first = rows[np.argmax(ok, axis=0)]
        column_last = rows[ok.shape[0] - 1 - np.argmax(ok[::-1, :], axis=0)]
        low_as_right = np.where(column_ok, np.minimum(low_as_right, column_first), low_as_right)
        high_as_right = np.where(column_ok, np.maximum(high_as_right, column_last), high_as_right)
    return low, high, low_as_right, high_as_right


@functools.lru_cache(maxsize=64)
def dice_rule(threshold: float, bits: int) -> DiceRule:
    """The (cached) :class:`DiceRule` for a threshold and a CLK length in bits."""
    value = check_threshold(threshold)
    if bits <= 0 or bits % 64:
        raise InvalidInputError(f"CLK length must be a positive multiple of 64, got {bits}")
    min_count = _min_counts(value, bits)
    count_floor = np.minimum.accumulate(min_count[::-1])[::-1].copy()
    max_delta = _max_deltas(value, bits)
    bounds = _feasible_bounds(min_count, max_delta, bits)
    for table in (min_count, count_floor, max_delta, *bounds):
        table.setflags(write=False)
    return DiceRule(value, bits, min_count, count_floor, max_delta, *bounds)


def dice_scores(counts: Int64Array, left_pop: Int64Array, right_pop: Int64Array) -> Float64Array:
    """anonlink's score for each pair: ``2c / (pa + pb)`` in double, 0.0 where ``pa == 0``."""
    left_pop = np.asarray(left_pop, dtype=np.int64)
    empty_left = left_pop == 0
    total = (left_pop + np.asarray(right_pop, dtype=np.int64)).astype(np.float64)
    total[empty_left] = 1.0
    scores: Float64Array = np.multiply(counts, 2.0, dtype=np.float64)
    np.divide(scores, total, out=scores)
    scores[empty_left] = 0.0
    return scores


@dataclass(frozen=True, slots=True, eq=False)
class ScoreRanks:
    """Every score the rule can accept, ranked best first, addressed by ``(s, c)``.

    For a popcount sum ``s`` the accepted counts are ``first[s] .. s // 2``; the rank of
    ``(s, c)`` is ``ranks[offsets[s] + c - first[s]]``, equal scores (as doubles) sharing a
    rank, and ``values[rank]`` is the score. Sorting pairs by rank is sorting them by score
    descending, exactly, with integers.
    """

    offsets: Int64Array
    first: Int64Array
    ranks: Int64Array
    values: Float64Array


@functools.lru_cache(maxsize=16)
def score_ranks(threshold: float, bits: int) -> ScoreRanks:
    """The (cached) :class:`ScoreRanks` of ``dice_rule(threshold, bits)``."""
    rule = dice_rule(threshold, bits)
    sums = np.arange(2 * bits + 1, dtype=np.int64)
    last = sums // 2
    first = np.minimum(rule.min_count, last + 1)
    sizes = last - first + 1
    offsets = np.zeros(sums.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    s_of = np.repeat(sums, sizes)
    c_of = (
        np.arange(int(offsets[-1]), dtype=np.int64) - np.repeat(offsets[:-1], sizes) + first[s_of]
    )
    scores = np.zeros(s_of.shape[0], dtype=np.float64)
    positive = s_of > 0
    scores[positive] = (2 * c_of[positive]).astype(np.float64) / s_of[positive].astype(np.float64)
    values, inverse = np.unique(-scores, return_inverse=True)
    for table in (offsets, first, inverse, values):
        table.setflags(write=False)
    return ScoreRanks(offsets[:-1].copy(), first, inverse.astype(np.int64), -values)
