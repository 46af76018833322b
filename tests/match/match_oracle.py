"""anonlink 0.15.3 as the oracle of the matching tests, behind a small typed facade."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from bitarray import bitarray

from linkage.match import CandidateEdges, CandidatePairs, MatchGroups, unpack_clks
from linkage.types import PackedClks

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # anonlink imports the deprecated pkg_resources
    from anonlink.candidate_generation import find_candidate_pairs  # type: ignore[import-untyped]
    from anonlink.similarities import dice_coefficient_accelerated  # type: ignore[import-untyped]
    from anonlink.solving import (  # type: ignore[import-untyped]
        greedy_solve_native,
        greedy_solve_python,
    )


def to_bitarrays(packed: PackedClks) -> list[bitarray]:
    out = []
    for row in unpack_clks(packed):
        ba = bitarray()
        ba.frombytes(row.tobytes())
        out.append(ba)
    return out


def anonlink_edges(
    datasets: Sequence[PackedClks], threshold: float, k: int | None = None
) -> CandidateEdges:
    sims, (d0, d1), (r0, r1) = find_candidate_pairs(
        [to_bitarrays(d) for d in datasets], dice_coefficient_accelerated, threshold, k=k
    )
    return CandidateEdges(
        np.frombuffer(sims, dtype=np.float64) if len(sims) else np.empty(0),
        np.array(d0, dtype=np.int64),
        np.array(r0, dtype=np.int64),
        np.array(d1, dtype=np.int64),
        np.array(r1, dtype=np.int64),
    )


def anonlink_join(
    left: PackedClks, right: PackedClks, threshold: float, k: int | None = None
) -> CandidatePairs:
    edges = anonlink_edges([left, right], threshold, k)
    return CandidatePairs(edges.scores, edges.record_left, edges.record_right)


def canonical(groups: Any) -> MatchGroups:
    return tuple(
        sorted(tuple(sorted((int(d), int(r)) for d, r in g)) for g in groups if len(g) > 1)
    )


def anonlink_greedy(edges: CandidateEdges, native: bool = True) -> MatchGroups:
    solve = greedy_solve_native if native else greedy_solve_python
    return canonical(solve(edges.to_anonlink()))
