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
one is kept as ``NAME.retired-epoch-N.sqlite``, N the epoch it was written in), so
nothing is sent again.
"""

from __future__ import annotations

import dataclasses
import os
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
    "remember_state_epoch",
]

#: The files of one SQLite state (the database and its write-ahead log).
_SUFFIXES = ("", "-wal", "-shm")
#: The next epoch's state keeps a keyed digest of the secret it was written with.
_CHECK_META = "rotation_secret_check"
#: The key epoch the state in force was written in (named by the retired file).
_EPOCH_META = "key_epoch"


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


def remember_state_epoch(state: UploadState, key_epoch: int) -> None:
    """Note in the state in force which key epoch it was written in, so that a rotation's
    adoption names the retired file by that epoch (:func:`adopt_next_epoch_state`)."""
    if state.get_meta(_EPOCH_META) != str(key_epoch):
        state.set_meta(_EPOCH_META, str(key_epoch))


def _adoption_marker(state_file: Path) -> Path:
    return state_file.with_name(state_file.name + ".adopting")


def _write_marker(marker: Path, old_epoch: int) -> None:
    """The adoption in progress names the old epoch (written atomically, before anything
    is moved, so that a rerun after a crash knows where it stood)."""
    partial = marker.with_name(marker.name + ".tmp")
    with partial.open("w", encoding="ascii") as out:
        out.write(f"{old_epoch}\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, marker)


def _old_epoch(state: Path, new_epoch: int) -> int:
    """The key epoch the state in force was written in (a state from before this was
    noted: the epoch below the new one)."""
    if state.exists():
        with UploadState(state) as before:
            noted = before.get_meta(_EPOCH_META)
        if noted is not None and noted.isdigit():
            return int(noted)
    return new_epoch - 1 if new_epoch else new_epoch


def _move(source: Path, target: Path) -> None:
    """Move one SQLite state (its database last, so that while the database is still at
    ``source`` the move has not happened); files already moved are skipped."""
    for suffix in (*_SUFFIXES[1:], _SUFFIXES[0]):
        old = source.with_name(source.name + suffix)
        if old.exists():
            os.replace(old, target.with_name(target.name + suffix))


def adopt_next_epoch_state(config: ClientConfig) -> str | None:
    """After a finished rotation (``[agency] key_epoch`` is the former next epoch and
    ``[rotation]`` is gone): the next epoch's state becomes the state, the old one is
    kept aside as ``NAME.retired-epoch-OLD.sqlite``. Returns a note saying so, or None
    when there is nothing to adopt.

    Recoverable: a marker file beside the state (``NAME.sqlite.adopting``, naming the old
    epoch) is written before anything moves and removed last; a command that finds it
    (after a crash at any point) completes the adoption. The old state moves before the
    next epoch's, each with its database last."""
    epoch = config.encoding.key_epoch
    rotated = next_state_path(config.state_file, epoch)
    state = config.state_file
    marker = _adoption_marker(state)
    resuming = marker.exists()
    if config.rotation is not None or not (rotated.exists() or resuming):
        return None
    if resuming:
        text = marker.read_text(encoding="ascii").strip()
        old_epoch = int(text) if text.isdigit() else _old_epoch(state, epoch)
    else:
        old_epoch = _old_epoch(state, epoch)
    retired = _retired_path(state, old_epoch)
    if not resuming:
        if any(retired.with_name(retired.name + s).exists() for s in _SUFFIXES):
            raise FailedPreconditionError(
                f"{rotated.name} and {retired.name} both exist: move one of them away "
                "(the state of a rotation cannot be adopted twice)"
            )
        if state.exists():
            # the audit heads status kept (the agency's anchors of the matcher's audit
            # log) stay with the state in use, before anything is moved (carrying them
            # again on a rerun changes nothing)
            with UploadState(state) as before, UploadState(rotated) as after:
                carry_audit_heads(before, after)
        _write_marker(marker, old_epoch)
    if rotated.exists():
        # the old state has moved once its database has; until then it is moved (again)
        if state.exists():
            _move(state, retired)
        _move(rotated, state)
    marker.unlink(missing_ok=True)
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
