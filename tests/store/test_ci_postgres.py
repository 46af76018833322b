"""scripts/ci_postgres.py starts a real server and always stops it; without
PostgreSQL the store tests skip, or fail when CI requires PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

_ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = _ROOT / "scripts" / "ci_postgres.py"


def _env(**changes: str | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LINKAGE_TEST_PG_DSN", "LINKAGE_REQUIRE_POSTGRES", "LINKAGE_PG_BINDIR")
    }
    for key, value in changes.items():
        if value is not None:
            env[key] = value
    return env


def test_run_starts_a_server_passes_the_exit_code_and_stops_it(postgres_dsn: str) -> None:
    del postgres_dsn  # only to skip (or fail) where PostgreSQL cannot run at all
    probe = (
        "import os, sys, psycopg\n"
        "with psycopg.connect(os.environ['LINKAGE_TEST_PG_DSN']) as conn:\n"
        "    print(conn.execute('SHOW data_directory').fetchone()[0])\n"
        "    print(conn.execute('SELECT current_database()').fetchone()[0])\n"
        "sys.exit(7)\n"
    )
    result = subprocess.run(
        [sys.executable, str(_SCRIPT), "run", "--", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=180,
        check=False,
    )
    assert result.returncode == 7, result.stderr
    data_dir, database = result.stdout.split()
    assert database == "linkage_test"
    assert "PostgreSQL stopped" in result.stderr
    assert not Path(data_dir).exists(), "the server's directory is deleted"
    assert not Path(data_dir).parent.exists()


def test_without_binaries_the_command_runs_unless_postgres_is_required() -> None:
    command = [sys.executable, str(_SCRIPT), "run", "--", sys.executable, "-c", "print('ran')"]
    relaxed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=_env(LINKAGE_PG_BINDIR="/nonexistent"),
        timeout=60,
        check=False,
    )
    assert relaxed.returncode == 0
    assert relaxed.stdout.strip() == "ran"
    assert "will be skipped" in relaxed.stderr
    required = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=_env(LINKAGE_PG_BINDIR="/nonexistent", LINKAGE_REQUIRE_POSTGRES="1"),
        timeout=60,
        check=False,
    )
    assert required.returncode == 3
    assert required.stdout == ""
    assert "LINKAGE_REQUIRE_POSTGRES=1 but PostgreSQL is unavailable" in required.stderr


@pytest.mark.parametrize(
    ("required", "code", "outcome"), [(None, 0, "1 skipped"), ("1", 1, "1 error")]
)
def test_postgres_tests_skip_without_a_server_but_fail_when_required(
    required: str | None, code: int, outcome: str
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/store/test_store_contract.py",
            "-k",
            "failed_transaction and postgres",
        ],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        env=_env(LINKAGE_PG_BINDIR="/nonexistent", LINKAGE_REQUIRE_POSTGRES=required),
        timeout=120,
        check=False,
    )
    assert result.returncode == code, result.stdout
    assert outcome in result.stdout
    if required:
        assert "LINKAGE_REQUIRE_POSTGRES=1 but" in result.stdout
