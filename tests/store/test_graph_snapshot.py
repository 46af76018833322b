"""``LinkStore.graph_snapshot``: the re-clustering reads in one read-only snapshot that no
writer waits for, on every engine; the same reads inside a write transaction."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from linkage.errors import StorageError
from linkage.store import (
    EdgeRow,
    EventKind,
    EventRow,
    GraphReads,
    LinkStore,
    NewRecord,
    SqliteLinkStore,
)

StoreFactory = Callable[[], LinkStore]


def _record(agency: str, key: bytes) -> NewRecord:
    return NewRecord(
        agency_id=agency,
        record_key=key,
        key_epoch=1,
        schema_fingerprint="f",
        clk=b"\x01" * 8,
        pointer_token=b"p",
        consent=b"c",
        linkable=True,
        content_digest=b"d",
        update_time_us=1,
    )


def _seed(store: LinkStore) -> tuple[list[int], list[int]]:
    """Two agencies, three records in two links, two edges, one event, one index change."""
    with store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        tx.insert_agency("mhc", "MHC", b"", 1)
        nodes = [
            tx.insert_record(_record("police", b"a")),
            tx.insert_record(_record("mhc", b"b")),
            tx.insert_record(_record("mhc", b"c")),
        ]
        links = tx.allocate_link_ids(2, 1)
        tx.assign_links([(nodes[0], links[0]), (nodes[1], links[0]), (nodes[2], links[1])], 1)
        tx.insert_edges([EdgeRow(nodes[0], nodes[1], 0.9), EdgeRow(nodes[1], nodes[2], 0.4)])
        tx.append_events([EventRow(EventKind.BATCH_COMMITTED, 1, agency_id="police")])
        tx.record_index_changes([(node, True) for node in nodes])
    return nodes, links


Graph = tuple[list[EdgeRow], dict[int, int], dict[int, int], int | None, int | None, int, int]


def _graph(reads: GraphReads, nodes: list[int]) -> Graph:
    return (
        reads.edges_touching([nodes[0]]),
        reads.node_links(nodes),
        reads.node_agency_nos(nodes),
        reads.agency_no("mhc"),
        reads.agency_no("nobody"),
        reads.last_event_sequence(),
        reads.last_index_change(),
    )


def test_a_snapshot_reads_what_the_write_transaction_reads(store: LinkStore) -> None:
    nodes, links = _seed(store)
    with store.graph_snapshot() as reads:
        seen = _graph(reads, nodes)
    with store.write() as tx:
        assert _graph(tx, nodes) == seen
    assert seen == (
        [EdgeRow(nodes[0], nodes[1], 0.9)],
        {nodes[0]: links[0], nodes[1]: links[0], nodes[2]: links[1]},
        {nodes[0]: 1, nodes[1]: 2, nodes[2]: 2},
        2,
        None,
        store.last_event_sequence(),
        store.last_index_change(),
    )
    assert store.last_event_sequence() >= 1
    assert store.last_index_change() == 3


def test_an_empty_store_has_no_positions(store: LinkStore) -> None:
    with store.graph_snapshot() as reads:
        assert reads.last_event_sequence() == 0
        assert reads.last_index_change() == 0
        assert reads.edges_touching([1, 2]) == []
        assert reads.node_links([1]) == {}
        assert reads.node_agency_nos([1]) == {}


def test_a_snapshot_neither_sees_nor_blocks_a_write_committed_while_it_is_open(
    store_factory: StoreFactory,
) -> None:
    """A writer on another connection commits while the snapshot is open (a lookup's audit
    write must not wait for a batch's relinking); the snapshot keeps its state."""
    store = store_factory()
    nodes, links = _seed(store)
    writer = store_factory()
    committed = threading.Event()
    failures: list[BaseException] = []

    def write_meanwhile() -> None:
        try:
            with writer.write() as tx:
                tx.insert_edges([EdgeRow(nodes[0], nodes[2], 0.7)])
                tx.assign_links([(nodes[2], links[0])], 2)
                tx.append_events([EventRow(EventKind.BATCH_COMMITTED, 2, agency_id="mhc")])
            committed.set()
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    with store.graph_snapshot() as reads:
        before = _graph(reads, nodes)
        thread = threading.Thread(target=write_meanwhile)
        thread.start()
        thread.join(timeout=20)
        assert not thread.is_alive(), "the writer waited for the snapshot"
        assert not failures, failures
        assert committed.is_set()
        assert _graph(reads, nodes) == before
    with store.graph_snapshot() as reads:
        after = _graph(reads, nodes)
    assert after != before
    assert after[0] == [EdgeRow(nodes[0], nodes[1], 0.9), EdgeRow(nodes[0], nodes[2], 0.7)]
    assert after[1] == {nodes[0]: links[0], nodes[1]: links[0], nodes[2]: links[0]}
    assert after[5] == before[5] + 1


def test_a_snapshot_leaves_no_transaction_open(store: LinkStore) -> None:
    nodes, _ = _seed(store)
    with pytest.raises(RuntimeError, match="inside"), store.graph_snapshot() as reads:
        reads.node_links(nodes)
        raise RuntimeError("a failure inside the snapshot")
    with store.write() as tx:  # the connection is usable and writes
        tx.append_events([EventRow(EventKind.BATCH_COMMITTED, 3, agency_id="police")])
    with store.graph_snapshot() as reads:
        assert reads.last_event_sequence() == store.last_event_sequence()


def test_sqlite_refuses_a_snapshot_inside_a_write_transaction_of_the_same_thread(
    tmp_path: Path,
) -> None:
    store = SqliteLinkStore(tmp_path / "index.db")
    try:
        with (
            store.write(),
            pytest.raises(StorageError, match="inside a transaction"),
            store.graph_snapshot(),
        ):
            pass
    finally:
        store.close()
