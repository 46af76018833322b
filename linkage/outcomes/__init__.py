"""Programme outcomes over the link index (docs/outcomes.md).

* :mod:`linkage.outcomes._spec`: the declarative outcome spec (TOML) and its checks;
  the packaged standard co-responder measure set (:func:`load_standard_spec`).
* :mod:`linkage.outcomes._compute`: the pure core: exact counts of every query of a spec
  over an :class:`EventTable` (people's events that may count).
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
    "CODES",
    "DEFAULT_MIN_CELL",
    "DISPOSITIONS",
    "STANDARD_SPEC",
    "Breakdown",
    "Cohort",
    "EventTable",
    "Measure",
    "MeasureKind",
    "OutcomeCounts",
    "OutcomeSpec",
    "Query",
    "ReleaseSettings",
    "SuppressOn",
    "compute_counts",
    "load_spec",
    "load_standard_spec",
    "parse_spec",
    "quarter_labels",
    "spec_digest",
    "standard_spec_text",
]
