"""Fixtures shared by every test directory: a real PostgreSQL server.

``postgres_dsn`` is the server named by ``LINKAGE_TEST_PG_DSN`` (``scripts/
ci_postgres.py run`` starts one and sets it), or else one that this session
starts itself with initdb/pg_ctl when the binaries exist. When neither is
possible PostgreSQL tests are skipped with the reason, unless
``LINKAGE_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which fails them instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ci_postgres.py"


def load_ci_postgres() -> ModuleType:
    """scripts/ci_postgres.py, loaded by path (``scripts`` is not a package)."""
    name = "linkage_ci_postgres"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("LINKAGE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"LINKAGE_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A superuser DSN of a PostgreSQL server that this run started."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[dev]')")
    ci = load_ci_postgres()
    given = os.environ.get(ci.DSN_VARIABLE)
    if given:
        yield given
        return
    bindir = ci.find_bindir()
    if bindir is None:
        _unavailable(
            f"{ci.DSN_VARIABLE} is not set and no PostgreSQL binaries were found "
            "(run the tests through ./dev.sh test, or install Debian's postgresql package)"
        )
    server = ci.TempPostgres(bindir)
    try:
        server.start()
    except ci.PostgresUnavailableError as exc:
        _unavailable(f"cannot start PostgreSQL from {bindir}: {exc}")
    try:
        yield server.dsn
    finally:
        server.stop()
