"""Concurrency behaviour every engine must show: several stores, threads and
PROCESSES on one database serialise their writes and lose nothing."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from linkage.store import AuditRow, EventKind, EventRow, LinkStore, SqliteLinkStore

pytestmark = pytest.mark.integration

StoreFactory = Callable[[], LinkStore]
_WORKER = Path(__file__).with_name("_store_worker.py")


def _worker_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("linkage_store_worker", _WORKER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _worker_env(store: LinkStore, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """Tell a worker process where the parent's database is (secrets via env only)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LINKAGE_WORKER_")  # never inherit a stale target
    }
    if isinstance(store, SqliteLinkStore):
        env["LINKAGE_WORKER_SQLITE_PATH"] = str(tmp_path / "index.db")
    else:
        target = request.getfixturevalue("pg_target")  # the store's own schema
        env["LINKAGE_WORKER_PG_DSN"] = target.dsn
        env["LINKAGE_WORKER_PG_SCHEMA"] = target.schema
    return env


def test_two_processes_ingesting_at_once_neither_lose_nor_duplicate_a_batch(
    store: LinkStore, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    worker = _worker_module()
    with store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        tx.insert_agency("mhc", "MHC", b"", 1)
    env = _worker_env(store, tmp_path, request)
    names = ("matcher-a", "matcher-b")
    procs = [
        subprocess.Popen(
            [sys.executable, str(_WORKER), name, str(seed), str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for seed, name in enumerate(names)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"{n}.ready").exists() for n in names):
            assert all(p.poll() is None for p in procs), "a worker died before it was ready"
            assert time.monotonic() < deadline, "workers did not get ready"
            time.sleep(0.01)
        (tmp_path / "go").touch()  # both start ingesting at once
        outputs = [p.communicate(timeout=120)[0].decode(errors="replace") for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], outputs

    committed = {n: json.loads((tmp_path / f"{n}.json").read_text()) for n in names}
    expected = {b for n in names for _, b in worker.batch_plan(n)}
    by_batch = Counter(b for n in names for b in committed[n])
    assert set(by_batch) == expected, "no batch is lost"
    assert max(by_batch.values()) == 1, "no batch is committed twice"
    assert any(b.startswith("shared-") for b in committed["matcher-a"])
    assert any(b.startswith("shared-") for b in committed["matcher-b"])

    per_batch = worker.RECORDS_PER_BATCH
    counts = {c.agency_id: (c.batch_count, c.record_count) for c in store.agency_counts()}
    assert sum(n for n, _ in counts.values()) == len(expected)
    assert sum(r for _, r in counts.values()) == len(expected) * per_batch
    nodes = [r.node_id for r in store.iter_index_records(1, "fp")]
    assert len(nodes) == len(set(nodes)) == len(expected) * per_batch, "node IDs are unique"
    assert store.link_count() == len(expected)
    assert sum(1 for _ in store.iter_edges()) == len(expected) * (per_batch - 1)

    events = store.list_events(0, 10_000)
    assert [e.sequence for e in events] == list(range(1, len(expected) + 1)), "events gap-free"
    assert Counter(e.batch_id for e in events) == Counter(expected)
    assert store.last_event_sequence() == len(expected)

    audit = list(store.iter_audit())
    assert [a.sequence for a in audit] == list(range(1, len(expected) + 1))
    prev = b"\0" * 32
    for row in audit:
        assert row.prev_hash == prev, "the audit chain is unbroken"
        batch_id = row.target_ids[0].removeprefix("batches/")
        assert row.entry_hash == worker.audit_hash(prev, row.sequence, row.actor, batch_id)
        prev = row.entry_hash


def test_writers_of_two_store_instances_on_one_database_are_serialised(
    store_factory: StoreFactory,
) -> None:
    first, second = store_factory(), store_factory()
    holding = threading.Event()
    release = threading.Event()
    second_entered = threading.Event()
    errors: list[BaseException] = []

    def hold_first() -> None:
        try:
            with first.write() as tx:
                tx.insert_agency("police", "Police", b"", 1)
                holding.set()
                release.wait(10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def write_second() -> None:
        try:
            with second.write() as tx:
                second_entered.set()
                # Granted only after the first committed: it must see its agency.
                tx.insert_agency("mhc", "MHC", b"", 2)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t1 = threading.Thread(target=hold_first)
    t2 = threading.Thread(target=write_second)
    t1.start()
    try:
        assert holding.wait(10)
        t2.start()
        entered_early = second_entered.wait(0.5)
    finally:
        release.set()
        t1.join(10)
        if t2.ident is not None:
            t2.join(10)
    assert not entered_early, "a second writer entered while the first held the lock"
    assert not t1.is_alive()
    assert not t2.is_alive()
    assert errors == []
    assert second_entered.is_set()
    assert [(a.agency_id, a.agency_no) for a in first.list_agencies()] == [
        ("mhc", 2),
        ("police", 1),
    ]


def test_the_last_audit_entry_is_read_while_another_store_holds_the_writer_lock(
    store_factory: StoreFactory,
) -> None:
    first, second = store_factory(), store_factory()
    assert second.read_last_audit() is None
    with first.write() as tx:
        tx.append_audit(AuditRow(1, 5, "op", "enrol", (), "{}", b"\0" * 32, b"h1" * 16))
    holding = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def hold_first() -> None:
        try:
            with first.write() as tx:
                tx.append_audit(AuditRow(2, 6, "op", "x", (), "{}", b"h1" * 16, b"h2" * 16))
                holding.set()
                release.wait(30)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    holder = threading.Thread(target=hold_first)
    holder.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        last = second.read_last_audit()  # the committed entry, at once
        waited = time.monotonic() - started
    finally:
        release.set()
        holder.join(10)
    assert errors == []
    assert last is not None
    assert (last.sequence, last.entry_hash) == (1, b"h1" * 16)
    assert waited < 2.0
    after = second.read_last_audit()
    assert after is not None
    assert after.sequence == 2


def test_events_stay_gap_free_across_rolled_back_transactions(store: LinkStore) -> None:
    def event(n: int) -> EventRow:
        return EventRow(EventKind.LINK_CREATED, n, target_links=(n,))

    with store.write() as tx:
        tx.append_events([event(1), event(2)])
    with pytest.raises(RuntimeError), store.write() as tx:
        tx.append_events([event(3), event(4)])
        raise RuntimeError("abort")
    with store.write() as tx:
        tx.append_events([event(5)])
    with store.write() as tx:
        tx.append_events([])
    events = store.list_events(0, 100)
    assert [(e.sequence, e.event_time_us) for e in events] == [(1, 1), (2, 2), (3, 5)]
    assert [e.target_links for e in store.list_events(2, 1)] == [(5,)]
    assert store.last_event_sequence() == 3


def test_pages_are_identical_across_engines(store: LinkStore) -> None:
    # Byte order, not locale order: upper case before lower case, "a-b" before "a_b".
    ids = ["b", "B", "a_b", "a-b", "ä", "z", "A"]
    with store.write() as tx:
        for agency in ids:
            tx.insert_agency(agency, agency, b"", 1)
    got: list[str] = []
    after = ""
    while page := store.list_agencies(after, 2):
        got += [a.agency_id for a in page]
        after = page[-1].agency_id
    assert got == sorted(ids, key=lambda s: s.encode())
    from linkage.store import NewRecord

    keys = [b"\xff", b"\x00", b"a", b"B", b"\x7f", b"ab"]
    with store.write() as tx:
        for key in keys:
            tx.insert_record(NewRecord("z", key, 1, "fp", b"c", b"t", b"{}", True, b"d", 1))
    listed: list[bytes] = []
    after_key = b""
    while rows := store.list_records("z", after_key, 4):
        listed += [r.record_key for r in rows]
        after_key = rows[-1].record_key
    assert listed == sorted(keys)
