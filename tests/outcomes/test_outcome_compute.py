"""The pure core's exact counts: a small case worked by hand, and random cases against the
person-by-person reference (tests/outcomes/reference.py)."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, timedelta

import numpy as np
import pytest

from linkage.errors import InvalidInputError
from linkage.events import Disposition, EventCode
from linkage.outcomes import (
    ALL,
    EventTable,
    OutcomeSpec,
    compute_counts,
    load_spec,
    load_standard_spec,
)
from tests.outcomes.reference import Event, reference_counts

pytestmark = pytest.mark.unit

SPEC = load_spec(
    """
title = "Hand"
breakdowns = ["quarter", "agency", "disposition"]
[cohort]
events = ["coresponder_contact"]
from = 2025-01-01
to = 2025-06-30
follow_up_until = 2025-12-31
history_from = 2024-06-01
[[measures]]
id = "intake_30"
title = "Intake in 30 days"
kind = "share"
events = ["treatment_intake"]
window = [0, 30]
[[measures]]
id = "er_90"
title = "ER 90 days"
kind = "before_after"
events = ["er_visit_psych"]
days = 90
cap = 2
breakdowns = []
"""
)
C, T, ER = EventCode.CORESPONDER_CONTACT, EventCode.TREATMENT_INTAKE, EventCode.ER_VISIT_PSYCH
D = date


def test_a_small_case_by_hand() -> None:
    events: list[Event] = [
        # p1: contact 2025-02-01 (police, referred), intake day 30, 3 ER before, 1 after
        ("p1", "police", C, D(2025, 2, 1), Disposition.REFERRED),
        ("p1", "police", C, D(2025, 3, 1), Disposition.ARRESTED),  # later: not the index
        ("p1", "mhc", T, D(2025, 3, 3), None),  # day 30
        ("p1", "er", ER, D(2025, 1, 1), None),
        ("p1", "er", ER, D(2025, 1, 2), None),
        ("p1", "er", ER, D(2025, 1, 3), None),
        ("p1", "er", ER, D(2025, 2, 1), None),  # index day: neither window
        ("p1", "er", ER, D(2025, 2, 10), None),
        # p2: contact 2025-05-20 (no disposition), intake day 31 (outside), no ER
        ("p2", "police", C, D(2025, 5, 20), None),
        ("p2", "mhc", T, D(2025, 6, 20), None),
        # p3: contact before the period only: not in the cohort
        ("p3", "police", C, D(2024, 12, 31), Disposition.REFERRED),
        ("p3", "mhc", T, D(2025, 1, 2), None),
        # p4: contact too late for 90 days of follow-up? 2025-06-30 + 90 <= 2025-12-31: counts
        ("p4", "mhc", C, D(2025, 6, 30), Disposition.TRANSPORTED_ER),
        ("p4", "er", ER, D(2025, 6, 30), None),
    ]
    counts = compute_counts(SPEC, EventTable.from_events(events, ["police", "mhc", "er"]))
    assert counts.value("cohort.people") == 3
    assert counts.value("cohort.people", "quarter", "2025Q1") == 1
    assert counts.value("cohort.people", "quarter", "2025Q2") == 2
    assert counts.value("cohort.people", "agency", "mhc") == 1
    assert counts.value("cohort.people", "disposition", "none") == 1
    assert counts.value("cohort.people", "disposition", "referred") == 1
    # every index day of the period has 90 days of follow-up and history: the cohort is
    # every measure's denominator (no count of its own)
    assert counts.denominators == {"intake_30": "cohort.people", "er_90": "cohort.people"}
    assert "eligible_0_30.people" not in {q.id for q in counts.queries}
    assert counts.value("intake_30.with_event") == 1
    assert counts.value("intake_30.with_event", "disposition", "referred") == 1
    assert counts.value("er_90.people_before") == 1
    assert counts.value("er_90.events_before") == 2  # capped at 2
    assert counts.value("er_90.people_after") == 1
    assert counts.value("er_90.events_after") == 1
    assert [q.dimensions for q in counts.queries if q.id == "er_90.events_after"] == [(ALL,)]
    assert {q.id: q.sensitivity for q in counts.queries}["er_90.events_after"] == 2


def test_follow_up_and_history_decide_who_counts() -> None:
    late = load_spec(
        """
title = "F"
[cohort]
events = ["coresponder_contact"]
from = 2025-01-01
to = 2025-06-30
follow_up_until = 2025-07-15
history_from = 2024-12-01
[[measures]]
id = "intake_30"
title = "I"
kind = "share"
events = ["treatment_intake"]
window = [0, 30]
[[measures]]
id = "er_40"
title = "E"
kind = "before_after"
events = ["er_visit_psych"]
days = 40
"""
    )
    events: list[Event] = [
        ("a", "police", C, D(2025, 6, 1), None),  # 44 days of follow-up; 182 of history
        ("b", "police", C, D(2025, 6, 20), None),  # 25 days: in neither
        ("c", "police", C, D(2025, 1, 5), None),  # 35 days of history: not in er_40
    ]
    counts = compute_counts(late, EventTable.from_events(events, ["police"]))
    assert counts.value("eligible_0_30.people") == 2  # a, c
    assert counts.value("eligible_40_40.people") == 1  # a only


def _random_events(rng: random.Random, people: int) -> list[Event]:
    agencies = ["police", "mhc", "er", "sud"]
    codes = list(EventCode)
    events: list[Event] = []
    for person in range(people):
        for _ in range(rng.randrange(0, 12)):
            code = rng.choice(codes)
            day = D(2024, 6, 1) + timedelta(days=rng.randrange(0, 700))
            disposition = (
                rng.choice([None, *Disposition])
                if code in (EventCode.CORESPONDER_CONTACT, EventCode.MOBILE_CRISIS)
                else None
            )
            events.append((person, rng.choice(agencies), code, day, disposition))
    rng.shuffle(events)
    return events


SHORT_FOLLOW_UP = dataclasses.replace(
    load_standard_spec(),
    cohort=dataclasses.replace(
        load_standard_spec().cohort,
        follow_up_until=date(2026, 2, 15),
        history_from=date(2024, 9, 1),
    ),
)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("spec", [load_standard_spec(), SHORT_FOLLOW_UP], ids=["full", "short"])
def test_the_standard_set_matches_the_reference_on_random_events(
    seed: int, spec: OutcomeSpec
) -> None:
    rng = random.Random(seed)
    agencies = ["police", "mhc", "er", "sud"]
    events = _random_events(rng, 400)
    counts = compute_counts(spec, EventTable.from_events(events, agencies))
    expected = reference_counts(spec, events, agencies)
    checked = 0
    for query in counts.queries:
        for dim in query.dimensions:
            for category in counts.categories[dim]:
                got = counts.value(query.id, dim, category)
                assert got == expected.get((query.id, dim, category), 0), (query.id, dim, category)
                checked += got > 0
    assert checked > 50
    assert {q for q, _, _ in expected} == {q.id for q in counts.queries}
    # with a short follow-up some measures count only the people followed long enough
    own = any(d.startswith("eligible_") for d in counts.denominators.values())
    assert own == (spec is SHORT_FOLLOW_UP)


def test_no_events_give_zero_counts_and_bad_tables_are_refused() -> None:
    counts = compute_counts(SPEC, EventTable.from_events([], ["police"]))
    assert counts.value("cohort.people") == 0
    assert counts.categories["quarter"] == ("2025Q1", "2025Q2")
    with pytest.raises(InvalidInputError, match="agency not listed"):
        EventTable.from_events([("a", "fire", C, D(2025, 1, 1), None)], ["police"])
    one = np.array([0])
    with pytest.raises(InvalidInputError, match="person index"):
        EventTable(one + 1, one, one, one, one - 1, people=1, agencies=("police",))
