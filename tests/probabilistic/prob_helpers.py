"""Synthetic segmented records for the probabilistic tests (no encoder needed)."""

from __future__ import annotations

import numpy as np

from linkage.probabilistic import SegmentLayout, SegmentRange
from linkage.types import PackedClks

#: record part (2 words) + three field segments of 1, 2 and 1 words
LAYOUT = SegmentLayout(
    fields=(
        SegmentRange("name", 2, 3),
        SegmentRange("dob", 3, 5),
        SegmentRange("phone", 5, 6),
    ),
    total_words=6,
    record=SegmentRange("record", 0, 2),
)


def random_records(n: int, seed: int, *, fill: float = 0.3, missing: float = 0.1) -> PackedClks:
    """Random records; each field segment is all zero (missing) with probability ``missing``."""
    rng = np.random.default_rng(seed)
    bits = rng.random((n, LAYOUT.total_words * 64)) < fill
    packed = np.packbits(bits, axis=1, bitorder="big").view(">u8").astype(np.uint64)
    for part in LAYOUT.fields:
        gone = rng.random(n) < missing
        packed[gone, part.start_word : part.stop_word] = 0
    return packed


def noisy_copies(packed: PackedClks, seed: int, flips: int) -> PackedClks:
    """Copies of ``packed`` with ``flips`` random bits flipped in each present part."""
    rng = np.random.default_rng(seed)
    out = packed.copy()
    for row in range(out.shape[0]):
        for part in (*LAYOUT.fields, LAYOUT.record):
            assert part is not None
            if not out[row, part.start_word : part.stop_word].any():
                continue
            for _ in range(flips):
                bit = int(rng.integers(part.bits))
                word = part.start_word + bit // 64
                out[row, word] ^= np.uint64(1) << np.uint64(63 - bit % 64)
    return out
