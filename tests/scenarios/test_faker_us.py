"""The faker_us scenario generator keeps the contract of benchmarks/scenarios/README.md.

A small population (300 people) is generated once into a temporary folder; the tests
check the files and columns, that every exported row maps through its mapping with the
agency client's RowMapper, the truth and the queries, determinism and the error model.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
from collections import Counter
from pathlib import Path

import pytest

from agency_client._config import load_agency_config
from agency_client._mapping import RowMapper
from benchmarks.scenarios.faker_us import generate
from benchmarks.scenarios.faker_us._generate import build_scenario

pytestmark = pytest.mark.unit

PEOPLE = 300
SEED = 7
QUERY_COLUMNS = [
    "query_id", "kind", "person_id", "given_name", "middle_name", "surname", "date_of_birth",
    "sex", "phone", "street_address", "suburb", "postcode", "state",
]  # fmt: skip
QUERY_KINDS = {"known_clean", "known_noisy", "known_name_dob", "stranger_full", "stranger_name_dob"}
SCHEMA_FEATURES = {
    "given_name", "middle_name", "surname", "date_of_birth", "sex", "phone", "street_address",
    "address_line_2", "suburb", "postcode", "state",
}  # fmt: skip


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faker_us")
    generate(PEOPLE, SEED, folder)
    return folder


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def agencies(out_dir: Path) -> list[dict[str, str]]:
    listing: list[dict[str, str]] = json.loads((out_dir / "agencies.json").read_text())
    return listing


def mapper_for(out_dir: Path, agency: dict[str, str], header: list[str], tmp: Path) -> RowMapper:
    config_path = tmp / f"{agency['agency_id']}.toml"
    config_path.write_text(
        '[agency]\nname = "test"\nkey_epoch = 1\n\n[secret]\nenv = "TEST_SECRET"\n\n'
        '[schema]\nfile = "default"\n\n'
        + (out_dir / agency["mapping"]).read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    config = load_agency_config(config_path, {"TEST_SECRET": secrets.token_hex(32)})
    return RowMapper(config, header)


def test_files_and_columns(out_dir: Path) -> None:
    listing = agencies(out_dir)
    assert len(listing) >= 4
    names = " ".join(a["display_name"].lower() for a in listing)
    for kind in ("police", "mental health", "emergency", "substance"):
        assert kind in names
    for agency in listing:
        assert re.fullmatch(r"[a-z0-9-]+", agency["agency_id"])
        assert agency["export"] == f"{agency['agency_id']}.csv"
        assert agency["mapping"] == f"{agency['agency_id']}.mapping.toml"
        mapping = (out_dir / agency["mapping"]).read_text(encoding="utf-8")
        tables = set(re.findall(r"^\[([^\]]+)\]", mapping, flags=re.MULTILINE))
        assert "input" in tables
        assert {t.removeprefix("features.") for t in tables - {"input"}} <= SCHEMA_FEATURES
        header, rows = read_csv(out_dir / agency["export"])
        assert rows
        assert all(len(row) == len(header) for row in rows)
    assert read_csv(out_dir / "truth.csv")[0] == ["agency_id", "local_id", "person_id"]
    assert read_csv(out_dir / "queries.csv")[0] == QUERY_COLUMNS
    meta = json.loads((out_dir / "meta.json").read_text())
    assert (meta["generator"], meta["seed"], meta["people"]) == ("faker_us", SEED, PEOPLE)
    assert meta["error_rates"]["per_record"]["moved"]["rate"] > 0


def test_every_exported_row_maps(out_dir: Path, tmp_path: Path) -> None:
    for agency in agencies(out_dir):
        header, rows = read_csv(out_dir / agency["export"])
        mapper = mapper_for(out_dir, agency, header, tmp_path)
        rejected = [
            result
            for number, row in enumerate(rows, start=1)
            if isinstance(result := mapper.map_row(number, row), list)
        ]
        assert rejected == [], agency["agency_id"]


def test_police_address_goes_whole_to_street_address(out_dir: Path, tmp_path: Path) -> None:
    police = next(a for a in agencies(out_dir) if "police" in a["display_name"].lower())
    header, rows = read_csv(out_dir / police["export"])
    mapper = mapper_for(out_dir, police, header, tmp_path)
    mapped = mapper.map_row(1, rows[0])
    assert not isinstance(mapped, list)
    street = mapped.values[6]  # schema order: ... phone, street_address, address_line_2, ...
    assert street is not None
    assert street.endswith(tuple("0123456789")) or street == "transient"


def test_truth_covers_every_record_once(out_dir: Path) -> None:
    _, truth = read_csv(out_dir / "truth.csv")
    keys = Counter((agency_id, local_id) for agency_id, local_id, _ in truth)
    assert max(keys.values()) == 1
    exported: set[tuple[str, str]] = set()
    for agency in agencies(out_dir):
        header, rows = read_csv(out_dir / agency["export"])
        mapping = (out_dir / agency["mapping"]).read_text(encoding="utf-8")
        found = re.search(r'^record_key = "([^"]+)"', mapping, flags=re.MULTILINE)
        assert found is not None
        key = header.index(found.group(1))
        ids = [row[key] for row in rows]
        assert len(set(ids)) == len(ids)
        exported.update((agency["agency_id"], local_id) for local_id in ids)
    assert exported == set(keys)


def test_queries_name_known_people_and_strangers(out_dir: Path) -> None:
    _, truth = read_csv(out_dir / "truth.csv")
    held = {person_id for _, _, person_id in truth}
    _, queries = read_csv(out_dir / "queries.csv")
    kinds = Counter(q[1] for q in queries)
    assert set(kinds) == QUERY_KINDS
    assert kinds["stranger_full"] == kinds["stranger_name_dob"] == 300
    assert kinds["known_clean"] == min(300, len(held))
    assert len({q[0] for q in queries}) == len(queries)
    for query in queries:
        kind, person_id, date_of_birth, sex = query[1], query[2], query[6], query[7]
        if kind.startswith("known"):
            assert person_id in held
        else:
            assert person_id == ""
        assert date_of_birth == "" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", date_of_birth)
        assert sex in {"m", "f", ""}
        if kind.endswith("name_dob"):
            assert query[7:] == ["", "", "", "", "", ""]
    scenario = build_scenario(PEOPLE, SEED)
    assert scenario.strangers
    assert not {s.person_id for s in scenario.strangers} & held
    assert {p.person_id for p in scenario.people} >= held


def test_generation_is_deterministic(out_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(PEOPLE, SEED, again)
    files = sorted(p.name for p in out_dir.iterdir())
    assert files == sorted(p.name for p in again.iterdir())
    for name in files:
        assert (again / name).read_bytes() == (out_dir / name).read_bytes(), name
    other = build_scenario(PEOPLE, SEED + 1)
    assert other.queries != build_scenario(PEOPLE, SEED).queries


def test_errors_occur(out_dir: Path) -> None:
    meta = json.loads((out_dir / "meta.json").read_text())
    made: Counter[str] = Counter()
    for counts in meta["realised_errors"].values():
        for kind, realised in counts.items():
            made[kind] += realised["count"]
    for kind in ("moved", "nickname", "middle_dropped", "phone_missing", "duplicate_record"):
        assert made[kind] > 0, kind
    assert sum(meta["records"].values()) == meta["records_total"] > PEOPLE
    assert meta["true_pairs"]["within_agency"] > 0
    assert meta["true_pairs"]["across_agencies"] > 0
    # and in the data itself: the police leave some DOBs empty and write one-column addresses
    police = next(a for a in agencies(out_dir) if "police" in a["display_name"].lower())
    header, rows = read_csv(out_dir / police["export"])
    assert any(row[header.index("DOB")] == "" for row in rows)
    address = header.index("ADDRESS")
    assert all(
        re.fullmatch(r"[^,]+, [^,]+, [A-Z]{2} \d{5}|TRANSIENT", row[address]) for row in rows
    )
