"""Map every exported row through its agency's mapping with the agency client's RowMapper,
as ``agency-client encode`` would, and count rejected rows and substituted values."""

from __future__ import annotations

import csv
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agency_client._config import AgencyConfig, load_agency_config
from agency_client._mapping import MappedRow, RowMapper

__all__ = ["MappingCheck", "check_export", "load_mapping"]

_SECRET_VARIABLE = "SCENARIO_MAPPING_CHECK_SECRET"


@dataclass(frozen=True, slots=True)
class MappingCheck:
    """The outcome of mapping one export: rows, rejected rows and their first problems."""

    rows: int
    rejected: int
    substitutions: int
    problems: tuple[str, ...]
    #: the mapped feature values of the accepted rows, by record key
    values: dict[str, list[str | None]]


def load_mapping(mapping_path: Path, display_name: str) -> AgencyConfig:
    """An ``AgencyConfig`` from a mapping file's ``[input]`` and ``[features.*]`` tables,
    wrapped in the ``[agency]``, ``[secret]`` and ``[schema]`` tables a site adds."""
    environ = {_SECRET_VARIABLE: secrets.token_hex(32)}
    escaped = display_name.replace("\\", "\\\\").replace('"', '\\"')
    text = (
        f'[agency]\nname = "{escaped}"\nkey_epoch = 1\n\n'
        f'[secret]\nenv = "{_SECRET_VARIABLE}"\n\n[schema]\nfile = "default"\n\n'
        + mapping_path.read_text(encoding="utf-8")
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agency.toml"
        path.write_text(text, encoding="utf-8")
        return load_agency_config(path, environ)


def check_export(export_path: Path, mapping_path: Path, display_name: str) -> MappingCheck:
    """Map every row of ``export_path`` with the mapping; nothing is encoded."""
    config = load_mapping(mapping_path, display_name)
    rejected = 0
    substitutions = 0
    problems: list[str] = []
    values: dict[str, list[str | None]] = {}
    rows = 0
    with export_path.open(newline="", encoding=config.encoding) as stream:
        reader = csv.reader(stream, delimiter=config.delimiter)
        header = next(reader)
        mapper = RowMapper(config, header)
        for number, row in enumerate(reader, start=1):
            rows += 1
            mapped = mapper.map_row(number, row)
            if isinstance(mapped, MappedRow):
                substitutions += len(mapped.substitutions)
                values[mapped.record_key or str(number)] = mapped.values
                continue
            rejected += 1
            if len(problems) < 10:
                problems.extend(f"{p.location}: {p.reason}" for p in mapped)
    return MappingCheck(rows, rejected, substitutions, tuple(problems), values)
