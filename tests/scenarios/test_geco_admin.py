"""The geco_admin scenario generator: its output contract (benchmarks/scenarios/README.md),
that every export row maps through its agency's mapping, truth, queries, determinism, and
each corruption kind of its GeCo-style corruptor."""

from __future__ import annotations

import csv
import json
import random
import re
import secrets
import tomllib
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from agency_client._config import load_agency_config
from agency_client._mapping import RowMapper
from benchmarks.scenarios.geco_admin import generate
from benchmarks.scenarios.geco_admin._agencies import AGENCIES
from benchmarks.scenarios.geco_admin._corrupt import (
    KEYPAD_NEIGHBOURS,
    QWERTY_NEIGHBOURS,
    Corruptor,
)
from benchmarks.scenarios.geco_admin._names import FEMALE, MALE, SURNAMES

pytestmark = pytest.mark.unit

PEOPLE = 300
SCHEMA_FEATURES = {
    "given_name",
    "middle_name",
    "surname",
    "date_of_birth",
    "sex",
    "phone",
    "street_address",
    "address_line_2",
    "suburb",
    "postcode",
    "state",
}
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
QUERY_KINDS = ("known_clean", "known_noisy", "known_name_dob", "stranger_full", "stranger_name_dob")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("geco_admin")
    generate(PEOPLE, 7, out)
    return out


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def agencies(out: Path) -> list[dict[str, str]]:
    listing: list[dict[str, str]] = json.loads((out / "agencies.json").read_text("utf-8"))
    return listing


# --- the contract --------------------------------------------------------------------------


def test_writes_the_files_and_columns_of_the_contract(scenario: Path) -> None:
    listing = agencies(scenario)
    assert len(listing) == 5
    for agency in listing:
        assert set(agency) == {"agency_id", "display_name", "export", "mapping"}
        assert re.fullmatch(r"[a-z0-9-]+", agency["agency_id"])
        assert agency["export"] == f"{agency['agency_id']}.csv"
        assert agency["mapping"] == f"{agency['agency_id']}.mapping.toml"
        header, rows = read_csv(scenario / agency["export"])
        assert rows, agency["agency_id"]
        mapping = tomllib.loads((scenario / agency["mapping"]).read_text("utf-8"))
        assert set(mapping) == {"input", "features"}
        assert set(mapping["features"]) <= SCHEMA_FEATURES
        assert mapping["input"]["record_key"] in header
        keys = [row[header.index(mapping["input"]["record_key"])] for row in rows]
        assert len(set(keys)) == len(keys)
    names = " ".join(a["display_name"].lower() for a in listing)
    for role in ("sheriff", "crisis", "emergency department", "withdrawal"):
        assert role in names
    truth_header, _ = read_csv(scenario / "truth.csv")
    assert truth_header == ["agency_id", "local_id", "person_id"]
    query_header, _ = read_csv(scenario / "queries.csv")
    assert query_header == QUERY_COLUMNS
    meta = json.loads((scenario / "meta.json").read_text("utf-8"))
    assert meta["generator"] == "geco_admin"
    assert meta["seed"] == 7
    assert meta["people"] == PEOPLE
    assert meta["assumptions"]
    assert meta["mapping"]["limits"]
    assert set(meta["records"]) == {a["agency_id"] for a in listing}


def test_every_export_row_maps_with_no_rejected_row(scenario: Path, tmp_path: Path) -> None:
    environ = {"SCENARIO_SECRET": secrets.token_hex(32)}
    for agency in agencies(scenario):
        config_path = tmp_path / f"{agency['agency_id']}.toml"
        config_path.write_text(
            '[agency]\nname = "test"\nkey_epoch = 1\n\n[secret]\nenv = "SCENARIO_SECRET"\n\n'
            '[schema]\nfile = "default"\n\n' + (scenario / agency["mapping"]).read_text("utf-8"),
            encoding="utf-8",
        )
        config = load_agency_config(config_path, environ)
        header, rows = read_csv(scenario / agency["export"])
        mapper = RowMapper(config, header)
        mapped_values = []
        for number, row in enumerate(rows, start=1):
            mapped = mapper.map_row(number, row)
            assert not isinstance(mapped, list), (agency["agency_id"], row, mapped)
            mapped_values.append(mapped.values)
        # the encoder's own validation (the schema's formats) accepts every mapped row too
        encoder = config.encoding_schema.encoder(config.secret.reveal(), key_epoch=1)
        batch = encoder.encode_valid(mapped_values[:400])
        assert not batch.problems, (agency["agency_id"], batch.problems[:3])


def test_truth_covers_every_exported_record_exactly_once(scenario: Path) -> None:
    exported: list[tuple[str, str]] = []
    for agency in agencies(scenario):
        mapping = tomllib.loads((scenario / agency["mapping"]).read_text("utf-8"))
        header, rows = read_csv(scenario / agency["export"])
        key = header.index(mapping["input"]["record_key"])
        exported.extend((agency["agency_id"], row[key]) for row in rows)
    _, truth = read_csv(scenario / "truth.csv")
    truth_keys = [(agency_id, local_id) for agency_id, local_id, _ in truth]
    assert len(truth_keys) == len(set(truth_keys))
    assert sorted(truth_keys) == sorted(exported)
    people = {person for _, _, person in truth if person.startswith("P")}
    assert len(people) == PEOPLE  # every exported person has a record
    assert 1.3 * PEOPLE < len(truth) < 2.0 * PEOPLE


def test_queries_per_contract(scenario: Path) -> None:
    _, truth = read_csv(scenario / "truth.csv")
    in_truth = {person for _, _, person in truth}
    _, queries = read_csv(scenario / "queries.csv")
    kinds = Counter(q[1] for q in queries)
    assert kinds == dict.fromkeys(QUERY_KINDS, 300)
    assert len({q[0] for q in queries}) == len(queries)
    for query in queries:
        kind, person_id, dob, sex = query[1], query[2], query[6], query[7]
        assert dob == "" or re.fullmatch(r"\d{4}-\d{2}-\d{2}", dob)
        assert sex in ("m", "f", "")
        if kind.startswith("known"):
            assert person_id in in_truth
            assert not person_id.startswith("U")  # no unidentified patient is asked for
        else:
            assert person_id == ""
            assert person_id not in in_truth
        if kind.endswith("name_dob"):
            assert query[7:] == [""] * 6
        assert query[3] or query[5]
    clean = [q for q in queries if q[1] == "known_clean"]
    assert all(q[6] for q in clean)


def test_detox_truncates_names_and_jail_books_people_repeatedly(scenario: Path) -> None:
    header, rows = read_csv(scenario / "cascade-detox.csv")
    assert all(len(r[header.index("first_name")]) <= 10 for r in rows)
    assert all(len(r[header.index("last_name")]) <= 12 for r in rows)
    _, truth = read_csv(scenario / "truth.csv")
    jail = Counter(person for agency, _, person in truth if agency == "sheriff-jail")
    assert max(jail.values()) >= 2


def test_generation_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    def files(out: Path) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}

    generate(60, 3, tmp_path / "a")
    generate(60, 3, tmp_path / "b")
    generate(60, 4, tmp_path / "c")
    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a")["truth.csv"] != files(tmp_path / "c")["truth.csv"]


def test_name_tables_are_large_enough() -> None:
    assert len(MALE.names) + len(FEMALE.names) >= 400
    assert len(SURNAMES.ranked) >= 1000
    rng = random.Random(1)
    draws = Counter(SURNAMES.draw(rng) for _ in range(5000))
    assert "SMITH" in [name for name, _ in draws.most_common(3)]
    assert {a.agency_id for a in AGENCIES} >= {"sheriff-jail", "valley-general-ed"}


# --- the corruptor ---------------------------------------------------------------------


def outputs(kind: Callable[[Corruptor], str], tries: int = 200) -> set[str]:
    return {kind(Corruptor(random.Random(seed))) for seed in range(tries)}


def differing_positions(a: str, b: str) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def test_keyboard_replaces_one_character_by_a_neighbour() -> None:
    for value in ("SMITH", "garcia"):
        for result in outputs(lambda c, v=value: c.keyboard(v)):  # type: ignore[misc]
            (index,) = differing_positions(value, result)
            assert result[index].lower() in QWERTY_NEIGHBOURS[value[index].lower()]
            assert result[index].isupper() == value[index].isupper()
    for result in outputs(lambda c: c.keyboard("1985")):
        (index,) = differing_positions("1985", result)
        assert result[index] in KEYPAD_NEIGHBOURS["1985"[index]]


def test_ocr_applies_one_confusion_either_way() -> None:
    assert outputs(lambda c: c.ocr("BARNES")) == {"8ARNES", "BAMES", "BARNE5"}
    assert outputs(lambda c: c.ocr("clark")) == {"dark", "c1ark"}
    assert outputs(lambda c: c.ocr("1O5")) == {"IO5", "LO5", "105", "1OS"}  # upper case kept
    assert outputs(lambda c: c.ocr("o1")) == {"01", "ol", "oi"}
    assert Corruptor(random.Random(1)).ocr("XYW") == "XYW"  # nothing to confuse


def test_phonetic_variations() -> None:
    assert {"FILIP", "PHILLIP"} <= outputs(lambda c: c.phonetic("PHILIP"))
    assert "JON" in outputs(lambda c: c.phonetic("JOHN"))
    assert "JOHN" in outputs(lambda c: c.phonetic("JON"))
    assert "SARAH" in outputs(lambda c: c.phonetic("SARA"))
    assert "SARA" in outputs(lambda c: c.phonetic("SARAH"))
    assert "KATHERINE" in outputs(lambda c: c.phonetic("CATHERINE"))
    assert {"JAKIE", "JACKY"} <= outputs(lambda c: c.phonetic("JACKIE"))
    assert "DOWGLAS" in outputs(lambda c: c.phonetic("DOUGLAS"))
    assert outputs(lambda c: c.phonetic("MICHAEL")) == {"MICHEAL"}
    assert "STEFANIE" in outputs(lambda c: c.phonetic("STEPHANIE"))
    assert "Filip" in outputs(lambda c: c.phonetic("Philip"))  # case kept
    assert "PHILIP" not in outputs(lambda c: c.phonetic("PHILIP"))


def test_edits() -> None:
    value = "MARTINEZ"
    for result in outputs(lambda c: c.insert(value)):
        assert len(result) == len(value) + 1
        assert any(result[:i] + result[i + 1 :] == value for i in range(len(result)))
    for result in outputs(lambda c: c.delete(value)):
        assert len(result) == len(value) - 1
        assert any(value[:i] + value[i + 1 :] == result for i in range(len(value)))
    for result in outputs(lambda c: c.substitute(value)):
        assert len(differing_positions(value, result)) == 1
    for result in outputs(lambda c: c.transpose(value)):
        first, second = differing_positions(value, result)
        assert second == first + 1
        assert (result[first], result[second]) == (value[second], value[first])
    assert Corruptor(random.Random(1)).delete("J") == "J"  # never empties a value


def test_missing_swap_and_truncate() -> None:
    assert Corruptor.missing("SMITH") == ""
    assert Corruptor.swap("JOHN", "SMITH") == ("SMITH", "JOHN")
    assert Corruptor.truncate("CHRISTOPHER", 10) == "CHRISTOPHE"
    assert Corruptor.truncate("LEE", 10) == "LEE"


def test_corrupt_text_always_changes_the_value() -> None:
    kinds = (("ocr", 1.0),)  # cannot apply to this value: another kind is used
    for seed in range(50):
        corruptor = Corruptor(random.Random(seed))
        assert corruptor.corrupt_text("XAVY", kinds) != "XAVY"  # type: ignore[arg-type]


def test_date_corruptions_keep_real_dates() -> None:
    assert Corruptor.swap_day_month(date(1985, 3, 7)) == date(1985, 7, 3)
    assert Corruptor.swap_day_month(date(1985, 3, 17)) == date(1985, 3, 17)
    for seed in range(100):
        corruptor = Corruptor(random.Random(seed))
        original = date(1979, 11, 28)
        typo = corruptor.date_digit_typo(original)
        assert len(differing_positions(original.strftime("%m%d%Y"), typo.strftime("%m%d%Y"))) == 1
        assert abs(corruptor.year_off(original, 1).year - 1979) == 1
        assert abs(corruptor.year_off(original, 10).year - 1979) == 10
    assert Corruptor(random.Random(1)).year_off(date(1984, 2, 29), 1).day == 28
