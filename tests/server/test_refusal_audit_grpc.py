"""A call the caller's role may not make is refused and audited, over real mutual TLS."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from linkage.v1 import lookup_pb2_grpc
from tests.server.conftest import Matcher
from tests.server.protos import query
from tests.service.factory import person

pytestmark = pytest.mark.integration


def test_a_lookup_by_an_agency_certificate_is_refused_and_audited_once_a_minute(
    matcher: Matcher,
) -> None:
    stub = lookup_pb2_grpc.LookupServiceStub(matcher.channel(matcher.pki.agencies["police"]))
    request = query(person(np.random.default_rng(1)))
    for _ in range(20):
        with pytest.raises(grpc.RpcError) as caught:
            stub.Lookup(request)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    rows = [r for r in matcher.service._store.iter_audit() if r.action == "call.refused"]
    # the first refusal of the minute is written, the repeats only counted (two rows when
    # the calls straddle a minute)
    assert 1 <= len(rows) <= 2
    details = json.loads(rows[0].details)
    assert rows[0].actor.startswith("agency:police/")
    assert (details["reason"], details["fields"], details["count"]) == (
        "permission_denied",
        ["/linkage.v1.LookupService/Lookup"],
        1,
    )
    matcher.service.close()
    counts = [
        json.loads(r.details)["count"]
        for r in matcher.service._store.iter_audit()
        if r.action == "call.refused"
    ]
    assert counts[0] == 1
    assert sum(counts) == 20
    assert len(counts) <= 4
