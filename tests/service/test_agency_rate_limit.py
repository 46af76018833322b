"""Lookups are rate-limited per agency and role as well as per certificate: a second
responder certificate of the same agency gets no fresh bucket (issue 22)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from linkage.errors import ConfigError, ResourceExhaustedError
from linkage.pki import Principal, Role
from linkage.service import LinkageService, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.service.factory import FINGERPRINT, OPERATOR, SETTINGS, clk_bytes, person


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteLinkStore]:
    opened = SqliteLinkStore(tmp_path / "index.db")
    yield opened
    opened.close()


def _service(store: SqliteLinkStore, clock: Clock, **limits: Any) -> LinkageService:
    service = LinkageService(store, SETTINGS, ServiceLimits(**limits), monotonic=clock)
    for agency_id in ("police", "valley-mhc"):
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    return service


def _certificate(agency_id: str, name: str, serial: int) -> Principal:
    return Principal(Role.RESPONDER, agency_id, name, serial)


def _served(service: LinkageService, who: Principal, times: int) -> int:
    clk = clk_bytes(person(np.random.default_rng(1)))
    served = 0
    for _ in range(times):
        try:
            service.lookup(who, clk, 1, FINGERPRINT, "crisis_response", 0)
        except ResourceExhaustedError:
            continue
        served += 1
    return served


def test_a_second_certificate_of_the_agency_gets_no_fresh_bucket(store: SqliteLinkStore) -> None:
    clock = Clock()
    service = _service(store, clock, lookup_rate_per_s=1.0, lookup_burst=5)
    gateway, second = _certificate("police", "gateway", 11), _certificate("police", "spare", 12)
    assert _served(service, gateway, 8) == 5
    assert _served(service, second, 8) == 0, "the agency's bucket is empty"
    assert _served(service, _certificate("valley-mhc", "gateway", 13), 8) == 5
    clock.now += 2.0  # two tokens back, for the agency's certificates together
    assert _served(service, second, 8) == 2
    assert _served(service, gateway, 8) == 0
    reasons = [
        json.loads(row.details)["reason"]
        for row in store.iter_audit()
        if row.action == "lookup.refused"
    ]
    assert set(reasons) == {"rate_limited", "agency_rate_limited"}


def test_an_agency_limit_above_the_certificates_lets_each_certificate_use_its_own(
    store: SqliteLinkStore,
) -> None:
    clock = Clock()
    service = _service(store, clock, lookup_rate_per_s=1.0, lookup_burst=3, lookup_agency_burst=5)
    first, second = _certificate("police", "a", 1), _certificate("police", "b", 2)
    assert _served(service, first, 6) == 3  # its own burst
    assert _served(service, second, 6) == 2  # what is left of the agency's 5
    clock.now += 1.0
    # the agency refused the second certificate's lookups without taking its tokens: the
    # agency's bucket, not the certificate's, was empty
    assert _served(service, second, 6) == 1


def test_the_agency_limits_are_checked_by_name() -> None:
    with pytest.raises(ConfigError) as caught:
        ServiceLimits(lookup_agency_rate_per_s=0, lookup_agency_burst=0)
    assert [p.location for p in caught.value.problems] == [
        "limits.lookup_agency_rate_per_s",
        "limits.lookup_agency_burst",
    ]
    limits = ServiceLimits(lookup_rate_per_s=3.0, lookup_burst=7)
    assert (limits.agency_rate_per_s, limits.agency_burst) == (3.0, 7)
