"""Lookup policy in-process: consent expiry at lookup time, rate limits,
implausible queries, the accounting of disclosures, and the audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from linkage.consent import Consent, Purpose, serialize_consent
from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.pki import Role
from linkage.service import LinkageService, RecordUpsert, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.service.factory import (
    FINGERPRINT,
    OPERATOR,
    SETTINGS,
    agency,
    batch,
    clk_bytes,
    person,
    responder,
    variant,
)

pytestmark = pytest.mark.unit

START = datetime(2026, 11, 1, tzinfo=UTC)


class FakeClocks:
    def __init__(self) -> None:
        self.now = START
        self.mono = 1000.0

    def wall_us(self) -> int:
        return int(self.now.timestamp() * 1_000_000)

    def monotonic(self) -> float:
        return self.mono


@pytest.fixture
def clocks() -> FakeClocks:
    return FakeClocks()


@pytest.fixture
def service(tmp_path: Path, clocks: FakeClocks) -> LinkageService:
    store = SqliteLinkStore(tmp_path / "index.db")
    svc = LinkageService(
        store,
        SETTINGS,
        ServiceLimits(lookup_rate_per_s=1.0, lookup_burst=3),
        clock=clocks.wall_us,
        monotonic=clocks.monotonic,
    )
    for agency_id in ("police", "valley-mhc"):
        svc.create_agency(OPERATOR, agency_id, agency_id, b"")
    return svc


def _expiring_upsert(key: str, bits: np.ndarray, expires: datetime) -> RecordUpsert:
    consent = Consent.for_recipients(
        roles=[Role.RESPONDER], purposes=[Purpose.CRISIS_RESPONSE], expires_at=expires
    )
    return RecordUpsert(key.encode(), clk_bytes(bits), b"ptr", serialize_consent(consent), True)


def _look(
    service: LinkageService, bits: np.ndarray, who: str = "officer", agency_id: str = "police"
) -> int:
    hits = service.lookup(
        responder(agency_id, who), clk_bytes(bits), 1, FINGERPRINT, "crisis_response", 0
    )
    return sum(len(h.members) for h in hits)


def test_an_expired_consent_stops_disclosure_on_the_next_query(
    service: LinkageService, clocks: FakeClocks
) -> None:
    rng = np.random.default_rng(41)
    ivy = person(rng)
    service.write_batch(
        agency("valley-mhc"),
        batch("valley-mhc", "m", _expiring_upsert("i", ivy, START + timedelta(hours=1))),
    )
    assert _look(service, variant(rng, ivy)) == 1
    clocks.now = START + timedelta(hours=1)
    clocks.mono += 10
    assert _look(service, variant(rng, ivy)) == 0


def test_lookups_past_the_rate_limit_are_refused_per_principal_and_audited(
    service: LinkageService, clocks: FakeClocks, tmp_path: Path
) -> None:
    rng = np.random.default_rng(42)
    query = person(rng)
    for _ in range(3):
        _look(service, query)
    with pytest.raises(ResourceExhaustedError, match="too many lookups"):
        _look(service, query)
    # another certificate of the same agency gets no fresh bucket (issue 22)
    with pytest.raises(ResourceExhaustedError, match="agency police's responder certificates"):
        _look(service, query, who="another-officer")
    _look(service, query, agency_id="valley-mhc")  # another agency has buckets of its own
    clocks.mono += 1.0  # one token back
    _look(service, query)
    store = SqliteLinkStore(tmp_path / "index.db")
    refused = [json.loads(r.details) for r in store.iter_audit() if r.action == "lookup.refused"]
    store.close()
    assert [r["reason"] for r in refused] == ["rate_limited", "agency_rate_limited"]


@pytest.mark.parametrize("fill", [0.0, 1.0, 0.01])
def test_implausible_queries_are_refused_and_audited(
    service: LinkageService, tmp_path: Path, fill: float
) -> None:
    rng = np.random.default_rng(43)
    records = [(f"k{i}", person(rng)) for i in range(60)]
    from tests.service.factory import upsert

    service.write_batch(agency("police"), batch("police", "b", *(upsert(k, b) for k, b in records)))
    bits = rng.random(1024) < fill
    with pytest.raises(InvalidInputError) as caught:
        _look(service, bits)
    assert caught.value.problems[0].location == "query.clk"
    store = SqliteLinkStore(tmp_path / "index.db")
    refused = [row for row in store.iter_audit() if row.action == "lookup.refused"]
    store.close()
    assert refused
    assert json.loads(refused[-1].details)["reason"] == "implausible_query"


def test_disclosures_are_accounted_to_the_holding_agency(
    service: LinkageService, tmp_path: Path
) -> None:
    rng = np.random.default_rng(44)
    jay = person(rng)
    service.write_batch(
        agency("valley-mhc"),
        batch("valley-mhc", "m", _expiring_upsert("j", jay, START + timedelta(days=9))),
    )
    _look(service, variant(rng, jay))
    _look(service, person(rng))
    rows = service.list_disclosures("valley-mhc", None, 10)
    assert len(rows) == 1
    row = rows[0][1]
    assert (row.record_key, row.recipient_agency, row.purpose) == (
        b"j",
        "police",
        "crisis_response",
    )
    assert row.recipient.startswith("responder:police/officer")
    assert service.list_disclosures("police", None, 10) == []
    store = SqliteLinkStore(tmp_path / "index.db")
    lookups = [r for r in store.iter_audit() if r.action == "lookup"]
    store.close()
    assert len(lookups) == 2
    assert lookups[0].sequence == row.audit_sequence
    assert "valley-mhc/records/" in lookups[0].details
    assert service.verify_audit().ok


def test_unknown_purposes_and_wrong_lengths_name_the_field(service: LinkageService) -> None:
    with pytest.raises(InvalidInputError) as caught:
        service.lookup(responder("police"), b"\x01" * 10, 1, FINGERPRINT, "curiosity", 0)
    assert {p.location for p in caught.value.problems} == {"purpose", "clk"}


def test_the_disclosable_count_leaves_out_records_that_cannot_be_disclosed(
    service: LinkageService, clocks: FakeClocks
) -> None:
    rng = np.random.default_rng(43)
    later = START + timedelta(days=30)
    soon = START + timedelta(hours=1)
    revoked = Consent.for_recipients(
        roles=[Role.RESPONDER], purposes=[Purpose.CRISIS_RESPONSE], expires_at=later
    ).revoke()
    no_one = Consent(allow_linkage=True)
    unlinked = Consent.for_recipients(
        roles=[Role.RESPONDER],
        purposes=[Purpose.CRISIS_RESPONSE],
        expires_at=later,
        allow_linkage=False,
    )
    upserts = [
        _expiring_upsert("open", person(rng), later),
        _expiring_upsert("expiring", person(rng), soon),
        RecordUpsert(b"revoked", clk_bytes(person(rng)), b"ptr", serialize_consent(revoked), True),
        RecordUpsert(b"none", clk_bytes(person(rng)), b"ptr", serialize_consent(no_one), True),
        RecordUpsert(b"apart", clk_bytes(person(rng)), b"ptr", serialize_consent(unlinked), False),
    ]
    service.write_batch(agency("valley-mhc"), batch("valley-mhc", "m", *upserts))
    assert service.disclosable_count("valley-mhc") == 2
    clocks.now = soon
    assert service.disclosable_count("valley-mhc") == 1
    assert service.disclosable_count("police") == 0
