"""What the PostgreSQL engine relies on beyond the shared contract: migrations,
sequences, the buffered bulk path, the writer lock's timeout, error
translation, connection recovery, the lazy import and the migrate command."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linkage.errors import ConfigError, ConflictError, StorageError, UnavailableError
from linkage.store import AuditRow, DisclosureRow, EdgeRow, NewRecord

pytestmark = pytest.mark.integration

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402

from linkage.store import PostgresLinkStore  # noqa: E402
from linkage.store._pg_schema import SCHEMA_VERSION  # noqa: E402


def _record(key: bytes, agency: str = "police", clk: bytes = b"\x01" * 128) -> NewRecord:
    return NewRecord(agency, key, 1, "fp", clk, b"tok", b"{}", True, b"d", 1)


@pytest.fixture
def target(pg_target: Any) -> Any:
    return pg_target


@pytest.fixture
def pg_store(target: Any) -> Iterator[PostgresLinkStore]:
    store = PostgresLinkStore(target.dsn, schema=target.schema)
    try:
        yield store
    finally:
        store.close()


def _admin(target: Any) -> Any:
    conn = psycopg.connect(target.dsn, autocommit=True)
    conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(target.schema)))
    return conn


def test_migrations_are_recorded_and_reapplying_them_is_a_no_op(target: Any) -> None:
    stores = [PostgresLinkStore(target.dsn, schema=target.schema) for _ in range(2)]
    try:
        assert [s.schema_version() for s in stores] == [SCHEMA_VERSION] * 2
        with _admin(target) as conn:
            assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)
            tables = {
                r[0]
                for r in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (target.schema,),
                )
            }
        assert tables >= {"agencies", "records", "edges", "links", "events", "audit_log"}
    finally:
        for s in stores:
            s.close()


def test_stores_opening_at_once_migrate_exactly_once(target: Any) -> None:
    opened: list[PostgresLinkStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(PostgresLinkStore(target.dsn, schema=target.schema))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert errors == []
        assert len(opened) == 4
        assert {s.schema_version() for s in opened} == {SCHEMA_VERSION}
    finally:
        for s in opened:
            s.close()


def test_a_schema_newer_than_the_program_is_refused(target: Any, pg_store: Any) -> None:
    pg_store.close()
    with _admin(target) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StorageError, match="newer than this program"):
        PostgresLinkStore(target.dsn, schema=target.schema)


def test_node_ids_are_never_reused_even_after_a_rollback(pg_store: PostgresLinkStore) -> None:
    with pg_store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        first = tx.insert_record(_record(b"a"))
    with pytest.raises(RuntimeError), pg_store.write() as tx:
        rolled_back = tx.insert_record(_record(b"b"))
        raise RuntimeError("abort")
    with pg_store.write() as tx:
        again = tx.insert_record(_record(b"b"))
    assert first < rolled_back < again


def test_bulk_inserts_are_visible_inside_the_transaction_and_stream_back(
    pg_store: PostgresLinkStore,
) -> None:
    n = 6_200  # more than one COPY flush, many ID blocks, more than one stream fetch
    with pg_store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        nodes = [
            tx.insert_record(_record(b"k%05d" % i, clk=bytes([i % 256]) * 128)) for i in range(n)
        ]
        assert nodes == sorted(nodes)
        assert len(set(nodes)) == n
        # reads inside the transaction see the buffered rows
        assert len(tx.find_records("police", [b"k00000", b"k06199", b"missing"])) == 2
        tx.insert_edges(EdgeRow(a, b, 0.9) for a, b in zip(nodes[::2], nodes[1::2], strict=True))
        last = tx.insert_record(_record(b"last"))
        assert tx.node_agency_nos([last]) == {last: 1}
    index = list(pg_store.iter_index_records(1, "fp"))
    assert [r.node_id for r in index] == [*nodes, last]
    assert index[300].clk == bytes([300 % 256]) * 128
    assert sum(1 for _ in pg_store.iter_edges()) == n // 2
    assert max(nodes) - min(nodes) < n + 1024, "few reserved IDs are wasted"


def test_a_violation_in_the_buffered_rows_rolls_everything_back_without_values(
    pg_store: PostgresLinkStore,
) -> None:
    secret_key = b"person-4711"
    with pg_store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        tx.insert_record(_record(secret_key))
    with pytest.raises(StorageError) as caught, pg_store.write() as tx:
        tx.insert_record(_record(b"fresh"))
        tx.insert_record(_record(secret_key))
    message = str(caught.value)
    assert "UNIQUE" in message
    assert "records_agency_id_record_key_key" in message
    assert "4711" not in message
    with pg_store.write() as tx:
        assert tx.find_records("police", [b"fresh"]) == []


def test_appends_sent_with_the_commit_are_all_or_nothing(pg_store: PostgresLinkStore) -> None:
    """An audit entry and disclosures are sent with the COMMIT in one pipeline: when one
    of them fails there, nothing of the transaction is kept, the connection serves the
    next transaction, and a statement in between sends them first."""
    with pg_store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
    entry = AuditRow(1, 5, "op", "lookup", ("links/1",), "{}", b"\0" * 32, b"h1" * 16)
    disclosure = DisclosureRow("police", b"k", 1, "responder", "police", "crisis", 5, 1)
    with pytest.raises(StorageError), pg_store.write() as tx:
        tx.insert_record(_record(b"kept-only-if-committed"))
        tx.append_audit(entry)
        tx.insert_disclosures([disclosure, dataclasses.replace(disclosure, link_id=2**70)])
    with pg_store.write() as tx:
        assert tx.find_records("police", [b"kept-only-if-committed"]) == []
        assert tx.last_audit() is None
        tx.append_audit(entry)
        assert tx.last_audit() == entry  # read after the buffered append is sent
        tx.insert_disclosures([disclosure])
    assert [row.record_key for _, row in pg_store.list_disclosures("police", None, 10)] == [b"k"]


def test_an_unknown_agency_is_a_foreign_key_violation(pg_store: PostgresLinkStore) -> None:
    with pytest.raises(StorageError, match="FOREIGN KEY"), pg_store.write() as tx:
        tx.insert_record(_record(b"a", agency="nobody"))


def test_waiting_for_the_writer_lock_can_time_out(target: Any, pg_store: Any) -> None:
    impatient = PostgresLinkStore(target.dsn, schema=target.schema, lock_timeout_s=0.2)
    try:
        with (
            pg_store.write(),
            pytest.raises(ConflictError, match="retrying may succeed"),
            impatient.write(),
        ):
            pass  # pragma: no cover - the lock is never granted
        with impatient.write() as tx:  # free again
            tx.insert_agency("police", "Police", b"", 1)
    finally:
        impatient.close()
    assert pg_store.get_agency("police") is not None


def test_writes_are_forced_durable(pg_store: PostgresLinkStore, target: Any) -> None:
    with _admin(target) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} SET synchronous_commit = off").format(
                sql.Identifier(conn.info.dbname)
            )
        )
    try:
        relaxed = PostgresLinkStore(target.dsn, schema=target.schema)
        try:
            with relaxed.write() as tx:
                tx_conn = tx._conn  # type: ignore[attr-defined]
                row = tx_conn.execute("SHOW synchronous_commit").fetchone()
            assert row == ("on",)
            with relaxed._pool.connection() as conn:
                assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
        finally:
            relaxed.close()
    finally:
        with _admin(target) as conn:
            conn.execute(
                sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} RESET synchronous_commit").format(
                    sql.Identifier(conn.info.dbname)
                )
            )


def _drop_connections(target: Any) -> int:
    """Kill every other client connection to the test database (like a restart)."""
    with _admin(target) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_dropped_connections_are_replaced_without_a_failed_call(
    target: Any,
) -> None:
    store = PostgresLinkStore(target.dsn, schema=target.schema, max_connections=2)
    try:
        with store.write() as tx:
            tx.insert_agency("police", "Police", b"", 1)
            tx.insert_record(_record(b"a"))
        assert store.get_agency("police") is not None
        assert _drop_connections(target) >= 1
        assert store.get_agency("police") is not None  # a read
        assert _drop_connections(target) >= 1
        assert [r.node_id for r in store.iter_index_records(1, "fp")] != []  # a stream
        assert _drop_connections(target) >= 1
        with store.write() as tx:  # a write
            tx.insert_agency("mhc", "MHC", b"", 2)
        assert [a.agency_id for a in store.list_agencies()] == ["mhc", "police"]
    finally:
        store.close()


def test_an_unreachable_server_is_unavailable_and_the_password_stays_secret() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    dsn = f"postgresql://someone:hunter2-secret@127.0.0.1:{port}/nowhere?connect_timeout=1"
    with pytest.raises(UnavailableError) as caught:
        PostgresLinkStore(dsn, connect_timeout_s=1.0)
    assert f"127.0.0.1:{port}/nowhere" in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="malformed") as caught:
        PostgresLinkStore("host=x password=hunter2 = =")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="max_connections"):
        PostgresLinkStore("host=x", max_connections=1)
    with pytest.raises(ConfigError, match="schema"):
        PostgresLinkStore("host=x", schema="")


def test_a_closed_store_refuses_work(pg_store: PostgresLinkStore) -> None:
    pg_store.close()
    with pytest.raises(StorageError, match="closed"):
        pg_store.get_agency("police")
    with pytest.raises(StorageError, match="closed"), pg_store.write():
        pass  # pragma: no cover


def test_a_search_path_dsn_works_without_a_schema_argument(target: Any) -> None:
    with psycopg.connect(target.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(target.schema)))
    dsn = psycopg.conninfo.make_conninfo(target.dsn, options=f"-csearch_path={target.schema}")
    store = PostgresLinkStore(dsn)
    try:
        with store.write() as tx:
            tx.insert_agency("police", "Police", b"", 1)
    finally:
        store.close()
    with _admin(target) as conn:
        assert conn.execute("SELECT agency_id FROM agencies").fetchall() == [("police",)]


def test_importing_the_store_package_never_needs_psycopg() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import linkage.store\n"
        "from linkage.server._config import StoreConfig\n"
        "from linkage.server._serve import open_store\n"
        "from linkage.errors import ConfigError\n"
        "try:\n"
        "    open_store(StoreConfig(engine='postgres', dsn='host=x'))\n"
        "except ConfigError as e:\n"
        "    print('config error:', e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "config error: store engine 'postgres' needs the optional extra" in result.stdout


def test_linkage_server_migrate_applies_the_schema(target: Any, tmp_path: Path) -> None:
    with psycopg.connect(target.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(target.schema)))
    config = tmp_path / "server.toml"
    config.write_text(
        '[server]\nlisten = "127.0.0.1:0"\n'
        '[store]\nengine = "postgres"\ndsn_env = "TEST_MATCHER_PG_DSN"\n'
        "[linkage]\nthreshold = 0.8\nclk_bits = 1024\nkey_epoch = 1\n"
        'schema_fingerprint = "0123456789abcdef"\n'
    )
    env = {
        **os.environ,
        "TEST_MATCHER_PG_DSN": psycopg.conninfo.make_conninfo(
            target.dsn, options=f"-csearch_path={target.schema}"
        ),
    }
    result = subprocess.run(
        [sys.executable, "-m", "linkage.server.cli", "migrate", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "postgres store's schema is up to date" in result.stdout
    with _admin(target) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    missing = subprocess.run(
        [sys.executable, "-m", "linkage.server.cli", "migrate", "--config", str(config)],
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if k != "TEST_MATCHER_PG_DSN"},
        timeout=120,
        check=False,
    )
    assert missing.returncode == 2
    assert "TEST_MATCHER_PG_DSN is not set" in missing.stderr


def test_refreshing_statistics_lets_the_planner_see_the_loaded_rows(
    pg_store: PostgresLinkStore, target: Any
) -> None:
    """After a bulk load the planner still sees an empty table until it is analysed (the
    lookups' reads then chose plans that took 450-650 ms at a million records)."""
    with _admin(target) as conn:  # no autovacuum analysing it meanwhile
        conn.execute("ALTER TABLE records SET (autovacuum_enabled = false)")
    with pg_store.write() as tx:
        tx.insert_agency("police", "Police", b"", 1)
        for i in range(2_000):
            tx.insert_record(_record(b"s%05d" % i))

    def estimated_rows() -> float:
        with _admin(target) as conn:
            row = conn.execute(
                "SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relname = 'records' AND n.nspname = %s",
                (target.schema,),
            ).fetchone()
        assert row is not None
        return float(row[0])

    assert estimated_rows() < 2_000  # never analysed: -1 (unknown) or an old sample
    pg_store.refresh_statistics()
    assert estimated_rows() == 2_000
