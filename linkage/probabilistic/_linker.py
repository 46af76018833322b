"""The probabilistic linker: blocking, segment similarities, Fellegi-Sunter scores, fitting.

:class:`ProbabilisticLinker` bundles what the matcher needs for one linkage run: the
segment layout of the records, a fitted :class:`FellegiSunterModel`, the blocking rules and
the match-probability threshold at or above which a pair becomes a candidate edge. Every
method is pure (arrays in, arrays out) and pair by pair deterministic, so the service can
score new records against its index and among themselves and get exactly the edges a
rebuild gets.

:func:`fit_model` learns a model from the packed records alone (no PII, no labels): u from
random pairs (and the exact frequencies of identical segments), m by EM over the blocked
candidate pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from linkage.arrays import row_groups, unique_inverse
from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.layout import SegmentLayout
from linkage.match import CandidatePairs
from linkage.probabilistic._blocking import BlockingRule, BlockingRules, ExactRule
from linkage.probabilistic._frequency import TermFrequencies
from linkage.probabilistic._model import (
    Comparison,
    FellegiSunterModel,
    FitSettings,
    similarity_columns,
)
from linkage.probabilistic._similarity import segment_dice
from linkage.types import Float64Array, Int64Array, PackedClks

__all__ = ["ProbabilisticLinker", "fit_model", "identical_segment_rate"]

#: Pairs scored at once by :meth:`ProbabilisticLinker.score` (their similarities and
#: frequencies take about 200 bytes a pair).
_SCORE_CHUNK = 1 << 21


@dataclass(frozen=True, slots=True)
class ProbabilisticLinker:
    """Blocking + segment Dice + Fellegi-Sunter match probabilities for segmented records."""

    layout: SegmentLayout
    model: FellegiSunterModel
    blocking: BlockingRules
    #: pairs with a match probability at or above this are links' candidate edges
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(
                "invalid linker", problems=[Problem("threshold", "must be in (0, 1)")]
            )
        missing = [s for s in self.model.similarity_columns if s not in self.layout.names]
        if missing:
            raise ConfigError(
                "invalid linker",
                problems=[Problem("model", f"compares segments the layout lacks: {missing}")],
            )
        self.blocking.check(self.layout)

    def candidate_pairs(
        self, packed_left: PackedClks, packed_right: PackedClks
    ) -> tuple[Int64Array, Int64Array]:
        """Blocked candidate pairs between two sets (sorted by left, then right)."""
        return self.blocking.candidate_pairs(packed_left, packed_right, self.layout)

    def candidate_pairs_within(self, packed: PackedClks) -> tuple[Int64Array, Int64Array]:
        """Blocked candidate pairs ``i < j`` within one set."""
        return self.blocking.candidate_pairs_within(packed, self.layout)

    def similarities(
        self,
        packed_left: PackedClks,
        packed_right: PackedClks,
        left_idx: Int64Array,
        right_idx: Int64Array,
    ) -> Float64Array:
        """Segment Dice of the pairs, in the model's :attr:`similarity_columns` order
        (NaN = missing)."""
        return segment_dice(
            packed_left,
            packed_right,
            left_idx,
            right_idx,
            self.layout,
            self.model.similarity_columns,
        )

    def term_frequency_u(
        self, packed_left: PackedClks, left_idx: Int64Array, frequencies: TermFrequencies
    ) -> Float64Array:
        """``float64[pairs, comparisons]``: each pair's own u for the term-frequency
        comparisons (the frequency of the left record's value; NaN elsewhere)."""
        rows = np.asarray(left_idx, dtype=np.int64)
        # column-major: each comparison's column is written (and read) in one run
        out = np.full(
            (rows.shape[0], len(self.model.comparisons)), np.nan, dtype=np.float64, order="F"
        )
        if rows.shape[0] == 0:
            return out
        unique, inverse = unique_inverse(rows)
        records = packed_left[unique]
        for column, segment in enumerate(self.model.term_frequency_segments()):
            if segment is not None and segment in frequencies.tables:
                out[:, column] = frequencies.u_of(records, segment)[inverse.reshape(-1)]
        return out

    def score(
        self,
        packed_left: PackedClks,
        packed_right: PackedClks,
        left_idx: Int64Array,
        right_idx: Int64Array,
        frequencies: TermFrequencies | None = None,
    ) -> Float64Array:
        """Match probabilities of the pairs ``(left_idx[p], right_idx[p])``; with
        ``frequencies``, agreement on a value is weighed by how common it is.

        Pairs are scored :data:`_SCORE_CHUNK` at a time (each pair's probability depends on
        its two records alone), so that a rebuild's tens of millions of candidate pairs
        never hold their similarity and frequency matrices all at once."""
        left = np.asarray(left_idx, dtype=np.int64)
        right = np.asarray(right_idx, dtype=np.int64)
        if left.shape[0] <= _SCORE_CHUNK:
            return self._score(packed_left, packed_right, left, right, frequencies)
        out = np.empty(left.shape[0], dtype=np.float64)
        for start in range(0, left.shape[0], _SCORE_CHUNK):
            stop = start + _SCORE_CHUNK
            out[start:stop] = self._score(
                packed_left, packed_right, left[start:stop], right[start:stop], frequencies
            )
        return out

    def _score(
        self,
        packed_left: PackedClks,
        packed_right: PackedClks,
        left_idx: Int64Array,
        right_idx: Int64Array,
        frequencies: TermFrequencies | None,
    ) -> Float64Array:
        sims = self.similarities(packed_left, packed_right, left_idx, right_idx)
        tf_u = (
            None
            if frequencies is None
            else self.term_frequency_u(packed_left, left_idx, frequencies)
        )
        return self.model.score(sims, tf_u)

    def link(
        self,
        packed_left: PackedClks,
        packed_right: PackedClks,
        frequencies: TermFrequencies | None = None,
    ) -> CandidatePairs:
        """Candidate pairs scoring at or above :attr:`threshold`, scored by probability, in
        the canonical order (probability descending, then left, then right)."""
        li, ri = self.candidate_pairs(packed_left, packed_right)
        return self.link_pairs(packed_left, packed_right, li, ri, frequencies)

    def link_pairs(
        self,
        packed_left: PackedClks,
        packed_right: PackedClks,
        left_idx: Int64Array,
        right_idx: Int64Array,
        frequencies: TermFrequencies | None = None,
    ) -> CandidatePairs:
        """:meth:`link` of given candidate pairs (distinct ``(left, right)`` pairs)."""
        probabilities = self.score(packed_left, packed_right, left_idx, right_idx, frequencies)
        return self._keep(left_idx, right_idx, probabilities)

    def link_within(
        self, packed: PackedClks, frequencies: TermFrequencies | None = None
    ) -> CandidatePairs:
        """:meth:`link` within one set (pairs ``i < j``).

        The candidates are held as codes (8 bytes a pair) and scored :data:`_SCORE_CHUNK`
        at a time, keeping only the pairs at or above the threshold: a rebuild's hundreds
        of millions of candidates never exist as index pairs with their probabilities."""
        n = max(int(packed.shape[0]), 1)
        codes = self.blocking.candidate_codes_within(packed, self.layout)
        left: list[Int64Array] = [np.empty(0, dtype=np.int64)]
        right: list[Int64Array] = [np.empty(0, dtype=np.int64)]
        scores: list[Float64Array] = [np.empty(0, dtype=np.float64)]
        for start in range(0, codes.shape[0], _SCORE_CHUNK):
            chunk = codes[start : start + _SCORE_CHUNK]
            li, ri = chunk // n, chunk % n
            probabilities = self._score(packed, packed, li, ri, frequencies)
            keep = probabilities >= self.threshold
            left.append(li[keep])
            right.append(ri[keep])
            scores.append(probabilities[keep])
        del codes
        return self._keep(np.concatenate(left), np.concatenate(right), np.concatenate(scores))

    def _keep(self, li: Int64Array, ri: Int64Array, probabilities: Float64Array) -> CandidatePairs:
        return keep_in_order(li, ri, probabilities, self.threshold)


def keep_in_order(
    left: Int64Array, right: Int64Array, probabilities: Float64Array, threshold: float
) -> CandidatePairs:
    """The pairs at or above ``threshold`` in the canonical order: probability descending,
    then left, then right (what every linkage of a linker returns, in-process or on a
    cluster)."""
    keep = probabilities >= threshold
    scores, kept_left, kept_right = probabilities[keep], left[keep], right[keep]
    order = np.lexsort((kept_right, kept_left, -scores))
    return CandidatePairs.adopt(
        np.ascontiguousarray(scores[order]),
        np.ascontiguousarray(kept_left[order]),
        np.ascontiguousarray(kept_right[order]),
    )


def identical_segment_rate(
    packed_left: PackedClks,
    packed_right: PackedClks | None,
    layout: SegmentLayout,
    segment: str,
) -> float | None:
    """P(two random records have identical segments | both present), exactly.

    Within one set (``packed_right`` None) over pairs of distinct records. None when fewer
    than two records (or none on a side) have the segment.
    """
    part = layout.part(segment)

    def groups(packed: PackedClks) -> tuple[np.ndarray, int]:
        values = np.ascontiguousarray(packed[:, part.start_word : part.stop_word])
        values = values[values.any(axis=1)]
        return values, int(values.shape[0])

    left, n_left = groups(packed_left)
    if packed_right is None:
        if n_left < 2:
            return None
        c = np.bincount(row_groups(left)).astype(np.float64)
        return float((c * (c - 1)).sum() / (n_left * (n_left - 1.0)))
    right, n_right = groups(packed_right)
    if n_left == 0 or n_right == 0:
        return None
    inverse = row_groups(np.concatenate([left, right]))
    size = int(inverse.max()) + 1
    cl = np.bincount(inverse[:n_left], minlength=size).astype(np.float64)
    cr = np.bincount(inverse[n_left:], minlength=size).astype(np.float64)
    return float((cl * cr).sum() / (n_left * float(n_right)))


def _random_pairs(
    n_left: int, n_right: int | None, count: int, seed: int
) -> tuple[Int64Array, Int64Array]:
    rng = np.random.default_rng(seed)
    if n_right is None:
        a = rng.integers(0, n_left, size=count, dtype=np.int64)
        b = rng.integers(0, n_left - 1, size=count, dtype=np.int64)
        b = b + (b >= a)  # a uniform other record, never the record itself
        return a, b
    return (
        rng.integers(0, n_left, size=count, dtype=np.int64),
        rng.integers(0, n_right, size=count, dtype=np.int64),
    )


def fit_model(
    layout: SegmentLayout,
    comparisons: Sequence[Comparison],
    blocking: BlockingRules,
    packed_left: PackedClks,
    packed_right: PackedClks | None = None,
    *,
    random_pairs: int = 500_000,
    seed: int = 0,
    settings: FitSettings | None = None,
    training_rules: Sequence[BlockingRule] = (),
    start: FellegiSunterModel | None = None,
    start_strength: float = 0.0,
) -> FellegiSunterModel:
    """Fit a :class:`FellegiSunterModel` on packed records alone.

    Within one set (deduplication, or every agency's records pooled, as the service holds
    them) pass ``packed_right=None``; between two sets pass both. u comes from
    ``random_pairs`` pairs drawn with ``seed`` (and, for comparisons whose first cut point
    is 1.0, from the exact rate of identical segments); m by EM over the blocked candidates,
    or, with ``training_rules`` (Splink's way, recommended), by one EM session per rule
    over the pairs it finds, each leaving out the comparisons it blocks on
    (:meth:`FellegiSunterModel.fit`), the match rate then over the blocked candidates.
    ``start`` and ``start_strength``: the model whose m the fit starts from and is drawn
    towards (:meth:`FellegiSunterModel.fit`).
    """
    comparisons = tuple(comparisons)
    columns = similarity_columns(comparisons)
    n_left = int(packed_left.shape[0])
    if packed_right is None:
        if n_left < 2:
            raise InvalidInputError("fitting within one set needs at least two records")
        li, ri = blocking.candidate_pairs_within(packed_left, layout)
        right = packed_left
        total = n_left * (n_left - 1) // 2
        ra, rb = _random_pairs(n_left, None, random_pairs, seed)
    else:
        if n_left == 0 or packed_right.shape[0] == 0:
            raise InvalidInputError("fitting between two sets needs records on both sides")
        li, ri = blocking.candidate_pairs(packed_left, packed_right, layout)
        right = packed_right
        total = n_left * int(packed_right.shape[0])
        ra, rb = _random_pairs(n_left, int(packed_right.shape[0]), random_pairs, seed)
    candidates = segment_dice(packed_left, right, li, ri, layout, columns)
    sessions = []
    for rule in training_rules:
        if packed_right is None:
            ta, tb = rule.pairs_within(packed_left, layout)
        else:
            ta, tb = rule.pairs(packed_left, packed_right, layout)
        blocked = rule.segments if isinstance(rule, ExactRule) else rule.parts
        sessions.append((segment_dice(packed_left, right, ta, tb, layout, columns), blocked))
    randoms = segment_dice(packed_left, right, ra, rb, layout, columns)
    identical = [
        identical_segment_rate(packed_left, packed_right, layout, c.segment)
        if c.identical_level == 0
        else None
        for c in comparisons
    ]
    return FellegiSunterModel.fit(
        comparisons,
        candidates,
        randoms,
        total_pairs=total,
        identical_u=identical,
        settings=settings,
        sessions=sessions,
        start=start,
        start_strength=start_strength,
    )
