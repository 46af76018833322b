"""The work of one block-pair task, run on a Dask worker (pure: arrays in, arrays out).

It runs the matching core unchanged on one block pair and returns compact arrays. It
never logs, and the core's errors never carry CLKs, so nothing a worker reports about
a failed task holds CLK data.
"""

from __future__ import annotations

import numpy as np

from linkage.distributed._plan import BlockPairResult
from linkage.match import (
    CandidatePairs,
    HammingLsh,
    blocked_dice_join,
    blocked_dice_self_join,
    dice_join,
    dice_self_join,
)
from linkage.types import PackedClks

__all__ = ["join_block_pair"]


def join_block_pair(
    left: PackedClks,
    right: PackedClks | None,
    threshold: float,
    blocking: HammingLsh | None,
) -> BlockPairResult:
    """Candidate pairs of one block pair, as block-local rows.

    ``right is None`` is a diagonal task: the self-join of ``left`` (pairs ``i < j``).
    With ``blocking``, the blocked join of the core (pairs sharing an LSH band), and
    ``comparisons`` counts the candidates it verified.
    """
    pairs: CandidatePairs
    n = left.shape[0]
    if right is None:
        if blocking is None:
            pairs = dice_self_join(left, threshold)
            comparisons = n * (n - 1) // 2
        else:
            blocked = blocked_dice_self_join(left, threshold, blocking)
            pairs, comparisons = blocked.pairs, blocked.candidate_pairs
    elif blocking is None:
        pairs = dice_join(left, right, threshold)
        comparisons = n * right.shape[0]
    else:
        blocked = blocked_dice_join(left, right, threshold, blocking)
        pairs, comparisons = blocked.pairs, blocked.candidate_pairs
    return BlockPairResult(
        scores=np.ascontiguousarray(pairs.scores, dtype=np.float64),
        left=pairs.left.astype(np.int32),
        right=pairs.right.astype(np.int32),
        comparisons=int(comparisons),
    )
