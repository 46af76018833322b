"""default_blocking's ``scale``: "default" unchanged, "large" for about a million records
(linkage/probabilistic/_defaults.py; figures in docs/quality.md "Blocking at scale")."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from linkage.encode import DEFAULT_FEATURES, SegmentedEncoder, default_segmented_schema
from linkage.errors import ConfigError
from linkage.match import HammingLsh, pack_clks
from linkage.probabilistic import (
    BlockingRules,
    ExactRule,
    LshRule,
    SegmentLayout,
    default_blocking,
)
from linkage.types import PackedClks

pytestmark = pytest.mark.unit

SECRET = bytes(range(7, 39))


def _row(**values: str | None) -> list[str | None]:
    return [values.get(name) for name in DEFAULT_FEATURES]


def _encode(rows: list[list[str | None]]) -> tuple[PackedClks, SegmentLayout]:
    encoder = SegmentedEncoder(default_segmented_schema(), SECRET, key_epoch=1)
    return pack_clks(encoder.encode(rows)), encoder.layout


def _pairs(left: np.ndarray, right: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(left.tolist(), right.tolist(), strict=True))


@pytest.mark.parametrize("scale", ["huge", "Large", "", "default "])
def test_an_unknown_scale_is_a_config_error_naming_scale(scale: str) -> None:
    with pytest.raises(ConfigError) as raised:
        default_blocking(scale=scale)
    assert [p.location for p in raised.value.problems] == ["scale"]


#: the default rules as the quality benchmark measured them (docs/quality.md)
_DEFAULT_RULES = (
    LshRule(("record",), HammingLsh(bands=64, bits_per_band=16, seed=11)),
    ExactRule(("date_of_birth",)),
    ExactRule(("given_name", "surname"), unordered=True),
    ExactRule(("phone",)),
    ExactRule(("surname", "street")),
    ExactRule(("surname", "sex")),
    ExactRule(("street",)),
    ExactRule(("given_name", "locality")),
    ExactRule(("surname", "locality")),
)
_SEGMENT_LSH = (
    LshRule(("date_of_birth", "street"), HammingLsh(bands=32, bits_per_band=24, seed=12)),
    LshRule(("given_name", "surname"), HammingLsh(bands=32, bits_per_band=24, seed=13)),
    LshRule(("surname", "date_of_birth"), HammingLsh(bands=32, bits_per_band=24, seed=14)),
    LshRule(("given_name", "date_of_birth"), HammingLsh(bands=32, bits_per_band=24, seed=15)),
)
_WIDE_LSH = (
    LshRule(("record",), HammingLsh(bands=48, bits_per_band=14, seed=31)),
    LshRule(("date_of_birth", "street"), HammingLsh(bands=24, bits_per_band=12, seed=32)),
    LshRule(("given_name", "surname"), HammingLsh(bands=24, bits_per_band=12, seed=33)),
)


@pytest.mark.parametrize(
    ("hardened", "wide", "expected"),
    [
        (True, False, _DEFAULT_RULES + _SEGMENT_LSH),
        (True, True, _DEFAULT_RULES + _SEGMENT_LSH + _WIDE_LSH),
        (False, False, _DEFAULT_RULES),
        (False, True, _DEFAULT_RULES),
    ],
)
def test_the_default_scale_is_the_measured_rule_set_unchanged(
    hardened: bool, wide: bool, expected: tuple[LshRule | ExactRule, ...]
) -> None:
    assert default_blocking(hardened, wide=wide).rules == expected
    assert default_blocking(hardened, wide=wide, scale="default").rules == expected


@pytest.mark.parametrize("hardened", [True, False])
def test_large_rules_fit_the_default_segmented_layout(hardened: bool) -> None:
    _, layout = _encode([_row(given_name="ann", surname="lee", date_of_birth="1990-01-02")])
    large = default_blocking(hardened, scale="large")
    assert isinstance(large, BlockingRules)
    large.check(layout)
    assert large != default_blocking(hardened)
    # wide applies to the default rules only
    assert default_blocking(hardened, wide=True, scale="large") == large
    # no rule on one common value, no LSH band a random pair shares often
    for rule in large.rules:
        if isinstance(rule, ExactRule):
            assert len(rule.segments) >= 2 or rule.segments == ("phone",)
        else:
            assert rule.lsh.bits_per_band >= 32
    segment_lsh = [r for r in large.rules if isinstance(r, LshRule) and r.parts != ("record",)]
    assert bool(segment_lsh) == hardened


ANNA = _row(
    given_name="anna",
    surname="smithers",
    date_of_birth="1980-02-03",
    sex="f",
    phone="0400111222",
    street_address="12 river road",
    suburb="hobart",
    postcode="7000",
)
ANNA_SWAPPED = _row(
    given_name="smithers", surname="anna", date_of_birth="1980-02-03", suburb="launceston"
)
ANNA_MOVED_NICKNAME = _row(
    given_name="annie", surname="smithers", date_of_birth="1980-02-03", suburb="devonport"
)
ANNA_MOVED_DAY_MONTH = _row(
    given_name="anna", surname="smithers", date_of_birth="1980-03-02", sex="f", suburb="burnie"
)
ANNA_NEW_NUMBER = _row(
    given_name="anna", surname="smithers", phone="0400111222", street_address="3 hill street"
)
BOB = _row(
    given_name="robert",
    surname="jones",
    date_of_birth="1955-11-30",
    sex="m",
    phone="0400999888",
    street_address="7 bay road",
    suburb="sandy bay",
    postcode="7005",
)


def test_large_pairs_each_kind_of_error_and_not_strangers() -> None:
    rows = [ANNA, ANNA_SWAPPED, ANNA_MOVED_NICKNAME, ANNA_MOVED_DAY_MONTH, ANNA_NEW_NUMBER, BOB]
    packed, layout = _encode(rows)
    large = default_blocking(scale="large")
    found = _pairs(*large.candidate_pairs_within(packed, layout))
    assert {(0, 1), (0, 2), (0, 3), (0, 4)} <= found
    assert not {(i, 5) for i in range(5)} & found
    # the default rules find these too: "large" is tighter, not different in kind
    assert {(0, 1), (0, 2), (0, 3), (0, 4)} <= _pairs(
        *default_blocking().candidate_pairs_within(packed, layout)
    )


def _population() -> list[list[str | None]]:
    """Records with few distinct values, so that many pairs share some of them."""
    rows = []
    values = itertools.product(
        ("anna", "ben", "carla"),
        ("lee", "smith"),
        ("1980-02-03", "1991-12-01", "1980-03-02"),
        ("f", "m", None),
    )
    for index, (given, surname, dob, sex) in enumerate(values):
        rows.append(
            _row(
                given_name=given if index % 7 else surname,
                surname=surname if index % 7 else given,
                date_of_birth=dob,
                sex=sex,
                phone=None if index % 3 else f"04001112{index % 4:02d}",
                street_address=f"{index % 5} river road" if index % 2 else None,
                suburb=("hobart", "burnie")[index % 2],
            )
        )
    return rows


def test_large_is_pair_by_pair_deterministic_like_the_default() -> None:
    """Incremental linkage (new records against the index) finds exactly the pairs a
    rebuild over all records finds: each rule decides a pair from its two records alone."""
    packed, layout = _encode(_population())
    n = packed.shape[0]
    large = default_blocking(scale="large")
    within = _pairs(*large.candidate_pairs_within(packed, layout))
    assert len(within) > n  # the population makes plenty of candidates
    split = n // 3
    between = large.candidate_pairs(packed[:split], packed[split:], layout)
    crossing = {(i, j - split) for i, j in within if i < split <= j}
    assert _pairs(*between) == crossing
    # every candidate is a pair some rule makes alone, and each rule's pairs are candidates
    by_rule = [_pairs(*rule.pairs_within(packed, layout)) for rule in large.rules]
    assert within == set().union(*by_rule)


@pytest.mark.parametrize("sizes", [(0, 0), (0, 5), (5, 0), (40, 70), (1000, 3)])
def test_merge_unique_is_the_sorted_union(sizes: tuple[int, int]) -> None:
    from linkage.match._blocking import merge_unique

    rng = np.random.default_rng(sum(sizes))
    first = np.unique(rng.integers(0, 200, size=sizes[0]))
    second = np.unique(rng.integers(0, 200, size=sizes[1]))
    np.testing.assert_array_equal(merge_unique(first, second), np.union1d(first, second))
    assert merge_unique(first, second).dtype == np.int64


@pytest.mark.parametrize("hardened", [True, False])
def test_xlarge_is_large_less_the_rules_that_grow_with_the_square(hardened: bool) -> None:
    _, layout = _encode([_row(given_name="ann", surname="lee", date_of_birth="1990-01-02")])
    large = default_blocking(hardened, scale="large").rules
    xlarge = default_blocking(hardened, scale="xlarge")
    xlarge.check(layout)
    guard = {r.segments: r.max_candidates for r in xlarge.rules if isinstance(r, ExactRule)}
    assert guard.pop(("surname", "street")) == guard.pop(("given_name", "street")) == 4 * 10**8
    assert set(guard.values()) == {10**8}  # the default guard elsewhere
    # but for that guard, the "large" rules in their order, less the dropped ones
    kept = [
        dataclasses.replace(r, max_candidates=10**8) if isinstance(r, ExactRule) else r
        for r in xlarge.rules
    ]
    dropped = [rule for rule in large if rule not in kept]
    assert [rule for rule in large if rule in kept] == kept
    assert ExactRule(("date_of_birth", "sex")) in dropped
    assert ExactRule(("given_name", "surname", "sex")) in dropped
    assert [r for r in xlarge.rules if isinstance(r, LshRule)] == [
        LshRule(("record",), HammingLsh(bands=64, bits_per_band=32, seed=11))
    ]
    assert len(dropped) == (4 if hardened else 2)
