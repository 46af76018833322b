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
  random pairs, m by EM), once enough records are held, and stored with the run, so the
  run can be reproduced and the operator can read the fitted parameters;
* is reloaded from the latest run on start and whenever another process ran a rebuild.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from linkage.errors import ConfigError, Problem
from linkage.match import ClkIndex
from linkage.probabilistic import (
    BlockingRules,
    Comparison,
    FellegiSunterModel,
    ProbabilisticLinker,
    SegmentLayout,
    default_blocking,
    default_comparisons,
    default_training_rules,
    fit_model,
)
from linkage.types import PackedClks

__all__ = [
    "LOOKUP_PREFILTER_DICE",
    "ProbabilisticSettings",
    "fit_linker",
    "prior_model",
    "search_index",
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
#: The blocking rule sets, by the size of the index they suit (docs/quality.md, "Blocking
#: at scale"): ``large`` (the default; measured from 5 * 10^4 to 10^6 records, a few to 27
#: candidate pairs per record, pair completeness 0.998), ``medium`` (the quality
#: benchmark's rules: 10^4 to 10^5 records; its candidates grow with the square of the
#: records, 383 per record at 10^5) and ``small`` (medium plus looser LSH rules, for
#: FEBRL4-sized data: tens of thousands of records).
BLOCKING_PRESETS = ("large", "medium", "small")


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
    blocking_preset: str = "large"
    fit_sample_records: int = FIT_SAMPLE_RECORDS_DEFAULT

    def __post_init__(self) -> None:
        problems = []
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
            ProbabilisticLinker(self.layout, prior_model(self.hardened), self.blocking(), 0.5)
        except ConfigError as exc:
            raise ConfigError(
                "the segments schema does not have the default person segments",
                problems=[Problem("linkage.probabilistic.schema", p.reason) for p in exc.problems],
            ) from None

    def comparisons(self) -> tuple[Comparison, ...]:
        """The comparison levels of the model."""
        return default_comparisons(self.hardened)

    def blocking(self) -> BlockingRules:
        """The blocking rules that find candidate pairs."""
        if self.blocking_preset == "large":
            return default_blocking(self.hardened, scale="large")
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
        }


@cache
def _prior_text(hardened: bool) -> str:
    name = "prior-model-hardened.json" if hardened else "prior-model-plain.json"
    return resources.files("linkage.service").joinpath(name).read_text("utf-8")


def prior_model(hardened: bool) -> FellegiSunterModel:
    """The shipped starting model for the default person segments."""
    return FellegiSunterModel.from_json(_prior_text(hardened))


def fit_linker(
    settings: ProbabilisticSettings, packed: PackedClks, threshold: float
) -> ProbabilisticLinker:
    """A linker with a model fitted on ``packed`` (every linkable record of the index, or
    a seeded random sample of ``settings.fit_sample_records`` of them)."""
    if packed.shape[0] > settings.fit_sample_records:
        rows = np.random.default_rng(0).choice(
            packed.shape[0], size=settings.fit_sample_records, replace=False
        )
        packed = np.ascontiguousarray(packed[np.sort(rows)])
    model = fit_model(
        settings.layout,
        settings.comparisons(),
        settings.blocking(),
        packed,
        training_rules=default_training_rules(),
    )
    return ProbabilisticLinker(settings.layout, model, settings.blocking(), threshold)


def search_index(
    index: ClkIndex,
    linker: ProbabilisticLinker,
    query: PackedClks,
    *,
    candidates: int,
    threshold: float,
    k: int,
) -> list[tuple[int, float]]:
    """A probabilistic lookup of one packed query: the ``candidates`` indexed records
    nearest by whole-CLK Dice (at least :data:`LOOKUP_PREFILTER_DICE`) scored by the
    model; the best ``k`` with a match probability of at least ``threshold``, as
    ``(key, probability)``, best first (ties: lower key first)."""
    (near,) = index.search(query, LOOKUP_PREFILTER_DICE, candidates)
    if len(near) == 0:
        return []
    keys = np.asarray(near.keys, dtype=np.int64)
    probabilities = linker.score(
        query, index.get(keys), np.zeros(len(keys), dtype=np.int64), np.arange(len(keys))
    )
    keep = probabilities >= threshold
    order = np.lexsort((keys[keep], -probabilities[keep]))[:k]
    return list(zip(keys[keep][order].tolist(), probabilities[keep][order].tolist(), strict=True))


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
