"""The storage contract suite runs against every engine configured here.

``store`` is parametrised over SQLite and PostgreSQL. Each PostgreSQL test
gets a fresh schema on a real server: the one named by ``LINKAGE_TEST_PG_DSN``
(``scripts/ci_postgres.py run`` starts one and sets it), or else one that this
session starts itself with initdb/pg_ctl when the binaries exist. When neither
is possible the PostgreSQL tests are skipped with the reason, unless
``LINKAGE_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which fails them instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from linkage.store import LinkStore, SqliteLinkStore

ENGINES = ("sqlite", "postgres")


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
