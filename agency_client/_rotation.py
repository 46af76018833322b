"""The agency's side of a key-epoch rotation (docs/key-rotation.md).

While agency.toml has a ``[rotation]`` table, ``agency-client upload`` sends the export
twice: in the key epoch in force (``[agency] key_epoch``, ``[secret]``), as always, and in
the next one (``[rotation] key_epoch`` and its secret), beside it. Each epoch keeps its
own upload state, so each sends only what changed: the next epoch's lives beside the
state file as ``NAME.epoch-N.sqlite`` (:func:`next_state_path`), and the first upload
after the rotation began sends every record in the next epoch. Its pointer tokens are
sealed under the next epoch.

When the operator has finished the rotation, the agency moves the next epoch into
``[agency] key_epoch`` and ``[secret]`` and removes ``[rotation]``; the next command
then takes the next epoch's state as the state (:func:`adopt_next_epoch_state`; the old
one is kept as ``NAME.retired-epoch-N.sqlite``), so nothing is sent again.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from agency_client._audit_heads import carry_audit_heads
from agency_client._client_config import ClientConfig
from agency_client._session import AgencySession
from agency_client._state import UploadState
from linkage.errors import FailedPreconditionError

__all__ = [
    "adopt_next_epoch_state",
    "check_rotation_secret",
    "next_epoch_session",
    "next_state_path",
]

#: The files of one SQLite state (the database and its write-ahead log).
_SUFFIXES = ("", "-wal", "-shm")
#: The next epoch's state keeps a keyed digest of the secret it was written with.
_CHECK_META = "rotation_secret_check"


def next_state_path(state_file: Path, key_epoch: int) -> Path:
    """Where the upload state of key epoch ``key_epoch`` lives during a rotation."""
    return state_file.with_name(f"{state_file.stem}.epoch-{key_epoch}{state_file.suffix}")


def _retired_path(state_file: Path, key_epoch: int) -> Path:
    return state_file.with_name(f"{state_file.stem}.retired-epoch-{key_epoch}{state_file.suffix}")


def next_epoch_session(session: AgencySession) -> AgencySession | None:
    """The session that uploads the next epoch of a rotation (None without one): the next
    epoch's encoding and secret, its own state, pointer tokens sealed under it."""
    rotation = session.config.rotation
    if rotation is None:
        return None
    config = dataclasses.replace(
        session.config,
        encoding=rotation.encoding,
        state_file=next_state_path(session.config.state_file, rotation.key_epoch),
        rotation=None,
    )
    return dataclasses.replace(session, config=config, pointer_epoch=rotation.key_epoch)


def adopt_next_epoch_state(config: ClientConfig) -> str | None:
    """After a finished rotation (``[agency] key_epoch`` is the former next epoch and
    ``[rotation]`` is gone): the next epoch's state becomes the state, the old one is
    kept aside. Returns a note saying so, or None when there is nothing to adopt."""
    epoch = config.encoding.key_epoch
    rotated = next_state_path(config.state_file, epoch)
    if config.rotation is not None or not rotated.exists():
        return None
    state = config.state_file
    retired = _retired_path(state, epoch - 1 if epoch else epoch)
    if any(retired.with_name(retired.name + s).exists() for s in _SUFFIXES):
        raise FailedPreconditionError(
            f"{rotated.name} and {retired.name} both exist: move one of them away "
            "(the state of a rotation cannot be adopted twice)"
        )
    if state.exists():
        # the audit heads status kept (the agency's anchors of the matcher's audit log)
        # stay with the state in use, before anything is moved
        with UploadState(state) as before, UploadState(rotated) as after:
            carry_audit_heads(before, after)
    for suffix in _SUFFIXES:
        old = state.with_name(state.name + suffix)
        if old.exists():
            old.rename(retired.with_name(retired.name + suffix))
    for suffix in _SUFFIXES:
        new = rotated.with_name(rotated.name + suffix)
        if new.exists():
            new.rename(state.with_name(state.name + suffix))
    return (
        f"key epoch {epoch} is in force: its upload state ({rotated.name}) is the state now; "
        f"the old one is kept as {retired.name}"
    )


def check_rotation_secret(session: AgencySession, state: UploadState) -> None:
    """The next epoch's state was written with this session's secret (it keeps a digest
    of it, keyed by the agency's own key). Another secret is a new rotation to the same
    epoch number (after an abandoned one): the old state would say every record was sent
    already, so it is refused, naming the file to delete."""
    secret = session.config.encoding.secret.reveal()
    check = session.keys.row_digest(b"rotation-secret/v1", [secret.hex()]).hex()
    seen = state.get_meta(_CHECK_META)
    if seen is None:
        state.set_meta(_CHECK_META, check)
    elif seen != check:
        raise FailedPreconditionError(
            f"{state.path.name} was written for key epoch "
            f"{session.config.encoding.key_epoch} with another linkage secret (an abandoned "
            "rotation?); delete it and upload again"
        )
