"""The release: small cells and the cells that would give them away are withheld; every
count gets OpenDP noise at the scale the epsilon split says, and its interval covers the
exact count as often as stated."""

from __future__ import annotations

import dataclasses
import math
from datetime import date

import pytest

from linkage.events import Disposition, EventCode
from linkage.outcomes import (
    ALL,
    EventTable,
    SuppressOn,
    compute_counts,
    load_spec,
    plan_noise,
    release_counts,
    suppress,
)
from tests.outcomes.reference import Event

pytestmark = pytest.mark.unit

SPEC = load_spec(
    """
title = "T"
breakdowns = ["agency"]
[cohort]
events = ["coresponder_contact"]
from = 2025-01-01
to = 2025-03-31
follow_up_until = 2025-12-31
[[measures]]
id = "intake_30"
title = "Intake"
kind = "share"
events = ["treatment_intake"]
window = [0, 30]
[[measures]]
id = "er_30"
title = "ER"
kind = "before_after"
events = ["er_visit_psych"]
days = 30
cap = 2
breakdowns = []
"""
)
C, T, ER = EventCode.CORESPONDER_CONTACT, EventCode.TREATMENT_INTAKE, EventCode.ER_VISIT_PSYCH


def _events(per_agency: dict[str, tuple[int, int]]) -> list[Event]:
    """``agency -> (people in the cohort, of whom with an intake)``."""
    events: list[Event] = []
    for agency, (people, intakes) in per_agency.items():
        for i in range(people):
            key = f"{agency}-{i}"
            events.append((key, agency, C, date(2025, 2, 1), Disposition.REFERRED))
            if i < intakes:
                events.append((key, agency, T, date(2025, 2, 10), None))
            if i % 2:
                events.append((key, agency, ER, date(2025, 1, 20), None))
    return events


AGENCIES = ["a", "b", "c", "d"]


def _counts(per_agency: dict[str, tuple[int, int]]):  # type: ignore[no-untyped-def]
    return compute_counts(SPEC, EventTable.from_events(_events(per_agency), AGENCIES))


def test_a_small_cell_and_its_complement_are_withheld_and_totals_stay() -> None:
    counts = _counts({"a": (40, 20), "b": (30, 15), "c": (5, 2), "d": (60, 30)})
    release = release_counts(SPEC, counts, noisy=False)
    # c has 5 people: withheld; alone it would be the total minus the others, so the
    # next smallest (b, 30) goes too; the total stays
    assert release.figure("cohort.people", "agency", "c").withheld == "small"
    assert release.figure("cohort.people", "agency", "b").withheld == "complementary"
    assert release.figure("cohort.people", "agency", "a").value == 40
    assert release.figure("cohort.people").value == 135
    # the share's numerator in c depends on its withheld denominator
    assert release.figure("intake_30.with_event", "agency", "c").value is None
    for query in counts.queries:
        for dim in query.dimensions:
            if dim == ALL:
                continue
            hidden = [
                release.figure(query.id, dim, c).value is None for c in counts.categories[dim]
            ]
            assert sum(hidden) != 1, (query.id, dim)


def test_a_share_whose_complement_is_small_is_withheld() -> None:
    counts = _counts({"a": (40, 35), "b": (30, 15), "d": (60, 30)})
    release = release_counts(SPEC, counts, noisy=False)
    # 35 of 40 had an intake: the 5 without would be given away
    assert release.figure("intake_30.with_event", "agency", "a").withheld == "dependent"
    assert release.figure("cohort.people", "agency", "a").value == 40


def test_a_lone_small_cell_with_only_empty_others_withholds_the_total() -> None:
    counts = _counts({"a": (7, 0)})
    withheld = suppress(
        counts,
        {
            (q.id, d, c): counts.value(q.id, d, c)
            for q in counts.queries
            for d in q.dimensions
            for c in counts.categories[d]
        },
        11,
    )
    assert withheld[("cohort.people", "agency", "a")] == "small"
    assert withheld[("cohort.people", ALL, ALL)] == "small"


def test_noise_scale_follows_the_epsilon_split_and_intervals_cover() -> None:
    counts = _counts({"a": (400, 200), "b": (300, 150), "c": (250, 100), "d": (600, 300)})
    histograms = sum(len(q.dimensions) for q in counts.queries)
    release = release_counts(SPEC, counts, noisy=True)
    assert release.epsilon_per_histogram == pytest.approx(1.0 / histograms)
    people = release.figure("cohort.people")
    events = release.figure("er_30.events_before")
    assert people.scale == pytest.approx(histograms / 1.0, rel=1e-6)
    assert events.scale == pytest.approx(2 * histograms / 1.0, rel=1e-6)  # cap 2
    # the plan made from the spec alone says the same
    share, plans = plan_noise(SPEC)
    assert share == pytest.approx(release.epsilon_per_histogram)
    for plan in plans:
        figure = release.figure(plan.query)
        assert (plan.scale, plan.half_width) == (figure.scale, figure.half_width)
    # discrete Laplace: P(|X| > h) <= 5 %; h is near scale * ln(20) for large scales
    assert people.half_width == pytest.approx(people.scale * math.log(20), rel=0.05)
    # coverage over many draws: with a 95 % interval, more than 8 % outside in 1,000+
    # cells happens with probability below 1e-5 (binomial tail)
    outside = cells = 0
    for _ in range(80):
        noisy = release_counts(SPEC, counts, noisy=True)
        for f in noisy.figures:
            if f.value is None:
                continue
            exact = counts.value(f.query, f.dimension, f.category)
            assert f.low is not None
            assert f.high is not None
            cells += 1
            outside += not (f.low <= exact <= f.high)
    assert cells >= 1000
    assert outside / cells < 0.08
    assert outside > 0  # noise was added: some intervals miss


def test_noisy_suppression_reads_the_noisy_counts() -> None:
    spec = dataclasses.replace(
        SPEC, release=dataclasses.replace(SPEC.release, suppress_on=SuppressOn.NOISY)
    )
    counts = _counts({"a": (40, 20), "b": (30, 15), "c": (5, 2), "d": (60, 30)})
    # c's 5 people (noise scale 11 here) reach 11 or more in about 3 draws of 10: read
    # from the noisy count, c is sometimes shown and sometimes withheld (60 draws: both
    # happen but with probability below 1e-8); a noisy count of 0 or less is shown as 0
    shown = 0
    for _ in range(60):
        figure = release_counts(spec, counts, noisy=True).figure("cohort.people", "agency", "c")
        assert figure.value is None or figure.value >= 11 or figure.value == 0
        shown += figure.value is not None
    assert 0 < shown < 60


def test_the_release_round_trips_through_json() -> None:
    counts = _counts({"a": (40, 20), "b": (30, 15), "c": (5, 2), "d": (60, 30)})
    release = release_counts(SPEC, counts, noisy=True)
    from linkage.outcomes import Release

    assert Release.from_json(release.to_json()) == release
