"""Probabilistic linkage in the service: segmented CLKs scored with a Fellegi-Sunter model.

With ``[linkage.probabilistic]`` the matcher links CLKs that carry per-field segments
(``record CLK || segments``, :mod:`linkage.encode`'s ``segments`` block): candidate pairs
come from the default blocking rules, each pair's segment Dice vector is scored by a
Fellegi-Sunter model, and a pair whose match probability reaches the linkage threshold
becomes a candidate edge (its score is the probability). Clustering then works as in Dice
mode; ``average_link`` is the duplicate-aware choice.

The model:

* starts as the shipped prior (:func:`prior_model`: fitted by scripts/gen_prior_model.py on
  synthetic multi-agency data; m and u describe the schema and messy data, not the key);
* is refitted on the matcher's own records at every rebuild (no PII, no labels: u from
  random pairs, m by EM drawn towards the shipped prior's m), once enough records are
  held, and stored with the run, so the run can be reproduced and the operator can read
  the fitted parameters;
* is refitted by the matcher itself as the index grows (``auto_refit``: once
  ``min_fit_records`` are held, then whenever the index has grown by ``refit_growth``
  since the last fit), which relinks every record with the new model, link IDs carried
  over and every change in the event log, so incremental linkage does not stay on the
  shipped prior until an operator thinks of rebuilding;
* is reloaded from the latest run on start and whenever another process ran a rebuild.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from linkage.arrays import unique_sorted
from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.match import ClkIndex
from linkage.probabilistic import (
    BlockingPlan,
    BlockingRules,
    Comparison,
    FellegiSunterModel,
    ProbabilisticLinker,
    SegmentLayout,
    TermFrequencies,
    applicable_rules,
    comparison_levels,
    default_blocking,
    default_blocking_ladder,
    default_comparisons,
    default_training_rules,
    estimate_pair_completeness,
    fit_model,
    has_key_segments,
    plan_blocking,
    probability_of_weight,
)
from linkage.types import PackedClks

__all__ = [
    "AUTO_THRESHOLD_BOUNDS",
    "LOOKUP_PREFILTER_DICE",
    "FittedLinker",
    "ProbabilisticSettings",
    "effective_threshold",
    "fit_linker",
    "fitted_records",
    "prior_model",
    "search_index",
    "stored_blocking_plan",
    "stored_model",
]

#: Fewest records a rebuild refits the model on (below it, the current model is kept).
MIN_FIT_RECORDS_DEFAULT = 1000
#: Most records a rebuild fits the model on: above it, a seeded random sample of this many
#: (the fit's EM dominated a million-record rebuild: about 17 of its 22 minutes).
FIT_SAMPLE_RECORDS_DEFAULT = 200_000
#: Records of the index scored per lookup (the best by whole-CLK Dice).
LOOKUP_CANDIDATES_DEFAULT = 200
#: A lookup's whole-CLK Dice below which an indexed record is not even scored. Unrelated
#: hardened records score about 0.4-0.5; on 230,000 realistic records a query's 200th
#: nearest record scored 0.54-0.58 and 98.7 % of queries' own person at least 0.5 (the
#: rest not among the nearest 200 at any cut), so 0.5 loses nothing the top-200 keeps and
#: spares the scan most of its top-k bookkeeping (3x faster).
LOOKUP_PREFILTER_DICE = 0.5
#: The blocking rule sets (docs/quality.md, "Blocking"): ``auto`` (the default: planned by
#: the matcher at every fit from the index size and its data, as many rules as a budget of
#: candidate pairs per record affords, with an estimate of the true pairs kept),
#: ``large`` (measured from 5 * 10^4 to 10^6 records, a few to 27 candidate pairs per
#: record), ``medium`` (10^4 to 10^5 records; its candidates grow with the square of the
#: records, 383 per record at 10^5) and ``small`` (medium plus looser LSH rules, for
#: FEBRL4-sized data: tens of thousands of records).
BLOCKING_PRESETS = ("auto", "xlarge", "large", "medium", "small")
#: Bounds of the match-probability threshold a model may suggest (``threshold = "auto"``).
AUTO_THRESHOLD_BOUNDS = (0.3, 0.8)
#: Comparisons a lookup's match may not disagree on outright (twins and family members
#: agree on the rest): the given name and the date of birth.
LOOKUP_REQUIRES_DEFAULT = ("given_name", "date_of_birth")
#: A probabilistic lookup's match probability when ``lookup_threshold`` is not set: a
#: lookup discloses on one query alone, so it asks for more than linkage does.
LOOKUP_THRESHOLD_DEFAULT = 0.9
#: Refit once the index holds this many times the records of the last fit.
REFIT_GROWTH_DEFAULT = 1.5
#: Above this many linkable records an automatic refit runs in a background thread
#: instead of in the call of the batch that made it due.
BACKGROUND_REFIT_ABOVE_DEFAULT = 200_000
#: How many matches' worth of evidence the shipped prior's m counts for in a fit: with a
#: few hundred matches among the records the data decide, with a handful the prior does.
PRIOR_STRENGTH_DEFAULT = 50.0


@dataclass(frozen=True, slots=True)
class ProbabilisticSettings:
    """``[linkage.probabilistic]``: link segmented CLKs with a Fellegi-Sunter model.

    ``layout`` is the segment layout of the CLKs (from the segmented schema the agencies
    encode with, ``schema_source`` naming it); ``hardened`` picks the benchmarked
    comparisons and blocking for diffused segments (``False``: plain Bloom-filter
    segments). ``blocking`` names the rule set that finds candidate pairs (one of
    :data:`BLOCKING_PRESETS`; rebuild after changing it). ``refit_on_rebuild`` refits the
    model at every rebuild once ``min_fit_records`` linkable records are held, on at most
    ``fit_sample_records`` of them (a seeded random sample, so a rebuild of the same
    records fits the same model). A lookup scores the
    ``lookup_candidates`` records with the highest Dice over the whole CLK and reports
    those whose match probability reaches the lookup threshold.
    """

    layout: SegmentLayout
    hardened: bool
    schema_source: str
    refit_on_rebuild: bool = True
    min_fit_records: int = MIN_FIT_RECORDS_DEFAULT
    lookup_candidates: int = LOOKUP_CANDIDATES_DEFAULT
    blocking_preset: str = "auto"
    fit_sample_records: int = FIT_SAMPLE_RECORDS_DEFAULT
    auto_refit: bool = True
    refit_growth: float = REFIT_GROWTH_DEFAULT
    #: comparisons a responder lookup's match must not disagree on (:func:`search_index`)
    lookup_requires: tuple[str, ...] = LOOKUP_REQUIRES_DEFAULT
    #: also scan the whole index for the nearest records by Dice (a lookup's candidates
    #: are otherwise the records sharing an exact blocking key with the query)
    lookup_scan: bool = False
    background_refit_above: int = BACKGROUND_REFIT_ABOVE_DEFAULT
    prior_strength: float = PRIOR_STRENGTH_DEFAULT

    def __post_init__(self) -> None:
        problems = []
        if not 1.05 <= self.refit_growth <= 100:
            problems.append(Problem("linkage.probabilistic.refit_growth", "must be in [1.05, 100]"))
        if self.background_refit_above < 0:
            problems.append(
                Problem("linkage.probabilistic.background_refit_above", "must be at least 0")
            )
        unknown = [
            name
            for name in self.lookup_requires
            if name not in {c.segment for c in default_comparisons(self.hardened, self.layout)}
        ]
        if unknown:
            problems.append(
                Problem(
                    "linkage.probabilistic.lookup_requires",
                    f"names no comparison: {', '.join(unknown)}",
                )
            )
        if not 0 <= self.prior_strength <= 1e6:
            problems.append(Problem("linkage.probabilistic.prior_strength", "must be in [0, 1e6]"))
        if self.fit_sample_records < max(2, self.min_fit_records):
            problems.append(
                Problem(
                    "linkage.probabilistic.fit_sample_records",
                    "must be at least min_fit_records (and 2)",
                )
            )
        if self.blocking_preset not in BLOCKING_PRESETS:
            problems.append(
                Problem(
                    "linkage.probabilistic.blocking",
                    f"must be one of {', '.join(BLOCKING_PRESETS)}",
                )
            )
        if self.min_fit_records < 2:
            problems.append(Problem("linkage.probabilistic.min_fit_records", "must be at least 2"))
        if not 1 <= self.lookup_candidates <= 10_000:
            problems.append(
                Problem("linkage.probabilistic.lookup_candidates", "must be in [1, 10000]")
            )
        if problems:
            raise ConfigError("invalid probabilistic settings", problems=problems)
        try:
            ProbabilisticLinker(
                self.layout, prior_model(self.hardened, self.layout), self.blocking(), 0.5
            )
        except ConfigError as exc:
            raise ConfigError(
                "the segments schema does not have the default person segments",
                problems=[Problem("linkage.probabilistic.schema", p.reason) for p in exc.problems],
            ) from None

    def comparisons(self) -> tuple[Comparison, ...]:
        """The comparison levels of the model."""
        return default_comparisons(self.hardened, self.layout)

    def blocking(self) -> BlockingRules:
        """The blocking rules that find candidate pairs (for ``auto``, until the first fit
        plans them: the core of the ladder, which suits any index size)."""
        if self.blocking_preset == "auto":
            ladder, always = default_blocking_ladder(self.hardened)
            return applicable_rules(ladder[:always], self.layout)
        if self.blocking_preset in ("large", "xlarge"):
            return default_blocking(self.hardened, scale=self.blocking_preset)
        return default_blocking(self.hardened, wide=self.blocking_preset == "small")

    def to_json_dict(self) -> dict[str, Any]:
        """The settings as recorded with a linkage run (the model is added beside them)."""
        return {
            "schema": self.schema_source,
            "layout": self.layout.to_dict(),
            "hardened": self.hardened,
            "blocking": self.blocking_preset,
            "refit_on_rebuild": self.refit_on_rebuild,
            "min_fit_records": self.min_fit_records,
            "lookup_candidates": self.lookup_candidates,
            "fit_sample_records": self.fit_sample_records,
            "auto_refit": self.auto_refit,
            "refit_growth": self.refit_growth,
            "lookup_requires": list(self.lookup_requires),
            "lookup_scan": self.lookup_scan,
            "prior_strength": self.prior_strength,
        }


@cache
def _prior_text(hardened: bool, keyed: bool) -> str:
    name = "prior-model-hardened" if hardened else "prior-model-plain"
    name += ".json" if keyed else "-nokeys.json"
    return resources.files("linkage.service").joinpath(name).read_text("utf-8")


def prior_model(hardened: bool, layout: SegmentLayout | None = None) -> FellegiSunterModel:
    """The shipped starting model for the default person segments (with the derived key
    segments when ``layout`` has them; the earlier model without them otherwise)."""
    return FellegiSunterModel.from_json(_prior_text(hardened, has_key_segments(layout)))


def effective_threshold(
    model: FellegiSunterModel, configured: float, auto: bool, *, fitted: bool = True
) -> float:
    """The linkage threshold in force: the configured one, or with ``auto`` the threshold
    a model fitted on the matcher's own records suggests
    (:func:`linkage.probabilistic.suggest_threshold`), kept within
    :data:`AUTO_THRESHOLD_BOUNDS`; the configured one (0.5 for ``auto``) while the shipped
    prior is in force (``fitted=False``: its suggestion is about other data)."""
    suggested = None if model.report is None else model.report.suggested_threshold
    if not auto or not fitted or suggested is None:
        return configured
    low, high = AUTO_THRESHOLD_BOUNDS
    return min(max(suggested, low), high)


@dataclass(frozen=True, slots=True)
class FittedLinker:
    """What a fit gives: the linker (model, blocking, threshold) and, for ``auto``
    blocking, the plan the rules came from."""

    linker: ProbabilisticLinker
    plan: BlockingPlan | None


def fitting_blocking(settings: ProbabilisticSettings, linking: BlockingRules) -> BlockingRules:
    """The rules whose candidate pairs the model is fitted on: the strict ``xlarge`` set
    (those the layout has), whatever rules then link (``linking``, the fallback when the
    layout has none of them).

    The fit takes the prior probability of a match from the share of matches among the
    candidate pairs. Loose rules add many pairs of different people who agree on correlated
    fields (members of one household share surname, address and phone); the model, which
    treats fields as independent, then counts a share of them as matches, and the prior
    comes out too high. Fitted on the rules "auto" plans at about 30,000 records of a
    held-out scenario of households, the prior was 14 times the true one, against 1.6
    times for the strict rules, with m and u almost the same (docs/quality.md)."""
    try:
        return applicable_rules(
            default_blocking(settings.hardened, scale="xlarge").rules, settings.layout
        )
    except ConfigError:  # none of them applies to this layout
        return linking


def fit_linker(
    settings: ProbabilisticSettings, packed: PackedClks, threshold: float, *, auto_threshold: bool
) -> FittedLinker:
    """A linker with a model fitted on ``packed`` (every linkable record of the index, or
    a seeded random sample of ``settings.fit_sample_records`` of them), its blocking
    planned on all of ``packed`` for ``auto`` (with the pair completeness estimated)."""
    plan: BlockingPlan | None = None
    blocking = settings.blocking()
    if settings.blocking_preset == "auto":
        ladder, always = default_blocking_ladder(settings.hardened)
        plan = plan_blocking(ladder, packed, settings.layout, always=always)
        blocking = plan.rules
    sample = packed
    if packed.shape[0] > settings.fit_sample_records:
        rows = np.random.default_rng(0).choice(
            packed.shape[0], size=settings.fit_sample_records, replace=False
        )
        sample = np.ascontiguousarray(packed[np.sort(rows)])

    def fit_on(rules: BlockingRules) -> FellegiSunterModel:
        return fit_model(
            settings.layout,
            settings.comparisons(),
            rules,
            sample,
            training_rules=default_training_rules(),
            start=prior_model(settings.hardened, settings.layout),
            start_strength=settings.prior_strength,
        )

    strict = fitting_blocking(settings, blocking)
    try:
        model = fit_on(strict)
    except InvalidInputError:
        if strict == blocking:
            raise
        # the strict rules found no pair to fit on (few records, no duplicates yet): the
        # linking rules' pairs, whose prior may come out high (fitting_blocking)
        model = fit_on(blocking)
    linker = ProbabilisticLinker(
        settings.layout, model, blocking, effective_threshold(model, threshold, auto_threshold)
    )
    if plan is not None:
        segments = [s for s in model.term_frequency_segments() if s is not None]
        frequencies = TermFrequencies.of(packed, settings.layout, segments) if segments else None
        completeness = estimate_pair_completeness(
            blocking,
            packed,
            settings.layout,
            lambda a, b: linker.score(packed, packed, a, b, frequencies),
        )
        plan = dataclasses.replace(plan, pair_completeness=completeness)
    return FittedLinker(linker, plan)


def search_index(
    index: ClkIndex,
    linker: ProbabilisticLinker,
    query: PackedClks,
    *,
    candidates: int,
    threshold: float,
    k: int,
    frequencies: TermFrequencies | None = None,
    require: Sequence[str] = (),
    keyed: Sequence[int] = (),
    scan: bool = True,
    pad_to: int = 0,
    rng: np.random.Generator | None = None,
) -> list[tuple[int, float]]:
    """A probabilistic lookup of one packed query: its candidates are ``keyed`` (the
    indexed records sharing an exact blocking key with the query, from the mirror's key
    index) and, with ``scan``, the ``candidates`` indexed records nearest by whole-CLK
    Dice (at least :data:`LOOKUP_PREFILTER_DICE`); each is scored by the model; the best
    ``k`` with a match probability of at least ``threshold`` are returned as ``(key,
    probability)``, best first (ties: lower key first).

    ``require`` names comparisons (base segments) that must not disagree outright: a
    record whose comparison is at its last level ("none of the agreement levels") while
    both sides have the field is not reported, whatever its probability. A twin (same
    family name and date of birth, another given name) or a family member at the same
    address scores high on the rest; a responder lookup discloses on one query alone, so
    it asks for an agreeing given name and date of birth.

    ``pad_to``: a query with fewer candidates is scored against that many, the rest drawn
    at random from the index and never reported, so a lookup of a person the index holds
    costs what a lookup of a stranger costs (the timing of an answer must not tell "known
    but not disclosable" from "unknown")."""
    keys = unique_sorted(np.asarray(keyed, dtype=np.int64))
    if scan:
        (near,) = index.search(query, LOOKUP_PREFILTER_DICE, candidates)
        keys = np.union1d(keys, np.asarray(near.keys, dtype=np.int64))
    real = keys.shape[0]
    if real < pad_to:
        # always pad_to draws, merged with the query's own candidates in one pass whose
        # cost does not depend on how many it has (np.setdiff1d's cost grew with them);
        # the query's own come first, the draws fill up to pad_to
        combined = np.concatenate([keys, index.sample_keys(pad_to, rng or np.random.default_rng())])
        _, first = np.unique(combined, return_index=True)
        keys = combined[np.sort(first)][:pad_to]
    if keys.shape[0] == 0:
        return []
    records = index.get(keys)
    zeros = np.zeros(len(keys), dtype=np.int64)
    positions = np.arange(len(keys))
    # one pass: the levels decide both the probability and the lookup gate
    model = linker.model
    levels = comparison_levels(
        linker.similarities(query, records, zeros, positions), model.comparisons
    )
    tf_u = None if frequencies is None else linker.term_frequency_u(query, zeros, frequencies)
    probabilities = probability_of_weight(model.weights_of_levels(levels, tf_u))
    keep = probabilities >= threshold
    keep[real:] = False  # the padding is never an answer
    for column, comparison in enumerate(model.comparisons):
        if comparison.segment in require:
            keep &= levels[:, column] != comparison.levels - 1
    # sorted over every scored record, kept ones first (same work however many are kept):
    # by probability descending, then key
    order = np.lexsort((keys, -np.where(keep, probabilities, -1.0)))[:k]
    order = order[keep[order]]
    return list(zip(keys[order].tolist(), probabilities[order].tolist(), strict=True))


def consistent_on(
    linker: ProbabilisticLinker, query: PackedClks, records: PackedClks, require: Sequence[str]
) -> np.ndarray:
    """``bool[records]``: no comparison in ``require`` is at its disagreement (last)
    level between the query and the record (missing on either side is fine)."""
    model = linker.model
    sims = linker.similarities(
        query, records, np.zeros(records.shape[0], dtype=np.int64), np.arange(records.shape[0])
    )
    levels = comparison_levels(sims, model.comparisons)
    out = np.ones(records.shape[0], dtype=bool)
    for column, comparison in enumerate(model.comparisons):
        if comparison.segment in require:
            out &= levels[:, column] != comparison.levels - 1
    return out


def fitted_records(model_json: str) -> int:
    """The linkable records a linkage run's model was fitted on (0: not recorded)."""
    try:
        document = json.loads(model_json)
        value = document["probabilistic"]["fitted_records"]
    except (ValueError, KeyError, TypeError):
        return 0
    return int(value) if isinstance(value, int) and value > 0 else 0


def stored_blocking_plan(model_json: str) -> BlockingPlan | None:
    """The blocking plan a linkage run recorded (``auto`` blocking), if any."""
    try:
        recorded = json.loads(model_json)["probabilistic"]["blocking_plan"]
        return BlockingPlan.from_dict(recorded)
    except (ValueError, KeyError, TypeError, ConfigError):
        return None


def stored_model(model_json: str, settings: ProbabilisticSettings) -> FellegiSunterModel | None:
    """The model a linkage run recorded, if it was fitted for this layout; else ``None``."""
    try:
        document = json.loads(model_json)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    recorded = document.get("probabilistic")
    if not isinstance(recorded, dict) or recorded.get("layout") != settings.layout.to_dict():
        return None
    if recorded.get("hardened") != settings.hardened or "model" not in recorded:
        return None
    try:
        return FellegiSunterModel.from_dict(recorded["model"])
    except ConfigError:
        return None
