"""``[rotation]`` in agency.toml: the next key epoch and its secret (from a file or the
environment, checked like the current one), the next epoch's session and state, and the
adoption of that state once the rotation is finished."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from agency_client._audit_heads import kept_audit_heads, remember_audit_head
from agency_client._client_config import load_client_config
from agency_client._rotation import (
    adopt_next_epoch_state,
    check_rotation_secret,
    next_epoch_session,
    next_state_path,
)
from agency_client._state import UploadState
from linkage.errors import ConfigError, FailedPreconditionError
from linkage.v1 import common_pb2
from tests.agency_client.workflow_fixtures import AgencyFolder, make_agency_folder

pytestmark = pytest.mark.unit


def _folder(tmp_path: Path) -> AgencyFolder:
    folder = make_agency_folder(tmp_path / "site", people=5)
    secret = folder.root / "secret-2.key"
    secret.write_text(secrets.token_hex(32) + "\n")
    secret.chmod(0o600)
    return folder


def _with_rotation(folder: AgencyFolder, table: str) -> None:
    text = folder.config.read_text()
    folder.config.write_text(text + "\n[rotation]\n" + table)


def test_the_next_epoch_has_its_own_secret_state_and_pointer_epoch(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _with_rotation(folder, 'key_epoch = 2\nsecret_file = "secret-2.key"\n')
    session = folder.session()
    rotation = session.config.rotation
    assert rotation is not None
    assert rotation.key_epoch == 2
    assert not rotation.lookups_next
    assert rotation.encoding.secret.reveal() != session.config.encoding.secret.reveal()
    following = next_epoch_session(session)
    assert following is not None
    assert following.config.encoding.key_epoch == 2
    assert following.pointer_epoch == 2
    assert following.config.rotation is None
    assert following.config.state_file == folder.root / "state" / "upload-state.epoch-2.sqlite"
    assert following.keys.record_key("R1") == session.keys.record_key("R1")
    # the same schema (one linkage space but for the epoch), the mapping unchanged
    assert rotation.encoding.encoding_schema.fingerprint == session.fingerprint
    assert rotation.encoding.features == session.config.encoding.features


def test_the_next_secret_may_come_from_the_environment(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _with_rotation(folder, 'key_epoch = 3\nsecret_env = "NEXT_SECRET"\nlookups = "next"\n')
    config = load_client_config(folder.config, {"NEXT_SECRET": "s" * 40})
    assert config.rotation is not None
    assert config.rotation.lookups_next
    assert config.rotation.encoding.secret.reveal() == b"s" * 40


@pytest.mark.parametrize(
    ("table", "location", "reason"),
    [
        ('key_epoch = 1\nsecret_file = "secret-2.key"\n', "rotation.key_epoch", "above"),
        ("key_epoch = 2\n", "rotation", "secret_file or secret_env"),
        (
            'key_epoch = 2\nsecret_file = "secret-2.key"\nsecret_env = "X"\n',
            "rotation",
            "secret_file or secret_env",
        ),
        ('key_epoch = 2\nsecret_env = "NOT_SET_ANYWHERE"\n', "rotation.secret_env", "not set"),
        ('key_epoch = 2\nsecret_file = "missing.key"\n', "rotation.secret_file", "cannot be read"),
        ('key_epoch = 2\nsecret_file = "secret-2.key"\nlookups = "old"\n', "rotation.lookups", ""),
    ],
)
def test_a_bad_rotation_table_is_named(
    tmp_path: Path, table: str, location: str, reason: str
) -> None:
    folder = _folder(tmp_path)
    _with_rotation(folder, table)
    with pytest.raises(ConfigError) as refused:
        load_client_config(folder.config, {})
    assert any(p.location == location and reason in p.reason for p in refused.value.problems), (
        refused.value.problems
    )


def test_a_secret_open_to_others_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    (folder.root / "secret-2.key").chmod(0o644)
    _with_rotation(folder, 'key_epoch = 2\nsecret_file = "secret-2.key"\n')
    with pytest.raises(ConfigError) as refused:
        load_client_config(folder.config, {})
    assert [p.location for p in refused.value.problems] == ["rotation.secret_file"]
    assert "[rotation] secret_env" in refused.value.problems[0].reason


def test_the_next_state_is_adopted_once_the_rotation_is_finished(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    config = load_client_config(folder.config, {})
    state_file = config.state_file
    with UploadState(state_file) as state:
        state.set_meta("which", "epoch-1")
    with UploadState(next_state_path(state_file, 2)) as state:
        state.set_meta("which", "epoch-2")
    # during the rotation (or before the agency moved the epoch) nothing is adopted
    assert adopt_next_epoch_state(config) is None
    text = folder.config.read_text()
    folder.config.write_text(
        text.replace("key_epoch = 1", "key_epoch = 2").replace('"secret.key"', '"secret-2.key"')
    )
    moved = load_client_config(folder.config, {})
    # pointer tokens are sealed under the epoch in force
    assert folder.session().pointer_epoch == 2
    note = adopt_next_epoch_state(moved)
    assert note is not None
    assert "upload-state.epoch-2.sqlite" in note
    with UploadState(state_file) as state:
        assert state.get_meta("which") == "epoch-2"
    retired = state_file.with_name("upload-state.retired-epoch-1.sqlite")
    with UploadState(retired) as state:
        assert state.get_meta("which") == "epoch-1"
    assert not next_state_path(state_file, 2).exists()
    assert adopt_next_epoch_state(moved) is None
    # a second rotation's state beside a retired one of the same epoch is not overwritten
    with UploadState(next_state_path(state_file, 2)) as state:
        state.set_meta("which", "again")
    with pytest.raises(FailedPreconditionError, match="both exist"):
        adopt_next_epoch_state(moved)
    with UploadState(state_file) as state:
        assert state.get_meta("which") == "epoch-2"


def test_the_audit_heads_kept_survive_the_adoption(tmp_path: Path) -> None:
    """The heads agency-client status kept (the agency's anchors of the matcher's audit
    log) are in the state that takes the old one's place, not only in the retired file."""
    folder = _folder(tmp_path)
    state_file = load_client_config(folder.config, {}).state_file
    kept = [common_pb2.AuditHead(sequence=n, entry_hash=bytes([n]) * 32) for n in (3, 7)]
    with UploadState(state_file) as state:
        for head in kept:
            assert remember_audit_head(state, head) is None
    with UploadState(next_state_path(state_file, 2)) as state:
        state.set_meta("which", "epoch-2")
    text = folder.config.read_text()
    folder.config.write_text(
        text.replace("key_epoch = 1", "key_epoch = 2").replace('"secret.key"', '"secret-2.key"')
    )
    assert adopt_next_epoch_state(load_client_config(folder.config, {})) is not None
    with UploadState(state_file) as state:
        assert state.get_meta("which") == "epoch-2"
        assert [(h.sequence, h.entry_hash) for h in kept_audit_heads(state)] == [
            (3, bytes([3]) * 32),
            (7, bytes([7]) * 32),
        ]
        # a head lower than one kept before the rotation still warns
        warning = remember_audit_head(
            state, common_pb2.AuditHead(sequence=5, entry_hash=b"\x05" * 32)
        )
    assert warning is not None
    assert "entry 7" in warning


def test_the_next_state_belongs_to_the_next_secret(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    _with_rotation(folder, 'key_epoch = 2\nsecret_file = "secret-2.key"\n')
    following = next_epoch_session(folder.session())
    assert following is not None
    with following.state() as state:
        check_rotation_secret(following, state)  # remembered
        check_rotation_secret(following, state)  # the same secret: fine
    # an abandoned rotation, begun again to epoch 2 with a new secret
    (folder.root / "secret-2.key").write_text(secrets.token_hex(32) + "\n")
    again = next_epoch_session(folder.session())
    assert again is not None
    with again.state() as state, pytest.raises(FailedPreconditionError) as refused:
        check_rotation_secret(again, state)
    assert "upload-state.epoch-2.sqlite was written for key epoch 2 with another" in str(
        refused.value
    )
    new_secret = (folder.root / "secret-2.key").read_text().strip()
    assert new_secret not in str(refused.value)
