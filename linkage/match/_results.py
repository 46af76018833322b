"""Result types of the matching core: candidate pairs, multi-party candidate edges, nodes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from linkage.errors import InvalidInputError
from linkage.types import Float64Array, Int64Array

__all__ = [
    "CandidateEdges",
    "CandidatePairs",
    "Node",
]

#: A record in a multi-party problem: ``(dataset_index, record_index)``.
Node: TypeAlias = tuple[int, int]


def _frozen(values: object, dtype: type[np.generic], name: str) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True)
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, slots=True, eq=False)
class CandidatePairs:
    """Candidate pairs between a left and a right set of CLKs (or within one set).

    ``scores[i]`` is the Dice coefficient of ``left[i]`` (a row of the left set) and
    ``right[i]`` (a row of the right set). The arrays are read-only copies. Every producer in
    this package returns them in the canonical order: score descending, then ``left``
    ascending, then ``right`` ascending, which is anonlink's order; within one set,
    ``left < right``.
    """

    scores: Float64Array
    left: Int64Array
    right: Int64Array

    def __post_init__(self) -> None:
        scores = _frozen(self.scores, np.float64, "scores")
        left = _frozen(self.left, np.int64, "left")
        right = _frozen(self.right, np.int64, "right")
        if not scores.shape == left.shape == right.shape:
            raise InvalidInputError("scores, left and right must have the same length")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "left", left)
        object.__setattr__(self, "right", right)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def adopt(cls, scores: Float64Array, left: Int64Array, right: Int64Array) -> CandidatePairs:
        """Wrap arrays that nobody else references, without copying them (they are made
        read-only). For producers that build large results; others use the constructor."""
        if not (
            scores.dtype == np.float64
            and left.dtype == np.int64
            and right.dtype == np.int64
            and scores.ndim == left.ndim == right.ndim == 1
            and scores.shape == left.shape == right.shape
        ):
            return cls(scores, left, right)
        pairs = object.__new__(cls)
        for name, array in (("scores", scores), ("left", left), ("right", right)):
            array.setflags(write=False)
            object.__setattr__(pairs, name, array)
        return pairs

    @classmethod
    def empty(cls) -> CandidatePairs:
        """No pairs."""
        return cls(np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))

    def to_edges(self, left_dataset: int = 0, right_dataset: int = 1) -> CandidateEdges:
        """The same pairs as multi-party edges between two dataset indices."""
        n = len(self)
        return CandidateEdges(
            self.scores,
            np.full(n, left_dataset, dtype=np.int64),
            self.left,
            np.full(n, right_dataset, dtype=np.int64),
            self.right,
        )

    def as_tuples(self) -> list[tuple[float, int, int]]:
        """``(score, left, right)`` tuples, in order (for tests and small results)."""
        return list(zip(self.scores.tolist(), self.left.tolist(), self.right.tolist(), strict=True))


@dataclass(frozen=True, slots=True, eq=False)
class CandidateEdges:
    """Candidate edges of a multi-party problem, as anonlink's candidate-pair triple.

    Edge ``i`` joins node ``(dataset_left[i], record_left[i])`` and node
    ``(dataset_right[i], record_right[i])`` with Dice score ``scores[i]``. Solvers process
    edges in the order given; producers here use anonlink's order (score descending, then
    ``dataset_left``, ``dataset_right``, ``record_left``, ``record_right`` ascending).
    """

    scores: Float64Array
    dataset_left: Int64Array
    record_left: Int64Array
    dataset_right: Int64Array
    record_right: Int64Array

    def __post_init__(self) -> None:
        names = ("scores", "dataset_left", "record_left", "dataset_right", "record_right")
        arrays = [
            _frozen(getattr(self, name), np.float64 if name == "scores" else np.int64, name)
            for name in names
        ]
        if len({array.shape for array in arrays}) != 1:
            raise InvalidInputError("all candidate edge arrays must have the same length")
        for name, array in zip(names, arrays, strict=True):
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls) -> CandidateEdges:
        """No edges."""
        none = np.empty(0, np.int64)
        return cls(np.empty(0), none, none, none, none)

    @classmethod
    def from_tuples(cls, edges: list[tuple[float, Node, Node]]) -> CandidateEdges:
        """Build from ``(score, node_a, node_b)`` tuples, keeping their order."""
        return cls(
            np.array([e[0] for e in edges], dtype=np.float64),
            np.array([e[1][0] for e in edges], dtype=np.int64),
            np.array([e[1][1] for e in edges], dtype=np.int64),
            np.array([e[2][0] for e in edges], dtype=np.int64),
            np.array([e[2][1] for e in edges], dtype=np.int64),
        )

    def as_tuples(self) -> list[tuple[float, Node, Node]]:
        """``(score, node_a, node_b)`` tuples, in order."""
        return [
            (s, (d0, r0), (d1, r1))
            for s, d0, r0, d1, r1 in zip(
                self.scores.tolist(),
                self.dataset_left.tolist(),
                self.record_left.tolist(),
                self.dataset_right.tolist(),
                self.record_right.tolist(),
                strict=True,
            )
        ]

    def to_anonlink(
        self,
    ) -> tuple[Float64Array, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """anonlink's ``(sims, (dset_is0, dset_is1), (rec_is0, rec_is1))`` layout."""
        return (
            np.array(self.scores),
            (self.dataset_left.astype(np.uint32), self.dataset_right.astype(np.uint32)),
            (self.record_left.astype(np.uint32), self.record_right.astype(np.uint32)),
        )

    @staticmethod
    def concatenate(parts: list[CandidateEdges]) -> CandidateEdges:
        """Concatenate edge lists, keeping their order (no re-sorting)."""
        if not parts:
            return CandidateEdges.empty()
        return CandidateEdges(
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.dataset_left for p in parts]),
            np.concatenate([p.record_left for p in parts]),
            np.concatenate([p.dataset_right for p in parts]),
            np.concatenate([p.record_right for p in parts]),
        )

    def sorted(self) -> CandidateEdges:
        """A copy in anonlink's order: score desc, then both datasets, then both records."""
        order = np.lexsort(
            (
                self.record_right,
                self.record_left,
                self.dataset_right,
                self.dataset_left,
                -self.scores,
            )
        )
        return CandidateEdges(
            self.scores[order],
            self.dataset_left[order],
            self.record_left[order],
            self.dataset_right[order],
            self.record_right[order],
        )
