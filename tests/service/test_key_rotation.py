"""Key-epoch rotation in the service, in probabilistic mode (the default): batches of the
next epoch attach CLKs to the records' nodes, lookups of either epoch find the same
links, and the finish makes the next epoch the one in force without changing a link ID."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from benchmarks.scenario_rows import mapped_rows
from linkage.encode import SegmentedEncoder
from linkage.errors import ConfigError, FailedPreconditionError, InvalidInputError
from linkage.service import (
    ConsentChange,
    LinkageService,
    RecordUpsert,
    RecordWithdrawal,
    ServiceLimits,
    WriteBatch,
)
from linkage.service._rotation import (
    DropRelinker,
    abort_rotation,
    begin_rotation,
    finish_rotation,
    rotation_status,
)
from linkage.store import SqliteLinkStore
from tests.service.factory import OPERATOR, agency, consent, responder
from tests.service.prob_factory import PROB_SETTINGS, SEGMENTED

pytestmark = pytest.mark.unit

AGENCIES = ("metro-police", "valley-mhc", "riverside-er", "harbour-sud")
FINGERPRINT = PROB_SETTINGS.schema_fingerprint


@dataclass(frozen=True, slots=True)
class _Record:
    agency_id: str
    key: bytes
    clk_1: bytes
    clk_2: bytes


def _records(people: int, seed: int) -> list[_Record]:
    rows = mapped_rows(people, seed)
    values = [list(r.values) for r in rows]
    # the epochs' secrets are drawn from the seed: with fresh random ones, a record whose
    # match probability sits at the lookup threshold was answered in one epoch and not the
    # other in about one run in thirty (the same with the code before and after)
    rng = np.random.default_rng(seed)
    first = SegmentedEncoder(SEGMENTED, rng.bytes(32), key_epoch=1).encode_valid(values)
    second = SegmentedEncoder(SEGMENTED, rng.bytes(32), key_epoch=2).encode_valid(values)
    assert first.accepted.tolist() == second.accepted.tolist()
    return [
        _Record(rows[i].agency_id, rows[i].local_id.encode(), a.tobytes(), b.tobytes())
        for i, a, b in zip(first.accepted.tolist(), first.clks, second.clks, strict=True)
    ]


def _service(path: Path, key_epoch: int = 1) -> tuple[LinkageService, SqliteLinkStore]:
    store = SqliteLinkStore(path)
    settings = dataclasses.replace(PROB_SETTINGS, key_epoch=key_epoch)
    service = LinkageService(store, settings, ServiceLimits(lookup_burst=100_000))
    for agency_id in AGENCIES:
        if store.get_agency(agency_id) is None:
            service.create_agency(OPERATOR, agency_id, agency_id, b"")
    return service, store


def _upload(
    service: LinkageService, records: Sequence[_Record], epoch: int, tag: str
) -> dict[str, int]:
    by_agency: dict[str, list[_Record]] = defaultdict(list)
    for record in records:
        by_agency[record.agency_id].append(record)
    totals: dict[str, int] = defaultdict(int)
    for agency_id, mine in by_agency.items():
        outcome = service.write_batch(
            agency(agency_id),
            WriteBatch(
                agency_id=agency_id,
                batch_id=f"{tag}-{agency_id}",
                key_epoch=epoch,
                schema_fingerprint=FINGERPRINT,
                mutations=tuple(
                    RecordUpsert(
                        record_key=r.key,
                        clk=r.clk_1 if epoch == 1 else r.clk_2,
                        pointer_token=b"ptr%d:" % epoch + r.key,
                        consent=consent(),
                        linkable=True,
                    )
                    for r in mine
                ),
            ),
        )
        totals["inserted"] += outcome.inserted
        totals["linked"] += outcome.linked
    return dict(totals)


def _lookup_links(service: LinkageService, records: Sequence[_Record], epoch: int) -> list[int]:
    """The link a lookup of each record's own CLK in ``epoch`` answers that holds the
    record itself (0: no such link among the answers). Not the best answer: the two epochs
    hash with different secrets, so a look-alike person's link near the lookup threshold
    may be answered beside it in one epoch and not in the other, or rank above it; the
    record's own link is what must carry over."""
    found = []
    for record in records:
        hits = service.lookup(
            responder("metro-police"),
            record.clk_1 if epoch == 1 else record.clk_2,
            epoch,
            FINGERPRINT,
            "crisis_response",
            5,
        )
        own = [
            hit.link_id
            for hit in hits
            if any(
                member.agency_id == record.agency_id
                and member.pointer_token.endswith(b":" + record.key)
                for member in hit.members
            )
        ]
        found.append(own[0] if own else 0)
    return found


def _node_links(store: SqliteLinkStore) -> dict[int, int]:
    return dict(store.iter_node_links())


def test_a_rotation_keeps_every_link_id_and_answers_both_epochs(tmp_path: Path) -> None:
    records = _records(60, 11)
    service, store = _service(tmp_path / "r.db")
    _upload(service, records, 1, "e1")
    links_before = _node_links(store)
    answered_1 = _lookup_links(service, records, 1)
    assert sum(1 for link in answered_1 if link) >= 0.95 * len(records)

    # a batch of epoch 2 before the rotation is begun is another linkage space
    with pytest.raises(InvalidInputError, match="key epoch"):
        _upload(service, records[:1], 2, "early")
    begin_rotation(store, 1, 2, "linkage-admin:test", 1)
    # epoch 2 is known at once; its index is empty until the agencies upload
    assert _lookup_links(service, records[:3], 2) == [0, 0, 0]
    assert _lookup_links(service, records[:3], 1) == answered_1[:3]

    first_three = [r for r in records if r.agency_id != "harbour-sud"]
    assert _upload(service, first_three, 2, "e2")["inserted"] == len(first_three)
    status = rotation_status(store, 1)
    assert (status.current_epoch, status.next_epoch) == (1, 2)
    assert [a.agency_id for a in status.blocking] == ["harbour-sud"]
    with pytest.raises(FailedPreconditionError, match="only on key epoch 1") as refused:
        finish_rotation(store, 1, "linkage-admin:test", 2)
    assert [p.location for p in refused.value.problems] == ["agencies/harbour-sud"]

    _upload(service, [r for r in records if r.agency_id == "harbour-sud"], 2, "e2")
    assert rotation_status(store, 1).blocking == ()
    # the new CLKs answered from epoch 2 find the same links, and nothing was relinked
    assert _lookup_links(service, records, 2) == answered_1
    assert _node_links(store) == links_before

    finished = finish_rotation(store, 1, "linkage-admin:test", 3)
    assert (finished.from_epoch, finished.to_epoch, finished.records_moved) == (
        1,
        2,
        len(records),
    )
    assert _lookup_links(service, records, 2) == answered_1
    assert service.settings.key_epoch == 2
    with pytest.raises(InvalidInputError, match="key epoch"):
        _lookup_links(service, records[:1], 1)
    assert _node_links(store) == links_before
    tokens = {m.pointer_token[:5] for m in store.link_members(sorted(set(links_before.values())))}
    assert tokens == {b"ptr2:"}
    actions = [row.action for row in store.iter_audit()]
    assert actions.count("key_epoch.begin") == 1
    assert actions.count("key_epoch.finish") == 1

    # a restarted matcher whose server.toml still says epoch 1 follows the store
    store.close()
    again, store_again = _service(tmp_path / "r.db", key_epoch=1)
    assert again.settings.key_epoch == 2
    assert _lookup_links(again, records[:5], 2) == answered_1[:5]
    store_again.close()
    with pytest.raises(ConfigError, match="store's key epoch is 2"):
        _service(tmp_path / "r.db", key_epoch=3)


def test_next_epoch_batches_are_checked_and_follow_withdrawals(tmp_path: Path) -> None:
    records = [r for r in _records(30, 5) if r.agency_id == "valley-mhc"][:8]
    service, store = _service(tmp_path / "r.db")
    _upload(service, records, 1, "e1")
    # in so small an index not every record's own CLK passes the lookup gate: take two
    # that do, to withdraw
    links = _lookup_links(service, records, 1)
    answered = [r for r, link in zip(records, links, strict=True) if link]
    gone_1, gone_2 = answered[:2]
    begin_rotation(store, 1, 2, "linkage-admin:test", 1)
    with pytest.raises(FailedPreconditionError, match="in progress"):
        begin_rotation(store, 1, 3, "linkage-admin:test", 1)

    def next_batch(batch_id: str, *mutations: object) -> WriteBatch:
        return WriteBatch(
            agency_id="valley-mhc",
            batch_id=batch_id,
            key_epoch=2,
            schema_fingerprint=FINGERPRINT,
            mutations=tuple(mutations),  # type: ignore[arg-type]
        )

    def upsert(record: _Record) -> RecordUpsert:
        return RecordUpsert(record.key, record.clk_2, b"ptr2:" + record.key, consent(), True)

    who = agency("valley-mhc")
    stranger = _Record("valley-mhc", b"never-uploaded", records[0].clk_1, records[0].clk_2)
    with pytest.raises(InvalidInputError, match="refused") as refused:
        service.write_batch(who, next_batch("b1", upsert(records[0]), upsert(stranger)))
    assert [p.location for p in refused.value.problems] == ["mutations[1].upsert"]
    with pytest.raises(InvalidInputError) as refused:
        service.write_batch(
            who, next_batch("b2", ConsentChange(records[0].key, consent(disclose=False), True))
        )
    assert "key epoch in force" in refused.value.problems[0].reason
    assert rotation_status(store, 1).agencies[-1].next_records == 0  # nothing was stored

    outcome = service.write_batch(who, next_batch("b3", *map(upsert, records)))
    assert (outcome.inserted, outcome.unchanged) == (len(records), 0)
    replay = service.write_batch(who, next_batch("b3", *map(upsert, records)))
    assert replay.replayed
    assert replay.inserted == len(records)
    assert service.write_batch(who, next_batch("b4", upsert(records[0]))).unchanged == 1
    # a record withdrawn in epoch 1 leaves the next epoch's index with its CLK
    service.write_batch(
        who,
        WriteBatch("valley-mhc", "w1", 1, FINGERPRINT, (RecordWithdrawal(gone_1.key),)),
    )
    assert _lookup_links(service, [gone_1], 2) == [0]
    assert _lookup_links(service, [gone_2], 2) != [0]
    # a withdrawal in epoch 2 drops the next-epoch CLK only
    assert service.write_batch(who, next_batch("w2", RecordWithdrawal(gone_2.key))).withdrawn == 1
    assert service.write_batch(who, next_batch("w3", RecordWithdrawal(gone_2.key))).withdrawn == 0
    assert _lookup_links(service, [gone_2], 2) == [0]
    assert _lookup_links(service, [gone_2], 1) != [0]
    status = rotation_status(store, 1)
    counts = {a.agency_id: (a.current_records, a.next_records) for a in status.agencies}
    assert counts["valley-mhc"] == (len(records) - 1, len(records) - 2)

    # forced: the named agency's records only on epoch 1 are deleted, the rest moves
    with pytest.raises(InvalidInputError, match="not finished"):
        finish_rotation(store, 1, "linkage-admin:test", 2, drop_old_only=["nobody"])
    finished = finish_rotation(store, 1, "linkage-admin:test", 2, drop_old_only=["valley-mhc"])
    assert finished.dropped == (("valley-mhc", 1),)
    assert [r.record_key for r in store.list_records("valley-mhc", b"", 100)] == sorted(
        r.key for r in records if r.key not in (gone_1.key, gone_2.key)
    )
    assert _lookup_links(service, answered[2:3], 2) != [0]


def test_another_matcher_process_on_the_store_follows_the_rotation(tmp_path: Path) -> None:
    records = _records(40, 3)
    writer, store = _service(tmp_path / "r.db")
    reader, reader_store = _service(tmp_path / "r.db")
    _upload(writer, records, 1, "e1")
    answered = _lookup_links(reader, records, 1)
    assert sum(1 for link in answered if link) >= 0.9 * len(records)
    begin_rotation(store, 1, 2, "linkage-admin:test", 1)
    _upload(writer, records, 2, "e2")
    # the reader learns of the rotation and of the next-epoch CLKs from the change feed
    assert _lookup_links(reader, records, 2) == answered
    # a record that changes in epoch 1 gets a new node: its old next-epoch CLK goes too
    changed = next(r for r, link in zip(records, answered, strict=True) if link)
    swapped = dataclasses.replace(changed, clk_1=records[-1].clk_1)
    _upload(writer, [swapped], 1, "change")
    held = {r.node_id for r in store.iter_next_epoch_records(2, FINGERPRINT)}
    assert len(held) == len(records) - 1
    _lookup_links(reader, records[:1], 2)  # a call catches up
    assert reader._state.next_mirror is not None
    assert reader._state.next_mirror.nodes == held
    finish_rotation(
        store,
        1,
        "linkage-admin:test",
        2,
        drop_old_only=[changed.agency_id],
        relinker=DropRelinker(store, writer.settings),
    )
    others = [r for r in records if r.key != changed.key]
    assert _lookup_links(reader, others, 2) == _lookup_links(writer, others, 2)
    assert reader.settings.key_epoch == 2
    assert reader._state.mirror.nodes == held
    assert reader.indexed_count == len(records) - 1
    reader_store.close()
    store.close()


def test_calls_that_meet_a_finish_stay_in_their_epoch(tmp_path: Path) -> None:
    records = _records(40, 9)
    service, store = _service(tmp_path / "r.db")
    _upload(service, records, 1, "e1")
    answered = _lookup_links(service, records, 1)
    begin_rotation(store, 1, 2, "linkage-admin:test", 1)
    _upload(service, records, 2, "e2")
    known = next(i for i, link in enumerate(answered) if link)
    state = service._state
    with state.epoch_scope(1):  # a lookup of epoch 1 has come in and chosen its epoch
        finish_rotation(store, 1, "linkage-admin:test", 2)
        # it learns of the finish in its catch-up: it is answered from epoch 1's CLKs, as
        # it came in, never compared with epoch 2's
        hits = service._lookups.lookup(
            responder("metro-police"), records[known].clk_1, 1, FINGERPRINT, "crisis_response", 5
        )
    assert [hit.link_id for hit in hits][:1] == [answered[known]]
    assert service.settings.key_epoch == 2
    with pytest.raises(InvalidInputError, match="key epoch 2"):
        _lookup_links(service, records[:1], 1)
    assert _lookup_links(service, records, 2) == answered

    # a batch of epoch 1 that meets the finish inside the matcher is refused whole
    again, again_store = _service(tmp_path / "s.db")
    _upload(again, records, 1, "e1")
    begin_rotation(again_store, 1, 2, "linkage-admin:test", 1)
    _upload(again, records, 2, "e2")
    before = _node_links(again_store)
    finish_rotation(again_store, 1, "linkage-admin:test", 2)
    late = dataclasses.replace(records[0], key=b"late-record")
    with pytest.raises(FailedPreconditionError, match="no longer in force"):
        _upload(again, [late], 1, "late")
    assert _node_links(again_store) == before
    assert again_store.list_records(late.agency_id, b"late", 10) == []


def test_an_abandoned_rotation_leaves_the_epoch_in_force(tmp_path: Path) -> None:
    records = _records(30, 13)
    service, store = _service(tmp_path / "r.db")
    _upload(service, records, 1, "e1")
    answered = _lookup_links(service, records, 1)
    begin_rotation(store, 1, 2, "linkage-admin:test", 1)
    _upload(service, records, 2, "e2")
    assert _lookup_links(service, records, 2) == answered
    assert abort_rotation(store, 1, "linkage-admin:test", 2) == len(records)
    with pytest.raises(FailedPreconditionError, match="no rotation is in progress"):
        abort_rotation(store, 1, "linkage-admin:test", 2)
    with pytest.raises(InvalidInputError, match="key epoch 1"):
        _lookup_links(service, records[:1], 2)
    assert _lookup_links(service, records, 1) == answered
    assert list(store.iter_next_epoch_records(2, FINGERPRINT)) == []
    status = rotation_status(store, 1)
    assert (status.current_epoch, status.next_epoch) == (1, None)
    # a rotation may be begun again, to the same epoch
    begin_rotation(store, 1, 2, "linkage-admin:test", 3)
    assert _lookup_links(service, records[:3], 2) == [0, 0, 0]
    assert [row.action for row in store.iter_audit()].count("key_epoch.abort") == 1


def test_a_matcher_that_learns_of_next_epoch_uploads_and_the_finish_at_once(
    tmp_path: Path,
) -> None:
    """Another process's next-epoch batches, the finish and a batch after it reach a
    matcher in one catch-up: every record is in its index of the new epoch (the
    next-epoch rows it would have read are gone by then)."""
    records = _records(30, 5)
    writer, store = _service(tmp_path / "r.db")
    reader, reader_store = _service(tmp_path / "r.db")
    _upload(writer, records[:-1], 1, "e1")
    begin_rotation(store, 1, 2, "linkage-admin:test", 1)
    _lookup_links(reader, records[:1], 1)  # the reader follows the begin, then waits
    assert reader._state.next_epoch == 2
    _upload(writer, records[:-1], 2, "e2")
    finish_rotation(store, 1, "linkage-admin:test", 2)
    _upload(writer, records[-1:], 2, "after")  # a record new in the epoch now in force
    answered = _lookup_links(writer, records, 2)
    assert sum(1 for link in answered if link) >= 0.9 * len(records)
    assert _lookup_links(reader, records, 2) == answered
    assert reader._state.mirror.nodes == writer._state.mirror.nodes
    assert reader.indexed_count == len(records)
    reader_store.close()
    store.close()


def test_the_next_epochs_mirror_changes_only_under_the_writer_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every change of the next epoch's mirror holds the state's writer lock, as the
    mirror in force's do (a batch of the epoch in force while another call catches up
    must not change it from two threads at once)."""
    records = _records(20, 11)
    service, store = _service(tmp_path / "r.db")
    _upload(service, records[:-2], 1, "e1")
    begin_rotation(store, 1, 2, "linkage-admin:test", 1)
    _upload(service, records[:-2], 2, "e2")
    state = service._state
    unlocked: list[str] = []
    follow = state.follow_next_epoch

    def checked(node_ids: Iterable[int]) -> None:
        if not state.writer.locked():
            unlocked.append("follow_next_epoch")
        follow(node_ids)

    monkeypatch.setattr(state, "follow_next_epoch", checked)
    _upload(service, records[-2:], 1, "more")  # records that join the index in epoch 1
    assert unlocked == []
    store.close()
