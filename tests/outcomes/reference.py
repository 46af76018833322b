"""A plain-Python reference of the outcome measures' definitions (docs/outcomes.md),
written person by person from the definitions, to check the numpy core against."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from linkage.events import Disposition, EventCode
from linkage.outcomes import ALL, MeasureKind, OutcomeSpec

Event = tuple[object, str, EventCode, date, Disposition | None]


def _quarter(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def reference_counts(
    spec: OutcomeSpec, events: Iterable[Event], agencies: list[str]
) -> dict[tuple[str, str, str], int]:
    """``(query, dimension, category) -> count`` for every cell the core releases."""
    by_person: dict[object, list[Event]] = defaultdict(list)
    for event in events:
        by_person[event[0]].append(event)
    cohort = spec.cohort
    code_order = list(EventCode)
    disp_order = list(Disposition)
    out: dict[tuple[str, str, str], int] = defaultdict(int)

    def add(query: str, dims: dict[str, str], value: int) -> None:
        for dim, category in dims.items():
            out[(query, dim, category)] += value

    for person_events in by_person.values():
        contacts = [
            e for e in person_events if e[2] in cohort.events and cohort.start <= e[3] <= cohort.end
        ]
        if not contacts:
            continue
        index = min(
            contacts,
            key=lambda e: (
                e[3],
                agencies.index(e[1]),
                code_order.index(e[2]),
                len(disp_order) if e[4] is None else disp_order.index(e[4]),
            ),
        )
        day0 = index[3]
        dims = {
            ALL: ALL,
            "quarter": _quarter(day0),
            "agency": index[1],
            "disposition": "none" if index[4] is None else index[4].value,
        }
        add("cohort.people", dims, 1)
        denominators: dict[str, dict[str, str]] = {}
        for m in spec.measures:
            if (day0 - cohort.start).days < 0:
                continue
            after = m.window[1] if m.kind is MeasureKind.SHARE else m.days
            before = 0 if m.kind is MeasureKind.SHARE else m.days
            if (cohort.follow_up_until - day0).days < after:
                continue
            if cohort.history_from is not None and (day0 - cohort.history_from).days < before:
                continue
            mdims = {
                d: c for d, c in dims.items() if d == ALL or d in {b.value for b in m.breakdowns}
            }
            whole = (cohort.end - cohort.follow_up_until).days + after <= 0 and (
                cohort.history_from is None or (cohort.start - cohort.history_from).days >= before
            )
            if not whole:  # otherwise the denominator is the cohort itself
                denominators.setdefault(f"eligible_{before}_{after}.people", {}).update(mdims)
            offsets = [(e[3] - day0).days for e in person_events if e[2] in m.events]
            if m.kind is MeasureKind.SHARE:
                hit = any(m.window[0] <= o <= m.window[1] for o in offsets)
                add(f"{m.id}.with_event", mdims, int(hit))
            else:
                b = sum(1 for o in offsets if -m.days <= o <= -1)
                a = sum(1 for o in offsets if 1 <= o <= m.days)
                add(f"{m.id}.people_before", mdims, int(b > 0))
                add(f"{m.id}.people_after", mdims, int(a > 0))
                add(f"{m.id}.events_before", mdims, min(b, m.cap))
                add(f"{m.id}.events_after", mdims, min(a, m.cap))
        for query, qdims in denominators.items():
            add(query, qdims, 1)
    return dict(out)
