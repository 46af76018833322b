"""The real ``agency-client`` commands against a real matcher over mutual TLS: init, upload
(resumed after an interruption, replayed after a lost acknowledgement, delta), status,
consent, withdraw, deref, and the documented exit codes."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from agency_client._cli_common import (
    EXIT_CREDENTIALS,
    EXIT_DOMAIN_ERROR,
    EXIT_NOT_FOUND,
    EXIT_UNAVAILABLE,
)
from agency_client._client_config import load_client_config
from agency_client._gateway import load_gateway_token
from agency_client._matcher import MatcherClient
from agency_client._sending import send_pending
from agency_client._workflow import plan_upload
from agency_client.cli import cli
from agency_client.pointer import seal_pointer
from linkage.channel import mtls_channel
from linkage.encode import default_schema, schema_fingerprint
from linkage.errors import UnavailableError
from linkage.pki import DemoPki, create_demo_pki
from linkage.server import RunningServer, load_server_config, start_matcher
from linkage.synth import DEFAULT_AGENCIES
from linkage.v1 import common_pb2, ingest_pb2, operator_pb2, operator_pb2_grpc
from tests.agency_client.workflow_fixtures import MHC, AgencyFolder, make_agency_folder
from tests.matcher_tables import server_and_tls_tables

pytestmark = pytest.mark.integration

AGENCIES = ("mhc-a", "mhc-b", "mhc-c", "mhc-d", "police-x")


@dataclasses.dataclass
class Matcher:
    running: RunningServer
    pki: DemoPki

    @property
    def address(self) -> str:
        return f"localhost:{self.running.port}"


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matcher]:
    root = tmp_path_factory.mktemp("matcher")
    pki = create_demo_pki(root, agency_ids=AGENCIES)
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
[limits]
lookup_rate_per_s = 1000
lookup_burst = 1000
"""
    )
    running, _ = start_matcher(load_server_config(root / "server.toml", {}))
    operator = pki.operator.paths
    assert operator.private_key is not None
    stub = operator_pb2_grpc.OperatorServiceStub(
        mtls_channel(
            f"localhost:{running.port}",
            ca_certificate=operator.ca_certificate,
            certificate=operator.certificate,
            private_key=operator.private_key,
        )
    )
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
    yield Matcher(running, pki)
    running.stop(0)


def _folder(tmp_path: Path, matcher: Matcher, agency_id: str, **kwargs: object) -> AgencyFolder:
    it = matcher.pki.agencies[agency_id].paths
    gateway = matcher.pki.responders[agency_id].paths
    assert it.private_key is not None
    assert gateway.private_key is not None
    return make_agency_folder(
        tmp_path / agency_id,
        agency=dataclasses.replace(MHC, agency_id=agency_id),
        matcher=matcher.address,
        tls=(it.ca_certificate, it.certificate, it.private_key),
        gateway_tls=(gateway.certificate, gateway.private_key),
        **kwargs,  # type: ignore[arg-type]
    )


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_init_writes_a_working_directory(tmp_path: Path, matcher: Matcher) -> None:
    it = matcher.pki.agencies["mhc-a"].paths
    assert it.private_key is not None
    secret = tmp_path / "secret.key"
    secret.write_text("s" * 40)
    secret.chmod(0o600)
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MHC.mapping_toml)
    target = tmp_path / "site"
    args = [
        "init", str(target), "--agency-id", "mhc-a", "--matcher", matcher.address,
        "--ca-cert", str(it.ca_certificate), "--cert", str(it.certificate),
        "--key", str(it.private_key), "--secret-file", str(secret), "--mapping", str(mapping),
        "--disclose", "--consent-expires", "2031-01-01",
    ]  # fmt: skip
    code, out, err = run(*args)
    assert code == 0, err
    assert "pointer.key: new key, mode 0600" in out
    assert stat.S_IMODE((target / "pointer.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((target / "state").stat().st_mode) == 0o700
    assert "gateway.token: new bearer token, mode 0600" in out
    assert stat.S_IMODE((target / "gateway.token").stat().st_mode) == 0o600
    token_before = (target / "gateway.token").read_text()
    assert len(token_before.strip()) >= 32
    text = (target / "agency.toml").read_text()
    assert token_before.strip() not in text, "the token is referenced, never copied"
    assert "s" * 40 not in text, "the secret is referenced, never copied"
    config = load_client_config(target / "agency.toml", {})
    assert load_gateway_token(config.gateway, {}) == token_before.strip()
    assert config.agency_id == "mhc-a"
    assert config.matcher_address == matcher.address
    assert config.default_consent.expires_at == datetime(2031, 1, 1, 23, 59, 59, tzinfo=UTC)
    key_before = (target / "pointer.key").read_bytes()
    code, _, err = run(*args)
    assert code == EXIT_DOMAIN_ERROR
    assert "--force" in err
    code, out, _ = run(*args, "--force")
    assert code == 0
    assert "kept the existing key" in out
    assert (target / "pointer.key").read_bytes() == key_before
    assert "gateway.token: kept the existing token" in out
    assert (target / "gateway.token").read_text() == token_before
    code, _, err = run(*[a for a in args if a != "--disclose"][:-2], "--secret-env", "X")
    assert code == EXIT_DOMAIN_ERROR
    assert "exactly one of --secret-file or --secret-env" in err
    # an agency ID the matcher could not enrol, and a short secret, are named as options
    upper = [("Valley_MHC" if a == "mhc-a" else a) for a in args]
    code, _, err = run(*upper, "--force")
    assert code != 0
    assert "--agency-id: must be 2-63 characters of a-z, 0-9 and '-'" in err
    secret.write_text("short")
    code, _, err = run(*args, "--force")
    assert code != 0
    assert "the agency.toml these options make is invalid" in err
    assert "shorter than 16 bytes" in err
    assert ".tmp" not in err
    assert not list(target.glob("*.tmp"))


def test_upload_interrupted_then_resumed_then_delta(tmp_path: Path, matcher: Matcher) -> None:
    folder = _folder(tmp_path, matcher, "mhc-b", people=120, batch_size=20)
    session = folder.session()
    records = len({r[0] for r in folder.rows()[1:]})

    class Interrupted(MatcherClient):
        def stream_batches(
            self, requests: Iterable[ingest_pb2.WriteBatchRequest]
        ) -> Iterator[ingest_pb2.WriteBatchResponse]:
            for count, response in enumerate(super().stream_batches(requests)):
                yield response
                if count == 1:
                    raise UnavailableError("the link dropped")

    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1)
        client = Interrupted(session.config.matcher_address, session.config.agency_tls)
        with pytest.raises(UnavailableError):
            send_pending(state, client, retry_delays=())
        client.close()
        assert state.pending_summary()[0] == plan.batches - 2
    code, out, err = run("upload", "--config", str(folder.config), str(folder.export))
    assert code == 0, err
    assert f"resuming: {plan.batches - 2} batches" in out
    assert "planned 0 changes" in out
    assert "sent nothing" in out
    code, out, _ = run("status", "--config", str(folder.config), "--json")
    status = json.loads(out)
    assert status["matcher"]["record_count"] == records
    assert status["matcher"]["batch_count"] == plan.batches, "no batch was committed twice"
    assert status["local"] == {
        "records_acknowledged": records,
        "pending_batches": 0,
        "pending_mutations": 0,
        "last_export": str(folder.export.resolve()),
        "last_plan_time": status["local"]["last_plan_time"],
    }
    # Delta: change one address, drop one record.
    rows = folder.rows()
    rows[1][rows[0].index("street")] = "Elsewhere Road"
    gone = rows.pop(2)
    folder.write_rows(rows)
    code, out, _ = run("upload", "--config", str(folder.config), str(folder.export))
    assert code == 0
    assert "planned 2 changes" in out
    assert "0 new, 1 changed, 1 withdrawn" in out
    assert "sent 1 batch (0 replayed): inserted 0, updated 1, unchanged 0, withdrawn 1" in out
    code, out, _ = run("consent", "list", "--config", str(folder.config), "--json")
    listed = [json.loads(line) for line in out.splitlines()]
    assert len(listed) == records - 1
    assert gone[0] not in {r["record_id"] for r in listed}
    assert {r["record_id"] for r in listed} == {r[0] for r in rows[1:]}


def test_a_committed_but_unacknowledged_batch_is_replayed(tmp_path: Path, matcher: Matcher) -> None:
    folder = _folder(tmp_path, matcher, "mhc-c", people=30, batch_size=100)
    session = folder.session()
    with session.state() as state:
        plan_upload(session, state, folder.export, workers=1)
        (batch,) = state.pending()
        with session.matcher() as client:  # committed at the matcher, the answer "lost"
            list(client.stream_batches([ingest_pb2.WriteBatchRequest.FromString(batch.request)]))
        assert state.record_count() == 0
    code, out, _ = run("upload", "--config", str(folder.config), str(folder.export))
    assert code == 0
    assert "sent 1 batch (1 replayed)" in out
    with session.state() as state:
        assert state.record_count() == len({r[0] for r in folder.rows()[1:]})


def test_consent_withdraw_deref_and_exit_codes(tmp_path: Path, matcher: Matcher) -> None:
    folder = _folder(tmp_path, matcher, "mhc-d", people=40, disclose=False)
    config = str(folder.config)
    assert run("upload", "--config", config, str(folder.export))[0] == 0
    rows = folder.rows()
    header, target = rows[0], rows[1]
    row = dict(zip(header, target, strict=True))
    local_id = target[0]
    expires = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    code, out, err = run("consent", "set", "--config", config, local_id, "--expires", expires)
    assert code == 0, err
    assert "changing the consent of 1 records" in out
    assert "consent changed 1" in out
    code, out, _ = run("consent", "list", "--config", config)
    line = next(x for x in out.splitlines() if x.startswith(local_id + "\t"))
    assert "disclose to responder for crisis_response until " + expires in line
    session = folder.session()
    token = seal_pointer(session.pointer_key, "mhc-d", 1, local_id)
    text = base64.urlsafe_b64encode(token).decode().rstrip("=")
    code, out, _ = run("deref", "--config", config, text, "--json")
    assert code == 0
    assert json.loads(out) == row
    code, out, _ = run("deref", "--config", config, text, "--id-only")
    assert out.strip() == local_id
    missing = base64.urlsafe_b64encode(
        seal_pointer(session.pointer_key, "mhc-d", 1, "VMHC-0")
    ).decode()
    assert run("deref", "--config", config, missing)[0] == EXIT_NOT_FOUND
    foreign = base64.urlsafe_b64encode(
        seal_pointer(session.pointer_key, "mhc-a", 1, local_id)
    ).decode()
    code, _, err = run("deref", "--config", config, foreign)
    assert code == EXIT_DOMAIN_ERROR
    assert "cannot be opened" in err
    assert local_id not in err
    # Revoke, withdraw, unknown IDs.
    code, out, _ = run("consent", "revoke", "--config", config, local_id)
    assert code == 0
    code, out, _ = run("consent", "list", "--config", config)
    assert (
        f"{local_id}\tunlinked\trevoked" in out.splitlines()
        or f"{local_id}\tlinked\trevoked" in out.splitlines()
    )
    code, out, _ = run("withdraw", "--config", config, local_id)
    assert code == 0
    assert "withdrawn 1" in out
    code, _, err = run("withdraw", "--config", config, local_id)
    assert code == EXIT_NOT_FOUND
    assert "nothing was sent" in err
    assert local_id not in err
    for answer in ("", "n\n"):  # no answer (end of input), and "no"
        refused = CliRunner().invoke(cli, ["withdraw", "--config", config, "--all"], input=answer)
        assert refused.exit_code == EXIT_DOMAIN_ERROR
        assert "nothing withdrawn: --all needs a 'y' at the prompt, or --yes" in refused.stderr
    code, out, _ = run("withdraw", "--config", config, "--all", "--yes")
    assert code == 0
    assert f"withdrawn {len(rows) - 2}" in out
    code, out, _ = run("status", "--config", config, "--json")
    assert json.loads(out)["matcher"]["record_count"] == 0


def test_exit_codes_for_unreachable_matcher_and_wrong_certificate(
    tmp_path: Path, matcher: Matcher
) -> None:
    folder = _folder(tmp_path, matcher, "police-x", people=5)
    text = folder.config.read_text()
    unreachable = folder.root / "unreachable.toml"
    unreachable.write_text(text.replace(matcher.address, "localhost:1"))
    code, _, err = run("status", "--config", str(unreachable))
    assert code == EXIT_UNAVAILABLE
    assert "run the same command again" in err
    gateway = matcher.pki.responders["police-x"].paths
    it = matcher.pki.agencies["police-x"].paths
    wrong = folder.root / "wrong.toml"
    wrong.write_text(
        text.replace(f'cert = "{it.certificate}"', f'cert = "{gateway.certificate}"', 1).replace(
            f'key = "{it.private_key}"', f'key = "{gateway.private_key}"', 1
        )
    )
    code, _, err = run("status", "--config", str(wrong))
    assert code == EXIT_CREDENTIALS
    assert "agency (IT) certificate" in err
    code, _, err = run("upload", "--config", str(folder.root / "missing.toml"), str(folder.export))
    assert code == EXIT_DOMAIN_ERROR
    assert "missing.toml" in err


def test_demo_agency_formats_are_all_uploadable(tmp_path: Path) -> None:
    """Every synthetic agency's mapping encodes its own export without skipped rows."""
    for agency in DEFAULT_AGENCIES:
        folder = make_agency_folder(tmp_path / agency.agency_id, agency=agency, people=60)
        session = folder.session()
        with session.state() as state:
            plan = plan_upload(session, state, folder.export, workers=1, dry_run=True)
        assert plan.rows_read == len(folder.rows()) - 1
        assert plan.new == plan.rows_read - plan.skipped_rows
        assert plan.skipped_rows == 0, (agency.agency_id, plan.problems[:3])
