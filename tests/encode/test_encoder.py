"""Encoder behaviour beyond the golden vectors: missing values, errors, caching, parallelism."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.encode import (
    ClkEncoder,
    ValueChecker,
    default_schema,
    derive_feature_keys,
    load_schema,
    map_ordered,
    plain_schema,
    tokenize,
)
from linkage.encode._schema import Feature
from linkage.errors import InvalidInputError, RowError

pytestmark = pytest.mark.unit

SECRET = b"0123456789abcdef-test-secret"


def schema_with(missing: dict[str, str] | None = None, fmt: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    hashing: dict[str, object] = {
        "comparison": {"type": "ngram", "n": 2},
        "strategy": {"bitsPerToken": 10},
    }
    if missing is not None:
        hashing["missingValue"] = missing
    return load_schema(
        {
            "version": 3,
            "clkConfig": {"l": 128, "kdf": {"type": "HKDF"}},
            "features": [
                {"identifier": "a", "format": fmt or {"type": "string"}, "hashing": hashing},
                {"identifier": "skip", "ignored": True},
            ],
        }
    )


def test_none_is_the_sentinel_when_there_is_one() -> None:
    encoder = ClkEncoder(schema_with({"sentinel": "N/A", "replaceWith": "unknown"}), SECRET)
    assert encoder.encode_record([None, "x"]) == encoder.encode_record(["N/A", None])
    assert encoder.encode_record([None, None]) == encoder.encode_record(["unknown", None])


def test_none_is_the_empty_string_without_a_sentinel() -> None:
    encoder = ClkEncoder(schema_with(), SECRET)
    assert encoder.encode_record([None, None]) == bytes(16)
    date_encoder = ClkEncoder(schema_with(fmt={"type": "date", "format": "%Y-%m-%d"}), SECRET)
    batch = date_encoder.encode_valid([[None, None]])
    assert batch.problems
    assert batch.problems[0].feature == "a"


def test_ignored_values_are_never_read() -> None:
    encoder = ClkEncoder(schema_with(), SECRET)
    assert encoder.encode_record(["john", "anything"]) == encoder.encode_record(["john", None])


def test_short_or_text_secrets_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="shorter than 16 bytes"):
        ClkEncoder(plain_schema(), b"short")
    with pytest.raises(InvalidInputError):
        ClkEncoder(plain_schema(), "a text secret of enough length")  # type: ignore[arg-type]


def test_encode_raises_row_error_naming_rows_and_features_but_not_values() -> None:
    encoder = ClkEncoder(schema_with(fmt={"type": "integer"}), SECRET)
    with pytest.raises(RowError) as info:
        encoder.encode([["12", None], ["Margaret-Secret", None], ["7", None, "extra"]])
    text = str(info.value)
    assert "rows[1], feature a: not an integer" in text
    assert "rows[2]" in text
    assert "Margaret" not in text


def test_encode_valid_keeps_order_and_reports_indices() -> None:
    encoder = ClkEncoder(schema_with(fmt={"type": "integer"}), SECRET)
    batch = encoder.encode_valid([["1", None], ["x", None], ["3", None]])
    assert batch.accepted.tolist() == [0, 2]
    assert [p.row_index for p in batch.problems] == [1]
    assert batch.clks.shape == (2, 16)
    assert bytes(batch.clks[1]) == encoder.encode_record(["3", None])


def test_keys_differ_per_feature_and_depend_on_the_secret() -> None:
    keys = derive_feature_keys(plain_schema(), SECRET)
    flat = [k for pair in keys for k in pair]
    assert len(set(flat)) == len(flat) == 2 * len(plain_schema().features)
    assert derive_feature_keys(plain_schema(), SECRET + b"!")[0] != keys[0]


def test_tokenize_pads_and_numbers_positions() -> None:
    schema = load_schema(
        {
            "version": 3,
            "clkConfig": {"l": 64, "kdf": {"type": "HKDF"}},
            "features": [
                {
                    "identifier": "p",
                    "format": {"type": "string"},
                    "hashing": {
                        "comparison": {"type": "ngram", "n": 2, "positional": True},
                        "strategy": {"bitsPerToken": 1},
                    },
                }
            ],
        }
    )
    feature = schema.features[0]
    assert isinstance(feature, Feature)
    assert tokenize(feature, "ab") == ["1  a", "2 ab", "3 b "]
    assert tokenize(feature, "") == []


ROW = st.lists(
    st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["1980-01-02", "m", "f", "2000"])),
    min_size=11,
    max_size=11,
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(ROW, max_size=8))
def test_batch_equals_row_by_row_and_warm_equals_cold(rows: list[list[str | None]]) -> None:
    warm = ClkEncoder(plain_schema(), SECRET)
    batch = warm.encode_valid(rows)
    singles = []
    for row in rows:
        cold = ClkEncoder(plain_schema(), SECRET).encode_valid([row])
        if cold.clks.shape[0]:
            singles.append(bytes(cold.clks[0]))
    assert [bytes(c) for c in batch.clks] == singles
    again = warm.encode_valid(rows)
    assert np.array_equal(again.clks, batch.clks)


class _EncodeChunks:
    """A picklable worker factory for map_ordered."""

    def __call__(self):  # type: ignore[no-untyped-def]
        encoder = ClkEncoder(plain_schema(), SECRET)
        return lambda rows: encoder.encode(rows)


def test_map_ordered_in_processes_matches_one_process() -> None:
    names = ["ann", "bob", "chloé", "dai", "eve", "fay", "gus"]
    rows = [
        [names[i % 7], None, f"s{i}", None, None, None, None, None, None, None, None]
        for i in range(300)
    ]
    chunks = [rows[i : i + 37] for i in range(0, len(rows), 37)]
    parallel = list(map_ordered(_EncodeChunks(), chunks, workers=2))
    inline = list(map_ordered(_EncodeChunks(), chunks, workers=1))
    assert len(parallel) == len(chunks)
    for left, right in zip(parallel, inline, strict=True):
        assert np.array_equal(left, right)
    assert list(map_ordered(_EncodeChunks(), [], workers=2)) == []


class _Pid:
    """A picklable worker factory whose work reports the process it ran in."""

    def __call__(self):  # type: ignore[no-untyped-def]
        return lambda chunk: (chunk, os.getpid())


def test_short_inputs_run_inline_and_long_ones_in_worker_processes() -> None:
    short = list(map_ordered(_Pid(), range(3), workers=2, inline_below=4))
    assert [pid for _, pid in short] == [os.getpid()] * 3
    long = list(map_ordered(_Pid(), range(10), workers=2, inline_below=4))
    assert [chunk for chunk, _ in long] == list(range(10))
    assert os.getpid() not in {pid for _, pid in long}


# ---------------------------------------------------------------- ValueChecker


def test_the_value_checker_refuses_exactly_what_the_encoder_refuses() -> None:
    schema = default_schema()
    encoder = ClkEncoder(schema, b"s" * 32, key_epoch=1)
    checker = ValueChecker(schema)
    good: list[str | None] = [
        *("ann", None, "lee", "1980-01-02", "f", "0412555019"),
        *("1 main st", None, "x", "3056", "vic"),
    ]
    variants: list[list[str | None]] = [good]
    bad_values = {
        3: ["1980-13-01", "02/01/1980", "", "1980-1-2"],
        4: ["F", "u", ""],
        5: ["12345", "0412 555 019", "a" * 6],
        0: ["ANN", "a" * 129],
        9: ["x" * 17],
    }
    for index, values in bad_values.items():
        for value in values:
            row = list(good)
            row[index] = value
            variants.append(row)
    variants.append(good[:5])
    batch = encoder.encode_valid(variants)
    refused = {p.row_index: (p.feature, p.reason) for p in batch.problems}
    for index, row in enumerate(variants):
        found = checker.problems(row, index)
        if index in refused:
            assert found, row
            assert (found[0].feature, found[0].reason) == refused[index]
        else:
            assert found == [], row
