"""The one rule for files that hold secrets, and the one way to read them.

Every private file the project reads (TLS private keys, the CA key and its passphrase
file, the linkage secret, pointer keys, the gateway token) goes through
:func:`read_private_file` or, where a caller reads the bytes itself, is checked by
:func:`private_file_problem`. The rule:

* the file is opened without following a symbolic link (``O_NOFOLLOW``): a link is
  refused, so a secret cannot be redirected to, or swapped for, another file;
* it must be a regular file, and the mode is read from the opened descriptor (``fstat``),
  so the file checked is the file read;
* it may give no permission to group or others (0600, 0400). With ``root_group`` (the
  rule PostgreSQL applies to its server key), a file owned by root may also be read by
  its group (0640, 0440): a service account reading a key that root provisions. That is
  the rule for files an administrator provisions (TLS keys, the linkage secret, the
  gateway token); files the project's own tools create at 0600 (the CA key and its
  passphrase file, pointer keys) keep the strict rule.

Folders that hold private data (the matcher's SQLite database and its ``-wal`` and
``-shm`` files) keep the rule PostgreSQL keeps for its data directory: the folder gives
no access to group or others (0700), and neither does any file in it (0600); both are
created so whatever the umask (:func:`ensure_private_directory`,
:func:`create_private_file`), and a process refuses to start on one open to others,
naming it and the ``chmod`` that fixes it (:func:`private_directory_problem`).

Modes are not checked on Windows, whose permission bits say nothing about this.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from linkage.errors import ConfigError, NotFoundError

__all__ = [
    "create_private_file",
    "ensure_private_directory",
    "mode_problem",
    "private_directory_problem",
    "private_file_problem",
    "read_private_file",
]

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


def mode_problem(
    path: Path, what: str, info: os.stat_result, *, root_group: bool = False
) -> str | None:
    """Why a file with this status may not hold a secret, or None (the rule above)."""
    if not stat.S_ISREG(info.st_mode):
        return f"the {what} at {path} is not a regular file"
    if os.name == "nt":
        return None
    mode = stat.S_IMODE(info.st_mode)
    group_read_by_root = root_group and info.st_uid == 0 and not mode & 0o037
    if mode & 0o077 and not group_read_by_root:
        accepted = (
            "; 0640 is accepted for a file owned by root and read through its group"
            if root_group
            else ""
        )
        return (
            f"the {what} at {path} is open to other users (mode {mode:04o}); "
            f"run chmod 600 on it (no access for group or others{accepted})"
        )
    return None


def _open(path: Path, what: str) -> int:
    try:
        return os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise NotFoundError(f"cannot read the {what} at {path}: it does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ConfigError(
                f"the {what} at {path} is a symbolic link; name the file itself, not a link"
            ) from None
        raise ConfigError(f"cannot read the {what} at {path}: {exc.strerror}") from None


def read_private_file(
    path: Path, what: str, *, root_group: bool = False, max_bytes: int | None = None
) -> bytes:
    """The bytes of a private file, refused (:class:`ConfigError`) unless it keeps the
    rule; :class:`NotFoundError` when it does not exist. ``max_bytes`` refuses a larger
    file (a secret has a known size)."""
    fd = _open(path, what)
    try:
        info = os.fstat(fd)
        problem = mode_problem(path, what, info, root_group=root_group)
        if problem is not None:
            raise ConfigError(problem)
        if max_bytes is not None and info.st_size > max_bytes:
            raise ConfigError(
                f"the {what} at {path} is too large ({info.st_size} bytes; at most {max_bytes})"
            )
        chunks: list[bytes] = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
            if max_bytes is not None and sum(map(len, chunks)) > max_bytes:
                raise ConfigError(f"the {what} at {path} is too large (at most {max_bytes} bytes)")
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} at {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def private_file_problem(path: Path, what: str, *, root_group: bool = True) -> str | None:
    """Why ``path`` may not hold a secret, or None: :func:`read_private_file`'s checks
    without reading it (``root_group`` accepted unless turned off), a file that cannot be
    opened (missing, a link) included."""
    try:
        fd = _open(path, what)
    except (ConfigError, NotFoundError) as exc:
        return exc.message
    try:
        return mode_problem(path, what, os.fstat(fd), root_group=root_group)
    finally:
        os.close(fd)


def private_directory_problem(path: Path, what: str) -> str | None:
    """Why folder ``path`` may not hold private files, or None: it must be a folder that
    gives no access to group or others (a link to such a folder is followed)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        return f"cannot read the {what} at {path}: {exc.strerror}"
    if not stat.S_ISDIR(info.st_mode):
        return f"the {what} at {path} is not a folder"
    if os.name == "nt":
        return None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return (
            f"the {what} at {path} is open to other users (mode {mode:04o}); "
            f"run chmod 700 on it (no access for group or others)"
        )
    return None


def ensure_private_directory(path: Path, what: str) -> None:
    """Create folder ``path`` (and missing parents) 0700 whatever the umask, or check the
    one that exists; :class:`ConfigError` naming it and the fix when it is open to others."""
    if not os.path.lexists(path):
        try:
            os.makedirs(path.parent, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass  # made by another process in the meantime: checked below
        except OSError as exc:
            raise ConfigError(f"cannot create the {what} at {path}: {exc.strerror}") from None
        else:
            os.chmod(path, 0o700)  # the umask may have taken the owner's bits too
    problem = private_directory_problem(path, what)
    if problem is not None:
        raise ConfigError(problem)


def create_private_file(path: Path, what: str) -> None:
    """Create an empty file 0600 whatever the umask, unless ``path`` exists; then check it
    (:func:`private_file_problem`'s rule, strict): :class:`ConfigError` when it fails."""
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
        )
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigError(f"cannot create the {what} at {path}: {exc.strerror}") from None
    else:
        try:
            if os.name != "nt":
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    problem = private_file_problem(path, what, root_group=False)
    if problem is not None:
        raise ConfigError(problem)
