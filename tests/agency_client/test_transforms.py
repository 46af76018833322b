"""Column transforms (agency_client/_transforms.py): each step on its own, composition in
the declared order, and configuration problems named by path with their fix."""

from __future__ import annotations

import pickle
import re
from typing import Any

import pytest

from agency_client._transforms import (
    BUILTIN_TABLES,
    FirstNonEmpty,
    Join,
    KeepFirst,
    MapCodes,
    Match,
    Split,
    Substring,
    Transform,
    apply_transforms,
    parse_patterns,
    parse_transforms,
)
from linkage.errors import Problem, RowError

pytestmark = pytest.mark.unit

POLICE = "38454 MELVIN LAKE, ALANCHESTER, NV 53062"
ADDRESS = (
    r"^(?P<street>[^,]+),\s*(?P<city>[^,]+),\s*(?P<state>[A-Z]{2})\s+(?P<zip>\d{5})(?:-\d{4})?$"
)


def parse(
    steps: list[dict[str, Any]], patterns: dict[str, str] | None = None
) -> tuple[tuple[Transform, ...], list[Problem]]:
    problems: list[Problem] = []
    compiled = parse_patterns(patterns or {}, problems)
    parsed = parse_transforms(steps, "features.x.transforms", compiled, problems)
    return parsed, problems


def run(steps: list[dict[str, Any]], *values: str) -> list[str]:
    parsed, problems = parse(steps)
    assert problems == []
    return apply_transforms(parsed, list(values))


# ---------------------------------------------------------------- each step


@pytest.mark.parametrize(
    ("step", "value", "expected"),
    [
        ({"separator": ",", "part": 1}, POLICE, "38454 MELVIN LAKE"),
        ({"separator": ",", "part": 2}, POLICE, "ALANCHESTER"),
        ({"separator": ",", "part": -1}, POLICE, "NV 53062"),
        ({"separator": ",", "part": 4}, "a, b, c", ""),  # a part the value lacks is missing
        ({"separator": ",", "part": -4}, "a, b, c", ""),
        ({"pattern": r"\s*[,;]\s*", "part": 3}, "a ; b,c", "c"),
        ({"pattern": r"\s+", "part": -1}, "NV   53062", "53062"),
    ],
)  # fmt: skip
def test_split(step: dict[str, Any], value: str, expected: str) -> None:
    assert run([{"op": "split", **step}], value) == [expected]


@pytest.mark.parametrize(
    ("group", "expected"),
    [("street", "38454 MELVIN LAKE"), ("city", "ALANCHESTER"), ("state", "NV"), ("zip", "53062")],
)
def test_match_the_police_address_by_named_groups(group: str, expected: str) -> None:
    steps = [{"op": "match", "pattern": ADDRESS, "group": group}]
    assert run(steps, "38454 MELVIN LAKE, ALANCHESTER, NV 53062") == [expected]
    assert run(steps, "12 MAIN ST APT 4, LAS VEGAS, NV 89101-1234") == [
        {"street": "12 MAIN ST APT 4", "city": "LAS VEGAS", "state": "NV", "zip": "89101"}[group]
    ]


def test_match_searches_and_a_value_it_misses_is_a_row_error_without_the_value() -> None:
    assert run([{"op": "match", "pattern": r"\d{5}"}], "NV 53062 USA") == ["53062"]
    assert run([{"op": "match", "pattern": r"(\d{5})(-\d{4})?", "group": 2}], "53062") == [""]
    parsed, _ = parse([{"op": "match", "pattern": r"^\d{5}$"}])
    with pytest.raises(RowError) as info:
        apply_transforms(parsed, ["TRANSIENT"])
    assert str(info.value) == (
        "transforms[0] (match): the value does not match the pattern "
        '(or set on_invalid = "missing")'
    )


def test_join_and_first_non_empty_combine_the_columns() -> None:
    assert run([{"op": "join"}], "12", "", "Main St") == ["12 Main St"]
    assert run([{"op": "join", "separator": ", "}], "Unit 4", "12 Main St") == [
        "Unit 4, 12 Main St"
    ]
    assert run([{"op": "first_non_empty"}], "", "0412 555 019", "03 9555 0100") == ["0412 555 019"]
    assert run([{"op": "first_non_empty"}], "", "") == [""]


def test_substring_and_keep_first() -> None:
    assert run([{"op": "substring", "start": 1, "length": 5}], "97201-1234") == ["97201"]
    assert run([{"op": "substring", "start": 7}], "97201-1234") == ["1234"]
    assert run([{"op": "substring", "start": -4}], "97201-1234") == ["1234"]
    assert run([{"op": "substring", "start": -20, "length": 3}], "abc") == ["abc"]
    assert run([{"op": "substring", "start": 9}], "abc") == [""]
    assert run([{"op": "keep_first", "characters": 5}], "97201-1234") == ["97201"]
    assert run([{"op": "keep_first", "characters": 5}], "972") == ["972"]


def test_map_codes_inline_and_built_in() -> None:
    sex = [{"op": "map", "table": {"1": "m", "2": "f", "9": ""}}]
    assert run(sex, "1", "2", "9", "M") == ["m", "f", "", "M"]  # unmapped: keep
    states = [{"op": "map", "table": "us-states"}]
    assert run(states, "Oregon", " new  YORK ", "OR", "District of Columbia") == [
        "or", "ny", "OR", "dc",
    ]  # fmt: skip
    assert run([{"op": "map", "table": "au-states"}], "New South Wales", "Victoria") == [
        "nsw",
        "vic",
    ]
    assert run([{"op": "map", "table": "iso-5218-sex"}], "0", "1", "2", "9") == ["", "m", "f", ""]
    assert run([{"op": "map", "table": {"1": "m"}, "unmapped": "missing"}], "7") == [""]
    parsed, _ = parse([{"op": "map", "table": {"1": "m"}, "unmapped": "reject"}])
    with pytest.raises(RowError, match=r"^transforms\[0\] \(map\): the code is not in"):
        apply_transforms(parsed, ["7"])


def test_every_built_in_table_maps_to_lower_case_codes() -> None:
    assert len(BUILTIN_TABLES["us-states"]) >= 51
    for table in BUILTIN_TABLES.values():
        assert all(value == value.lower() for value in table.values())


def test_steps_run_in_the_declared_order() -> None:
    # keep_first per column, then join
    assert run(
        [{"op": "keep_first", "characters": 3}, {"op": "join", "separator": "-"}],
        "abcdef",
        "uvwxyz",
    ) == ["abc-uvw"]
    # join, then keep_first on the joined value
    assert run(
        [{"op": "join", "separator": "-"}, {"op": "keep_first", "characters": 3}],
        "abcdef",
        "uvwxyz",
    ) == ["abc"]
    # split, then map: the state code of a "City, ST" column
    assert run(
        [{"op": "split", "separator": ",", "part": 2}, {"op": "map", "table": "us-states"}],
        "Portland, Oregon",
    ) == ["or"]


def test_first_non_empty_skips_what_the_caller_reads_as_missing() -> None:
    parsed, _ = parse([{"op": "first_non_empty"}])
    placeholders = {"000-000-0000", "UNKNOWN"}
    assert apply_transforms(
        parsed, ["", "000-000-0000", "702-555-0100"], lambda v: v in placeholders
    ) == ["702-555-0100"]


def test_parsed_steps_pickle_for_worker_processes() -> None:
    parsed, problems = parse(
        [
            {"op": "match", "pattern": ADDRESS, "group": "city"},
            {"op": "map", "table": "us-states"},
            {"op": "split", "pattern": ",", "part": 1},
        ]
    )
    assert problems == []
    again = pickle.loads(pickle.dumps(parsed))  # noqa: S301 (our own bytes)
    assert again == parsed
    assert apply_transforms(again, ["1 A ST, Portland, OR 97201"]) == ["Portland"]
    assert isinstance(again[1], MapCodes)
    assert again[1].apply("Oregon") == "or"


def test_descriptions_name_the_steps() -> None:
    parsed, _ = parse(
        [
            {"op": "split", "separator": ",", "part": 2},
            {"op": "match", "pattern_name": "address", "group": "zip"},
            {"op": "join"},
            {"op": "first_non_empty"},
            {"op": "substring", "start": 2, "length": 3},
            {"op": "keep_first", "characters": 5},
            {"op": "map", "table": "us-states"},
            {"op": "map", "table": {"1": "m"}, "unmapped": "reject"},
        ],
        {"address": ADDRESS},
    )
    assert [type(step) for step in parsed] == [
        Split, Match, Join, FirstNonEmpty, Substring, KeepFirst, MapCodes, MapCodes,
    ]  # fmt: skip
    assert [step.describe() for step in parsed] == [
        "split by ',', part 2",
        "match pattern address, group zip",
        "join with ' '",
        "first non-empty",
        "substring from 2, 3 characters",
        "keep the first 5 characters",
        "map through table us-states, unmapped codes: keep",
        "map through an inline table of 1 codes, unmapped codes: reject",
    ]


# ---------------------------------------------------------------- configuration problems


@pytest.mark.parametrize(
    ("steps", "location", "reason"),
    [
        ("keep_first", "features.x.transforms", "must be a list of steps"),
        (["join"], "features.x.transforms[0]", "must be a table"),
        ([{}], "features.x.transforms[0].op", "is required: one of split, match"),
        ([{"op": "splt"}], "features.x.transforms[0].op", "did you mean split?"),
        (
            [{"op": "keep_first", "charaters": 5}],
            "features.x.transforms[0].charaters",
            "unknown key; did you mean characters? (a keep_first step takes characters)",
        ),
        ([{"op": "keep_first"}], "features.x.transforms[0].characters", "is required"),
        (
            [{"op": "keep_first", "characters": 0}],
            "features.x.transforms[0].characters",
            "must be at least 1",
        ),
        (
            [{"op": "keep_first", "characters": "5"}],
            "features.x.transforms[0].characters",
            "must be a whole number",
        ),
        ([{"op": "split", "part": 1}], "features.x.transforms[0]", "exactly one of separator"),
        (
            [{"op": "split", "separator": ",", "part": 0}],
            "features.x.transforms[0].part",
            "must be not 0 (1 is the first part, -1 the last)",
        ),
        (
            [{"op": "split", "pattern": "(", "part": 1}],
            "features.x.transforms[0].pattern",
            "is not a valid regular expression (missing ), unterminated subpattern at "
            "character 1); in TOML, write it in single quotes",
        ),
        ([{"op": "match", "group": "zip"}], "features.x.transforms[0]", "exactly one of pattern"),
        (
            [{"op": "match", "pattern": ADDRESS, "group": "postcode"}],
            "features.x.transforms[0].group",
            "is not a named group of the pattern (street, city, state, zip)",
        ),
        (
            [{"op": "match", "pattern": ADDRESS, "group": 5}],
            "features.x.transforms[0].group",
            "the pattern has 4 groups",
        ),
        (
            [{"op": "match", "pattern_name": "adress", "group": "zip"}],
            "features.x.transforms[0].pattern_name",
            "names no entry of [input.patterns] (defined: address)",
        ),
        ([{"op": "map"}], "features.x.transforms[0].table", "is required: a built-in table"),
        (
            [{"op": "map", "table": "us_states"}],
            "features.x.transforms[0].table",
            "is not a built-in table (us-states, au-states, iso-5218-sex)",
        ),
        (
            [{"op": "map", "table": {"1": 1}}],
            "features.x.transforms[0].table",
            'quote every value ("1" = "m")',
        ),
        (
            [{"op": "map", "table": {"OR": "or", "or": "or"}}],
            "features.x.transforms[0].table",
            "differ only in case",
        ),
        (
            [{"op": "map", "table": {"1": "m"}, "unmapped": "drop"}],
            "features.x.transforms[0].unmapped",
            "must be keep, missing or reject",
        ),
        (
            [{"op": "substring", "length": 2}],
            "features.x.transforms[0].start",
            "is required (1 is the first character",
        ),
    ],
)
def test_config_problems_name_the_path_and_the_fix(
    steps: object, location: str, reason: str
) -> None:
    problems: list[Problem] = []
    patterns = parse_patterns({"address": ADDRESS}, problems)
    parse_transforms(steps, "features.x.transforms", patterns, problems)
    assert any(p.location == location and reason in p.reason for p in problems), problems


def test_every_problem_of_every_step_is_reported_at_once() -> None:
    _, problems = parse(
        [
            {"op": "keep_first", "characters": 0, "extra": 1},
            {"op": "nope"},
            {"op": "match", "pattern": "[", "group": "x"},
        ]
    )
    assert {p.location for p in problems} == {
        "features.x.transforms[0].characters",
        "features.x.transforms[0].extra",
        "features.x.transforms[1].op",
        "features.x.transforms[2].pattern",
    }


def test_bad_named_patterns_are_named() -> None:
    problems: list[Problem] = []
    compiled = parse_patterns({"good": r"\d+", "bad": "(?P<x"}, problems)
    assert set(compiled) == {"good"}
    assert isinstance(compiled["good"], re.Pattern)
    assert [p.location for p in problems] == ["input.patterns.bad"]
    problems.clear()
    parse_patterns(["x"], problems)
    assert [p.location for p in problems] == ["input.patterns"]
