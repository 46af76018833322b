"""Large transactions behave exactly like small ones on every engine: what a
transaction wrote, in the order it wrote it, is what it and later readers see."""

from __future__ import annotations

import pytest

from linkage.store import EdgeRow, LinkStore, NewRecord, StoredRecordRef

pytestmark = pytest.mark.integration


def _record(key: bytes, agency: str = "police") -> NewRecord:
    return NewRecord(agency, key, 1, "fp", key.ljust(128, b"."), b"tok0", b"{}", True, b"d0", 1)


def test_bulk_inserts_and_updates_read_back_inside_and_after_the_transaction(
    store: LinkStore,
) -> None:
    n = 5_300  # past the PostgreSQL engine's buffer sizes
    with store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        nodes = [tx.insert_record(_record(b"k%05d" % i)) for i in range(n)]
        # update every other record, some of them inserted moments ago
        for i in range(0, n, 2):
            tx.update_record(nodes[i], b"tok%d" % i, b'{"c":1}', i % 4 != 0, b"d1", 2)
        inside = {
            r.node_id: r for r in tx.find_records("police", [b"k00000", b"k00002", b"k00001"])
        }
        assert (inside[nodes[0]].pointer_token, inside[nodes[0]].linkable) == (b"tok0", False)
        assert (inside[nodes[2]].pointer_token, inside[nodes[2]].linkable) == (b"tok2", True)
        assert inside[nodes[1]].content_digest == b"d0"
        # an update right after an insert of the same record, then more inserts
        late = tx.insert_record(_record(b"late"))
        tx.update_record(late, b"late-tok", b"{}", False, b"d2", 3)
        tx.insert_edges([EdgeRow(nodes[0], nodes[1], 0.9), EdgeRow(nodes[1], late, 0.8)])
    assert len(set(nodes)) == n
    assert nodes == sorted(nodes)
    rows = {r.node_id: r for r in _all_records(store)}
    assert len(rows) == n + 1
    assert sum(1 for r in rows.values() if r.content_digest == b"d1") == n // 2 + n % 2
    assert rows[nodes[4]].consent == b'{"c":1}'
    assert rows[nodes[3]].pointer_token == b"tok0"
    assert (rows[late].pointer_token, rows[late].linkable) == (b"late-tok", False)
    index = [r.node_id for r in store.iter_index_records(1, "fp")]
    assert index == sorted(node for node, r in rows.items() if r.linkable)
    assert list(store.iter_edges()) == [
        EdgeRow(nodes[0], nodes[1], 0.9),
        EdgeRow(nodes[1], late, 0.8),
    ]


def test_a_failure_late_in_a_bulk_transaction_rolls_back_all_of_it(store: LinkStore) -> None:
    with store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        first = tx.insert_record(_record(b"first"))
    with pytest.raises(RuntimeError), store.write() as tx:
        for i in range(3_000):
            tx.insert_record(_record(b"b%05d" % i))
        tx.update_record(first, b"changed", b"{}", False, b"d9", 9)
        raise RuntimeError("the matcher failed after staging the batch")
    (row,) = _all_records(store)
    assert (row.node_id, row.pointer_token, row.linkable) == (first, b"tok0", True)


def _all_records(store: LinkStore) -> list[StoredRecordRef]:
    with store.write() as tx:  # all_records is a read inside a transaction
        return tx.all_records("police")
