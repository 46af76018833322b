"""Programme outcomes end to end: three agencies upload their exports with events through
the real ``agency-client upload --events`` to a real matcher (mTLS, SQLite), two with an
evaluation consent and one (the ER) without; the outcome measures computed from the
matcher's store count exactly the events the rule allows, over the matcher's own links;
the agreement rule counts the ER's too; and the real ``linkage-admin outcomes run``
releases them while the matcher serves."""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from agency_client.cli import cli
from linkage.channel import mtls_channel
from linkage.encode import default_segmented_schema
from linkage.outcomes import OutcomeCounts, Programme, load_spec, release_outcomes
from linkage.pki import DemoPki, create_demo_pki
from linkage.server import RunningServer, load_server_config, open_store, start_matcher
from linkage.v1 import common_pb2, operator_pb2, operator_pb2_grpc
from tests.agency_client.workflow_fixtures import MHC, AgencyFolder, make_agency_folder
from tests.matcher_tables import server_and_tls_tables
from tests.report.cli_helpers import run_cli

pytestmark = pytest.mark.integration

POLICE, CLINIC, ER = "oc-police", "oc-clinic", "oc-er"
SPEC_TEXT = """
title = "End to end"
breakdowns = ["disposition"]
[cohort]
events = ["coresponder_contact"]
from = 2025-01-01
to = 2025-06-30
follow_up_until = 2025-12-31
[[measures]]
id = "intake_30"
title = "Intake within 30 days"
kind = "share"
events = ["treatment_intake"]
window = [0, 30]
[[measures]]
id = "er_30"
title = "ER visits, 30 days before vs after"
kind = "before_after"
events = ["er_visit_psych"]
days = 30
breakdowns = []
"""


@dataclasses.dataclass
class Site:
    running: RunningServer
    pki: DemoPki
    root: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("outcomes")
    (root / "shared-secret.key").write_text(os.urandom(32).hex() + "\n")
    pki = create_demo_pki(root / "pki", agency_ids=(POLICE, CLINIC, ER))
    (root / "server.toml").write_text(
        f"""{server_and_tls_tables(pki)}[store]
engine = "sqlite"
path = "{root / "index.sqlite"}"
[linkage]
threshold = 0.8
clk_bits = 2688
key_epoch = 1
schema_fingerprint = "{default_segmented_schema().fingerprint}"
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
    for agency_id in (POLICE, CLINIC, ER):
        stub.CreateAgency(
            operator_pb2.CreateAgencyRequest(
                agency_id=agency_id,
                agency=operator_pb2.Agency(
                    display_name=agency_id,
                    contact_card=common_pb2.ContactCard(display_name=agency_id, phone_number="555"),
                ),
            )
        )
    channel.close()
    try:
        yield Site(running, pki, root)
    finally:
        running.stop(0)


def _folder(site: Site, agency_id: str, *, evaluation: bool) -> AgencyFolder:
    it = site.pki.agencies[agency_id].paths
    assert it.private_key is not None
    # the same 40-person scenario (seed 7, no twins) in each agency's export: the same
    # people, whose records the matcher links across the three agencies
    folder = make_agency_folder(
        site.root / agency_id,
        people=40,
        seed=7,
        agency=dataclasses.replace(MHC, agency_id=agency_id),
        matcher=f"localhost:{site.running.port}",
        tls=(it.ca_certificate, it.certificate, it.private_key),
        disclose=False,
        schema="default-segmented",
    )
    (folder.root / "secret.key").write_bytes((site.root / "shared-secret.key").read_bytes())
    (folder.root / "secret.key").chmod(0o600)
    if evaluation:
        text = folder.config.read_text()
        folder.config.write_text(
            text.replace(
                "disclose = false\n",
                'disclose = false\nevaluation = true\nexpires = "2099-01-01"\n',
            )
        )
    return folder


def _upload(folder: AgencyFolder, events: list[tuple[str, str, date, str]]) -> None:
    path = folder.root / "events.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["record_id", "code", "date", "disposition"])
        for record_id, code, day, disposition in events:
            writer.writerow([record_id, code, day.isoformat(), disposition])
    result = CliRunner().invoke(
        cli,
        ["upload", "--config", str(folder.config), str(folder.export), "--events", str(path)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr


def test_outcomes_from_real_uploads_count_what_the_rule_allows(site: Site) -> None:
    police = _folder(site, POLICE, evaluation=True)
    clinic = _folder(site, CLINIC, evaluation=True)
    er = _folder(site, ER, evaluation=False)
    record_of = {t.person_id: t.local_id for t in police.scenario.truth}
    people = sorted(record_of)
    assert len(people) == 21
    contact = {p: date(2025, 3, 1) + timedelta(days=i) for i, p in enumerate(people[:16])}
    _upload(
        police,
        [
            (record_of[p], "coresponder_contact", d, "arrested" if i % 4 == 0 else "referred")
            for i, (p, d) in enumerate(contact.items())
        ],
    )
    # the same people's records at the clinic and the ER have the same local IDs here
    _upload(
        clinic,
        [
            (record_of[p], "treatment_intake", contact[p] + timedelta(days=5), "")
            for p in people[:10]
        ]
        + [
            (
                record_of[people[12]],
                "treatment_intake",
                contact[people[12]] + timedelta(days=40),
                "",
            )
        ],
    )
    _upload(
        er,
        [(record_of[p], "er_visit_psych", contact[p] + timedelta(days=10), "") for p in people[:8]],
    )

    spec = load_spec(SPEC_TEXT)
    config = load_server_config(site.root / "server.toml", {})
    found: list[OutcomeCounts] = []
    store = open_store(config.store)
    try:
        now = datetime.now(UTC)
        consent_rule = Programme("e2e-consent", 5.0)
        release_outcomes(store, spec, consent_rule, actor="test", now=now, counts_hook=found.append)
        agreement = Programme("e2e-agreement", 5.0, agreement_allows_evaluation=True)
        release_outcomes(store, spec, agreement, actor="test", now=now, counts_hook=found.append)
    finally:
        store.close()
    by_consent, by_agreement = found
    for counts in found:
        assert counts.value("cohort.people") == 16
        assert counts.value("cohort.people", "disposition", "arrested") == 4
        assert counts.value("intake_30.with_event") == 10  # the 40-day intake is outside
        assert counts.value("intake_30.with_event", "disposition", "arrested") == 3
    # the ER's records give no evaluation consent: their visits count only by agreement
    assert by_consent.value("er_30.people_after") == 0
    assert by_agreement.value("er_30.people_after") == 8
    assert by_agreement.value("er_30.events_after") == 8

    # the real command, while the matcher serves
    (site.root / "programme.toml").write_text('[programme]\nid = "e2e"\nbudget_epsilon = 2.0\n')
    (site.root / "spec.toml").write_text(SPEC_TEXT)
    out = site.root / "report"
    result = run_cli(
        "outcomes",
        "run",
        "--config",
        site.root / "server.toml",
        "--spec",
        site.root / "spec.toml",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    # 16 police and 11 clinic records counted; the ER's 8 left out
    assert "records with events: 27 counted, 8 left out by the rule" in result.output
    assert (out / "outcomes.html").exists()
