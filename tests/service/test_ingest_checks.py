"""The checks of a write batch on their own: limits, keys, CLKs, pointer tokens, consents,
events, the linkage space and the key epoch in force."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from linkage.errors import (
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    Problem,
    ResourceExhaustedError,
)
from linkage.events import EventCode, RecordEvent
from linkage.field_limits import MAX_EVENTS_PER_RECORD
from linkage.service import ConsentChange, NullObserver, ServiceLimits
from linkage.service._agencies import Agencies
from linkage.service._ingest_checks import (
    MAX_PROBLEMS,
    BatchValidator,
    check_epoch_in_force,
    refused_batch,
)
from linkage.service._state import ServiceState
from linkage.store import SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS, batch, consent, person, upsert

pytestmark = pytest.mark.unit

TODAY = datetime(2024, 3, 10, 12, tzinfo=UTC)


@dataclass
class Parts:
    state: ServiceState
    validator: BatchValidator


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    store = SqliteLinkStore(tmp_path / "checks.db")
    state = ServiceState(
        store,
        SETTINGS,
        ServiceLimits(max_batch_mutations=200),
        lambda: int(TODAY.timestamp() * 1_000_000),
        NullObserver(),
    )
    state.load_index()
    agencies = Agencies(state)
    agencies.create(OPERATOR, "police", "Police", b"")
    agencies.create(OPERATOR, "mhc", "Mental health", b"")
    yield Parts(state, BatchValidator(state, agencies))
    store.close()


def _refused(parts: Parts, *mutations: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInputError) as info:
        parts.validator.validate(batch("police", "b", *mutations))
    return [(p.location, p.reason) for p in info.value.problems]


def test_validation_refuses_before_anything_is_read(parts: Parts) -> None:
    rng = np.random.default_rng(1)
    too_many = batch("police", "b", *(upsert(f"k{i}", person(rng)) for i in range(201)))
    with pytest.raises(ResourceExhaustedError, match="at most 200 mutations"):
        parts.validator.validate(too_many)
    with pytest.raises(NotFoundError, match="'ems' is not enrolled"):
        parts.validator.validate(batch("ems", "b"))
    bad = upsert("k", person(rng))
    short = type(bad)(b"", b"\x01" * 3, b"", bad.consent, True)
    zeros = type(bad)(b"z", bytes(SETTINGS.clk_bytes), b"p" * 1025, bad.consent, True)
    with pytest.raises(InvalidInputError) as info:
        parts.validator.validate(batch("police", "b", short, zeros, upsert("z", person(rng))))
    assert [p.location for p in info.value.problems] == [
        "mutations[0].record_key",
        "mutations[0].upsert.clk",
        "mutations[0].upsert.pointer_token",
        "mutations[1].upsert.clk",
        "mutations[1].upsert.pointer_token",
        "mutations[2].record_key",
    ]
    assert str(info.value).startswith("batch 'b' was refused; nothing of it was stored")


def test_a_valid_batch_passes(parts: Parts) -> None:
    rng = np.random.default_rng(2)
    parts.validator.validate(batch("police", "b-1", upsert("a", person(rng))))


def test_another_linkage_space_is_refused_in_one_line(parts: Parts) -> None:
    rng = np.random.default_rng(3)
    other = dataclasses.replace(
        batch("police", "b", *(upsert(f"k{i}", person(rng)) for i in range(3))),
        schema_fingerprint="another-schema",
    )
    with pytest.raises(InvalidInputError) as info:
        parts.validator.validate(other)
    assert len(info.value.problems) == 1


def test_consents_must_parse_agree_with_linkability_and_name_enrolled_agencies(
    parts: Parts,
) -> None:
    rng = np.random.default_rng(4)
    good = upsert("a", person(rng))
    disagrees = dataclasses.replace(upsert("b", person(rng)), linkable=False)
    unenrolled = dataclasses.replace(
        upsert("c", person(rng)), consent=consent(agencies=("mhc", "nowhere"))
    )
    garbled = dataclasses.replace(upsert("d", person(rng)), consent=b"not a consent")
    change = ConsentChange(b"e", consent(linkable=False), linkable=True)
    problems = _refused(parts, good, disagrees, unenrolled, garbled, change)
    locations = [location for location, _ in problems]
    assert "mutations[1].upsert.consent.allow_linkage" in locations
    assert (
        "mutations[2].upsert.consent.recipient_agencies",
        "agency 'nowhere' is not enrolled; a consent names enrolled agencies only",
    ) in problems
    assert not any(where.startswith("mutations[0]") for where in locations)
    assert any(where.startswith("mutations[3].upsert.consent") for where in locations)
    assert "mutations[4].consent_update.consent.allow_linkage" in locations
    # an enrolled recipient is no problem
    assert not any("'mhc'" in reason for _, reason in problems)


def test_a_consent_must_be_its_canonical_bytes(parts: Parts) -> None:
    rng = np.random.default_rng(5)
    record = upsert("a", person(rng))
    padded = dataclasses.replace(record, consent=record.consent + b" ")
    problems = _refused(parts, padded)
    assert problems == [("mutations[0].upsert.consent", "must be the consent's canonical bytes")]


def test_events_in_the_future_or_too_many_are_refused(parts: Parts) -> None:
    rng = np.random.default_rng(6)
    past = RecordEvent(EventCode.CRISIS_CALL, date(2024, 3, 1))
    tomorrow = RecordEvent(EventCode.CRISIS_CALL, date(2024, 3, 11))  # time zones
    future = RecordEvent(EventCode.CRISIS_CALL, date(2024, 3, 12))
    ok = dataclasses.replace(upsert("a", person(rng)), events=(past, tomorrow))
    late = dataclasses.replace(upsert("b", person(rng)), events=(past, future))
    locations = [location for location, _ in _refused(parts, ok, late)]
    assert locations == ["mutations[1].upsert.events[1].date"]
    many = (past,) * (MAX_EVENTS_PER_RECORD + 1)
    assert parts.validator.event_problems(many, "e") == [
        Problem("e", f"must be at most {MAX_EVENTS_PER_RECORD} events")
    ]
    assert parts.validator.event_problems((), "e") == []


def test_an_all_ones_clk_is_refused(parts: Parts) -> None:
    ones = b"\xff" * SETTINGS.clk_bytes
    assert parts.validator.clk_problems(ones, "q")
    rng = np.random.default_rng(7)
    assert parts.validator.clk_problems(upsert("a", person(rng)).clk, "q") == []


def test_the_problems_named_are_capped(parts: Parts) -> None:
    empty_keys = [
        dataclasses.replace(upsert("x", person(np.random.default_rng(i))), record_key=b"")
        for i in range(150)
    ]
    assert len(_refused(parts, *empty_keys)) == MAX_PROBLEMS


def test_a_batch_of_an_epoch_no_longer_in_force_is_refused(parts: Parts) -> None:
    current = batch("police", "b")
    check_epoch_in_force(current, parts.state)
    stale = dataclasses.replace(current, key_epoch=SETTINGS.key_epoch + 1)
    with pytest.raises(FailedPreconditionError, match="no longer in force"):
        check_epoch_in_force(stale, parts.state)


def test_a_refused_batch_names_each_problem() -> None:
    problems = [Problem("batch_id", "bad"), Problem("mutations[0].record_key", "empty")]
    error = refused_batch(batch("police", "b7"), problems)
    assert error.problems == tuple(problems)
    assert "batch 'b7' was refused; nothing of it was stored" in str(error)
