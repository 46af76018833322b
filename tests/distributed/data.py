"""Synthetic packed CLKs for the distributed-join tests: people with noisy copies."""

from __future__ import annotations

import numpy as np

from linkage.match import CandidatePairs
from linkage.types import PackedClks

BITS = 1024


def noisy_population(n: int, seed: int, *, flip: float = 0.03, fill: float = 0.3) -> PackedClks:
    """``n`` packed CLKs of about ``n / 2`` people: each row a copy of a random person
    with a fraction ``flip`` of its bits flipped, so there are many pairs near 0.8."""
    rng = np.random.default_rng(seed)
    people = rng.random((max(1, n // 2), BITS)) < fill
    bits = people[rng.integers(0, people.shape[0], n)]
    bits ^= rng.random(bits.shape) < flip
    packed: PackedClks = np.packbits(bits, axis=1).view(">u8").astype(np.uint64)
    return packed


def assert_same_pairs(expected: CandidatePairs, got: CandidatePairs) -> None:
    """The same pairs, the same scores (bit for bit), in the same order."""
    assert len(got) == len(expected)
    np.testing.assert_array_equal(got.left, expected.left)
    np.testing.assert_array_equal(got.right, expected.right)
    np.testing.assert_array_equal(got.scores, expected.scores)
