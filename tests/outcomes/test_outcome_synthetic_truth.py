"""The standard measures on the synthetic generator's events: computed without noise on
the true links they equal the truth computed person by person from the generator's own
events; the generator's known effect shows; released values lie within their stated
intervals as often as stated; and drawing events leaves the scenario's exports as they
were (benchmarks depend on them)."""

from __future__ import annotations

import pytest

from linkage.events import EventCode
from linkage.outcomes import ALL, EventTable, compute_counts, load_standard_spec, release_counts
from linkage.synth import EventEffects, generate_events, generate_scenario
from tests.outcomes.reference import reference_counts

pytestmark = pytest.mark.unit

SPEC = load_standard_spec()


def _rows(events):  # type: ignore[no-untyped-def]
    return [
        (person, agency, e.code, e.day, e.disposition)
        for person, evs in events.by_person.items()
        for agency, e in evs
    ]


def test_events_leave_the_scenario_as_it_was() -> None:
    before = generate_scenario(people=300, seed=2025)
    events = generate_events(before, seed=2025)
    assert generate_scenario(people=300, seed=2025) == before
    assert events.by_person
    assert generate_events(before, seed=2025) == events  # deterministic
    # every event sits on a record of the agency the truth gives the person
    records = {(t.agency_id, t.local_id): t.person_id for t in before.truth}
    for (agency, local), evs in events.by_record.items():
        person = records[(agency, local)]
        assert [e for a, e in events.by_person[person] if a == agency] == evs


@pytest.mark.parametrize("seed", [1, 2025])
def test_exact_measures_on_true_links_equal_the_generators_truth(seed: int) -> None:
    scenario = generate_scenario(people=2000, seed=seed)
    events = generate_events(scenario, seed=seed)
    agencies = [e.agency.agency_id for e in scenario.exports]
    rows = _rows(events)
    counts = compute_counts(SPEC, EventTable.from_events(rows, agencies))
    truth = reference_counts(SPEC, rows, agencies)
    for query in counts.queries:
        for dim in query.dimensions:
            for category in counts.categories[dim]:
                assert counts.value(query.id, dim, category) == truth.get(
                    (query.id, dim, category), 0
                ), (query.id, dim, category)
    assert counts.value("cohort.people") > 200


def test_the_known_effect_of_a_contact_shows() -> None:
    effects = EventEffects()
    scenario = generate_scenario(people=4000, seed=7)
    events = generate_events(scenario, seed=7, effects=effects)
    agencies = [e.agency.agency_id for e in scenario.exports]
    counts = compute_counts(SPEC, EventTable.from_events(_rows(events), agencies))
    share_30 = counts.value("treatment_intake_30.with_event") / counts.value(
        counts.denominators["treatment_intake_30"]
    )
    # a contact's intake lands on one of two agencies the person may not be known to:
    # the share is the effect times the chance the chosen agency knows the person, plus
    # the base rate; far above the base rate alone
    assert share_30 > 3 * effects.intake_base
    er = "er_psych_180"
    assert counts.value(f"{er}.events_after") < counts.value(f"{er}.events_before")
    assert EventCode.TREATMENT_INTAKE in SPEC.measure("treatment_intake_30").events


def test_released_values_stay_within_their_intervals_at_the_default_epsilon() -> None:
    scenario = generate_scenario(people=3000, seed=11)
    events = generate_events(scenario, seed=11)
    agencies = [e.agency.agency_id for e in scenario.exports]
    counts = compute_counts(SPEC, EventTable.from_events(_rows(events), agencies))
    inside = released = 0
    for _ in range(30):
        release = release_counts(SPEC, counts, noisy=True)
        assert release.epsilon == SPEC.release.epsilon
        for f in release.figures:
            if f.value is None:
                continue
            assert f.low is not None
            assert f.high is not None
            released += 1
            inside += f.low <= counts.value(f.query, f.dimension, f.category) <= f.high
    # 95 % intervals: fewer than 90 % inside in 1,000+ figures has probability < 1e-9
    assert released > 1000
    assert inside / released > 0.90
    assert counts.value("cohort.people", ALL, ALL) > 0
