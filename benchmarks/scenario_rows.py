"""Synthetic multi-agency exports mapped to schema rows, as each agency's client maps them.

Shared by the probabilistic service benchmark, scripts/gen_prior_model.py and the service
tests: every agency's export of :func:`linkage.synth.generate_scenario` goes through that
agency's own ``[input]``/``[features.*]`` mapping (agency_client's RowMapper), so the rows
carry exactly what ``agency-client encode`` would encode.
"""

from __future__ import annotations

import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agency_client._config import load_agency_config
from agency_client._mapping import RowMapper
from linkage.synth import generate_scenario

__all__ = ["MappedRow", "mapped_rows"]


@dataclass(frozen=True, slots=True)
class MappedRow:
    """One export row mapped to the schema's features, with its truth."""

    agency_id: str
    local_id: str
    person_id: str
    #: the person's surname and date of birth: equal for twins
    family: str
    values: tuple[str | None, ...]


def mapped_rows(people: int, seed: int) -> list[MappedRow]:
    """Every agency's rows of a ``people``-person scenario (unmappable rows skipped, as
    the client skips and reports them)."""
    scenario = generate_scenario(people=people, seed=seed)
    person_of = {(t.agency_id, t.local_id): t.person_id for t in scenario.truth}
    family = {p.person_id: f"{p.surname}|{p.date_of_birth}" for p in scenario.people}
    environ = {"SCENARIO_SECRET": secrets.token_hex(32)}  # the mapping needs none; config does
    out: list[MappedRow] = []
    with tempfile.TemporaryDirectory() as folder:
        for export in scenario.exports:
            agency = export.agency
            path = Path(folder) / f"{agency.agency_id}.toml"
            path.write_text(
                f'[agency]\nname = "{agency.display_name}"\nkey_epoch = 1\n\n'
                '[secret]\nenv = "SCENARIO_SECRET"\n\n[schema]\nfile = "default"\n\n'
                + agency.mapping_toml,
                encoding="utf-8",
            )
            mapper = RowMapper(load_agency_config(path, environ), agency.header)
            for line, row in enumerate(export.rows, start=1):
                mapped = mapper.map_row(line, row)
                if isinstance(mapped, list):
                    continue
                person_id = person_of[(agency.agency_id, row[0])]
                out.append(
                    MappedRow(
                        agency.agency_id, row[0], person_id, family[person_id], tuple(mapped.values)
                    )
                )
    return out
