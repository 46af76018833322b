"""Probabilistic linkage on per-field encodings: Fellegi-Sunter weights learned without PII
or labels, blocking that keeps recall, and clustering that links and deduplicates at once.

Pure: arrays in, arrays out, no I/O. Records are packed segmented CLKs,
``uint64[n, total_words]``: the record-level CLK and one Bloom-filter segment per feature
group, each a range of words described by a :class:`SegmentLayout`.

Layout and similarities
    :class:`SegmentLayout` (``fields``, ``total_words``, ``record``; JSON), :class:`SegmentRange`;
    :func:`segment_dice` ``(left_packed, right_packed, left_idx, right_idx, layout) ->
    float64[pairs, segments]`` (NaN where a segment is missing), its numpy twin
    :func:`segment_dice_reference`, and :func:`segment_popcounts`.
Model
    :class:`Comparison` (segment, cut points), :func:`comparison_levels`,
    :class:`FellegiSunterModel` (``fit``, ``score``, ``match_weights``, ``to_json`` /
    ``from_json``), :class:`FitSettings`, :class:`FitReport`, and :func:`fit_model`
    ``(layout, comparisons, blocking, packed_left, packed_right=None, *, training_rules=())
    -> FellegiSunterModel``.
Blocking
    :class:`BlockingRules` (a union of :class:`LshRule` and :class:`ExactRule`).
Defaults (the benchmarked settings for the default person segments)
    :func:`default_comparisons`, :func:`default_blocking`, :func:`default_training_rules`.
Linking
    :class:`ProbabilisticLinker` ``(layout, model, blocking, threshold)`` with
    ``candidate_pairs``, ``candidate_pairs_within``, ``score``, ``link``, ``link_pairs`` and
    ``link_within``; :func:`warm_up_linker` loads its kernels before the first request.
Clustering (:class:`linkage.match.ComponentClusterer`)
    :class:`AverageLinkClusterer` (duplicates within an agency allowed, no chaining through
    one weak edge) and :func:`greedy_one_per_agency` (anonlink's greedy, for comparison).
"""

from linkage.layout import SegmentLayout, SegmentRange
from linkage.probabilistic._blocking import BlockingRule, BlockingRules, ExactRule, LshRule
from linkage.probabilistic._cluster import (
    AverageLinkClusterer,
    greedy_one_per_agency,
    one_per_agency_pair_rule,
)
from linkage.probabilistic._defaults import (
    KEY_SEGMENTS,
    default_blocking,
    default_blocking_ladder,
    default_comparisons,
    default_training_rules,
    has_key_segments,
)
from linkage.probabilistic._frequency import TermFrequencies, ValueCounts, segment_value_digests
from linkage.probabilistic._linker import ProbabilisticLinker, fit_model, identical_segment_rate
from linkage.probabilistic._model import (
    MODEL_FORMAT,
    Comparison,
    FellegiSunterModel,
    FitReport,
    FitSettings,
    LevelRule,
    comparison_levels,
    probability_of_weight,
    similarity_columns,
    suggest_threshold,
)
from linkage.probabilistic._plan import (
    BlockingPlan,
    applicable_rules,
    estimate_pair_completeness,
    estimate_rule_pairs,
    plan_blocking,
    rule_from_dict,
    rule_name,
    rule_to_dict,
)
from linkage.probabilistic._similarity import (
    segment_dice,
    segment_dice_reference,
    segment_popcounts,
)
from linkage.probabilistic._warmup import warm_up_linker

__all__ = [
    "KEY_SEGMENTS",
    "MODEL_FORMAT",
    "AverageLinkClusterer",
    "BlockingPlan",
    "BlockingRule",
    "BlockingRules",
    "Comparison",
    "ExactRule",
    "FellegiSunterModel",
    "FitReport",
    "FitSettings",
    "LevelRule",
    "LshRule",
    "ProbabilisticLinker",
    "SegmentLayout",
    "SegmentRange",
    "TermFrequencies",
    "ValueCounts",
    "applicable_rules",
    "comparison_levels",
    "default_blocking",
    "default_blocking_ladder",
    "default_comparisons",
    "default_training_rules",
    "estimate_pair_completeness",
    "estimate_rule_pairs",
    "fit_model",
    "greedy_one_per_agency",
    "has_key_segments",
    "identical_segment_rate",
    "one_per_agency_pair_rule",
    "plan_blocking",
    "probability_of_weight",
    "rule_from_dict",
    "rule_name",
    "rule_to_dict",
    "segment_dice",
    "segment_dice_reference",
    "segment_popcounts",
    "segment_value_digests",
    "similarity_columns",
    "suggest_threshold",
    "warm_up_linker",
]
