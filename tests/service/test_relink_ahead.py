"""A batch's relinking is worked out before its write transaction, from a snapshot, and
gives exactly what working it out inside the transaction gives (``_relink_plan``)."""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.service import (
    ClusteringSettings,
    ConsentChange,
    LinkageService,
    RecordUpsert,
    RecordWithdrawal,
    ServiceLimits,
    WriteBatch,
)
from linkage.service._ingest import Ingest
from linkage.service._relink_plan import Departures, Relinked
from linkage.store import SqliteLinkStore
from linkage.store._sqlite_write import SqliteWriteTransaction
from tests.service.factory import (
    OPERATOR,
    SETTINGS,
    agency,
    batch,
    consent,
    person,
    upsert,
    variant,
)
from tests.service.prob_factory import segmented_records, with_probabilistic

pytestmark = pytest.mark.unit

AGENCIES = ("police", "valley-mhc", "er")


def _ticks() -> Callable[[], int]:
    """A clock that moves one microsecond per reading: two services fed the same batches
    read the same times."""
    now = [1_800_000_000_000_000]

    def clock() -> int:
        now[0] += 1
        return now[0]

    return clock


def _service(path: Path, clustering: str) -> LinkageService:
    service = LinkageService(
        SqliteLinkStore(path),
        dataclasses.replace(SETTINGS, clustering=ClusteringSettings(method=clustering)),
        ServiceLimits(lookup_burst=1000),
        clock=_ticks(),
    )
    for agency_id in AGENCIES:
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    return service


def _in_transaction_only(service: LinkageService) -> None:
    """Make ``service`` work every relinking out inside the write transaction."""
    service._ingest._relink_ahead = lambda *args, **kwargs: None  # type: ignore[method-assign]


def _count_ahead(service: LinkageService) -> list[bool]:
    """Record, for each batch, whether its relinking was worked out ahead."""
    used: list[bool] = []
    ingest = service._ingest
    original = ingest._relink_ahead

    def counted(*args: Any, **kwargs: Any) -> Relinked | None:
        result = original(*args, **kwargs)
        used.append(result is not None)
        return result

    ingest._relink_ahead = counted  # type: ignore[method-assign]
    return used


def _stored(service: LinkageService) -> tuple[object, ...]:
    store = service._state.store
    return (
        sorted((int(node), int(link)) for node, link in store.iter_node_links()),
        sorted((e.node_a, e.node_b, e.score) for e in store.iter_edges()),
        store.list_events(0, 1_000_000),
    )


def _mutations(rng: np.random.Generator, people: list[np.ndarray], held: dict[str, set[str]]):
    """One agency's batch of random mutations: new records of known and new people,
    replacements (another CLK), in-place updates (same CLK), withdrawals and consent
    changes that detach a record from the graph or bring it back."""
    agency_id = AGENCIES[int(rng.integers(0, len(AGENCIES)))]
    mine = held.setdefault(agency_id, set())
    out: list[object] = []
    used: set[str] = set()
    for _ in range(int(rng.integers(1, 6))):
        choice = int(rng.integers(0, 6))
        existing = sorted(mine - used)
        if choice <= 2 or not existing:
            who = int(rng.integers(0, len(people) + 1))
            if who == len(people):
                people.append(person(rng))
            key = f"{agency_id}-{len(mine) + len(used)}-{int(rng.integers(0, 10**6))}"
            out.append(upsert(key, variant(rng, people[who], int(rng.integers(0, 40)))))
            used.add(key)
            continue
        key = existing[int(rng.integers(0, len(existing)))]
        used.add(key)
        if choice == 3:
            out.append(upsert(key, variant(rng, people[0], int(rng.integers(0, 40)))))
        elif choice == 4:
            out.append(RecordWithdrawal(key.encode()))
        else:
            linkable = bool(rng.integers(0, 2))
            out.append(ConsentChange(key.encode(), consent(linkable=linkable), linkable=linkable))
    for mutation in out:
        if isinstance(mutation, RecordWithdrawal):
            mine.discard(mutation.record_key.decode())
        elif not isinstance(mutation, ConsentChange):
            mine.add(mutation.record_key.decode())  # type: ignore[attr-defined]
    return agency_id, out


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    batches=st.integers(3, 12),
    clustering=st.sampled_from(["greedy", "average_link"]),
)
def test_relinking_ahead_writes_what_relinking_in_the_transaction_writes(
    seed: int, batches: int, clustering: str
) -> None:
    """Random batches (inserts, replacements, updates, withdrawals, consent changes) on two
    stores: the same links, link IDs, edges and events, and the same outcomes."""
    rng = np.random.default_rng(seed)
    people = [person(rng) for _ in range(4)]
    held: dict[str, set[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        ahead = _service(Path(tmp) / "ahead.db", clustering)
        inside = _service(Path(tmp) / "inside.db", clustering)
        _in_transaction_only(inside)
        used = _count_ahead(ahead)
        for number in range(batches):
            agency_id, mutations = _mutations(rng, people, held)
            request = batch(agency_id, f"b{number}", *mutations)
            first = ahead.write_batch(agency(agency_id), request)
            second = inside.write_batch(agency(agency_id), request)
            assert first == second
        assert _stored(ahead) == _stored(inside)
        assert used
        assert all(used), "every batch was relinked ahead of its transaction"


def test_probabilistic_relinking_ahead_scores_the_new_records_by_placeholder(
    tmp_path: Path,
) -> None:
    """Average-link in probabilistic mode scores pairs without an edge from the CLKs of
    records not inserted yet (placeholder node IDs): the same links either way."""
    records = segmented_records(60, 5)
    services = []
    for name in ("ahead", "inside"):
        service = LinkageService(
            SqliteLinkStore(tmp_path / f"{name}.db"),
            dataclasses.replace(
                with_probabilistic(auto_refit=False),
                clustering=ClusteringSettings(method="average_link"),
            ),
            ServiceLimits(lookup_burst=1000),
            clock=_ticks(),
        )
        for agency_id in sorted({r.agency_id for r in records}):
            service.create_agency(OPERATOR, agency_id, agency_id, b"")
        services.append(service)
    ahead, inside = services
    _in_transaction_only(inside)
    used = _count_ahead(ahead)
    number = 0
    for start in range(0, len(records), 40):
        chunk = records[start : start + 40]
        for agency_id in sorted({r.agency_id for r in chunk}):
            number += 1
            request = WriteBatch(
                agency_id=agency_id,
                batch_id=f"p{number}",
                key_epoch=1,
                schema_fingerprint=ahead.settings.schema_fingerprint,
                mutations=tuple(
                    RecordUpsert(
                        record_key=r.key.encode(),
                        clk=r.clk,
                        pointer_token=b"ptr",
                        consent=consent(),
                        linkable=True,
                    )
                    for r in chunk
                    if r.agency_id == agency_id
                ),
            )
            assert ahead.write_batch(agency(agency_id), request) == inside.write_batch(
                agency(agency_id), request
            )
    links = _stored(ahead)[0]
    assert isinstance(links, list)
    assert len({link for _, link in links}) < len(links), "some records were linked"
    assert _stored(ahead) == _stored(inside)
    assert used
    assert all(used)


def _copies(rng: np.random.Generator, prefix: str, people: list[np.ndarray]) -> list[RecordUpsert]:
    return [upsert(f"{prefix}{i}", variant(rng, p, 10)) for i, p in enumerate(people)]


def _spy_write_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the re-clustering reads made inside write transactions."""
    calls: list[str] = []
    for name in ("edges_touching", "node_links", "node_agency_nos"):
        original: Callable[..., Any] = getattr(SqliteWriteTransaction, name)

        def spy(self: Any, *args: Any, _name: str = name, _f: Any = original) -> Any:
            calls.append(_name)
            return _f(self, *args)

        monkeypatch.setattr(SqliteWriteTransaction, name, spy)
    return calls


def test_the_write_transaction_does_no_relinking_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch that joins, replaces and withdraws records reads nothing of the graph inside
    its write transaction: the relinking was worked out before it."""
    rng = np.random.default_rng(7)
    people = [person(rng) for _ in range(6)]
    service = _service(tmp_path / "a.db", "average_link")
    service.write_batch(
        agency("police"),
        batch(
            "police", "b1", *(upsert(f"p{i}", variant(rng, p, 10)) for i, p in enumerate(people))
        ),
    )
    calls = _spy_write_reads(monkeypatch)
    outcome = service.write_batch(
        agency("er"),
        batch("er", "b2", *(upsert(f"e{i}", variant(rng, p, 10)) for i, p in enumerate(people))),
    )
    assert outcome.linked == len(people)
    service.write_batch(
        agency("police"),
        batch(
            "police",
            "b3",
            upsert("p0", variant(rng, people[1], 10)),
            RecordWithdrawal(b"p2"),
        ),
    )
    assert calls == []


def test_a_rebuild_by_another_process_in_between_relinks_inside_the_transaction(
    tmp_path: Path,
) -> None:
    """Another matcher process rebuilds the links after this one worked its batch's
    relinking out: the write transaction sees the newer event and works it out again, on
    the links as they are now."""
    rng = np.random.default_rng(11)
    people = [person(rng) for _ in range(5)]
    path = tmp_path / "shared.db"
    this = _service(path, "greedy")
    other = LinkageService(SqliteLinkStore(path), SETTINGS, ServiceLimits())
    this.write_batch(
        agency("police"),
        batch(
            "police", "b1", *(upsert(f"p{i}", variant(rng, p, 10)) for i, p in enumerate(people))
        ),
    )
    ingest = this._ingest
    original_ahead = ingest._relink_ahead
    planned: list[str] = []
    original_relink = ingest._relink

    def ahead_then_rebuild(*args: Any, **kwargs: Any) -> Relinked | None:
        result = original_ahead(*args, **kwargs)
        assert result is not None
        other.rebuild(OPERATOR, "another process's rebuild")
        return result

    def relink(*args: Any, **kwargs: Any) -> Relinked:
        planned.append("relink")
        return original_relink(*args, **kwargs)

    ingest._relink_ahead = ahead_then_rebuild  # type: ignore[method-assign]
    ingest._relink = relink  # type: ignore[method-assign]
    outcome = this.write_batch(
        agency("er"),
        batch("er", "b2", *(upsert(f"e{i}", variant(rng, p, 10)) for i, p in enumerate(people))),
    )
    assert planned == ["relink", "relink"]  # ahead, then again inside the transaction
    assert outcome.linked == len(people)
    store = this._state.store
    incremental = [(int(node), int(link)) for node, link in store.iter_node_links()]
    this.rebuild(OPERATOR, "check")
    groups_before: dict[int, set[int]] = {}
    for node, link in incremental:
        groups_before.setdefault(link, set()).add(node)
    groups_after: dict[int, set[int]] = {}
    for node, link in store.iter_node_links():
        groups_after.setdefault(link, set()).add(node)
    assert sorted(map(sorted, groups_before.values())) == sorted(map(sorted, groups_after.values()))


def test_the_snapshot_is_not_used_once_the_store_has_moved_on(tmp_path: Path) -> None:
    service = _service(tmp_path / "a.db", "greedy")
    ingest: Ingest = service._ingest
    request = batch("police", "b1", upsert("p0", person(np.random.default_rng(1))))
    with service._state.store.write() as tx:
        plan = ingest.plan(tx, request)
        at = (tx.last_event_sequence(), tx.last_index_change())
    graph = ingest.graph(plan)
    assert ingest._relink_ahead(request, plan, graph, at, 1) is not None
    assert ingest._relink_ahead(request, plan, graph, (at[0] - 1, at[1]), 1) is None
    assert ingest._relink_ahead(request, plan, graph, (at[0], at[1] + 1), 1) is None


def _relinked(planned: tuple[int, ...], newest_node: int) -> Relinked:
    return Relinked(
        departures=Departures(frozenset(), frozenset(), {}),
        planned_nodes=planned,
        edges=(),
        assignments=(),
        deleted_links=(),
        events=(),
        linked=frozenset(),
        newest_node=newest_node,
        newest_link=0,
    )


def test_store_ids_must_keep_the_planned_order() -> None:
    planned = _relinked((1 << 62, (1 << 62) + 1, (1 << 62) + 2), newest_node=40)
    assert planned.fits([41, 42, 50])
    assert not planned.fits([41, 43, 42]), "not growing"
    assert not planned.fits([40, 41, 42]), "not above the stored nodes seen"
    assert _relinked((7, 9), newest_node=40).fits([7, 9]), "planned with these IDs"


def test_relinking_ahead_of_a_large_batch_takes_the_array_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose components hold more than a few hundred records goes through the
    array implementation of the link update (placeholder IDs near 2**62 included): the
    same links, edges and events as relinking inside the transaction."""
    import linkage.service._linking as linking_module

    calls: list[int] = []
    array_update = linking_module._array_link_update

    def counted(*args: Any) -> Any:
        calls.append(len(args[2]))
        return array_update(*args)

    monkeypatch.setattr(linking_module, "_array_link_update", counted)
    rng = np.random.default_rng(5)
    people = [person(rng) for _ in range(200)]
    ahead = _service(tmp_path / "ahead.db", "average_link")
    inside = _service(tmp_path / "inside.db", "average_link")
    _in_transaction_only(inside)
    used = _count_ahead(ahead)
    for number, agency_id in enumerate(AGENCIES):
        request = batch(agency_id, f"b{number}", *_copies(rng, agency_id, people))
        assert ahead.write_batch(agency(agency_id), request) == inside.write_batch(
            agency(agency_id), request
        )
    withdraw = batch("police", "w", *(RecordWithdrawal(f"police{i}".encode()) for i in range(50)))
    assert ahead.write_batch(agency("police"), withdraw) == inside.write_batch(
        agency("police"), withdraw
    )
    assert _stored(ahead) == _stored(inside)
    assert all(used)
    assert len(used) == len(AGENCIES) + 1
    assert calls
    assert max(calls) > 300


def test_a_snapshot_that_cannot_be_read_leaves_the_relinking_to_the_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot is only a head start: when it fails (a dropped PostgreSQL connection, a
    full pool) the batch relinks inside its write transaction and commits all the same."""
    from contextlib import AbstractContextManager

    from linkage.errors import UnavailableError
    from linkage.store import GraphReads

    rng = np.random.default_rng(3)
    people = [person(rng) for _ in range(4)]
    ahead = _service(tmp_path / "ahead.db", "average_link")
    inside = _service(tmp_path / "inside.db", "average_link")
    _in_transaction_only(inside)

    def unavailable() -> AbstractContextManager[GraphReads]:
        raise UnavailableError("the store is not reachable")

    monkeypatch.setattr(ahead._state.store, "graph_snapshot", unavailable)
    used = _count_ahead(ahead)
    for number, agency_id in enumerate(AGENCIES):
        request = batch(agency_id, f"b{number}", *_copies(rng, agency_id, people))
        assert ahead.write_batch(agency(agency_id), request) == inside.write_batch(
            agency(agency_id), request
        )
    assert used == [False, False, False]
    assert _stored(ahead) == _stored(inside)
