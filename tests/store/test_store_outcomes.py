"""Programme events of records and the privacy-budget ledger, on every engine."""

from __future__ import annotations

import pytest

from linkage.store import LinkStore, NewRecord, OutcomeReleaseRow, RecordEventRow

pytestmark = pytest.mark.integration


def _record(agency: str, key: bytes) -> NewRecord:
    return NewRecord(
        agency_id=agency,
        record_key=key,
        key_epoch=1,
        schema_fingerprint="fp",
        clk=b"\x01" * 128,
        pointer_token=b"tok-" + key,
        consent=b"consent-" + key,
        linkable=True,
        content_digest=b"d-" + key,
        update_time_us=10,
    )


def test_events_are_stored_replaced_and_deleted_with_their_record(store: LinkStore) -> None:
    with store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        tx.insert_agency("mhc", "MHC", b"", 1)
        a = tx.insert_record(_record("police", b"a"))
        b = tx.insert_record(_record("mhc", b"b"))
        c = tx.insert_record(_record("mhc", b"c"))
        (link,) = tx.allocate_link_ids(1, 1)
        tx.assign_links([(a, link), (b, link)], 1)
        tx.insert_record_events(
            [
                RecordEventRow(a, "coresponder_contact", 19_800, "referred"),
                RecordEventRow(a, "crisis_call", 19_700, ""),
                RecordEventRow(a, "crisis_call", 19_700, ""),
                RecordEventRow(b, "treatment_intake", 19_810, ""),
            ]
        )
        assert tx.record_events([a]) == [
            RecordEventRow(a, "crisis_call", 19_700, ""),
            RecordEventRow(a, "crisis_call", 19_700, ""),
            RecordEventRow(a, "coresponder_contact", 19_800, "referred"),
        ]
    records = list(store.iter_event_records())
    assert [(r.node_id, r.link_id, r.agency_id, r.consent) for r in records] == [
        (a, link, "police", b"consent-a"),
        (b, link, "mhc", b"consent-b"),
    ], "only records with events, by node; c has none"
    assert c not in {r.node_id for r in records}
    assert len(list(store.iter_record_events())) == 4
    with store.write() as tx:
        tx.delete_record_events([a])
        tx.insert_record_events([RecordEventRow(a, "jail_booking", 19_900, "")])
        tx.delete_records([b])
    assert list(store.iter_record_events()) == [RecordEventRow(a, "jail_booking", 19_900, "")]
    assert [r.node_id for r in store.iter_event_records()] == [a]


def test_the_ledger_sums_epsilon_per_programme_and_finds_the_latest_release(
    store: LinkStore,
) -> None:
    def release(programme: str, digest: bytes, epsilon: float, content: bytes) -> OutcomeReleaseRow:
        return OutcomeReleaseRow(programme, digest, epsilon, 100, "operator", 7, content)

    with store.write() as tx:
        assert tx.spent_epsilon("valley") == 0.0
        assert tx.latest_outcome_release("valley", b"q1") is None
        first = tx.insert_outcome_release(release("valley", b"q1", 0.5, b"{1}"))
        second = tx.insert_outcome_release(release("valley", b"q1", 0.25, b"{2}"))
        tx.insert_outcome_release(release("other", b"q1", 2.0, b"{3}"))
        assert tx.spent_epsilon("valley") == pytest.approx(0.75)
        latest = tx.latest_outcome_release("valley", b"q1")
        assert latest is not None
        assert (latest.release_id, latest.content, latest.audit_sequence) == (second, b"{2}", 7)
    assert first < second
    ledger = store.list_outcome_releases("valley")
    assert [(r.release_id, r.epsilon, r.query_digest) for r in ledger] == [
        (first, 0.5, b"q1"),
        (second, 0.25, b"q1"),
    ]
    assert store.list_outcome_releases("nobody") == []
