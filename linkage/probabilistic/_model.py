"""A Fellegi-Sunter model over per-segment Dice similarities, learned with no PII and no labels.

Comparison levels. Each field segment's Dice is cut into levels by descending cut points:
level 0 is ``dice >= cut_points[0]`` (a cut point of 1.0 means "identical segments"), level
``k`` is ``cut_points[k-1] > dice >= cut_points[k]``, and the last level is below every cut
point. A missing segment (NaN) is level ``-1``: it contributes weight 0, neither agreement
nor disagreement.

Parameters. ``u[s][k]`` = P(level k of segment s | non-match) and ``m[s][k]`` = P(level k |
match), over pairs where the segment is present. ``u`` comes from random pairs (for the
"identical" level, when its cut point is 1.0, from the exact frequencies of identical
segments, which is exact where sampling would see a handful of pairs). ``m`` is fitted by
expectation-maximisation over blocked candidate pairs with ``u`` held fixed (as Splink
does), with a Dirichlet prior on every ``m[s]`` (pseudo-counts that favour agreement, so a
segment that rarely varies cannot collapse) and on the match rate. EM runs on the distinct
level patterns with their counts, in a fixed order, from a fixed start, so the same inputs
give the same model bit for bit.

Scores. The match weight of a pair is ``log2(prior / (1 - prior)) + sum_s log2(m[s][k_s] /
u[s][k_s])`` over its present segments, where ``prior`` is the probability that two random
records match; the match probability is ``2**w / (1 + 2**w)``.

The model is a frozen dataclass with a stable JSON form (:meth:`FellegiSunterModel.to_json`),
which an operator can read and which is stored with a linkage run so that its results can be
reproduced.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.types import Float64Array

__all__ = [
    "MODEL_FORMAT",
    "Comparison",
    "FellegiSunterModel",
    "FitReport",
    "FitSettings",
    "comparison_levels",
]

#: The ``format`` tag of a model's JSON form.
MODEL_FORMAT: Final = "linkage-fellegi-sunter/1"
LevelArray = npt.NDArray[np.int8]
_MIN_PROBABILITY: Final = 1e-9


@dataclass(frozen=True, slots=True)
class Comparison:
    """How one field segment's Dice is cut into comparison levels."""

    segment: str
    cut_points: tuple[float, ...]

    def __post_init__(self) -> None:
        cuts = tuple(float(c) for c in self.cut_points)
        object.__setattr__(self, "cut_points", cuts)
        where = f"comparison {self.segment}"
        if not cuts:
            raise ConfigError("invalid comparison", problems=[Problem(where, "needs a cut point")])
        if any(not 0.0 < c <= 1.0 for c in cuts):
            raise ConfigError(
                "invalid comparison", problems=[Problem(where, "cut points must be in (0, 1]")]
            )
        if any(a <= b for a, b in itertools.pairwise(cuts)):
            raise ConfigError(
                "invalid comparison",
                problems=[Problem(where, "cut points must be strictly descending")],
            )

    @property
    def levels(self) -> int:
        """Number of levels (missing not counted)."""
        return len(self.cut_points) + 1

    def level_labels(self) -> tuple[str, ...]:
        labels = []
        previous: float | None = None
        for cut in self.cut_points:
            if cut >= 1.0:
                labels.append("identical")
            elif previous is None:
                labels.append(f"dice >= {cut:g}")
            else:
                labels.append(f"{cut:g} <= dice < {previous:g}")
            previous = cut
        labels.append(f"dice < {self.cut_points[-1]:g}")
        return tuple(labels)


def comparison_levels(similarities: Float64Array, comparisons: Sequence[Comparison]) -> LevelArray:
    """Levels ``int8[pairs, segments]`` of a similarity matrix (``-1`` where missing)."""
    sims = np.asarray(similarities, dtype=np.float64)
    if sims.ndim != 2 or sims.shape[1] != len(comparisons):
        raise InvalidInputError(
            f"similarities must be [pairs, {len(comparisons)}], got shape {sims.shape}"
        )
    out = np.empty(sims.shape, dtype=np.int8)
    for column, comparison in enumerate(comparisons):
        values = sims[:, column]
        cuts = np.asarray(comparison.cut_points, dtype=np.float64)
        # number of cut points strictly above the value = its level
        level = (values[:, None] < cuts[None, :]).sum(axis=1)
        out[:, column] = np.where(np.isnan(values), -1, level).astype(np.int8)
    return out


@dataclass(frozen=True, slots=True)
class FitSettings:
    """EM and prior settings of :meth:`FellegiSunterModel.fit`."""

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
        return tuple(c.segment for c in self.comparisons)

    def level_weights(self) -> tuple[tuple[float, ...], ...]:
        """``log2(m / u)`` of every level of every comparison."""
        return tuple(
            tuple(math.log2(m / u) for m, u in zip(m_row, u_row, strict=True))
            for m_row, u_row in zip(self.m, self.u, strict=True)
        )

    @property
    def prior_weight(self) -> float:
        return math.log2(self.prior / (1.0 - self.prior))

    def weights_of_levels(self, levels: LevelArray) -> Float64Array:
        """Match weights of pairs given as comparison levels ``int8[pairs, segments]``."""
        array = np.asarray(levels)
        if array.ndim != 2 or array.shape[1] != len(self.comparisons):
            raise InvalidInputError("levels must be [pairs, segments]")
        total = np.full(array.shape[0], self.prior_weight, dtype=np.float64)
        for column, row in enumerate(self.level_weights()):
            table = np.concatenate([np.asarray(row, dtype=np.float64), [0.0]])
            # level -1 (missing) indexes the appended 0.0
            total += table[array[:, column].astype(np.int64)]
        return total

    def match_weights(self, similarities: Float64Array) -> Float64Array:
        """Match weight of every pair of a similarity matrix ``float64[pairs, segments]``."""
        return self.weights_of_levels(comparison_levels(similarities, self.comparisons))

    def score(self, similarities: Float64Array) -> Float64Array:
        """Match probability of every pair of a similarity matrix ``float64[pairs, segments]``."""
        return probability_of_weight(self.match_weights(similarities))

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
        """
        settings = settings or FitSettings()
        comparisons = tuple(comparisons)
        candidates = comparison_levels(candidate_similarities, comparisons)
        randoms = comparison_levels(random_similarities, comparisons)
        if candidates.shape[0] == 0:
            raise InvalidInputError("fitting needs at least one candidate pair")
        if total_pairs < candidates.shape[0]:
            raise InvalidInputError("total_pairs is smaller than the number of candidate pairs")
        u_rows = _fit_u(comparisons, randoms, identical_u, settings)
        if sessions:
            names = [c.segment for c in comparisons]
            fitted: list[list[Float64Array]] = [[] for _ in comparisons]
            for session_sims, blocked in sessions:
                levels = comparison_levels(session_sims, comparisons).copy()
                off = [names.index(b) for b in blocked if b in names]
                levels[:, off] = -1
                if levels.shape[0] == 0:
                    continue
                rows, _, _, _ = _em(comparisons, levels, u_rows, settings)
                for column in range(len(comparisons)):
                    if column not in off:
                        fitted[column].append(rows[column])
            if any(not rows for rows in fitted):
                overall, _, _, _ = _em(comparisons, candidates, u_rows, settings)
                fitted = [rows or [overall[i]] for i, rows in enumerate(fitted)]
            fixed = [np.mean(np.stack(rows), axis=0) for rows in fitted]
            fixed = [row / row.sum() for row in fixed]
            m_rows, rate, iterations, converged = _em(
                comparisons, candidates, u_rows, settings, fixed_m=fixed
            )
        else:
            m_rows, rate, iterations, converged = _em(comparisons, candidates, u_rows, settings)
        expected_matches = rate * candidates.shape[0]
        prior = min(max(expected_matches / total_pairs, _MIN_PROBABILITY), 0.5)
        report = FitReport(
            candidate_pairs=int(candidates.shape[0]),
            random_pairs=int(randoms.shape[0]),
            total_pairs=int(total_pairs),
            iterations=iterations,
            converged=converged,
            candidate_match_rate=float(rate),
            sessions=len(sessions),
        )
        return cls(
            comparisons=comparisons,
            m=tuple(tuple(float(v) for v in row) for row in m_rows),
            u=tuple(tuple(float(v) for v in row) for row in u_rows),
            prior=float(prior),
            report=report,
        )

    # -- JSON ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        weights = self.level_weights()
        out: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "prior": self.prior,
            "priorWeight": self.prior_weight,
            "comparisons": [
                {
                    "segment": c.segment,
                    "cutPoints": list(c.cut_points),
                    "levels": [
                        {"label": label, "m": m, "u": u, "weight": w}
                        for label, m, u, w in zip(
                            c.level_labels(), self.m[i], self.u[i], weights[i], strict=True
                        )
                    ],
                }
                for i, c in enumerate(self.comparisons)
            ],
        }
        if self.report is not None:
            r = self.report
            out["fit"] = {
                "candidatePairs": r.candidate_pairs,
                "randomPairs": r.random_pairs,
                "totalPairs": r.total_pairs,
                "iterations": r.iterations,
                "converged": r.converged,
                "candidateMatchRate": r.candidate_match_rate,
                "sessions": r.sessions,
            }
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """The model as JSON (stable: keys sorted, floats round-trip exactly)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> FellegiSunterModel:
        if document.get("format") != MODEL_FORMAT:
            raise ConfigError(
                "invalid model", problems=[Problem("$.format", f"must be {MODEL_FORMAT!r}")]
            )
        try:
            comparisons = []
            m_rows = []
            u_rows = []
            for item in document["comparisons"]:
                comparisons.append(
                    Comparison(str(item["segment"]), tuple(float(c) for c in item["cutPoints"]))
                )
                m_rows.append(tuple(float(level["m"]) for level in item["levels"]))
                u_rows.append(tuple(float(level["u"]) for level in item["levels"]))
            fit = document.get("fit")
            report = (
                None
                if fit is None
                else FitReport(
                    candidate_pairs=int(fit["candidatePairs"]),
                    random_pairs=int(fit["randomPairs"]),
                    total_pairs=int(fit["totalPairs"]),
                    iterations=int(fit["iterations"]),
                    converged=bool(fit["converged"]),
                    candidate_match_rate=float(fit["candidateMatchRate"]),
                    sessions=int(fit.get("sessions", 0)),
                )
            )
            prior = float(document["prior"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                "invalid model", problems=[Problem("$", f"malformed ({type(exc).__name__})")]
            ) from None
        return cls(tuple(comparisons), tuple(m_rows), tuple(u_rows), prior, report)

    @classmethod
    def from_json(cls, text: str | bytes) -> FellegiSunterModel:
        try:
            document = json.loads(text)
        except ValueError:
            raise ConfigError("invalid model", problems=[Problem("$", "not valid JSON")]) from None
        if not isinstance(document, dict):
            raise ConfigError("invalid model", problems=[Problem("$", "not an object")])
        return cls.from_dict(document)


def probability_of_weight(weights: Float64Array) -> Float64Array:
    """``2**w / (1 + 2**w)``, computed without overflow."""
    w = np.asarray(weights, dtype=np.float64)
    out: Float64Array = 1.0 / (1.0 + np.exp2(-np.clip(w, -1000.0, 1000.0)))
    return out


def _fit_u(
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
        if exact is not None and comparison.cut_points[0] >= 1.0:
            first = min(max(float(exact), _MIN_PROBABILITY), 0.5)
            rest = row[1:] / row[1:].sum()
            row = np.concatenate([[first], (1.0 - first) * rest])
        rows.append(np.asarray(row, dtype=np.float64))
    return rows


def _em(
    comparisons: tuple[Comparison, ...],
    candidates: LevelArray,
    u_rows: list[Float64Array],
    settings: FitSettings,
    fixed_m: list[Float64Array] | None = None,
) -> tuple[list[Float64Array], float, int, bool]:
    """EM over the candidates' level patterns; with ``fixed_m`` only the match rate moves."""
    patterns, counts = np.unique(candidates, axis=0, return_counts=True)
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
    priors = [settings.m_prior(c.levels) * settings.m_prior_strength for c in comparisons]
    m_rows = [settings.m_prior(c.levels) for c in comparisons]
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
            new_rows.append(np.maximum(totals / totals.sum(), _MIN_PROBABILITY))
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
