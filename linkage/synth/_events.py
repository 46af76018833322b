"""Programme events for a synthetic scenario, with known effects: the truth the outcome
measures are tested against (docs/outcomes.md, "Synthetic truth").

Drawn from a random stream of their own (seeded by the scenario's seed), so a scenario's
exports are the same with or without events. Each person may have co-responder contacts
in the period (recorded by the police), crisis calls and jail bookings (police), visits to
the ER for a psychiatric reason (the ER) and treatment intakes (the mental-health centre
or the substance-use programme). An event is recorded on the person's record at the
agency that keeps it; a person that agency does not know has no such event (as in life:
the agency has no record to attach it to).

Known effects (:class:`EventEffects`): a contact raises the chance of a treatment intake
in the 30 days after it from ``intake_base`` to ``intake_after_contact``, and lowers the
rate of ER visits and jail bookings after the contact by ``after_factor``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from linkage.events import Disposition, EventCode, RecordEvent
from linkage.synth._generator import Scenario

__all__ = ["EventEffects", "ScenarioEvents", "generate_events"]

POLICE, MHC, ER, SUD = "metro-police", "valley-mhc", "riverside-er", "harbour-sud"


@dataclass(frozen=True, slots=True)
class EventEffects:
    """Rates of the synthetic events and the effects of a contact."""

    #: share of people with a co-responder contact in the period
    contact_rate: float = 0.3
    #: chance of a second contact within 120 days of the first
    repeat_contact: float = 0.2
    #: chance of a treatment intake in the 30 days after a contact (the effect)
    intake_after_contact: float = 0.4
    #: chance of a treatment intake in any 30 days without a contact
    intake_base: float = 0.05
    #: mean psychiatric ER visits per person in 180 days (before a contact)
    er_per_180: float = 0.8
    #: mean jail bookings per person in 180 days (before a contact)
    booking_per_180: float = 0.4
    #: after a contact, ER visits and bookings happen at this fraction of the rate before
    after_factor: float = 0.6
    #: the period of the contacts
    start: date = date(2025, 1, 1)
    end: date = date(2025, 12, 31)
    #: events begin this many days before the period and end this many after it (the
    #: matcher refuses events dated in the future)
    margin_days: int = 300


@dataclass(frozen=True, slots=True)
class ScenarioEvents:
    """The events of a scenario: by record (what each agency uploads) and by person (the
    truth). ``by_person`` lists ``(agency, event)`` pairs."""

    effects: EventEffects
    by_record: dict[tuple[str, str], list[RecordEvent]] = field(default_factory=dict)
    by_person: dict[str, list[tuple[str, RecordEvent]]] = field(default_factory=dict)


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: small means only
    limit, k, p = pow(2.718281828459045, -mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def generate_events(
    scenario: Scenario, *, seed: int, effects: EventEffects | None = None
) -> ScenarioEvents:
    """Events for every person of ``scenario`` (a separate random stream of ``seed``)."""
    e = effects or EventEffects()
    rng = random.Random(f"coresponder-events/{seed}")
    records: dict[tuple[str, str], str] = {}
    for row in sorted(scenario.truth, key=lambda r: (r.person_id, r.agency_id, r.local_id)):
        records.setdefault((row.person_id, row.agency_id), row.local_id)
    by_record: dict[tuple[str, str], list[RecordEvent]] = defaultdict(list)
    by_person: dict[str, list[tuple[str, RecordEvent]]] = defaultdict(list)
    span = (e.end - e.start).days
    first_day = e.start - timedelta(days=e.margin_days)
    last_day = e.end + timedelta(days=e.margin_days)

    def add(person: str, agency: str, code: EventCode, day: date, disp: Disposition | None) -> None:
        local = records.get((person, agency))
        if local is None or not first_day <= day <= last_day:
            return
        event = RecordEvent(code, day, disp)
        by_record[(agency, local)].append(event)
        by_person[person].append((agency, event))

    def background(
        person: str, code: EventCode, agency: str, per_180: float, lo: date, hi: date
    ) -> None:
        days = (hi - lo).days
        for _ in range(_poisson(rng, per_180 * days / 180)):
            add(person, agency, code, lo + timedelta(days=rng.randrange(max(1, days))), None)

    dispositions = list(Disposition)
    for person in sorted({p.person_id for p in scenario.people}):
        contact: date | None = None
        if rng.random() < e.contact_rate:
            contact = e.start + timedelta(days=rng.randrange(span + 1))
            add(person, POLICE, EventCode.CORESPONDER_CONTACT, contact, rng.choice(dispositions))
            if rng.random() < e.repeat_contact:
                again = contact + timedelta(days=rng.randrange(1, 121))
                add(person, POLICE, EventCode.CORESPONDER_CONTACT, again, rng.choice(dispositions))
            if rng.random() < e.intake_after_contact:
                day = contact + timedelta(days=rng.randrange(31))
                add(person, rng.choice((MHC, SUD)), EventCode.TREATMENT_INTAKE, day, None)
        # background: intakes at the base rate per 30 days (outside the contact's effect)
        months = (last_day - first_day).days // 30
        for m in range(months):
            if rng.random() < e.intake_base:
                day = first_day + timedelta(days=30 * m + rng.randrange(30))
                if contact is None or not 0 <= (day - contact).days <= 30:
                    add(person, rng.choice((MHC, SUD)), EventCode.TREATMENT_INTAKE, day, None)
        split = contact if contact is not None else last_day
        background(person, EventCode.ER_VISIT_PSYCH, ER, e.er_per_180, first_day, split)
        background(person, EventCode.JAIL_BOOKING, POLICE, e.booking_per_180, first_day, split)
        background(person, EventCode.CRISIS_CALL, POLICE, e.booking_per_180, first_day, split)
        if contact is not None:
            after = e.after_factor
            nxt = contact + timedelta(days=1)
            background(person, EventCode.ER_VISIT_PSYCH, ER, e.er_per_180 * after, nxt, last_day)
            background(
                person, EventCode.JAIL_BOOKING, POLICE, e.booking_per_180 * after, nxt, last_day
            )
            background(
                person, EventCode.CRISIS_CALL, POLICE, e.booking_per_180 * after, nxt, last_day
            )
    return ScenarioEvents(e, dict(by_record), dict(by_person))
