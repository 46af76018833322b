"""A real matcher on 127.0.0.1:0 with real mutual TLS and a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from linkage.channel import mtls_channel
from linkage.pki import DemoCredentials, DemoPki, create_demo_pki
from linkage.server import RunningServer, load_server_config, start_matcher
from linkage.service import LinkageService
from linkage.v1 import (
    common_pb2,
    ingest_pb2_grpc,
    lookup_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
)
from tests.service.factory import BITS, FINGERPRINT

AGENCIES = ("police", "valley-mhc", "er", "sud")


def write_config(
    root: Path, pki: DemoPki, *, tls: bool = True, extra: str = "", server_keys: str = ""
) -> Path:
    """A server.toml; ``server_keys`` go into ``[server]``, ``extra`` after ``[limits]``."""
    server = pki.server.paths
    tls_section = (
        f"""
[tls]
trust_domain = "coresponder.test"
ca_cert = "{server.ca_certificate}"
cert = "{server.certificate}"
key = "{server.private_key}"
crl = "{pki.directory.crl_path}"
"""
        if tls
        else ""
    )
    text = f"""
[server]
listen = "127.0.0.1:0"
grace_period_s = 5
{server_keys}
{tls_section}
[store]
engine = "sqlite"
path = "index.db"

[linkage]
threshold = 0.8
clk_bits = {BITS}
key_epoch = 1
schema_fingerprint = "{FINGERPRINT}"

[limits]
max_batch_mutations = 1000
max_message_bytes = 1048576
lookup_rate_per_s = 1000
lookup_burst = 1000
{extra}
"""
    path = root / "server.toml"
    path.write_text(text)
    return path


@dataclass
class Matcher:
    running: RunningServer
    service: LinkageService
    pki: DemoPki
    root: Path

    @property
    def target(self) -> str:
        return f"localhost:{self.running.port}"

    def channel(self, creds: DemoCredentials) -> grpc.Channel:
        assert creds.paths.private_key is not None
        return mtls_channel(
            self.target,
            ca_certificate=creds.paths.ca_certificate,
            certificate=creds.paths.certificate,
            private_key=creds.paths.private_key,
        )

    def ingest(self, agency_id: str) -> ingest_pb2_grpc.IngestServiceStub:
        return ingest_pb2_grpc.IngestServiceStub(self.channel(self.pki.agencies[agency_id]))

    def lookup(self, agency_id: str) -> lookup_pb2_grpc.LookupServiceStub:
        return lookup_pb2_grpc.LookupServiceStub(self.channel(self.pki.responders[agency_id]))

    def operator(self) -> operator_pb2_grpc.OperatorServiceStub:
        return operator_pb2_grpc.OperatorServiceStub(self.channel(self.pki.operator))


@pytest.fixture(scope="module")
def demo_pki(tmp_path_factory: pytest.TempPathFactory) -> DemoPki:
    return create_demo_pki(tmp_path_factory.mktemp("pki"), agency_ids=AGENCIES)


@pytest.fixture
def start(tmp_path: Path, demo_pki: DemoPki) -> Iterator[Callable[..., Matcher]]:
    started: list[RunningServer] = []

    def _start(extra: str = "", server: str = "") -> Matcher:
        path = write_config(tmp_path, demo_pki, extra=extra, server_keys=server)
        config = load_server_config(path, {})
        running, service = start_matcher(config)
        started.append(running)
        return Matcher(running, service, demo_pki, tmp_path)

    yield _start
    for running in started:
        running.stop(0)


@pytest.fixture
def matcher(start: Callable[..., Matcher]) -> Matcher:
    return enroll(start())


def enroll(m: Matcher) -> Matcher:
    """Enrol every agency of :data:`AGENCIES` with a contact card."""
    op = m.operator()
    for agency_id in AGENCIES:
        op.CreateAgency(
            operator_pb2.CreateAgencyRequest(
                agency_id=agency_id,
                agency=operator_pb2.Agency(
                    display_name=agency_id.upper(),
                    contact_card=common_pb2.ContactCard(
                        display_name=f"{agency_id} desk", phone_number="+1 555 0100"
                    ),
                ),
            )
        )
    return m
