"""Check that every exported row maps through its agency's mapping (``faker_us``).

Each ``<agency_id>.mapping.toml`` is wrapped in a temporary ``agency.toml`` (the default
schema and a throw-away secret, which mapping never uses) and every row of the export
goes through the agency client's :class:`~agency_client._mapping.RowMapper`, as
``agency-client encode`` would map it.
"""

from __future__ import annotations

import csv
import json
import secrets
import tempfile
from pathlib import Path

from agency_client._config import load_agency_config
from agency_client._mapping import MappedRow, RowMapper

__all__ = ["map_export", "verify_exports"]


def map_export(out_dir: Path, agency_id: str) -> tuple[list[MappedRow], list[str]]:
    """Map one agency's export: the mapped rows and a line for each rejected row."""
    environ = {"FAKER_US_SECRET": secrets.token_hex(32)}
    mapping = (out_dir / f"{agency_id}.mapping.toml").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agency.toml"
        path.write_text(
            f'[agency]\nname = "{agency_id}"\nkey_epoch = 1\n\n'
            '[secret]\nenv = "FAKER_US_SECRET"\n\n[schema]\nfile = "default"\n\n' + mapping,
            encoding="utf-8",
        )
        config = load_agency_config(path, environ)
    with (out_dir / f"{agency_id}.csv").open(encoding=config.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=config.delimiter)
        header = next(reader)
        mapper = RowMapper(config, header)
        mapped: list[MappedRow] = []
        rejected: list[str] = []
        for number, row in enumerate(reader, start=1):
            result = mapper.map_row(number, row)
            if isinstance(result, list):
                rejected.extend(f"{p.location}: {p.reason}" for p in result)
            else:
                mapped.append(result)
    return mapped, rejected


def verify_exports(out_dir: Path) -> dict[str, int]:
    """The number of mapped rows per agency.

    :raises ValueError: naming the first rejected rows when any row does not map.
    """
    agencies = json.loads((out_dir / "agencies.json").read_text(encoding="utf-8"))
    counts: dict[str, int] = {}
    problems: list[str] = []
    for agency in agencies:
        agency_id = str(agency["agency_id"])
        mapped, rejected = map_export(out_dir, agency_id)
        counts[agency_id] = len(mapped)
        problems.extend(f"{agency_id} {line}" for line in rejected)
    if problems:
        raise ValueError(f"{len(problems)} exported rows do not map:\n" + "\n".join(problems[:20]))
    return counts
