"""Reading an agency's own export back: local record IDs, and one record for ``deref``.

``deref`` looks records up in the export itself rather than in a separate local
index: the export already exists at the agency, an index would be one more copy
of PII to protect, and a linear scan of 100,000 rows takes well under a second.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from agency_client._client_config import ClientConfig
from agency_client._csvlines import bounded_lines
from linkage.errors import ConfigError, InvalidInputError

__all__ = ["find_record", "iter_local_ids"]


def _rows(config: ClientConfig, path: Path) -> Iterator[tuple[int, list[str], list[str]]]:
    column = config.record_id_column
    if column is None:
        raise ConfigError("set [input] record_key in agency.toml: the local record ID column")
    try:
        stream = path.open(newline="", encoding=config.encoding.encoding)
    except OSError as exc:
        raise InvalidInputError(f"cannot read the export {path.name}: {exc.strerror}") from None
    with stream:
        reader = csv.reader(bounded_lines(stream, path.name), delimiter=config.encoding.delimiter)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise InvalidInputError(f"{path.name} is empty (no header row)") from None
        except csv.Error:
            raise InvalidInputError(f"{path.name}: the header cannot be read as CSV") from None
        except UnicodeDecodeError:  # the first block read holds more than the header
            raise InvalidInputError(
                f"{path.name} is not valid {config.encoding.encoding} text"
            ) from None
        if column not in header:
            raise ConfigError(f"{path.name} has no column {column} ([input] record_key)")
        try:
            for number, row in enumerate(reader, start=1):
                yield number, header, row
        except (csv.Error, UnicodeDecodeError):
            raise InvalidInputError(f"{path.name} cannot be parsed as CSV") from None


def iter_local_ids(config: ClientConfig, path: Path) -> Iterator[str]:
    """Every non-empty local record ID of the export, in file order."""
    index: int | None = None
    for _, header, row in _rows(config, path):
        if index is None:
            index = header.index(str(config.record_id_column))
        if index < len(row) and row[index].strip():
            yield row[index].strip()


def find_record(config: ClientConfig, path: Path, local_id: str) -> dict[str, str] | None:
    """The first export row whose record ID is ``local_id``, by column, or ``None``."""
    index: int | None = None
    for _, header, row in _rows(config, path):
        if index is None:
            index = header.index(str(config.record_id_column))
        if index < len(row) and row[index].strip() == local_id:
            return dict(zip(header, row, strict=False))
    return None
