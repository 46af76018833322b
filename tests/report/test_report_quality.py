"""Precision, recall, F1 and the confusion matrix, checked against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import InvalidInputError
from linkage.report import confusion_at, threshold_sweep

pytestmark = pytest.mark.unit


def test_a_small_sweep_by_hand() -> None:
    scores = [0.95, 0.9, 0.85, 0.8, 0.7]
    labels = [True, True, False, True, False]
    sweep = threshold_sweep(scores, labels, [0.7, 0.8, 0.9, 1.0], extra_positives=1, pairs=100)
    assert sweep.true_positive.tolist() == [3, 3, 2, 0]
    assert sweep.false_positive.tolist() == [2, 1, 0, 0]
    assert sweep.positives == 4
    assert sweep.precision[1] == pytest.approx(0.75)
    assert sweep.recall[1] == pytest.approx(0.75)
    assert sweep.f1[2] == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert math.isnan(sweep.precision[3])  # nothing predicted
    assert sweep.best_f1() == pytest.approx((0.8, 0.75))
    cm = confusion_at(sweep, 0.79)
    assert (cm.threshold, cm.true_positive, cm.false_positive) == (0.8, 3, 1)
    assert cm.false_negative == 1
    assert cm.true_negative == 95
    assert cm.precision == pytest.approx(0.75)
    assert cm.recall == pytest.approx(0.75)


def test_a_score_equal_to_the_threshold_counts_as_linked() -> None:
    sweep = threshold_sweep([0.8], [True], [0.8])
    assert sweep.true_positive[0] == 1


def test_weights_scale_the_counts() -> None:
    sweep = threshold_sweep([0.9, 0.7], [True, False], [0.75], weights=[10.0, 30.0])
    assert sweep.true_positive[0] == 10
    assert sweep.false_positive[0] == 0
    cm = confusion_at(sweep, 0.75)
    assert cm.true_negative == 30


def test_mismatched_arrays_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        threshold_sweep([0.9], [True, False], [0.5])
    with pytest.raises(InvalidInputError):
        threshold_sweep([0.9], [True], [0.5], extra_positives=-1)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.floats(0, 1), st.booleans(), st.floats(0.1, 5)), min_size=0, max_size=40
    ),
    thresholds=st.lists(st.floats(0, 1), min_size=1, max_size=8),
    extra=st.integers(0, 5),
)
def test_the_sweep_equals_counting_by_brute_force(
    data: list[tuple[float, bool, float]], thresholds: list[float], extra: int
) -> None:
    scores = np.array([d[0] for d in data])
    labels = np.array([d[1] for d in data], dtype=bool)
    weights = np.array([d[2] for d in data])
    sweep = threshold_sweep(scores, labels, thresholds, weights=weights, extra_positives=extra)
    for i, t in enumerate(thresholds):
        tp = sum(w for s, m, w in data if s >= t and m)
        fp = sum(w for s, m, w in data if s >= t and not m)
        assert sweep.true_positive[i] == pytest.approx(tp)
        assert sweep.false_positive[i] == pytest.approx(fp)
        positives = sum(w for _, m, w in data if m) + extra
        if positives:
            assert sweep.recall[i] == pytest.approx(tp / positives)
        cm = confusion_at(sweep, t)
        assert (
            cm.true_positive + cm.false_positive + cm.false_negative + cm.true_negative
        ) == pytest.approx(max(sweep.pairs, tp + fp + (positives - tp)))
