"""Behaviour every LinkStore engine must show."""

from __future__ import annotations

import threading

import pytest

from linkage.errors import AlreadyExistsError, NotFoundError, StorageError
from linkage.store import (
    AuditRow,
    BatchRow,
    DisclosureRow,
    EdgeRow,
    EventKind,
    EventRow,
    LinkageRunRow,
    LinkStore,
    NewRecord,
    ReadPositions,
)

pytestmark = pytest.mark.integration


def _record(
    agency: str, key: bytes, clk: bytes = b"\x01" * 128, *, linkable: bool = True
) -> NewRecord:
    return NewRecord(
        agency_id=agency,
        record_key=key,
        key_epoch=1,
        schema_fingerprint="fp",
        clk=clk,
        pointer_token=b"tok-" + key,
        consent=b"{}",
        linkable=linkable,
        content_digest=b"d-" + key,
        update_time_us=10,
    )


def _enrol(store: LinkStore, *agencies: str) -> None:
    with store.write() as tx:
        for agency in agencies:
            tx.insert_agency(agency, agency.title(), b"card", 1)


def test_agencies_are_enrolled_once_numbered_and_updatable(store: LinkStore) -> None:
    _enrol(store, "police", "valley-mhc")
    with pytest.raises(AlreadyExistsError), store.write() as tx:
        tx.insert_agency("police", "again", b"", 2)
    rows = store.list_agencies()
    assert [(r.agency_id, r.agency_no) for r in rows] == [("police", 1), ("valley-mhc", 2)]
    with store.write() as tx:
        updated = tx.update_agency("police", "City Police", b"card2", 5)
    assert updated.display_name == "City Police"
    got = store.get_agency("police")
    assert got is not None
    assert got.contact_card == b"card2"
    assert got.update_time_us == 5
    assert store.get_agency("nobody") is None
    with pytest.raises(NotFoundError), store.write() as tx:
        tx.update_agency("nobody", "x", b"", 1)


def test_a_failed_transaction_leaves_nothing_behind(store: LinkStore) -> None:
    _enrol(store, "police")
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.insert_record(_record("police", b"k1"))
        tx.save_batch(BatchRow("police", "b1", b"digest", b"resp", 3))
        raise RuntimeError("boom")
    with store.write() as tx:
        assert tx.find_records("police", [b"k1"]) == []
        assert tx.get_batch("police", "b1") is None
    assert list(store.iter_index_records(1, "fp")) == []
    assert store.count_index_records(1, "fp") == 0


def test_records_links_and_edges_round_trip(store: LinkStore) -> None:
    _enrol(store, "police", "mhc")
    with store.write() as tx:
        a = tx.insert_record(_record("police", b"a", b"\xaa" * 128))
        b = tx.insert_record(_record("mhc", b"b", b"\xbb" * 128))
        c = tx.insert_record(_record("mhc", b"c", linkable=False))
        link, single, single_c = tx.allocate_link_ids(3, 20)
        tx.assign_links([(a, link), (b, link), (c, single_c)], 20)
        tx.insert_edges([EdgeRow(a, b, 0.91)])
        assert tx.node_links([a, b, c, 999]) == {a: link, b: link, c: single_c}
        assert tx.node_agency_nos([a, b]) == {a: 1, b: 2}
        tx.delete_links([single])
    assert a < b < c
    index = list(store.iter_index_records(1, "fp"))
    assert [(r.node_id, r.agency_no, r.clk[:1]) for r in index] == [
        (a, 1, b"\xaa"),
        (b, 2, b"\xbb"),
    ]
    assert list(store.iter_index_records(2, "fp")) == []
    # the count a loader sizes its arrays by: linkable records of this epoch and schema
    assert store.count_index_records(1, "fp") == 2
    assert store.count_index_records(2, "fp") == 0
    assert store.count_index_records(1, "other") == 0
    assert list(store.iter_edges()) == [EdgeRow(a, b, 0.91)]
    members = store.link_members([link])
    assert [(m.node_id, m.agency_id, m.pointer_token) for m in members] == [
        (a, "police", b"tok-a"),
        (b, "mhc", b"tok-b"),
    ]
    # a lookup's two reads in one: the asked nodes' links, and those links' members
    links, members = store.node_links_with_members([c, a, 999, b])
    assert links == {a: link, b: link, c: single_c}
    assert members == store.link_members([link, single_c])
    assert [(m.link_id, m.node_id) for m in members] == sorted(
        [(link, a), (link, b), (single_c, c)]
    )
    assert store.node_links_with_members([999]) == ({}, [])
    assert store.node_links_with_members([]) == ({}, [])
    assert store.link_count() == 1
    counts = {c.agency_id: (c.record_count, c.linked_record_count) for c in store.agency_counts()}
    assert counts == {"mhc": (2, 1), "police": (1, 1)}
    listing = store.list_records("mhc", b"", 10)
    assert [(r.record_key, r.linked) for r in listing] == [(b"b", True), (b"c", False)]
    assert [r.record_key for r in store.list_records("mhc", b"b", 10)] == [b"c"]


def test_deleting_records_removes_their_edges_and_keys_are_unique(store: LinkStore) -> None:
    _enrol(store, "police")
    with store.write() as tx:
        a = tx.insert_record(_record("police", b"a"))
        b = tx.insert_record(_record("police", b"b"))
        tx.insert_edges([EdgeRow(a, b, 0.85)])
    with store.write() as tx:
        assert tx.edges_touching([b]) == [EdgeRow(a, b, 0.85)]
        tx.delete_records([a])
        assert tx.edges_touching([b]) == []
        assert [r.record_key for r in tx.all_records("police")] == [b"b"]
    with pytest.raises(Exception, match="UNIQUE"), store.write() as tx:
        tx.insert_record(_record("police", b"b"))
    with store.write() as tx:
        c = tx.insert_record(_record("police", b"a"))
    assert c > b, "node IDs are never reused"


def test_detached_nodes_lose_edges_and_link(store: LinkStore) -> None:
    _enrol(store, "police")
    with store.write() as tx:
        a = tx.insert_record(_record("police", b"a"))
        b = tx.insert_record(_record("police", b"b"))
        (link,) = tx.allocate_link_ids(1, 1)
        tx.assign_links([(a, link), (b, link)], 1)
        tx.insert_edges([EdgeRow(a, b, 0.9)])
        tx.detach_nodes([a])
        assert tx.edges_touching([b]) == []
        assert tx.node_links([a, b]) == {b: link}


def test_links_with_records_cannot_be_deleted(store: LinkStore) -> None:
    _enrol(store, "police")
    with store.write() as tx:
        a = tx.insert_record(_record("police", b"a"))
        (link,) = tx.allocate_link_ids(1, 1)
        tx.assign_links([(a, link)], 1)
    with pytest.raises(StorageError), store.write() as tx:
        tx.delete_links([link])


def test_batches_events_runs_and_consent(store: LinkStore) -> None:
    _enrol(store, "police")
    with store.write() as tx:
        node = tx.insert_record(_record("police", b"a"))
        tx.save_batch(BatchRow("police", "b-1", b"dig", b"response", 100))
        tx.append_events(
            [
                EventRow(EventKind.BATCH_COMMITTED, 100, "police", "b-1", record_count=1),
                EventRow(EventKind.LINK_MERGED, 100, source_links=(3, 4), target_links=(3,)),
            ]
        )
        tx.update_record(node, b"tok2", b'{"revoked":true}', False, b"d2", 101)
    with store.write() as tx:
        batch = tx.get_batch("police", "b-1")
        assert batch is not None
        assert (batch.request_digest, batch.response) == (b"dig", b"response")
        (ref,) = tx.find_records("police", [b"a"])
        assert (ref.consent, ref.linkable, ref.pointer_token) == (
            b'{"revoked":true}',
            False,
            b"tok2",
        )
        assert (ref.content_digest, ref.clk) == (b"d2", b"\x01" * 128)
    events = store.list_events(0, 10)
    assert [(e.sequence, e.kind) for e in events] == [
        (1, EventKind.BATCH_COMMITTED),
        (2, EventKind.LINK_MERGED),
    ]
    assert events[1].source_links == (3, 4)
    assert store.list_events(1, 10)[0].target_links == (3,)
    assert store.last_event_sequence() == 2
    counts = store.agency_counts()[0]
    assert (counts.batch_count, counts.last_batch_id, counts.last_batch_time_us) == (1, "b-1", 100)


def test_read_positions_are_the_newest_feed_entry_and_linkage_run(store: LinkStore) -> None:
    """What a lookup checks before it searches, in one read."""
    assert store.read_positions() == ReadPositions(0, None)
    _enrol(store, "police")
    run = LinkageRunRow(0, 1, 2, 3, 4, 5, 6, 0.5, "test")
    with store.write() as tx:
        node = tx.insert_record(_record("police", b"a"))
        tx.record_index_changes([(node, True)])
        first = tx.save_linkage_run(run)
        second = tx.save_linkage_run(run)
    assert second > first
    positions = store.read_positions()
    assert positions == ReadPositions(store.last_index_change(), second)
    assert positions.last_index_change > 0
    assert positions.last_run_id == store.list_linkage_runs(1)[0].run_id


def test_audit_entries_append_in_sequence_and_disclosures_page(store: LinkStore) -> None:
    with store.write() as tx:
        assert tx.last_audit() is None
        tx.append_audit(
            AuditRow(1, 5, "op", "enrol", ("agencies/a",), "{}", b"\0" * 32, b"h1" * 16)
        )
        tx.append_audit(AuditRow(2, 6, "op", "lookup", (), "{}", b"h1" * 16, b"h2" * 16))
        with pytest.raises(StorageError):
            tx.append_audit(AuditRow(5, 7, "op", "x", (), "{}", b"", b""))
        tx.insert_disclosures(
            DisclosureRow("mhc", bytes([i]), 7, "r1", "police", "crisis_response", 10 + i, 2)
            for i in range(5)
        )
    assert [(a.sequence, a.target_ids) for a in store.iter_audit()] == [
        (1, ("agencies/a",)),
        (2, ()),
    ]
    page = store.list_disclosures("mhc", None, 2)
    assert [row.disclose_time_us for _, row in page] == [14, 13]
    rest = store.list_disclosures("mhc", page[-1][0], 10)
    assert [row.disclose_time_us for _, row in rest] == [12, 11, 10]
    assert store.list_disclosures("police", None, 10) == []


def test_readers_run_while_a_writer_holds_the_lock(store: LinkStore) -> None:
    _enrol(store, "police")
    seen: list[int] = []
    with store.write() as tx:
        tx.insert_record(_record("police", b"a"))

        def reader() -> None:
            seen.append(len(list(store.iter_index_records(1, "fp"))))

        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive()
    assert seen == [0], "readers see committed data only"
    assert len(list(store.iter_index_records(1, "fp"))) == 1
