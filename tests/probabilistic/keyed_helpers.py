"""Synthetic records with derived-key segments, for the key-set, blocking and key-index tests.

A key segment holds up to ``words`` distinct nonzero 64-bit keys, sorted ascending and
zero-padded at the end (what the encoder writes; all zero = missing). Keys and Bloom values
are drawn from small pools so that records share them often.
"""

from __future__ import annotations

import numpy as np

from linkage.probabilistic import SegmentLayout, SegmentRange
from linkage.types import PackedClks

#: record (1 word), a Bloom "name" (1 word), a 3-key segment, a 2-key segment, a 1-key one
KEYED_LAYOUT = SegmentLayout(
    fields=(
        SegmentRange("name", 1, 2),
        SegmentRange("keys", 2, 5),
        SegmentRange("keys2", 5, 7),
        SegmentRange("key1", 7, 8),
    ),
    total_words=8,
    record=SegmentRange("record", 0, 1),
    key_sets=("keys", "keys2", "key1"),
)


def key_words(
    rng: np.random.Generator, n: int, words: int, pool: int, missing: float
) -> PackedClks:
    """``uint64[n, words]``: each row 1..words distinct keys from ``1..pool`` (sorted,
    zero-padded), or all zero with probability ``missing``."""
    out = np.zeros((n, words), dtype=np.uint64)
    for row in range(n):
        if rng.random() < missing:
            continue
        count = int(rng.integers(1, min(words, pool) + 1))
        keys = np.sort(rng.choice(np.arange(1, pool + 1), size=count, replace=False))
        # spread the small pool over the 64-bit range like real key words
        out[row, :count] = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return out


def keyed_records(
    n: int, seed: int, *, pool: int = 12, names: int = 4, missing: float = 0.15
) -> PackedClks:
    """Random records of :data:`KEYED_LAYOUT`."""
    rng = np.random.default_rng(seed)
    packed = np.zeros((n, KEYED_LAYOUT.total_words), dtype=np.uint64)
    packed[:, 0] = rng.integers(1, 2**63, size=n, dtype=np.int64).astype(np.uint64)
    name = rng.integers(1, names + 1, size=n).astype(np.uint64) * np.uint64(0xABCDEF12345)
    name[rng.random(n) < missing] = 0
    packed[:, 1] = name
    packed[:, 2:5] = key_words(rng, n, 3, pool, missing)
    packed[:, 5:7] = key_words(rng, n, 2, pool, missing)
    packed[:, 7:8] = key_words(rng, n, 1, max(2, pool // 3), missing)
    return packed


def shares_key(a: np.ndarray, b: np.ndarray) -> bool:
    """Both hold keys and some nonzero key is in both."""
    return bool(({int(x) for x in a} - {0}) & ({int(x) for x in b} - {0}))


def brute_exact(
    rule_segments: tuple[str, ...], left: PackedClks, right: PackedClks, *, within: bool
) -> set[tuple[int, int]]:
    """Pairs an exact rule on :data:`KEYED_LAYOUT` should make, pair by pair: every segment
    present on both sides; a key segment of several words agrees on any shared key, any
    other segment is identical."""
    out: set[tuple[int, int]] = set()
    parts = [KEYED_LAYOUT.part(name) for name in rule_segments]
    for i in range(left.shape[0]):
        for j in range(right.shape[0]):
            if within and i >= j:
                continue
            ok = True
            for part in parts:
                a = left[i, part.start_word : part.stop_word]
                b = right[j, part.start_word : part.stop_word]
                if not a.any() or not b.any():
                    ok = False
                elif part.name in KEYED_LAYOUT.key_sets and part.words > 1:
                    ok = shares_key(a, b)
                else:
                    ok = bool((a == b).all())
                if not ok:
                    break
            if ok:
                out.add((i, j))
    return out
