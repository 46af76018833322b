"""The storage contract suite runs against every engine configured here.

``store`` is parametrised over SQLite and PostgreSQL. Each PostgreSQL test
gets a fresh schema on a real server: the one named by ``LINKAGE_TEST_PG_DSN``
(``scripts/ci_postgres.py run`` starts one and sets it), or else one that this
session starts itself with initdb/pg_ctl when the binaries exist. When neither
is possible the PostgreSQL tests are skipped with the reason, unless
``LINKAGE_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which fails them instead.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from linkage.store import LinkStore, SqliteLinkStore

ENGINES = ("sqlite", "postgres")
_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ci_postgres.py"


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


@dataclass(frozen=True)
class PgTarget:
    """Where one test's PostgreSQL store lives: a server and a fresh schema."""

    dsn: str
    schema: str


@pytest.fixture
def pg_target(postgres_dsn: str) -> Iterator[PgTarget]:
    """A fresh, empty schema name, dropped after the test."""
    import psycopg
    from psycopg import sql

    schema = f"t_{uuid.uuid4().hex[:20]}"
    yield PgTarget(postgres_dsn, schema)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


StoreFactory = Callable[[], LinkStore]


@pytest.fixture(params=ENGINES)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens any number of stores on ONE database of the parametrised engine."""
    engine = request.param
    opened: list[LinkStore] = []

    if engine == "sqlite":

        def open_store() -> LinkStore:
            opened.append(SqliteLinkStore(tmp_path / "index.db"))
            return opened[-1]

    elif engine == "postgres":
        from linkage.store import PostgresLinkStore

        target: PgTarget = request.getfixturevalue("pg_target")

        def open_store() -> LinkStore:
            opened.append(PostgresLinkStore(target.dsn, schema=target.schema))
            return opened[-1]

    else:  # pragma: no cover - engines are added here
        raise AssertionError(engine)
    try:
        yield open_store
    finally:
        for each in opened:
            each.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> LinkStore:
    """One store of the parametrised engine on a fresh database."""
    return store_factory()
