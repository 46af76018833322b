"""Small file helpers for key material: 0600 private files, atomic public files, a lock.

Private files are read by :func:`linkage.private_files.read_private_file` (the
project's one rule for files that hold secrets), re-exported here.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from linkage.errors import AlreadyExistsError, StorageError
from linkage.private_files import read_private_file

__all__ = ["exclusive_lock", "read_private_file", "write_private_file", "write_public_file"]

_PRIVATE_MODE = 0o600


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 and write ``data``; never overwrites an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_MODE)
    except FileExistsError:
        raise AlreadyExistsError(f"{path}: already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise StorageError(f"{path}: cannot create ({exc.strerror})") from None
    try:
        os.fchmod(fd, _PRIVATE_MODE)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write ({exc.strerror})") from None
    os.close(fd)


def write_public_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Atomically replace ``path`` with ``data`` (temp file in the same directory, then rename).

    Readers see either the old or the new content, never a partial file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write ({exc.strerror})") from None


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created 0600) for the block."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, _PRIVATE_MODE)
    except OSError as exc:
        raise StorageError(f"{path}: cannot open lock file ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
