"""Prometheus metrics: what each observation exports, the [metrics] config section,
and a real matcher scraped over HTTP and parsed with prometheus_client's parser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from prometheus_client import generate_latest

from linkage.channel import mtls_channel
from linkage.errors import ConfigError
from linkage.metrics import MatcherMetrics, start_metrics_server
from linkage.pki import DemoCredentials, DemoPki, create_demo_pki
from linkage.server import load_server_config, start_matcher
from linkage.server._config import parse_server_config
from linkage.service import LookupOutcome
from linkage.v1 import (
    common_pb2,
    ingest_pb2_grpc,
    lookup_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
)
from tests.metrics.metrics_helpers import AGENCIES, samples, scrape, value, write_server_toml
from tests.server.protos import query, upsert, write
from tests.service.factory import FINGERPRINT, person, variant

WRITE = "/linkage.v1.IngestService/WriteBatch"


# -- unit: observations -> exposition ------------------------------------------------------
@pytest.mark.unit
def test_each_observation_is_exported_with_its_labels() -> None:
    metrics = MatcherMetrics()
    metrics.observe_call(WRITE, "OK", 0.02)
    metrics.observe_call(WRITE, "OK", 0.04)
    metrics.observe_call(WRITE, "INVALID_ARGUMENT", 0.001)
    metrics.observe_call("/linkage.v1.LookupService/Lookup", "RESOURCE_EXHAUSTED", 0.0005)
    metrics.batch_committed("police", 120, 0.5)
    metrics.batch_committed("police", 30, 0.1)
    metrics.batch_committed("valley-mhc", 7, 0.05)
    metrics.links_rebuilt(157, 2.5)
    metrics.lookup_finished(LookupOutcome.DISCLOSED, 0.003)
    metrics.lookup_finished(LookupOutcome.NOTHING, 0.002)
    metrics.lookup_finished(LookupOutcome.NOTHING, 0.002)
    metrics.lookup_finished(LookupOutcome.RATE_LIMITED, 0.0001)
    metrics.index_size(157, 12)

    found = samples(generate_latest(metrics.registry).decode())
    ingest = {"service": "linkage.v1.IngestService", "method": "WriteBatch"}
    assert value(found, "linkage_rpc_requests_total", **ingest, code="OK") == 2
    assert value(found, "linkage_rpc_requests_total", **ingest, code="INVALID_ARGUMENT") == 1
    assert value(found, "linkage_rpc_duration_seconds_count", **ingest, code="OK") == 2
    assert value(found, "linkage_rpc_duration_seconds_sum", **ingest, code="OK") == pytest.approx(
        0.06
    )
    assert value(found, "linkage_rpc_duration_seconds_bucket", **ingest, code="OK", le="0.025") == 1
    assert (
        value(
            found,
            "linkage_rpc_requests_total",
            service="linkage.v1.LookupService",
            method="Lookup",
            code="RESOURCE_EXHAUSTED",
        )
        == 1
    )
    assert value(found, "linkage_ingest_batches_total", agency="police") == 2
    assert value(found, "linkage_ingest_records_total", agency="police") == 150
    assert value(found, "linkage_ingest_records_total", agency="valley-mhc") == 7
    assert value(found, "linkage_ingest_batch_duration_seconds_count") == 3
    assert value(found, "linkage_ingest_batch_duration_seconds_sum") == pytest.approx(0.65)
    assert value(found, "linkage_rebuild_duration_seconds_count") == 1
    assert value(found, "linkage_rebuild_records") == 157
    assert value(found, "linkage_index_records") == 157
    assert value(found, "linkage_index_links") == 12
    assert value(found, "linkage_lookups_total", outcome="disclosed") == 1
    assert value(found, "linkage_lookups_total", outcome="nothing") == 2
    assert value(found, "linkage_lookups_total", outcome="rate_limited") == 1
    assert value(found, "linkage_lookups_total", outcome="refused") == 0
    assert value(found, "linkage_lookup_duration_seconds_count", outcome="nothing") == 2
    assert value(found, "linkage_lookup_rate_limited_total") == 1


@pytest.mark.unit
def test_two_matchers_in_one_process_never_share_counters() -> None:
    first, second = MatcherMetrics(), MatcherMetrics()
    first.lookup_finished(LookupOutcome.DISCLOSED, 0.001)
    found = samples(generate_latest(second.registry).decode())
    assert value(found, "linkage_lookups_total", outcome="disclosed") == 0


@pytest.mark.unit
@pytest.mark.parametrize(
    ("method", "service", "name"),
    [
        ("/linkage.v1.IngestService/WriteBatch", "linkage.v1.IngestService", "WriteBatch"),
        ("/grpc.health.v1.Health/Check", "grpc.health.v1.Health", "Check"),
        ("garbage", "unknown", "garbage"),
    ],
)
def test_rpc_labels_split_the_full_method_name(method: str, service: str, name: str) -> None:
    metrics = MatcherMetrics()
    metrics.observe_call(method, "OK", 0.001)
    found = samples(generate_latest(metrics.registry).decode())
    assert value(found, "linkage_rpc_requests_total", service=service, method=name) == 1


# -- unit: configuration -------------------------------------------------------------------
def _config(extra: dict[str, object]) -> dict[str, object]:
    return {
        "server": {"listen": "127.0.0.1:0"},
        "store": {"engine": "sqlite", "path": "x.db"},
        "linkage": {
            "threshold": 0.8,
            "clk_bits": 1024,
            "key_epoch": 1,
            "schema_fingerprint": FINGERPRINT,
        },
        **extra,
    }


@pytest.mark.unit
def test_the_metrics_section_sets_the_listen_address(tmp_path: Path) -> None:
    with_metrics = parse_server_config(
        _config({"metrics": {"listen": "0.0.0.0:9464"}}), tmp_path, {}
    )
    assert with_metrics.metrics_listen == "0.0.0.0:9464"
    assert parse_server_config(_config({}), tmp_path, {}).metrics_listen is None


@pytest.mark.unit
@pytest.mark.parametrize(
    ("section", "where"),
    [
        ({"listen": "no-port"}, "metrics.listen"),
        ({"listen": "127.0.0.1:99999"}, "metrics.listen"),
        ({"listen": 9464}, "metrics.listen"),
        ({}, "metrics.listen"),
        ({"listen": "127.0.0.1:1", "path": "/m"}, "metrics.path"),
    ],
)
def test_a_bad_metrics_section_is_named(
    tmp_path: Path, section: dict[str, object], where: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_server_config(_config({"metrics": section}), tmp_path, {})
    assert where in [p.location for p in caught.value.problems]


@pytest.mark.unit
def test_a_busy_port_is_a_config_error() -> None:
    metrics = MatcherMetrics()
    first = start_metrics_server(metrics, "127.0.0.1:0")
    try:
        with pytest.raises(ConfigError, match="cannot serve metrics"):
            start_metrics_server(metrics, f"127.0.0.1:{first.port}")
    finally:
        first.stop()


# -- integration: a real matcher, scraped ----------------------------------------------------
@pytest.fixture(scope="module")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return create_demo_pki(tmp_path_factory.mktemp("pki"), agency_ids=AGENCIES)


def _channel(port: int, creds: DemoCredentials) -> grpc.Channel:
    assert creds.paths.private_key is not None
    return mtls_channel(
        f"localhost:{port}",
        ca_certificate=creds.paths.ca_certificate,
        certificate=creds.paths.certificate,
        private_key=creds.paths.private_key,
    )


@pytest.fixture
def scraped_matcher(tmp_path: Path, demo_pki: DemoPki) -> Iterator[tuple[int, int]]:
    """A matcher with metrics on a free port: ``(grpc port, metrics port)``."""
    config = load_server_config(
        write_server_toml(tmp_path, demo_pki, metrics_listen="127.0.0.1:0", lookup_burst=3), {}
    )
    metrics = MatcherMetrics()
    running, _ = start_matcher(config, observer=metrics.observe_call, service_observer=metrics)
    assert config.metrics_listen is not None
    endpoint = start_metrics_server(metrics, config.metrics_listen)
    try:
        yield running.port, endpoint.port
    finally:
        endpoint.stop()
        running.stop(0)


@pytest.mark.integration
def test_a_running_matcher_is_scraped_and_parsed(
    scraped_matcher: tuple[int, int], demo_pki: DemoPki
) -> None:
    port, metrics_port = scraped_matcher
    before = samples(scrape(metrics_port))
    assert value(before, "linkage_index_records") == 0
    assert value(before, "linkage_lookups_total", outcome="disclosed") == 0

    op = operator_pb2_grpc.OperatorServiceStub(_channel(port, demo_pki.operator))
    for agency_id in AGENCIES:
        op.CreateAgency(
            operator_pb2.CreateAgencyRequest(
                agency_id=agency_id,
                agency=operator_pb2.Agency(
                    display_name=agency_id, contact_card=common_pb2.ContactCard(display_name="x")
                ),
            )
        )
    rng = np.random.default_rng(9)
    people = [person(rng) for _ in range(6)]
    police = ingest_pb2_grpc.IngestServiceStub(_channel(port, demo_pki.agencies["police"]))
    police.WriteBatch(write("police", "p1", *(upsert(f"p{i}", b) for i, b in enumerate(people))))
    mhc = ingest_pb2_grpc.IngestServiceStub(_channel(port, demo_pki.agencies["valley-mhc"]))
    mirrored = [upsert(f"m{i}", variant(rng, people[i])) for i in range(3)]
    mhc.WriteBatch(write("valley-mhc", "m1", *mirrored))
    with pytest.raises(grpc.RpcError) as bad_batch:
        mhc.WriteBatch(write("valley-mhc", "m1", upsert("other", person(rng))))
    assert bad_batch.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    op.RebuildLinks(operator_pb2.RebuildLinksRequest(reason="metrics test"))

    responder = lookup_pb2_grpc.LookupServiceStub(_channel(port, demo_pki.responders["police"]))
    assert len(responder.Lookup(query(variant(rng, people[0]))).links) == 1
    assert len(responder.Lookup(query(person(rng))).links) == 0
    with pytest.raises(grpc.RpcError) as refused:
        responder.Lookup(query(person(rng), purpose="curiosity"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as limited:
        responder.Lookup(query(person(rng)))
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    found = samples(scrape(metrics_port))
    ingest = {"service": "linkage.v1.IngestService", "method": "WriteBatch"}
    lookup = {"service": "linkage.v1.LookupService", "method": "Lookup"}
    assert value(found, "linkage_rpc_requests_total", **ingest, code="OK") == 2
    assert value(found, "linkage_rpc_requests_total", **ingest, code="FAILED_PRECONDITION") == 1
    assert value(found, "linkage_rpc_duration_seconds_count", **ingest, code="OK") == 2
    assert value(found, "linkage_rpc_requests_total", **lookup, code="OK") == 2
    assert value(found, "linkage_rpc_requests_total", **lookup, code="INVALID_ARGUMENT") == 1
    assert value(found, "linkage_rpc_requests_total", **lookup, code="RESOURCE_EXHAUSTED") == 1
    assert (
        value(
            found,
            "linkage_rpc_requests_total",
            service="linkage.v1.OperatorService",
            method="CreateAgency",
            code="OK",
        )
        == 2
    )
    assert value(found, "linkage_ingest_batches_total", agency="police") == 1
    assert value(found, "linkage_ingest_records_total", agency="police") == 6
    assert value(found, "linkage_ingest_records_total", agency="valley-mhc") == 3
    assert value(found, "linkage_ingest_batch_duration_seconds_count") == 2
    assert value(found, "linkage_rebuild_duration_seconds_count") == 1
    assert value(found, "linkage_rebuild_records") == 9
    assert value(found, "linkage_index_records") == 9
    assert value(found, "linkage_index_links") == 3
    assert value(found, "linkage_lookups_total", outcome="disclosed") == 1
    assert value(found, "linkage_lookups_total", outcome="nothing") == 1
    assert value(found, "linkage_lookups_total", outcome="refused") == 1
    assert value(found, "linkage_lookups_total", outcome="rate_limited") == 1
    assert value(found, "linkage_lookup_rate_limited_total") == 1
