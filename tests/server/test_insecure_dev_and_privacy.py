"""--insecure-dev stays on loopback and warns; hidden matches look exactly
like no match."""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from linkage.errors import ConfigError
from linkage.pki import DemoPki
from linkage.server import DEV_PRINCIPAL_HEADER, load_server_config, start_matcher
from linkage.v1 import lookup_pb2_grpc, operator_pb2, operator_pb2_grpc
from tests.server.conftest import Matcher, write_config
from tests.server.protos import query, upsert, write
from tests.service.factory import person, variant

pytestmark = pytest.mark.integration


def test_insecure_dev_serves_on_loopback_with_a_warning(
    tmp_path: Path, demo_pki: DemoPki, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_server_config(write_config(tmp_path, demo_pki, tls=False), {})
    with pytest.raises(ConfigError, match="refusing to serve without mutual TLS"):
        start_matcher(config)
    with caplog.at_level(logging.WARNING, logger="linkage.server"):
        running, _ = start_matcher(config, insecure_dev=True)
    try:
        assert "INSECURE DEVELOPMENT MODE" in caplog.text
        channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
        stub = operator_pb2_grpc.OperatorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetIndexStatus(operator_pb2.GetIndexStatusRequest())
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        status = stub.GetIndexStatus(
            operator_pb2.GetIndexStatusRequest(), metadata=[(DEV_PRINCIPAL_HEADER, "operator//dev")]
        )
        assert status.record_count == 0
    finally:
        running.stop(0)


def test_insecure_dev_refuses_non_loopback_addresses(tmp_path: Path, demo_pki: DemoPki) -> None:
    path = write_config(tmp_path, demo_pki, tls=False)
    path.write_text(path.read_text().replace("127.0.0.1:0", "0.0.0.0:0"))
    config = load_server_config(path, {})
    with pytest.raises(ConfigError, match="only binds to loopback"):
        start_matcher(config, insecure_dev=True)


def test_hidden_matches_answer_like_no_match_in_shape_and_time(matcher: Matcher) -> None:
    rng = np.random.default_rng(51)
    kim = person(rng)
    matcher.ingest("sud").WriteBatch(write("sud", "s", upsert("k", kim, disclose=False)))
    stub: lookup_pb2_grpc.LookupServiceStub = matcher.lookup("police")
    hidden_query, absent_query = query(variant(rng, kim)), query(person(rng))
    hidden = stub.Lookup(hidden_query)
    absent = stub.Lookup(absent_query)
    assert hidden.SerializeToString() == absent.SerializeToString() == b""
    times: dict[str, list[float]] = {"hidden": [], "absent": []}
    for _ in range(60):
        for name, request in (("hidden", hidden_query), ("absent", absent_query)):
            start = time.perf_counter()
            stub.Lookup(request)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    # Both paths do the same work (search, member fetch, audit write); allow noise.
    assert abs(medians["hidden"] - medians["absent"]) < max(0.002, 0.35 * medians["absent"]), (
        medians
    )
