"""Schema v3 parsing: every problem is named by its JSON path; fingerprints are stable."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from linkage.encode import (
    BitsPerFeature,
    BlakeHash,
    DoubleHash,
    IgnoredFeature,
    NgramComparison,
    default_schema,
    default_schema_text,
    load_schema,
    schema_fingerprint,
)
from linkage.errors import SchemaError

pytestmark = pytest.mark.unit


def minimal() -> dict[str, Any]:
    return {
        "version": 3,
        "clkConfig": {"l": 64, "kdf": {"type": "HKDF"}},
        "features": [
            {"identifier": "id", "ignored": True},
            {
                "identifier": "name",
                "format": {"type": "string"},
                "hashing": {
                    "comparison": {"type": "ngram", "n": 2},
                    "strategy": {"bitsPerToken": 5},
                },
            },
        ],
    }


def problems_of(document: object) -> dict[str, str]:
    with pytest.raises(SchemaError) as info:
        load_schema(document)  # type: ignore[arg-type]
    return {p.location: p.reason for p in info.value.problems}


def test_minimal_schema_parses_with_clkhash_defaults() -> None:
    schema = load_schema(json.dumps(minimal()))
    assert isinstance(schema.features[0], IgnoredFeature)
    feature = schema.features[1]
    assert not isinstance(feature, IgnoredFeature)
    assert feature.hashing.hash == BlakeHash()
    assert feature.hashing.comparison == NgramComparison(n=2, positional=False)
    assert schema.clk_config.kdf.key_size == 64
    assert schema.clk_config.xor_folds == 0


def test_every_problem_is_reported_with_its_json_path() -> None:
    document = minimal()
    document["features"][1]["hashing"]["strategy"] = {"bitsPerTokn": 5}
    document["features"][1]["hashing"]["hash"] = {"type": "blakeHash", "prevent_singularity": True}
    document["features"][1]["format"]["encoding"] = "latin-1"
    document["clkConfig"]["kdf"]["hash"] = "MD5"
    found = problems_of(document)
    assert set(found) == {
        "$.features[1].hashing.strategy",
        "$.features[1].hashing.hash.prevent_singularity",
        "$.features[1].format.encoding",
        "$.clkConfig.kdf.hash",
    }


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(hardening={"diffusion": 8}), "$.hardening"),
        (lambda d: d.update(version=2), "$.version"),
        (lambda d: d["clkConfig"].update(l=60), "$.clkConfig.l"),
        (lambda d: d["clkConfig"].update(xorFolds=1), "$.clkConfig.xorFolds"),
        (lambda d: d["clkConfig"]["kdf"].update(salt="@@not base64"), "$.clkConfig.kdf.salt"),
        (lambda d: d["clkConfig"]["kdf"].update(keySize=65), "$.features[1].hashing.hash.type"),
        (lambda d: d["clkConfig"].update(l=72), "$.features[1].hashing.hash.type"),
        (lambda d: d["features"][1].update(identifier="id"), "$.features[1].identifier"),
        (
            lambda d: d["features"][1]["hashing"].pop("comparison"),
            "$.features[1].hashing.comparison",
        ),
        (
            lambda d: d["features"][1]["hashing"]["comparison"].update(n=0),
            "$.features[1].hashing.comparison.n",
        ),
        (lambda d: d["features"][1]["format"].update(type="float"), "$.features[1].format.type"),
        (
            lambda d: d["features"][1]["format"].update(pattern="(", case="upper"),
            "$.features[1].format.case",
        ),
        (lambda d: d["features"].append(3), "$.features[2]"),
        (lambda d: d.update(features=[]), "$.features"),
    ],
)
def test_invalid_schemas_name_the_path(mutate: Any, path: str) -> None:
    document = minimal()
    mutate(document)
    assert path in problems_of(document)


def test_numeric_threshold_that_rounds_to_zero_is_rejected() -> None:
    document = minimal()
    document["features"][1]["hashing"]["comparison"] = {
        "type": "numeric",
        "thresholdDistance": 0.001,
        "resolution": 2,
    }
    assert "$.features[1].hashing.comparison.thresholdDistance" in problems_of(document)


def test_hkdf_output_limit_is_checked() -> None:
    document = minimal()
    document["clkConfig"]["kdf"].update(keySize=64)
    feature = document["features"][1]
    document["features"] = [dict(feature, identifier=f"f{i}") for i in range(64)]
    assert "$.clkConfig.kdf.keySize" in problems_of(document)


def test_xorfolds_is_accepted_when_it_agrees_with_xor_folds() -> None:
    document = minimal()
    document["clkConfig"].update(xorFolds=2, xor_folds=2)
    assert load_schema(document).clk_config.hash_length == 256


def test_invalid_json_is_a_schema_error_without_echoing_the_text() -> None:
    with pytest.raises(SchemaError) as info:
        load_schema('{"version": 3, "secretish": ')
    assert "secretish" not in str(info.value)


def test_fingerprint_ignores_defaults_and_descriptions_but_not_settings() -> None:
    explicit = minimal()
    explicit["features"][1]["hashing"]["hash"] = {"type": "blakeHash"}
    explicit["features"][1]["description"] = "the person's name"
    explicit["clkConfig"]["kdf"]["keySize"] = 64
    base = schema_fingerprint(load_schema(minimal()))
    assert schema_fingerprint(load_schema(explicit)) == base
    changed = copy.deepcopy(minimal())
    changed["features"][1]["hashing"]["strategy"] = {"bitsPerToken": 6}
    assert schema_fingerprint(load_schema(changed)) != base
    assert len(base) == 64
    assert int(base, 16) >= 0


def test_canonical_json_round_trips() -> None:
    schema = default_schema()
    again = load_schema(schema.to_json_dict())
    assert again == schema
    assert schema_fingerprint(again) == schema_fingerprint(schema)


def test_default_schema_has_the_canonical_person_features() -> None:
    schema = load_schema(default_schema_text())
    assert {
        "given_name",
        "surname",
        "date_of_birth",
        "sex",
        "phone",
        "street_address",
        "suburb",
        "postcode",
    } <= set(schema.identifiers)
    for feature in schema.features:
        assert not isinstance(feature, IgnoredFeature)
        assert feature.hashing.missing_value is not None, feature.identifier
        assert isinstance(feature.hashing.strategy, BitsPerFeature)
    assert schema.length == 1024


def test_double_hash_flag_is_parsed() -> None:
    document = minimal()
    document["features"][1]["hashing"]["hash"] = {"type": "doubleHash", "prevent_singularity": True}
    feature = load_schema(document).features[1]
    assert not isinstance(feature, IgnoredFeature)
    assert feature.hashing.hash == DoubleHash(prevent_singularity=True)
