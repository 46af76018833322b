"""The schema migration runner both engines share.

A store's schema is a tuple of migrations (:mod:`linkage.store._sqlite_schema`,
:mod:`linkage.store._pg_schema`); migration ``i`` moves it from version ``i`` to
``i + 1``, and the version reached is kept in the one-row table ``schema_version``.
:func:`migrate` runs inside the caller's transaction, which holds the engine's writer
lock (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's advisory lock), so two processes opening
one store never migrate it twice. A store newer than the program is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from linkage.errors import StorageError

__all__ = ["migrate"]

#: Runs one statement with parameters and returns its first row (or None).
FetchOne = Callable[[str, tuple[object, ...]], Sequence[Any] | None]


def migrate(
    fetch_one: FetchOne,
    run_script: Callable[[str], None],
    migrations: Sequence[str],
    *,
    where: str,
    placeholder: str,
) -> None:
    """Bring the schema to ``len(migrations)`` inside the caller's locked transaction.

    ``fetch_one`` runs one statement (with ``placeholder`` as its parameter marker);
    ``run_script`` runs one migration's statements. ``where`` names the store in the
    message that refuses a schema newer than the program.
    """
    latest = len(migrations)
    fetch_one("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", ())
    row = fetch_one("SELECT version FROM schema_version", ())
    version = 0 if row is None else int(row[0])
    if version > latest:
        raise StorageError(
            f"the store at {where} has schema version {version}, newer than this "
            f"program's {latest}; upgrade the program"
        )
    for script in migrations[version:]:
        run_script(script)
    if row is None:
        fetch_one(f"INSERT INTO schema_version VALUES ({placeholder})", (latest,))
    elif version != latest:
        fetch_one(f"UPDATE schema_version SET version = {placeholder}", (latest,))
