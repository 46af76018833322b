"""Small pure-Python references of the fast kernels, with the same signatures.

They follow anonlink 0.15.3's definitions literally (one pair at a time, Python integers and
floats) and exist so that tests can run the fast and the reference version side by side.
They are quadratic and slow: never use them on more than a few thousand records.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from linkage.match._dice import _c_uint32_of_double, check_threshold
from linkage.match._packing import check_packed
from linkage.match._results import CandidateEdges, CandidatePairs
from linkage.types import Int64Array, PackedClks

__all__ = [
    "dice_join_multiparty_reference",
    "dice_join_reference",
    "dice_self_join_reference",
    "lookup_reference",
    "popcounts_reference",
]


def _as_ints(packed: PackedClks) -> list[int]:
    return [int.from_bytes(row.astype(">u8").tobytes(), "big") for row in packed]


def popcounts_reference(packed: PackedClks) -> Int64Array:
    """Popcount of every packed CLK, one Python integer at a time."""
    return np.array([x.bit_count() for x in _as_ints(check_packed(packed, "packed"))], np.int64)


def _accept(a: int, b: int, threshold: float) -> float | None:
    """anonlink's decision and score for left ``a`` and right ``b``; ``None`` if rejected."""
    pa, pb = a.bit_count(), b.bit_count()
    if pa == 0:
        return 0.0 if threshold <= 0 else None
    if threshold > 0:
        window = _c_uint32_of_double(float(2 * pa) * (1.0 / threshold - 1.0))
        if abs(pa - pb) > window:
            return None
    score = (2 * (a & b).bit_count()) / float(pa + pb)
    return score if score >= threshold else None


def _enforce_k(pairs: list[tuple[float, int, int]], k: int) -> list[tuple[float, int, int]]:
    seen_left: dict[int, int] = {}
    seen_right: dict[int, int] = {}
    kept = []
    for score, i, j in pairs:
        seen_left[i] = seen_left.get(i, 0) + 1
        seen_right[j] = seen_right.get(j, 0) + 1
        if seen_left[i] <= k and seen_right[j] <= k:
            kept.append((score, i, j))
    return kept


def _to_pairs(triples: list[tuple[float, int, int]]) -> CandidatePairs:
    triples.sort(key=lambda t: (-t[0], t[1], t[2]))
    if not triples:
        return CandidatePairs.empty()
    scores, left, right = zip(*triples, strict=True)
    return CandidatePairs(np.array(scores), np.array(left), np.array(right))


def dice_join_reference(
    left: PackedClks, right: PackedClks, threshold: float, *, k: int | None = None
) -> CandidatePairs:
    """Reference for :func:`linkage.match.dice_join`."""
    threshold = check_threshold(threshold)
    a_rows = _as_ints(check_packed(left, "left"))
    b_rows = _as_ints(check_packed(right, "right"))
    triples: list[tuple[float, int, int]] = []
    for i, a in enumerate(a_rows):
        row = []
        for j, b in enumerate(b_rows):
            score = _accept(a, b, threshold)
            if score is not None:
                row.append((score, i, j))
        if k is not None:
            row = sorted(row, key=lambda t: (-t[0], t[2]))[:k]
        triples.extend(row)
    if k is None:
        return _to_pairs(triples)
    triples.sort(key=lambda t: (-t[0], t[1], t[2]))
    return _to_pairs(_enforce_k(triples, k))


def dice_self_join_reference(
    clks: PackedClks, threshold: float, *, k: int | None = None
) -> CandidatePairs:
    """Reference for :func:`linkage.match.dice_self_join`."""
    threshold = check_threshold(threshold)
    rows = _as_ints(check_packed(clks, "clks"))
    if k is None:
        triples = []
        for i, a in enumerate(rows):
            for j in range(i + 1, len(rows)):
                score = _accept(a, rows[j], threshold)
                if score is not None:
                    triples.append((score, i, j))
        return _to_pairs(triples)
    nominated: dict[tuple[int, int], float] = {}
    for i in range(len(rows)):
        options = []
        for j in range(len(rows)):
            if j == i:
                continue
            first, second = min(i, j), max(i, j)
            score = _accept(rows[first], rows[second], threshold)
            if score is not None:
                options.append((score, j))
        options.sort(key=lambda t: (-t[0], t[1]))
        for score, j in options[:k]:
            nominated[(min(i, j), max(i, j))] = score
    triples = sorted(
        ((s, i, j) for (i, j), s in nominated.items()), key=lambda t: (-t[0], t[1], t[2])
    )
    return _to_pairs(_enforce_k(triples, k))


def dice_join_multiparty_reference(
    datasets: Sequence[PackedClks], threshold: float, *, k: int | None = None
) -> CandidateEdges:
    """Reference for :func:`linkage.match.dice_join_multiparty`."""
    parts = []
    for d0 in range(len(datasets)):
        for d1 in range(d0 + 1, len(datasets)):
            parts.append(
                dice_join_reference(datasets[d0], datasets[d1], threshold, k=k).to_edges(d0, d1)
            )
    return CandidateEdges.concatenate(parts).sorted()


def lookup_reference(
    queries: PackedClks, index: PackedClks, keys: Int64Array, threshold: float, k: int
) -> list[list[tuple[float, int]]]:
    """Reference for :meth:`linkage.match.ClkIndex.search`: per query, the best ``k``
    ``(score, key)`` of the index rows, score descending then key ascending."""
    threshold = check_threshold(threshold)
    q_rows = _as_ints(check_packed(queries, "queries"))
    rows = _as_ints(check_packed(index, "index")) if index.shape[0] else []
    results = []
    for q in q_rows:
        hits = []
        for row, key in zip(rows, keys.tolist(), strict=True):
            score = _accept(q, row, threshold)
            if score is not None:
                hits.append((score, key))
        hits.sort(key=lambda t: (-t[0], t[1]))
        results.append(hits[:k])
    return results
