"""The storage contract suite runs against every engine configured here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from linkage.store import LinkStore, SqliteLinkStore


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LinkStore]:
    engine = request.param
    if engine == "sqlite":
        opened: LinkStore = SqliteLinkStore(tmp_path / "index.db")
    else:  # pragma: no cover - engines are added here
        raise AssertionError(engine)
    try:
        yield opened
    finally:
        opened.close()
