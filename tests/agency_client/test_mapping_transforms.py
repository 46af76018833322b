"""Export mappings with transforms, declared missing values and built-in placeholders:
the config loader (every problem by path), the RowMapper, the dry run, the upload digest
and the responder gateway's query encoding, which must stay consistent with the export."""

from __future__ import annotations

import csv
import secrets
from pathlib import Path

import pytest

from agency_client import encode_export, load_agency_config, read_clk_batches
from agency_client._config import AgencyConfig
from agency_client._dryrun import describe_mapping, dry_run, render_dry_run
from agency_client._mapping import MappedRow, RowMapper
from agency_client._query import QueryEncoder
from agency_client._workflow import _mapping_signature
from linkage.errors import ConfigError, InvalidInputError

pytestmark = pytest.mark.unit

MISSED = (
    'transforms[0] (match): the value does not match the pattern (or set on_invalid = "missing")'
)
NOT_MAPPED = (
    'transforms[0] (map): the code is not in the map\'s table (add it, or set unmapped = "keep")'
)

SECRET = {"TEST_SECRET": secrets.token_hex(32)}

HEAD = """\
[agency]
name = "Harmon Metropolitan Police"
key_epoch = 1

[secret]
env = "TEST_SECRET"

[input]
record_key = "MNI_NO"
"""

PATTERN = (
    r"^(?P<street>[^,]+),\s*(?P<city>[^,]+),\s*(?P<state>[A-Z]{2})\s+(?P<zip>\d{5})(?:-\d{4})?$"
)
#: The police export of issue 18: one ADDRESS column, LAST, FIRST names, ISO 5218 sex
#: codes, two phone columns, state names.
POLICE = (
    HEAD
    + "\n[input.patterns]\naddress = '"
    + PATTERN
    + """'

[features.given_name]
column = "NAME"
name_part = "first"

[features.middle_name]
column = "NAME"
name_part = "middle"

[features.surname]
column = "NAME"
name_part = "last"

[features.date_of_birth]
column = "DOB"
date_format = "DD-MON-YYYY"

[features.sex]
column = "SEX"
transforms = [{ op = "map", table = "iso-5218-sex", unmapped = "reject" }]

[features.phone]
columns = ["MOBILE", "HOME_PHONE"]
transforms = [{ op = "first_non_empty" }]
keep_last = 10
missing_values = ["NO PHONE"]

[features.street_address]
column = "ADDRESS"
transforms = [{ op = "match", pattern_name = "address", group = "street" }]

[features.suburb]
column = "ADDRESS"
transforms = [{ op = "match", pattern_name = "address", group = "city" }]

[features.state]
column = "ADDRESS"
transforms = [{ op = "match", pattern_name = "address", group = "state" }]

[features.postcode]
column = "ADDRESS"
transforms = [{ op = "match", pattern_name = "address", group = "zip" }]
"""
)

HEADER = ["MNI_NO", "NAME", "DOB", "SEX", "ADDRESS", "MOBILE", "HOME_PHONE"]
WALKER = [
    "P-1",
    "WALKER, JAMES A",
    "07-MAR-1985",
    "1",
    "38454 MELVIN LAKE, ALANCHESTER, NV 53062",
    "000-000-0000",
    "702-555-0100",
]


def load(tmp_path: Path, text: str) -> AgencyConfig:
    path = tmp_path / "agency.toml"
    path.write_text(text, encoding="utf-8")
    return load_agency_config(path, SECRET)


def problems_of(tmp_path: Path, text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.message == "agency.toml is invalid"
    return {p.location: p.reason for p in info.value.problems}


def mapped(
    config: AgencyConfig, row: list[str], header: list[str] = HEADER
) -> dict[str, str | None]:
    mapper = RowMapper(config, header)
    result = mapper.map_row(1, row)
    assert isinstance(result, MappedRow), result
    names = [f.identifier for f in config.schema.features]
    return dict(zip(names, result.values, strict=True))


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows(rows)
    return path


# ---------------------------------------------------------------- config


def test_the_police_mapping_loads_and_describes_itself(tmp_path: Path) -> None:
    config = load(tmp_path, POLICE)
    assert config.columns == ("MNI_NO", "NAME", "DOB", "SEX", "MOBILE", "HOME_PHONE", "ADDRESS")
    lines = "\n".join(describe_mapping(config))
    assert "street_address  ADDRESS | match pattern address, group street | normalise name" in lines
    assert "phone           MOBILE, HOME_PHONE | first non-empty | phone, last 10 digits" in lines
    assert "1 declared value" in lines
    assert "not mapped (always missing): address_line_2" in lines
    assert "--input EXPORT.csv" in lines


def test_every_problem_of_the_mapping_is_named_by_path_at_once(tmp_path: Path) -> None:
    text = (
        HEAD
        + r"""
[input.patterns]
broken = '(?P<x'

[features.given_name]
column = "NAME"
name_part = "first"
transform = [{ op = "join" }]

[features.surname]
column = "NAME"
transforms = [{ op = "split", separator = ",", part = 0 }, { op = "mtach" }]

[features.phone]
columns = ["MOBILE", "HOME"]
missing_values = "N/A"
builtin_placeholders = "no"

[features.postcode]
column = "ADDRESS"
transforms = [{ op = "match", pattern_name = "adress", group = "zip" }]

[features.state]
column = "STATE"
transforms = [{ op = "map", table = "us_states" }]
"""
    )
    problems = problems_of(tmp_path, text)
    assert set(problems) == {
        "input.patterns.broken",
        "features.given_name.transform",
        "features.surname.transforms[0].part",
        "features.surname.transforms[1].op",
        "features.phone.missing_values",
        "features.phone.builtin_placeholders",
        "features.postcode.transforms[0].pattern_name",
        "features.state.transforms[0].table",
    }
    assert problems["features.given_name.transform"].startswith(
        "unknown key; did you mean transforms? (a feature table takes column, columns, "
        "transforms, name_part, normalise, date_format, keep_last, missing_values, "
        "builtin_placeholders, on_invalid)"
    )
    assert "did you mean match?" in problems["features.surname.transforms[1].op"]
    assert "e.g. missing_values = [" in problems["features.phone.missing_values"]


def test_unknown_keys_and_tables_name_a_close_match(tmp_path: Path) -> None:
    text = POLICE.replace("[input]\n", '[input]\ndelimeter = ";"\n').replace(
        "[features.sex]", "[feature.sex_code]\n[features.sex]"
    )
    problems = problems_of(tmp_path, text)
    assert problems["input.delimeter"].startswith("unknown key; did you mean delimiter?")
    assert problems["feature"].startswith("unknown table; did you mean features?")


def test_name_part_over_several_columns_needs_a_combining_transform(tmp_path: Path) -> None:
    base = HEAD + '\n[features.surname]\ncolumns = ["LAST", "ALIAS"]\nname_part = "last"\n'
    problems = problems_of(tmp_path, base)
    assert (
        "needs exactly one column (or a join / first_non_empty"
        in problems["features.surname.name_part"]
    )
    config = load(tmp_path, base + 'transforms = [{ op = "first_non_empty" }]\n')
    assert mapped(config, ["1", "", "Ng, Mai"], ["MNI_NO", "LAST", "ALIAS"])["surname"] == "ng"


def test_more_declared_date_formats_are_accepted_and_others_name_the_list(
    tmp_path: Path,
) -> None:
    for name in ("M/D/YYYY", "DD-MON-YYYY", "YYYY/MM/DD", "YYYY-MM-DD HH:MM:SS"):
        load(tmp_path, POLICE.replace('"DD-MON-YYYY"', f'"{name}"'))
    problems = problems_of(tmp_path, POLICE.replace('"DD-MON-YYYY"', '"DD/MON/YY"'))
    assert "must be one of MM/DD/YYYY, M/D/YYYY" in problems["features.date_of_birth.date_format"]


# ---------------------------------------------------------------- mapping


def test_the_police_address_is_split_into_street_suburb_state_and_postcode(
    tmp_path: Path,
) -> None:
    values = mapped(load(tmp_path, POLICE), WALKER)
    assert values == {
        "given_name": "james",
        "middle_name": "a",
        "surname": "walker",
        "date_of_birth": "1985-03-07",
        "sex": "m",
        "phone": "7025550100",  # the mobile is a placeholder: the home phone is used
        "street_address": "38454 melvin lake",
        "address_line_2": None,
        "suburb": "alanchester",
        "postcode": "53062",
        "state": "nv",
    }


def test_placeholders_and_declared_missing_values_read_as_missing(tmp_path: Path) -> None:
    config = load(tmp_path, POLICE)
    row = ["P-2", "DOE, JOHN", "01-JAN-1900", "9", "TRANSIENT", "NO PHONE", "999-999-9999"]
    values = mapped(config, row)
    assert values == dict.fromkeys(values)  # every value missing, nothing rejected
    homeless = ["P-3", "NGUYEN, ANH", "05-JUN-1990", "2", "HOMELESS", "", "no phone"]
    values = mapped(config, homeless)
    assert (values["surname"], values["sex"], values["phone"]) == ("nguyen", "f", None)
    assert values["street_address"] is values["suburb"] is values["postcode"] is None


def test_a_value_the_pattern_misses_rejects_the_row_without_echoing_it(
    tmp_path: Path,
) -> None:
    config = load(tmp_path, POLICE)
    row = [*WALKER[:4], "SOMEWHERE ON MAIN", *WALKER[5:]]
    problems = RowMapper(config, HEADER).map_row(7, row)
    assert isinstance(problems, list)
    assert [str(p) for p in problems] == [f"row 7, column ADDRESS: {MISSED}"]
    missing = load(
        tmp_path, POLICE.replace('group = "city" }]', 'group = "city" }]\non_invalid = "missing"')
    )
    result = RowMapper(missing, HEADER).map_row(7, row)
    assert isinstance(result, list)  # street, state and postcode still reject
    assert all("SOMEWHERE" not in str(p) for p in result)


def test_builtin_placeholders_can_be_turned_off_per_feature(tmp_path: Path) -> None:
    text = POLICE.replace(
        'date_format = "DD-MON-YYYY"', 'date_format = "DD-MON-YYYY"\nbuiltin_placeholders = false'
    ).replace('name_part = "first"', 'name_part = "first"\nbuiltin_placeholders = false')
    config = load(tmp_path, text)
    row = ["P-2", "DOE, JOHN", "01-JAN-1900", "1", WALKER[4], "", ""]
    values = mapped(config, row)
    # the given name's opt-out also keeps the JOHN DOE rule off; the date is kept
    assert (values["given_name"], values["surname"], values["date_of_birth"]) == (
        "john",
        "doe",
        "1900-01-01",
    )
    values = mapped(load(tmp_path, POLICE), row)
    assert (values["given_name"], values["surname"], values["date_of_birth"]) == (None,) * 3


def test_newborns_keep_their_family_name(tmp_path: Path) -> None:
    config = load(tmp_path, POLICE)
    values = mapped(config, ["P-4", "SMITH, BABY GIRL", "12-MAR-2024", "2", "", "", ""])
    assert (values["given_name"], values["middle_name"], values["surname"]) == (
        None,
        None,
        "smith",
    )


def test_a_placeholder_encodes_exactly_like_a_missing_value(tmp_path: Path) -> None:
    config = load(tmp_path, POLICE)
    real = [*WALKER[:2], "", *WALKER[3:]]
    rows = [
        HEADER,
        real,
        ["P-2", WALKER[1], "01-JAN-1900", *WALKER[3:]],
        ["P-3", WALKER[1], "00-JAN-0000", *WALKER[3:]],
    ]
    rows[1][0] = "P-1"
    source = write_csv(tmp_path / "export.csv", rows)
    report = encode_export(config, source, tmp_path / "out.clk", workers=1, output_format="clk")
    assert report.rows_encoded == 3, report.problems
    clks = next(read_clk_batches(tmp_path / "out.clk")).clks
    assert clks[0].tobytes() == clks[1].tobytes() == clks[2].tobytes()


def test_the_upload_digest_covers_transforms_and_missing_values(tmp_path: Path) -> None:
    config = load(tmp_path, POLICE)
    changed = load(tmp_path, POLICE.replace('missing_values = ["NO PHONE"]', "missing_values = []"))
    other = load(tmp_path, POLICE.replace('group = "zip"', "group = 4"))
    signatures = {_mapping_signature(c, "fp") for c in (config, changed, other)}
    assert len(signatures) == 3
    assert _mapping_signature(load(tmp_path, POLICE), "fp") == _mapping_signature(config, "fp")


# ---------------------------------------------------------------- dry run


def test_the_dry_run_counts_what_encode_skips_and_why(tmp_path: Path) -> None:
    config = load(tmp_path, POLICE)
    rows = [
        HEADER,
        WALKER,
        ["P-2", "DOE, JOHN", "01-JAN-1900", "9", "TRANSIENT", "", ""],
        ["P-3", "LEE, KIM", "12-MAR-1985", "3", WALKER[4], "", ""],  # sex 3: not ISO 5218
        ["P-4", "NO COMMA", "12-MAR-1985", "1", WALKER[4], "", ""],
        ["P-5", "LEE, KIM", "31-FEB-1985", "1", "SOMEWHERE", "", ""],
        ["", "LEE, KIM", "12-MAR-1985", "1", WALKER[4], "", ""],
        ["P-1", "LEE, KIM", "12-MAR-1985", "1", WALKER[4], "", ""],  # repeated record key
        ["P-8", "LEE, KIM", "12-MAR-1985", "1", WALKER[4], "0412", ""],  # too short a phone
        ["P-9", "short row"],
    ]
    source = write_csv(tmp_path / "export.csv", rows)
    report = dry_run(config, source, shown_rows=3)
    encoded = encode_export(config, source, tmp_path / "out.clk", workers=1, output_format="clk")
    assert (
        (report.rows_read, report.rows_encoded, report.rows_skipped)
        == (
            encoded.rows_read,
            encoded.rows_encoded,
            encoded.rows_skipped,
        )
        == (9, 3, 6)
    )
    assert report.repeated_keys == 1
    assert dict(report.problems) == {
        ("SEX", NOT_MAPPED): 1,
        ("NAME", "expected a name as 'LAST, FIRST [MIDDLE]' but found no comma"): 1,
        ("DOB", "not a real calendar date (format DD-MON-YYYY)"): 1,
        ("ADDRESS", MISSED): 1,
        ("MNI_NO", "the record key is empty"): 1,
        ("MOBILE+HOME_PHONE", "a phone number needs 6 to 15 digits"): 1,
        ("*", "has 2 fields, the header has 7"): 1,
    }
    assert report.missing["given_name"]["placeholder"] == 1
    assert report.missing["sex"]["transform"] == 1  # ISO 5218 code 9, mapped to ""
    assert report.missing["street_address"]["placeholder"] == 1
    assert [shown.number for shown in report.shown] == [1, 2, 3]
    text = "\n".join(render_dry_run(report))
    assert "PERSONAL DATA" in text
    assert '"WALKER, JAMES A"' in text  # the one place values are shown
    assert f"column ADDRESS: {MISSED}: 1 row" in text
    counts_only = "\n".join(render_dry_run(dry_run(config, source, shown_rows=0)))
    for row in rows[1:]:
        for cell in row[1:]:
            if len(cell) > 3:
                assert cell not in counts_only, cell
    assert "PERSONAL DATA" not in counts_only


def test_the_dry_run_names_missing_columns(tmp_path: Path) -> None:
    config = load(tmp_path, POLICE)
    source = write_csv(tmp_path / "export.csv", [HEADER[:-1], WALKER[:-1]])
    with pytest.raises(ConfigError) as info:
        dry_run(config, source)
    assert [str(p) for p in info.value.problems] == [
        "column HOME_PHONE: not in the header; check the spelling in agency.toml against the "
        "export's first row (names are compared exactly, after trimming)"
    ]


# ---------------------------------------------------------------- the gateway's queries


def test_queries_skip_the_export_transforms_and_encode_like_the_export_row(
    tmp_path: Path,
) -> None:
    config = load(tmp_path, POLICE)
    source = write_csv(tmp_path / "export.csv", [HEADER, WALKER])
    encode_export(config, source, tmp_path / "out.clk", workers=1, output_format="clk")
    exported = next(read_clk_batches(tmp_path / "out.clk")).clks[0].tobytes()
    query = {
        "given_name": "James",
        "middle_name": "A",
        "surname": "Walker",
        "date_of_birth": "1985-03-07",  # ISO, not the export's DD-MON-YYYY
        "sex": "m",  # a clean value, not the export's ISO 5218 code
        "phone": "(702) 555-0100",
        "street_address": "38454 Melvin Lake",  # no ADDRESS pattern to match
        "suburb": "Alanchester",
        "state": "NV",
        "postcode": "53062",
    }
    encoder = QueryEncoder(config)
    assert encoder.encode(query) == exported
    # the export's placeholders are the query's: a placeholder phone is a missing phone
    assert encoder.encode(dict(query, phone="000-000-0000")) == encoder.encode(
        {k: v for k, v in query.items() if k != "phone"}
    )
    assert encoder.encode(dict(query, phone="NO PHONE")) == encoder.encode(dict(query, phone=""))
    assert encoder.encode(dict(query, street_address="Homeless")) == encoder.encode(
        dict(query, street_address="")
    )


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"given_name": "John", "surname": "Doe"}, {"given_name", "surname"}),
        ({"surname": "UNKNOWN"}, {"surname"}),
        ({"given_name": "Baby Boy"}, {"given_name"}),
        ({"date_of_birth": "1900-01-01"}, {"date_of_birth"}),
        ({"date_of_birth": "0001-01-01"}, {"date_of_birth"}),
    ],
)
def test_a_query_whose_name_or_birth_date_is_a_placeholder_is_refused(
    tmp_path: Path, change: dict[str, str], fields: set[str]
) -> None:
    encoder = QueryEncoder(load(tmp_path, POLICE))
    query = {"given_name": "James", "surname": "Walker", "date_of_birth": "1985-03-07"}
    with pytest.raises(InvalidInputError) as info:
        encoder.encode(dict(query, **change))
    assert {p.location for p in info.value.problems} == fields
    # one fixed reason, whatever the value
    assert {p.reason for p in info.value.problems} == {
        "is a placeholder (such as UNKNOWN, JOHN DOE or 1900-01-01), which never counts as "
        "agreement; give the person's own details"
    }
