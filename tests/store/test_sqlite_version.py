"""An SQLite too old for the store's statements is refused at open, by name."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from linkage.errors import ConfigError
from linkage.store import SqliteLinkStore


def test_an_sqlite_older_than_3_35_is_refused_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    expected = r"needs SQLite 3\.35\.0 or newer .* links SQLite 3\.34\.1"
    with pytest.raises(ConfigError, match=expected):
        SqliteLinkStore(tmp_path / "store" / "index.sqlite")
    assert not (tmp_path / "store").exists()  # nothing created


def test_this_sqlite_runs_the_store(tmp_path: Path) -> None:
    store = SqliteLinkStore(tmp_path / "store" / "index.sqlite")
    store.close()
    assert (tmp_path / "store" / "index.sqlite").exists()
