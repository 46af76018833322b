"""The SQLite store's files are private (docs/security.md, "Files the way PostgreSQL
keeps its data directory"): the database, its ``-wal``, ``-shm`` and ``-journal`` files
and their folder give no access to group or others, whatever the umask.

SQLite creates its ``-wal``, ``-shm`` and ``-journal`` files with the mode of the
database file, so a database created 0600 keeps them 0600; files that exist are checked,
and a store open to other users is refused, naming the file and the ``chmod`` to run.
"""

from __future__ import annotations

from pathlib import Path

from linkage.errors import ConfigError
from linkage.private_files import (
    create_private_file,
    ensure_private_directory,
    private_file_problem,
)

__all__ = ["SQLITE_SIDE_FILES", "prepare_private_database"]

#: The files SQLite keeps beside a database in WAL mode (and in rollback mode).
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def prepare_private_database(path: Path) -> None:
    """Create the database's folder (0700) and file (0600) where missing; refuse
    (:class:`ConfigError`) a folder or any of its files that is open to other users."""
    ensure_private_directory(path.parent, "database folder")
    create_private_file(path, "database file")
    for suffix in SQLITE_SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists() or side.is_symlink():
            problem = private_file_problem(side, f"database file ({suffix[1:]})", root_group=False)
            if problem is not None:
                raise ConfigError(problem)
