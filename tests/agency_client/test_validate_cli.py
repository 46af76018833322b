"""``agency-client schema validate --config agency.toml [--input export.csv]``: the real
console script, run in a temporary folder, as an agency's IT would run it."""

from __future__ import annotations

import csv
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agency_client import sample_path

pytestmark = pytest.mark.integration

POLICE_MAPPING = r"""
[agency]
name = "Harmon Metropolitan Police"
key_epoch = 1

[secret]
file = "linkage-secret.key"

[input]
record_key = "MNI_NO"

[input.patterns]
# "38454 MELVIN LAKE, ALANCHESTER, NV 53062" (a ZIP+4 keeps its first five digits)
address = '^(?P<street>[^,]+),\s*(?P<city>[^,]+),\s*(?P<state>[A-Z]{2})\s+(?P<zip>\d{5})'

[features.given_name]
column = "NAME"
name_part = "first"

[features.surname]
column = "NAME"
name_part = "last"

[features.date_of_birth]
column = "DOB"
date_format = "DD-MON-YYYY"

[features.sex]
column = "SEX"
transforms = [{ op = "map", table = { "1" = "m", "2" = "f", "9" = "" } }]

[features.phone]
columns = ["MOBILE", "HOME_PHONE"]
transforms = [{ op = "first_non_empty" }]
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

ROWS = [
    ["MNI_NO", "NAME", "DOB", "SEX", "ADDRESS", "MOBILE", "HOME_PHONE"],
    [
        "P-1",
        "WALKER, JAMES A",
        "07-MAR-1985",
        "1",
        "38454 MELVIN LAKE, ALANCHESTER, NV 53062",
        "000-000-0000",
        "702-555-0100",
    ],
    ["P-2", "DOE, JOHN", "01-JAN-1900", "9", "TRANSIENT", "NO PHONE", ""],
    ["P-3", "ORTIZ, ANA", "28-FEB-1990", "2", "1 A ST, RENO, NV 89501-1234", "", ""],
    ["P-4", "NGUYEN, ANH", "05-JUN-1990", "2", "SOMEWHERE", "", ""],
]


def agency_client() -> list[str]:
    script = Path(sys.executable).with_name("agency-client")
    if script.exists():
        return [str(script)]
    found = shutil.which("agency-client")
    return [found] if found else [sys.executable, "-m", "agency_client.cli"]


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "AGENCY_CLIENT_CONFIG"}
    return subprocess.run(
        [*agency_client(), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def police(tmp_path: Path) -> Path:
    (tmp_path / "agency.toml").write_text(POLICE_MAPPING, encoding="utf-8")
    (tmp_path / "linkage-secret.key").write_text(secrets.token_hex(32) + "\n")
    (tmp_path / "linkage-secret.key").chmod(0o600)
    with (tmp_path / "export.csv").open("w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows(ROWS)
    return tmp_path


def test_validate_describes_the_mapping_and_dry_runs_the_export(police: Path) -> None:
    done = run(police, "schema", "validate", "--config", "agency.toml", "--input", "export.csv")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("agency.toml: valid; schema default")
    assert "street_address  ADDRESS | match pattern address, group street" in out
    assert "export.csv: 4 rows read: 3 would be encoded, 1 skipped" in out
    assert "row 4 (would be skipped)" in out
    # the side-by-side view, fenced by the personal-data warning
    assert "PERSONAL DATA: the first 4 rows of export.csv" in out
    assert "Do not copy this output into tickets" in out
    assert (
        out.index("PERSONAL DATA")
        < out.index('"38454 melvin lake"')
        < out.index("END OF PERSONAL DATA")
    )
    assert 'ADDRESS: "38454 MELVIN LAKE, ALANCHESTER, NV 53…"' in out
    assert '"7025550100"' in out  # the mobile 000-000-0000 fell through to the home phone
    assert "(missing: placeholder)" in out  # JOHN DOE, 01-JAN-1900, TRANSIENT
    assert '"89501"' in out
    # counts: per column and reason, never a value
    tail = out[out.index("END OF PERSONAL DATA") :]
    assert (
        "column ADDRESS: transforms[0] (match): the value does not match the pattern "
        '(or set on_invalid = "missing"): 1 row' in tail
    )
    assert "values read as missing, per feature:" in tail
    assert "1 declared missing value" in tail
    for row in ROWS[1:]:
        for cell in row[1:]:
            if len(cell) > 3:
                assert cell not in tail


def test_rows_0_prints_counts_only(police: Path) -> None:
    done = run(police, "schema", "validate", "--input", "export.csv", "--rows", "0")
    assert done.returncode == 0, done.stderr  # --config defaults to ./agency.toml
    assert "PERSONAL DATA" not in done.stdout
    for row in ROWS[1:]:
        for cell in row[1:]:
            if len(cell) > 3:
                assert cell not in done.stdout


def test_a_bad_mapping_exits_2_with_every_problem_by_path(police: Path) -> None:
    config = police / "agency.toml"
    text = config.read_text().replace('group = "city"', 'group = "town"')
    text = text.replace("missing_values = ", "missing_value = ")
    text = text.replace('op = "first_non_empty"', 'op = "first"')
    config.write_text(text)
    done = run(police, "schema", "validate", "--config", "agency.toml")
    assert done.returncode == 2
    assert done.stdout == ""
    err = done.stderr
    assert err.startswith("error: agency.toml is invalid\n")
    assert (
        "  - features.suburb.transforms[0].group: is not a named group of the pattern "
        "(street, city, state, zip); name a group with (?P<name>...)" in err
    )
    assert "  - features.phone.missing_value: unknown key; did you mean missing_values?" in err
    assert (
        "  - features.phone.transforms[0].op: unknown operation; did you mean first_non_empty?"
        in err
    )


def test_a_schema_file_and_a_config_are_not_both_accepted(police: Path) -> None:
    done = run(police, "schema", "validate", "default", "--config", "agency.toml")
    assert done.returncode == 2
    assert "not both" in done.stderr
    done = run(police, "schema", "validate", "default")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("default: valid hardened linkage schema v3")


def test_the_sample_config_validates_against_the_sample_export(tmp_path: Path) -> None:
    for name in ("agency.toml", "valley-mhc-export.csv"):
        shutil.copyfile(sample_path(name), tmp_path / name)
    (tmp_path / "linkage-secret.key").write_text(secrets.token_hex(32) + "\n")
    (tmp_path / "linkage-secret.key").chmod(0o600)
    done = run(tmp_path, "schema", "validate", "--input", "valley-mhc-export.csv", "--rows", "2")
    assert done.returncode == 0, done.stderr
    assert "valley-mhc-export.csv: 61 rows read: 57 would be encoded, 4 skipped" in done.stdout
