from __future__ import annotations

import math

import numpy as np
import pytest

from linkage.errors import ConfigError, InvalidInputError
from linkage.probabilistic import (
    Comparison,
    FellegiSunterModel,
    FitSettings,
    comparison_levels,
)

pytestmark = pytest.mark.unit

COMPARISONS = (
    Comparison("name", (1.0, 0.8, 0.6)),
    Comparison("dob", (1.0, 0.7)),
    Comparison("sex", (1.0,)),
)
#: level value a similarity is drawn as, per comparison and level
LEVEL_VALUE = ((1.0, 0.9, 0.7, 0.3), (1.0, 0.8, 0.4), (1.0, 0.5))
TRUE_M = ((0.85, 0.1, 0.03, 0.02), (0.9, 0.07, 0.03), (0.97, 0.03))
TRUE_U = ((0.01, 0.02, 0.07, 0.9), (0.001, 0.05, 0.949), (0.5, 0.5))


def simulate(
    n: int, match_rate: float, seed: int, missing: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < match_rate
    sims = np.empty((n, len(COMPARISONS)))
    for s in range(len(COMPARISONS)):
        m_draw = rng.choice(len(TRUE_M[s]), size=n, p=TRUE_M[s])
        u_draw = rng.choice(len(TRUE_U[s]), size=n, p=TRUE_U[s])
        level = np.where(is_match, m_draw, u_draw)
        sims[:, s] = np.asarray(LEVEL_VALUE[s])[level]
        sims[rng.random(n) < missing, s] = np.nan
    return sims, is_match


def test_levels_cut_points_and_missing() -> None:
    sims = np.array([[1.0, 0.7, np.nan], [0.85, 0.69, 1.0], [0.1, 1.0, 0.99]])
    levels = comparison_levels(sims, COMPARISONS)
    assert levels.tolist() == [[0, 1, -1], [1, 2, 0], [3, 0, 1]]
    with pytest.raises(InvalidInputError):
        comparison_levels(sims[:, :2], COMPARISONS)


@pytest.mark.parametrize("cuts", [(), (0.5, 0.7), (1.2,), (0.0,), (0.8, 0.8)])
def test_comparison_rejects_bad_cut_points(cuts: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError):
        Comparison("x", cuts)


def test_fit_recovers_m_u_and_prior() -> None:
    candidates, _ = simulate(40_000, 0.25, seed=1)
    randoms, _ = simulate(200_000, 0.0, seed=2)
    total = 10_000_000
    model = FellegiSunterModel.fit(COMPARISONS, candidates, randoms, total_pairs=total)
    for s in range(len(COMPARISONS)):
        np.testing.assert_allclose(model.u[s], TRUE_U[s], atol=0.01)
        np.testing.assert_allclose(model.m[s], TRUE_M[s], atol=0.02)
    assert model.report is not None
    assert model.report.converged
    assert model.report.candidate_match_rate == pytest.approx(0.25, abs=0.01)
    assert model.prior == pytest.approx(0.25 * 40_000 / total, rel=0.05)


def test_fit_is_deterministic_and_uses_exact_identical_rate() -> None:
    candidates, _ = simulate(5_000, 0.3, seed=3)
    randoms, _ = simulate(20_000, 0.0, seed=4)
    first = FellegiSunterModel.fit(
        COMPARISONS, candidates, randoms, total_pairs=10**6, identical_u=[0.004, None, None]
    )
    second = FellegiSunterModel.fit(
        COMPARISONS, candidates, randoms, total_pairs=10**6, identical_u=[0.004, None, None]
    )
    assert first.to_json() == second.to_json()
    assert first.u[0][0] == pytest.approx(0.004)
    assert sum(first.u[0]) == pytest.approx(1.0)


def test_scores_separate_matches_and_missing_weighs_nothing() -> None:
    candidates, is_match = simulate(20_000, 0.3, seed=5)
    randoms, _ = simulate(50_000, 0.0, seed=6)
    model = FellegiSunterModel.fit(COMPARISONS, candidates, randoms, total_pairs=20_000 * 10)
    probability = model.score(candidates)
    accuracy = ((probability >= 0.5) == is_match).mean()
    assert accuracy > 0.97
    all_missing = np.full((1, 3), np.nan)
    assert model.match_weights(all_missing)[0] == pytest.approx(model.prior_weight)
    one = np.array([[1.0, np.nan, np.nan]])
    expected = model.prior_weight + math.log2(model.m[0][0] / model.u[0][0])
    assert model.match_weights(one)[0] == pytest.approx(expected)


def test_json_round_trip_keeps_every_parameter() -> None:
    candidates, _ = simulate(3_000, 0.3, seed=7)
    randoms, _ = simulate(10_000, 0.0, seed=8)
    model = FellegiSunterModel.fit(COMPARISONS, candidates, randoms, total_pairs=10**6)
    again = FellegiSunterModel.from_json(model.to_json())
    assert again == model
    assert again.report == model.report
    np.testing.assert_array_equal(again.score(candidates), model.score(candidates))
    assert '"identical"' in model.to_json()


@pytest.mark.parametrize(
    "text",
    ['{"format": "other"}', "not json", "[]", '{"format": "linkage-fellegi-sunter/1"}'],
)
def test_from_json_rejects_malformed(text: str) -> None:
    with pytest.raises(ConfigError):
        FellegiSunterModel.from_json(text)


def test_model_validates_parameters() -> None:
    with pytest.raises(ConfigError):
        FellegiSunterModel((Comparison("a", (1.0,)),), ((0.5, 0.5),), ((0.2, 0.2),), 0.1)
    with pytest.raises(ConfigError):
        FellegiSunterModel((Comparison("a", (1.0,)),), ((0.5, 0.5),), ((0.5, 0.5),), 1.0)
    with pytest.raises(ConfigError):
        FitSettings(max_iterations=0)


def test_fit_needs_candidates() -> None:
    randoms, _ = simulate(100, 0.0, seed=9)
    with pytest.raises(InvalidInputError):
        FellegiSunterModel.fit(COMPARISONS, randoms[:0], randoms, total_pairs=10)


def test_training_sessions_leave_the_blocked_on_comparison_out() -> None:
    candidates, _ = simulate(40_000, 0.25, seed=11)
    randoms, _ = simulate(200_000, 0.0, seed=12)
    # a session "blocked on dob": every pair agrees on dob by construction, so dob's level
    # there carries no information; the session must not fit dob's m from it
    session, _ = simulate(40_000, 0.3, seed=13)
    session[:, 1] = 1.0
    other, _ = simulate(40_000, 0.3, seed=14)
    model = FellegiSunterModel.fit(
        COMPARISONS,
        candidates,
        randoms,
        total_pairs=10_000_000,
        sessions=[(session, ["dob"]), (other, ["name"])],
    )
    assert model.report is not None
    assert model.report.sessions == 2
    # dob's m comes from the session blocked on name only, name's from the one on dob
    for s, true_row in enumerate(TRUE_M):
        assert np.allclose(model.m[s], true_row, atol=0.03), (s, model.m[s])
    # were the dob-blocked session used for dob, its m would be ~1.0 on "identical"
    assert model.m[1][0] < 0.95
    again = FellegiSunterModel.from_json(model.to_json())
    assert again.report is not None
    assert again.report.sessions == 2
    # the match rate is fitted over the candidates with m fixed (about 0.25 of them)
    assert abs(model.report.candidate_match_rate - 0.25) < 0.03
