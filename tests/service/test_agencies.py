"""Agencies: enrolment rules, the cache ingest and lookups read, counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from linkage.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from linkage.service import NullObserver, ServiceLimits
from linkage.service._agencies import Agencies, proposal_digest
from linkage.service._clock import system_clock_us
from linkage.service._state import ServiceState
from linkage.store import EventKind, SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS, agency

pytestmark = pytest.mark.unit


def _agencies(store: SqliteLinkStore) -> Agencies:
    return Agencies(ServiceState(store, SETTINGS, ServiceLimits(), system_clock_us, NullObserver()))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteLinkStore]:
    opened = SqliteLinkStore(tmp_path / "agencies.db")
    yield opened
    opened.close()


@pytest.mark.parametrize("agency_id", ["a", "Police", "9lives", "has_underscore", "x" * 64])
def test_agency_ids_the_matcher_cannot_enrol_are_refused(
    store: SqliteLinkStore, agency_id: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        _agencies(store).create(OPERATOR, agency_id, "Name", b"")
    assert info.value.problems[0].location == "agency_id"
    assert store.list_agencies() == []


@pytest.mark.parametrize("name", ["", "   ", "n" * 201])
def test_display_names_must_be_1_to_200_characters(store: SqliteLinkStore, name: str) -> None:
    agencies = _agencies(store)
    with pytest.raises(InvalidInputError, match="invalid agency"):
        agencies.create(OPERATOR, "police", name, b"")
    agencies.create(OPERATOR, "police", "Police", b"")
    with pytest.raises(InvalidInputError, match="invalid agency"):
        agencies.propose(OPERATOR, "police", name, b"")


def test_enrolment_writes_an_event_and_an_audit_entry(store: SqliteLinkStore) -> None:
    agencies = _agencies(store)
    row = agencies.create(OPERATOR, "police", "Police", b"card")
    assert (row.agency_id, row.agency_no, row.contact_card) == ("police", 1, b"card")
    with pytest.raises(AlreadyExistsError):
        agencies.create(OPERATOR, "police", "Police", b"card")
    assert [e.kind for e in store.list_events(0, 10)] == [EventKind.AGENCY_CHANGED]
    assert [(a.action, a.target_ids) for a in store.iter_audit()] == [
        ("agency.create", ("agencies/police",))
    ]


def test_the_cache_follows_this_process_and_reads_other_enrolments_once(
    store: SqliteLinkStore,
) -> None:
    mine, other = _agencies(store), _agencies(store)
    assert mine.cached("police") is None
    other.create(OPERATOR, "police", "Police", b"old")
    first = mine.cached("police")
    assert first is not None
    assert first.contact_card == b"old"
    _, proposal = mine.propose(OPERATOR, "police", "Police", b"new")
    assert proposal is not None
    assert mine.cached("police").contact_card == b"old"  # type: ignore[union-attr]
    mine.settle(agency("police"), "police", proposal_digest(proposal), reject=False)
    cached = mine.cached("police")
    assert cached is not None
    assert cached.contact_card == b"new"
    assert mine.get("police").contact_card == b"new"
    with pytest.raises(NotFoundError):
        mine.propose(OPERATOR, "sheriff", "Sheriff", b"")


def test_reads_and_counts(store: SqliteLinkStore) -> None:
    agencies = _agencies(store)
    for agency_id in ("er", "police", "sud"):
        agencies.create(OPERATOR, agency_id, agency_id.upper(), b"")
    assert [a.agency_id for a in agencies.list_agencies("er", 10)] == ["police", "sud"]
    assert agencies.counts("police").record_count == 0
    assert agencies.list_records("police", b"", 10) == []
    with pytest.raises(NotFoundError):
        agencies.get("ems")
    with pytest.raises(NotFoundError):
        agencies.counts("ems")
