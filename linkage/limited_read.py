"""Reading a whole small file (a configuration, a schema) with a bound on its size.

``Path.read_bytes`` reads until the end, so a configuration named by mistake as
``/dev/zero``, a device or a runaway file grows the process until it runs out of memory.
:func:`read_limited` reads at most one byte more than the limit and refuses a longer file
with the caller's error class, naming the file, never its content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from linkage.errors import ConfigError, InvalidInputError

__all__ = ["MAX_CONFIG_BYTES", "MAX_SCHEMA_BYTES", "read_limited"]

#: the largest server.toml, agency.toml or mapping file read
MAX_CONFIG_BYTES: Final = 1 << 20
#: the largest linkage schema (JSON) read; the shipped ones are under 7 KiB
MAX_SCHEMA_BYTES: Final = 4 << 20


def read_limited(
    path: Path,
    limit: int,
    what: str,
    error: type[InvalidInputError] = ConfigError,
) -> bytes:
    """The bytes of ``path``, at most ``limit`` of them; a longer file is ``error`` naming
    ``what`` and the file. ``OSError`` passes through, for the caller to name."""
    with path.open("rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise error(f"{what} {path.name} is larger than {limit:,} bytes; is it the right file?")
    return data
