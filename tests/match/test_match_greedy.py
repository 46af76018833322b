"""Greedy solving: the fast solver and the reference against anonlink's greedy_solve."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from match_oracle import anonlink_edges, anonlink_greedy

from linkage.errors import InvalidInputError
from linkage.match import (
    CandidateEdges,
    CandidatePairs,
    MatchGroups,
    dice_join,
    dice_join_multiparty,
    greedy_match,
    greedy_solve,
)
from linkage.match.reference import greedy_solve_reference

pytestmark = pytest.mark.unit

Solver = Callable[[CandidateEdges], MatchGroups]
SOLVERS = [pytest.param(greedy_solve, id="fast"), pytest.param(greedy_solve_reference, id="ref")]

nodes = st.tuples(st.integers(0, 3), st.integers(0, 5))
edges = st.lists(
    st.tuples(st.sampled_from([1.0, 0.9, 0.9, 0.85, 0.8]), nodes, nodes), min_size=0, max_size=40
)


@pytest.mark.parametrize("solver", SOLVERS)
@given(raw=edges)
@settings(max_examples=300, deadline=None)
def test_greedy_equals_anonlink_on_any_edge_order_with_ties(
    solver: Solver, raw: list[tuple[float, tuple[int, int], tuple[int, int]]]
) -> None:
    # Any order, same-dataset edges, self edges and repeated edges included: anonlink's solver
    # processes what it is given, and so must ours.
    candidates = CandidateEdges.from_tuples(raw)
    expected = anonlink_greedy(candidates, native=True)
    assert anonlink_greedy(candidates, native=False) == expected
    assert solver(candidates) == expected


@pytest.mark.parametrize("solver", SOLVERS)
def test_greedy_on_anonlink_candidates_of_three_datasets(solver: Solver) -> None:
    rng = np.random.default_rng(4)
    base = np.packbits(rng.random((60, 256)) < 0.3, axis=1).view(">u8").astype(np.uint64)
    datasets = []
    for noise in (0.02, 0.04, 0.06):
        flips = np.packbits(rng.random((60, 256)) < noise, axis=1).view(">u8").astype(np.uint64)
        datasets.append(base[rng.permutation(60)] ^ flips)
    candidates = dice_join_multiparty(datasets, 0.6)
    assert candidates.as_tuples() == anonlink_edges(datasets, 0.6).as_tuples()
    groups = solver(candidates)
    assert groups == anonlink_greedy(candidates)
    assert sum(len(g) == 3 for g in groups) > 30


def test_a_classic_tie_break() -> None:
    # a-b and a-c tie; b-c is not a candidate, so greedy takes a-b (first in order) only.
    a, b, c = (0, 0), (1, 0), (2, 0)
    candidates = CandidateEdges.from_tuples([(0.9, a, b), (0.9, a, c), (0.8, b, c)])
    assert greedy_solve(candidates) == ((a, b, c),)
    without_bc = CandidateEdges.from_tuples([(0.9, a, b), (0.9, a, c)])
    assert greedy_solve(without_bc) == ((a, b),)


def test_greedy_match_is_one_to_one_with_scores() -> None:
    rng = np.random.default_rng(9)
    left = np.packbits(rng.random((80, 512)) < 0.3, axis=1).view(">u8").astype(np.uint64)
    flips = np.packbits(rng.random((80, 512)) < 0.05, axis=1).view(">u8").astype(np.uint64)
    right = np.vstack([left ^ flips, left[:10]])
    pairs = dice_join(left, right, 0.7)
    matched = greedy_match(pairs)
    assert len(set(matched.left.tolist())) == len(matched) == len(set(matched.right.tolist()))
    groups = anonlink_greedy(pairs.to_edges())
    assert sorted(zip(matched.left.tolist(), matched.right.tolist(), strict=True)) == sorted(
        (g[0][1], g[1][1]) for g in groups
    )
    lookup = {(i, j): s for s, i, j in pairs.as_tuples()}
    assert all(lookup[(i, j)] == s for s, i, j in matched.as_tuples())
    assert len(greedy_match(CandidatePairs.empty())) == 0


bipartite = st.lists(
    st.tuples(st.sampled_from([1.0, 0.9, 0.9, 0.85]), st.integers(0, 6), st.integers(0, 6)),
    max_size=40,
    unique_by=lambda e: (e[1], e[2]),
)


@given(raw=bipartite)
@settings(max_examples=300, deadline=None)
def test_greedy_match_equals_anonlink_on_distinct_bipartite_edges_in_any_order(
    raw: list[tuple[float, int, int]],
) -> None:
    pairs = CandidatePairs(
        np.array([e[0] for e in raw]),
        np.array([e[1] for e in raw], dtype=np.int64),
        np.array([e[2] for e in raw], dtype=np.int64),
    )
    groups = anonlink_greedy(pairs.to_edges())
    matched = greedy_match(pairs)
    assert sorted(zip(matched.left.tolist(), matched.right.tolist(), strict=True)) == sorted(
        (g[0][1], g[1][1]) for g in groups
    )


def test_greedy_match_rejects_repeated_pairs() -> None:
    pairs = CandidatePairs(np.array([0.9, 0.8]), np.array([1, 1]), np.array([2, 2]))
    with pytest.raises(InvalidInputError, match="distinct"):
        greedy_match(pairs)
