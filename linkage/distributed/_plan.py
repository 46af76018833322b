"""How a join is cut into block-pair tasks, and how their results merge (pure, no I/O).

A set of ``n`` records is cut into consecutive blocks. A self-join (deduplication) runs
every block pair ``I <= J``: the diagonal ``I == J`` is a self-join of block ``I`` and
``I < J`` a join of block ``I`` (left) against block ``J`` (right). Every row of block
``I`` precedes every row of block ``J``, so each global pair ``i < j`` falls in exactly
one task, with ``i`` on the left, as the in-process :func:`linkage.match.dice_self_join`
has it. A join of two sets runs every (left block, right block) pair. Hamming-LSH
blocking decides per pair (two records are candidates when they share a band), so a
blocked join per block pair keeps exactly the pairs the blocked join of the whole keeps.

The merge adds each block's offset to its local rows and sorts the union into the
canonical order (score descending, then left, then right): the same pairs, scores and
order as the in-process join.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from linkage.errors import InvalidInputError
from linkage.match import CandidatePairs
from linkage.types import Float64Array

__all__ = ["BlockPair", "BlockPairResult", "JoinPlan", "merge_results"]


@dataclass(frozen=True, slots=True)
class BlockPair:
    """One task: left block ``left`` against right block ``right``.

    ``within`` marks a diagonal task of a self-join (block ``left`` with itself).
    """

    left: int
    right: int
    within: bool


@dataclass(frozen=True, slots=True, eq=False)
class BlockPairResult:
    """What one task sends back: the accepted pairs as block-local rows (``int32``,
    16 bytes a pair with the score), and how many comparisons it made (every pair of
    the block pair, or with blocking the LSH candidates it verified)."""

    scores: Float64Array
    left: np.ndarray
    right: np.ndarray
    comparisons: int

    @property
    def nbytes(self) -> int:
        """Bytes of the three arrays."""
        return int(self.scores.nbytes + self.left.nbytes + self.right.nbytes)


def _bounds(n: int, block_size: int) -> tuple[int, ...]:
    if n < 0:
        raise InvalidInputError("a record count must not be negative")
    if block_size < 1:
        raise InvalidInputError("block_size must be at least 1")
    return (*range(0, n, block_size), n) if n else (0,)


@dataclass(frozen=True, slots=True)
class JoinPlan:
    """The blocks of one join and its block-pair tasks.

    ``left_bounds`` (and ``right_bounds`` for a join of two sets; ``None`` within one
    set) are block boundaries: block ``b`` holds rows ``bounds[b] : bounds[b + 1]``.
    """

    left_bounds: tuple[int, ...]
    right_bounds: tuple[int, ...] | None
    tasks: tuple[BlockPair, ...]

    @classmethod
    def self_join(cls, n: int, block_size: int) -> JoinPlan:
        """Every block pair ``I <= J`` of one set of ``n`` records."""
        bounds = _bounds(n, block_size)
        blocks = len(bounds) - 1
        tasks = tuple(
            BlockPair(i, j, i == j)
            for i in range(blocks)
            for j in range(i, blocks)
            if i != j or bounds[i + 1] - bounds[i] >= 2
        )
        return cls(bounds, None, tasks)

    @classmethod
    def pair_join(cls, n_left: int, n_right: int, block_size: int) -> JoinPlan:
        """Every (left block, right block) pair of two sets."""
        left = _bounds(n_left, block_size)
        right = _bounds(n_right, block_size)
        tasks = tuple(
            BlockPair(i, j, False) for i in range(len(left) - 1) for j in range(len(right) - 1)
        )
        return cls(left, right, tasks)

    @property
    def is_self_join(self) -> bool:
        """Whether this plan joins one set with itself."""
        return self.right_bounds is None

    def block_rows(self, side: str, block: int) -> slice:
        """The rows of a block: ``side`` is ``"left"`` or ``"right"``."""
        bounds = self._side(side)
        return slice(bounds[block], bounds[block + 1])

    def blocks(self, side: str) -> int:
        """How many blocks a side has."""
        return len(self._side(side)) - 1

    @property
    def pair_space(self) -> int:
        """Every pair the join covers: ``n (n - 1) / 2`` within one set, ``n m`` between two."""
        n = self.left_bounds[-1]
        if self.right_bounds is None:
            return n * (n - 1) // 2
        return n * self.right_bounds[-1]

    def _side(self, side: str) -> tuple[int, ...]:
        if side == "left" or self.right_bounds is None:
            if side not in ("left", "right"):
                raise InvalidInputError("side must be left or right")
            return self.left_bounds
        if side != "right":
            raise InvalidInputError("side must be left or right")
        return self.right_bounds


def merge_results(
    plan: JoinPlan, results: Iterable[tuple[BlockPair, BlockPairResult]]
) -> CandidatePairs:
    """The union of every task's pairs, as global rows, in the canonical order."""
    scores: list[np.ndarray] = []
    lefts: list[np.ndarray] = []
    rights: list[np.ndarray] = []
    right_bounds = plan.left_bounds if plan.right_bounds is None else plan.right_bounds
    for task, result in results:
        if result.scores.shape[0] == 0:
            continue
        scores.append(np.asarray(result.scores, dtype=np.float64))
        lefts.append(result.left.astype(np.int64) + plan.left_bounds[task.left])
        rights.append(result.right.astype(np.int64) + right_bounds[task.right])
    if not scores:
        return CandidatePairs.empty()
    all_scores = np.concatenate(scores)
    all_left = np.concatenate(lefts)
    all_right = np.concatenate(rights)
    order = np.lexsort((all_right, all_left, -all_scores))
    return CandidatePairs.adopt(all_scores[order], all_left[order], all_right[order])
