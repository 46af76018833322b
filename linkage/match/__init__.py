"""The pure numpy/numba matching core: similarity joins, blocking, solving, lookup.

No I/O. CLKs are packed as ``uint64[n, l // 64]`` big-endian words (:mod:`linkage.types`).
Every Dice result equals anonlink 0.15.3's on the same input (pairs, scores, order), and
every solver result equals anonlink's ``greedy_solve`` on the same candidates.

Packing
    :func:`pack_clks` ``(ClkBytes) -> PackedClks``, :func:`unpack_clks`,
    :func:`pack_clk_bytes` ``(Sequence[bytes], bits) -> PackedClks``, :func:`popcounts`.
Similarity joins (all pairs with Dice >= threshold, or anonlink's top-k)
    :func:`dice_join` ``(left, right, threshold, *, k=None) -> CandidatePairs``,
    :func:`dice_self_join` ``(clks, threshold, *, k=None) -> CandidatePairs`` (pairs i < j),
    :func:`dice_join_multiparty` ``(datasets, threshold, *, k=None) -> CandidateEdges``.
Blocking
    :class:`HammingLsh` (bands, bits_per_band, seed; ``shares_band`` for completeness),
    :func:`blocked_dice_join` / :func:`blocked_dice_self_join` ``-> BlockedJoin`` (pairs,
    candidates verified, reduction ratio), :func:`lsh_candidates`,
    :func:`lsh_self_candidates`, :func:`blocking_report` -> :class:`BlockingReport`;
    :class:`BandHashPlan` and :func:`band_screen` ``(records, n, queries, plan) ->
    bool[n]``: which records of a large set may share a band with a few queries.
Solving
    :func:`greedy_solve` ``(CandidateEdges) -> MatchGroups``, :func:`greedy_match`
    ``(CandidatePairs) -> CandidatePairs`` (two-party 1:1), and the incremental
    :func:`update_links` with its :class:`LinkUpdate` and events, :func:`solve_components`,
    :class:`ComponentClusterer` (the pluggable clustering protocol).
Lookup
    :class:`ClkIndex` (add, remove, search -> :class:`LookupHits`, band_candidates).
Kernel paths
    :func:`kernel_path` names the code path the joins run on (``vpopcnt512`` with AVX-512
    VPOPCNTDQ, ``nibble`` on AVX2, ``portable`` elsewhere; ``cuda`` only when asked for and
    a GPU is found), chosen once from the CPU and ``LINKAGE_MATCH_KERNEL``;
    :func:`set_kernel_path` forces one, :func:`kernel_path_problems` says which can run here.
Start-up
    :func:`warm_up` loads or compiles every kernel of the path in force.
References (pure Python, same signatures, for tests)
    :mod:`linkage.match.reference`.
"""

from linkage.match._blocking import (
    BlockedJoin,
    BlockingReport,
    HammingLsh,
    blocked_dice_join,
    blocked_dice_self_join,
    blocking_report,
    lsh_candidates,
    lsh_self_candidates,
)
from linkage.match._dice import DiceRule, dice_rule
from linkage.match._greedy import MatchGroups, greedy_match, greedy_solve
from linkage.match._incremental import (
    ComponentClusterer,
    LinkCreated,
    LinkDissolved,
    LinkEvent,
    LinksMerged,
    LinkSplit,
    LinkUpdate,
    RecordsJoined,
    RecordsWithdrawn,
    canonical_edges,
    connected_components,
    solve_components,
    update_links,
)
from linkage.match._index import ClkIndex, LookupHits
from linkage.match._join import dice_join, dice_join_multiparty, dice_self_join
from linkage.match._packing import pack_clk_bytes, pack_clks, popcounts, unpack_clks
from linkage.match._paths import kernel_path, set_kernel_path
from linkage.match._paths import path_problems as kernel_path_problems
from linkage.match._results import CandidateEdges, CandidatePairs, Node
from linkage.match._screen import BandHashPlan, band_hashes, band_screen
from linkage.match._warmup import warm_up

__all__ = [
    "BandHashPlan",
    "BlockedJoin",
    "BlockingReport",
    "CandidateEdges",
    "CandidatePairs",
    "ClkIndex",
    "ComponentClusterer",
    "DiceRule",
    "HammingLsh",
    "LinkCreated",
    "LinkDissolved",
    "LinkEvent",
    "LinkSplit",
    "LinkUpdate",
    "LinksMerged",
    "LookupHits",
    "MatchGroups",
    "Node",
    "RecordsJoined",
    "RecordsWithdrawn",
    "band_hashes",
    "band_screen",
    "blocked_dice_join",
    "blocked_dice_self_join",
    "blocking_report",
    "canonical_edges",
    "connected_components",
    "dice_join",
    "dice_join_multiparty",
    "dice_rule",
    "dice_self_join",
    "greedy_match",
    "greedy_solve",
    "kernel_path",
    "kernel_path_problems",
    "lsh_candidates",
    "lsh_self_candidates",
    "pack_clk_bytes",
    "pack_clks",
    "popcounts",
    "set_kernel_path",
    "solve_components",
    "unpack_clks",
    "update_links",
    "warm_up",
]
