"""The adoption of the next epoch's upload state after a finished rotation: the retired
state is named by the epoch it was written in, and an adoption cut short at any point
(a crash between its steps) is completed by the next command."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from agency_client import _rotation
from agency_client._client_config import ClientConfig, load_client_config
from agency_client._rotation import (
    adopt_next_epoch_state,
    next_state_path,
    remember_state_epoch,
)
from agency_client._state import UploadState
from tests.agency_client.workflow_fixtures import AgencyFolder, make_agency_folder

pytestmark = pytest.mark.unit


def _rotated_folder(tmp_path: Path, old: int, new: int) -> tuple[AgencyFolder, ClientConfig]:
    """An agency on key epoch ``old`` whose rotation to ``new`` finished: both states
    exist, and agency.toml names ``new`` (its secret) in ``[agency]``."""
    folder = make_agency_folder(tmp_path / "site", people=5)
    secret = folder.root / f"secret-{new}.key"
    secret.write_text(secrets.token_hex(32) + "\n")
    secret.chmod(0o600)
    text = folder.config.read_text()
    assert "key_epoch = 1" in text
    folder.config.write_text(text.replace("key_epoch = 1", f"key_epoch = {old}"))
    state_file = load_client_config(folder.config, {}).state_file
    with UploadState(state_file) as state:
        state.set_meta("which", f"epoch-{old}")
        remember_state_epoch(state, old)
    with UploadState(next_state_path(state_file, new)) as state:
        state.set_meta("which", f"epoch-{new}")
    folder.config.write_text(
        text.replace("key_epoch = 1", f"key_epoch = {new}").replace(
            '"secret.key"', f'"secret-{new}.key"'
        )
    )
    return folder, load_client_config(folder.config, {})


def _which(path: Path) -> str | None:
    with UploadState(path) as state:
        return state.get_meta("which")


def _state_files(config: ClientConfig) -> list[str]:
    folder = config.state_file.parent
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("upload-state"))


def test_the_retired_state_is_named_by_the_epoch_it_was_written_in(tmp_path: Path) -> None:
    _, config = _rotated_folder(tmp_path, 1, 3)
    note = adopt_next_epoch_state(config)
    assert note is not None
    assert "upload-state.retired-epoch-1.sqlite" in note
    assert _which(config.state_file) == "epoch-3"
    assert _state_files(config) == [
        "upload-state.retired-epoch-1.sqlite",
        "upload-state.sqlite",
    ]
    assert _which(config.state_file.with_name("upload-state.retired-epoch-1.sqlite")) == "epoch-1"
    assert adopt_next_epoch_state(config) is None


class _CrashError(Exception):
    pass


@pytest.mark.parametrize("survives", range(3))
def test_an_adoption_cut_short_is_completed_by_the_next_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, survives: int
) -> None:
    """The process dies before the ``survives``-th file replacement (the marker's, the old
    state's or the next epoch's): the next command completes the adoption and the files
    end as after one that ran through."""
    _, config = _rotated_folder(tmp_path, 1, 3)
    calls = 0
    real = os.replace

    def crashing(src: object, dst: object) -> None:
        nonlocal calls
        if calls == survives:
            raise _CrashError(f"crash before replacement {calls}")
        calls += 1
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(_rotation.os, "replace", crashing)
    with pytest.raises(_CrashError):
        adopt_next_epoch_state(config)
    monkeypatch.setattr(_rotation.os, "replace", real)
    note = adopt_next_epoch_state(config)
    assert note is not None
    assert "retired-epoch-1" in note
    assert _state_files(config) == [
        "upload-state.retired-epoch-1.sqlite",
        "upload-state.sqlite",
    ]
    assert _which(config.state_file) == "epoch-3"
    assert _which(config.state_file.with_name("upload-state.retired-epoch-1.sqlite")) == "epoch-1"
    assert adopt_next_epoch_state(config) is None


def test_a_crash_after_every_move_only_leaves_the_marker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moved, then the process dies before it removes its marker: the next command only
    removes it (and says the state was adopted)."""
    _, config = _rotated_folder(tmp_path, 2, 3)

    def crashing(self: Path, missing_ok: bool = False) -> None:
        raise _CrashError("crash before the marker goes")

    monkeypatch.setattr(_rotation.Path, "unlink", crashing)
    with pytest.raises(_CrashError):
        adopt_next_epoch_state(config)
    monkeypatch.undo()
    assert "upload-state.sqlite.adopting" in _state_files(config)
    assert adopt_next_epoch_state(config) is not None
    assert _state_files(config) == [
        "upload-state.retired-epoch-2.sqlite",
        "upload-state.sqlite",
    ]
    assert _which(config.state_file) == "epoch-3"
