"""Blocking chosen from the data: as many rules as the index size affords, and an estimate of
the true pairs they keep.

A rule's candidate pairs among non-matches grow with the square of the records, so a rule
set that keeps every true pair of 30,000 records makes billions of pairs at a million, and
one that runs at a million (few, strict rules) misses true pairs a smaller index could
afford to find (an independent scenario showed 0.918 of true pairs kept where 0.99 was
affordable). :func:`plan_blocking` walks a *ladder* of rules ordered from the strictest
(always kept: they find the near-identical records and the usual single errors at any
size) to the loosest, projects each rule's candidate pairs on the records at hand (exact
rules counted exactly from their block sizes, LSH rules from a sample, scaled by the
square of the size) and keeps the rules that fit a budget of pairs per record, up to a
total cap. The matcher plans again at every refit, so the rules follow the index as it
grows.

:func:`estimate_pair_completeness` tells the operator what the chosen rules miss, without
labels: on a sample of records it finds each record's likely partners with much looser
means (the nearest records by Dice over the whole CLK, and every record sharing one exact
value of a name key or the date of birth), scores them with the fitted model and reports
the share of the expected true pairs (the sum of match probabilities) that the chosen
rules also find.

Pure: arrays in, numbers out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from linkage.arrays import unique_sorted
from linkage.errors import ConfigError, Problem
from linkage.layout import SegmentLayout
from linkage.match import HammingLsh, dice_join
from linkage.probabilistic._blocking import (
    BlockingRule,
    BlockingRules,
    ExactRule,
    LshRule,
    _row_groups,
)
from linkage.types import Float64Array, Int64Array, PackedClks

__all__ = [
    "BlockingPlan",
    "applicable_rules",
    "estimate_pair_completeness",
    "estimate_rule_pairs",
    "plan_blocking",
    "rule_from_dict",
    "rule_name",
    "rule_to_dict",
]

#: Candidate pairs per record the plan may spend (within one set, counted once).
PAIRS_PER_RECORD_DEFAULT = 150
#: Most candidate pairs of a whole rebuild (memory: two int64 per pair, and their scores).
MAX_PAIRS_DEFAULT = 30_000_000
_LSH_SAMPLE = 20_000


def rule_name(rule: BlockingRule) -> str:
    """A short readable name: ``exact date_of_birth+given_name``, ``lsh record 64x32``."""
    if isinstance(rule, ExactRule):
        joined = "+".join(rule.segments)
        return f"exact {joined}{' (any order)' if rule.unordered else ''}"
    return f"lsh {'+'.join(rule.parts)} {rule.lsh.bands}x{rule.lsh.bits_per_band}"


def rule_to_dict(rule: BlockingRule) -> dict[str, Any]:
    if isinstance(rule, ExactRule):
        out: dict[str, Any] = {"exact": list(rule.segments)}
        if rule.unordered:
            out["unordered"] = True
        return out
    return {
        "lsh": list(rule.parts),
        "bands": rule.lsh.bands,
        "bitsPerBand": rule.lsh.bits_per_band,
        "seed": rule.lsh.seed,
    }


def rule_from_dict(document: Mapping[str, Any]) -> BlockingRule:
    try:
        names = document["exact"] if "exact" in document else document["lsh"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TypeError("segment names must be a list of strings")
        if "exact" in document:
            return ExactRule(
                tuple(str(s) for s in document["exact"]),
                unordered=bool(document.get("unordered", False)),
            )
        return LshRule(
            tuple(str(p) for p in document["lsh"]),
            HammingLsh(
                bands=int(document["bands"]),
                bits_per_band=int(document["bitsPerBand"]),
                seed=int(document["seed"]),
            ),
        )
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            "invalid blocking rule", problems=[Problem("$", "malformed blocking rule")]
        ) from None


@dataclass(frozen=True, slots=True)
class BlockingPlan:
    """The rules chosen for an index of ``records`` records and why."""

    rules: BlockingRules
    records: int
    budget_pairs: int
    projected_pairs: float
    #: every ladder rule: (name, projected pairs before the union, chosen)
    considered: tuple[tuple[str, float, bool], ...] = ()
    #: the estimate of :func:`estimate_pair_completeness`, when it was made
    pair_completeness: float | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": [rule_to_dict(rule) for rule in self.rules.rules],
            "records": self.records,
            "budgetPairs": self.budget_pairs,
            "projectedPairs": round(self.projected_pairs),
            "considered": [
                {"rule": name, "projectedPairs": round(pairs), "chosen": chosen}
                for name, pairs, chosen in self.considered
            ],
            "pairCompleteness": self.pair_completeness,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> BlockingPlan:
        try:
            rules = BlockingRules(tuple(rule_from_dict(r) for r in document["rules"]))
            considered = tuple(
                (str(c["rule"]), float(c["projectedPairs"]), bool(c["chosen"]))
                for c in document.get("considered", ())
            )
            completeness = document.get("pairCompleteness")
            return cls(
                rules=rules,
                records=int(document["records"]),
                budget_pairs=int(document["budgetPairs"]),
                projected_pairs=float(document["projectedPairs"]),
                considered=considered,
                pair_completeness=None if completeness is None else float(completeness),
            )
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                "invalid blocking plan", problems=[Problem("$", "malformed blocking plan")]
            ) from None


def _exact_pairs(rule: ExactRule, packed: PackedClks, layout: SegmentLayout) -> float:
    values, _ = rule._entries(packed, layout)
    if values.shape[0] < 2:
        return 0.0
    counts = np.bincount(_row_groups(values)).astype(np.float64)
    return float((counts * (counts - 1.0) / 2.0).sum())


def estimate_rule_pairs(
    rule: BlockingRule, packed: PackedClks, layout: SegmentLayout, *, seed: int = 0
) -> float:
    """Candidate pairs the rule makes within ``packed``: counted exactly for an exact rule
    (from its block sizes), projected from a sample of at most 20,000 records for an LSH
    rule (pairs in the sample times the ratio of all pairs to sample pairs)."""
    n = int(packed.shape[0])
    if n < 2:
        return 0.0
    if isinstance(rule, ExactRule):
        return _exact_pairs(rule, packed, layout)
    if n <= _LSH_SAMPLE:
        a, _ = rule.pairs_within(packed, layout)
        return float(a.shape[0])
    rows = np.sort(np.random.default_rng(seed).choice(n, size=_LSH_SAMPLE, replace=False))
    sample = np.ascontiguousarray(packed[rows])
    a, _ = rule.pairs_within(sample, layout)
    scale = (n * (n - 1.0)) / (_LSH_SAMPLE * (_LSH_SAMPLE - 1.0))
    return float(a.shape[0]) * scale


def plan_blocking(
    ladder: Sequence[BlockingRule],
    packed: PackedClks,
    layout: SegmentLayout,
    *,
    always: int,
    pairs_per_record: int = PAIRS_PER_RECORD_DEFAULT,
    max_pairs: int = MAX_PAIRS_DEFAULT,
) -> BlockingPlan:
    """The first ``always`` rules of the ladder, then every further rule (in ladder order)
    whose projected pairs still fit ``min(pairs_per_record * records, max_pairs)``.

    The ``always`` rules are kept whatever the per-record budget, but not past
    ``max_pairs``, the memory cap of a rebuild: at a million records the exact rules on
    names alone (a nickname key and the surname, say) make tens of millions of pairs
    each, and keeping them regardless made the rebuild fail. An ``always`` rule that would
    take the total past the cap is left out (listed as not chosen); the first applicable
    rule is kept in any case, so a plan is never empty. Rules naming parts the layout
    lacks are skipped. Projections count a rule's pairs before the union with the others
    (pairs found by several rules count several times), so the budget is conservative.
    """
    if always < 1 or always > len(ladder):
        raise ConfigError(
            "invalid blocking ladder", problems=[Problem("always", "must be in [1, rules]")]
        )
    n = int(packed.shape[0])
    budget = int(min(max(pairs_per_record * n, 1), max_pairs))
    chosen: list[BlockingRule] = []
    considered: list[tuple[str, float, bool]] = []
    total = 0.0
    for position, rule in enumerate(ladder):
        names = rule.parts if isinstance(rule, LshRule) else rule.segments
        if not all(_has_part(layout, name) for name in names):
            continue
        pairs = estimate_rule_pairs(rule, packed, layout, seed=position)
        keep = (
            not chosen
            or (position < always and total + pairs <= max_pairs)
            or total + pairs <= budget
        )
        if keep:
            chosen.append(rule)
            total += pairs
        considered.append((rule_name(rule), pairs, keep))
    if not chosen:
        raise ConfigError(
            "invalid blocking ladder",
            problems=[Problem("rules", "no rule applies to the segment layout")],
        )
    return BlockingPlan(BlockingRules(tuple(chosen)), n, budget, total, tuple(considered))


def applicable_rules(rules: Sequence[BlockingRule], layout: SegmentLayout) -> BlockingRules:
    """The rules whose parts the layout has (the ladder names derived key segments that
    layouts without them lack)."""
    kept = tuple(
        rule
        for rule in rules
        if all(
            _has_part(layout, name)
            for name in (rule.parts if isinstance(rule, LshRule) else rule.segments)
        )
    )
    return BlockingRules(kept)


def _has_part(layout: SegmentLayout, name: str) -> bool:
    try:
        layout.part(name)
    except ConfigError:
        return False
    return True


def estimate_pair_completeness(
    rules: BlockingRules,
    packed: PackedClks,
    layout: SegmentLayout,
    score: Any,
    *,
    sample: int = 1000,
    nearest: int = 30,
    loose_segments: Sequence[str] = ("date_of_birth", "given_key", "surname_key", "phone"),
    seed: int = 0,
) -> float | None:
    """The share of likely true pairs the rules find, estimated without labels.

    For ``sample`` records drawn at random, the reference partners are the ``nearest``
    records by Dice over the whole CLK and every record sharing an exact value (or key) of
    one of ``loose_segments``; ``score(rows_a, rows_b) -> probabilities`` scores them with
    the model. The estimate is ``sum(p over pairs the rules find) / sum(p over all
    reference pairs)``; None when the reference pairs hold no expected match.
    """
    n = int(packed.shape[0])
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    partner_a: list[Int64Array] = []
    partner_b: list[Int64Array] = []
    # nearest by whole-CLK Dice (the join kernel's top-k; the record itself is dropped)
    near = dice_join(np.ascontiguousarray(packed[rows]), packed, 0.3, k=nearest + 1)
    partner_a.append(rows[near.left].astype(np.int64))
    partner_b.append(near.right.astype(np.int64))
    # exact loose keys
    for name in loose_segments:
        if not _has_part(layout, name):
            continue
        rule = ExactRule((name,))
        values, owners = rule._entries(packed, layout)
        if values.shape[0] == 0:
            continue
        groups = _row_groups(values)
        in_sample = np.isin(owners, rows)
        order = np.argsort(groups, kind="stable")
        sorted_groups = groups[order]
        for index in np.nonzero(in_sample)[0].tolist():
            group = groups[index]
            lo = np.searchsorted(sorted_groups, group, side="left")
            hi = np.searchsorted(sorted_groups, group, side="right")
            if hi - lo > 500:  # a placeholder value: no evidence of a match
                continue
            others = owners[order[lo:hi]]
            others = others[others != owners[index]]
            partner_a.append(np.full(others.shape[0], owners[index], dtype=np.int64))
            partner_b.append(others.astype(np.int64))
    a = np.concatenate(partner_a)
    b = np.concatenate(partner_b)
    lo_, hi_ = np.minimum(a, b), np.maximum(a, b)
    keys = unique_sorted((lo_ * n + hi_)[lo_ != hi_])
    a, b = keys // n, keys % n
    if a.shape[0] == 0:
        return None
    probabilities: Float64Array = np.asarray(score(a, b), dtype=np.float64)
    expected = float(probabilities.sum())
    if expected <= 0:
        return None
    found = _found_by(rules, packed, layout, a, b)
    return float(probabilities[found].sum() / expected)


def _found_by(
    rules: BlockingRules, packed: PackedClks, layout: SegmentLayout, a: Int64Array, b: Int64Array
) -> np.ndarray:
    """Which pairs ``(a[p], b[p])`` the rules make candidates, deciding each pair from its
    two records alone (every rule does), on the records the pairs touch."""
    touched = unique_sorted(np.concatenate([a, b]))
    local = {int(r): i for i, r in enumerate(touched.tolist())}
    sub = np.ascontiguousarray(packed[touched])
    li, ri = rules.candidate_pairs_within(sub, layout)
    width = touched.shape[0]
    found = set((li * width + ri).tolist())
    la = np.array([local[int(x)] for x in a.tolist()], dtype=np.int64)
    lb = np.array([local[int(x)] for x in b.tolist()], dtype=np.int64)
    lo, hi = np.minimum(la, lb), np.maximum(la, lb)
    return np.array([int(k) in found for k in (lo * width + hi).tolist()], dtype=bool)
