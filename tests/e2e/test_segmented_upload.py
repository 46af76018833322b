"""Segmented CLKs end to end against a real matcher in its existing (Dice) mode: agencies with
``[schema] file = "default-segmented"`` upload 336-byte CLKs with the segmented fingerprint
to a matcher configured with ``clk_bits = 2688`` and that fingerprint (the real
``agency-client upload``), a responder's lookup through the real ``agency-client gateway``
(a subprocess, over HTTPS with the agency's web certificate) finds the consented record,
and an agency encoding with the record-level default schema is refused by the matcher's
existing fingerprint check.

The matcher's probabilistic (Fellegi-Sunter) mode is not exercised here; this needs no
server change: to the Dice matcher a segmented CLK is just a 2688-bit CLK.
"""

from __future__ import annotations

import csv
import dataclasses
import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agency_client import RowMapper, load_agency_config
from agency_client._cli_common import EXIT_DOMAIN_ERROR
from agency_client.cli import cli
from linkage.channel import mtls_channel
from linkage.encode import default_schema, default_segmented_schema, schema_fingerprint
from linkage.pki import DemoPki, create_demo_pki
from linkage.portfile import wait_for_port_file
from linkage.server import RunningServer, load_server_config, start_matcher
from linkage.v1 import common_pb2, operator_pb2, operator_pb2_grpc
from tests.agency_client.gateway_fixtures import WebCertificate, make_web_certificate
from tests.agency_client.workflow_fixtures import MHC, AgencyFolder, make_agency_folder
from tests.matcher_tables import server_and_tls_tables

pytestmark = pytest.mark.integration

SEGMENTED = "seg-mhc"  # discloses to responders
GATEWAY = "seg-police"  # runs the responder gateway
RECORD_LEVEL = "seg-plain"  # encodes with the record-level default: refused
AGENCIES = (SEGMENTED, GATEWAY, RECORD_LEVEL)
_START_TIMEOUT_S = 60.0


@dataclasses.dataclass
class Site:
    running: RunningServer
    pki: DemoPki
    root: Path

    @property
    def address(self) -> str:
        return f"localhost:{self.running.port}"

    def folder(self, agency_id: str, schema: str, **kwargs: Any) -> AgencyFolder:
        it = self.pki.agencies[agency_id].paths
        gateway = self.pki.responders[agency_id].paths
        assert it.private_key is not None
        assert gateway.private_key is not None
        folder = make_agency_folder(
            self.root / agency_id,
            agency=dataclasses.replace(MHC, agency_id=agency_id),
            matcher=self.address,
            tls=(it.ca_certificate, it.certificate, it.private_key),
            gateway_tls=(gateway.certificate, gateway.private_key),
            schema=schema,
            **kwargs,
        )
        # One shared linkage secret, as the agencies of one programme have.
        (folder.root / "secret.key").write_bytes((self.root / "shared-secret.key").read_bytes())
        (folder.root / "secret.key").chmod(0o600)
        return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("segmented")
    (root / "shared-secret.key").write_text(os.urandom(32).hex() + "\n")
    pki = create_demo_pki(root / "pki", agency_ids=AGENCIES)
    segmented = default_segmented_schema()
    (root / "server.toml").write_text(
        f"""{server_and_tls_tables(pki)}[store]
engine = "sqlite"
path = "{root / "index.sqlite"}"
[linkage]
threshold = 0.8
clk_bits = 2688
key_epoch = 1
schema_fingerprint = "{segmented.fingerprint}"
[limits]
lookup_rate_per_s = 1000
lookup_burst = 1000
"""
    )
    running, _ = start_matcher(load_server_config(root / "server.toml", {}))
    operator = pki.operator.paths
    assert operator.private_key is not None
    channel = mtls_channel(
        f"localhost:{running.port}",
        ca_certificate=operator.ca_certificate,
        certificate=operator.certificate,
        private_key=operator.private_key,
    )
    stub = operator_pb2_grpc.OperatorServiceStub(channel)
    for agency_id in AGENCIES:
        stub.CreateAgency(
            operator_pb2.CreateAgencyRequest(
                agency_id=agency_id,
                agency=operator_pb2.Agency(
                    display_name=agency_id,
                    contact_card=common_pb2.ContactCard(
                        display_name=f"{agency_id} desk", phone_number="555 0100"
                    ),
                ),
            )
        )
    channel.close()
    try:
        yield Site(running, pki, root)
    finally:
        running.stop(0)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _query_of_first_record(folder: AgencyFolder) -> dict[str, str]:
    """The first export row's normalised values as a gateway query (schema feature names)."""
    config = load_agency_config(folder.config, {})
    with folder.export.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.reader(stream))
    mapped = RowMapper(config, rows[0]).map_row(1, rows[1])
    assert not isinstance(mapped, list)
    return {
        name: value
        for name, value in zip(config.encoding_schema.identifiers, mapped.values, strict=True)
        if value
    }


def _lookup(
    port: int, query: dict[str, str], web: WebCertificate, token: str
) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=60, context=web.client_context()
    )
    try:
        connection.request(
            "POST",
            "/api/v1/lookup",
            body=json.dumps(query),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_segmented_upload_and_gateway_lookup_against_a_dice_matcher(site: Site) -> None:
    mhc = site.folder(SEGMENTED, "default-segmented", people=30, disclose=True)
    police = site.folder(GATEWAY, "default-segmented", people=30, disclose=False)
    records = len({row[0] for row in mhc.rows()[1:]})
    code, out, err = run("upload", "--config", str(mhc.config), str(mhc.export))
    assert code == 0, err
    assert f"{records} new, 0 changed, 0 withdrawn, 0 unchanged" in out
    code, out, err = run("upload", "--config", str(police.config), str(police.export))
    assert code == 0, err
    linked = int(out.split("; linked ")[1].split()[0].rstrip(",;."))
    assert linked > 0, "the same people at two agencies link on their segmented CLKs"
    code, out, _ = run("status", "--config", str(mhc.config), "--json")
    assert code == 0
    assert json.loads(out)["matcher"]["record_count"] == records

    # The responder gateway, as operators run it: the real command in its own process,
    # serving HTTPS with the agency's own web certificate (plain HTTP beyond loopback is
    # refused before anything listens).
    code, _, err = run(
        "gateway", "--config", str(police.config), "--listen", "0.0.0.0:0", "--allow-remote"
    )
    assert code == EXIT_DOMAIN_ERROR
    assert "set [gateway] https_cert and https_key" in err
    web = make_web_certificate(police.root / "web")
    config_text = police.config.read_text()
    police.config.write_text(
        config_text.replace(
            'listen = "127.0.0.1:0"\n',
            f'listen = "127.0.0.1:0"\nhttps_cert = "{web.files.cert}"\n'
            f'https_key = "{web.files.key}"\n',
            1,
        )
    )
    token = (police.root / "gateway.token").read_text().strip()
    port_file = police.root / "gateway.port"
    environment = {k: v for k, v in os.environ.items() if k != "AGENCY_CLIENT_CONFIG"}
    gateway = subprocess.Popen(
        [sys.executable, "-m", "agency_client.cli", "gateway", "--config", str(police.config),
         "--port-file", str(port_file)],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        port = wait_for_port_file(port_file, gateway, "gateway", timeout_s=_START_TIMEOUT_S)
        status, answer = _lookup(port, _query_of_first_record(mhc), web, token)
        assert status == 200, answer
        assert answer["known"] is True
        agencies = {result["agency"] for result in answer["results"]}
        assert agencies == {SEGMENTED}, "the consented segmented record; police did not consent"
        assert answer["results"][0]["display_name"] == f"{SEGMENTED} desk"
    finally:
        gateway.terminate()
        _, stderr = gateway.communicate(timeout=30)
    assert b"Traceback" not in stderr


def test_an_agency_on_the_record_level_schema_is_refused(site: Site) -> None:
    plain = site.folder(RECORD_LEVEL, "default", people=5)
    code, _, err = run("upload", "--config", str(plain.config), str(plain.export))
    assert code == EXIT_DOMAIN_ERROR
    # one line naming both fingerprints and the schema that matches the matcher, not a
    # line per record about the CLK length
    assert "is not the matcher's linkage schema" in err
    assert default_segmented_schema().fingerprint[:16] in err
    assert "agency-client init --schema default-segmented" in err  # the client's hint
    assert "must be 336 bytes" not in err
    assert "mutations[" not in err
    code, out, _ = run("status", "--config", str(plain.config), "--json")
    assert code == 0
    assert json.loads(out)["matcher"]["record_count"] == 0
    assert schema_fingerprint(default_schema()) != default_segmented_schema().fingerprint
