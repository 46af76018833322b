"""Best cross-agency matches with the matching core, against a brute-force Dice in numpy;
sampling when the comparison budget is exceeded; ground-truth evidence."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.errors import InvalidInputError
from linkage.report import best_matches, truth_evidence
from linkage.report._bestmatch import cross_agency_top1, edge_best_scores
from linkage.report._evaluate import dice_of_pairs
from tests.report.synthetic import synthetic_records

pytestmark = pytest.mark.unit


def _dice_matrix(packed: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(packed.astype(">u8").view(np.uint8), axis=1).astype(np.int64)
    common = bits @ bits.T
    pop = bits.sum(axis=1)
    total = pop[:, None] + pop[None, :]
    return np.where(total > 0, 2 * common / np.maximum(total, 1), 0.0)


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    records = synthetic_records(people=150, seed=11)
    dice = _dice_matrix(records.packed)
    return records.packed, records.agency, records.entity, dice


def _brute_best(dice: np.ndarray, agency: np.ndarray, floor: float) -> np.ndarray:
    other = agency[:, None] != agency[None, :]
    best = np.where(other, dice, -1.0).max(axis=1)
    return np.where(best >= floor, best, np.nan)


def test_top1_equals_brute_force(small: tuple[np.ndarray, ...]) -> None:
    packed, agency, _, dice = small
    rows = np.arange(packed.shape[0])
    best, comparisons = cross_agency_top1(packed, agency, rows, 0.5)
    expected = _brute_best(dice, agency, 0.5)
    assert np.allclose(best, expected, equal_nan=True)
    per_agency = np.bincount(agency)
    assert comparisons == int((packed.shape[0] - per_agency[agency]).sum())


def test_dice_of_pairs_equals_brute_force(small: tuple[np.ndarray, ...]) -> None:
    packed, _, _, dice = small
    rng = np.random.default_rng(0)
    left, right = rng.integers(0, packed.shape[0], (2, 200))
    assert np.allclose(dice_of_pairs(packed, left, right), dice[left, right])


def test_edges_give_the_best_score_above_the_threshold(small: tuple[np.ndarray, ...]) -> None:
    packed, agency, _, dice = small
    a, b = np.triu_indices(packed.shape[0], k=1)
    keep = dice[a, b] >= 0.8
    known = edge_best_scores(packed.shape[0], a[keep], b[keep], dice[a, b][keep], agency)
    expected = _brute_best(dice, agency, 0.8)
    assert np.allclose(known, expected, equal_nan=True)


def test_exact_best_matches_combine_edges_and_search(small: tuple[np.ndarray, ...]) -> None:
    packed, agency, _, dice = small
    a, b = np.triu_indices(packed.shape[0], k=1)
    keep = dice[a, b] >= 0.8
    known = edge_best_scores(packed.shape[0], a[keep], b[keep], dice[a, b][keep], agency)
    result = best_matches(
        packed,
        agency,
        known,
        threshold=0.8,
        floor=0.5,
        max_comparisons=10**12,
        rng=np.random.default_rng(0),
    )
    assert not result.sampled
    assert result.records == packed.shape[0]
    assert result.from_edges + result.searched == packed.shape[0]
    assert np.all(result.weights == 1.0)
    expected = np.sort(np.nan_to_num(_brute_best(dice, agency, 0.5), nan=-1))
    assert np.allclose(np.sort(np.nan_to_num(result.scores, nan=-1)), expected)


def test_a_small_budget_samples_the_records_below_the_threshold(
    small: tuple[np.ndarray, ...],
) -> None:
    packed, agency, _, dice = small
    known = np.full(packed.shape[0], np.nan)
    result = best_matches(
        packed,
        agency,
        known,
        threshold=0.8,
        floor=0.5,
        max_comparisons=20 * packed.shape[0],
        rng=np.random.default_rng(1),
    )
    assert result.sampled
    assert 0 < result.searched < packed.shape[0]
    assert result.weights.sum() == pytest.approx(packed.shape[0])
    assert result.comparisons <= 20 * packed.shape[0] * 1.5
    truth = _brute_best(dice, agency, 0.5)
    # Each sampled score is the exact best match of some record.
    finite = result.scores[np.isfinite(result.scores)]
    assert np.isin(np.round(finite, 12), np.round(truth[np.isfinite(truth)], 12)).all()


def test_sampling_is_unbiased_on_average() -> None:
    records = synthetic_records(people=400, seed=12)
    known = np.full(records.packed.shape[0], np.nan)
    exact = best_matches(
        records.packed, records.agency, known, threshold=0.8, floor=0.3,
        max_comparisons=10**12, rng=np.random.default_rng(0),
    )  # fmt: skip
    true_share = float((exact.scores >= 0.8).mean())
    estimates = []
    for seed in range(8):
        sampled = best_matches(
            records.packed, records.agency, known, threshold=0.8, floor=0.3,
            max_comparisons=records.packed.shape[0] * 60, rng=np.random.default_rng(seed),
        )  # fmt: skip
        assert sampled.sampled
        estimates.append(
            float(sampled.weights[sampled.scores >= 0.8].sum() / sampled.weights.sum())
        )
    assert np.mean(estimates) == pytest.approx(true_share, abs=0.05)


def test_bad_arguments_are_refused(small: tuple[np.ndarray, ...]) -> None:
    packed, agency, _, _ = small
    with pytest.raises(InvalidInputError):
        best_matches(
            packed, agency, np.zeros(3), threshold=0.8, floor=0.5, max_comparisons=1,
            rng=np.random.default_rng(0),
        )  # fmt: skip
    with pytest.raises(InvalidInputError):
        best_matches(
            packed, agency, np.zeros(len(agency)), threshold=0.5, floor=0.8, max_comparisons=1,
            rng=np.random.default_rng(0),
        )  # fmt: skip


def test_truth_evidence_equals_brute_force(small: tuple[np.ndarray, ...]) -> None:
    packed, agency, entity, dice = small
    n = packed.shape[0]
    # Pretend the matcher linked every true pair scoring >= 0.8 (links = entity, trimmed).
    link = np.where(_brute_best(dice, agency, 0.8) >= 0.8, entity, -1)
    a, b = np.triu_indices(n, k=1)
    keep = dice[a, b] >= 0.8
    evidence = truth_evidence(
        packed,
        agency,
        entity,
        link,
        stored_pairs=(a[keep], b[keep], dice[a, b][keep]),
        threshold=0.8,
        chosen_threshold=0.75,
        floor=0.5,
        max_comparisons=10**12,
    )
    cross = agency[a] != agency[b]
    same = entity[a] == entity[b]
    for t in (0.5, 0.75, 0.8, 0.9):
        i = int(np.argmin(np.abs(evidence.sweep.thresholds - t)))
        predicted = cross & (dice[a, b] >= t)
        assert evidence.sweep.true_positive[i] == (predicted & same).sum()
        assert evidence.sweep.false_positive[i] == (predicted & ~same).sum()
    assert evidence.sweep.positives == (cross & same).sum()
    assert evidence.sweep.pairs == cross.sum()
    cm = evidence.chosen
    assert cm.threshold == pytest.approx(0.75)
    cells = cm.true_positive + cm.false_positive + cm.false_negative + cm.true_negative
    assert cells == cross.sum()
    assert evidence.linked is not None
    co_linked = cross & (link[a] == link[b]) & (link[a] >= 0)
    assert evidence.linked.true_positive == (co_linked & same).sum()
    assert evidence.linked.false_positive == (co_linked & ~same).sum()
    assert evidence.linked.false_negative == (cross & same).sum() - (co_linked & same).sum()
    # With no budget the stored pairs stand in, and the sweep starts at the threshold.
    cheap = truth_evidence(
        packed, agency, entity, link, stored_pairs=(a[keep], b[keep], dice[a, b][keep]),
        threshold=0.8, chosen_threshold=0.8, floor=0.5, max_comparisons=1,
    )  # fmt: skip
    assert cheap.sweep.thresholds[0] == pytest.approx(0.8)
    assert (
        cheap.chosen.true_positive
        == evidence.sweep.true_positive[int(np.argmin(np.abs(evidence.sweep.thresholds - 0.8)))]
    )
    assert cheap.sweep.positives == evidence.sweep.positives
