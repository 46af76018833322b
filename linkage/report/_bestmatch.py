"""Each record's best match in another agency, with the matching core. Pure, no I/O.

The stored edges hold every cross-agency pair at or above the matcher's
threshold, so a record with such an edge has its best match already. For the
others the best match lies below the threshold and is computed: exactly, by a
top-1 search of every other agency's CLKs (:class:`~linkage.match.ClkIndex`),
for all of them when that fits ``max_comparisons``, otherwise for a uniform
random sample of them, each standing for ``population / sample`` records.

Why a sample and not LSH blocking at scale: blocking finds pairs far above the
threshold reliably but misses more and more of them as scores fall, so a
blocked best-match histogram loses exactly the non-match mode and the valley
the threshold is chosen from. A random sample with exact search is unbiased
there, and its size is a known, reported number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linkage.errors import InvalidInputError
from linkage.match import ClkIndex
from linkage.types import Float64Array, Int64Array, PackedClks

__all__ = ["BestMatches", "best_matches", "cross_agency_top1", "edge_best_scores"]

_QUERY_CHUNK = 2048


@dataclass(frozen=True, slots=True, eq=False)
class BestMatches:
    """Best cross-agency scores of evaluated records (NaN: none at or above ``floor``).

    ``weights[i]`` is how many records ``scores[i]`` stands for (1 for records
    known exactly, ``population / sample`` for sampled ones).
    """

    scores: Float64Array
    weights: Float64Array
    agency: Int64Array
    floor: float
    records: int
    from_edges: int
    searched: int
    sampled: bool
    comparisons: int

    @property
    def matched_at(self) -> float:
        """Weight of records with a best match at or above the floor."""
        return float(self.weights[np.isfinite(self.scores)].sum())


def edge_best_scores(
    n: int,
    row_a: npt.ArrayLike,
    row_b: npt.ArrayLike,
    scores: npt.ArrayLike,
    agency: npt.ArrayLike,
) -> Float64Array:
    """Per record ``0..n-1``, its best score over edges to another agency (NaN if none)."""
    a = np.asarray(row_a, dtype=np.int64)
    b = np.asarray(row_b, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    ag = np.asarray(agency, dtype=np.int64)
    best = np.full(n, -np.inf)
    cross = ag[a] != ag[b]
    np.maximum.at(best, a[cross], s[cross])
    np.maximum.at(best, b[cross], s[cross])
    best[~np.isfinite(best)] = np.nan
    return best


def cross_agency_top1(
    packed: PackedClks, agency: npt.ArrayLike, queries: npt.ArrayLike, floor: float
) -> tuple[Float64Array, int]:
    """For each query row, its best Dice score against rows of other agencies
    (NaN when none reaches ``floor``), and the number of comparisons made."""
    ag = np.asarray(agency, dtype=np.int64)
    rows = np.asarray(queries, dtype=np.int64)
    if packed.shape[0] != ag.shape[0]:
        raise InvalidInputError("packed and agency must have the same length")
    best = np.full(rows.shape[0], -np.inf)
    comparisons = 0
    bits = packed.shape[1] * 64
    for target in np.unique(ag):
        members = np.flatnonzero(ag == target)
        asking = np.flatnonzero(ag[rows] != target)
        if members.size == 0 or asking.size == 0:
            continue
        index = ClkIndex(bits, capacity=int(members.size))
        index.add(members, packed[members])
        for start in range(0, asking.size, _QUERY_CHUNK):
            chunk = asking[start : start + _QUERY_CHUNK]
            hits = index.search(packed[rows[chunk]], floor, 1)
            top = np.array([h.scores[0] if len(h) else -np.inf for h in hits])
            best[chunk] = np.maximum(best[chunk], top)
        comparisons += int(members.size) * int(asking.size)
    best[~np.isfinite(best)] = np.nan
    return best, comparisons


def best_matches(
    packed: PackedClks,
    agency: npt.ArrayLike,
    edge_best: npt.ArrayLike,
    *,
    threshold: float,
    floor: float,
    max_comparisons: int,
    rng: np.random.Generator,
) -> BestMatches:
    """Best cross-agency scores of every record (or an unbiased sample below the threshold).

    ``edge_best`` comes from :func:`edge_best_scores` over the stored edges;
    scores from it at or above ``threshold`` are taken as exact.
    """
    if not 0.0 <= floor <= threshold <= 1.0:
        raise InvalidInputError("need 0 <= floor <= threshold <= 1")
    if max_comparisons < 1:
        raise InvalidInputError("max_comparisons must be positive")
    ag = np.asarray(agency, dtype=np.int64)
    known = np.asarray(edge_best, dtype=np.float64)
    n = ag.shape[0]
    if packed.shape[0] != n or known.shape != (n,):
        raise InvalidInputError("packed, agency and edge_best must have the same length")
    exact = np.isfinite(known) & (known >= threshold)
    rest = np.flatnonzero(~exact)
    per_agency = np.bincount(ag, minlength=int(ag.max()) + 1 if n else 0)
    # Comparisons per searched record: every record of the other agencies.
    cost = (n - per_agency[ag[rest]]).astype(np.int64) if rest.size else np.zeros(0, np.int64)
    total_cost = int(cost.sum())
    sampled = total_cost > max_comparisons
    if sampled:
        mean_cost = max(1.0, total_cost / rest.size)
        size = max(1, min(rest.size, int(max_comparisons / mean_cost)))
        chosen = np.sort(rng.choice(rest, size=size, replace=False))
    else:
        chosen = rest
    searched, comparisons = (
        cross_agency_top1(packed, ag, chosen, floor) if chosen.size else (np.zeros(0), 0)
    )
    weight = rest.size / chosen.size if chosen.size else 0.0
    exact_rows = np.flatnonzero(exact)
    return BestMatches(
        scores=np.concatenate((known[exact_rows], searched)),
        weights=np.concatenate((np.ones(exact_rows.size), np.full(chosen.size, weight))),
        agency=np.concatenate((ag[exact_rows], ag[chosen])).astype(np.int64),
        floor=floor,
        records=n,
        from_edges=int(exact_rows.size),
        searched=int(chosen.size),
        sampled=bool(sampled),
        comparisons=comparisons,
    )
