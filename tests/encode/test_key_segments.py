"""Key segments (``"kind": "keys"``, linkage/encode/_segments.py): how a schema declares
them, what is refused (named by JSON path), and what the encoder writes.

Each key word is recomputed here from the module docstring's recipe (HKDF-SHA256 segment
key, keyed BLAKE2b of the salt and the derived string, first 8 bytes) with hashlib and
cryptography directly, so the encoder is checked against an independent formulation.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.encode import (
    DEFAULT_FEATURES,
    DEFAULT_SEGMENTS,
    SegmentedEncoder,
    default_schema_text,
    default_segmented_schema,
    load_segmented_schema,
    segment_layout,
)
from linkage.encode._derived import derived_keys
from linkage.errors import SchemaError
from linkage.match import pack_clks
from linkage.types import PackedClks

pytestmark = pytest.mark.unit

SECRET = bytes(range(32))
OTHER_SECRET = bytes(range(1, 33))

#: a Bloom segment for the given name, then key segments of every transform
BLOOM = {
    "name": "given",
    "features": ["given_name"],
    "filterBits": 256,
    "bitsPerToken": 10,
    "bits": 256,
}
KEYS: list[dict[str, Any]] = [
    {
        "name": "given_nick",
        "kind": "keys",
        "features": ["given_name"],
        "transform": "nicknames",
        "keys": 4,
    },
    {
        "name": "given_sorted",
        "kind": "keys",
        "features": ["given_name"],
        "transform": "sorted-letters",
        "keys": 1,
    },
    {
        "name": "family_parts",
        "kind": "keys",
        "features": ["surname"],
        "transform": "name-parts",
        "keys": 3,
    },
    {
        "name": "dob_sorted",
        "kind": "keys",
        "features": ["date_of_birth"],
        "transform": "day-month-sorted",
        "keys": 1,
    },
]


def _document(*fields: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(default_schema_text())
    document["segments"] = {"fields": [copy.deepcopy(BLOOM), *copy.deepcopy(list(fields))]}
    return document


def _row(**values: str | None) -> tuple[str | None, ...]:
    return tuple(values.get(name) for name in DEFAULT_FEATURES)


def _encode(
    rows: list[tuple[str | None, ...]],
    *,
    secret: bytes = SECRET,
    epoch: int = 1,
    fields: list[dict[str, Any]] | None = None,
) -> tuple[SegmentedEncoder, PackedClks]:
    schema = load_segmented_schema(_document(*(KEYS if fields is None else fields)))
    encoder = SegmentedEncoder(schema, secret, key_epoch=epoch)
    return encoder, pack_clks(encoder.encode(rows))


def _words(encoder: SegmentedEncoder, packed: PackedClks, row: int, name: str) -> list[int]:
    part = encoder.layout.part(name)
    return [int(w) for w in packed[row, part.start_word : part.stop_word]]


def _segment_key(secret: bytes, epoch: int, name: str) -> bytes:
    info = b"key-epoch:" + epoch.to_bytes(8, "big") + b";segment:" + name.encode("utf-8")
    return HKDF(
        algorithm=hashes.SHA256(), length=64, salt=b"linkage/segment-key/1", info=info
    ).derive(secret)


def _key_word(secret: bytes, epoch: int, name: str, key: str, salt: str = "") -> int:
    data = b"key\x00" + len(salt.encode()).to_bytes(2, "big") + salt.encode() + key.encode()
    digest = hashlib.blake2b(data, key=_segment_key(secret, epoch, name), digest_size=64)
    return int.from_bytes(digest.digest()[:8], "big") or 1


def _expected_words(name: str, transform: str, formatted: str, keys: int) -> list[int]:
    words = sorted(
        {_key_word(SECRET, 1, name, k) for k in derived_keys(transform, formatted, keys)}
    )
    return words + [0] * (keys - len(words))


LIZ = _row(given_name="liz", surname="garcia lopez", date_of_birth="1980-02-13", sex="f")
ELIZABETH = _row(given_name="elizabeth", surname="garcia", date_of_birth="1980-02-13", sex="f")
LIZ_SWAPPED_DATE = _row(given_name="liz", surname="garcia lopez", date_of_birth="1980-13-02")
NOBODY = _row(sex="m", suburb="hobart")


# -- the JSON block --------------------------------------------------------------------


def test_a_key_segment_parses_to_64_bits_per_key() -> None:
    schema = load_segmented_schema(_document(*KEYS))
    specs = {spec.name: spec for spec in schema.segmentation.fields}
    nick = specs["given_nick"]
    assert (nick.kind, nick.transform, nick.features, nick.keys, nick.bits) == (
        "keys",
        "nicknames",
        ("given_name",),
        4,
        256,
    )
    assert specs["dob_sorted"].bits == 64
    assert specs["given"].kind == "bloom"
    assert specs["given"].keys == 0


def test_a_key_segment_block_round_trips_through_its_json_form() -> None:
    salted = {**KEYS[0], "salt": {"saltFrom": "date_of_birth", "start": 0, "end": 4}}
    schema = load_segmented_schema(_document(salted, *KEYS[1:]))
    block = schema.segmentation.to_json_dict()
    assert block["fields"][1] == salted
    assert block["fields"][2:] == KEYS[1:]
    document = _document()
    document["segments"] = block
    assert load_segmented_schema(document) == schema


def test_the_fingerprint_covers_a_key_segments_transform_and_size() -> None:
    base = load_segmented_schema(_document(*KEYS)).fingerprint
    other_transform = {**KEYS[0], "transform": "sorted-letters"}
    more_keys = {**KEYS[0], "keys": 5}
    assert load_segmented_schema(_document(other_transform, *KEYS[1:])).fingerprint != base
    assert load_segmented_schema(_document(more_keys, *KEYS[1:])).fingerprint != base


def _with(**changes: Any) -> dict[str, Any]:
    item = {**KEYS[0], **changes}
    return {key: value for key, value in item.items() if value is not None}


@pytest.mark.parametrize(
    ("item", "location", "reason"),
    [
        (_with(filterBits=256), "$.segments.fields[1].filterBits", "unknown key"),
        (_with(bitsPerToken=1), "$.segments.fields[1].bitsPerToken", "unknown key"),
        (_with(keyGroup="names"), "$.segments.fields[1].keyGroup", "unknown key"),
        (_with(transform="soundex"), "$.segments.fields[1].transform", "must be one of"),
        (_with(transform=None), "$.segments.fields[1].transform", "is required (one of"),
        (_with(transform=3), "$.segments.fields[1].transform", "must be one of"),
        (
            _with(features=["date_of_birth"]),
            "$.segments.fields[1].transform",
            "does not apply to the feature date_of_birth",
        ),
        (
            _with(transform="day-month-sorted"),
            "$.segments.fields[1].transform",
            "does not apply to the feature given_name",
        ),
        (
            _with(features=["sex"], transform="sorted-letters"),
            "$.segments.fields[1].transform",
            "does not apply to the feature sex",
        ),
        (_with(keys=0), "$.segments.fields[1].keys", "[1, 8]"),
        (_with(keys=9), "$.segments.fields[1].keys", "[1, 8]"),
        (_with(keys=True), "$.segments.fields[1].keys", "[1, 8]"),
        (_with(keys="4"), "$.segments.fields[1].keys", "[1, 8]"),
        (_with(keys=None), "$.segments.fields[1].keys", "[1, 8]"),
        (_with(features=["given_name", "surname"]), "$.segments.fields[1].features", "exactly"),
        (_with(features=[]), "$.segments.fields[1].features", "exactly one"),
        (_with(features=["nope"]), "$.segments.fields[1].features", "exactly one"),
        (_with(features="given_name"), "$.segments.fields[1].features", "exactly one"),
        (_with(name="record"), "$.segments.fields[1].name", "identifier"),
        (_with(name="not an identifier"), "$.segments.fields[1].name", "identifier"),
        (_with(name="given"), "$.segments.fields", "unique"),
        (_with(kind="hash"), "$.segments.fields[1].kind", "bloom, keys"),
        (_with(salt={"saltFrom": "nope"}), "$.segments.fields[1].salt.saltFrom", "hashed"),
        (
            _with(salt={"saltFrom": "date_of_birth", "x": 1}),
            "$.segments.fields[1].salt.x",
            "unknown key; ($.segments.fields[1].salt takes saltFrom, start, end)",
        ),
    ],
)
def test_an_invalid_key_segment_is_named_by_its_json_path(
    item: dict[str, Any], location: str, reason: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        load_segmented_schema(_document(item))
    found = [(p.location, p.reason) for p in caught.value.problems]
    assert any(loc == location and reason in why for loc, why in found), found


def test_every_problem_of_a_key_segment_is_named_at_once() -> None:
    item = {"name": "k", "kind": "keys", "features": ["nope"], "transform": "x", "keys": 0}
    with pytest.raises(SchemaError) as caught:
        load_segmented_schema(_document(item))
    assert {p.location for p in caught.value.problems} == {
        "$.segments.fields[1].features",
        "$.segments.fields[1].transform",
        "$.segments.fields[1].keys",
    }


def test_a_key_segment_listing_a_non_string_feature_is_a_schema_error() -> None:
    """A malformed ``features`` entry is a named problem, as for Bloom segments (it
    raised TypeError: unhashable type 'list')."""
    with pytest.raises(SchemaError) as caught:
        load_segmented_schema(_document(_with(features=[["given_name"]])))
    assert [p.location for p in caught.value.problems] == ["$.segments.fields[1].features"]


@pytest.mark.parametrize(
    ("salt", "location"),
    [
        ({"saltFrom": "date_of_birth", "start": 5, "end": 2}, "$.segments.fields[1].salt.end"),
        ({"saltFrom": "date_of_birth", "start": -3}, "$.segments.fields[1].salt.start"),
    ],
)
def test_a_key_segments_salt_slice_is_validated_like_a_bloom_segments(
    salt: dict[str, Any], location: str
) -> None:
    bloom = {**BLOOM, "name": "other", "salt": salt}
    with pytest.raises(SchemaError) as caught:
        load_segmented_schema(_document(bloom))
    assert [p.location for p in caught.value.problems] == [location]
    with pytest.raises(SchemaError) as caught:
        load_segmented_schema(_document(_with(salt=salt)))
    assert [p.location for p in caught.value.problems] == [location]


# -- encoding ----------------------------------------------------------------------------


def test_key_words_are_the_keyed_hashes_of_the_derived_keys_sorted_and_zero_padded() -> None:
    encoder, packed = _encode([LIZ])
    assert _words(encoder, packed, 0, "given_nick") == _expected_words(
        "given_nick", "nicknames", "liz", 4
    )
    assert _words(encoder, packed, 0, "given_sorted") == _expected_words(
        "given_sorted", "sorted-letters", "liz", 1
    )
    assert _words(encoder, packed, 0, "family_parts") == _expected_words(
        "family_parts", "name-parts", "garcia lopez", 3
    )
    # the date is formatted as YYYYMMDD before its key is derived
    assert _words(encoder, packed, 0, "dob_sorted") == _expected_words(
        "dob_sorted", "day-month-sorted", "19800213", 1
    )


def test_present_words_are_sorted_never_zero_and_padding_is_zero_at_the_end() -> None:
    encoder, packed = _encode([ELIZABETH, LIZ])
    for row in range(2):
        for name in ("given_nick", "family_parts"):
            words = _words(encoder, packed, row, name)
            used = [w for w in words if w]
            assert words == used + [0] * (len(words) - len(used))
            assert used == sorted(used)
            assert len(used) == len(set(used))
    # "garcia" has one key, "elizabeth" three (itself and two formal names)
    assert len([w for w in _words(encoder, packed, 0, "family_parts") if w]) == 1
    assert len([w for w in _words(encoder, packed, 0, "given_nick") if w]) == len(
        derived_keys("nicknames", "elizabeth", 4)
    )


def test_equal_values_give_identical_words_in_any_record_and_batch() -> None:
    encoder, packed = _encode([LIZ, ELIZABETH, LIZ])
    again = pack_clks(encoder.encode([NOBODY, LIZ]))
    for name in ("given_nick", "given_sorted", "family_parts", "dob_sorted"):
        assert _words(encoder, packed, 0, name) == _words(encoder, packed, 2, name)
        assert _words(encoder, again, 1, name) == _words(encoder, packed, 0, name)


def test_a_nickname_and_its_formal_name_share_a_word_and_only_that_one() -> None:
    encoder, packed = _encode([LIZ, ELIZABETH])
    liz = set(_words(encoder, packed, 0, "given_nick")) - {0}
    elizabeth = set(_words(encoder, packed, 1, "given_nick")) - {0}
    assert liz & elizabeth == {_key_word(SECRET, 1, "given_nick", "elizabeth")}
    family_liz = set(_words(encoder, packed, 0, "family_parts")) - {0}
    family_eliz = set(_words(encoder, packed, 1, "family_parts")) - {0}
    assert family_liz & family_eliz == {_key_word(SECRET, 1, "family_parts", "garcia")}


def test_a_date_with_day_and_month_swapped_gets_the_same_word() -> None:
    encoder, packed = _encode([LIZ, _row(given_name="liz", date_of_birth="1980-12-02")])
    swapped = _row(given_name="liz", date_of_birth="1980-02-12")
    other = pack_clks(encoder.encode([swapped]))
    assert _words(encoder, packed, 1, "dob_sorted") == _words(encoder, other, 0, "dob_sorted")
    assert _words(encoder, packed, 0, "dob_sorted") != _words(encoder, other, 0, "dob_sorted")


def test_a_name_recorded_as_its_initial_shares_the_initial_word() -> None:
    initial = [{**KEYS[1], "name": "given_initial", "transform": "initial"}]
    encoder, packed = _encode(
        [_row(given_name="james"), _row(given_name="j"), _row(given_name="mary")], fields=initial
    )
    words = [_words(encoder, packed, row, "given_initial") for row in range(3)]
    assert words[0] == words[1] == [_key_word(SECRET, 1, "given_initial", "j")]
    assert words[2] == [_key_word(SECRET, 1, "given_initial", "m")]


def test_a_missing_value_gives_an_all_zero_key_segment() -> None:
    encoder, packed = _encode([NOBODY, _row(surname="smith")])
    for name in ("given_nick", "given_sorted", "family_parts", "dob_sorted"):
        assert _words(encoder, packed, 0, name) == [0] * encoder.layout.part(name).words
    assert _words(encoder, packed, 1, "given_nick") == [0, 0, 0, 0]
    assert _words(encoder, packed, 1, "family_parts")[0] != 0


def test_different_secrets_give_unrelated_words() -> None:
    encoder, packed = _encode([LIZ])
    _, other = _encode([LIZ], secret=OTHER_SECRET)
    for name in ("given_nick", "given_sorted", "family_parts", "dob_sorted"):
        mine = set(_words(encoder, packed, 0, name)) - {0}
        theirs = set(_words(encoder, other, 0, name)) - {0}
        assert mine
        assert len(mine) == len(theirs)
        assert not mine & theirs


def test_different_key_epochs_give_unrelated_words() -> None:
    encoder, packed = _encode([LIZ], epoch=1)
    _, later = _encode([LIZ], epoch=2)
    for name in ("given_nick", "dob_sorted"):
        mine = set(_words(encoder, packed, 0, name)) - {0}
        assert mine
        assert not mine & (set(_words(encoder, later, 0, name)) - {0})
    assert _words(encoder, later, 0, "dob_sorted") == [
        _key_word(SECRET, 2, "dob_sorted", "19800213")
    ]


def test_each_key_segment_has_its_own_key() -> None:
    """The same derived string in two segments gives different words (segment name in
    the key derivation)."""
    same = [
        {**KEYS[1], "name": "first"},
        {**KEYS[1], "name": "second"},
    ]
    encoder, packed = _encode([LIZ], fields=same)
    assert _words(encoder, packed, 0, "first") != _words(encoder, packed, 0, "second")
    assert _words(encoder, packed, 0, "second") == [_key_word(SECRET, 1, "second", "ilz")]


def test_salted_key_words_depend_on_the_salt() -> None:
    salted = [{**KEYS[0], "salt": {"saltFrom": "date_of_birth", "start": 0, "end": 4}}]
    encoder, packed = _encode(
        [LIZ, _row(given_name="liz", date_of_birth="1981-02-13"), LIZ], fields=salted
    )
    first, other_year, again = (_words(encoder, packed, r, "given_nick") for r in range(3))
    assert first == again
    assert not (set(first) - {0}) & (set(other_year) - {0})
    expected = sorted(
        _key_word(SECRET, 1, "given_nick", k, salt="1980")
        for k in derived_keys("nicknames", "liz", 4)
    )
    assert first == expected + [0] * (4 - len(expected))


def test_a_value_with_more_keys_than_words_keeps_the_first_keys() -> None:
    fields = [{**KEYS[0], "keys": 2}]
    encoder, packed = _encode([_row(given_name="al")], fields=fields)
    first_two = derived_keys("nicknames", "al", 2)
    assert len(derived_keys("nicknames", "al", 8)) > 2
    assert _words(encoder, packed, 0, "given_nick") == sorted(
        _key_word(SECRET, 1, "given_nick", k) for k in first_two
    )


_ENCODER, _ = _encode([LIZ])


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12))
def test_any_present_value_gives_the_expected_nonzero_sorted_words(name: str) -> None:
    fresh = pack_clks(_ENCODER.encode([_row(given_name=name, surname=name)]))
    for segment, transform, keys in (
        ("given_nick", "nicknames", 4),
        ("given_sorted", "sorted-letters", 1),
        ("family_parts", "name-parts", 3),
    ):
        words = _words(_ENCODER, fresh, 0, segment)
        assert words == _expected_words(segment, transform, name, keys)
        used = [w for w in words if w]
        assert used
        assert used == sorted(set(used))


# -- the default segmented schema -----------------------------------------------------------


def test_the_default_layout_lists_its_key_segments_as_key_sets() -> None:
    schema = default_segmented_schema()
    layout = segment_layout(schema.schema.length, schema.segmentation)
    keyed = [item for item in DEFAULT_SEGMENTS["fields"] if item.get("kind") == "keys"]
    assert layout.key_sets == tuple(item["name"] for item in keyed)
    assert layout.key_sets == (
        "given_key",
        "given_letters",
        "surname_key",
        "surname_letters",
        "dob_key",
        "given_initial",
    )
    assert [layout.part(name).words for name in layout.key_sets] == [4, 1, 3, 1, 1, 1]
    # key segments never swap, even though the names they derive from do
    assert layout.swaps == (("given_name", "surname"),)
    # record (16 words) + 8 Bloom segments (7 x 2 words, sex 1) + 11 key words
    assert layout.total_words == 16 + 15 + 11
    assert layout.fields[-1].stop_word == layout.total_words


def test_a_layout_without_key_segments_has_no_key_sets() -> None:
    schema = load_segmented_schema(_document())
    assert segment_layout(schema.schema.length, schema.segmentation).key_sets == ()
