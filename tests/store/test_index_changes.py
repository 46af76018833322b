"""The index change feed: gap-free, commit-ordered, carrying CLKs of additions."""

from __future__ import annotations

import pytest

from linkage.store import LinkStore, NewRecord

pytestmark = pytest.mark.integration


def _record(key: bytes) -> NewRecord:
    return NewRecord("police", key, 1, "fp", key * 64, b"t", b"{}", True, b"d", 1)


def test_the_feed_replays_additions_and_removals_in_order(store: LinkStore) -> None:
    with store.write() as tx:
        tx.insert_agency("police", "P", b"", 1)
    assert store.last_index_change() == 0
    with store.write() as tx:
        a = tx.insert_record(_record(b"aa"))
        b = tx.insert_record(_record(b"bb"))
        tx.record_index_changes([(a, True), (b, True)])
        assert [c.sequence for c in tx.index_changes_since(0)] == [1, 2]
    with store.write() as tx:
        tx.delete_records([a])
        tx.record_index_changes([(a, False)])
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.record_index_changes([(b, False)])
        raise RuntimeError("rolled back: no entry, no gap")
    changes = store.read_index_changes_since(0)
    assert [(c.sequence, c.node_id, c.added) for c in changes] == [
        (1, a, True),
        (2, b, True),
        (3, a, False),
    ]
    assert changes[0].clk is None, "the record was deleted since"
    assert changes[1].clk == b"bb" * 64
    assert store.last_index_change() == 3
    assert [c.sequence for c in store.read_index_changes_since(2)] == [3]
    with store.write() as tx:
        tx.record_index_changes([(b, False)])
        tx.prune_index_changes(keep_last=2)
    assert [c.sequence for c in store.read_index_changes_since(0)] == [3, 4]
