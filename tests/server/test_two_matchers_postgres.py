"""Two matcher processes on one PostgreSQL database, with agencies uploading
to both at once (some batches delivered to both): no batch is lost or
duplicated, each process sees the other's records, and the links equal a
rebuild from scratch."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from linkage.pki import DemoPki
from linkage.v1 import (
    common_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    lookup_pb2_grpc,
    operator_pb2,
    operator_pb2_grpc,
)
from tests.server.conftest import AGENCIES
from tests.server.protos import query, upsert, write
from tests.server.test_reliability import ServerProcess
from tests.service.factory import person, variant

pytestmark = pytest.mark.integration


@pytest.fixture
def database(postgres_dsn: str) -> Iterator[str]:
    import psycopg
    from psycopg import conninfo, sql

    name = f"m_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield conninfo.make_conninfo(postgres_dsn, dbname=name)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def _pg_server(root: Path, pki: DemoPki) -> ServerProcess:
    """A matcher process on the database named by LINKAGE_PG_DSN (inherited)."""
    root.mkdir()
    proc = ServerProcess(root, pki)
    text = proc.config.read_text()
    text = text.replace(
        'engine = "sqlite"\npath = "index.db"', 'engine = "postgres"\ndsn_env = "LINKAGE_PG_DSN"'
    )
    proc.config.write_text(text)
    proc.start()
    return proc


def test_two_matchers_share_one_database_without_losing_or_duplicating_batches(
    tmp_path: Path, demo_pki: DemoPki, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINKAGE_PG_DSN", database)
    servers = [
        _pg_server(tmp_path / "a", demo_pki),
        _pg_server(tmp_path / "b", demo_pki),
    ]
    try:
        op = operator_pb2_grpc.OperatorServiceStub(servers[0].channel(demo_pki.operator))
        for agency_id in AGENCIES:
            op.CreateAgency(
                operator_pb2.CreateAgencyRequest(
                    agency_id=agency_id,
                    agency=operator_pb2.Agency(
                        display_name=agency_id, contact_card=common_pb2.ContactCard()
                    ),
                )
            )
        rng = np.random.default_rng(71)
        people = [person(rng) for _ in range(60)]
        errors: list[BaseException] = []
        expected: dict[str, set[bytes]] = {a: set() for a in AGENCIES}

        def upload(agency_id: str, seed: int) -> None:
            local = np.random.default_rng(seed)
            stubs = [
                ingest_pb2_grpc.IngestServiceStub(s.channel(demo_pki.agencies[agency_id]))
                for s in servers
            ]
            try:
                for b in range(8):
                    chosen = local.choice(len(people), size=12, replace=False)
                    request = write(
                        agency_id,
                        f"{agency_id}-{b}",
                        *(upsert(f"{agency_id}-p{i}", variant(local, people[i])) for i in chosen),
                    )
                    expected[agency_id].update(f"{agency_id}-p{i}".encode() for i in chosen)
                    if b % 3 == 0:  # delivered to both matchers at once
                        futures = [stub.WriteBatch.future(request) for stub in stubs]
                        replies = [f.result(timeout=120) for f in futures]
                        assert sum(not r.replayed for r in replies) == 1
                    else:
                        stubs[int(local.integers(2))].WriteBatch(request, timeout=120)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=upload, args=(a, i)) for i, a in enumerate(AGENCIES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert errors == []
        for server in servers:
            for agency_id in AGENCIES:
                stub = ingest_pb2_grpc.IngestServiceStub(
                    server.channel(demo_pki.agencies[agency_id])
                )
                status = stub.GetAgencyStatus(
                    ingest_pb2.GetAgencyStatusRequest(name=f"agencies/{agency_id}")
                )
                assert status.batch_count == 8, "every batch exactly once"
                keys = {
                    r.record_key
                    for r in stub.ListRecords(
                        ingest_pb2.ListRecordsRequest(parent=f"agencies/{agency_id}")
                    ).records
                }
                assert keys == expected[agency_id]
        # Each matcher finds records that were written through the other one.
        for server in servers:
            look = lookup_pb2_grpc.LookupServiceStub(server.channel(demo_pki.responders["police"]))
            found = sum(bool(look.Lookup(query(variant(rng, p))).links) for p in people[:20])
            assert found >= 15
        # The incrementally maintained links equal a rebuild from scratch.
        for server in servers:
            op = operator_pb2_grpc.OperatorServiceStub(server.channel(demo_pki.operator))
            run = op.RebuildLinks(operator_pb2.RebuildLinksRequest(reason="two matchers"))
            assert run.changed_link_count == 0
        events = op.ListEvents(operator_pb2.ListEventsRequest(page_size=10000)).events
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    finally:
        for server in servers:
            if server.proc is not None and server.proc.poll() is None:
                server.proc.terminate()
                server.proc.wait(timeout=30)
