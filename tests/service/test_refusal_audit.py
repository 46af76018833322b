"""Every refused lookup is audited, and repeated refusals are one entry per principal,
reason and minute with a count (issue 22: the audit log must not be a flood lever)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from linkage.errors import InvalidInputError, ResourceExhaustedError, StorageError
from linkage.pki import Principal
from linkage.service import LinkageService, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS, clk_bytes, person, responder

#: 2026-12-07T17:20:00Z, the start of a minute, in microseconds
MINUTE_START_US = 1_796_664_000 * 1_000_000


@dataclass
class Clocks:
    wall_us: int = MINUTE_START_US + 5_000_000
    mono: float = 1000.0

    def wall(self) -> int:
        return self.wall_us

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteLinkStore]:
    opened = SqliteLinkStore(tmp_path / "index.db")
    yield opened
    opened.close()


def _service(store: SqliteLinkStore, clocks: Clocks, **limits: Any) -> LinkageService:
    service = LinkageService(
        store,
        SETTINGS,
        ServiceLimits(**{"lookup_rate_per_s": 1.0, "lookup_burst": 2, **limits}),
        clock=clocks.wall,
        monotonic=clocks.monotonic,
    )
    service.create_agency(OPERATOR, "police", "Police", b"")
    return service


def _refusals(store: SqliteLinkStore) -> list[dict[str, Any]]:
    return [
        {"actor": row.actor, "action": row.action, **json.loads(row.details)}
        for row in store.iter_audit()
        if row.action.endswith(".refused")
    ]


def _look(service: LinkageService, who: Principal, clk: bytes, **changes: Any) -> None:
    request: dict[str, Any] = {
        "key_epoch": 1,
        "schema_fingerprint": SETTINGS.schema_fingerprint,
        "purpose": "crisis_response",
        "max_links": 0,
        **changes,
    }
    service.lookup(who, clk, **request)


def test_two_thousand_rate_limited_lookups_in_a_minute_are_two_entries(
    store: SqliteLinkStore, clocks: Clocks
) -> None:
    service = _service(store, clocks)
    officer = responder("police")
    clk = clk_bytes(person(np.random.default_rng(1)))
    for _ in range(2):
        _look(service, officer, clk)
    started = time.perf_counter()
    for _ in range(2000):
        with pytest.raises(ResourceExhaustedError):
            _look(service, officer, clk)
    elapsed = time.perf_counter() - started
    (first,) = _refusals(store)
    assert (first["reason"], first["count"], first["repeats"], first["minute"]) == (
        "rate_limited",
        1,
        False,
        "2026-12-07T17:20Z",
    )
    assert first["actor"] == officer.actor
    assert service.flush_refusals() == 0, "the minute is not over: nothing more is written"
    clocks.wall_us += 60_000_000
    assert service.flush_refusals() == 1
    assert [(r["count"], r["repeats"], r["minute"]) for r in _refusals(store)] == [
        (1, False, "2026-12-07T17:20Z"),
        (1999, True, "2026-12-07T17:20Z"),
    ]
    assert service.verify_audit().ok
    # one write per refusal took seconds before (2,000 fsync'd rows in about 2 s)
    assert elapsed < 2.0, f"2,000 refusals took {elapsed:.2f} s"


def test_every_kind_of_refused_lookup_is_audited_naming_its_fields(
    store: SqliteLinkStore, clocks: Clocks
) -> None:
    service = _service(store, clocks, lookup_burst=100)
    officer = responder("police")
    clk = clk_bytes(person(np.random.default_rng(2)))
    refusals = [
        ({"purpose": "curiosity"}, ["purpose"]),
        ({"purpose": "evaluation"}, ["purpose"]),
        ({"key_epoch": 7}, ["key_epoch"]),
        ({"schema_fingerprint": "cd" * 16}, ["schema_fingerprint"]),
        ({"max_links": 1000}, ["max_links"]),
        ({"clk": clk[:-1]}, ["clk"]),
    ]
    for changes, _ in refusals:
        with pytest.raises(InvalidInputError):
            _look(service, officer, changes.pop("clk", clk), **changes)
    with pytest.raises(InvalidInputError):
        _look(service, officer, b"\xff" * len(clk))
    found = [(r["reason"], r["fields"], r["count"]) for r in _refusals(store)]
    # "evaluation" after "curiosity": the same principal, reason and fields in the same
    # minute, a repeat, counted and written when the minute is over (here: at close)
    assert found == [
        ("invalid_request", ["purpose"], 1),
        ("invalid_request", ["key_epoch"], 1),
        ("invalid_request", ["schema_fingerprint"], 1),
        ("invalid_request", ["max_links"], 1),
        ("invalid_request", ["clk"], 1),
        ("implausible_query", ["query.clk"], 1),
    ]
    service.close()
    assert [(r["fields"], r["count"], r["repeats"]) for r in _refusals(store)][-1] == (
        ["purpose"],
        1,
        True,
    )


def test_groups_are_per_principal_reason_and_minute(store: SqliteLinkStore, clocks: Clocks) -> None:
    service = _service(store, clocks, lookup_burst=100)
    first, second = responder("police", "first"), responder("police", "second")
    clk = clk_bytes(person(np.random.default_rng(3)))
    for who in (first, second, first):
        with pytest.raises(InvalidInputError):
            _look(service, who, clk, purpose="curiosity")
    clocks.wall_us += 60_000_000  # the next minute: a new group, and the last one is due
    with pytest.raises(InvalidInputError):
        _look(service, first, clk, purpose="curiosity")
    found = [(r["actor"], r["minute"], r["count"], r["repeats"]) for r in _refusals(store)]
    assert found == [
        (first.actor, "2026-12-07T17:20Z", 1, False),
        (second.actor, "2026-12-07T17:20Z", 1, False),
        (first.actor, "2026-12-07T17:21Z", 1, False),
        (first.actor, "2026-12-07T17:20Z", 1, True),
    ]


def test_a_refusal_of_another_action_is_audited_by_the_same_rule(
    store: SqliteLinkStore, clocks: Clocks
) -> None:
    service = _service(store, clocks)
    it = Principal(responder("police").role, "police", "it", 9)
    for _ in range(3):
        service.audit_refusal(it, "call.refused", "permission_denied", ["/x.Y/Z"])
    service.close()
    found = [(r["action"], r["reason"], r["fields"], r["count"]) for r in _refusals(store)]
    assert found == [
        ("call.refused", "permission_denied", ["/x.Y/Z"], 1),
        ("call.refused", "permission_denied", ["/x.Y/Z"], 2),
    ]


def test_the_repeats_of_a_minute_are_written_soon_after_it_ends_without_another_call(
    store: SqliteLinkStore,
) -> None:
    """With the real timer: a clock 0.2 s before the end of a minute; the repeats are
    written about 2 s after it ends although no other refusal comes."""
    origin = time.monotonic()
    service = LinkageService(
        store,
        SETTINGS,
        ServiceLimits(lookup_burst=100),
        clock=lambda: MINUTE_START_US - 200_000 + int((time.monotonic() - origin) * 1e6),
    )
    clk = clk_bytes(person(np.random.default_rng(4)))
    for _ in range(3):
        with pytest.raises(InvalidInputError):
            _look(service, responder("police"), clk, purpose="curiosity")
    assert [r["count"] for r in _refusals(store)] == [1]
    deadline = time.monotonic() + 10
    while len(_refusals(store)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [(r["count"], r["repeats"]) for r in _refusals(store)] == [(1, False), (2, True)]
    service.close()


def test_a_timer_that_cannot_write_logs_it_and_keeps_the_counts(
    tmp_path: Path, clocks: Clocks, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteLinkStore(tmp_path / "closed.db")
    service = _service(store, clocks, lookup_burst=100)
    clk = clk_bytes(person(np.random.default_rng(5)))
    for _ in range(3):
        with pytest.raises(InvalidInputError):
            _look(service, responder("police"), clk, purpose="curiosity")
    refusals = service._refusals  # what the timer thread runs
    store.close()
    clocks.wall_us += 60_000_000
    refusals._on_timer()  # the store is gone: nothing escapes the timer's thread
    assert "could not write the counted refusals" in caplog.text
    reopened = SqliteLinkStore(tmp_path / "closed.db")
    try:
        service._state.store = reopened  # as after a reconnect: the counts were kept
        assert service.flush_refusals() == 1
        assert [(r["count"], r["repeats"]) for r in _refusals(reopened)] == [
            (1, False),
            (2, True),
        ]
    finally:
        reopened.close()


def test_a_refusal_that_cannot_write_keeps_its_count_and_the_minutes_before(
    tmp_path: Path, clocks: Clocks
) -> None:
    """A refusal whose entry cannot be written (the store busy or gone) loses nothing:
    it and the repeats it was to write are counted and written by the next try."""
    store = SqliteLinkStore(tmp_path / "busy.db")
    service = _service(store, clocks, lookup_burst=100)
    clk = clk_bytes(person(np.random.default_rng(5)))
    for _ in range(3):
        with pytest.raises(InvalidInputError):
            _look(service, responder("police"), clk, purpose="curiosity")
    store.close()
    clocks.wall_us += 60_000_000
    with pytest.raises(StorageError, match="closed"):
        _look(service, responder("police"), clk, purpose="curiosity")
    reopened = SqliteLinkStore(tmp_path / "busy.db")
    try:
        service._state.store = reopened
        service.close()
        assert sorted(
            (r["minute"][-3:], r["count"], r["repeats"]) for r in _refusals(reopened)
        ) == [
            ("20Z", 1, False),
            ("20Z", 2, True),
            ("21Z", 1, True),
        ]
    finally:
        reopened.close()
