"""Blocking planned from the data (linkage/probabilistic/_plan.py): which ladder rules a
budget affords, how their pairs are projected, the plan's JSON form, and the pair
completeness estimated without labels on data built so that the true pairs are known."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keyed_helpers import KEYED_LAYOUT, keyed_records

from linkage.errors import ConfigError
from linkage.match import HammingLsh
from linkage.probabilistic import (
    BlockingPlan,
    BlockingRule,
    BlockingRules,
    ExactRule,
    LshRule,
    SegmentLayout,
    SegmentRange,
    applicable_rules,
    estimate_pair_completeness,
    estimate_rule_pairs,
    plan_blocking,
    rule_from_dict,
    rule_name,
    rule_to_dict,
)
from linkage.types import PackedClks

pytestmark = pytest.mark.unit

LSH = HammingLsh(bands=6, bits_per_band=10, seed=3)


def _count(rule: BlockingRule, packed: PackedClks) -> int:
    """The pairs the rule itself lists within the set."""
    return int(rule.pairs_within(packed, KEYED_LAYOUT).shape[1])


def _distinct(rule: BlockingRule, packed: PackedClks) -> int:
    pairs = rule.pairs_within(packed, KEYED_LAYOUT)
    return len(set(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True)))


# -- projections ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "segments", [("name",), ("key1",), ("name", "key1"), ("keys",), ("name", "keys")]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_an_exact_rules_projection_is_its_own_pair_count(
    segments: tuple[str, ...], seed: int
) -> None:
    packed = keyed_records(300, seed)
    rule = ExactRule(segments)
    estimate = estimate_rule_pairs(rule, packed, KEYED_LAYOUT)
    assert estimate == float(_count(rule, packed))
    assert estimate > 0
    if "keys" not in segments:
        # one value per record: every pair once
        assert estimate == _distinct(rule, packed)
    else:
        # a pair sharing several keys counts once per shared key (conservative)
        assert estimate >= _distinct(rule, packed)


def test_an_unordered_exact_rules_projection_is_its_own_pair_count() -> None:
    packed = keyed_records(200, 4, names=3)
    rule = ExactRule(("name", "key1"), unordered=True)
    assert estimate_rule_pairs(rule, packed, KEYED_LAYOUT) == _count(rule, packed)


def test_an_lsh_rule_on_a_small_set_is_counted_exactly() -> None:
    packed = keyed_records(1000, 5)
    rule = LshRule(("record",), HammingLsh(bands=8, bits_per_band=8, seed=1))
    estimate = estimate_rule_pairs(rule, packed, KEYED_LAYOUT)
    assert estimate == _count(rule, packed) > 0


def test_an_lsh_rule_on_a_large_set_is_projected_from_a_sample() -> None:
    rng = np.random.default_rng(6)
    n = 24_000
    packed = np.zeros((n, KEYED_LAYOUT.total_words), dtype=np.uint64)
    packed[:, 0] = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(np.uint64)
    packed[:, 0] |= rng.integers(0, 2, size=n).astype(np.uint64) << np.uint64(63)
    rule = LshRule(("record",), HammingLsh(bands=4, bits_per_band=12, seed=2))
    exact = _count(rule, packed)
    estimate = estimate_rule_pairs(rule, packed, KEYED_LAYOUT, seed=9)
    assert exact > 10_000
    assert estimate != exact  # a projection, not a count
    assert estimate == pytest.approx(exact, rel=0.05)
    assert estimate_rule_pairs(rule, packed, KEYED_LAYOUT, seed=9) == estimate


def test_fewer_than_two_records_project_no_pairs() -> None:
    packed = keyed_records(1, 0)
    assert estimate_rule_pairs(ExactRule(("name",)), packed, KEYED_LAYOUT) == 0.0
    assert estimate_rule_pairs(LshRule(("record",), LSH), packed[:0], KEYED_LAYOUT) == 0.0


# -- plans ---------------------------------------------------------------------------------------


def _ladder() -> list[BlockingRule]:
    return [
        ExactRule(("name", "key1")),  # 0: always
        ExactRule(("dob",)),  # 1: names a part the layout lacks: skipped
        ExactRule(("keys",)),  # 2: always
        ExactRule(("name",)),  # 3: many pairs (4 names)
        ExactRule(("keys2", "key1")),  # 4
        LshRule(("record",), LSH),  # 5
        ExactRule(("key1",)),  # 6
    ]


def _expected_plan(
    ladder: list[BlockingRule],
    packed: PackedClks,
    always: int,
    budget: int,
    max_pairs: int = 30_000_000,
) -> tuple[list[int], list[tuple[str, float, bool]]]:
    chosen: list[int] = []
    considered: list[tuple[str, float, bool]] = []
    total = 0.0
    for position, rule in enumerate(ladder):
        names = rule.parts if isinstance(rule, LshRule) else rule.segments
        if not all(name in KEYED_LAYOUT.names or name == "record" for name in names):
            continue
        pairs = float(_count(rule, packed))
        first = not chosen
        keep = (
            first or (position < always and total + pairs <= max_pairs) or total + pairs <= budget
        )
        if keep:
            chosen.append(position)
            total += pairs
        considered.append((rule_name(rule), pairs, keep))
    return chosen, considered


@pytest.mark.parametrize("per_record", [1, 5, 20, 60, 1000])
def test_a_plan_keeps_the_always_rules_and_adds_later_ones_within_the_budget(
    per_record: int,
) -> None:
    packed = keyed_records(200, 7)
    ladder = _ladder()
    plan = plan_blocking(ladder, packed, KEYED_LAYOUT, always=3, pairs_per_record=per_record)
    budget = per_record * 200
    chosen, considered = _expected_plan(ladder, packed, 3, budget)
    assert plan.rules.rules == tuple(ladder[i] for i in chosen)
    assert plan.considered == tuple(considered)
    assert plan.budget_pairs == budget
    assert plan.records == 200
    assert plan.projected_pairs == sum(p for _, p, keep in considered if keep)
    # the first rules stay whatever the budget; the skipped one is not even considered
    assert plan.rules.rules[:2] == (ladder[0], ladder[2])
    assert rule_name(ladder[1]) not in [name for name, _, _ in plan.considered]
    beyond = [p for _, p, keep in plan.considered[2:] if keep]
    assert sum(p for _, p, _ in plan.considered[:2]) + sum(beyond) == plan.projected_pairs
    if per_record >= 1000:
        assert len(plan.rules.rules) == 6
    if per_record == 1:
        assert len(plan.rules.rules) == 2


def test_a_rule_over_the_budget_does_not_stop_smaller_later_ones() -> None:
    packed = keyed_records(200, 7)
    ladder = _ladder()
    pairs = {i: float(_count(rule, packed)) for i, rule in enumerate(ladder) if i != 1}
    # afford the always rules and the LSH rule, not the rules before it
    assert pairs[3] > pairs[5]
    assert pairs[4] > pairs[5]
    budget = int(pairs[0] + pairs[2] + pairs[5])
    plan = plan_blocking(
        ladder, packed, KEYED_LAYOUT, always=3, pairs_per_record=10**6, max_pairs=budget
    )
    assert plan.budget_pairs == budget
    assert plan.rules.rules == (ladder[0], ladder[2], ladder[5])
    assert plan.projected_pairs == budget
    assert [keep for _, _, keep in plan.considered] == [True, True, False, False, True, False]


def test_max_pairs_caps_the_budget() -> None:
    packed = keyed_records(100, 8)
    ladder = _ladder()
    plan = plan_blocking(ladder, packed, KEYED_LAYOUT, always=1, max_pairs=10)
    assert plan.budget_pairs == 10
    chosen, considered = _expected_plan(ladder, packed, 1, 10, max_pairs=10)
    assert plan.rules.rules == tuple(ladder[i] for i in chosen)
    assert plan.considered == tuple(considered)
    # the first rule is kept although it alone exceeds the budget
    assert plan.rules.rules[0] == ladder[0]
    assert considered[0][1] > 10


def test_always_rules_past_the_memory_cap_are_left_out() -> None:
    """At a million records exact rules on names alone make tens of millions of pairs;
    kept whatever the cap, they made the rebuild fail. Past max_pairs an always rule is
    left out and named as not chosen; the first applicable rule stays."""
    packed = keyed_records(200, 7)
    ladder = _ladder()
    pairs = {i: float(_count(rule, packed)) for i, rule in enumerate(ladder) if i != 1}
    cap = int(pairs[0])  # room for the first rule only
    plan = plan_blocking(
        ladder, packed, KEYED_LAYOUT, always=3, pairs_per_record=10**6, max_pairs=cap
    )
    chosen, considered = _expected_plan(ladder, packed, 3, cap, max_pairs=cap)
    assert plan.rules.rules == tuple(ladder[i] for i in chosen)
    assert plan.considered == tuple(considered)
    assert plan.rules.rules[0] == ladder[0]
    assert pairs[2] > 0
    assert ladder[2] not in plan.rules.rules
    assert considered[1] == (rule_name(ladder[2]), pairs[2], False)
    assert plan.projected_pairs <= cap


@pytest.mark.parametrize("always", [0, 8])
def test_always_must_lie_within_the_ladder(always: int) -> None:
    with pytest.raises(ConfigError) as caught:
        plan_blocking(_ladder(), keyed_records(10, 0), KEYED_LAYOUT, always=always)
    assert caught.value.problems[0].location == "always"


def test_a_ladder_no_rule_of_which_applies_is_refused() -> None:
    ladder: list[BlockingRule] = [ExactRule(("dob",)), LshRule(("street",), LSH)]
    with pytest.raises(ConfigError) as caught:
        plan_blocking(ladder, keyed_records(10, 0), KEYED_LAYOUT, always=1)
    assert caught.value.problems[0].location == "rules"


def test_applicable_rules_keep_the_rules_the_layout_can_read_in_order() -> None:
    ladder = _ladder()
    rules = applicable_rules(ladder, KEYED_LAYOUT)
    assert rules.rules == tuple(rule for i, rule in enumerate(ladder) if i != 1)
    rules.check(KEYED_LAYOUT)
    with pytest.raises(ConfigError):
        applicable_rules([ExactRule(("dob",))], KEYED_LAYOUT)


# -- JSON forms --------------------------------------------------------------------------------


def test_a_plan_round_trips_through_its_dict() -> None:
    packed = keyed_records(200, 9)
    plan = plan_blocking(_ladder(), packed, KEYED_LAYOUT, always=2, pairs_per_record=10)
    for completeness in (None, 0.9875):
        stated = BlockingPlan(
            plan.rules,
            plan.records,
            plan.budget_pairs,
            plan.projected_pairs,
            plan.considered,
            completeness,
        )
        document = stated.to_dict()
        again = BlockingPlan.from_dict(document)
        assert again == stated  # exact rules: whole pair counts survive the rounding
        assert again.to_dict() == document
    assert plan.to_dict()["rules"] == [rule_to_dict(r) for r in plan.rules.rules]


def test_a_plans_projections_are_rounded_in_its_dict() -> None:
    plan = BlockingPlan(
        BlockingRules((LshRule(("record",), LSH),)), 10, 100, 12.6, (("lsh", 12.6, True),)
    )
    document = plan.to_dict()
    assert document["projectedPairs"] == 13
    assert document["considered"] == [{"rule": "lsh", "projectedPairs": 13, "chosen": True}]
    assert BlockingPlan.from_dict(document).projected_pairs == 13.0


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"rules": [], "records": 1, "budgetPairs": 1, "projectedPairs": 0},
        {"rules": [{"exact": ["a"]}], "records": "x", "budgetPairs": 1, "projectedPairs": 0},
        {"rules": [{"nothing": 1}], "records": 1, "budgetPairs": 1, "projectedPairs": 0},
    ],
)
def test_a_malformed_plan_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        BlockingPlan.from_dict(document)


_segments = st.lists(
    st.sampled_from(["given_name", "surname", "dob", "given_key", "record"]),
    min_size=1,
    max_size=3,
    unique=True,
).map(tuple)


@settings(max_examples=80, deadline=None)
@given(
    st.one_of(
        st.builds(ExactRule, _segments, unordered=st.booleans()),
        st.builds(
            LshRule,
            _segments,
            st.builds(
                HammingLsh,
                bands=st.integers(1, 128),
                bits_per_band=st.integers(1, 64),
                seed=st.integers(0, 10**6),
            ),
        ),
    )
)
def test_a_rule_round_trips_through_its_dict(rule: BlockingRule) -> None:
    assert rule_from_dict(rule_to_dict(rule)) == rule


def test_rule_dicts_and_names_are_readable() -> None:
    assert rule_to_dict(ExactRule(("a", "b"))) == {"exact": ["a", "b"]}
    assert rule_to_dict(ExactRule(("a", "b"), unordered=True)) == {
        "exact": ["a", "b"],
        "unordered": True,
    }
    assert rule_to_dict(LshRule(("record",), HammingLsh(64, 32, 11))) == {
        "lsh": ["record"],
        "bands": 64,
        "bitsPerBand": 32,
        "seed": 11,
    }
    assert rule_name(ExactRule(("a", "b"), unordered=True)) == "exact a+b (any order)"
    assert rule_name(LshRule(("record",), HammingLsh(64, 32, 11))) == "lsh record 64x32"


@pytest.mark.parametrize(
    "document", [{}, {"lsh": ["record"]}, {"lsh": ["record"], "bands": "x", "bitsPerBand": 1}]
)
def test_a_malformed_rule_is_refused(document: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        rule_from_dict(document)


# -- pair completeness ---------------------------------------------------------------------------

#: record (4 words), date of birth, phone, a 3-key nickname segment, a name
COMPLETENESS_LAYOUT = SegmentLayout(
    fields=(
        SegmentRange("date_of_birth", 4, 5),
        SegmentRange("phone", 5, 6),
        SegmentRange("given_key", 6, 9),
        SegmentRange("name", 9, 10),
    ),
    total_words=10,
    record=SegmentRange("record", 0, 4),
    key_sets=("given_key",),
)


def _known_pairs() -> tuple[PackedClks, dict[tuple[int, int], float]]:
    """60 records: pairs (0,1)..(18,19) share a date of birth, (20,21)..(38,39) a nickname
    key, (40,41)..(58,59) have identical record CLKs (and nothing else in common); every
    other value is unique. Returns the records and each true pair's match probability."""
    rng = np.random.default_rng(12)
    n = 60
    packed = np.zeros((n, 10), dtype=np.uint64)
    packed[:, :4] = rng.integers(0, 2**62, size=(n, 4), dtype=np.int64).astype(np.uint64)
    unique = iter(range(1000, 100_000, 7))
    for row in range(n):
        packed[row, 4] = next(unique)
        packed[row, 5] = next(unique)
        packed[row, 6:8] = sorted((next(unique), next(unique)))
        packed[row, 9] = next(unique)
    truth: dict[tuple[int, int], float] = {}
    for a in range(0, 20, 2):
        packed[a + 1, 4] = packed[a, 4]
        truth[(a, a + 1)] = 0.9
    for a in range(20, 40, 2):
        shared = np.uint64(7)  # below every unique key, so first in sorted order
        packed[a, 6:8] = sorted((shared, packed[a, 7]))
        packed[a + 1, 6:8] = sorted((shared, packed[a + 1, 7]))
        truth[(a, a + 1)] = 0.3
    for a in range(40, 60, 2):
        packed[a + 1, :4] = packed[a, :4]
        truth[(a, a + 1)] = 0.6
    return packed, truth


def _score(truth: dict[tuple[int, int], float]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array(
            [
                truth.get((min(x, y), max(x, y)), 0.0)
                for x, y in zip(a.tolist(), b.tolist(), strict=True)
            ]
        )

    return score


DOB_RULE = ExactRule(("date_of_birth",))
KEY_RULE = ExactRule(("given_key",))
RECORD_RULE = LshRule(("record",), HammingLsh(bands=8, bits_per_band=24, seed=5))
LOOSE = ("date_of_birth", "given_key", "phone")


def _completeness(rules: tuple[BlockingRule, ...]) -> float | None:
    packed, truth = _known_pairs()
    return estimate_pair_completeness(
        BlockingRules(rules), packed, COMPLETENESS_LAYOUT, _score(truth), loose_segments=LOOSE
    )


def test_rules_covering_the_loose_reference_find_every_likely_pair() -> None:
    assert _completeness((DOB_RULE, KEY_RULE, RECORD_RULE)) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        ((KEY_RULE, RECORD_RULE), (3.0 + 6.0) / 18.0),  # without the date of birth
        ((DOB_RULE, RECORD_RULE), (9.0 + 6.0) / 18.0),  # without the nickname key
        ((DOB_RULE, KEY_RULE), (9.0 + 3.0) / 18.0),  # without the record LSH
        ((ExactRule(("name",)),), 0.0),  # a rule that finds none of them
    ],
)
def test_removing_a_rule_loses_the_expected_matches_only_it_found(
    rules: tuple[BlockingRule, ...], expected: float
) -> None:
    assert _completeness(rules) == pytest.approx(expected)


def test_no_expected_match_among_the_reference_pairs_gives_no_estimate() -> None:
    packed, _ = _known_pairs()
    nothing = _score({})
    rules = BlockingRules((DOB_RULE,))
    assert (
        estimate_pair_completeness(
            rules, packed, COMPLETENESS_LAYOUT, nothing, loose_segments=LOOSE
        )
        is None
    )
    assert estimate_pair_completeness(rules, packed[:1], COMPLETENESS_LAYOUT, nothing) is None


def test_the_scorer_sees_each_reference_pair_once() -> None:
    packed, truth = _known_pairs()
    seen: list[tuple[int, int]] = []

    def score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        seen.extend(zip(a.tolist(), b.tolist(), strict=True))
        return _score(truth)(a, b)

    estimate_pair_completeness(
        BlockingRules((DOB_RULE,)), packed, COMPLETENESS_LAYOUT, score, loose_segments=LOOSE
    )
    assert len(seen) == len(set(seen))
    assert all(x < y for x, y in seen)
    assert set(truth) <= set(seen)
