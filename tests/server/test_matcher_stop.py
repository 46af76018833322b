"""Stopping the matcher closes its store even when the service cannot write what it
still holds (the refusals' counts) at that moment."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from linkage.errors import StorageError
from linkage.pki import DemoPki
from linkage.server import load_server_config, start_matcher
from tests.server.conftest import write_config

pytestmark = pytest.mark.integration


def test_the_store_is_closed_when_the_service_cannot_write_at_the_stop(
    tmp_path: Path,
    demo_pki: DemoPki,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_server_config(write_config(tmp_path, demo_pki, tls=False), {})
    running, service = start_matcher(config, insecure_dev=True)
    store = service._store
    closed: list[bool] = []
    close = store.close

    def closing() -> None:
        closed.append(True)
        close()

    def failing() -> None:
        raise StorageError("database is locked")

    monkeypatch.setattr(store, "close", closing)
    monkeypatch.setattr(service, "close", failing)
    with caplog.at_level(logging.WARNING, logger="linkage.server"):
        running.stop()
    assert closed == [True]
    assert "database is locked" in caplog.text
