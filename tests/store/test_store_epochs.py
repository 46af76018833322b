"""Key-epoch rotation in the store, on every engine: the rotation's state, next-epoch
CLKs attached to records, their counts, and the finish that swaps them in atomically."""

from __future__ import annotations

import pytest

from linkage.service._rotation import DropRelinker, finish_rotation
from linkage.store import (
    EdgeRow,
    EpochCounts,
    EventKind,
    KeyRotationRow,
    LinkStore,
    NewRecord,
    NextEpochRecord,
)
from tests.service.factory import SETTINGS

pytestmark = pytest.mark.integration


def _record(agency: str, key: bytes, *, linkable: bool = True) -> NewRecord:
    return NewRecord(
        agency_id=agency,
        record_key=key,
        key_epoch=1,
        schema_fingerprint="fp",
        clk=b"\x01" * 16,
        pointer_token=b"old-" + key,
        consent=b"{}",
        linkable=linkable,
        content_digest=b"d1-" + key,
        update_time_us=10,
    )


def _next(node: int, key: bytes) -> NextEpochRecord:
    return NextEpochRecord(node, 2, b"\x02" * 16, b"new-" + key, b"d2-" + key)


def _setup(store: LinkStore) -> tuple[int, int, int]:
    with store.write() as tx:
        tx.insert_agency("police", "Police", b"card", 1)
        tx.insert_agency("mhc", "MHC", b"card", 1)
        a = tx.insert_record(_record("police", b"a"))
        b = tx.insert_record(_record("mhc", b"b"))
        c = tx.insert_record(_record("mhc", b"c", linkable=False))
        link, single = tx.allocate_link_ids(2, 20)
        tx.assign_links([(a, link), (b, link), (c, single)], 20)
    return a, b, c


def test_rotation_state_and_next_epoch_clks_round_trip(store: LinkStore) -> None:
    a, b, c = _setup(store)
    assert store.key_rotation() is None
    with store.write() as tx:
        tx.save_key_rotation(KeyRotationRow(1, 2, 30))
        tx.upsert_next_epoch_records([_next(a, b"a"), _next(c, b"c")])
        assert tx.next_epoch_digests([a, b, c], 2) == {a: b"d2-a", c: b"d2-c"}
        assert tx.old_epoch_only_nodes(["mhc", "police"], 1, 2) == [b]
    assert store.key_rotation() == KeyRotationRow(1, 2, 30)
    assert store.epoch_counts(1, 2) == [EpochCounts("mhc", 2, 1), EpochCounts("police", 1, 1)]
    # only linkable records go into the next epoch's index
    assert [(r.node_id, r.clk[:1]) for r in store.iter_next_epoch_records(2, "fp")] == [
        (a, b"\x02")
    ]
    assert store.read_next_epoch_clks([a, b, c], 2) == {a: b"\x02" * 16}
    assert store.read_next_epoch_clks([a], 3) == {}
    # a replaced next CLK, then a withdrawn one
    with store.write() as tx:
        tx.upsert_next_epoch_records([NextEpochRecord(a, 2, b"\x03" * 16, b"t", b"d3")])
        tx.delete_next_epoch_records([c])
    assert store.read_next_epoch_clks([a], 2) == {a: b"\x03" * 16}
    assert store.epoch_counts(1, 2)[0] == EpochCounts("mhc", 2, 0)


def test_deleting_a_record_deletes_its_next_epoch_clk(store: LinkStore) -> None:
    a, b, _ = _setup(store)
    with store.write() as tx:
        tx.upsert_next_epoch_records([_next(a, b"a"), _next(b, b"b")])
        tx.delete_records([a])
    assert [r.node_id for r in store.iter_next_epoch_records(2, "fp")] == [b]


def test_adopting_the_next_epoch_moves_every_clk_and_token(store: LinkStore) -> None:
    a, b, c = _setup(store)
    with store.write() as tx:
        tx.upsert_next_epoch_records([_next(a, b"a"), _next(b, b"b"), _next(c, b"c")])
    with store.write() as tx:
        assert tx.adopt_next_epoch(2, 40) == 3
        tx.save_key_rotation(KeyRotationRow(2, None, 40))
    assert [r.clk[:1] for r in store.iter_index_records(2, "fp")] == [b"\x02", b"\x02"]
    assert list(store.iter_index_records(1, "fp")) == []
    assert list(store.iter_next_epoch_records(2, "fp")) == []
    tokens = {m.node_id: m.pointer_token for m in store.link_members([1, 2])}
    assert tokens == {a: b"new-a", b: b"new-b", c: b"new-c"}
    assert store.key_rotation() == KeyRotationRow(2, None, 40)


def test_a_failed_finish_leaves_both_epochs_as_they_were(store: LinkStore) -> None:
    a, b, _ = _setup(store)
    with store.write() as tx:
        tx.upsert_next_epoch_records([_next(a, b"a"), _next(b, b"b")])
        tx.save_key_rotation(KeyRotationRow(1, 2, 30))
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.adopt_next_epoch(2, 40)
        tx.save_key_rotation(KeyRotationRow(2, None, 40))
        raise RuntimeError("the disk filled up")
    assert [r.clk[:1] for r in store.iter_index_records(1, "fp")] == [b"\x01", b"\x01"]
    assert len(list(store.iter_next_epoch_records(2, "fp"))) == 2
    assert store.key_rotation() == KeyRotationRow(1, 2, 30)


def test_empty_links_are_deleted_and_others_kept(store: LinkStore) -> None:
    a, b, c = _setup(store)
    links = store.read_node_links([a, b, c])
    with store.write() as tx:
        tx.delete_records([c])
        tx.delete_empty_links([links[a], links[c]])
    assert store.read_node_links([a, b]) == {a: links[a], b: links[a]}
    with store.write() as tx:  # the emptied link is gone: a new link may not reuse it
        assert tx.allocate_link_ids(1, 50)[0] > links[c]


def test_a_dropped_bridge_leaves_its_link_in_two(store: LinkStore) -> None:
    """A gateway's contact (only on epoch 1) bridged a police and a hospital record that
    are not similar to each other: dropped by the finish, it leaves them in two links (one
    the old link), with the events of a withdrawal, on either engine."""
    with store.write() as tx:
        for agency in ("police", "gateway", "hospital"):
            tx.insert_agency(agency, agency, b"card", 1)
        p = tx.insert_record(_record("police", b"p"))
        g = tx.insert_record(_record("gateway", b"g"))
        h = tx.insert_record(_record("hospital", b"h"))
        tx.insert_edges([EdgeRow(min(p, g), max(p, g), 0.95), EdgeRow(min(g, h), max(g, h), 0.9)])
        (link,) = tx.allocate_link_ids(1, 20)
        tx.assign_links([(p, link), (g, link), (h, link)], 20)
        tx.upsert_next_epoch_records([_next(p, b"p"), _next(h, b"h")])
        tx.save_key_rotation(KeyRotationRow(1, 2, 30))
    finish_rotation(
        store, 1, "test", 40, drop_old_only=["gateway"], relinker=DropRelinker(store, SETTINGS)
    )
    after = store.read_node_links([p, g, h])
    assert set(after) == {p, h}
    assert after[p] != after[h]
    assert link in after.values()
    new = after[h] if after[p] == link else after[p]
    events = [(e.kind, e.source_links, e.target_links) for e in store.list_events(0, 100)]
    assert events == [
        (EventKind.RECORD_WITHDRAWN, (), ()),
        (EventKind.LINK_LEFT, (link,), (link,)),
        (EventKind.LINK_SPLIT, (link,), (link, new)),
        (EventKind.LINK_CREATED, (), (new,)),
    ]
    assert {e.agency_id for e in store.list_events(0, 100)} == {"gateway"}
    assert store.key_rotation() == KeyRotationRow(2, None, 40)
