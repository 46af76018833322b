"""The Fellegi-Sunter model's level rules (derived segments, joint levels), term-frequency
weights, JSON formats /1 and /2, the suggested threshold and fits drawn towards a starting
model (linkage/probabilistic/_model.py).

Levels and weights are checked against small independent re-implementations written from
the module docstring (first rule that holds, NaN never satisfies a condition; weight =
log2 prior odds + sum of log2(m/u); probability 2**w / (1 + 2**w)).
"""

from __future__ import annotations

import dataclasses
import json
import math
from importlib import resources

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import ConfigError, InvalidInputError
from linkage.probabilistic import (
    MODEL_FORMAT,
    Comparison,
    FellegiSunterModel,
    FitReport,
    LevelRule,
    comparison_levels,
    default_comparisons,
    similarity_columns,
    suggest_threshold,
)
from linkage.probabilistic._model import TF_MINIMUM_U

pytestmark = pytest.mark.unit

GIVEN = Comparison(
    "given_name",
    rules=(
        LevelRule("given_name", 1.0),
        LevelRule("given_key", 1.0),
        LevelRule("given_name", 0.8),
    ),
    term_frequency=True,
)
SURNAME = Comparison(
    "surname",
    rules=(
        LevelRule("surname", 1.0, also=(("street", 1.0),)),
        LevelRule("surname", 1.0),
        LevelRule("surname_key", 1.0),
        LevelRule("surname", 0.7),
    ),
)
DOB = Comparison("dob", (1.0, 0.8))
COMPARISONS = (GIVEN, SURNAME, DOB)


# -- level rules ----------------------------------------------------------------------------


def test_similarity_columns_are_the_bases_then_the_derived_segments_in_order() -> None:
    assert similarity_columns(COMPARISONS) == (
        "given_name",
        "surname",
        "dob",
        "given_key",
        "street",
        "surname_key",
    )
    # a derived segment that is another comparison's base is not repeated
    street = Comparison("street", (1.0,))
    assert similarity_columns((SURNAME, street)) == ("surname", "street", "surname_key")
    assert similarity_columns((DOB,)) == ("dob",)


def test_a_comparison_lists_its_segments_base_first() -> None:
    assert GIVEN.segments == ("given_name", "given_key")
    assert SURNAME.segments == ("surname", "street", "surname_key")
    assert DOB.segments == ("dob",)
    assert SURNAME.levels == 5
    assert DOB.levels == 3


def test_identical_level_is_the_plain_identical_base_rule() -> None:
    assert DOB.identical_level == 0
    assert GIVEN.identical_level == 0
    # a joint level is not "identical": the plain identical rule after it is
    assert SURNAME.identical_level == 1
    assert Comparison("x", (0.9, 0.5)).identical_level is None
    derived_first = Comparison("x", rules=(LevelRule("x_key", 1.0), LevelRule("x", 1.0)))
    assert derived_first.identical_level == 1
    joint_only = Comparison(
        "x", rules=(LevelRule("x", 1.0, also=(("y", 1.0),)), LevelRule("x", 0.5))
    )
    assert joint_only.identical_level is None


def test_cut_points_are_kept_only_for_a_simple_comparison() -> None:
    assert DOB.cut_points == (1.0, 0.8)
    assert DOB.rules == (LevelRule("dob", 1.0), LevelRule("dob", 0.8))
    assert GIVEN.cut_points == ()
    # the same levels given as rules equal the cut-point form
    assert Comparison("dob", rules=(LevelRule("dob", 1.0), LevelRule("dob", 0.8))) == DOB


def test_level_labels_name_joint_and_derived_levels() -> None:
    assert SURNAME.level_labels() == (
        "identical and street identical",
        "identical",
        "surname_key identical",
        "0.7 <= dice < 1",
        "other",
    )
    assert DOB.level_labels() == ("identical", "0.8 <= dice < 1", "dice < 0.8")


def _levels_by_hand(row: list[float], comparison: Comparison, columns: tuple[str, ...]) -> int:
    """First rule whose every condition holds (NaN holds none); else the last level; -1
    where the base is missing and no rule held."""
    value = dict(zip(columns, row, strict=True))
    for number, rule in enumerate(comparison.rules):
        if all(
            not math.isnan(value[segment]) and value[segment] >= min_dice
            for segment, min_dice in rule.conditions()
        ):
            return number
    return -1 if math.isnan(value[comparison.segment]) else len(comparison.rules)


def test_a_joint_level_needs_every_condition() -> None:
    columns = similarity_columns(COMPARISONS)
    nan = float("nan")

    def surname_level(surname: float, street: float, key: float = 0.0) -> int:
        row = {"given_name": 1.0, "surname": surname, "dob": 1.0, "given_key": 1.0}
        row |= {"street": street, "surname_key": key}
        sims = np.array([[row[c] for c in columns]])
        return int(comparison_levels(sims, COMPARISONS)[0, 1])

    assert surname_level(1.0, 1.0) == 0
    assert surname_level(1.0, 0.9) == 1
    assert surname_level(1.0, nan) == 1  # a missing street does not hold
    assert surname_level(0.9, 1.0, key=1.0) == 2
    assert surname_level(0.75, 1.0) == 3
    assert surname_level(0.2, 1.0) == 4
    assert surname_level(nan, 1.0) == -1


def test_a_derived_rule_holds_even_where_the_base_is_missing() -> None:
    columns = similarity_columns(COMPARISONS)
    nan = float("nan")

    def given_level(given: float, key: float) -> int:
        row = {"given_name": given, "surname": 1.0, "dob": 1.0, "given_key": key}
        row |= {"street": 1.0, "surname_key": 1.0}
        return int(comparison_levels(np.array([[row[c] for c in columns]]), COMPARISONS)[0, 0])

    assert given_level(nan, 1.0) == 1  # missing base, but the nickname key agrees
    assert given_level(nan, 0.0) == -1
    assert given_level(nan, nan) == -1
    assert given_level(0.3, nan) == 3  # base present, no rule holds: last level
    assert given_level(0.85, 1.0) == 1  # the key rule comes before the 0.8 rule
    assert given_level(0.85, 0.0) == 2
    assert given_level(1.0, 0.0) == 0


_sim = st.one_of(st.just(float("nan")), st.sampled_from([0.0, 0.5, 0.7, 0.75, 0.8, 0.95, 1.0]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_sim, min_size=6, max_size=6), min_size=1, max_size=15))
def test_comparison_levels_equal_the_first_rule_that_holds(rows: list[list[float]]) -> None:
    columns = similarity_columns(COMPARISONS)
    levels = comparison_levels(np.array(rows, dtype=np.float64), COMPARISONS)
    expected = [[_levels_by_hand(row, c, columns) for c in COMPARISONS] for row in rows]
    assert levels.tolist() == expected


def test_comparison_levels_need_every_similarity_column() -> None:
    with pytest.raises(InvalidInputError, match=r"\[pairs, 6\]"):
        comparison_levels(np.zeros((2, 3)), COMPARISONS)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: Comparison("x", (1.0,), rules=(LevelRule("x", 1.0),)), "not both"),
        (lambda: Comparison("x"), "needs a cut point"),
        (lambda: Comparison("x", rules=(LevelRule("x", 0.0),)), "(0, 1]"),
        (lambda: Comparison("x", rules=(LevelRule("x", 1.5),)), "(0, 1]"),
        (
            lambda: Comparison("x", rules=(LevelRule("x", 1.0, also=(("y", 0.0),)),)),
            "(0, 1]",
        ),
        (lambda: Comparison("x", rules=(LevelRule("x_key", 1.0),)), "its own segment"),
        (
            lambda: Comparison("x", rules=(LevelRule("x", 1.0, also=(("y", 1.0),)),)),
            "its own segment",
        ),
        (
            lambda: Comparison("x", rules=(LevelRule("x", 0.8), LevelRule("x", 0.9))),
            "strictly descending",
        ),
        (
            lambda: Comparison(
                "x", rules=(LevelRule("x", 0.9), LevelRule("x_key", 1.0), LevelRule("x", 0.9))
            ),
            "strictly descending",
        ),
        (
            lambda: Comparison(
                "x",
                rules=(LevelRule("x", 1.0), LevelRule("x_key", 1.0), LevelRule("x_key", 1.0)),
            ),
            "distinct",
        ),
    ],
)
def test_an_invalid_comparison_is_refused_naming_it(make: object, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make()  # type: ignore[operator]
    problems = caught.value.problems
    assert all(p.location == "comparison x" for p in problems)
    assert any(reason in p.reason for p in problems), problems


def test_derived_rules_may_sit_between_descending_base_rules() -> None:
    comparison = Comparison(
        "x",
        rules=(
            LevelRule("x", 1.0),
            LevelRule("x_key", 1.0),
            LevelRule("x_letters", 1.0),
            LevelRule("x", 0.8),
        ),
    )
    assert comparison.levels == 5


# -- weights with term frequencies ------------------------------------------------------------

#: m and u per level of GIVEN (4 levels), SURNAME (5) and DOB (3)
M = ((0.7, 0.1, 0.1, 0.1), (0.3, 0.4, 0.1, 0.1, 0.1), (0.8, 0.1, 0.1))
UU = ((0.01, 0.01, 0.08, 0.9), (0.001, 0.01, 0.01, 0.078, 0.901), (0.003, 0.01, 0.987))
PRIOR = 0.001


def _model(comparisons: tuple[Comparison, ...] = COMPARISONS) -> FellegiSunterModel:
    return FellegiSunterModel(comparisons, M, UU, PRIOR)


def _by_hand(levels: list[int], tf: list[float] | None = None) -> float:
    """log2 prior odds + sum of log2(m/u); the given name's identical level with the
    value's own u (floored) where one is given."""
    total = math.log2(PRIOR / (1 - PRIOR))
    for column, level in enumerate(levels):
        if level < 0:
            continue
        u = UU[column][level]
        own = None if tf is None else tf[column]
        if column == 0 and level == 0 and own is not None and not math.isnan(own):
            u = max(own, TF_MINIMUM_U)
        total += math.log2(M[column][level] / u)
    return total


def _weights(levels: list[list[int]], tf: list[list[float]] | None = None) -> list[float]:
    model = _model()
    array = np.array(levels, dtype=np.int8)
    tf_u = None if tf is None else np.array(tf, dtype=np.float64)
    return [float(w) for w in model.weights_of_levels(array, tf_u)]


def test_weights_without_frequencies_are_the_sums_of_level_weights() -> None:
    levels = [[0, 1, 0], [3, 4, 2], [-1, -1, -1], [1, -1, 1]]
    assert _weights(levels) == pytest.approx([_by_hand(row) for row in levels])


def test_an_unknown_frequency_leaves_the_weight_unchanged() -> None:
    nan = float("nan")
    levels = [[0, 1, 0], [0, 0, 1]]
    assert _weights(levels, [[nan] * 3, [nan] * 3]) == _weights(levels)


def test_a_rare_value_weighs_more_than_a_common_one() -> None:
    nan = float("nan")
    rare, common, mean = _weights([[0, 1, 0]] * 3, [[1e-5, nan, nan], [0.2, nan, nan], [nan] * 3])
    assert rare > mean > common
    assert rare == pytest.approx(_by_hand([0, 1, 0], [1e-5, nan, nan]))
    assert common == pytest.approx(_by_hand([0, 1, 0], [0.2, nan, nan]))
    # exactly the identical level's weight with u replaced by the value's own share
    assert rare - mean == pytest.approx(math.log2(UU[0][0] / 1e-5))


def test_a_frequency_below_the_minimum_u_is_floored() -> None:
    nan = float("nan")
    tiny, tinier, floor = _weights(
        [[0, 1, 0]] * 3,
        [[1e-12, nan, nan], [1e-9, nan, nan], [TF_MINIMUM_U, nan, nan]],
    )
    assert tiny == tinier == floor
    assert floor == pytest.approx(_by_hand([0, 1, 0], [TF_MINIMUM_U, nan, nan]))


def test_frequencies_adjust_only_the_identical_level_of_a_frequency_comparison() -> None:
    nan = float("nan")
    # given name not identical (levels 1, 3, missing): its frequency is ignored
    levels = [[1, 1, 0], [3, 1, 0], [-1, 1, 0]]
    assert _weights(levels, [[1e-5, nan, nan]] * 3) == _weights(levels)
    # the surname and date of birth take no term frequencies (not marked, or not identical)
    levels = [[2, 1, 0], [2, 0, 0]]
    assert _weights(levels, [[nan, 1e-5, 1e-5]] * 2) == _weights(levels)


def test_term_frequency_segments_name_the_marked_comparisons_with_an_identical_level() -> None:
    no_identical = Comparison("x", (0.9, 0.5), term_frequency=True)
    assert _model().term_frequency_segments() == ("given_name", None, None)
    model = FellegiSunterModel((no_identical,), ((0.5, 0.3, 0.2),), ((0.1, 0.2, 0.7),), 0.01)
    assert model.term_frequency_segments() == (None,)
    # and its "frequency" is ignored
    levels = np.array([[0]], dtype=np.int8)
    assert model.weights_of_levels(levels, np.array([[1e-6]])).tolist() == (
        model.weights_of_levels(levels).tolist()
    )


def test_frequencies_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="tf_u"):
        _model().weights_of_levels(np.zeros((2, 3), dtype=np.int8), np.zeros((2, 2)))


def test_score_passes_frequencies_through() -> None:
    nan = float("nan")
    model = _model()
    columns = model.similarity_columns
    row = {"given_name": 1.0, "surname": 1.0, "dob": 1.0}
    row |= {"given_key": 1.0, "street": 0.0, "surname_key": 0.0}
    sims = np.array([[row[c] for c in columns]] * 2)
    tf_u = np.array([[1e-4, nan, nan], [nan, nan, nan]])
    weights = model.match_weights(sims, tf_u)
    assert weights.tolist() == pytest.approx(
        [_by_hand([0, 1, 0], [1e-4, nan, nan]), _by_hand([0, 1, 0])]
    )
    expected = [2**w / (1 + 2**w) for w in weights.tolist()]
    assert model.score(sims, tf_u).tolist() == pytest.approx(expected)


# -- JSON --------------------------------------------------------------------------------------


def _reported() -> FellegiSunterModel:
    report = FitReport(
        candidate_pairs=1234,
        random_pairs=5000,
        total_pairs=10**7,
        iterations=17,
        converged=True,
        candidate_match_rate=0.123456789012345,
        sessions=2,
        suggested_threshold=0.37,
        prior_model_strength=50.0,
    )
    return dataclasses.replace(_model(), report=report)


def test_a_model_with_derived_joint_and_frequency_rules_round_trips_through_json() -> None:
    model = _reported()
    text = model.to_json()
    again = FellegiSunterModel.from_json(text)
    assert again == model
    assert again.report == model.report
    assert again.comparisons == COMPARISONS
    assert again.to_json() == text
    document = json.loads(text)
    assert document["format"] == MODEL_FORMAT == "linkage-fellegi-sunter/2"
    surname = document["comparisons"][1]
    assert surname["rules"][0] == {
        "segment": "surname",
        "minDice": 1.0,
        "also": [{"segment": "street", "minDice": 1.0}],
    }
    assert surname["rules"][2] == {"segment": "surname_key", "minDice": 1.0}
    assert document["comparisons"][0]["termFrequency"] is True
    assert [level["m"] for level in surname["levels"]] == list(M[1])
    assert document["fit"]["suggestedThreshold"] == 0.37
    assert document["fit"]["priorModelStrength"] == 50.0


def test_a_model_without_a_report_round_trips() -> None:
    model = _model()
    again = FellegiSunterModel.from_json(model.to_json(indent=None))
    assert again == model
    assert again.report is None
    assert "fit" not in json.loads(model.to_json())


def _prior_nokeys() -> dict[str, object]:
    text = resources.files("linkage.service").joinpath("prior-model-hardened-nokeys.json")
    document: dict[str, object] = json.loads(text.read_text("utf-8"))
    return document


def test_a_format_1_document_is_read_with_cut_points() -> None:
    document = _prior_nokeys()
    assert document["format"] == "linkage-fellegi-sunter/1"
    model = FellegiSunterModel.from_dict(document)
    items = document["comparisons"]
    assert isinstance(items, list)
    assert [c.segment for c in model.comparisons] == [item["segment"] for item in items]
    for comparison, item, m_row, u_row in zip(
        model.comparisons, items, model.m, model.u, strict=True
    ):
        assert comparison.cut_points == tuple(item["cutPoints"])
        assert comparison.term_frequency is False
        assert m_row == tuple(level["m"] for level in item["levels"])
        assert u_row == tuple(level["u"] for level in item["levels"])
    assert model.prior == document["prior"]
    # the hardened comparisons of a layout without key segments
    assert model.comparisons == default_comparisons(True)
    assert model.report is not None
    fit = document["fit"]
    assert isinstance(fit, dict)
    assert model.report.sessions == fit["sessions"] == 2
    assert model.report.candidate_pairs == fit["candidatePairs"]
    assert model.report.suggested_threshold is None
    assert model.report.prior_model_strength == 0.0


def test_a_format_1_model_is_written_back_as_format_2_with_the_same_parameters() -> None:
    model = FellegiSunterModel.from_dict(_prior_nokeys())
    written = json.loads(model.to_json())
    assert written["format"] == MODEL_FORMAT
    again = FellegiSunterModel.from_dict(written)
    assert again == model
    assert again.report == model.report


def test_a_format_1_document_without_cut_points_is_refused() -> None:
    document = _prior_nokeys()
    items = document["comparisons"]
    assert isinstance(items, list)
    del items[0]["cutPoints"]
    with pytest.raises(ConfigError) as caught:
        FellegiSunterModel.from_dict(document)
    assert caught.value.problems[0].location == "$"


def test_an_unknown_format_is_refused_at_its_path() -> None:
    document = json.loads(_model().to_json())
    document["format"] = "linkage-fellegi-sunter/3"
    with pytest.raises(ConfigError) as caught:
        FellegiSunterModel.from_dict(document)
    assert caught.value.problems[0].location == "$.format"


# -- the suggested threshold ------------------------------------------------------------------


def _weight_of(p: float) -> float:
    return math.log2(p / (1 - p))


def _best_threshold_by_hand(probabilities: list[float]) -> tuple[float | None, float]:
    """Expected F1 at each threshold k/100 (k = 5..99), over the pairs' probabilities."""
    total = sum(probabilities)
    best: float | None = None
    best_f1 = -1.0
    for k in range(5, 100):
        t = k / 100
        kept = [p for p in probabilities if p >= t]
        if not kept:
            continue
        precision = sum(kept) / len(kept)
        recall = sum(kept) / total
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1 + 1e-12:
            best, best_f1 = t, f1
    return best, best_f1


def test_the_suggested_threshold_maximises_the_expected_f1_of_a_small_example() -> None:
    # two near-certain matches and two doubtful pairs: keeping the doubtful ones costs
    # expected precision (2.38 / 4) more than it gains in recall
    weights = np.array([_weight_of(p) for p in (0.99, 0.99, 0.2, 0.2)])
    assert suggest_threshold(weights) == 0.21


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-12.0, 12.0), min_size=1, max_size=60))
def test_the_suggested_threshold_equals_a_brute_force_expected_f1(weights: list[float]) -> None:
    probabilities = [1.0 / (1.0 + 2.0**-w) for w in weights]
    expected, _ = _best_threshold_by_hand(probabilities)
    assert suggest_threshold(np.array(weights)) == expected


def test_no_pairs_or_no_likely_pair_suggests_nothing() -> None:
    assert suggest_threshold(np.array([])) is None
    assert suggest_threshold(np.array([-100.0, -80.0])) is None


def test_a_fit_reports_the_threshold_its_candidates_suggest() -> None:
    candidates, _ = _simulate(3000, 0.3, seed=21)
    randoms, _ = _simulate(20_000, 0.0, seed=22)
    model = FellegiSunterModel.fit(SIMPLE, candidates, randoms, total_pairs=10**6)
    assert model.report is not None
    assert model.report.suggested_threshold is not None
    assert model.report.suggested_threshold == suggest_threshold(model.match_weights(candidates))


# -- fitting from a starting model ------------------------------------------------------------

SIMPLE = (
    Comparison("name", (1.0, 0.8, 0.6)),
    Comparison("dob", (1.0, 0.7)),
    Comparison("sex", (1.0,)),
)
LEVEL_VALUE = ((1.0, 0.9, 0.7, 0.3), (1.0, 0.8, 0.4), (1.0, 0.5))
TRUE_M = ((0.85, 0.1, 0.03, 0.02), (0.9, 0.07, 0.03), (0.97, 0.03))
TRUE_U = ((0.01, 0.02, 0.07, 0.9), (0.001, 0.05, 0.949), (0.5, 0.5))
#: a starting model whose m says the opposite of the data on the name and the date
START_M = ((0.3, 0.3, 0.2, 0.2), (0.4, 0.3, 0.3), (0.97, 0.03))


def _simulate(n: int, match_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < match_rate
    sims = np.empty((n, len(SIMPLE)))
    for s in range(len(SIMPLE)):
        m_draw = rng.choice(len(TRUE_M[s]), size=n, p=TRUE_M[s])
        u_draw = rng.choice(len(TRUE_U[s]), size=n, p=TRUE_U[s])
        sims[:, s] = np.asarray(LEVEL_VALUE[s])[np.where(is_match, m_draw, u_draw)]
    return sims, is_match


def _start() -> FellegiSunterModel:
    return FellegiSunterModel(SIMPLE, START_M, TRUE_U, 0.001)


def _distance(a: tuple[tuple[float, ...], ...], b: tuple[tuple[float, ...], ...]) -> float:
    return sum(
        abs(x - y)
        for row_a, row_b in zip(a, b, strict=True)
        for x, y in zip(row_a, row_b, strict=True)
    )


def _fit(n: int, **kwargs: object) -> FellegiSunterModel:
    candidates, _ = _simulate(n, 0.3, seed=31)
    randoms, _ = _simulate(20_000, 0.0, seed=32)
    return FellegiSunterModel.fit(
        SIMPLE,
        candidates,
        randoms,
        total_pairs=10**6,
        **kwargs,  # type: ignore[arg-type]
    )


def test_with_few_pairs_a_strong_start_keeps_m_near_the_start() -> None:
    flat = _fit(60)
    pulled = _fit(60, start=_start(), start_strength=200.0)
    assert _distance(pulled.m[:2], START_M[:2]) < 0.5 * _distance(flat.m[:2], START_M[:2])
    assert _distance(pulled.m[:2], START_M[:2]) < 0.25
    assert pulled.report is not None
    assert pulled.report.prior_model_strength == 200.0


def test_an_overwhelming_start_fixes_m_at_the_start() -> None:
    pulled = _fit(60, start=_start(), start_strength=1e6)
    for row, start_row in zip(pulled.m, START_M, strict=True):
        np.testing.assert_allclose(row, start_row, atol=2e-3)


def test_with_many_pairs_the_data_decide_over_a_modest_start() -> None:
    fitted = _fit(20_000, start=_start(), start_strength=50.0)
    for row, true_row in zip(fitted.m, TRUE_M, strict=True):
        np.testing.assert_allclose(row, true_row, atol=0.03)


def test_a_start_of_strength_zero_is_no_start() -> None:
    flat = _fit(500)
    zero = _fit(500, start=_start(), start_strength=0.0)
    assert zero.m == flat.m
    assert zero.prior == flat.prior
    assert zero.report is not None
    assert zero.report.prior_model_strength == 0.0
    assert flat.report is not None
    assert flat.report.prior_model_strength == 0.0


def test_only_comparisons_the_start_shares_are_pulled_towards_it() -> None:
    # a start whose name comparison has other cut points: its m cannot centre the
    # name's prior, so with an overwhelming strength only dob and sex sit at the start
    other_name = Comparison("name", (1.0, 0.5))
    start = FellegiSunterModel(
        (other_name, SIMPLE[1], SIMPLE[2]),
        ((0.2, 0.3, 0.5), START_M[1], START_M[2]),
        ((0.01, 0.09, 0.9), TRUE_U[1], TRUE_U[2]),
        0.001,
    )
    pulled = _fit(2000, start=start, start_strength=1e6)
    np.testing.assert_allclose(pulled.m[1], START_M[1], atol=2e-3)
    assert len(pulled.m[0]) == 4
    assert pulled.m[0][0] > 0.6  # the data's agreement, not a start value


@pytest.mark.parametrize("pairs", [0, 7, 5000])
def test_comparison_levels_kernel_equals_its_numpy_twin(pairs: int) -> None:
    """Serial (few pairs) and parallel kernels against comparison_levels_reference, the
    shipped comparisons (joint levels included) and these, on values at the cut points."""
    from linkage.probabilistic._comparison import comparison_levels_reference

    rng = np.random.default_rng(pairs)
    values = np.array([np.nan, 0.0, 0.5, 0.7, 0.75, 0.8, 0.95, 1.0])
    hardened = default_comparisons(hardened=True)
    for comparisons in (COMPARISONS, hardened):
        width = len(similarity_columns(comparisons))
        sims = values[rng.integers(0, values.shape[0], size=(pairs, width))]
        levels = comparison_levels(sims, comparisons)
        assert levels.dtype == np.int8
        np.testing.assert_array_equal(levels, comparison_levels_reference(sims, comparisons))
        transposed = np.asfortranarray(sims)  # any memory order
        np.testing.assert_array_equal(comparison_levels(transposed, comparisons), levels)


def _weights_in_numpy(
    model: FellegiSunterModel, levels: np.ndarray, tf_u: np.ndarray | None
) -> np.ndarray:
    """weights_of_levels as numpy computed it before its kernels (the same operations in
    the same order: the kernels must give the same floats, bit for bit)."""
    total = np.full(levels.shape[0], model.prior_weight, dtype=np.float64)
    for column, row in enumerate(model.level_weights()):
        table = np.concatenate([np.asarray(row, dtype=np.float64), [0.0]])
        total += table[levels[:, column].astype(np.int64)]
        comparison = model.comparisons[column]
        identical = comparison.identical_level
        if tf_u is None or not comparison.term_frequency or identical is None:
            continue
        own = np.asarray(tf_u[:, column], dtype=np.float64)
        adjust = (levels[:, column] == identical) & ~np.isnan(own)
        m = model.m[column][identical]
        adjusted = np.log2(m / np.maximum(np.where(adjust, own, 1.0), TF_MINIMUM_U))
        total += np.where(adjust, adjusted - row[identical], 0.0)
    return total


@pytest.mark.parametrize("pairs", [0, 9, 5000])
def test_weight_kernels_equal_the_numpy_computation_bit_for_bit(pairs: int) -> None:
    rng = np.random.default_rng(pairs + 1)
    model = _model()
    sizes = [len(row) for row in model.level_weights()]
    levels = np.stack([rng.integers(-1, size, size=pairs) for size in sizes], axis=1).astype(
        np.int8
    )
    tf_u = rng.choice(np.array([np.nan, 1e-12, TF_MINIMUM_U, 1e-4, 0.01, 0.3]), (pairs, 3))
    for frequencies in (None, tf_u, np.asfortranarray(tf_u)):
        got = model.weights_of_levels(levels, frequencies)
        np.testing.assert_array_equal(got, _weights_in_numpy(model, levels, frequencies))
    with pytest.raises(InvalidInputError, match="levels outside"):
        model.weights_of_levels(np.full((2, 3), sizes[0] + 1, dtype=np.int8))
