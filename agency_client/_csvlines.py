"""The lines of a CSV file, each of bounded length, for :func:`csv.reader`.

A text stream's own line iterator reads until it finds a line end, so a file without one
(``/dev/zero``, a binary file, a runaway export) grows a single line until the process runs
out of memory. Every CSV the agency client reads (the export, the events file, the consent
file) goes through :func:`bounded_lines` instead: a line longer than :data:`MAX_LINE_CHARS`
is one :class:`InvalidInputError` naming the file and the line number, never its content.
A quoted cell may still span lines; :mod:`csv` joins them (and refuses a cell over its own
``field_size_limit``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, TextIO

from linkage.errors import InvalidInputError

__all__ = ["MAX_LINE_CHARS", "bounded_lines"]

#: the longest line (in characters, line end included) of any CSV the agency client reads
MAX_LINE_CHARS: Final = 1 << 20


def bounded_lines(stream: TextIO, name: str, limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of ``stream`` (opened with ``newline=""``) with their line ends; a line
    of more than ``limit`` characters raises InvalidInputError naming ``name`` and the line."""
    number = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith("\n"):
            raise InvalidInputError(
                f"{name}: line {number} is longer than {limit:,} characters; "
                "is it a CSV file with line ends?"
            )
        yield line
