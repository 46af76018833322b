"""The hardened-schema extension: how it is declared, validated, refused and fingerprinted."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from linkage.encode import (
    HARDENED_SCHEMA_VERSION,
    Diffusion,
    Hardening,
    SaltRule,
    default_schema,
    default_schema_text,
    load_schema,
    plain_schema,
    plain_schema_text,
    schema_fingerprint,
)
from linkage.errors import SchemaError

pytestmark = pytest.mark.unit

#: The fingerprint of the plain person schema as committed before hardening existed
#: (it was then "default-person-schema.json"): plain canonical JSON must never change.
PLAIN_FINGERPRINT_BEFORE_HARDENING = (
    "0c3e8bcc26436ede7651ca9f248e0a0e7c83a9c6fd5679ed785370c5302fcdc1"
)


def _feature(identifier: str, fmt: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "format": fmt or {"type": "string"},
        "hashing": {"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 4}},
    }


def hardened(**hardening: Any) -> dict[str, Any]:
    return {
        "version": HARDENED_SCHEMA_VERSION,
        "clkConfig": {"l": 256, "kdf": {"type": "HKDF"}},
        "features": [
            _feature("name"),
            _feature("dob", {"type": "date", "format": "%Y-%m-%d"}),
            {"identifier": "id", "ignored": True},
        ],
        "hardening": hardening or {"diffusion": {"outputBits": 128, "t": 8}},
    }


NAME_BY_DOB = {"feature": "name", "saltFrom": "dob"}


def problems_of(document: object, **options: bool) -> dict[str, str]:
    with pytest.raises(SchemaError) as info:
        load_schema(document, **options)  # type: ignore[arg-type]
    return {p.location: p.reason for p in info.value.problems}


def test_a_hardened_schema_parses_with_defaults_filled_in() -> None:
    schema = load_schema(
        hardened(
            salting=[{"feature": "name", "saltFrom": "dob", "end": 4}],
            diffusion={},
        )
    )
    assert schema.hardening == Hardening(
        salting=(SaltRule("name", "dob", 0, 4),), balance=False, diffusion=Diffusion(1024, 10)
    )
    assert schema.is_hardened
    assert schema.length == 1024
    assert schema.bloom_length == 256
    assert schema.version_marker == HARDENED_SCHEMA_VERSION


def test_a_plain_v3_reader_refuses_a_hardened_schema_at_the_version() -> None:
    found = problems_of(hardened(), allow_hardening=False)
    assert list(found) == ["$.version"]
    assert "hardened schema" in found["$.version"]
    assert "accepts only plain linkage schema v3" in found["$.version"]


def test_a_hardening_block_under_version_3_is_an_error_not_ignored() -> None:
    document = hardened()
    document["version"] = 3
    found = problems_of(document)
    assert "$.hardening" in found
    assert "unhardened" in found["$.hardening"]


def test_the_hardened_version_needs_its_block() -> None:
    document = hardened()
    del document["hardening"]
    assert "$.hardening" in problems_of(document)


@pytest.mark.parametrize(
    ("hardening", "location", "reason"),
    [
        ({}, "$.hardening", "declares no hardening step"),
        ({"salting": [{"feature": "nope", "saltFrom": "dob"}]}, "$.hardening.salting[0].feature",
         "not a feature"),
        ({"salting": [{"feature": "id", "saltFrom": "dob"}]}, "$.hardening.salting[0].feature",
         "ignored"),
        ({"salting": [{"feature": "name", "saltFrom": "name"}]},
         "$.hardening.salting[0].saltFrom", "must differ"),
        ({"salting": [NAME_BY_DOB, {"feature": "dob", "saltFrom": "name"}]},
         "$.hardening.salting[0].saltFrom", "itself salted"),
        ({"salting": [NAME_BY_DOB, NAME_BY_DOB]}, "$.hardening.salting[1].feature",
         "salted twice"),
        ({"salting": [{"feature": "name", "saltFrom": "dob", "start": 4, "end": 2}]},
         "$.hardening.salting[0].end", "greater than start"),
        ({"salting": [{"feature": "name"}]}, "$.hardening.salting[0].saltFrom", "required"),
        ({"salting": {"name": "dob"}}, "$.hardening.salting", "must be an array"),
        ({"diffusion": {"outputBits": 100}}, "$.hardening.diffusion.outputBits", "multiple of 64"),
        ({"diffusion": {"t": 0}}, "$.hardening.diffusion.t", ">= 1"),
        ({"diffusion": {"t": 300}}, "$.hardening.diffusion.t", "exceeds the 256 bits"),
        ({"diffusion": {"taps": 8}}, "$.hardening.diffusion.taps", "unknown key"),
        ({"balance": "yes"}, "$.hardening.balance", "true or false"),
        ({"fold": 1}, "$.hardening.fold", "unknown key"),
    ],
)  # fmt: skip
def test_hardening_problems_are_named_by_json_path(
    hardening: dict[str, Any], location: str, reason: str
) -> None:
    document = hardened()
    document["hardening"] = hardening
    found = problems_of(document)
    assert location in found, found
    assert reason in found[location]


def test_balance_and_diffusion_need_whole_words() -> None:
    document = hardened(balance=True)
    document["clkConfig"]["l"] = 200
    assert "multiple of 64" in problems_of(document)["$.clkConfig.l"]


def test_t_may_reach_the_balanced_length() -> None:
    schema = load_schema(hardened(balance=True, diffusion={"outputBits": 64, "t": 512}))
    assert schema.length == 64
    assert load_schema(hardened(balance=True)).length == 512


def test_hardening_takes_part_in_the_fingerprint() -> None:
    base = hardened(diffusion={"outputBits": 128, "t": 8})
    fingerprints = {
        schema_fingerprint(load_schema(base)),
        schema_fingerprint(load_schema(hardened(diffusion={"outputBits": 128, "t": 10}))),
        schema_fingerprint(load_schema(hardened(diffusion={"outputBits": 192, "t": 8}))),
        schema_fingerprint(
            load_schema(hardened(diffusion={"outputBits": 128, "t": 8}, balance=True))
        ),
        schema_fingerprint(
            load_schema(
                hardened(
                    diffusion={"outputBits": 128, "t": 8},
                    salting=[{"feature": "name", "saltFrom": "dob", "end": 4}],
                )
            )
        ),
    }
    assert len(fingerprints) == 5
    plain = copy.deepcopy(base)
    plain["version"] = 3
    del plain["hardening"]
    assert schema_fingerprint(load_schema(plain)) not in fingerprints


def test_fingerprint_ignores_salting_order_and_written_defaults() -> None:
    document = hardened(
        salting=[{"feature": "name", "saltFrom": "dob", "end": 4}],
        diffusion={"outputBits": 128, "t": 8},
    )
    document["features"].append(_feature("town"))
    document["hardening"]["salting"].append({"feature": "town", "saltFrom": "dob"})
    reordered = copy.deepcopy(document)
    reordered["hardening"]["salting"].reverse()
    explicit = copy.deepcopy(document)
    explicit["hardening"]["balance"] = False
    explicit["hardening"]["salting"][1]["start"] = 0
    prints = {schema_fingerprint(load_schema(d)) for d in (document, reordered, explicit)}
    assert len(prints) == 1


def test_hardened_schemas_round_trip_through_json() -> None:
    for schema in (default_schema(), load_schema(hardened(balance=True))):
        again = load_schema(json.loads(json.dumps(schema.to_json_dict())))
        assert again == schema
        assert schema_fingerprint(again) == schema_fingerprint(schema)
        assert again.to_json_dict()["version"] == HARDENED_SCHEMA_VERSION


def test_plain_canonical_json_and_fingerprint_are_unchanged() -> None:
    schema = plain_schema()
    assert schema.hardening is None
    assert schema_fingerprint(schema) == PLAIN_FINGERPRINT_BEFORE_HARDENING
    assert '"hardening"' not in schema.canonical_json()
    assert json.loads(schema.canonical_json())["version"] == 3
    assert load_schema(plain_schema_text(), allow_hardening=False) == schema


def test_the_shipped_default_is_hardened_with_at_least_eight_taps() -> None:
    schema = load_schema(default_schema_text())
    assert schema.hardening is not None
    assert schema.hardening.diffusion is not None
    assert schema.hardening.diffusion.taps >= 8
    assert schema.length == 1024  # what the matcher is configured for by default
    assert schema.identifiers == plain_schema().identifiers
