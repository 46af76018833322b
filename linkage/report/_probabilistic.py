"""Threshold evidence in probabilistic mode: the matcher's Fellegi-Sunter model, read
back from its latest linkage run, scoring the blocked candidate pairs as the matcher
does. Pure except :func:`load_linker` (which reads linkage runs passed to it).

What the matcher can link is decided in three steps: blocking makes candidate pairs,
the model gives each a match weight (``log2`` of the odds that the two records are one
person) and a match probability, and pairs at or above the threshold in force become
edges. The report repeats the first two steps on the records in the index, with the
model, blocking rules and term frequencies the matcher uses, so that:

* each record's *best candidate* (its highest-scoring candidate pair, within the pairs
  the matcher may link: every pair with average-link clustering, which links an
  agency's duplicates, cross-agency pairs with greedy) shows how far it is from being
  linked; a record without any candidate pair cannot be linked at all;
* the match weights of all candidate pairs show the model's separation of matches
  from non-matches (the threshold is a weight too: ``log2(t / (1 - t))``);
* with ground truth, every labelled pair is judged, and true pairs that blocking never
  made a candidate count as missed at every threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linkage.errors import ConfigError, InvalidInputError
from linkage.probabilistic import (
    BlockingPlan,
    FellegiSunterModel,
    ProbabilisticLinker,
    TermFrequencies,
    probability_of_weight,
    rule_name,
)
from linkage.service import LinkageSettings, prior_model
from linkage.service._probabilistic import (
    effective_threshold,
    fitted_records,
    stored_blocking_plan,
    stored_model,
)
from linkage.store import LinkageRunRow
from linkage.types import Float64Array, Int64Array, PackedClks

__all__ = [
    "SCORE_DICE",
    "SCORE_PROBABILITY",
    "LoadedLinker",
    "ModelEvidence",
    "ScoredPairs",
    "WeightHistogram",
    "best_candidate_weights",
    "links_within_agency",
    "load_linker",
    "probability_weight",
    "score_candidate_pairs",
    "term_frequencies",
    "weight_histogram",
]

#: What a score is, in each linkage mode (also recorded with clerical-review samples).
SCORE_DICE = "dice"
SCORE_PROBABILITY = "match probability"
#: Pairs scored at once (their segment similarities are ``pairs x segments`` floats).
_SCORE_CHUNK = 262_144
#: Match weights beyond these are drawn in the outermost bins of the weight histogram.
_WEIGHT_RANGE = (-40.0, 60.0)


def probability_weight(probability: float) -> float:
    """The match weight of a match probability: ``log2(p / (1 - p))``."""
    if not 0.0 < probability < 1.0:
        raise InvalidInputError("a match probability must be in (0, 1)")
    return math.log2(probability / (1.0 - probability))


def links_within_agency(settings: LinkageSettings) -> bool:
    """Whether the matcher may link two records of one agency: in probabilistic mode
    with average-link clustering (an agency's duplicates join one link)."""
    return settings.probabilistic is not None and settings.clustering.method == "average_link"


@dataclass(frozen=True, slots=True)
class LoadedLinker:
    """The linker the matcher uses now, rebuilt from its latest linkage run.

    ``source`` says where the model came from: ``"fitted"`` (the latest run's model)
    or ``"prior"`` (the shipped prior: no run yet, or its model was fitted for another
    segment layout). ``plan`` is the blocking plan of ``auto`` blocking, when the run
    recorded one the layout can use."""

    linker: ProbabilisticLinker
    plan: BlockingPlan | None
    run: LinkageRunRow | None
    fitted_records: int
    source: str
    blocking_preset: str


def load_linker(settings: LinkageSettings, runs: Sequence[LinkageRunRow]) -> LoadedLinker:
    """The model, blocking rules and threshold in force, as the matcher loads them
    (``linkage.service`` does the same on start): the latest run's model and, for
    ``auto`` blocking, its plan's rules; the shipped prior before any run fitted one."""
    probabilistic = settings.probabilistic
    if probabilistic is None:
        raise InvalidInputError("the matcher links by Dice scores: it has no model")
    run = runs[0] if runs else None
    model = None if run is None else stored_model(run.model, probabilistic)
    plan = None if run is None else stored_blocking_plan(run.model)
    source = "fitted"
    fitted = 0 if run is None else fitted_records(run.model)
    if model is None:
        model = prior_model(probabilistic.hardened, probabilistic.layout)
        source, fitted = "prior", 0
    blocking = probabilistic.blocking()
    if plan is not None and probabilistic.blocking_preset == "auto":
        try:
            plan.rules.check(probabilistic.layout)
            blocking = plan.rules
        except ConfigError:
            plan = None
    else:
        plan = None
    linker = ProbabilisticLinker(
        probabilistic.layout,
        model,
        blocking,
        effective_threshold(model, settings.threshold, settings.auto_threshold),
    )
    return LoadedLinker(linker, plan, run, fitted, source, probabilistic.blocking_preset)


def term_frequencies(linker: ProbabilisticLinker, packed: PackedClks) -> TermFrequencies | None:
    """The value counts the model weighs agreements by, over ``packed`` (the index)."""
    segments = [s for s in linker.model.term_frequency_segments() if s is not None]
    return TermFrequencies.of(packed, linker.layout, segments) if segments else None


@dataclass(frozen=True, slots=True, eq=False)
class ScoredPairs:
    """Candidate pairs ``(left[p], right[p])`` (rows, ``left < right``) and their match
    weights."""

    left: Int64Array
    right: Int64Array
    weights: Float64Array

    def __len__(self) -> int:
        return int(self.left.shape[0])

    @property
    def probabilities(self) -> Float64Array:
        """Match probabilities, ``2**w / (1 + 2**w)``."""
        return probability_of_weight(self.weights)

    def where(self, keep: npt.NDArray[np.bool_]) -> ScoredPairs:
        """The pairs where ``keep`` holds."""
        return ScoredPairs(self.left[keep], self.right[keep], self.weights[keep])


def score_candidate_pairs(
    linker: ProbabilisticLinker,
    packed: PackedClks,
    agency: npt.ArrayLike,
    *,
    within_agency: bool,
    frequencies: TermFrequencies | None,
    chunk: int = _SCORE_CHUNK,
) -> ScoredPairs:
    """Every blocked candidate pair of ``packed`` that the matcher may link (pairs of one
    agency only when ``within_agency``), with the match weight the matcher gives it:
    the same pairs, similarities and term frequencies as its rebuild, scored in chunks."""
    ag = np.asarray(agency, dtype=np.int64)
    if ag.shape != (packed.shape[0],):
        raise InvalidInputError("packed and agency must have the same length")
    if chunk < 1:
        raise InvalidInputError("chunk must be positive")
    left, right = linker.candidate_pairs_within(packed)
    if not within_agency:
        cross = ag[left] != ag[right]
        left, right = left[cross], right[cross]
    weights = np.empty(left.shape[0], dtype=np.float64)
    model = linker.model
    for start in range(0, left.shape[0], chunk):
        a = left[start : start + chunk]
        b = right[start : start + chunk]
        sims = linker.similarities(packed, packed, a, b)
        tf_u = None if frequencies is None else linker.term_frequency_u(packed, a, frequencies)
        weights[start : start + a.shape[0]] = model.match_weights(sims, tf_u)
    return ScoredPairs(
        np.ascontiguousarray(left, dtype=np.int64),
        np.ascontiguousarray(right, dtype=np.int64),
        weights,
    )


def best_candidate_weights(records: int, pairs: ScoredPairs) -> Float64Array:
    """Per row ``0..records-1``, the highest match weight of its candidate pairs (NaN for
    a record without any)."""
    best = np.full(records, -np.inf)
    np.maximum.at(best, pairs.left, pairs.weights)
    np.maximum.at(best, pairs.right, pairs.weights)
    best[~np.isfinite(best)] = np.nan
    return best


@dataclass(frozen=True, slots=True, eq=False)
class WeightHistogram:
    """Counts of match weights in equal bins (weights outside ``edges`` in the outer
    bins), split at the threshold's weight: ``below[i] + above[i]`` is bin ``i``."""

    edges: Float64Array
    below: Float64Array
    above: Float64Array

    @property
    def centers(self) -> Float64Array:
        return (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def width(self) -> float:
        return float(self.edges[1] - self.edges[0])

    @property
    def total(self) -> float:
        return float(self.below.sum() + self.above.sum())


def weight_histogram(
    weights: npt.ArrayLike, threshold_weight: float, *, bin_width: float = 1.0
) -> WeightHistogram:
    """Bin match weights (NaN ignored) in bins of ``bin_width`` bits, the threshold's
    weight always on a bin edge, so that a bin lies wholly on one side of it."""
    if bin_width <= 0:
        raise InvalidInputError("bin_width must be positive")
    values = np.asarray(weights, dtype=np.float64)
    values = values[np.isfinite(values)]
    low, high = _WEIGHT_RANGE
    values = np.clip(values, low, high)
    lo = min(float(values.min()) if values.size else threshold_weight - 5, threshold_weight - 1)
    hi = max(float(values.max()) if values.size else threshold_weight + 5, threshold_weight + 1)
    first = threshold_weight - bin_width * math.ceil((threshold_weight - lo) / bin_width)
    count = max(1, math.ceil((hi - first) / bin_width + 1e-9))
    edges = first + bin_width * np.arange(count + 1, dtype=np.float64)
    index = np.clip(((values - first) / bin_width).astype(np.int64), 0, count - 1)
    above_bin = edges[:-1] >= threshold_weight - 1e-9
    counts = np.bincount(index, minlength=count).astype(np.float64)
    return WeightHistogram(
        edges, np.where(above_bin, 0.0, counts), np.where(above_bin, counts, 0.0)
    )


@dataclass(frozen=True, slots=True, eq=False)
class ModelEvidence:
    """What the probabilistic report shows besides the common sections.

    ``threshold`` is the match probability in force (with ``threshold = "auto"`` the
    model's suggestion within the matcher's bounds); ``suggested_threshold`` the
    threshold with the best F1 the model itself expects over its candidates (from the
    fit). ``within_agency``: pairs of one agency count (average-link clustering links
    an agency's duplicates). ``measured_completeness``: with ground truth, the share of
    true pairs that blocking made candidates."""

    model: FellegiSunterModel
    source: str
    run_id: int | None
    run_reason: str
    fitted_records: int
    threshold: float
    configured_threshold: float
    auto_threshold: bool
    suggested_threshold: float | None
    blocking_preset: str
    rules: tuple[str, ...]
    plan: BlockingPlan | None
    within_agency: bool
    records: int
    candidate_pairs: int
    pairs_at_threshold: int
    records_with_candidate: int
    weights: WeightHistogram
    measured_completeness: float | None = None

    @property
    def threshold_weight(self) -> float:
        return probability_weight(self.threshold)

    @property
    def pair_scope(self) -> str:
        """Which pairs the matcher may link, in words."""
        return "every pair" if self.within_agency else "pairs of records of different agencies"

    @staticmethod
    def rule_names(linker: ProbabilisticLinker) -> tuple[str, ...]:
        return tuple(rule_name(rule) for rule in linker.blocking.rules)
