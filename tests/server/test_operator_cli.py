"""``linkage-admin`` operator commands against a real matcher, and
``audit verify`` on its store, including tampering."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from click.testing import CliRunner

from linkage.admin.cli import main
from tests.server.conftest import Matcher
from tests.server.protos import query, upsert, write
from tests.service.factory import person, variant

pytestmark = pytest.mark.integration


def _env(matcher: Matcher) -> dict[str, str]:
    creds = matcher.pki.operator.paths
    assert creds.private_key is not None
    return {
        "LINKAGE_MATCHER": matcher.target,
        "LINKAGE_CA_CERT": str(creds.ca_certificate),
        "LINKAGE_OPERATOR_CERT": str(creds.certificate),
        "LINKAGE_OPERATOR_KEY": str(creds.private_key),
    }


def test_agency_links_index_and_events_commands(matcher: Matcher) -> None:
    runner = CliRunner()
    env = _env(matcher)
    created = runner.invoke(
        main,
        [
            "agency",
            "create",
            "county-ems",
            "--display-name",
            "County EMS",
            "--contact-phone",
            "911",
        ],
        env=env,
    )
    assert created.exit_code == 0, created.output
    assert json.loads(created.output)["contact_card"]["phone_number"] == "911"
    again = runner.invoke(main, ["agency", "create", "county-ems", "--display-name", "x"], env=env)
    assert again.exit_code == 2
    assert "ALREADY_EXISTS" in again.output
    listed = runner.invoke(main, ["agency", "list"], env=env)
    assert "agencies/county-ems" in [a["name"] for a in json.loads(listed.output)]
    rng = np.random.default_rng(31)
    gina = person(rng)
    matcher.ingest("police").WriteBatch(write("police", "p", upsert("g", gina)))
    matcher.ingest("er").WriteBatch(write("er", "e", upsert("g", variant(rng, gina))))
    rebuilt = runner.invoke(main, ["links", "rebuild", "--reason", "cli test"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert json.loads(rebuilt.output)["links"] == 1
    # What decided the links comes back with the run and with the status (Dice mode: no
    # probabilistic model).
    recorded = json.loads(rebuilt.output)["model"]
    assert recorded["threshold"] == 0.8
    assert recorded["clustering"] == {"method": "greedy"}
    assert "probabilistic" not in recorded
    status = json.loads(runner.invoke(main, ["index", "status"], env=env).output)
    assert status["linkage"] == recorded
    assert status["records"] == 2
    assert status["agencies"]["agencies/police"] == {"records": 1, "linked_records": 1}
    lines = runner.invoke(main, ["events", "--limit", "1000"], env=env).output.splitlines()
    kinds = [json.loads(line)["kind"] for line in lines]
    assert "links_rebuilt" in kinds
    assert "batch_committed" in kinds


def test_operator_commands_need_an_operator_certificate(matcher: Matcher) -> None:
    env = _env(matcher)
    creds = matcher.pki.agencies["police"].paths
    assert creds.private_key is not None
    env["LINKAGE_OPERATOR_CERT"] = str(creds.certificate)
    env["LINKAGE_OPERATOR_KEY"] = str(creds.private_key)
    result = CliRunner().invoke(main, ["index", "status"], env=env)
    assert result.exit_code == 2
    assert "PERMISSION_DENIED" in result.output


def test_an_unreachable_matcher_is_a_clear_error(matcher: Matcher) -> None:
    env = _env(matcher)
    env["LINKAGE_MATCHER"] = "localhost:1"
    result = CliRunner().invoke(main, ["index", "status"], env=env)
    assert result.exit_code == 2
    assert "is the matcher running" in result.output


def test_audit_verify_passes_then_names_the_first_tampered_entry(matcher: Matcher) -> None:
    rng = np.random.default_rng(32)
    hal = person(rng)
    matcher.ingest("police").WriteBatch(write("police", "p", upsert("h", hal)))
    for _ in range(3):
        matcher.lookup("er").Lookup(query(variant(rng, hal)))
    config = str(matcher.root / "server.toml")
    ok = CliRunner().invoke(main, ["audit", "verify", "--config", config])
    assert ok.exit_code == 0, ok.output
    assert "audit log OK" in ok.output
    count = int(ok.output.split(":")[1].split()[0])
    assert count >= 8  # enrolments, the batch, the lookups
    with sqlite3.connect(matcher.root / "index.db") as conn:
        conn.execute("UPDATE audit_log SET actor = 'someone-else' WHERE sequence = 6")
    bad = CliRunner().invoke(main, ["audit", "verify", "--config", config])
    assert bad.exit_code == 2
    assert "FAILED at entry 6" in bad.output
    with sqlite3.connect(matcher.root / "index.db") as conn:
        conn.execute("DELETE FROM audit_log WHERE sequence = 6")
    gap = CliRunner().invoke(main, ["audit", "verify", "--config", config])
    assert "FAILED at entry 6" in gap.output
