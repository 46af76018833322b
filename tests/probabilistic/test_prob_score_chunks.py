"""ProbabilisticLinker.score scores many pairs a chunk at a time: the same probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from keyed_helpers import KEYED_LAYOUT, keyed_records

from linkage.match import HammingLsh
from linkage.probabilistic import (
    BlockingRules,
    Comparison,
    FellegiSunterModel,
    LshRule,
    ProbabilisticLinker,
    TermFrequencies,
)
from linkage.probabilistic import _linker as linker_module

pytestmark = pytest.mark.unit


def _linker() -> ProbabilisticLinker:
    model = FellegiSunterModel(
        (
            Comparison("keys", (0.9, 0.4)),
            Comparison("name", (1.0, 0.6), term_frequency=True),
        ),
        ((0.7, 0.2, 0.1), (0.8, 0.15, 0.05)),
        ((0.05, 0.15, 0.8), (0.1, 0.2, 0.7)),
        0.05,
    )
    rules = BlockingRules((LshRule(("record",), HammingLsh(bands=4, bits_per_band=8)),))
    return ProbabilisticLinker(KEYED_LAYOUT, model, rules, 0.3)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_chunked_scores_equal_the_scores_at_once(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    packed = keyed_records(300, 4)
    rng = np.random.default_rng(chunk)
    left = np.sort(rng.integers(0, 300, size=5000))
    right = rng.integers(0, 300, size=5000)
    linker = _linker()
    frequencies = TermFrequencies.of(packed, KEYED_LAYOUT, ("name",))
    whole = linker.score(packed, packed, left, right, frequencies)
    plain = linker.score(packed, packed, left, right)
    monkeypatch.setattr(linker_module, "_SCORE_CHUNK", chunk)
    np.testing.assert_array_equal(linker.score(packed, packed, left, right, frequencies), whole)
    np.testing.assert_array_equal(linker.score(packed, packed, left, right), plain)
    assert not np.array_equal(whole, plain)  # the frequencies took part
    assert linker.score(packed, packed, left[:0], right[:0]).shape == (0,)


@pytest.mark.parametrize("chunk", [1, 5, 1 << 21])
def test_link_within_in_chunks_equals_scoring_every_candidate_at_once(
    monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """link_within holds the candidates as codes and keeps each chunk's pairs at or above
    the threshold: the pairs, probabilities and order of scoring them all, then keeping."""
    packed = keyed_records(300, 4)
    linker = _linker()
    frequencies = TermFrequencies.of(packed, KEYED_LAYOUT, ("name",))
    li, ri = linker.candidate_pairs_within(packed)
    expected = linker._keep(li, ri, linker.score(packed, packed, li, ri, frequencies))
    assert 0 < len(expected) < li.shape[0]  # some candidates fall below the threshold
    monkeypatch.setattr(linker_module, "_SCORE_CHUNK", chunk)
    got = linker.link_within(packed, frequencies)
    np.testing.assert_array_equal(got.scores, expected.scores)
    np.testing.assert_array_equal(got.left, expected.left)
    np.testing.assert_array_equal(got.right, expected.right)
    assert len(linker.link_within(packed[:1], frequencies)) == 0
