"""The service's shared state: the linkage-space check, catch-up with other processes'
index changes, and audit entries named by principal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from linkage.errors import Problem
from linkage.service import LinkageService, NullObserver, ServiceLimits
from linkage.service._clock import system_clock_us
from linkage.service._state import ServiceState
from linkage.store import SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS, agency, batch, person, upsert

pytestmark = pytest.mark.unit


def _state(store: SqliteLinkStore) -> ServiceState:
    state = ServiceState(store, SETTINGS, ServiceLimits(), system_clock_us, NullObserver())
    state.load_index()
    return state


def _writer(path: Path) -> tuple[LinkageService, SqliteLinkStore]:
    store = SqliteLinkStore(path)
    service = LinkageService(store, SETTINGS, ServiceLimits())
    service.create_agency(OPERATOR, "police", "Police", b"")
    return service, store


def test_another_linkage_space_is_named_once_per_field(tmp_path: Path) -> None:
    store = SqliteLinkStore(tmp_path / "s.db")
    state = _state(store)
    problems: list[Problem] = []
    state.check_space(SETTINGS.key_epoch, SETTINGS.schema_fingerprint, problems)
    assert problems == []
    state.check_space(SETTINGS.key_epoch + 1, "cd" * 16, problems)
    assert [p.location for p in problems] == ["key_epoch", "schema_fingerprint"]
    assert "must be the matcher's key epoch 1" in problems[0].reason
    assert problems[1].reason.startswith("cdcdcdcdcdcdcdcd... is not the matcher's linkage schema")
    store.close()


def test_catch_up_replays_what_another_process_committed(tmp_path: Path) -> None:
    writer, writer_store = _writer(tmp_path / "s.db")
    reader_store = SqliteLinkStore(tmp_path / "s.db")
    state = _state(reader_store)
    rng = np.random.default_rng(1)
    writer.write_batch(
        agency("police"), batch("police", "b1", *(upsert(f"k{i}", person(rng)) for i in range(5)))
    )
    assert len(state.mirror) == 0
    state.catch_up_for_reads()
    assert len(state.mirror) == 5
    assert state.seen_change == reader_store.last_index_change()
    # a withdrawal leaves the mirror as well
    writer.write_batch(agency("police"), batch("police", "b2", withdraw_all=True))
    with state.writer:
        state.catch_up(reader_store.read_index_changes_since(state.seen_change))
    assert len(state.mirror) == 0
    writer_store.close()
    reader_store.close()


def test_a_feed_pruned_past_this_process_reloads_the_whole_index(tmp_path: Path) -> None:
    writer, writer_store = _writer(tmp_path / "s.db")
    reader_store = SqliteLinkStore(tmp_path / "s.db")
    state = _state(reader_store)
    rng = np.random.default_rng(2)
    writer.write_batch(
        agency("police"), batch("police", "b1", *(upsert(f"k{i}", person(rng)) for i in range(4)))
    )
    with writer_store.write() as tx:
        tx.prune_index_changes(keep_last=1)
    changes = reader_store.read_index_changes_since(state.seen_change)
    assert changes[0].sequence != state.seen_change + 1
    with state.writer:
        state.catch_up(changes)
    assert len(state.mirror) == 4
    assert state.seen_change == reader_store.last_index_change()
    writer_store.close()
    reader_store.close()


def test_audit_entries_name_the_principal_or_the_matcher(tmp_path: Path) -> None:
    store = SqliteLinkStore(tmp_path / "s.db")
    state = _state(store)
    with store.write() as tx:
        state.audit(tx, OPERATOR, "agency.create", ["agencies/x"], {}, 1)
        state.audit(tx, "matcher", "linkage.rebuild", [], {"records": 0}, 2)
    assert [row.actor for row in store.iter_audit()] == [OPERATOR.actor, "matcher"]
    store.close()


def test_the_index_is_sized_once_at_load_with_room_to_grow(tmp_path: Path) -> None:
    """A load reserves what the store holds plus a quarter and a load chunk, so the first
    batches after a start do not copy the index into larger arrays."""
    from linkage.service import _state as state_module

    writer, writer_store = _writer(tmp_path / "s.db")
    rng = np.random.default_rng(3)
    writer.write_batch(
        agency("police"), batch("police", "b1", *(upsert(f"k{i}", person(rng)) for i in range(40)))
    )
    reader_store = SqliteLinkStore(tmp_path / "s.db")
    state = _state(reader_store)
    index = state.mirror.index
    assert len(index) == 40
    reserved = 40 + 40 // 4 + state_module._LOAD_CHUNK
    assert reserved <= index.capacity < reserved + 64
    writer_store.close()
    reader_store.close()
