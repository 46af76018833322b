"""Fitting a Fellegi-Sunter model's parameters: u from random pairs, m and the match rate by
expectation-maximisation over blocked candidate pairs (used by
:meth:`linkage.probabilistic.FellegiSunterModel.fit`).

``u[s][k]`` = P(level k of segment s | non-match) and ``m[s][k]`` = P(level k | match), over
pairs where the segment is present. ``u`` comes from random pairs (for the "identical"
level, when its cut point is 1.0, from the exact frequencies of identical segments, which is
exact where sampling would see a handful of pairs). ``m`` is fitted by EM over blocked
candidate pairs with ``u`` held fixed (as Splink does), with a Dirichlet prior on every
``m[s]`` (pseudo-counts that favour agreement, so a segment that rarely varies cannot
collapse) and on the match rate. EM runs on the distinct level patterns with their counts,
in a fixed order, from a fixed start, so the same inputs give the same model bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from linkage.arrays import unique_byte_rows
from linkage.errors import ConfigError, Problem
from linkage.probabilistic._comparison import Comparison, LevelArray
from linkage.types import Float64Array

__all__ = ["MIN_PROBABILITY", "FitReport", "FitSettings", "em", "fit_u", "m_priors"]

#: The smallest probability a fitted m, u or prior may take.
MIN_PROBABILITY: Final = 1e-9


@dataclass(frozen=True, slots=True)
class FitSettings:
    """EM and prior settings of :meth:`~linkage.probabilistic.FellegiSunterModel.fit`."""

    max_iterations: int = 200
    #: stop when no m probability or the match rate moves by more than this
    tolerance: float = 1e-7
    #: Dirichlet pseudo-counts per segment on m (spread by :attr:`m_prior_shape`)
    m_prior_strength: float = 20.0
    #: the prior's share of level 0 (agreement); the rest halves level by level
    m_prior_agreement: float = 0.8
    #: Laplace pseudo-count per level on u (random pairs)
    u_pseudo_count: float = 1.0
    #: starting match rate among candidates
    initial_match_rate: float = 0.3

    def __post_init__(self) -> None:
        problems = []
        if self.max_iterations < 1:
            problems.append(Problem("max_iterations", "must be >= 1"))
        if not self.tolerance > 0:
            problems.append(Problem("tolerance", "must be > 0"))
        if self.m_prior_strength < 0:
            problems.append(Problem("m_prior_strength", "must be >= 0"))
        if not 0 < self.m_prior_agreement < 1:
            problems.append(Problem("m_prior_agreement", "must be in (0, 1)"))
        if self.u_pseudo_count <= 0:
            problems.append(Problem("u_pseudo_count", "must be > 0"))
        if not 0 < self.initial_match_rate < 1:
            problems.append(Problem("initial_match_rate", "must be in (0, 1)"))
        if problems:
            raise ConfigError("invalid fit settings", problems=problems)

    def m_prior(self, levels: int) -> Float64Array:
        rest = np.array([0.5**k for k in range(1, levels)], dtype=np.float64)
        rest = (1.0 - self.m_prior_agreement) * rest / rest.sum() if levels > 1 else rest
        shape: Float64Array = np.concatenate([[self.m_prior_agreement], rest])
        out: Float64Array = shape / shape.sum()
        return out


@dataclass(frozen=True, slots=True)
class FitReport:
    """How a model was fitted (stored with it, for the operator)."""

    candidate_pairs: int
    random_pairs: int
    total_pairs: int
    iterations: int
    converged: bool
    candidate_match_rate: float
    #: EM training sessions (0: one EM over every candidate pair)
    sessions: int = 0
    #: the threshold with the highest F1 the model itself expects over the candidates
    #: (:func:`~linkage.probabilistic.suggest_threshold`); None when not computed
    suggested_threshold: float | None = None
    #: pseudo-matches the starting model's m counted as (0: a flat prior on m)
    prior_model_strength: float = 0.0


def fit_u(
    comparisons: tuple[Comparison, ...],
    randoms: LevelArray,
    identical_u: Sequence[float | None] | None,
    settings: FitSettings,
) -> list[Float64Array]:
    rows: list[Float64Array] = []
    for column, comparison in enumerate(comparisons):
        levels = randoms[:, column]
        counts = np.bincount(levels[levels >= 0].astype(np.int64), minlength=comparison.levels)
        row = (counts + settings.u_pseudo_count) / (
            counts.sum() + settings.u_pseudo_count * comparison.levels
        )
        exact = None if identical_u is None else identical_u[column]
        if exact is not None and comparison.identical_level == 0:
            first = min(max(float(exact), MIN_PROBABILITY), 0.5)
            rest = row[1:] / row[1:].sum()
            row = np.concatenate([[first], (1.0 - first) * rest])
        rows.append(np.asarray(row, dtype=np.float64))
    return rows


def m_priors(
    comparisons: tuple[Comparison, ...],
    settings: FitSettings,
    start_m: Mapping[Comparison, Sequence[float]],
    start_strength: float,
) -> list[Float64Array]:
    """Dirichlet pseudo-counts on each comparison's m: the starting model's m (``start_m``,
    by comparison) where it has the same comparison, else the flat prior of
    :class:`FitSettings`."""
    out = []
    for comparison in comparisons:
        row = start_m.get(comparison)
        if row is not None and start_strength > 0:
            out.append(np.asarray(row, dtype=np.float64) * start_strength)
        else:
            out.append(settings.m_prior(comparison.levels) * settings.m_prior_strength)
    return out


def em(
    comparisons: tuple[Comparison, ...],
    candidates: LevelArray,
    u_rows: list[Float64Array],
    settings: FitSettings,
    priors: list[Float64Array],
    fixed_m: list[Float64Array] | None = None,
) -> tuple[list[Float64Array], float, int, bool]:
    """EM over the candidates' level patterns; with ``fixed_m`` only the match rate moves."""
    patterns, counts = unique_byte_rows(np.asarray(candidates, dtype=np.int8))
    counts_f = counts.astype(np.float64)
    n_segments = len(comparisons)
    # log u of each pattern (missing = 0), fixed throughout
    log_u = np.zeros(patterns.shape[0], dtype=np.float64)
    onehots: list[Float64Array] = []
    for s, comparison in enumerate(comparisons):
        column = patterns[:, s].astype(np.int64)
        present = column >= 0
        log_u += np.where(present, np.log(u_rows[s][np.where(present, column, 0)]), 0.0)
        onehot = np.zeros((patterns.shape[0], comparison.levels), dtype=np.float64)
        onehot[np.nonzero(present)[0], column[present]] = 1.0
        onehots.append(onehot)
    m_rows = [
        prior / prior.sum() if prior.sum() > 0 else settings.m_prior(c.levels)
        for prior, c in zip(priors, comparisons, strict=True)
    ]
    rate = settings.initial_match_rate
    converged = False
    iterations = 0
    for iterations in range(1, settings.max_iterations + 1):  # noqa: B007
        log_m = np.zeros(patterns.shape[0], dtype=np.float64)
        for s in range(n_segments):
            log_m += onehots[s] @ np.log(m_rows[s])
        match = np.log(rate) + log_m
        other = np.log1p(-rate) + log_u
        top = np.maximum(match, other)
        responsibility = np.exp(match - top) / (np.exp(match - top) + np.exp(other - top))
        weighted = responsibility * counts_f
        new_rows = []
        for s in range(n_segments):
            totals = weighted @ onehots[s] + priors[s]
            new_rows.append(np.maximum(totals / totals.sum(), MIN_PROBABILITY))
        new_rows = [row / row.sum() for row in new_rows]
        if fixed_m is not None:
            new_rows = [np.asarray(row, dtype=np.float64) for row in fixed_m]
        # a weak Beta(1, 1) prior keeps the rate inside (0, 1)
        new_rate = (weighted.sum() + 1.0) / (counts_f.sum() + 2.0)
        delta = max(
            abs(new_rate - rate),
            max(float(np.abs(a - b).max()) for a, b in zip(new_rows, m_rows, strict=True)),
        )
        m_rows, rate = new_rows, float(new_rate)
        if delta < settings.tolerance:
            converged = True
            break
    return m_rows, rate, iterations, converged
