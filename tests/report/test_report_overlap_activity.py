"""Links per agency pair and weekly activity, checked against brute force and by hand."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import InvalidInputError
from linkage.report import ActivityCounter, link_overlap
from linkage.store import EventKind, EventRow

pytestmark = pytest.mark.unit

MONDAY = datetime(2025, 3, 3, tzinfo=UTC)


def _us(when: datetime) -> int:
    return int(when.timestamp() * 1e6)


def test_overlap_by_hand() -> None:
    agencies = ("er", "police", "sud")
    # links: 10 = {er, police}, 11 = {er, police, sud}, 12 = {police} alone, 13 = {sud, sud}
    agency = [0, 1, 0, 1, 2, 1, 2, 2, 0]
    link = [10, 10, 11, 11, 11, 12, 13, 13, -1]
    overlap = link_overlap(agencies, agency, link)
    assert overlap.link_count == 3
    assert overlap.size_counts.tolist() == [0, 0, 2, 1]
    assert overlap.records.tolist() == [3, 3, 3]
    assert overlap.linked_records.tolist() == [2, 2, 3]
    assert overlap.shared[0, 1] == overlap.shared[1, 0] == 2
    assert overlap.shared[0, 2] == 1
    assert overlap.shared[1, 2] == 1
    assert overlap.shared[2, 2] == 2  # links 11 and 13 hold a sud record
    assert overlap.sizes[0, 1].tolist() == [0, 0, 1, 1]
    assert overlap.sizes[1, 2].tolist() == [0, 0, 0, 1]


def test_overlap_refuses_bad_indices() -> None:
    with pytest.raises(InvalidInputError):
        link_overlap(("a",), [1], [5])
    with pytest.raises(InvalidInputError):
        link_overlap(("a",), [0, 0], [5])


@settings(max_examples=60, deadline=None)
@given(records=st.lists(st.tuples(st.integers(0, 3), st.integers(-1, 12)), min_size=0, max_size=60))
def test_overlap_equals_brute_force(records: list[tuple[int, int]]) -> None:
    agencies = ("a", "b", "c", "d")
    overlap = link_overlap(agencies, [r[0] for r in records], [r[1] for r in records])
    members: dict[int, list[int]] = {}
    for agency, link in records:
        if link >= 0:
            members.setdefault(link, []).append(agency)
    multi = {link: m for link, m in members.items() if len(m) >= 2}
    assert overlap.link_count == len(multi)
    assert Counter(len(m) for m in multi.values()) == Counter(
        {s: int(c) for s, c in enumerate(overlap.size_counts) if c}
    )
    for i, j in [*combinations(range(4), 2), *((k, k) for k in range(4))]:
        both = [m for m in multi.values() if i in m and j in m]
        assert overlap.shared[i, j] == overlap.shared[j, i] == len(both)
        sizes = Counter(len(m) for m in both)
        assert {s: int(c) for s, c in enumerate(overlap.sizes[i, j]) if c} == dict(sizes)
    for k in range(4):
        assert overlap.linked_records[k] == sum(m.count(k) for m in multi.values())


def _event(kind: EventKind, when: datetime, agency: str | None, **kw: object) -> EventRow:
    return EventRow(kind, _us(when), agency_id=agency, **kw)  # type: ignore[arg-type]


def test_weekly_activity_by_hand() -> None:
    counter = ActivityCounter()
    week2 = MONDAY + timedelta(days=8)
    counter.add_events(
        [
            _event(EventKind.BATCH_COMMITTED, MONDAY, "police", batch_id="b1", record_count=5),
            # Every new record gets its own link; a singleton is not a link between agencies.
            *(
                _event(EventKind.LINK_CREATED, MONDAY, "police", target_links=(n,), record_count=1)
                for n in (1, 2, 3, 4, 5)
            ),
            _event(EventKind.BATCH_COMMITTED, week2, "er", batch_id="b1", record_count=3),
            _event(EventKind.RECORD_WITHDRAWN, week2, "er", batch_id="b1", record_count=1),
            _event(EventKind.LINK_JOINED, week2, "er", target_links=(1,), record_count=1),
            # A third record joins: the link existed already.
            _event(EventKind.LINK_JOINED, week2, "er", target_links=(1,), record_count=1),
            _event(EventKind.LINK_CREATED, week2, "er", target_links=(6,), record_count=2),
            _event(EventKind.LINK_MERGED, week2, None, source_links=(2,), target_links=(3,)),
            _event(EventKind.LINK_SPLIT, week2, None, source_links=(6,), target_links=(6, 7)),
            # After a split the sizes are unknown: a join there is not counted.
            _event(EventKind.LINK_JOINED, week2, "er", target_links=(7,), record_count=1),
        ]
    )
    counter.add_lookup(_us(MONDAY + timedelta(hours=5)), "responder:police/officer-jane#3f")
    counter.add_lookup(_us(week2), "responder:er/gateway#a")
    counter.add_lookup(_us(week2), "operator:someone#1")
    counter.add_disclosures(_us(week2), "sud", 2)
    activity = counter.result()
    assert activity.weeks == (date(2025, 3, 3), date(2025, 3, 10))
    assert activity.agencies == ("er", "police", "sud", "(no agency)", "(rebuild)")
    assert activity.counts["records"] == {"er": (0, 2), "police": (5, 0)}
    assert activity.counts["links"] == {"er": (0, 2), "(rebuild)": (0, 1)}
    assert activity.counts["lookups"] == {"(no agency)": (0, 1), "er": (0, 1), "police": (1, 0)}
    assert activity.counts["disclosures"] == {"sud": (0, 2)}
    assert activity.total("links") == 3
    assert activity.total("records", "police") == 5
    assert activity.total("lookups", "nobody") == 0
    # Responder names never become labels.
    assert not any("jane" in a for a in activity.agencies)


def test_weeks_between_active_ones_are_kept_empty() -> None:
    counter = ActivityCounter()
    counter.add_disclosures(_us(MONDAY), "er")
    counter.add_disclosures(_us(MONDAY + timedelta(weeks=3, days=6)), "er")
    activity = counter.result()
    assert len(activity.weeks) == 4
    assert activity.counts["disclosures"]["er"] == (1, 0, 0, 1)
    assert ActivityCounter().result().weeks == ()


@settings(max_examples=40, deadline=None)
@given(times=st.lists(st.integers(0, 10**8), min_size=1, max_size=30))
def test_every_lookup_lands_in_the_monday_week_that_holds_it(times: list[int]) -> None:
    counter = ActivityCounter()
    for seconds in times:
        counter.add_lookup(_us(MONDAY) + seconds * 1_000_000, "responder:er/x#1")
    activity = counter.result()
    assert sum(activity.counts["lookups"]["er"]) == len(times)
    assert all(week.weekday() == 0 for week in activity.weeks)
    for seconds in times:
        day = (MONDAY + timedelta(seconds=seconds)).date()
        assert day - timedelta(days=day.weekday()) in activity.weeks
    assert np.all(np.diff([w.toordinal() for w in activity.weeks]) == 7)
