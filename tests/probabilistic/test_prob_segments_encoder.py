"""Per-field segment encodings (linkage/encode/_segments.py) and their use by the matcher."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from linkage.encode import (
    DEFAULT_FEATURES,
    SegmentedEncoder,
    default_schema_text,
    load_segmented_schema,
    segment_layout,
)
from linkage.encode._segments_schema import RECORD_PART
from linkage.errors import SchemaError
from linkage.match import pack_clks
from linkage.probabilistic import ExactRule, SegmentLayout, segment_dice, segment_dice_reference

pytestmark = pytest.mark.unit

SECRET = bytes(range(32))


def _document(*, diffusion: int | None = 10, key_group: bool = True) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(default_schema_text())
    bits = {"filterBits": 1024, "bits": 128} if diffusion else {"filterBits": 256, "bits": 256}
    fields: list[dict[str, Any]] = [
        {"name": "given", "features": ["given_name"], "bitsPerToken": 10, **bits},
        {"name": "family", "features": ["surname"], "bitsPerToken": 10, **bits},
        {"name": "dob", "features": ["date_of_birth"], "bitsPerToken": 10, **bits},
        {"name": "place", "features": ["suburb", "postcode"], "bitsPerToken": 10, **bits},
    ]
    if key_group:
        fields[0]["keyGroup"] = "names"
        fields[1]["keyGroup"] = "names"
    block: dict[str, Any] = {"fields": fields}
    if diffusion:
        block["diffusion"] = {"t": diffusion}
    document["segments"] = block
    return document


def _row(**values: str | None) -> tuple[str | None, ...]:
    return tuple(values.get(name) for name in DEFAULT_FEATURES)


ANNA = _row(given_name="anna", surname="smith", date_of_birth="1980-02-03", suburb="hobart")
ANNA_SWAPPED = _row(given_name="smith", surname="anna", date_of_birth="1980-02-03", suburb="hobart")
ANNA_NO_DOB = _row(given_name="anna", surname="smith", suburb="hobart")
BOB = _row(given_name="bob", surname="jones", date_of_birth="1955-11-30", postcode="7000")


def _encode(document: dict[str, Any], rows: list[tuple[str | None, ...]], secret: bytes = SECRET):
    encoder = SegmentedEncoder(load_segmented_schema(document), secret, key_epoch=1)
    return encoder, pack_clks(encoder.encode(rows))


@pytest.mark.parametrize("diffusion", [10, None])
def test_layout_puts_the_record_clk_first_and_segments_after_it(diffusion: int | None) -> None:
    encoder, packed = _encode(_document(diffusion=diffusion), [ANNA, BOB])
    layout = encoder.layout
    assert layout.record is not None
    assert layout.record.name == RECORD_PART
    assert layout.record.start_word == 0
    assert layout.names == ("given", "family", "dob", "place")
    width = 2 if diffusion else 4
    assert [p.words for p in layout.fields] == [width] * 4
    assert layout.fields[0].start_word == layout.record.stop_word
    assert packed.shape == (2, layout.total_words)
    assert encoder.clk_bytes == layout.total_words * 8
    assert layout.swaps == (("given", "family"),)
    assert SegmentLayout.from_json(layout.to_json()) == layout


@pytest.mark.parametrize("diffusion", [10, None])
def test_a_missing_group_is_an_all_zero_segment_and_reads_as_nan(diffusion: int | None) -> None:
    encoder, packed = _encode(_document(diffusion=diffusion), [ANNA, ANNA_NO_DOB])
    dob = encoder.layout.part("dob")
    assert packed[0, dob.start_word : dob.stop_word].any()
    assert not packed[1, dob.start_word : dob.stop_word].any()
    sims = segment_dice(packed, packed, np.array([0]), np.array([1]), encoder.layout)
    assert np.isnan(sims[0, encoder.layout.index("dob")])
    assert sims[0, encoder.layout.index("given")] == 1.0
    assert sims[0, encoder.layout.index("place")] == 1.0


def test_a_group_is_present_when_any_of_its_features_is() -> None:
    encoder, packed = _encode(_document(), [BOB])
    place = encoder.layout.part("place")
    assert packed[0, place.start_word : place.stop_word].any()  # postcode only


def test_encoding_is_deterministic_and_keyed() -> None:
    _, first = _encode(_document(), [ANNA, BOB])
    _, again = _encode(_document(), [ANNA, BOB])
    _, other = _encode(_document(), [ANNA, BOB], secret=bytes(range(1, 33)))
    assert np.array_equal(first, again)
    assert not np.array_equal(first[:, 16:], other[:, 16:])


def test_the_record_part_equals_the_plain_record_clk() -> None:
    from linkage.encode import ClkEncoder

    encoder, packed = _encode(_document(), [ANNA, BOB])
    record = ClkEncoder(encoder.schema.schema, SECRET, key_epoch=1).encode([ANNA, BOB])
    part = encoder.layout.record
    assert part is not None
    assert np.array_equal(packed[:, part.start_word : part.stop_word], pack_clks(record))


def test_key_grouped_names_compare_across_so_transposed_names_agree() -> None:
    encoder, packed = _encode(_document(), [ANNA, ANNA_SWAPPED, BOB])
    layout = encoder.layout
    given, family = layout.part("given"), layout.part("family")
    # the swapped record's given segment is the first record's surname segment
    assert np.array_equal(
        packed[1, given.start_word : given.stop_word],
        packed[0, family.start_word : family.stop_word],
    )
    li, ri = np.array([0, 0]), np.array([1, 2])
    sims = segment_dice(packed, packed, li, ri, layout)
    assert sims[0, layout.index("given")] == 1.0
    assert sims[0, layout.index("family")] == 1.0
    assert sims[1, layout.index("given")] < 0.9
    assert np.allclose(sims, segment_dice_reference(packed, packed, li, ri, layout), equal_nan=True)
    # without the swap the transposed names disagree
    plain = SegmentLayout(layout.fields, layout.total_words, layout.record)
    direct = segment_dice(packed, packed, li, ri, plain)
    assert direct[0, layout.index("given")] < 0.9


def test_without_a_key_group_segments_do_not_compare_across() -> None:
    encoder, packed = _encode(_document(key_group=False), [ANNA, ANNA_SWAPPED])
    layout = encoder.layout
    assert layout.swaps == ()
    given, family = layout.part("given"), layout.part("family")
    assert not np.array_equal(
        packed[1, given.start_word : given.stop_word],
        packed[0, family.start_word : family.stop_word],
    )


def test_unordered_exact_blocking_pairs_transposed_names() -> None:
    encoder, packed = _encode(_document(), [ANNA, BOB, ANNA_SWAPPED])
    ordered = ExactRule(("given", "family"))
    unordered = ExactRule(("given", "family"), unordered=True)
    assert ordered.pairs_within(packed, encoder.layout).T.tolist() == []
    assert unordered.pairs_within(packed, encoder.layout).T.tolist() == [[0, 2]]
    across = unordered.pairs(packed[:2], packed[2:], encoder.layout)
    assert across.T.tolist() == [[0, 0]]


def test_fingerprint_covers_the_segments_block() -> None:
    base = load_segmented_schema(_document()).fingerprint
    other = _document()
    other["segments"]["fields"][2]["bitsPerToken"] = 11
    assert load_segmented_schema(other).fingerprint != base
    assert load_segmented_schema(json.dumps(_document())).fingerprint == base


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda b: b.update(extra=1), "$.segments.extra"),
        (lambda b: b["fields"][0].update(features=["nope"]), "$.segments.fields[0].features"),
        (lambda b: b["fields"][0].update(name="record"), "$.segments.fields[0].name"),
        (lambda b: b["fields"][0].update(bits=100), "$.segments.fields[0].bits"),
        (lambda b: b["fields"][1].update(bits=256), "$.segments.fields[1].keyGroup"),
        (lambda b: b["fields"][0].update(keyGroup="dob"), "$.segments.fields[0].keyGroup"),
        (lambda b: b.update(diffusion={"t": 0}), "$.segments.diffusion.t"),
        (lambda b: b["fields"][3].update(salt={"saltFrom": "x"}), "$.segments.fields[3].salt"),
    ],
)
def test_invalid_segment_blocks_name_the_json_path(change: Any, path: str) -> None:
    document = _document()
    change(document["segments"])
    with pytest.raises(SchemaError) as caught:
        load_segmented_schema(document)
    assert any(p.location.startswith(path) for p in caught.value.problems), caught.value.problems


def test_a_schema_without_segments_is_rejected() -> None:
    with pytest.raises(SchemaError):
        load_segmented_schema(default_schema_text())


def test_salted_segments_differ_by_the_salt() -> None:
    document = _document()
    for item in document["segments"]["fields"][:2]:
        item["salt"] = {"saltFrom": "date_of_birth", "start": 0, "end": 4}
    other_year = _row(given_name="anna", surname="smith", date_of_birth="1981-02-03")
    encoder, packed = _encode(document, [ANNA, other_year])
    sims = segment_dice(packed, packed, np.array([0]), np.array([1]), encoder.layout)
    assert sims[0, encoder.layout.index("given")] < 0.9


def test_segment_layout_validates_the_record_size() -> None:
    segmentation = load_segmented_schema(_document()).segmentation
    layout = segment_layout(1024, segmentation)
    assert layout.total_words == 16 + 4 * 2
    with pytest.raises(Exception, match="multiple of 64"):
        segment_layout(100, segmentation)


def test_layout_swaps_must_name_two_equal_sized_field_segments() -> None:
    from linkage.errors import ConfigError
    from linkage.probabilistic import SegmentRange

    fields = (SegmentRange("a", 0, 1), SegmentRange("b", 1, 2), SegmentRange("c", 2, 4))
    assert SegmentLayout(fields, 4, swaps=(("a", "b"),)).swap_columns() == ((0, 1),)
    for swaps in ((("a", "c"),), (("a", "a"),), (("a", "zz"),)):
        with pytest.raises(ConfigError):
            SegmentLayout(fields, 4, swaps=swaps)


def test_the_default_segmented_schema_fits_the_default_linker_settings() -> None:
    from linkage.encode import DEFAULT_SEGMENTS, default_segmented_schema
    from linkage.probabilistic import (
        BlockingRules,
        FellegiSunterModel,
        ProbabilisticLinker,
        default_blocking,
        default_comparisons,
        default_training_rules,
    )

    schema = default_segmented_schema()
    assert schema.segmentation.to_json_dict() == DEFAULT_SEGMENTS
    encoder = SegmentedEncoder(schema, SECRET, key_epoch=1)
    layout = encoder.layout
    assert layout.swaps == (("given_name", "surname"),)
    blocking = default_blocking()
    blocking.check(layout)
    default_blocking(hardened=False).check(layout)
    default_blocking(wide=True).check(layout)
    BlockingRules(default_training_rules()).check(layout)
    comparisons = default_comparisons(True, layout)
    # every segment is read by some comparison: the base fields and the derived keys
    assert {name for c in comparisons for name in c.segments} == set(layout.names)
    assert set(layout.key_sets) == {
        "given_key",
        "given_letters",
        "surname_key",
        "surname_letters",
        "dob_key",
        "given_initial",
    }
    # a model with flat, plausible parameters is enough to wire the linker end to end
    model = FellegiSunterModel(
        comparisons,
        m=tuple((0.9, *([0.1 / (c.levels - 1)] * (c.levels - 1))) for c in comparisons),
        u=tuple((0.01, *([0.99 / (c.levels - 1)] * (c.levels - 1))) for c in comparisons),
        prior=1e-3,
    )
    linker = ProbabilisticLinker(layout, model, blocking, 0.5)
    packed = pack_clks(encoder.encode([ANNA, BOB, ANNA_SWAPPED, ANNA_NO_DOB]))
    links = linker.link_within(packed)
    pairs = set(zip(links.left.tolist(), links.right.tolist(), strict=True))
    assert pairs == {(0, 2), (0, 3), (2, 3)}
    assert float(links.scores.min()) >= 0.5
