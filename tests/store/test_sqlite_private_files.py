"""The matcher's SQLite files are kept the way PostgreSQL keeps its data directory
(issue 22, item 5: index.sqlite, -wal and -shm were created 0644, readable by every local
user): the folder 0700 and every file 0600 whatever the umask, and a store open to
others is refused at start, naming the file and the chmod that fixes it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkage.errors import ConfigError
from linkage.pki import create_demo_pki
from linkage.store import SqliteLinkStore
from tests.server.conftest import write_config

pytestmark = pytest.mark.unit


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o000, 0o022, 0o002])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def _write_something(store: SqliteLinkStore) -> None:
    with store.write() as tx:
        del tx  # an empty transaction still opens the WAL and its index


def test_a_new_store_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    db = tmp_path / "data" / "matcher" / "index.sqlite"
    store = SqliteLinkStore(db)
    try:
        _write_something(store)
        files = sorted(p.name for p in db.parent.iterdir())
        assert "index.sqlite" in files
        assert {"index.sqlite-wal", "index.sqlite-shm"} <= set(files)
        for path in db.parent.iterdir():
            assert _mode(path) == 0o600, path.name
        assert _mode(db.parent) == 0o700
    finally:
        store.close()
    # and it opens again
    SqliteLinkStore(db).close()


def test_a_database_file_open_to_others_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "index.sqlite"
    SqliteLinkStore(db).close()
    db.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        SqliteLinkStore(db)
    assert str(db) in caught.value.message
    assert "mode 0644" in caught.value.message
    assert "chmod 600" in caught.value.message


@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_a_side_file_open_to_others_is_refused(tmp_path: Path, suffix: str) -> None:
    db = tmp_path / "index.sqlite"
    store = SqliteLinkStore(db)
    _write_something(store)
    side = db.with_name(db.name + suffix)
    if not side.exists():
        side.write_bytes(b"")
    side.chmod(0o640)
    try:
        with pytest.raises(ConfigError) as caught:
            SqliteLinkStore(db)
        assert str(side) in caught.value.message
        assert "chmod 600" in caught.value.message
    finally:
        store.close()


def test_a_folder_open_to_others_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "matcher"
    folder.mkdir()
    folder.chmod(0o755)
    with pytest.raises(ConfigError) as caught:
        SqliteLinkStore(folder / "index.sqlite")
    assert str(folder) in caught.value.message
    assert "mode 0755" in caught.value.message
    assert "chmod 700" in caught.value.message
    assert not (folder / "index.sqlite").exists()  # nothing written into it


def test_a_linked_database_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.sqlite"
    SqliteLinkStore(real).close()
    (tmp_path / "index.sqlite").symlink_to(real)
    with pytest.raises(ConfigError) as caught:
        SqliteLinkStore(tmp_path / "index.sqlite")
    assert "symbolic link" in caught.value.message


@pytest.mark.integration
def test_the_matcher_refuses_to_start_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    pki = create_demo_pki(tmp_path / "pki", agency_ids=("police",))
    config = write_config(tmp_path, pki)
    command = [sys.executable, "-m", "linkage.server.cli", "migrate", "--config", str(config)]
    assert subprocess.run(command, capture_output=True, check=False).returncode == 0
    db = tmp_path / "index.db"
    db.chmod(0o604)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert f"the database file at {db} is open to other users (mode 0604)" in result.stderr
    assert "run chmod 600 on it" in result.stderr
    assert "Traceback" not in result.stderr
