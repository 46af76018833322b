"""``epoch finish --drop-old-only``: the records dropped leave the link graph as withdrawn
records do. A gateway's field contact (only on the old epoch) is linked with a police
record; another record of the gateway agency, as similar to the police record but less,
is kept out of that link (one record per agency). Once the contact is dropped, the police
record and that other record are linked (in the police record's link ID), the event log
says so, and a finish that fails leaves both epochs and every link as they were."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linkage.errors import FailedPreconditionError
from linkage.service import LinkageService, RecordWithdrawal, ServiceLimits, WriteBatch
from linkage.service._rotation import DropRelinker, begin_rotation, finish_rotation
from linkage.store import EventKind, KeyRotationRow, SqliteLinkStore
from linkage.store._epochs import EpochWrites
from tests.service.factory import (
    BITS,
    OPERATOR,
    SETTINGS,
    agency,
    batch,
    clk_bytes,
    person,
    responder,
    upsert,
)

pytestmark = pytest.mark.unit

ACTOR = "linkage-admin:test"


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def _rotating(
    tmp_path: Path,
) -> tuple[LinkageService, SqliteLinkStore, dict[str, int], np.ndarray]:
    """The police record P, the gateway's contact C (only on epoch 1) linked with it, and
    the gateway agency's record R (similar to P, less than C) in a link of its own; the
    rotation to epoch 2 is begun and P and R are on epoch 2."""
    rng = np.random.default_rng(7)
    police = person(rng)
    flips = rng.permutation(BITS)
    contact = police.copy()
    contact[flips[:10]] = ~contact[flips[:10]]
    record = police.copy()
    record[flips[10:70]] = ~record[flips[10:70]]
    assert _dice(police, contact) > _dice(police, record) > 0.8
    store = SqliteLinkStore(tmp_path / "r.db")
    service = LinkageService(store, SETTINGS, ServiceLimits())
    for agency_id in ("police", "gateway"):
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    service.write_batch(agency("police"), batch("police", "p1", upsert("P", police)))
    service.write_batch(agency("gateway"), batch("gateway", "c1", upsert("C", contact)))
    service.write_batch(agency("gateway"), batch("gateway", "r1", upsert("R", record)))
    with store.write() as tx:  # reads only
        nodes = {r.record_key.decode(): r.node_id for r in tx.all_records("police")}
        nodes |= {r.record_key.decode(): r.node_id for r in tx.all_records("gateway")}
    links = store.read_node_links(list(nodes.values()))
    assert links[nodes["P"]] == links[nodes["C"]] != links[nodes["R"]]
    begin_rotation(store, 1, 2, ACTOR, 10)
    for agency_id, key, bits in (("police", "P", police), ("gateway", "R", record)):
        service.write_batch(
            agency(agency_id),
            WriteBatch(agency_id, f"{key}2", 2, SETTINGS.schema_fingerprint, (upsert(key, bits),)),
        )
    return service, store, nodes, police


def test_dropped_records_leave_their_links_like_withdrawn_ones(tmp_path: Path) -> None:
    service, store, nodes, police = _rotating(tmp_path)
    before = store.read_node_links(list(nodes.values()))
    link = before[nodes["P"]]
    seen = store.list_events(0, 1000)[-1].sequence
    finished = finish_rotation(
        store, 1, ACTOR, 20, drop_old_only=["gateway"], relinker=DropRelinker(store, SETTINGS)
    )
    assert finished.dropped == (("gateway", 1),)
    assert store.key_rotation() == KeyRotationRow(2, None, 20)
    # re-clustered without the contact: P and R are one link now, P's
    after = store.read_node_links(list(nodes.values()))
    assert after == {nodes["P"]: link, nodes["R"]: link}
    events = store.list_events(seen, 100)
    moved = [(e.kind, e.agency_id, e.source_links, e.target_links) for e in events]
    assert moved[:2] == [
        (EventKind.RECORD_WITHDRAWN, "gateway", (), ()),
        (EventKind.LINK_LEFT, "gateway", (link,), (link,)),
    ]
    assert (EventKind.LINK_MERGED, "gateway", (before[nodes["R"]],), (link,)) in moved
    # exactly what the gateway's own withdrawal of the contact does
    twin, twin_store, twin_nodes, _ = _rotating(tmp_path / "twin")
    twin.write_batch(
        agency("gateway"),
        batch("gateway", "w", RecordWithdrawal(b"C")),
    )
    finish_rotation(twin_store, 1, ACTOR, 20)
    assert twin_store.read_node_links(list(twin_nodes.values())) == after
    withdrawn = [
        (e.kind, e.agency_id, e.source_links, e.target_links)
        for e in twin_store.list_events(seen, 100)
        if e.kind is not EventKind.BATCH_COMMITTED
    ]
    assert withdrawn == moved
    # the matcher follows the finish: a lookup of P answers the link with R in it
    hits = service.lookup(
        responder("police"),
        clk_bytes(police),
        2,
        SETTINGS.schema_fingerprint,
        "crisis_response",
        5,
    )
    assert service.settings.key_epoch == 2
    assert [(hit.link_id, sorted(m.agency_id for m in hit.members)) for hit in hits] == [
        (link, ["gateway", "police"])
    ]


def test_without_a_clusterer_linked_records_are_not_dropped(tmp_path: Path) -> None:
    _, store, nodes, _ = _rotating(tmp_path)
    before = store.read_node_links(list(nodes.values()))
    with pytest.raises(FailedPreconditionError, match="linked to other records"):
        finish_rotation(store, 1, ACTOR, 20, drop_old_only=["gateway"])
    assert store.key_rotation() == KeyRotationRow(1, 2, 10)
    assert store.read_node_links(list(nodes.values())) == before


def test_a_failed_finish_keeps_the_links_of_the_records_to_drop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store, nodes, _ = _rotating(tmp_path)
    before = store.read_node_links(list(nodes.values()))
    events = store.list_events(0, 1000)

    def full_disk(self: EpochWrites, next_epoch: int, now_us: int) -> int:
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(EpochWrites, "adopt_next_epoch", full_disk)
    with pytest.raises(RuntimeError):
        finish_rotation(
            store, 1, ACTOR, 20, drop_old_only=["gateway"], relinker=DropRelinker(store, SETTINGS)
        )
    assert store.key_rotation() == KeyRotationRow(1, 2, 10)
    assert store.read_node_links(list(nodes.values())) == before
    assert store.list_events(0, 1000) == events
