"""Key-epoch rotation on PostgreSQL with two matcher processes on one store (the production
layout): one takes the batches of both epochs, the other answers lookups; the admin
operations run on the store; both follow the begin and the finish through the store's
index-change feed, and no link ID changes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest

from linkage.service import LinkageService, ServiceLimits
from linkage.service._rotation import begin_rotation, finish_rotation, rotation_status
from linkage.store import PostgresLinkStore
from tests.service.factory import OPERATOR
from tests.service.prob_factory import PROB_SETTINGS
from tests.service.test_key_rotation import AGENCIES, _lookup_links, _records, _upload

pytestmark = pytest.mark.integration


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[str]:
    import psycopg
    from psycopg import sql

    name = f"t_{uuid.uuid4().hex[:20]}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_two_matchers_on_postgres_follow_a_rotation(postgres_dsn: str, schema: str) -> None:
    stores = [PostgresLinkStore(postgres_dsn, schema=schema) for _ in range(3)]
    admin, writer_store, reader_store = stores
    try:
        writer = LinkageService(writer_store, PROB_SETTINGS, ServiceLimits(lookup_burst=10_000))
        for agency_id in AGENCIES:
            writer.create_agency(OPERATOR, agency_id, agency_id, b"")
        reader = LinkageService(reader_store, PROB_SETTINGS, ServiceLimits(lookup_burst=10_000))
        records = _records(40, 17)
        _upload(writer, records, 1, "e1")
        links_before = dict(admin.iter_node_links())
        answered = _lookup_links(reader, records, 1)
        assert sum(1 for link in answered if link) >= 0.9 * len(records)

        begin_rotation(admin, 1, 2, "linkage-admin:test", 1)
        _upload(writer, records, 2, "e2")
        assert rotation_status(admin, 1).blocking == ()
        assert _lookup_links(reader, records, 2) == answered
        assert _lookup_links(reader, records, 1) == answered

        finished = finish_rotation(admin, 1, "linkage-admin:test", 2)
        assert finished.records_moved == len(records)
        assert _lookup_links(reader, records, 2) == answered
        assert reader.settings.key_epoch == 2
        # the writer follows too: a new record of epoch 2 links with the same person
        late = dataclasses.replace(records[0], key=b"late-" + records[0].key)
        assert _upload(writer, [late], 2, "late")["inserted"] == 1
        assert writer.settings.key_epoch == 2
        moved = dict(admin.iter_node_links())
        assert {n: link for n, link in moved.items() if n in links_before} == links_before
    finally:
        for store in stores:
            store.close()
