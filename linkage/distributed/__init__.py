"""The batch join on a Dask distributed cluster (docs/scale-out.md).

Joins are cut into block-pair tasks; each task runs the matching core
(:mod:`linkage.match`) on one block pair of packed CLKs, and the driver merges the
results into exactly the in-process join's pairs, scores and canonical order. Dask
itself is imported only when a join first reaches a cluster (the ``dask`` extra).

Settings
    :class:`DaskJoinSettings` (``[linkage.dask]`` in ``server.toml``, read by
    :func:`parse_dask_table`).
Running joins
    :class:`DaskJoiner` ``(settings, *, on_progress=None)`` with ``self_join(clks,
    threshold, blocking) -> CandidatePairs`` and ``pair_join(left, right, threshold,
    blocking) -> CandidatePairs`` (in-process below ``min_comparisons``),
    ``run_self_join`` / ``run_pair_join`` ``-> (CandidatePairs, JoinReport)`` (always on
    the cluster), ``close()``; :class:`JoinReport` (tasks, comparisons, bytes sent).
    ``link_within(linker, packed, frequencies) -> CandidatePairs`` and
    ``run_link_within`` ``-> (CandidatePairs, LinkWithinReport)``: the probabilistic
    linker's ``link_within`` (one task per blocking rule, then scoring tasks over chunks
    of the candidates; :class:`LinkWithinReport` holds each task's time).
The pure pieces (for tests and custom drivers)
    :class:`JoinPlan` (``self_join(n, block_size)``, ``pair_join(n, m, block_size)``),
    :class:`BlockPair`, :class:`BlockPairResult`, :func:`join_block_pair` (one task),
    :func:`merge_results`.
"""

from linkage.distributed._joiner import DaskJoiner, JoinReport
from linkage.distributed._plan import BlockPair, BlockPairResult, JoinPlan, merge_results
from linkage.distributed._probabilistic import (
    LinkWithinReport,
    TaskTime,
    rule_pair_codes,
    run_link_within,
    score_chunk,
)
from linkage.distributed._settings import DaskJoinSettings, DaskTable, parse_dask_table
from linkage.distributed._tasks import join_block_pair

__all__ = [
    "BlockPair",
    "BlockPairResult",
    "DaskJoinSettings",
    "DaskJoiner",
    "DaskTable",
    "JoinPlan",
    "JoinReport",
    "LinkWithinReport",
    "TaskTime",
    "join_block_pair",
    "merge_results",
    "parse_dask_table",
    "rule_pair_codes",
    "run_link_within",
    "score_chunk",
]
