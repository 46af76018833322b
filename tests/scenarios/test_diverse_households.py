"""Smoke test of the diverse-households scenario generator (benchmarks/scenarios/README.md).

A 300-person scenario: the contract's files and columns, every export row mapped (and
encoded) through its own mapping with no rejection, truth covering each record once,
query person IDs, determinism for a seed; households and twins in a larger population.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
from collections import Counter
from pathlib import Path

import pytest

from agency_client._config import AgencyConfig, load_agency_config
from agency_client._mapping import RowMapper
from benchmarks.scenarios.diverse_households import build_population, generate
from benchmarks.scenarios.diverse_households._names import Surname

pytestmark = pytest.mark.unit

PEOPLE = 300
SEED = 11
QUERY_COLUMNS = [
    "query_id",
    "kind",
    "person_id",
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
]
KINDS = ("known_clean", "known_noisy", "known_name_dob", "stranger_full", "stranger_name_dob")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("diverse_households")
    generate(PEOPLE, SEED, out)
    return out


def agencies(out: Path) -> list[dict[str, str]]:
    listing: list[dict[str, str]] = json.loads((out / "agencies.json").read_text("utf-8"))
    return listing


def config_for(out: Path, entry: dict[str, str], folder: Path) -> AgencyConfig:
    """The mapping wrapped in the tables a site's agency.toml adds."""
    path = folder / f"{entry['agency_id']}.agency.toml"
    path.write_text(
        '[agency]\nname = "test"\nkey_epoch = 1\n\n[secret]\nenv = "SCENARIO_SECRET"\n\n'
        '[schema]\nfile = "default"\n\n' + (out / entry["mapping"]).read_text("utf-8"),
        encoding="utf-8",
    )
    return load_agency_config(path, {"SCENARIO_SECRET": secrets.token_hex(32)})


def read_export(out: Path, entry: dict[str, str], config: AgencyConfig) -> list[list[str]]:
    with (out / entry["export"]).open(newline="", encoding=config.encoding) as stream:
        return list(csv.reader(stream, delimiter=config.delimiter))


def test_files_and_columns(scenario: Path) -> None:
    listing = agencies(scenario)
    ids = [a["agency_id"] for a in listing]
    assert len(set(ids)) == len(ids) >= 4
    assert {"police", "mental-health", "hospital-ed", "aod-programme", "ambulance"} <= set(ids)
    for entry in listing:
        assert set(entry) == {"agency_id", "display_name", "export", "mapping"}
        assert re.fullmatch(r"[a-z0-9-]+", entry["agency_id"])
        assert entry["export"] == f"{entry['agency_id']}.csv"
        assert entry["mapping"] == f"{entry['agency_id']}.mapping.toml"
        assert (scenario / entry["export"]).stat().st_size > 0
        mapping = (scenario / entry["mapping"]).read_text("utf-8")
        assert "[input]" in mapping
        assert "[features." in mapping
        assert "[secret]" not in mapping
        assert "[agency]" not in mapping
    with (scenario / "truth.csv").open(newline="", encoding="utf-8") as stream:
        assert next(csv.reader(stream)) == ["agency_id", "local_id", "person_id"]
    with (scenario / "queries.csv").open(newline="", encoding="utf-8") as stream:
        assert next(csv.reader(stream)) == QUERY_COLUMNS
    meta = json.loads((scenario / "meta.json").read_text("utf-8"))
    assert meta["generator"] == "diverse_households"
    assert (meta["seed"], meta["people"]) == (SEED, PEOPLE)
    assert meta["assumptions"]
    assert meta["rates"]
    assert meta["unexpressible_by_the_mapping_options"]


def test_every_row_maps_and_encodes(scenario: Path, tmp_path: Path) -> None:
    for entry in agencies(scenario):
        config = config_for(scenario, entry, tmp_path)
        header, *rows = read_export(scenario, entry, config)
        assert rows, entry["agency_id"]
        mapper = RowMapper(config, header)
        values = []
        for number, row in enumerate(rows, start=1):
            mapped = mapper.map_row(number, row)
            assert not isinstance(mapped, list), (entry["agency_id"], number, mapped)
            values.append(mapped.values)
        encoder = config.encoding_schema.encoder(config.secret.reveal(), key_epoch=1)
        batch = encoder.encode_valid(values)
        assert not batch.problems, (entry["agency_id"], batch.problems[:3])


def test_truth_covers_every_record_once(scenario: Path, tmp_path: Path) -> None:
    exported: list[tuple[str, str]] = []
    for entry in agencies(scenario):
        config = config_for(scenario, entry, tmp_path)
        header, *rows = read_export(scenario, entry, config)
        assert config.record_key is not None
        key = header.index(config.record_key)
        exported.extend((entry["agency_id"], row[key]) for row in rows)
    with (scenario / "truth.csv").open(newline="", encoding="utf-8") as stream:
        truth = [(r["agency_id"], r["local_id"], r["person_id"]) for r in csv.DictReader(stream)]
    pairs = [(agency, local) for agency, local, _ in truth]
    assert len(set(pairs)) == len(pairs) == len(exported)
    assert set(pairs) == set(exported)
    people = {person for _, _, person in truth}
    assert all(person for person in people)
    assert len(people) <= PEOPLE
    per_person = Counter(person for _, _, person in truth)
    assert max(per_person.values()) >= 2  # people appear in several agencies


def test_queries(scenario: Path) -> None:
    with (scenario / "truth.csv").open(newline="", encoding="utf-8") as stream:
        held = {r["person_id"] for r in csv.DictReader(stream)}
    with (scenario / "queries.csv").open(newline="", encoding="utf-8") as stream:
        queries = list(csv.DictReader(stream))
    assert Counter(q["kind"] for q in queries) == dict.fromkeys(KINDS, 300)
    assert len({q["query_id"] for q in queries}) == len(queries)
    for query in queries:
        if query["kind"].startswith("known"):
            assert query["person_id"] in held
        else:
            assert query["person_id"] == ""
            assert query["person_id"] not in held
        assert query["given_name"] or query["surname"]
        assert query["sex"] in ("m", "f", "")
        assert query["date_of_birth"] == "" or re.fullmatch(
            r"\d{4}-\d{2}-\d{2}", query["date_of_birth"]
        )
        if query["kind"].endswith("name_dob"):
            assert not (query["phone"])
            assert not (query["street_address"])
            assert not (query["postcode"])
    clean = [q for q in queries if q["kind"] in ("known_clean", "stranger_full")]
    assert all(q["date_of_birth"] and q["street_address"] for q in clean)


def test_deterministic_for_a_seed(scenario: Path, tmp_path: Path) -> None:
    generate(PEOPLE, SEED, tmp_path / "again")
    for path in sorted(scenario.iterdir()):
        assert (tmp_path / "again" / path.name).read_bytes() == path.read_bytes(), path.name
    generate(PEOPLE, SEED + 1, tmp_path / "other")
    assert (tmp_path / "other" / "truth.csv").read_bytes() != (scenario / "truth.csv").read_bytes()


def test_households_and_twins() -> None:
    population = build_population(3000, seed=5)
    assert len(population.people) == 3000
    sizes = Counter(len(members) for members in population.households)
    assert max(sizes) <= 6
    assert sizes[1]
    assert sum(n for size, n in sizes.items() if size >= 3)
    for members in population.households:
        if len(members) > 1:
            people = [population.people[i] for i in members]
            # everyone in a household lives at the household's current address
            now = {p.residences[-1].address for p in people}
            assert len(now) == 1
    sets: dict[int, list[int]] = {}
    for person in population.people:
        if person.multiple_birth:
            sets.setdefault(person.multiple_birth, []).append(person.index)
    assert population.multiple_births >= 1
    assert sets
    for members in sets.values():
        siblings = [population.people[i] for i in members]
        assert 2 <= len(siblings) <= 3
        assert len({p.dob for p in siblings}) == 1
        assert len({p.household for p in siblings}) == 1
        assert len({family_name(p.surname) for p in siblings}) == 1


def family_name(surname: Surname) -> str:
    """The inherited family name (Singh / Kaur and Ivanov / Ivanova differ by sex)."""
    if surname.kind == "sikh":
        return surname.family
    return surname.family or surname.forms[0]
