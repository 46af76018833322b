"""Load (or compile and cache) every numba kernel before the first request needs it."""

from __future__ import annotations

import time

import numpy as np

from linkage.match._blocking import HammingLsh, _BandScreen, blocked_dice_join, lsh_candidates
from linkage.match._dice import dice_rule, score_ranks
from linkage.match._greedy import greedy_match
from linkage.match._index import ClkIndex
from linkage.match._join import dice_join, dice_self_join
from linkage.match._screen import BandHashPlan

__all__ = ["warm_up"]


def warm_up(bits: int = 1024, thresholds: tuple[float, ...] = (0.8,)) -> float:
    """Run every kernel once on tiny synthetic CLKs; return the seconds it took.

    numba compiles on first call (seconds) and caches the machine code on disk
    (``cache=True``), so the first process on a machine pays the compilation and later ones
    only load it. A server calls this at start-up, before it reports itself healthy, so that
    no request pays either. ``thresholds`` pre-builds the threshold tables that will be used.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    words = bits // 64
    clks = rng.integers(0, 2**63, size=(9, words), dtype=np.int64).astype(np.uint64)
    for threshold in thresholds:
        dice_rule(threshold, bits)
        score_ranks(threshold, bits)
    greedy_match(dice_join(clks, clks, 0.5))
    dice_join(clks, clks, 0.5, k=2)
    dice_self_join(clks, 0.5)
    blocked_dice_join(clks, clks, 0.5, HammingLsh(bands=2, bits_per_band=4))
    lsh = HammingLsh(bands=2, bits_per_band=4)
    lsh_candidates(clks[:2], clks, lsh)  # a batch against its candidates: keys at once
    _BandScreen(lsh.keys(clks[:2]), clks, lsh, None, direct_keys=0).count(0)  # a screen
    index = ClkIndex(bits, capacity=16)
    index.add(np.arange(9), clks)
    index.search(clks[:1], 0.5, 3)
    index.search(clks[:3], 0.5, 3)
    index.band_candidates(clks[:2], BandHashPlan.of(HammingLsh(bands=2, bits_per_band=4), words))
    return time.perf_counter() - started
