"""A Fellegi-Sunter model over per-segment Dice similarities, learned with no PII and no labels.

The parts: comparison levels (:mod:`linkage.probabilistic._comparison`), fitting m, u and
the match rate by EM (:mod:`linkage.probabilistic._em`), the JSON form
(:mod:`linkage.probabilistic._model_json`); this module holds the model and its scores.

Scores. The match weight of a pair is ``log2(prior / (1 - prior)) + sum_s log2(m[s][k_s] /
u[s][k_s])`` over its present segments, where ``prior`` is the probability that two random
records match; the match probability is ``2**w / (1 + 2**w)``.

Term frequencies. A comparison with ``term_frequency`` set scores its identical-base level
with the value's own u when the caller passes one (``tf_u``: the share of records holding
that exact segment value, as Splink's term-frequency adjustment does): agreeing on a rare
name says more than agreeing on a common one. The mean u of the level is what the fit
estimates and what is used without a frequency.

The model is a frozen dataclass with a stable JSON form (:meth:`FellegiSunterModel.to_json`),
which an operator can read and which is stored with a linkage run so that its results can be
reproduced.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numba import prange

from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.match._kernel_primitives import function_variant, jit_kernel
from linkage.probabilistic._comparison import (
    Comparison,
    LevelArray,
    LevelRule,
    comparison_levels,
    similarity_columns,
)
from linkage.probabilistic._em import (
    MIN_PROBABILITY,
    FitReport,
    FitSettings,
    em,
    fit_u,
    m_priors,
)
from linkage.probabilistic._model_json import MODEL_FORMAT, model_document, model_parts
from linkage.types import Float64Array

__all__ = [
    "MODEL_FORMAT",
    "TF_MINIMUM_U",
    "Comparison",
    "FellegiSunterModel",
    "FitReport",
    "FitSettings",
    "LevelRule",
    "comparison_levels",
    "probability_of_weight",
    "similarity_columns",
    "suggest_threshold",
]

#: The lowest u a term-frequency adjustment may use (Splink's ``tf_minimum_u_value``).
TF_MINIMUM_U: Final = 1e-7


def _probabilities(values: Sequence[float], name: str) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if any(not (0.0 < v <= 1.0) or math.isnan(v) for v in out) or abs(sum(out) - 1.0) > 1e-6:
        raise ConfigError(
            "invalid model",
            problems=[Problem(name, "must be probabilities in (0, 1] summing to 1")],
        )
    return out


@dataclass(frozen=True, slots=True)
class FellegiSunterModel:
    """Fitted Fellegi-Sunter parameters: one ``m`` and ``u`` distribution per comparison."""

    comparisons: tuple[Comparison, ...]
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    #: probability that two random records are a match
    prior: float
    report: FitReport | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.comparisons:
            raise ConfigError("invalid model", problems=[Problem("comparisons", "empty")])
        if len(self.m) != len(self.comparisons) or len(self.u) != len(self.comparisons):
            raise ConfigError(
                "invalid model", problems=[Problem("m, u", "need one row per comparison")]
            )
        names = [c.segment for c in self.comparisons]
        if len(set(names)) != len(names):
            raise ConfigError("invalid model", problems=[Problem("comparisons", "duplicate")])
        m_rows = []
        u_rows = []
        for index, comparison in enumerate(self.comparisons):
            m_row = _probabilities(self.m[index], f"m[{comparison.segment}]")
            u_row = _probabilities(self.u[index], f"u[{comparison.segment}]")
            if len(m_row) != comparison.levels or len(u_row) != comparison.levels:
                raise ConfigError(
                    "invalid model",
                    problems=[Problem(comparison.segment, "m and u need one value per level")],
                )
            m_rows.append(m_row)
            u_rows.append(u_row)
        object.__setattr__(self, "m", tuple(m_rows))
        object.__setattr__(self, "u", tuple(u_rows))
        if not 0.0 < self.prior < 1.0:
            raise ConfigError("invalid model", problems=[Problem("prior", "must be in (0, 1)")])

    # -- scoring -------------------------------------------------------------

    @property
    def segments(self) -> tuple[str, ...]:
        """The comparisons' base segments, in order."""
        return tuple(c.segment for c in self.comparisons)

    @property
    def similarity_columns(self) -> tuple[str, ...]:
        """The segments a similarity matrix for this model holds, in order."""
        return similarity_columns(self.comparisons)

    def term_frequency_segments(self) -> tuple[str | None, ...]:
        """Per comparison, its base segment if it takes term frequencies, else None."""
        return tuple(
            c.segment if c.term_frequency and c.identical_level is not None else None
            for c in self.comparisons
        )

    def level_weights(self) -> tuple[tuple[float, ...], ...]:
        """``log2(m / u)`` of every level of every comparison."""
        return tuple(
            tuple(math.log2(m / u) for m, u in zip(m_row, u_row, strict=True))
            for m_row, u_row in zip(self.m, self.u, strict=True)
        )

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def weights_of_levels(
        self, levels: LevelArray, tf_u: Float64Array | None = None
    ) -> Float64Array:
        """Match weights of pairs given as comparison levels ``int8[pairs, comparisons]``.

        ``tf_u`` (``float64[pairs, comparisons]``, NaN where unknown) is the u of each
        pair's own value for the term-frequency comparisons: a pair at such a comparison's
        identical level then weighs ``log2(m / max(tf_u, TF_MINIMUM_U))`` instead of
        ``log2(m / u)``.
        """
        array = np.asarray(levels)
        if array.ndim != 2 or array.shape[1] != len(self.comparisons):
            raise InvalidInputError("levels must be [pairs, comparisons]")
        if tf_u is not None and np.shape(tf_u) != array.shape:
            raise InvalidInputError("tf_u must be [pairs, comparisons] like the levels")
        pairs, width = array.shape
        weights = self.level_weights()
        sizes = np.array([len(row) for row in weights], dtype=np.int64)
        # per comparison its level weights, then 0.0 (level -1, missing); a level indexes
        # that row as numpy would (from its end when negative)
        if pairs and bool(
            (array.min(axis=0) < -(sizes + 1)).any() or (array.max(axis=0) > sizes).any()
        ):
            raise InvalidInputError("levels outside a comparison's levels")
        tables = np.zeros((width, int(sizes.max(initial=0)) + 1), dtype=np.float64)
        for column, row in enumerate(weights):
            tables[column, : len(row)] = row
        levels_of = np.ascontiguousarray(array, dtype=np.int8)
        tf_levels = [
            (column, comparison.identical_level)
            for column, comparison in enumerate(self.comparisons)
            if tf_u is not None
            and comparison.term_frequency
            and comparison.identical_level is not None
        ]
        column_of = np.array([column for column, _ in tf_levels], dtype=np.int64)
        identical = np.array([level for _, level in tf_levels], dtype=np.int64)
        m_identical = np.array(
            [self.m[column][level] for column, level in tf_levels], dtype=np.float64
        )
        identical_weight = np.array(
            [weights[column][level] for column, level in tf_levels], dtype=np.float64
        )
        own = (
            np.ascontiguousarray(np.asarray(tf_u, dtype=np.float64)[:, column_of].T)
            if tf_u is not None and tf_levels
            else np.zeros((0, pairs), dtype=np.float64)
        )
        # log2(m / max(u, TF_MINIMUM_U)) of every pair's own u, computed for every pair and
        # added where it applies: the same work whether or not a pair agrees exactly (a
        # lookup's time must not tell that it found one); numpy's log2, as before
        adjusted = np.empty_like(own)
        adjust = np.empty(own.shape, dtype=np.bool_)
        serial = pairs < _SERIAL_BELOW
        if own.size:
            ratio_kernel = _tf_ratio_serial if serial else _tf_ratio_parallel
            ratio_kernel(
                levels_of, own, column_of, identical, m_identical, TF_MINIMUM_U, adjusted, adjust
            )
            np.log2(adjusted, out=adjusted)
        total = np.empty(pairs, dtype=np.float64)
        if pairs:
            weights_kernel = _weights_serial if serial else _weights_parallel
            weights_kernel(levels_of, tables, sizes, self.prior_weight, column_of, adjusted,
                           adjust, identical_weight, total)  # fmt: skip
        return total

    def match_weights(
        self, similarities: Float64Array, tf_u: Float64Array | None = None
    ) -> Float64Array:
        """Match weight of every pair of a similarity matrix (columns:
        :attr:`similarity_columns`)."""
        return self.weights_of_levels(comparison_levels(similarities, self.comparisons), tf_u)

    def score(self, similarities: Float64Array, tf_u: Float64Array | None = None) -> Float64Array:
        """Match probability of every pair of a similarity matrix (columns:
        :attr:`similarity_columns`)."""
        return probability_of_weight(self.match_weights(similarities, tf_u))

    # -- fitting ---------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        comparisons: Sequence[Comparison],
        candidate_similarities: Float64Array,
        random_similarities: Float64Array,
        *,
        total_pairs: int,
        identical_u: Sequence[float | None] | None = None,
        settings: FitSettings | None = None,
        sessions: Sequence[tuple[Float64Array, Sequence[str]]] = (),
        start: FellegiSunterModel | None = None,
        start_strength: float = 0.0,
    ) -> FellegiSunterModel:
        """Fit u on random pairs and m (and the match rate) by EM over candidate pairs.

        :param candidate_similarities: segment Dice of the blocked candidate pairs.
        :param random_similarities: segment Dice of pairs drawn at random.
        :param total_pairs: how many pairs the candidates were drawn from (all pairs of
            the data), to turn the candidates' match rate into the random-pair prior.
        :param identical_u: per comparison, the exact probability that two random records
            have identical present segments (or None to sample it too); used for level 0
            of comparisons whose first cut point is 1.0.
        :param sessions: EM training sessions, as Splink runs them: each the segment Dice
            of the pairs one training blocking rule finds and the segments that rule
            blocks on. In a session the blocked-on comparisons are left out (they agree by
            construction) and EM fits the others' m; each comparison's m is the mean over
            the sessions that fitted it (a comparison no session fits gets it from EM over
            every candidate). Pairs blocked on the date of birth separate one person from
            another of the same household far better than the union of candidates, where
            EM may settle on households. The match rate is then fitted over every
            candidate with m held fixed.
        :param start: a model fitted before (the shipped prior, or the last fit): its m of
            every comparison it shares (same base segment and rules) becomes the centre of
            that comparison's Dirichlet prior, worth ``start_strength`` pseudo-matches
            (instead of :class:`FitSettings`' flat prior). With few records, or few matches
            among them (one agency's first upload), the fit then stays near what is known;
            with many, the data decide.
        """
        settings = settings or FitSettings()
        comparisons = tuple(comparisons)
        start_m = {} if start is None else dict(zip(start.comparisons, start.m, strict=True))
        priors = m_priors(comparisons, settings, start_m, start_strength)
        candidates = comparison_levels(candidate_similarities, comparisons)
        randoms = comparison_levels(random_similarities, comparisons)
        if candidates.shape[0] == 0:
            raise InvalidInputError("fitting needs at least one candidate pair")
        if total_pairs < candidates.shape[0]:
            raise InvalidInputError("total_pairs is smaller than the number of candidate pairs")
        u_rows = fit_u(comparisons, randoms, identical_u, settings)
        u_tuple = tuple(tuple(float(v) for v in row) for row in u_rows)

        if sessions:
            fitted: list[list[Float64Array]] = [[] for _ in comparisons]
            for session_sims, blocked in sessions:
                levels = comparison_levels(session_sims, comparisons).copy()
                # a comparison that reads a blocked-on segment agrees by construction
                off = [i for i, c in enumerate(comparisons) if set(c.segments) & set(blocked)]
                levels[:, off] = -1
                if levels.shape[0] == 0:
                    continue
                rows, _, _, _ = em(comparisons, levels, u_rows, settings, priors)
                for column in range(len(comparisons)):
                    if column not in off:
                        fitted[column].append(rows[column])
            if any(not rows for rows in fitted):
                overall, _, _, _ = em(comparisons, candidates, u_rows, settings, priors)
                fitted = [rows or [overall[i]] for i, rows in enumerate(fitted)]
            fixed = [np.mean(np.stack(rows), axis=0) for rows in fitted]
            fixed = [row / row.sum() for row in fixed]
            m_rows, rate, iterations, converged = em(
                comparisons, candidates, u_rows, settings, priors, fixed_m=fixed
            )
        else:
            m_rows, rate, iterations, converged = em(
                comparisons, candidates, u_rows, settings, priors
            )
        expected_matches = rate * candidates.shape[0]
        prior = min(max(expected_matches / total_pairs, MIN_PROBABILITY), 0.5)
        report = FitReport(
            candidate_pairs=int(candidates.shape[0]),
            random_pairs=int(randoms.shape[0]),
            total_pairs=int(total_pairs),
            iterations=iterations,
            converged=converged,
            candidate_match_rate=float(rate),
            sessions=len(sessions),
            prior_model_strength=float(start_strength) if start is not None else 0.0,
        )
        model = cls(
            comparisons=comparisons,
            m=tuple(tuple(float(v) for v in row) for row in m_rows),
            u=u_tuple,
            prior=float(prior),
            report=report,
        )
        suggested = suggest_threshold(model.weights_of_levels(candidates))
        return dataclasses.replace(
            model, report=dataclasses.replace(report, suggested_threshold=suggested)
        )

    # -- JSON ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return model_document(
            self.comparisons,
            self.m,
            self.u,
            self.prior,
            self.prior_weight,
            self.level_weights(),
            self.report,
        )

    def to_json(self, *, indent: int | None = 2) -> str:
        """The model as JSON (stable: keys sorted, floats round-trip exactly)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> FellegiSunterModel:
        return cls(*model_parts(document))

    @classmethod
    def from_json(cls, text: str | bytes) -> FellegiSunterModel:
        try:
            document = json.loads(text)
        except ValueError:
            raise ConfigError("invalid model", problems=[Problem("$", "not valid JSON")]) from None
        if not isinstance(document, dict):
            raise ConfigError("invalid model", problems=[Problem("$", "not an object")])
        return cls.from_dict(document)


#: Below this many pairs the serial weight kernels run (a lookup scores a few hundred).
_SERIAL_BELOW = 4096


def _tf_ratio_impl(
    levels: Any,
    own: Any,
    column_of: Any,
    identical: Any,
    m_identical: Any,
    minimum_u: float,
    ratio: Any,
    adjust: Any,
) -> None:  # pragma: no cover - compiled
    """For the ``k``-th term-frequency comparison (column ``column_of[k]``): whether pair
    ``p`` is at its identical level with a known own u (``adjust[k, p]``), and
    ``m / max(u, minimum_u)`` (``u`` 1.0 where it is not) in ``ratio[k, p]``."""
    for p in prange(levels.shape[0]):
        for k in range(column_of.shape[0]):
            u = own[k, p]
            applies = levels[p, column_of[k]] == identical[k] and not np.isnan(u)
            adjust[k, p] = applies
            chosen = u if applies else 1.0
            ratio[k, p] = m_identical[k] / (chosen if chosen >= minimum_u else minimum_u)


def _weights_impl(
    levels: Any,
    tables: Any,
    sizes: Any,
    prior_weight: float,
    column_of: Any,
    adjusted: Any,
    adjust: Any,
    identical_weight: Any,
    total: Any,
) -> None:  # pragma: no cover - compiled
    """``total[p]``: the prior weight plus, comparison by comparison, the weight of the
    pair's level (``tables[c, level]``: a row of ``sizes[c]`` weights then 0.0, read from
    its end for a negative level) and, for the ``k``-th term-frequency comparison,
    ``adjusted[k, p] - identical_weight[k]`` where ``adjust[k, p]`` (else 0.0), added in
    that order (the order of the numpy version it replaces: the same sums, bit for bit)."""
    for p in prange(levels.shape[0]):
        value = prior_weight
        k = 0
        for c in range(levels.shape[1]):
            level = np.int64(levels[p, c])
            value += tables[c, level if level >= 0 else sizes[c] + 1 + level]
            if k < column_of.shape[0] and column_of[k] == c:
                value += adjusted[k, p] - identical_weight[k] if adjust[k, p] else 0.0
                k += 1
        total[p] = value


_tf_ratio_parallel = jit_kernel(parallel=True)(
    function_variant(_tf_ratio_impl, "_tf_ratio_parallel")
)
_tf_ratio_serial = jit_kernel()(function_variant(_tf_ratio_impl, "_tf_ratio_serial"))
_weights_parallel = jit_kernel(parallel=True)(function_variant(_weights_impl, "_weights_parallel"))
_weights_serial = jit_kernel()(function_variant(_weights_impl, "_weights_serial"))


def probability_of_weight(weights: Float64Array) -> Float64Array:
    """``2**w / (1 + 2**w)``, computed without overflow."""
    w = np.asarray(weights, dtype=np.float64)
    out: Float64Array = 1.0 / (1.0 + np.exp2(-np.clip(w, -1000.0, 1000.0)))
    return out


def suggest_threshold(weights: Float64Array) -> float | None:
    """The match probability threshold with the highest F1 the model expects.

    Over pairs scored by the model (the blocked candidates), a threshold ``t`` is expected
    to find ``sum(p >= t)`` of ``p`` true matches among ``count(p >= t)`` pairs, out of
    ``sum(p)`` true matches in all, so expected precision, recall and F1 follow from the
    probabilities alone. Thresholds are tried on a grid from 0.05 to 0.99; None without
    pairs. It is only as right as the model is calibrated; the operator report shows it
    beside the threshold in force.
    """
    p = probability_of_weight(np.asarray(weights, dtype=np.float64))
    total = float(p.sum())
    if p.size == 0 or total <= 0:
        return None
    best, best_f1 = None, -1.0
    for t in np.round(np.arange(0.05, 0.9901, 0.01), 2):
        kept = p[p >= t]
        found = float(kept.sum())
        if kept.size == 0:
            continue
        precision = found / kept.size
        recall = found / total
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        if f1 > best_f1 + 1e-12:
            best, best_f1 = float(t), f1
    return best
