"""Agency changes reach every matcher process on one store: a contact card confirmed
through one process is what the others' lookups show at their next call (they follow the
agency mark the change appends to the index-change feed), on SQLite (two services on one
file) and on PostgreSQL (the production layout)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from linkage.service import LinkageService, ServiceLimits, proposal_digest
from linkage.store import LinkStore, PostgresLinkStore, SqliteLinkStore
from tests.service.factory import (
    FINGERPRINT,
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

OLD, NEW, NEWER = b"card: 555 0100", b"card: 555 0199", b"card: 555 0777"


def _matcher(store: LinkStore) -> LinkageService:
    return LinkageService(store, SETTINGS, ServiceLimits(lookup_burst=1000))


def _card_seen_by_responders(service: LinkageService, bits: np.ndarray) -> bytes:
    (hit,) = service.lookup(
        responder("police"), clk_bytes(bits), 1, FINGERPRINT, "crisis_response", 0
    )
    (member,) = hit.members
    return member.contact_card


def _confirm(service: LinkageService, card: bytes) -> None:
    _, proposal = service.propose_agency_change(OPERATOR, "valley-mhc", "VALLEY-MHC", card)
    assert proposal is not None
    service.settle_contact_card(agency("valley-mhc"), "valley-mhc", proposal_digest(proposal))


def _two_matchers_show_a_confirmed_card(open_store: Callable[[], LinkStore]) -> None:
    first = _matcher(open_store())
    for agency_id in ("police", "valley-mhc"):
        first.create_agency(OPERATOR, agency_id, agency_id.upper(), OLD)
    rng = np.random.default_rng(9)
    bits = person(rng)
    first.write_batch(agency("valley-mhc"), batch("valley-mhc", "m1", upsert("a", bits)))
    ann = variant(rng, bits)
    second = _matcher(open_store())
    assert _card_seen_by_responders(second, ann) == OLD  # now cached by the second
    assert _card_seen_by_responders(first, ann) == OLD

    _confirm(first, NEW)
    assert _card_seen_by_responders(second, ann) == NEW
    assert _card_seen_by_responders(first, ann) == NEW
    # and the other way round, more than once
    _confirm(second, NEWER)
    assert _card_seen_by_responders(first, ann) == NEWER
    assert _card_seen_by_responders(second, ann) == NEWER
    _confirm(first, OLD)
    assert _card_seen_by_responders(second, ann) == OLD
    # a batch after the mark still links and answers (the mark is no record)
    more = variant(rng, bits)
    second.write_batch(agency("police"), batch("police", "p1", upsert("b", more)))
    (hit,) = first.lookup(responder("police"), clk_bytes(ann), 1, FINGERPRINT, "crisis_response", 0)
    assert sorted(m.agency_id for m in hit.members) == ["police", "valley-mhc"]


@pytest.mark.unit
def test_two_matchers_on_one_sqlite_file_show_a_confirmed_card(tmp_path: Path) -> None:
    opened: list[LinkStore] = []

    def open_store() -> LinkStore:
        opened.append(SqliteLinkStore(tmp_path / "index.db"))
        return opened[-1]

    try:
        _two_matchers_show_a_confirmed_card(open_store)
    finally:
        for store in opened:
            store.close()


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:20]}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.mark.integration
def test_two_matchers_on_postgres_show_a_confirmed_card(postgres_dsn: str, schema: str) -> None:
    opened: list[LinkStore] = []

    def open_store() -> LinkStore:
        opened.append(PostgresLinkStore(postgres_dsn, schema=schema))
        return opened[-1]

    try:
        _two_matchers_show_a_confirmed_card(open_store)
    finally:
        for store in opened:
            store.close()
