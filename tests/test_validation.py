"""linkage.validation: pydantic errors become problems named by path, all at once."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field, PlainValidator, model_validator

from linkage.errors import ConfigError, Problem
from linkage.validation import (
    Findings,
    Table,
    check,
    close_match,
    dataclass_default,
    format_location,
    unknown_key_reason,
)

pytestmark = pytest.mark.unit


def _number_or_auto(value: object) -> float | str:
    if value == "auto":
        return "auto"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError('must be a number or "auto"')


class Step(Table):
    op: Literal["join", "split"]
    part: int = 1


class Inner(Table):
    name: str
    size: int = 3
    ratio: float = 0.5
    on: bool = True
    tags: list[str] = Field(default_factory=list, description="a list of tags")
    kind: Literal["a", "b"] = "a"
    threshold: Annotated[float | str, PlainValidator(_number_or_auto)] = 0.8
    steps: list[Step] = Field(default_factory=list)


class Item(Table):
    model_config = Table.model_config | {"title": "an item table"}

    column: str | None = None
    columns: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> Item:
        if (self.column is None) == (self.columns is None):
            raise ValueError("name exactly one of column or columns")
        return self


class Document(Table):
    model_config = Table.model_config | {"title": "test.toml"}

    inner: Inner = Field(default_factory=dict, validate_default=True)
    items: dict[str, Item] = Field(default_factory=dict)
    schema_: str = Field(default="default", alias="schema")


def problems_of(data: object) -> dict[str, str]:
    _model, problems = check(Document, data)
    return {p.location: p.reason for p in problems}


def test_a_valid_document_gives_the_model_and_no_problems() -> None:
    model, problems = check(Document, {"inner": {"name": "x", "ratio": 2}, "schema": "s"})
    assert problems == []
    assert model is not None
    assert model.inner.ratio == 2.0  # an integer is a number
    assert model.schema_ == "s"


def test_types_are_strict_and_named_in_plain_english() -> None:
    problems = problems_of(
        {
            "inner": {
                "name": 5,
                "size": True,  # a boolean is not an integer
                "ratio": "half",
                "on": "yes",
                "kind": "c",
                "tags": "one",
                "threshold": "automatic",
            }
        }
    )
    assert problems == {
        "inner.name": "must be a string",
        "inner.size": "must be an integer",
        "inner.ratio": "must be a number",
        "inner.on": "must be true or false",
        "inner.kind": "must be a or b",
        "inner.tags": "must be a list of tags",
        "inner.threshold": 'must be a number or "auto"',
    }


def test_a_bad_item_of_a_list_of_values_is_named_by_its_list() -> None:
    assert problems_of({"inner": {"name": "x", "tags": ["a", 3]}}) == {
        "inner.tags": "must be a list of tags"
    }


def test_tables_in_lists_and_dicts_are_named_by_index_and_key() -> None:
    problems = problems_of(
        {
            "inner": {"name": "x", "steps": [{"op": "join"}, {"op": "splt", "extra": 1}, 4]},
            "items": {"a": {"column": "c"}, "b": {}, "c": 7},
        }
    )
    assert problems == {
        "inner.steps[1].op": "must be join or split",
        "inner.steps[1].extra": unknown_key_reason("extra", ("op", "part"), "[inner.steps[1]]"),
        "inner.steps[2]": "must be a table",
        "items.b": "name exactly one of column or columns",
        "items.c": "must be a table",
    }


def test_unknown_keys_and_tables_name_the_closest_valid_one() -> None:
    problems = problems_of(
        {"inner": {"name": "x", "sise": 4}, "iner": {}, "items": {"a": {"colum": "x"}}}
    )
    assert problems["iner"] == (
        "unknown table; did you mean inner? (test.toml takes inner, items, schema)"
    )
    assert problems["inner.sise"].startswith("unknown key; did you mean size? ([inner] takes name,")
    assert problems["items.a.colum"] == (
        "unknown key; did you mean column? (an item table takes column, columns)"
    )


def test_required_keys_are_named_as_required_even_when_their_table_is_left_out() -> None:
    assert problems_of({}) == {"inner.name": "is required"}
    assert problems_of({"inner": "x"}) == {"inner": "must be a table"}


def test_every_problem_is_reported_at_once_and_values_never_appear() -> None:
    secret = "s3cr3t-value-0042"
    problems = problems_of(
        {"inner": {"name": secret, "size": secret, "kind": secret, "tags": [secret, 1]},
         "extra": secret}
    )  # fmt: skip
    assert set(problems) == {"inner.size", "inner.kind", "inner.tags", "extra"}
    assert not any(secret in f"{where} {reason}" for where, reason in problems.items())


def test_droppable_problems_still_give_a_model_to_find_value_problems_with() -> None:
    model, problems = check(Document, {"inner": {"name": "x", "size": "big", "colour": 1}})
    assert {p.location for p in problems} == {"inner.size", "inner.colour"}
    assert model is not None
    assert model.inner.size == 3  # the default stands in for the dropped value
    # a missing required key gives no model
    model, problems = check(Document, {"inner": {"size": 2}})
    assert model is None
    assert [str(p) for p in problems] == ["inner.name: is required"]
    # nor does a required key of the wrong type, which is named once
    model, problems = check(Document, {"inner": {"name": 5}})
    assert model is None
    assert [str(p) for p in problems] == ["inner.name: must be a string"]


def test_a_table_failing_its_own_rule_is_dropped_and_the_rest_goes_on() -> None:
    model, problems = check(
        Document, {"inner": {"name": "x"}, "items": {"a": {}, "b": {"column": "c"}}}
    )
    assert [p.location for p in problems] == ["items.a"]
    assert model is not None
    assert set(model.items) == {"b"}


def test_a_prefix_names_a_table_checked_on_its_own() -> None:
    model, problems = check(Inner, {"size": "x"}, prefix=("linkage", "dask"))
    assert model is None
    assert {p.location for p in problems} == {"linkage.dask.size", "linkage.dask.name"}
    _, problems = check(Inner, "tcp://h:1", prefix=("linkage", "dask"))
    assert [str(p) for p in problems] == ["linkage.dask: must be a table"]


def test_findings_leave_out_domain_problems_of_values_already_named() -> None:
    findings = Findings([Problem("limits.burst", "must be an integer")])
    findings.add(Problem("limits.burst", "must be at least 1"))
    findings.add(Problem("limits.burst.x", "anything"))
    findings.add(Problem("limits.bursty", "must be positive"))

    def fails() -> int:
        raise ConfigError("invalid limits", problems=[Problem("limits.rate", "must be positive")])

    def fails_without_problems() -> int:
        raise ConfigError("too short")

    assert findings.build(fails) is None
    assert findings.build(fails_without_problems, "secret") is None
    assert findings.build(lambda: 4) == 4
    assert [str(p) for p in findings.problems] == [
        "limits.burst: must be an integer",
        "limits.bursty: must be positive",
        "limits.rate: must be positive",
        "secret: too short",
    ]


def test_locations_close_matches_and_dataclass_defaults() -> None:
    assert format_location(("features", "x", "transforms", 1, "op")) == (
        "features.x.transforms[1].op"
    )
    assert format_location(()) == ""
    assert close_match("delimeter", ("delimiter", "encoding")) == "delimiter"
    assert close_match("enc", ("delimiter", "encoding")) == "encoding"
    assert close_match("zzz", ("delimiter", "encoding")) is None
    assert unknown_key_reason("q", (), "[x]") == "unknown key; ([x] takes no other keys)"

    from linkage.service import ServiceLimits

    assert dataclass_default(ServiceLimits, "lookup_burst") == ServiceLimits().lookup_burst
    with pytest.raises(LookupError):
        dataclass_default(Problem, "location")
