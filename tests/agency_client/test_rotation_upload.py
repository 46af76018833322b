"""``agency-client upload`` through a key-epoch rotation against a real matcher over mutual
TLS: both epochs sent (each only what changed), contacts logged in the next epoch held
back until the finish and sent after it, the state adopted, ``linkage-admin epoch`` on the
matcher's store."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from datetime import date, time
from pathlib import Path

import pytest
from click.testing import CliRunner

from agency_client._contacts import FieldContactStore, LoggedContact, contacts_path
from agency_client._query import QueryEncoder
from agency_client.cli import cli
from linkage.admin.cli import main as admin
from linkage.channel import mtls_channel
from linkage.encode import default_schema, schema_fingerprint
from linkage.events import Disposition
from linkage.pki import DemoPki, create_demo_pki
from linkage.server import RunningServer, load_server_config, start_matcher
from linkage.v1 import common_pb2, operator_pb2, operator_pb2_grpc
from tests.agency_client.workflow_fixtures import MHC, AgencyFolder, make_agency_folder
from tests.matcher_tables import server_and_tls_tables

pytestmark = pytest.mark.integration

AGENCY = "rot-mhc"


@dataclasses.dataclass
class Matcher:
    running: RunningServer
    pki: DemoPki
    root: Path

    @property
    def address(self) -> str:
        return f"localhost:{self.running.port}"


@pytest.fixture
def matcher(tmp_path: Path) -> Iterator[Matcher]:
    root = tmp_path / "matcher"
    root.mkdir(mode=0o700)
    pki = create_demo_pki(root / "pki", agency_ids=[AGENCY])
    schema = default_schema()
    (root / "server.toml").write_text(
        f"""{server_and_tls_tables(pki)}[store]
engine = "sqlite"
path = "index.sqlite"
[linkage]
threshold = 0.8
clk_bits = {schema.length}
key_epoch = 1
schema_fingerprint = "{schema_fingerprint(schema)}"
"""
    )
    running, _ = start_matcher(load_server_config(root / "server.toml", {}))
    operator = pki.operator.paths
    assert operator.private_key is not None
    operator_pb2_grpc.OperatorServiceStub(
        mtls_channel(
            f"localhost:{running.port}",
            ca_certificate=operator.ca_certificate,
            certificate=operator.certificate,
            private_key=operator.private_key,
        )
    ).CreateAgency(
        operator_pb2.CreateAgencyRequest(
            agency_id=AGENCY,
            agency=operator_pb2.Agency(
                display_name=AGENCY,
                contact_card=common_pb2.ContactCard(display_name="desk", phone_number="555"),
            ),
        )
    )
    yield Matcher(running, pki, root)
    running.stop(0)


def _folder(tmp_path: Path, matcher: Matcher) -> AgencyFolder:
    it = matcher.pki.agencies[AGENCY].paths
    assert it.private_key is not None
    return make_agency_folder(
        tmp_path / AGENCY,
        people=40,
        agency=dataclasses.replace(MHC, agency_id=AGENCY),
        matcher=matcher.address,
        tls=(it.ca_certificate, it.certificate, it.private_key),
    )


def _client(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _admin(matcher: Matcher, *args: str) -> str:
    result = CliRunner().invoke(admin, [*args, "--config", str(matcher.root / "server.toml")])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_agency_uploads_through_a_rotation(tmp_path: Path, matcher: Matcher) -> None:
    folder = _folder(tmp_path, matcher)
    config = str(folder.config)
    records = len(folder.rows()) - 1
    code, out, err = _client("upload", "--config", config, str(folder.export))
    assert code == 0, err
    _admin(matcher, "epoch", "begin", "--to", "2")
    secret = folder.root / "secret-2.key"
    secret.write_text(secrets.token_hex(32) + "\n")
    secret.chmod(0o600)
    text = folder.config.read_text()
    folder.config.write_text(text + '\n[rotation]\nkey_epoch = 2\nsecret_file = "secret-2.key"\n')

    # a responder logs a contact on a gateway already on epoch 2
    session = folder.session()
    rotation = session.config.rotation
    assert rotation is not None
    clk = QueryEncoder(rotation.encoding).encode(
        {"given_name": "Jordan", "surname": "Whitfield", "date_of_birth": "1987-03-14"}
    )
    with FieldContactStore(contacts_path(session.config.state_file)) as store:
        store.add(
            clk,
            session.fingerprint,
            2,
            LoggedContact(date(2026, 11, 2), time(10, 0), Disposition.REFERRED),
        )

    code, out, err = _client("upload", "--config", config, str(folder.export))
    assert code == 0, err
    first, second = out.split("key-epoch rotation: the same export in key epoch 2")
    assert "planned 0 changes" in first
    assert f"planned {records} changes" in second
    assert f"inserted {records}" in second
    assert "1 contacts logged on the gateway were encoded under another" in err
    code, out, err = _client("upload", "--config", config, str(folder.export))
    assert code == 0, err
    assert out.count("planned 0 changes") == 2
    assert '"ready_to_finish": true' in _admin(matcher, "epoch", "status")
    assert "key epoch 2 is in force" in _admin(matcher, "epoch", "finish")

    # the agency moves epoch 2 into place: the state is adopted, the held contact goes now
    text = folder.config.read_text()
    text = text[: text.index("\n[rotation]")] + "\n"
    folder.config.write_text(
        text.replace("key_epoch = 1", "key_epoch = 2").replace('"secret.key"', '"secret-2.key"')
    )
    code, out, err = _client("upload", "--config", config, str(folder.export))
    assert code == 0, err
    assert "its upload state (upload-state.epoch-2.sqlite) is the state now" in err
    assert "planned 1 changes" in out
    assert "contacts logged in the field: 1 records to send" in out
    assert "inserted 1" in out
    code, out, err = _client("status", "--config", config, "--json")
    assert code == 0, err
    assert f'"record_count": {records + 1}' in out
