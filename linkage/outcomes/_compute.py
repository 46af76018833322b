"""The exact outcome counts of a spec over people's events: the pure core (numpy, no I/O).

The input is an :class:`EventTable`: one row per event that may count (the caller has
already applied the evaluation rule), with the person it belongs to (a link of the
index, or a record in no link), the agency whose record holds it, its code, day and
disposition. The output, :class:`OutcomeCounts`, holds for every *query* (a count the
release publishes: the cohort's size, a measure's denominator, a measure's statistic) and
every breakdown of it one exact count per category.

Categories never depend on the data: quarters are those of the cohort's period, agencies
those enrolled, dispositions the whole vocabulary plus ``none``, so which cells exist says
nothing about anyone.

Definitions (docs/outcomes.md, "How each measure is counted"):

* The **index contact** of a person is their first event with a cohort code whose day is
  in the cohort's period; ties on that day are broken by agency, then code, then
  disposition (vocabulary order). The person's quarter, agency and disposition are the
  index contact's.
* A person **counts in a measure** when the index day plus the measure's follow-up is no
  later than ``follow_up_until`` and (with ``history_from``) the index day minus its
  history is no earlier than it. That count is the measure's denominator, ``people``.
* A **share** counts people with at least one of its events ``window[0]..window[1]`` days
  after the index day (0 is the index day itself).
* A **before/after** measure counts people with at least one of its events in days
  ``-days..-1`` (before) and ``1..days`` (after), and those events, at most ``cap`` per
  person and window (so one person moves a count by at most ``cap``). Events on the index
  day are in neither window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from linkage.errors import InvalidInputError
from linkage.events import Disposition, EventCode, day_number
from linkage.outcomes._spec import Breakdown, Measure, MeasureKind, OutcomeSpec

__all__ = [
    "ALL",
    "CODES",
    "COHORT",
    "DISPOSITIONS",
    "EventTable",
    "OutcomeCounts",
    "Query",
    "compute_counts",
    "quarter_labels",
    "spec_queries",
    "whole_cohort",
]

IntArray = npt.NDArray[np.int64]

#: The breakdown of a query's total: one category, ``all``.
ALL: Final = "all"
#: The query of the cohort's size.
COHORT: Final = "cohort.people"
#: Event codes by their index in :attr:`EventTable.code`.
CODES: Final = tuple(EventCode)
#: Dispositions by their index in :attr:`EventTable.disposition` (-1: none).
DISPOSITIONS: Final = tuple(Disposition)
_CODE_INDEX: Final = {c: i for i, c in enumerate(CODES)}
_DISPOSITION_INDEX: Final = {d: i for i, d in enumerate(DISPOSITIONS)}
_NONE: Final = "none"


@dataclass(frozen=True, slots=True)
class EventTable:
    """Events that may count, one per row, as parallel arrays.

    ``person`` is 0..``people``-1, ``agency`` an index into ``agencies``, ``code`` an index
    into :data:`CODES`, ``day`` a day number (days since 1970-01-01) and ``disposition`` an
    index into :data:`DISPOSITIONS` or -1 for none."""

    person: IntArray
    agency: IntArray
    code: IntArray
    day: IntArray
    disposition: IntArray
    people: int
    agencies: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.person)
        arrays = (self.agency, self.code, self.day, self.disposition)
        if any(len(a) != n for a in arrays):
            raise InvalidInputError("event table: the arrays differ in length")
        if n and (int(self.person.min()) < 0 or int(self.person.max()) >= self.people):
            raise InvalidInputError("event table: a person index is out of range")
        if n and (int(self.agency.min()) < 0 or int(self.agency.max()) >= len(self.agencies)):
            raise InvalidInputError("event table: an agency index is out of range")
        if n and (int(self.code.min()) < 0 or int(self.code.max()) >= len(CODES)):
            raise InvalidInputError("event table: a code index is out of range")

    @classmethod
    def from_events(
        cls,
        rows: Iterable[tuple[object, str, EventCode, date, Disposition | None]],
        agencies: Sequence[str],
    ) -> EventTable:
        """From ``(person key, agency ID, code, day, disposition)`` rows; person keys are
        any hashable values (a link ID, a synthetic person ID)."""
        agency_index = {a: i for i, a in enumerate(agencies)}
        people: dict[object, int] = {}
        columns: list[list[int]] = [[], [], [], [], []]
        for key, agency, code, day, disposition in rows:
            if agency not in agency_index:
                raise InvalidInputError("event table: an event of an agency not listed")
            columns[0].append(people.setdefault(key, len(people)))
            columns[1].append(agency_index[agency])
            columns[2].append(_CODE_INDEX[code])
            columns[3].append(day_number(day))
            columns[4].append(-1 if disposition is None else _DISPOSITION_INDEX[disposition])
        a = [np.asarray(c, dtype=np.int64) for c in columns]
        return cls(a[0], a[1], a[2], a[3], a[4], len(people), tuple(agencies))


@dataclass(frozen=True, slots=True)
class Query:
    """One released count: ``id`` (``cohort.people``, ``eligible_0_30.people``,
    ``treatment_intake_30.with_event``), how much one person can change one of its cells
    (``sensitivity``) and the breakdowns it is released by (``all`` first)."""

    id: str
    sensitivity: int
    dimensions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OutcomeCounts:
    """The exact counts: per query ID, per dimension, one count per category of
    ``categories[dimension]``; ``denominators`` maps each measure to its ``people`` query."""

    queries: tuple[Query, ...]
    categories: dict[str, tuple[str, ...]]
    values: dict[str, dict[str, IntArray]]
    denominators: dict[str, str]

    def value(self, query: str, dimension: str = ALL, category: str = ALL) -> int:
        index = self.categories[dimension].index(category)
        return int(self.values[query][dimension][index])


def quarter_labels(start: date, end: date) -> tuple[str, ...]:
    """``2025Q1`` .. the quarter of ``end``."""
    labels = []
    q = start.year * 4 + (start.month - 1) // 3
    last = end.year * 4 + (end.month - 1) // 3
    while q <= last:
        labels.append(f"{q // 4}Q{q % 4 + 1}")
        q += 1
    return tuple(labels)


def _quarter_index(days: IntArray, start: date) -> IntArray:
    months = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    # months since 1970-01; quarters since 1970Q1
    first = start.year * 4 + (start.month - 1) // 3 - 1970 * 4
    return np.asarray(months // 3 - first, dtype=np.int64)


def eligibility_key(measure: Measure) -> str:
    return f"eligible_{measure.horizon_before}_{measure.horizon_after}"


def whole_cohort(spec: OutcomeSpec, measure: Measure) -> bool:
    """Whether every possible index day of the period has the measure's follow-up and
    history, so that its denominator is the cohort itself (known from the spec alone: no
    count of its own, no epsilon spent on one)."""
    cohort = spec.cohort
    after = cohort.end + timedelta(days=measure.horizon_after) <= cohort.follow_up_until
    history = cohort.history_from
    before = history is None or cohort.start - timedelta(days=measure.horizon_before) >= history
    return after and before


def spec_queries(spec: OutcomeSpec) -> tuple[list[Query], dict[str, str]]:
    """The queries a spec releases and each measure's denominator query (no data needed):
    ``cohort.people`` where the whole cohort counts in the measure (:func:`whole_cohort`),
    otherwise the people with its follow-up and history, ``eligible_B_A.people``."""
    dims_by_query: dict[str, list[str]] = {}
    sensitivity: dict[str, int] = {}
    denominators: dict[str, str] = {}

    def add(query: str, dims: Sequence[Breakdown], sens: int) -> None:
        known = dims_by_query.setdefault(query, [ALL])
        known.extend(d.value for d in dims if d.value not in known)
        sensitivity[query] = sens

    every = [b for b in Breakdown if any(b in m.breakdowns for m in spec.measures)]
    add(COHORT, every, 1)
    for measure in spec.measures:
        denominator = (
            COHORT if whole_cohort(spec, measure) else f"{eligibility_key(measure)}.people"
        )
        denominators[measure.id] = denominator
        add(denominator, measure.breakdowns, 1)
        for statistic in measure.statistics:
            add(f"{measure.id}.{statistic}", measure.breakdowns, measure.sensitivity(statistic))
    order = {b.value: i for i, b in enumerate(Breakdown, start=1)} | {ALL: 0}
    queries = [
        Query(q, sensitivity[q], tuple(sorted(dims, key=order.__getitem__)))
        for q, dims in dims_by_query.items()
    ]
    return queries, denominators


def _per_person(values: IntArray, person: IntArray, people: int) -> IntArray:
    return np.bincount(person, weights=values, minlength=people).astype(np.int64)


def compute_counts(spec: OutcomeSpec, table: EventTable) -> OutcomeCounts:
    """Every query's exact counts (docs above)."""
    cohort = spec.cohort
    people = table.people
    categories: dict[str, tuple[str, ...]] = {
        ALL: (ALL,),
        Breakdown.QUARTER.value: quarter_labels(cohort.start, cohort.end),
        Breakdown.AGENCY.value: table.agencies,
        Breakdown.DISPOSITION.value: (*(d.value for d in DISPOSITIONS), _NONE),
    }
    # the index contact of each person
    cohort_codes = np.array([_CODE_INDEX[c] for c in cohort.events], dtype=np.int64)
    in_period = (table.day >= day_number(cohort.start)) & (table.day <= day_number(cohort.end))
    contact_rows = np.flatnonzero(np.isin(table.code, cohort_codes) & in_period)
    order = np.lexsort(
        (
            table.disposition[contact_rows],
            table.code[contact_rows],
            table.agency[contact_rows],
            table.day[contact_rows],
            table.person[contact_rows],
        )
    )
    sorted_rows = contact_rows[order]
    first = np.ones(len(sorted_rows), dtype=bool)
    first[1:] = table.person[sorted_rows[1:]] != table.person[sorted_rows[:-1]]
    index_rows = sorted_rows[first]
    in_cohort = np.zeros(people, dtype=bool)
    in_cohort[table.person[index_rows]] = True
    index_day = np.zeros(people, dtype=np.int64)
    index_day[table.person[index_rows]] = table.day[index_rows]
    category: dict[str, IntArray] = {ALL: np.zeros(people, dtype=np.int64)}
    for name, column in (
        (Breakdown.QUARTER.value, _quarter_index(table.day[index_rows], cohort.start)),
        (Breakdown.AGENCY.value, table.agency[index_rows]),
        (
            Breakdown.DISPOSITION.value,
            np.where(
                table.disposition[index_rows] < 0,
                len(DISPOSITIONS),
                table.disposition[index_rows],
            ),
        ),
    ):
        of_person = np.zeros(people, dtype=np.int64)
        of_person[table.person[index_rows]] = column
        category[name] = of_person

    follow_up = day_number(cohort.follow_up_until)
    history = None if cohort.history_from is None else day_number(cohort.history_from)
    person_values: dict[str, tuple[IntArray, npt.NDArray[np.bool_]]] = {
        "cohort.people": (in_cohort.astype(np.int64), in_cohort)
    }
    offset_all = table.day - index_day[table.person]
    event_in_cohort = in_cohort[table.person]
    for measure in spec.measures:
        eligible = in_cohort & (index_day + measure.horizon_after <= follow_up)
        if history is not None:
            eligible &= index_day - measure.horizon_before >= history
        if not whole_cohort(spec, measure):
            person_values[f"{eligibility_key(measure)}.people"] = (
                eligible.astype(np.int64),
                eligible,
            )
        codes = np.array([_CODE_INDEX[c] for c in measure.events], dtype=np.int64)
        rows = np.isin(table.code, codes) & event_in_cohort
        person, offset = table.person[rows], offset_all[rows]
        if measure.kind is MeasureKind.SHARE:
            low, high = measure.window
            hits = _per_person(
                ((offset >= low) & (offset <= high)).astype(np.int64), person, people
            )
            person_values[f"{measure.id}.with_event"] = ((hits > 0).astype(np.int64), eligible)
            continue
        before = _per_person(
            ((offset >= -measure.days) & (offset <= -1)).astype(np.int64), person, people
        )
        after = _per_person(
            ((offset >= 1) & (offset <= measure.days)).astype(np.int64), person, people
        )
        person_values[f"{measure.id}.people_before"] = ((before > 0).astype(np.int64), eligible)
        person_values[f"{measure.id}.people_after"] = ((after > 0).astype(np.int64), eligible)
        person_values[f"{measure.id}.events_before"] = (np.minimum(before, measure.cap), eligible)
        person_values[f"{measure.id}.events_after"] = (np.minimum(after, measure.cap), eligible)

    queries, denominators = spec_queries(spec)
    values: dict[str, dict[str, IntArray]] = {}
    for query in queries:
        per_person, mask = person_values[query.id]
        values[query.id] = {
            dim: np.bincount(
                category[dim][mask], weights=per_person[mask], minlength=len(categories[dim])
            ).astype(np.int64)
            for dim in query.dimensions
        }
    used = {d for q in queries for d in q.dimensions}
    return OutcomeCounts(
        queries=tuple(queries),
        categories={d: c for d, c in categories.items() if d in used},
        values=values,
        denominators=denominators,
    )
