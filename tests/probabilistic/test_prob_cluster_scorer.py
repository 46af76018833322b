"""Average-link clustering that scores the cross pairs without an edge
(``AverageLinkClusterer(scorer=...)``, linkage/probabilistic/_cluster.py).

Besides the hand-made component of the module docstring (a third record of one person
that the blocking never compared with the second), the clusterer is compared with a naive
re-implementation of its docstring: repeatedly merge the pair of clusters with an edge
between them whose linkage (the mean score over all cross pairs; an edge's score, else the
scorer's, else 0) is the highest among those reaching their threshold (join for a
singleton, merge for two clusters of 2+), ties to the smallest members.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import ConfigError
from linkage.match import CandidateEdges, Node
from linkage.probabilistic import AverageLinkClusterer

pytestmark = pytest.mark.unit

A, B, C = (0, 1), (1, 7), (2, 3)

Scorer = Callable[[Sequence[Node], Sequence[Node]], Sequence[float]]


def _edges(items: list[tuple[float, Node, Node]]) -> CandidateEdges:
    return CandidateEdges.from_tuples(items)


def _groups(result: Sequence[Sequence[Node]]) -> set[frozenset[Node]]:
    return {frozenset(group) for group in result}


class _Recorder:
    """A scorer from a table of pair scores that records what it was asked."""

    def __init__(self, table: dict[frozenset[Node], float], default: float = 0.0) -> None:
        self.table = table
        self.default = default
        self.asked: list[frozenset[Node]] = []

    def __call__(self, left: Sequence[Node], right: Sequence[Node]) -> list[float]:
        assert len(left) == len(right)
        out = []
        for x, y in zip(left, right, strict=True):
            pair = frozenset((x, y))
            self.asked.append(pair)
            out.append(self.table.get(pair, self.default))
        return out


# the third record of one person: A-B and A-C scored, B-C never compared by the blocking
THIRD = [(0.95, A, B), (0.95, A, C)]


def test_without_a_scorer_a_missing_pair_counts_zero_and_keeps_the_third_record_apart() -> None:
    # A and B merge first; then {A, B} vs C averages (0.95 + 0) / 2 < 0.5
    groups = _groups(AverageLinkClusterer(0.5, 0.5)(_edges(THIRD)))
    assert groups == {frozenset({A, B})}


def test_with_the_real_score_of_the_missing_pair_the_third_record_joins() -> None:
    scorer = _Recorder({frozenset((B, C)): 0.9})
    groups = _groups(AverageLinkClusterer(0.5, 0.5, scorer=scorer)(_edges(THIRD)))
    assert groups == {frozenset({A, B, C})}
    # the scorer was asked for exactly the pair without an edge, once
    assert scorer.asked == [frozenset((B, C))]


def test_a_scorer_that_finds_no_match_keeps_the_third_record_apart() -> None:
    scorer = _Recorder({frozenset((B, C)): 0.02})
    groups = _groups(AverageLinkClusterer(0.5, 0.5, scorer=scorer)(_edges(THIRD)))
    assert groups == {frozenset({A, B})}
    assert scorer.asked == [frozenset((B, C))]


def test_the_scorer_is_never_asked_for_a_pair_with_an_edge() -> None:
    nodes = [(i % 3, i) for i in range(8)]
    # a chain with skips: clusters that grow along it meet pairs without an edge
    items = [(0.9, nodes[i], nodes[j]) for i in range(8) for j in (i + 1, i + 2) if j < 8]
    with_edge = {frozenset((x, y)) for _, x, y in items}
    scorer = _Recorder({}, default=0.8)
    AverageLinkClusterer(0.5, 0.5, scorer=scorer)(_edges(items))
    assert scorer.asked
    assert not set(scorer.asked) & with_edge
    assert len(scorer.asked) == len(set(scorer.asked))
    assert all(len(pair) == 2 for pair in scorer.asked)


def test_a_scorer_does_not_take_part_in_equality() -> None:
    assert AverageLinkClusterer(0.5, 0.6, scorer=_Recorder({})) == AverageLinkClusterer(0.5, 0.6)


@pytest.mark.parametrize(("join", "merge"), [(0.0, 0.5), (1.1, 1.1), (0.6, 0.5), (0.5, 1.2)])
def test_invalid_thresholds_are_refused(join: float, merge: float) -> None:
    with pytest.raises(ConfigError):
        AverageLinkClusterer(join, merge)


# -- against a naive re-implementation -----------------------------------------------------------


def _naive(
    items: list[tuple[float, Node, Node]],
    join: float,
    merge: float,
    scorer: Callable[[Node, Node], float] | None,
) -> set[frozenset[Node]]:
    nodes = sorted({n for _, x, y in items for n in (x, y)})
    edge = {frozenset((x, y)): score for score, x, y in items}
    clusters = [[n] for n in nodes]

    def score(x: Node, y: Node) -> float:
        known = edge.get(frozenset((x, y)))
        if known is not None:
            return known
        return 0.0 if scorer is None else scorer(x, y)

    while True:
        best: tuple[float, Node, Node, int, int] | None = None
        for i, j in itertools.combinations(range(len(clusters)), 2):
            a, b = clusters[i], clusters[j]
            if not any(frozenset((x, y)) in edge for x in a for y in b):
                continue
            linkage = sum(score(x, y) for x in a for y in b) / (len(a) * len(b))
            needed = join if len(a) == 1 or len(b) == 1 else merge
            if linkage < needed:
                continue
            lo, hi = sorted((min(a), min(b)))
            key = (-linkage, lo, hi, i, j)
            if best is None or key[:3] < best[:3]:
                best = key
        if best is None:
            break
        _, _, _, i, j = best
        clusters[i] = clusters[i] + clusters[j]
        del clusters[j]
    return {frozenset(c) for c in clusters if len(c) > 1}


def _component(seed: int, nodes: int, density: float) -> list[tuple[float, Node, Node]]:
    rng = random.Random(seed)
    members = [(rng.randrange(3), i) for i in range(nodes)]
    # scores on a 1/64 grid: sums are exact, so ties break the same way in both
    return [
        (rng.randrange(16, 65) / 64, x, y)
        for x, y in itertools.combinations(members, 2)
        if rng.random() < density
    ]


def _table_scorer(seed: int) -> Callable[[Node, Node], float]:
    def score(x: Node, y: Node) -> float:
        lo, hi = sorted((x, y))
        return random.Random(f"{seed}:{lo}:{hi}").randrange(0, 65) / 64

    return score


def _batched(score: Callable[[Node, Node], float], asked: list[frozenset[Node]]) -> Scorer:
    def scorer(left: Sequence[Node], right: Sequence[Node]) -> list[float]:
        asked.extend(frozenset((x, y)) for x, y in zip(left, right, strict=True))
        return [score(x, y) for x, y in zip(left, right, strict=True)]

    return scorer


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    nodes=st.integers(2, 9),
    density=st.sampled_from([0.25, 0.4, 0.7]),
    thresholds=st.sampled_from([(0.5, 0.5), (0.4, 0.7), (0.6, 0.6)]),
    scored=st.booleans(),
)
def test_clusters_equal_a_naive_average_linkage(
    seed: int, nodes: int, density: float, thresholds: tuple[float, float], scored: bool
) -> None:
    items = _component(seed, nodes, density)
    if not items:
        return
    join, merge = thresholds
    score = _table_scorer(seed) if scored else None
    asked: list[frozenset[Node]] = []
    clusterer = AverageLinkClusterer(
        join, merge, scorer=None if score is None else _batched(score, asked)
    )
    assert _groups(clusterer(_edges(items))) == _naive(items, join, merge, score)
    with_edge = {frozenset((x, y)) for _, x, y in items}
    assert not set(asked) & with_edge
    assert len(asked) == len(set(asked))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), nodes=st.integers(3, 12))
def test_with_a_scorer_the_groups_do_not_depend_on_edge_order(seed: int, nodes: int) -> None:
    items = _component(seed, nodes, 0.35)
    if not items:
        return
    score = _table_scorer(seed)
    clusterer = AverageLinkClusterer(0.45, 0.6, scorer=_batched(score, []))
    expected = _groups(clusterer(_edges(items)))
    for shuffle in range(3):
        shuffled = list(items)
        random.Random(shuffle).shuffle(shuffled)
        # a node's side of an edge does not matter either
        flipped = [
            (s, y, x) if random.Random(s + shuffle).random() < 0.5 else (s, x, y)
            for s, x, y in shuffled
        ]
        assert _groups(clusterer(_edges(flipped))) == expected


@pytest.mark.parametrize("score", [0.0, 0.49, 0.5, 0.5000001, 0.7, 1.0, float("nan")])
@pytest.mark.parametrize(("node_a", "node_b"), [(A, B), (B, A), (C, A), (A, A)])
def test_a_component_of_one_edge_is_decided_as_the_agglomeration_decides_it(
    score: float, node_a: Node, node_b: Node
) -> None:
    """One edge takes a shortcut; the same edge twice takes the agglomeration (the
    second copy is ignored): the groups are equal, exactly, and nothing is scored."""
    scorer = _Recorder({}, default=1.0)
    for clusterer in (
        AverageLinkClusterer(0.5, 0.7),
        AverageLinkClusterer(0.5, 0.7, scorer=scorer),
    ):
        one = clusterer(_edges([(score, node_a, node_b)]))
        twice = clusterer(_edges([(score, node_a, node_b), (score, node_a, node_b)]))
        assert [tuple(group) for group in one] == [tuple(group) for group in twice]
    assert scorer.asked == []
