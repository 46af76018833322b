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

Several records of one agency may share a group (duplicates within an agency).
:func:`greedy_one_per_agency` keeps anonlink's greedy semantics (at most one record per
agency in a group) for comparison.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from linkage.errors import ConfigError, Problem
from linkage.match import CandidateEdges, Node, greedy_solve

__all__ = ["AverageLinkClusterer", "greedy_one_per_agency"]


@dataclass(frozen=True, slots=True)
class AverageLinkClusterer:
    """Average-linkage clustering of one component (see the module docstring)."""

    join_threshold: float = 0.5
    merge_threshold: float = 0.5

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
        nodes = sorted(
            set(zip(edges.dataset_left.tolist(), edges.record_left.tolist(), strict=True))
            | set(zip(edges.dataset_right.tolist(), edges.record_right.tolist(), strict=True))
        )
        position = {node: index for index, node in enumerate(nodes)}
        # cluster id = position of its smallest node; links[c] = {other cluster: score sum}
        members: dict[int, list[int]] = {i: [i] for i in range(len(nodes))}
        links: dict[int, dict[int, float]] = {i: {} for i in range(len(nodes))}
        for score, node_a, node_b in edges.as_tuples():
            i, j = position[node_a], position[node_b]
            if i == j:
                continue
            links[i][j] = links[i].get(j, 0.0) + score
            links[j][i] = links[j].get(i, 0.0) + score
        version = dict.fromkeys(members, 0)
        heap: list[tuple[float, int, int, int, int]] = []

        def push(a: int, b: int) -> None:
            lo, hi = (a, b) if a < b else (b, a)
            linkage = links[lo][hi] / (len(members[lo]) * len(members[hi]))
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
                links[a][other] = links[a].get(other, 0.0) + total
                links[other][a] = links[other].get(a, 0.0) + total
            del version[b]
            version[a] += 1
            for other in links[a]:
                push(a, other)
        return [
            tuple(nodes[i] for i in sorted(group)) for group in members.values() if len(group) > 1
        ]


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
