"""A batch's rows on their own: content digests, events as stored, the stored outcome and
its replay."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest

from linkage.errors import FailedPreconditionError
from linkage.events import Disposition, EventCode, RecordEvent, events_bytes
from linkage.service import BatchOutcome, LinkageService
from linkage.service._batch_rows import (
    content_digest,
    event_row,
    outcome_to_json,
    replayed_outcome,
    stored_event,
    stored_event_bytes,
    upsert_digest,
)
from linkage.store import BatchRow, SqliteLinkStore
from tests.service.factory import agency, batch, person, upsert

pytestmark = pytest.mark.unit

CONTACT = RecordEvent(EventCode.CORESPONDER_CONTACT, date(2024, 3, 5), Disposition.REFERRED)
CALL = RecordEvent(EventCode.CRISIS_CALL, date(2024, 3, 1))


def test_content_digests_are_length_prefixed() -> None:
    assert content_digest(b"ab", b"c", b"") != content_digest(b"a", b"bc", b"")
    assert content_digest(b"ab", b"c", b"") == content_digest(b"ab", b"c", b"")


def test_a_record_without_events_digests_as_before_events() -> None:
    assert content_digest(b"clk", b"p", b"c", b"") == content_digest(b"clk", b"p", b"c")
    assert content_digest(b"clk", b"p", b"c", b"x") != content_digest(b"clk", b"p", b"c")


def test_an_upsert_digests_its_events_in_canonical_order() -> None:
    record = upsert("k", person(np.random.default_rng(1)))
    plain = content_digest(record.clk, record.pointer_token, record.consent)
    assert upsert_digest(record) == plain
    one_order = dataclasses.replace(record, events=(CALL, CONTACT))
    other_order = dataclasses.replace(record, events=(CONTACT, CALL))
    assert upsert_digest(one_order) == upsert_digest(other_order) != plain
    assert upsert_digest(one_order) == content_digest(
        record.clk, record.pointer_token, record.consent, events_bytes([CALL, CONTACT])
    )


def test_an_event_reads_back_as_it_was_stored() -> None:
    for event in (CONTACT, CALL):
        row = event_row(7, event)
        assert row.node_id == 7
        assert stored_event(row) == event
    assert event_row(7, CALL).disposition == ""


def test_the_stored_event_bytes_are_those_of_each_record_with_events(
    service: LinkageService, store: SqliteLinkStore
) -> None:
    rng = np.random.default_rng(2)
    with_events = dataclasses.replace(upsert("a", person(rng)), events=(CONTACT, CALL))
    service.write_batch(
        agency("police"), batch("police", "b1", with_events, upsert("b", person(rng)))
    )
    with store.write() as tx:
        nodes = {ref.record_key: ref.node_id for ref in tx.all_records("police")}
        found = stored_event_bytes(tx, list(nodes.values()))
    assert found == {nodes[b"a"]: events_bytes([CALL, CONTACT])}


def test_a_stored_outcome_replays_and_refuses_another_batch_under_its_id() -> None:
    sent = batch("police", "b1")
    outcome = BatchOutcome("police", "b1", False, 3, 2, 1, 1, 0, 4, 1_700_000_000_000_000)
    stored = BatchRow("police", "b1", b"digest", outcome_to_json(outcome), outcome.commit_time_us)
    assert replayed_outcome(sent, b"digest", stored) == dataclasses.replace(outcome, replayed=True)
    with pytest.raises(FailedPreconditionError, match="already used for a different batch"):
        replayed_outcome(sent, b"another digest", stored)
