"""The linkage schema's JSON models (linkage/encode/_schema_json.py, _segments_json.py):
unknown keys at every level with the closest valid one, strict JSON types, required keys,
every problem at once by its JSON path, and no value echoed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from linkage.encode import DEFAULT_SEGMENTS, default_schema_text, load_schema, load_segmented_schema
from linkage.errors import SchemaError

pytestmark = pytest.mark.unit


def document() -> dict[str, Any]:
    return {
        "version": 3,
        "clkConfig": {"l": 1024, "kdf": {"type": "HKDF", "hash": "SHA256", "keySize": 64}},
        "features": [
            {"identifier": "id", "ignored": True},
            {
                "identifier": "name",
                "format": {"type": "string", "encoding": "utf-8", "case": "lower"},
                "hashing": {
                    "comparison": {"type": "ngram", "n": 2},
                    "strategy": {"bitsPerToken": 20},
                    "hash": {"type": "doubleHash", "prevent_singularity": True},
                    "missingValue": {"sentinel": "", "replaceWith": ""},
                },
            },
            {
                "identifier": "dob",
                "format": {"type": "date", "format": "%Y-%m-%d"},
                "hashing": {
                    "comparison": {"type": "numeric", "thresholdDistance": 1, "resolution": 2},
                    "strategy": {"bitsPerFeature": 100},
                },
            },
            {
                "identifier": "code",
                "format": {"type": "string", "pattern": "[A-Z]+"},
                "hashing": {"comparison": {"type": "exact"}, "strategy": {"bitsPerToken": 5}},
            },
        ],
    }


def problems_of(doc: object) -> dict[str, str]:
    with pytest.raises(SchemaError) as caught:
        load_schema(doc)  # type: ignore[arg-type]
    return {p.location: p.reason for p in caught.value.problems}


def with_value(path: str, value: object) -> dict[str, Any]:
    """document() with the key at ``path`` ("features.1.format.case") set (``...`` removes)."""
    doc = document()
    *parents, key = path.split(".")
    holder: Any = doc
    for part in parents:
        holder = holder[int(part)] if part.isdigit() else holder[part]
    if value is ...:
        del holder[key]
    else:
        holder[key] = value
    return doc


def test_the_document_reads_every_kind_of_object() -> None:
    schema = load_schema(document())
    assert [f.identifier for f in schema.features] == ["id", "name", "dob", "code"]


@pytest.mark.parametrize(
    ("path", "location", "reason"),
    [
        ("verison", "$.verison", "unknown key; did you mean version? ($ takes version, clkConfig"),
        ("clkConfig.xor_fold", "$.clkConfig.xor_fold", "unknown key; did you mean xor_folds?"),
        ("clkConfig.kdf.keysize", "$.clkConfig.kdf.keysize", "unknown key; did you mean keySize?"),
        ("features.0.format", "$.features[0].format", None),
        ("features.1.identifer", "$.features[1].identifer",
         "unknown key; did you mean identifier?"),
        ("features.1.format.cases", "$.features[1].format.cases",
         "unknown key; did you mean case?"),
        ("features.3.format.case", "$.features[3].format.case",
         "unknown key; ($.features[3].format takes type, encoding, pattern, description)"),
        ("features.1.hashing.hsh", "$.features[1].hashing.hsh", "unknown key; did you mean hash?"),
        ("features.1.hashing.comparison.m", "$.features[1].hashing.comparison.m", "unknown key"),
        ("features.1.hashing.missingValue.replace", "$.features[1].hashing.missingValue.replace",
         "unknown key; did you mean replaceWith?"),
    ],
)  # fmt: skip
def test_an_unknown_key_at_any_level_is_named(path: str, location: str, reason: str | None) -> None:
    problems = problems_of(with_value(path, 1))
    assert location in problems, problems
    if reason is not None:
        assert problems[location].startswith(reason)


@pytest.mark.parametrize(
    ("path", "value", "location", "reason"),
    [
        ("clkConfig.l", "1024", "$.clkConfig.l", "must be an integer"),
        ("clkConfig.l", 1001, "$.clkConfig.l", "must be a multiple of 8"),
        ("clkConfig.kdf", [], "$.clkConfig.kdf", "must be an object"),
        ("clkConfig.kdf.type", "PBKDF2", "$.clkConfig.kdf.type", "must be HKDF"),
        ("clkConfig.kdf.keySize", True, "$.clkConfig.kdf.keySize", "must be an integer"),
        ("clkConfig.kdf.info", 5, "$.clkConfig.kdf.info", "must be a string"),
        ("features", {}, "$.features", "must be an array of at least one feature"),
        ("features.1.identifier", 7, "$.features[1].identifier", "must be a string"),
        ("features.1.ignored", "no", "$.features[1].ignored", "must be true or false"),
        ("features.1.format.encoding", "latin-1", "$.features[1].format.encoding",
         "must be ascii, utf-8, utf-16 or utf-32"),
        ("features.1.format.minLength", -1, "$.features[1].format.minLength", "must be >= 0"),
        ("features.1.format.type", "text", "$.features[1].format.type",
         "must be string, integer, date or enum"),
        ("features.1.format", "string", "$.features[1].format", "must be an object"),
        ("features.1.hashing.comparison.type", "qgram", "$.features[1].hashing.comparison.type",
         "must be ngram, exact or numeric"),
        ("features.1.hashing.comparison.n", 2.0, "$.features[1].hashing.comparison.n",
         "must be an integer"),
        ("features.2.hashing.comparison.thresholdDistance", "1",
         "$.features[2].hashing.comparison.thresholdDistance", "must be a number"),
        ("features.2.hashing.comparison.thresholdDistance", 0,
         "$.features[2].hashing.comparison.thresholdDistance", "must be > 0"),
        ("features.1.hashing.strategy", {"bitsPerToken": 1, "bitsPerFeature": 2},
         "$.features[1].hashing.strategy",
         "must hold exactly one of bitsPerToken, bitsPerFeature"),
        ("features.1.hashing.hash", {"type": "sha1"}, "$.features[1].hashing.hash.type",
         "must be blakeHash or doubleHash"),
        ("features.1.hashing.hash", {"type": "blakeHash", "prevent_singularity": False},
         "$.features[1].hashing.hash.prevent_singularity", "may only be given with doubleHash"),
        ("features.3.format.pattern", "[", "$.features[3].format.pattern",
         "is not a valid regular expression"),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_or_range_is_named(
    path: str, value: object, location: str, reason: str
) -> None:
    problems = problems_of(with_value(path, value))
    assert location in problems, problems
    assert problems[location].startswith(reason)


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("version", "$.version"),
        ("clkConfig", "$.clkConfig"),
        ("clkConfig.l", "$.clkConfig.l"),
        ("clkConfig.kdf.type", "$.clkConfig.kdf.type"),
        ("features.1.identifier", "$.features[1].identifier"),
        ("features.1.hashing", "$.features[1].hashing"),
        ("features.1.format.type", "$.features[1].format.type"),
        ("features.2.format.format", "$.features[2].format.format"),
        ("features.2.hashing.comparison.resolution", "$.features[2].hashing.comparison.resolution"),
        ("features.1.hashing.missingValue.sentinel", "$.features[1].hashing.missingValue.sentinel"),
    ],
)
def test_a_missing_required_key_is_named_as_required(path: str, location: str) -> None:
    problems = problems_of(with_value(path, ...))
    assert problems[location].startswith("is required")


def test_every_problem_of_every_feature_is_named_at_once() -> None:
    doc = document()
    doc["clkConfig"]["kdf"]["hash"] = "MD5"
    doc["features"][1]["format"]["case"] = "title"
    doc["features"][2]["hashing"]["comparison"]["resolution"] = 0
    doc["features"][3]["hashing"]["strategy"] = {"bitsPerToken": "5"}
    doc["features"].append("oops")
    assert set(problems_of(doc)) == {
        "$.clkConfig.kdf.hash",
        "$.features[1].format.case",
        "$.features[2].hashing.comparison.resolution",
        "$.features[3].hashing.strategy.bitsPerToken",
        "$.features[4]",
    }


def test_rules_across_objects_are_checked_once_the_shapes_are_valid() -> None:
    doc = document()
    doc["features"][2]["identifier"] = "name"  # a duplicate: the schema model's rule
    doc["features"][1]["colour"] = "red"  # an unknown key, dropped to go on
    assert set(problems_of(doc)) == {"$.features[1].colour", "$.features[2].identifier"}
    # except past a problem in clkConfig, whose settings every other rule depends on
    doc["clkConfig"]["kdf"]["hsah"] = "SHA256"
    assert set(problems_of(doc)) == {"$.features[1].colour", "$.clkConfig.kdf.hsah"}


def test_values_are_never_echoed() -> None:
    secret = "Jane Q. Public 1970-01-01"
    doc = document()
    doc["features"][1]["format"]["case"] = secret
    doc["features"][1]["identifier"] = 1
    doc["clkConfig"]["kdf"]["salt"] = secret
    doc["version"] = secret
    with pytest.raises(SchemaError) as caught:
        load_schema(doc)
    assert secret not in str(caught.value)
    assert "Jane" not in str(caught.value)


def test_the_segments_block_names_unknown_keys_types_and_missing_keys() -> None:
    doc = json.loads(default_schema_text())
    segments = copy.deepcopy(DEFAULT_SEGMENTS)
    segments["diffusion"] = {"taps": 10}
    segments["fields"][0]["bitsPerTokn"] = 10
    segments["fields"][1]["filterBits"] = "1024"
    segments["fields"][2]["features"] = ["surname", "nope"]
    del segments["fields"][3]["bits"]
    segments["fields"][8]["keys"] = 9
    doc["segments"] = segments
    with pytest.raises(SchemaError) as caught:
        load_segmented_schema(doc)
    problems = {p.location: p.reason for p in caught.value.problems}
    assert problems == {
        "$.segments.diffusion.taps": "unknown key; ($.segments.diffusion takes t)",
        "$.segments.diffusion.t": "is required",
        "$.segments.fields[0].bitsPerTokn": problems["$.segments.fields[0].bitsPerTokn"],
        "$.segments.fields[1].filterBits": "must be an integer",
        "$.segments.fields[2].features": "must list distinct hashed features of the schema",
        "$.segments.fields[3].bits": "is required",
        "$.segments.fields[8].keys": "must be an integer in [1, 8]",
    }
    assert problems["$.segments.fields[0].bitsPerTokn"].startswith(
        "unknown key; did you mean bitsPerToken?"
    )
