"""Pairwise precision, recall and F1 of a clustering against the truth, over all pairs and
over cross-agency (cross-source) pairs, counted without listing pairs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["PairCounts", "Quality", "evaluate_clusters", "groups_from_labels"]


@dataclass(frozen=True)
class PairCounts:
    true: int
    found: int
    correct: int

    @property
    def precision(self) -> float:
        return self.correct / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.true if self.true else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class Quality:
    all_pairs: PairCounts
    cross_pairs: PairCounts

    def as_dict(self) -> dict[str, Any]:
        return {"all": self.all_pairs.as_dict(), "cross": self.cross_pairs.as_dict()}


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _count(groups: Iterable[Sequence[int]], sources: Sequence[int]) -> tuple[int, int]:
    """(all pairs, cross-source pairs) inside the groups."""
    total = cross = 0
    for group in groups:
        size = len(group)
        same = sum(_pairs(c) for c in Counter(sources[i] for i in group).values())
        total += _pairs(size)
        cross += _pairs(size) - same
    return total, cross


def groups_from_labels(labels: Sequence[object]) -> list[list[int]]:
    by: dict[object, list[int]] = {}
    for index, label in enumerate(labels):
        by.setdefault(label, []).append(index)
    return list(by.values())


def evaluate_clusters(
    groups: Iterable[Sequence[int]], entities: Sequence[str], sources: Sequence[int]
) -> Quality:
    """Quality of ``groups`` (record indices; singletons may be left out)."""
    groups = [list(g) for g in groups if len(g) > 1]
    true_all, true_cross = _count(groups_from_labels(entities), sources)
    found_all, found_cross = _count(groups, sources)
    # correct pairs: inside a found group and of one entity
    correct_all = correct_cross = 0
    for group in groups:
        by_entity: dict[str, list[int]] = {}
        for i in group:
            by_entity.setdefault(entities[i], []).append(i)
        a, c = _count(by_entity.values(), sources)
        correct_all += a
        correct_cross += c
    return Quality(
        PairCounts(true_all, found_all, correct_all),
        PairCounts(true_cross, found_cross, correct_cross),
    )
