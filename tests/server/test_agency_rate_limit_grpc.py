"""Over real mutual TLS: a second responder certificate of an agency shares the agency's
lookup bucket (issue 22)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import numpy as np
import pytest

from linkage.pki import (
    DemoCredentials,
    Principal,
    Role,
    generate_private_key,
    write_credentials,
)
from linkage.v1 import lookup_pb2_grpc
from tests.server.conftest import Matcher, enroll
from tests.server.protos import query
from tests.service.factory import person

pytestmark = pytest.mark.integration


def _second_gateway(matcher: Matcher, agency_id: str) -> DemoCredentials:
    directory = matcher.pki.directory
    key = generate_private_key(directory.algorithm)
    name = f"{agency_id}-spare-gateway"
    cert = directory.issue(
        role=Role.RESPONDER, agency_id=agency_id, name=name, public_key=key.public_key()
    )
    paths = write_credentials(
        matcher.root / "spare" / name,
        name,
        certificate=cert,
        ca_certificate=directory.ca_certificate(),
        private_key=key,
    )
    return DemoCredentials(Principal(Role.RESPONDER, agency_id, name, cert.serial_number), paths)


def test_a_second_gateway_certificate_does_not_get_a_fresh_bucket(
    start: Callable[..., Matcher],
) -> None:
    matcher = enroll(start(extra="lookup_agency_rate_per_s = 0.001\nlookup_agency_burst = 5"))
    request = query(person(np.random.default_rng(2)))
    gateway = matcher.lookup("police")
    for _ in range(5):
        gateway.Lookup(request)
    spare = lookup_pb2_grpc.LookupServiceStub(matcher.channel(_second_gateway(matcher, "police")))
    with pytest.raises(grpc.RpcError) as caught:
        spare.Lookup(request)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "agency police's responder certificates together" in (caught.value.details() or "")
    matcher.lookup("valley-mhc").Lookup(request)  # another agency: buckets of its own
