"""Programme outcomes over the link index (docs/outcomes.md).

* :mod:`linkage.outcomes._spec`: the declarative outcome spec (TOML) and its checks;
  the packaged standard co-responder measure set (:func:`load_standard_spec`).
* :mod:`linkage.outcomes._compute`: the pure core: exact counts of every query of a spec
  over an :class:`EventTable` (people's events that may count).
* :mod:`linkage.outcomes._release`: differential privacy (OpenDP) and small-cell
  suppression with complementary suppression (pure).
* :mod:`linkage.outcomes._programme`: the programme file (ledger key, budget, evaluation
  rule, smallest threshold).
* :mod:`linkage.outcomes._ledger`: the events that may count, read from the store, and a
  release recorded in the store's privacy-budget ledger.
"""

from linkage.outcomes._compute import (
    ALL,
    CODES,
    DISPOSITIONS,
    EventTable,
    OutcomeCounts,
    Query,
    compute_counts,
    quarter_labels,
    spec_queries,
)
from linkage.outcomes._ledger import (
    AUDIT_ACTION,
    GatheredEvents,
    LedgerEntry,
    ReleaseOutcome,
    gather_events,
    release_outcomes,
)
from linkage.outcomes._programme import PROGRAMME_FILE, Programme, load_programme
from linkage.outcomes._release import (
    NOISE_MECHANISM,
    Figure,
    NoisePlan,
    Release,
    add_noise,
    plan_noise,
    relative_errors,
    release_counts,
    suppress,
)
from linkage.outcomes._spec import (
    DEFAULT_MIN_CELL,
    STANDARD_SPEC,
    Breakdown,
    Cohort,
    Measure,
    MeasureKind,
    OutcomeSpec,
    ReleaseSettings,
    SuppressOn,
    load_spec,
    load_standard_spec,
    parse_spec,
    spec_digest,
    standard_spec_text,
)

__all__ = [
    "ALL",
    "AUDIT_ACTION",
    "CODES",
    "DEFAULT_MIN_CELL",
    "DISPOSITIONS",
    "NOISE_MECHANISM",
    "PROGRAMME_FILE",
    "STANDARD_SPEC",
    "Breakdown",
    "Cohort",
    "EventTable",
    "Figure",
    "GatheredEvents",
    "LedgerEntry",
    "Measure",
    "MeasureKind",
    "NoisePlan",
    "OutcomeCounts",
    "OutcomeSpec",
    "Programme",
    "Query",
    "Release",
    "ReleaseOutcome",
    "ReleaseSettings",
    "SuppressOn",
    "add_noise",
    "compute_counts",
    "gather_events",
    "load_programme",
    "load_spec",
    "load_standard_spec",
    "parse_spec",
    "plan_noise",
    "quarter_labels",
    "relative_errors",
    "release_counts",
    "release_outcomes",
    "spec_digest",
    "spec_queries",
    "standard_spec_text",
    "suppress",
]
