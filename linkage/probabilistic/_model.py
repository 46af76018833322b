"""A Fellegi-Sunter model over per-segment Dice similarities, learned with no PII and no labels.

Comparison levels. A comparison looks at one field segment (its *base*) and, optionally, at
segments derived from the same field (a phonetic key, a date with day and month sorted).
Its levels are ordered rules ``(segment, min_dice)``; a pair is at the first level whose
rule holds (the segment's Dice is at least ``min_dice``; 1.0 means "identical"), else at
the last level ("none of these"). The simple form cuts the base segment's Dice by
descending cut points: level 0 is ``dice >= cut_points[0]``, level ``k`` is
``cut_points[k-1] > dice >= cut_points[k]``. A missing base segment (NaN) is level ``-1``:
it contributes weight 0, neither agreement nor disagreement; a rule on a derived segment
that is missing on either side does not hold.

Term frequencies. A comparison with ``term_frequency`` set scores its identical-base level
with the value's own u when the caller passes one (``tf_u``: the share of records holding
that exact segment value, as Splink's term-frequency adjustment does): agreeing on a rare
name says more than agreeing on a common one. The mean u of the level is what the fit
estimates and what is used without a frequency.

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

import dataclasses
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
    "LevelRule",
    "comparison_levels",
    "similarity_columns",
    "suggest_threshold",
]

#: The ``format`` tag of a model's JSON form (``/1``, cut points only, is still read).
MODEL_FORMAT: Final = "linkage-fellegi-sunter/2"
_MODEL_FORMAT_1: Final = "linkage-fellegi-sunter/1"
#: The lowest u a term-frequency adjustment may use (Splink's ``tf_minimum_u_value``).
TF_MINIMUM_U: Final = 1e-7
LevelArray = npt.NDArray[np.int8]
_MIN_PROBABILITY: Final = 1e-9


@dataclass(frozen=True, slots=True)
class LevelRule:
    """A comparison level that holds when segment ``segment`` of the two records has a Dice
    of at least ``min_dice`` (1.0: identical), and so does every ``(segment, min_dice)``
    of ``also`` (a joint level, e.g. same family name *and* same street: correlated
    agreements whose u is measured together instead of multiplied)."""

    segment: str
    min_dice: float
    also: tuple[tuple[str, float], ...] = ()

    def conditions(self) -> tuple[tuple[str, float], ...]:
        return ((self.segment, self.min_dice), *self.also)

    def label(self, base: str, previous_on_base: float | None) -> str:
        def one(segment: str, min_dice: float) -> str:
            where = "" if segment == base else f"{segment} "
            return f"{where}identical" if min_dice >= 1.0 else f"{where}dice >= {min_dice:g}"

        if self.also:
            return " and ".join(one(s, d) for s, d in self.conditions())
        if self.min_dice >= 1.0 or previous_on_base is None or self.segment != base:
            return one(self.segment, self.min_dice)
        return f"{self.min_dice:g} <= dice < {previous_on_base:g}"


@dataclass(frozen=True, slots=True)
class Comparison:
    """How one field's agreement is cut into comparison levels.

    ``Comparison(segment, cut_points)`` cuts the base segment's Dice; ``rules`` (ordered,
    first match wins) may also name derived segments, e.g. ``(LevelRule("given_name", 1.0),
    LevelRule("given_key", 1.0), LevelRule("given_name", 0.8))``: identical names, then
    names of one nickname and sound, then similar spellings. Rules on the base segment must
    have strictly descending ``min_dice``. ``term_frequency`` marks a comparison whose
    identical-base level may be scored with the value's own frequency (module docstring).
    """

    segment: str
    cut_points: tuple[float, ...] = ()
    rules: tuple[LevelRule, ...] = ()
    term_frequency: bool = False

    def __post_init__(self) -> None:
        where = f"comparison {self.segment}"
        problems: list[Problem] = []
        cuts = tuple(float(c) for c in self.cut_points)
        rules = tuple(
            LevelRule(
                str(r.segment),
                float(r.min_dice),
                tuple((str(seg), float(d)) for seg, d in r.also),
            )
            for r in self.rules
        )
        if cuts and rules:
            problems.append(Problem(where, "give cut points or rules, not both"))
        if not rules:
            rules = tuple(LevelRule(self.segment, c) for c in cuts)
        if not rules:
            problems.append(Problem(where, "needs a cut point"))
        if any(not 0.0 < d <= 1.0 for r in rules for _, d in r.conditions()):
            problems.append(Problem(where, "cut points must be in (0, 1]"))
        on_base = [r.min_dice for r in rules if r.segment == self.segment and not r.also]
        if not on_base:
            problems.append(Problem(where, "needs a rule on its own segment"))
        if any(a <= b for a, b in itertools.pairwise(on_base)):
            problems.append(Problem(where, "cut points must be strictly descending"))
        if len(set(rules)) != len(rules):
            problems.append(Problem(where, "rules must be distinct"))
        if problems:
            raise ConfigError("invalid comparison", problems=problems)
        object.__setattr__(self, "rules", rules)
        simple = all(r.segment == self.segment and not r.also for r in rules)
        object.__setattr__(self, "cut_points", tuple(r.min_dice for r in rules) if simple else ())

    @property
    def levels(self) -> int:
        """Number of levels (missing not counted)."""
        return len(self.rules) + 1

    @property
    def segments(self) -> tuple[str, ...]:
        """The segments its rules read, the base first."""
        out = [self.segment]
        for rule in self.rules:
            for segment, _ in rule.conditions():
                if segment not in out:
                    out.append(segment)
        return tuple(out)

    @property
    def identical_level(self) -> int | None:
        """The level of identical base segments, if a rule gives one."""
        for level, rule in enumerate(self.rules):
            if rule.segment == self.segment and rule.min_dice >= 1.0 and not rule.also:
                return level
        return None

    def level_labels(self) -> tuple[str, ...]:
        labels = []
        previous: float | None = None
        for rule in self.rules:
            labels.append(rule.label(self.segment, previous))
            if rule.segment == self.segment and not rule.also:
                previous = rule.min_dice
        on_base = [r.min_dice for r in self.rules if r.segment == self.segment and not r.also]
        labels.append(f"dice < {on_base[-1]:g}" if len(on_base) == len(self.rules) else "other")
        return tuple(labels)


def similarity_columns(comparisons: Sequence[Comparison]) -> tuple[str, ...]:
    """The segments whose Dice :func:`comparison_levels` reads, in its column order: every
    comparison's base segment in order, then the derived segments their rules name."""
    names = [c.segment for c in comparisons]
    for comparison in comparisons:
        for name in comparison.segments:
            if name not in names:
                names.append(name)
    return tuple(names)


def comparison_levels(similarities: Float64Array, comparisons: Sequence[Comparison]) -> LevelArray:
    """Levels ``int8[pairs, comparisons]`` of a similarity matrix whose columns are
    :func:`similarity_columns` of the comparisons: ``-1`` where the base segment is
    missing and no rule holds (a joint level may hold on other segments)."""
    sims = np.asarray(similarities, dtype=np.float64)
    columns = similarity_columns(comparisons)
    if sims.ndim != 2 or sims.shape[1] != len(columns):
        raise InvalidInputError(
            f"similarities must be [pairs, {len(columns)}], got shape {sims.shape}"
        )
    position = {name: i for i, name in enumerate(columns)}
    out = np.empty((sims.shape[0], len(comparisons)), dtype=np.int8)
    for column, comparison in enumerate(comparisons):
        base = sims[:, position[comparison.segment]]
        level = np.full(sims.shape[0], len(comparison.rules), dtype=np.int64)
        decided = np.zeros(sims.shape[0], dtype=bool)
        for number, rule in enumerate(comparison.rules):
            holds = ~decided
            for segment, min_dice in rule.conditions():
                # NaN (missing) never satisfies a condition
                holds &= sims[:, position[segment]] >= min_dice
            level[holds] = number
            decided |= holds
        out[:, column] = np.where(np.isnan(base) & ~decided, -1, level).astype(np.int8)
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
    #: the threshold with the highest F1 the model itself expects over the candidates
    #: (:func:`suggest_threshold`); None when not computed
    suggested_threshold: float | None = None
    #: pseudo-matches the starting model's m counted as (0: a flat prior on m)
    prior_model_strength: float = 0.0


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
        total = np.full(array.shape[0], self.prior_weight, dtype=np.float64)
        for column, row in enumerate(self.level_weights()):
            table = np.concatenate([np.asarray(row, dtype=np.float64), [0.0]])
            # level -1 (missing) indexes the appended 0.0
            total += table[array[:, column].astype(np.int64)]
            comparison = self.comparisons[column]
            identical = comparison.identical_level
            if tf_u is None or not comparison.term_frequency or identical is None:
                continue
            own = np.asarray(tf_u[:, column], dtype=np.float64)
            adjust = (array[:, column] == identical) & ~np.isnan(own)
            if adjust.any():
                m = self.m[column][identical]
                total[adjust] += np.log2(m / np.maximum(own[adjust], TF_MINIMUM_U)) - row[identical]
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
        priors = _m_priors(comparisons, settings, start, start_strength)
        candidates = comparison_levels(candidate_similarities, comparisons)
        randoms = comparison_levels(random_similarities, comparisons)
        if candidates.shape[0] == 0:
            raise InvalidInputError("fitting needs at least one candidate pair")
        if total_pairs < candidates.shape[0]:
            raise InvalidInputError("total_pairs is smaller than the number of candidate pairs")
        u_rows = _fit_u(comparisons, randoms, identical_u, settings)
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
                rows, _, _, _ = _em(comparisons, levels, u_rows, settings, priors)
                for column in range(len(comparisons)):
                    if column not in off:
                        fitted[column].append(rows[column])
            if any(not rows for rows in fitted):
                overall, _, _, _ = _em(comparisons, candidates, u_rows, settings, priors)
                fitted = [rows or [overall[i]] for i, rows in enumerate(fitted)]
            fixed = [np.mean(np.stack(rows), axis=0) for rows in fitted]
            fixed = [row / row.sum() for row in fixed]
            m_rows, rate, iterations, converged = _em(
                comparisons, candidates, u_rows, settings, priors, fixed_m=fixed
            )
        else:
            m_rows, rate, iterations, converged = _em(
                comparisons, candidates, u_rows, settings, priors
            )
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
        weights = self.level_weights()
        out: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "prior": self.prior,
            "priorWeight": self.prior_weight,
            "comparisons": [
                {
                    "segment": c.segment,
                    "rules": [_rule_json(r) for r in c.rules],
                    "termFrequency": c.term_frequency,
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
                "suggestedThreshold": r.suggested_threshold,
                "priorModelStrength": r.prior_model_strength,
            }
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """The model as JSON (stable: keys sorted, floats round-trip exactly)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> FellegiSunterModel:
        version = document.get("format")
        if version not in (MODEL_FORMAT, _MODEL_FORMAT_1):
            raise ConfigError(
                "invalid model", problems=[Problem("$.format", f"must be {MODEL_FORMAT!r}")]
            )
        try:
            comparisons = []
            m_rows = []
            u_rows = []
            for item in document["comparisons"]:
                if version == _MODEL_FORMAT_1:
                    comparison = Comparison(
                        str(item["segment"]), tuple(float(c) for c in item["cutPoints"])
                    )
                else:
                    comparison = Comparison(
                        str(item["segment"]),
                        rules=tuple(
                            LevelRule(
                                str(r["segment"]),
                                float(r["minDice"]),
                                tuple(
                                    (str(a["segment"]), float(a["minDice"]))
                                    for a in r.get("also", ())
                                ),
                            )
                            for r in item["rules"]
                        ),
                        term_frequency=bool(item.get("termFrequency", False)),
                    )
                comparisons.append(comparison)
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
                    suggested_threshold=(
                        None
                        if fit.get("suggestedThreshold") is None
                        else float(fit["suggestedThreshold"])
                    ),
                    prior_model_strength=float(fit.get("priorModelStrength", 0.0)),
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


def _rule_json(rule: LevelRule) -> dict[str, Any]:
    out: dict[str, Any] = {"segment": rule.segment, "minDice": rule.min_dice}
    if rule.also:
        out["also"] = [{"segment": s, "minDice": d} for s, d in rule.also]
    return out


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
        if exact is not None and comparison.identical_level == 0:
            first = min(max(float(exact), _MIN_PROBABILITY), 0.5)
            rest = row[1:] / row[1:].sum()
            row = np.concatenate([[first], (1.0 - first) * rest])
        rows.append(np.asarray(row, dtype=np.float64))
    return rows


def _m_priors(
    comparisons: tuple[Comparison, ...],
    settings: FitSettings,
    start: FellegiSunterModel | None,
    start_strength: float,
) -> list[Float64Array]:
    """Dirichlet pseudo-counts on each comparison's m: the starting model's m where it has
    the same comparison, else the flat prior of :class:`FitSettings`."""
    known = {} if start is None else dict(zip(start.comparisons, start.m, strict=True))
    out = []
    for comparison in comparisons:
        row = known.get(comparison)
        if row is not None and start_strength > 0:
            out.append(np.asarray(row, dtype=np.float64) * start_strength)
        else:
            out.append(settings.m_prior(comparison.levels) * settings.m_prior_strength)
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


def _em(
    comparisons: tuple[Comparison, ...],
    candidates: LevelArray,
    u_rows: list[Float64Array],
    settings: FitSettings,
    priors: list[Float64Array],
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
