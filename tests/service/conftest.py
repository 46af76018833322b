from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from linkage.service import LinkageService, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteLinkStore]:
    opened = SqliteLinkStore(tmp_path / "index.db")
    yield opened
    opened.close()


@pytest.fixture
def service(store: SqliteLinkStore) -> LinkageService:
    svc = LinkageService(store, SETTINGS, ServiceLimits(max_batch_mutations=500, lookup_burst=1000))
    for agency_id in ("police", "valley-mhc", "er", "sud"):
        svc.create_agency(OPERATOR, agency_id, agency_id.upper(), b"")
    return svc
