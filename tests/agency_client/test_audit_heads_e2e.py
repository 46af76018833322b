"""The audit head anchored outside the matcher's database (issue 22): agency clients keep
the heads they see, and linkage-admin audit verify --trusted-head catches a database
whose audit chain was tampered with and re-sealed, which verify alone cannot."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from linkage.admin.cli import main as admin
from linkage.audit_heads import parse_audit_heads
from linkage.security import GENESIS_HASH, AuditEntry, chain_hash
from linkage.store import SqliteLinkStore
from tests.agency_client.test_cli_workflow import Matcher, _folder, matcher, run

__all__ = ["matcher"]  # the module's real matcher, with its server.toml

pytestmark = pytest.mark.integration


def _root(matcher: Matcher) -> Path:
    return matcher.pki.directory.crl_path.parent.parent


def _reseal(database: Path, from_sequence: int) -> None:
    """Alter entry ``from_sequence`` and recompute the chain from it to the end, as
    whoever holds the database can."""
    store = SqliteLinkStore(database)
    rows = list(store.iter_audit())
    store.close()
    prev = GENESIS_HASH if from_sequence == 1 else rows[from_sequence - 2].entry_hash
    with sqlite3.connect(database) as conn:
        for row in rows[from_sequence - 1 :]:
            actor = "operator:someone-else#1" if row.sequence == from_sequence else row.actor
            entry = AuditEntry(
                row.sequence, row.entry_time_us, actor, row.action, row.target_ids, row.details
            )
            digest = chain_hash(prev, entry)
            conn.execute(
                "UPDATE audit_log SET actor = ?, prev_hash = ?, entry_hash = ? WHERE sequence = ?",
                (actor, prev, digest, row.sequence),
            )
            prev = digest


def _verify(matcher: Matcher, *heads: Path) -> tuple[int, str]:
    args = ["audit", "verify", "--config", str(_root(matcher) / "server.toml")]
    for head in heads:
        args += ["--trusted-head", str(head)]
    result = CliRunner().invoke(admin, args)
    return result.exit_code, result.output


def test_a_resealed_audit_log_is_caught_by_the_heads_an_agency_kept(
    tmp_path: Path, matcher: Matcher
) -> None:
    first = _folder(tmp_path, matcher, "mhc-b", people=20)
    second = _folder(tmp_path, matcher, "mhc-c", people=20)
    assert run("upload", "--config", str(first.config), str(first.export))[0] == 0
    assert run("status", "--config", str(first.config))[0] == 0
    assert run("upload", "--config", str(second.config), str(second.export))[0] == 0
    assert run("status", "--config", str(first.config))[0] == 0
    heads_file = tmp_path / "heads.jsonl"
    code, out, _ = run("audit-heads", "--config", str(first.config), "--out", str(heads_file))
    assert code == 0, out
    heads = parse_audit_heads(heads_file.read_text().splitlines(), "heads")
    assert len(heads) == 2
    assert heads[0].sequence < heads[1].sequence

    code, out = _verify(matcher, heads_file)
    assert code == 0, out
    assert "it contains all 2 trusted heads" in out

    # the operator (or anyone holding the database) rewrites an early entry, re-sealing
    _reseal(_root(matcher) / "index.sqlite", heads[0].sequence - 1)
    code, out = _verify(matcher)
    assert code == 0, "the chain alone verifies: nothing inside the database shows it"
    code, out = _verify(matcher, heads_file)
    assert code == 2
    assert f"FAILED at entry {heads[0].sequence}" in out
    assert "does not match the trusted checkpoint" in out


def test_an_audit_log_cut_short_is_caught_and_the_agency_client_says_so(
    tmp_path: Path, matcher: Matcher
) -> None:
    folder = _folder(tmp_path, matcher, "mhc-d", people=20)
    assert run("upload", "--config", str(folder.config), str(folder.export))[0] == 0
    assert run("status", "--config", str(folder.config))[0] == 0
    heads_file = tmp_path / "heads.jsonl"
    assert run("audit-heads", "--config", str(folder.config), "--out", str(heads_file))[0] == 0
    (head,) = parse_audit_heads(heads_file.read_text().splitlines(), "heads")
    with sqlite3.connect(_root(matcher) / "index.sqlite") as conn:
        conn.execute("DELETE FROM audit_log WHERE sequence >= ?", (head.sequence - 1,))
    code, out = _verify(matcher, heads_file)
    assert code == 2
    assert "tail deleted" in out
    code, _, err = run("status", "--config", str(folder.config))
    assert code == 0
    assert "entries were deleted" in err
