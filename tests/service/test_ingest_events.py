"""Programme events through ingest: stored with their record, idempotent, replaced with
it, withdrawn with it, kept by a consent change, validated."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from linkage.consent import Consent, Purpose, may_disclose, may_evaluate, parse_consent
from linkage.errors import InvalidInputError
from linkage.events import Disposition, EventCode, RecordEvent, canonical_events
from linkage.pki import Principal, Role
from linkage.service import ConsentChange, LinkageService, RecordWithdrawal
from linkage.service._batch_rows import stored_event
from linkage.store import SqliteLinkStore
from tests.service.factory import agency, batch, consent, person, upsert

pytestmark = pytest.mark.unit

CONTACT = RecordEvent(EventCode.CORESPONDER_CONTACT, date(2024, 3, 5), Disposition.REFERRED)
CALL = RecordEvent(EventCode.CRISIS_CALL, date(2024, 3, 1))


def _events(store: SqliteLinkStore) -> dict[bytes, list[RecordEvent]]:
    keys = {}
    with store.write() as tx:
        for ref in tx.all_records("police"):
            keys[ref.node_id] = ref.record_key
    out: dict[bytes, list[RecordEvent]] = {}
    for row in store.iter_record_events():
        out.setdefault(keys[row.node_id], []).append(stored_event(row))
    return {key: sorted(found, key=RecordEvent.sort_key) for key, found in out.items()}


def test_events_travel_with_the_record_and_are_replaced_and_withdrawn_with_it(
    service: LinkageService, store: SqliteLinkStore
) -> None:
    rng = np.random.default_rng(7)
    bits = person(rng)
    with_events = dataclasses.replace(upsert("k1", bits), events=canonical_events([CONTACT, CALL]))
    out = service.write_batch(agency("police"), batch("police", "b1", with_events))
    assert out.inserted == 1
    assert _events(store) == {b"k1": [CALL, CONTACT]}
    # the same record and events again: unchanged (idempotent)
    out = service.write_batch(agency("police"), batch("police", "b2", with_events))
    assert (out.unchanged, out.updated) == (1, 0)
    # the same call twice is two events; the record is updated in place (same CLK)
    twice = dataclasses.replace(with_events, events=canonical_events([CALL, CALL]))
    out = service.write_batch(agency("police"), batch("police", "b3", twice))
    assert out.updated == 1
    assert _events(store) == {b"k1": [CALL, CALL]}
    # a new CLK replaces the record, events and all
    replaced = dataclasses.replace(upsert("k1", person(rng)), events=(CONTACT,))
    service.write_batch(agency("police"), batch("police", "b4", replaced))
    assert _events(store) == {b"k1": [CONTACT]}
    # a consent change keeps the events, and a resend is then still unchanged
    new_consent = consent(disclose=False)
    service.write_batch(
        agency("police"), batch("police", "b5", ConsentChange(b"k1", new_consent, True))
    )
    assert _events(store) == {b"k1": [CONTACT]}
    resend = dataclasses.replace(replaced, consent=new_consent)
    assert service.write_batch(agency("police"), batch("police", "b6", resend)).unchanged == 1
    # without events the record loses them
    bare = dataclasses.replace(resend, events=())
    assert service.write_batch(agency("police"), batch("police", "b7", bare)).updated == 1
    assert _events(store) == {}
    service.write_batch(agency("police"), batch("police", "b8", resend))
    service.write_batch(agency("police"), batch("police", "b9", RecordWithdrawal(b"k1")))
    assert list(store.iter_record_events()) == []


def test_a_batch_without_events_digests_as_before_events_existed() -> None:
    rng = np.random.default_rng(3)
    plain = batch("police", "b1", upsert("k", person(rng)))
    same = batch("police", "b1", dataclasses.replace(plain.mutations[0], events=()))
    with_events = batch("police", "b1", dataclasses.replace(plain.mutations[0], events=(CALL,)))
    assert plain.digest() == same.digest() != with_events.digest()


def test_future_events_and_too_many_are_refused_naming_the_event(
    service: LinkageService,
) -> None:
    rng = np.random.default_rng(4)
    future = RecordEvent(EventCode.CRISIS_CALL, datetime.now(UTC).date() + timedelta(days=3))
    bad = dataclasses.replace(upsert("k", person(rng)), events=(CALL, future))
    with pytest.raises(InvalidInputError) as caught:
        service.write_batch(agency("police"), batch("police", "b1", bad))
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        ("mutations[0].upsert.events[1].date", "lies in the future")
    ]
    many = dataclasses.replace(upsert("k", person(rng)), events=(CALL,) * 1001)
    with pytest.raises(InvalidInputError) as caught:
        service.write_batch(agency("police"), batch("police", "b2", many))
    assert caught.value.problems[0].location == "mutations[0].upsert.events"


def test_events_are_refused_by_code_date_and_disposition_never_echoing_the_value() -> None:
    from linkage.events import parse_event

    with pytest.raises(InvalidInputError) as caught:
        parse_event("secret-text", "05/03/2024", "went home", "events[0]")
    problems = {p.location: p.reason for p in caught.value.problems}
    assert set(problems) == {"events[0].code", "events[0].date", "events[0].disposition"}
    assert not any("secret" in r or "went home" in r for r in problems.values())
    with pytest.raises(InvalidInputError) as caught:
        parse_event("crisis_call", "2024-03-05", "referred", "e")
    assert caught.value.problems[0].location == "e.disposition"
    with pytest.raises(InvalidInputError):
        parse_event("crisis_call", "2024-W10-2", "", "e")  # ISO week dates are not dates here
    assert parse_event("mobile_crisis", "2024-03-05", "", "e").disposition is None


def test_evaluation_is_an_aggregate_purpose_that_never_discloses() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    expires = datetime(2026, 1, 1, tzinfo=UTC)
    only = Consent(allow_linkage=True, purposes=frozenset({Purpose.EVALUATION}), expires_at=expires)
    assert may_evaluate(only, now)
    assert not may_evaluate(only, expires)
    assert not may_evaluate(only.revoke(), now)
    assert parse_consent(only.to_bytes()) == only
    responder = Principal(Role.RESPONDER, "police", "officer", 1)
    both = Consent.for_recipients(
        roles=[Role.RESPONDER],
        purposes=[Purpose.CRISIS_RESPONSE, Purpose.EVALUATION],
        expires_at=expires,
    )
    assert may_evaluate(both, now)
    assert may_disclose(both, responder, Purpose.CRISIS_RESPONSE, now)
    assert not may_disclose(both, responder, Purpose.EVALUATION, now)
    with pytest.raises(InvalidInputError, match="consent is invalid") as caught:
        Consent(allow_linkage=True, purposes=frozenset({Purpose.EVALUATION}))
    assert caught.value.problems[0].location == "$.expires_at"
    with pytest.raises(InvalidInputError) as caught:
        Consent(allow_linkage=True, purposes=frozenset({Purpose.TREATMENT}), expires_at=expires)
    assert caught.value.problems[0].location == "$.purposes"


def test_a_lookup_may_not_state_the_evaluation_purpose(service: LinkageService) -> None:
    rng = np.random.default_rng(5)
    bits = person(rng)
    service.write_batch(agency("police"), batch("police", "b1", upsert("k", bits)))
    from tests.service.factory import clk_bytes, responder

    with pytest.raises(InvalidInputError) as caught:
        service.lookup(responder("police"), clk_bytes(bits), 1, "ab" * 16, "evaluation", 5)
    assert caught.value.problems[0].location == "purpose"
