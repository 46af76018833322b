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
