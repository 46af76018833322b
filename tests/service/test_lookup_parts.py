"""Lookups on their own: the order of refusals, search, consent and the audit of what
was disclosed."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.match import pack_clk_bytes
from linkage.security import RateLimiter
from linkage.service import NullObserver, ServiceLimits, cross_agency_greedy
from linkage.service._agencies import Agencies
from linkage.service._clock import system_clock_us
from linkage.service._ingest import Ingest
from linkage.service._linking import Linking
from linkage.service._lookup import Lookups, record_name
from linkage.service._refusals import RefusalAudit
from linkage.service._state import ServiceState
from linkage.store import SqliteLinkStore
from tests.service.factory import (
    OPERATOR,
    SETTINGS,
    agency,
    batch,
    clk_bytes,
    person,
    responder,
    upsert,
    variant,
)

pytestmark = pytest.mark.unit

PURPOSE = "crisis_response"


@dataclass
class Parts:
    store: SqliteLinkStore
    ingest: Ingest
    lookups: Lookups


def _parts(path: Path, *, burst: int = 100, audit: bool = True) -> Parts:
    store = SqliteLinkStore(path)
    state = ServiceState(store, SETTINGS, ServiceLimits(), system_clock_us, NullObserver())
    state.load_index()
    agencies = Agencies(state)
    for agency_id in ("police", "valley-mhc"):
        agencies.create(OPERATOR, agency_id, agency_id.upper(), b"card:" + agency_id.encode())
    ingest = Ingest(state, agencies, Linking(state, cross_agency_greedy, None))
    limiter = RateLimiter(1.0, burst, lambda: 0.0)
    refusals = RefusalAudit(state, timer=False)
    return Parts(store, ingest, Lookups(state, agencies, limiter, refusals, audit_lookups=audit))


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    made = _parts(tmp_path / "lookup.db")
    yield made
    made.store.close()


def _ask(parts: Parts, clk: bytes, **changes: object) -> object:
    args: dict[str, object] = {
        "clk": clk,
        "key_epoch": SETTINGS.key_epoch,
        "schema_fingerprint": SETTINGS.schema_fingerprint,
        "purpose": PURPOSE,
        "max_links": 0,
    }
    args.update(changes)
    return parts.lookups.lookup(responder("police"), **args)  # type: ignore[arg-type]


def test_a_consented_member_is_disclosed_and_the_disclosure_accounted(parts: Parts) -> None:
    rng = np.random.default_rng(5)
    alice = person(rng)
    parts.ingest.write_batch(agency("police"), batch("police", "p", upsert("a", alice)))
    parts.ingest.write_batch(
        agency("valley-mhc"),
        batch("valley-mhc", "m", upsert("a2", variant(rng, alice), disclose=False)),
    )
    hits = parts.lookups.lookup(
        responder("police"),
        clk_bytes(variant(rng, alice)),
        SETTINGS.key_epoch,
        SETTINGS.schema_fingerprint,
        PURPOSE,
        0,
    )
    assert [[m.agency_id for m in hit.members] for hit in hits] == [["police"]]
    assert hits[0].members[0].contact_card == b"card:police"
    assert hits[0].members[0].agency_display_name == "POLICE"
    lookup = next(row for row in parts.store.iter_audit() if row.action == "lookup")
    assert f'"disclosed_records":["{record_name("police", b"a")}"]' in lookup.details
    ((_, row),) = parts.lookups.list_disclosures("police", None, 10)
    assert (row.record_key, row.recipient_agency, row.purpose) == (b"a", "police", PURPOSE)
    assert parts.lookups.list_disclosures("valley-mhc", None, 10) == []
    assert parts.lookups.disclosable_count("police") == 1
    assert parts.lookups.disclosable_count("valley-mhc") == 0


def test_refusals_in_order_rate_then_shape_then_plausibility(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "refusals.db", burst=3)
    rng = np.random.default_rng(6)
    with pytest.raises(InvalidInputError) as shape:
        _ask(parts, b"\x01", key_epoch=9, purpose="curiosity", max_links=-1)
    assert [p.location for p in shape.value.problems] == [
        "key_epoch",
        "purpose",
        "max_links",
        "clk",
    ]
    with pytest.raises(InvalidInputError):
        _ask(parts, b"\xff" * SETTINGS.clk_bytes)  # every bit set: no real query
    assert _ask(parts, clk_bytes(person(rng))) == []
    with pytest.raises(ResourceExhaustedError, match="too many lookups"):
        _ask(parts, clk_bytes(person(rng)))
    reasons = [
        json.loads(row.details)
        for row in parts.store.iter_audit()
        if row.action == "lookup.refused"
    ]
    assert [(r["reason"], r["fields"], r["count"]) for r in reasons] == [
        ("invalid_request", ["clk", "key_epoch", "max_links", "purpose"], 1),
        ("implausible_query", ["query.clk"], 1),
        ("rate_limited", [], 1),
    ]
    parts.store.close()


def test_search_returns_the_best_records_at_the_threshold_best_first(parts: Parts) -> None:
    rng = np.random.default_rng(7)
    alice = person(rng)
    near, far = variant(rng, alice, flips=4), variant(rng, alice, flips=40)
    parts.ingest.write_batch(
        agency("police"),
        batch("police", "p", upsert("far", far), upsert("near", near), upsert("x", person(rng))),
    )
    found = parts.lookups.search(pack_clk_bytes([clk_bytes(alice)], SETTINGS.clk_bits), 5)
    scores = [score for _, score in found]
    assert len(found) == 2
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= SETTINGS.effective_lookup_threshold


def test_unaudited_lookups_write_nothing(tmp_path: Path) -> None:
    parts = _parts(tmp_path / "bench.db", audit=False)
    before = len(list(parts.store.iter_audit()))
    assert _ask(parts, clk_bytes(person(np.random.default_rng(8)))) == []
    assert len(list(parts.store.iter_audit())) == before
    parts.store.close()


def test_record_names_carry_the_key_base64url() -> None:
    key = b"\xfb\xff/+"
    assert record_name("er", key) == f"agencies/er/records/{base64.urlsafe_b64encode(key).decode()}"
