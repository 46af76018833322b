"""Clustering that links and deduplicates at once, and resists chaining through weak edges.

:class:`AverageLinkClusterer` is a :class:`linkage.match.ComponentClusterer`: it maps one
connected component's edges (scores are match probabilities) to groups. It is
agglomerative average-linkage clustering with two thresholds:

* the *linkage* of two clusters is the mean edge score over all their cross pairs, a pair
  without an edge counting as 0 (no evidence is not evidence of a match);
* a singleton joins a cluster (or another singleton) when the linkage is at least
  ``join_threshold``; two clusters of two or more records merge only when it is at least
  ``merge_threshold`` (>= ``join_threshold``). One weak edge between two established
  clusters therefore never merges them, while a new record joins the cluster it matches;
* the best linkage is merged first; ties go to the pair of clusters with the smaller
  smallest members (node order), so the result is a function of the component's edges only
  (link IDs stay stable in the incremental index).

* with a ``scorer``, a cross pair without an edge is scored when the linkage needs it
  (the records were never a candidate pair of the blocking, or scored below the edge
  threshold): the linkage is then the mean of real match probabilities, so a third record
  of one person is not kept apart merely because the blocking never compared it with the
  second. The scorer must be a function of the two records alone, so the result still
  depends only on the component's records and edges.

Several records of one agency may share a group (duplicates within an agency).
:func:`greedy_one_per_agency` keeps anonlink's greedy semantics (at most one record per
agency in a group) for comparison.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from linkage.errors import ConfigError, Problem
from linkage.match import CandidateEdges, Node, greedy_solve

__all__ = ["AverageLinkClusterer", "PairScorer", "greedy_one_per_agency"]

#: Scores record pairs that have no edge: ``(left nodes, right nodes) -> probabilities``.
PairScorer = Callable[[Sequence[Node], Sequence[Node]], Sequence[float]]


@dataclass(frozen=True, slots=True)
class AverageLinkClusterer:
    """Average-linkage clustering of one component (see the module docstring)."""

    join_threshold: float = 0.5
    merge_threshold: float = 0.5
    #: scores cross pairs without an edge (module docstring); None counts them 0
    scorer: PairScorer | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.join_threshold <= 1.0:
            raise ConfigError(
                "invalid clusterer", problems=[Problem("join_threshold", "must be in (0, 1]")]
            )
        if not self.join_threshold <= self.merge_threshold <= 1.0:
            raise ConfigError(
                "invalid clusterer",
                problems=[Problem("merge_threshold", "must be in [join_threshold, 1]")],
            )

    def __call__(self, edges: CandidateEdges, /) -> Sequence[Sequence[Node]]:
        if len(edges) == 1:
            return self._one_edge(edges)
        nodes = sorted(
            set(zip(edges.dataset_left.tolist(), edges.record_left.tolist(), strict=True))
            | set(zip(edges.dataset_right.tolist(), edges.record_right.tolist(), strict=True))
        )
        position = {node: index for index, node in enumerate(nodes)}
        # cluster id = position of its smallest node; links[c] = {other cluster: score sum}
        members: dict[int, list[int]] = {i: [i] for i in range(len(nodes))}
        links: dict[int, dict[int, float]] = {i: {} for i in range(len(nodes))}
        # pairs of records whose score is known (an edge, or scored): score by pair
        known: dict[tuple[int, int], float] = {}
        for score, node_a, node_b in edges.as_tuples():
            i, j = position[node_a], position[node_b]
            if i == j or (min(i, j), max(i, j)) in known:
                continue
            known[(min(i, j), max(i, j))] = score
            links[i][j] = links[i].get(j, 0.0) + score
            links[j][i] = links[j].get(i, 0.0) + score
        # per cluster pair: how many of its record pairs the score sum in links covers
        covered: dict[tuple[int, int], int] = dict.fromkeys(known, 1)
        version = dict.fromkeys(members, 0)
        heap: list[tuple[float, int, int, int, int]] = []
        scorer = self.scorer

        def complete(lo: int, hi: int) -> None:
            """Score the cross pairs of two clusters that have no score yet."""
            assert scorer is not None
            missing = [
                (min(i, j), max(i, j))
                for i in members[lo]
                for j in members[hi]
                if (min(i, j), max(i, j)) not in known
            ]
            if missing:
                scores = scorer([nodes[i] for i, _ in missing], [nodes[j] for _, j in missing])
                total = 0.0
                for pair, score in zip(missing, scores, strict=True):
                    known[pair] = float(score)
                    total += float(score)
                links[lo][hi] += total
                links[hi][lo] += total
            covered[(lo, hi)] = len(members[lo]) * len(members[hi])

        def push(a: int, b: int) -> None:
            lo, hi = (a, b) if a < b else (b, a)
            size = len(members[lo]) * len(members[hi])
            if scorer is not None and covered.get((lo, hi), 0) < size:
                complete(lo, hi)
            linkage = links[lo][hi] / size
            heapq.heappush(heap, (-linkage, lo, hi, version[lo], version[hi]))

        for i in range(len(nodes)):
            for j in links[i]:
                if i < j:
                    push(i, j)
        while heap:
            negative, a, b, version_a, version_b = heapq.heappop(heap)
            if a not in members or b not in members:
                continue
            if version[a] != version_a or version[b] != version_b:
                continue
            singleton = len(members[a]) == 1 or len(members[b]) == 1
            needed = self.join_threshold if singleton else self.merge_threshold
            if -negative < needed:
                continue
            # merge b into a (a < b, so the id stays the smallest member)
            members[a].extend(members.pop(b))
            for other, total in links.pop(b).items():
                del links[other][b]
                if other == a:
                    continue
                count_b = covered.pop((min(b, other), max(b, other)), 0)
                count_a = covered.pop((min(a, other), max(a, other)), 0)
                links[a][other] = links[a].get(other, 0.0) + total
                links[other][a] = links[other].get(a, 0.0) + total
                # pairs across (a + b, other): those across (a, other) and (b, other)
                covered[(min(a, other), max(a, other))] = count_a + count_b
            del version[b]
            version[a] += 1
            for other in links[a]:
                push(a, other)
        return [
            tuple(nodes[i] for i in sorted(group)) for group in members.values() if len(group) > 1
        ]

    def _one_edge(self, edges: CandidateEdges) -> Sequence[Sequence[Node]]:
        """A component of one edge (most of a rebuild's): what the agglomeration decides
        for it, without its bookkeeping. Two singletons join when their edge's score (the
        linkage of a single pair) is not below ``join_threshold``; nothing is scored."""
        ((score, node_a, node_b),) = edges.as_tuples()
        if node_a == node_b or score < self.join_threshold:
            return []
        return [(node_a, node_b) if node_a < node_b else (node_b, node_a)]

    def pair_rule(self, edges: CandidateEdges, /) -> npt.NDArray[np.bool_]:
        """:meth:`_one_edge` for many components of one edge at once (a
        :class:`~linkage.match._incremental.PairRule`): whether each edge joins its two
        records, that is whether its score is not below ``join_threshold``."""
        joined: npt.NDArray[np.bool_] = ~(edges.scores < self.join_threshold)
        return joined


def greedy_one_per_agency(edges: CandidateEdges, /) -> Sequence[Sequence[Node]]:
    """anonlink's greedy solving over edges between different agencies (datasets) only:
    at most one record per agency in a group (the service's ``cross_agency_greedy``)."""
    keep = edges.dataset_left != edges.dataset_right
    return greedy_solve(
        CandidateEdges(
            edges.scores[keep],
            edges.dataset_left[keep],
            edges.record_left[keep],
            edges.dataset_right[keep],
            edges.record_right[keep],
        )
    )


def one_per_agency_pair_rule(edges: CandidateEdges, /) -> npt.NDArray[np.bool_]:
    """:func:`greedy_one_per_agency` for many components of one edge at once (a
    :class:`~linkage.match._incremental.PairRule`): an edge groups its two records when they
    are of different agencies."""
    joined: npt.NDArray[np.bool_] = edges.dataset_left != edges.dataset_right
    return joined
