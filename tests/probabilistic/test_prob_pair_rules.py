"""The clusterers' pair rules decide a component of one edge as the clusterers do."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.match import CandidateEdges
from linkage.probabilistic import (
    AverageLinkClusterer,
    greedy_one_per_agency,
    one_per_agency_pair_rule,
)

pytestmark = pytest.mark.unit


def _edges(rng: np.random.Generator, count: int) -> CandidateEdges:
    """Single edges with scores around the thresholds, within and across agencies."""
    scores = np.round(rng.uniform(0.2, 0.9, count), 2)
    scores[:4] = (0.5, 0.49, 0.7, 0.5)
    dataset_left = rng.integers(0, 3, count)
    dataset_right = rng.integers(0, 3, count)
    record_left = rng.integers(0, 1000, count)
    record_right = record_left + rng.integers(1, 1000, count)
    return CandidateEdges(scores, dataset_left, record_left, dataset_right, record_right)


def _one(edges: CandidateEdges, i: int) -> CandidateEdges:
    return CandidateEdges(
        edges.scores[i : i + 1],
        edges.dataset_left[i : i + 1],
        edges.record_left[i : i + 1],
        edges.dataset_right[i : i + 1],
        edges.record_right[i : i + 1],
    )


@pytest.mark.parametrize("threshold", [0.5, 0.7])
def test_average_link_pair_rule_agrees_with_its_one_edge_decision(threshold: float) -> None:
    edges = _edges(np.random.default_rng(1), 200)
    clusterer = AverageLinkClusterer(threshold, threshold)
    rule = clusterer.pair_rule(edges)
    decided = [bool(clusterer(_one(edges, i))) for i in range(len(edges))]
    assert rule.tolist() == decided
    assert any(decided)
    assert not all(decided)


def test_one_per_agency_pair_rule_agrees_with_greedy_one_per_agency() -> None:
    edges = _edges(np.random.default_rng(2), 200)
    rule = one_per_agency_pair_rule(edges)
    decided = [bool(greedy_one_per_agency(_one(edges, i))) for i in range(len(edges))]
    assert rule.tolist() == decided
    assert any(decided)
    assert not all(decided)
