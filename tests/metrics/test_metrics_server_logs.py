"""``linkage-server --log-format json serve`` as a real process with ``[metrics]``:
the metrics port is scraped, and every log line is JSON and free of CLKs,
pointer tokens and record keys (in every encoding they travel in)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass

import grpc
import numpy as np
import pytest

from linkage.channel import mtls_channel
from linkage.pki import DemoCredentials, DemoPki, create_demo_pki
from linkage.portfile import wait_for_port_file
from linkage.v1 import (
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    lookup_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
)
from tests.metrics.metrics_helpers import (
    AGENCIES,
    free_port,
    samples,
    scrape,
    value,
    write_server_toml,
)
from tests.server.protos import consent, query, write
from tests.service.factory import clk_bytes, person, variant

pytestmark = pytest.mark.integration


@dataclass
class Served:
    """What one run of the server left behind."""

    log_lines: list[str]
    scraped: str
    secrets: list[bytes]
    exit_code: int


def _channel(port: int, creds: DemoCredentials) -> grpc.Channel:
    assert creds.paths.private_key is not None
    return mtls_channel(
        f"localhost:{port}",
        ca_certificate=creds.paths.ca_certificate,
        certificate=creds.paths.certificate,
        private_key=creds.paths.private_key,
    )


def _mutation(key: bytes, bits: np.ndarray, token: bytes) -> ingest_pb2.RecordMutation:
    return ingest_pb2.RecordMutation(
        upsert=ingest_pb2.RecordUpsert(
            record_key=key, clk=clk_bytes(bits), pointer_token=token, consent=consent()
        )
    )


def _encodings(secret: bytes) -> set[str]:
    """Every text form a byte string could take in a log line."""
    forms = {
        secret.hex(),
        secret.hex().upper(),
        base64.b64encode(secret).decode(),
        base64.urlsafe_b64encode(secret).decode(),
        base64.b64encode(secret).decode().rstrip("="),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
        repr(secret)[2:-1],
    }
    return {form for form in forms if len(form) >= 16}


def _exercise(port: int, pki: DemoPki, rng: np.random.Generator) -> list[bytes]:
    """Enrol, ingest (good and refused batches), look up, rebuild; return every secret sent."""
    sent: list[bytes] = []
    op = operator_pb2_grpc.OperatorServiceStub(_channel(port, pki.operator))
    for agency_id in AGENCIES:
        op.CreateAgency(
            operator_pb2.CreateAgencyRequest(
                agency_id=agency_id,
                agency=operator_pb2.Agency(
                    display_name=agency_id, contact_card=common_pb2.ContactCard(display_name="x")
                ),
            )
        )
    people = [person(rng) for _ in range(8)]
    for agency_id, members in (("police", people), ("valley-mhc", people[:4])):
        stub = ingest_pb2_grpc.IngestServiceStub(_channel(port, pki.agencies[agency_id]))
        mutations = []
        for bits in members:
            own = bits if agency_id == "police" else variant(rng, bits)
            key, token = secrets.token_bytes(16), secrets.token_bytes(40)
            sent += [key, token, clk_bytes(own)]
            mutations.append(_mutation(key, own, token))
        stub.WriteBatch(write(agency_id, f"{agency_id}-1", *mutations))
        # A refused batch: its problems are reported, its content never logged.
        key, token = secrets.token_bytes(16), secrets.token_bytes(40)
        short = ingest_pb2.RecordMutation(
            upsert=ingest_pb2.RecordUpsert(
                record_key=key, clk=clk_bytes(people[0])[:64], pointer_token=token
            )
        )
        sent += [key, token, clk_bytes(people[0])[:64]]
        with pytest.raises(grpc.RpcError):
            stub.WriteBatch(write(agency_id, f"{agency_id}-bad", short))
    responder = lookup_pb2_grpc.LookupServiceStub(_channel(port, pki.responders["police"]))
    for bits in (variant(rng, people[1]), person(rng)):
        request = query(bits)
        sent.append(request.clk)
        responder.Lookup(request)
    op.RebuildLinks(operator_pb2.RebuildLinksRequest(reason="logging test"))
    return sent


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    root = tmp_path_factory.mktemp("served")
    pki = create_demo_pki(root, agency_ids=AGENCIES)
    metrics_port = free_port()
    config = write_server_toml(root, pki, metrics_listen=f"127.0.0.1:{metrics_port}")
    port_file, log_path = root / "port", root / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkage.server.cli", "--log-format", "json", "--verbose",
             "serve", "--config", str(config), "--port-file", str(port_file)],
            cwd=root,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        port = wait_for_port_file(port_file, proc, "server", log=log_path)
        sent = _exercise(port, pki, np.random.default_rng(4))
        scraped = scrape(metrics_port)
        proc.send_signal(signal.SIGTERM)
        exit_code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return Served(log_path.read_text().splitlines(), scraped, sent, exit_code)


def test_the_served_metrics_port_counts_what_the_process_did(served: Served) -> None:
    found = samples(served.scraped)
    ingest = {"service": "linkage.v1.IngestService", "method": "WriteBatch"}
    assert value(found, "linkage_rpc_requests_total", **ingest, code="OK") == 2
    assert value(found, "linkage_rpc_requests_total", **ingest, code="INVALID_ARGUMENT") == 2
    assert value(found, "linkage_ingest_records_total", agency="police") == 8
    assert value(found, "linkage_lookups_total", outcome="disclosed") == 1
    assert value(found, "linkage_lookups_total", outcome="nothing") == 1
    assert value(found, "linkage_index_records") == 12
    assert value(found, "linkage_rebuild_duration_seconds_count") == 1


def test_the_server_exits_cleanly_on_sigterm(served: Served) -> None:
    assert served.exit_code == 0


def test_every_log_line_is_a_json_object(served: Served) -> None:
    lines = [line for line in served.log_lines if line.strip()]
    messages = []
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"log line {number} is not JSON: {line[:200]}")
        assert isinstance(entry, dict)
        assert {"time", "level", "logger", "message"} <= entry.keys()
        messages.append(entry["message"])
    assert any(m.startswith("serving on port") for m in messages)
    assert any(m.startswith("metrics on http://127.0.0.1:") for m in messages)
    assert any("loaded" in m and "index" in m for m in messages)


def test_no_log_line_holds_a_clk_pointer_token_or_record_key(served: Served) -> None:
    text = "\n".join(served.log_lines)
    assert len(served.secrets) > 20
    for secret in served.secrets:
        for form in _encodings(secret):
            assert form not in text, "a CLK, pointer token or record key reached the log"
