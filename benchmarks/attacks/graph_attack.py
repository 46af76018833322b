"""A similarity-graph matching attack, after Vidanage et al. (CIKM 2020) and its revisit
("Revisiting Graph Matching Attacks on PPRL", ACSAC 2024), written from their descriptions.

The attacker plays the matcher: it sees the encoded records' pairwise Dice similarities
(and their popcounts) but not the key, and holds a plaintext data set that overlaps the
encoded one. It never sees which plaintext record is which CLK; the benchmark checks that
at the end.

1. **Two graphs.** Nodes are records; edge weights are the plaintext q-gram Dice
   (:mod:`benchmarks.attacks.similarity`) on one side and the CLK Dice on the other.
2. **Calibration.** Encoded similarities are mapped onto the plaintext scale by matching
   the two similarity distributions quantile by quantile (the attacker can do this without
   any correspondence; Vidanage et al. learn a regression for the same purpose).
3. **Node features**, identical on both sides: degree at several similarity thresholds
   (set at high quantiles of the pair distribution), the sorted similarities of the
   strongest neighbours (a neighbour-similarity histogram), the mean and spread of all
   similarities, and the node's size (CLK popcount vs. the weighted token count),
   as a rank.
4. **Alignment** by an assignment solver on the feature distances (scipy's
   ``min_weight_full_bipartite_matching`` on each plaintext node's nearest candidates).
5. **Refinement with anchors.** The most confident mutual matches become anchors; every
   node is then described by its similarities to the anchors, on both sides, and nodes are
   re-aligned by the correlation of those vectors. Rounds grow the anchor set. This is the
   seed-and-extend step of the graph-matching literature (and Narayanan-Shmatikov style
   propagation); it is what lifts the attack from a few per cent to a majority of plain
   CLKs.

The result counts an encoded record as re-identified when it is assigned a plaintext
record of the same person.

:func:`known_anchor_attack` is the same refinement started from pairs the attacker already
knows instead of bootstrapped ones: a matcher operator who colludes with one agency, or
who knows that some people are in the data (test records, public cases), holds such pairs.
It measures how many known pairs it takes to re-identify the rest, whatever the bootstrap
achieves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching
from scipy.stats import rankdata

from benchmarks.attacks.similarity import FloatMatrix

__all__ = [
    "GraphAttackParams",
    "GraphAttackResult",
    "KnownAnchorResult",
    "assign",
    "centred_pair",
    "graph_attack",
    "known_anchor_attack",
    "score_assignment",
]

IntArray = npt.NDArray[np.int64]
#: quantiles of each node's similarities to all others (a neighbour-similarity histogram)
_ROW_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class GraphAttackParams:
    """Knobs of the attack (the defaults are what the benchmark reports)."""

    #: pair-distribution quantiles at which node degrees are counted
    degree_quantiles: tuple[float, ...] = (0.9, 0.99, 0.995, 0.999, 0.9995, 0.9999)
    #: strongest neighbour similarities kept per node
    top_neighbours: int = 16
    #: neighbours averaged per hop, and hops, of the neighbourhood features
    neighbours: int = 20
    hops: int = 2
    #: weight of the node-feature score next to the anchor score in refinement rounds
    feature_weight: float = 0.5
    #: candidates per plaintext node given to the assignment solver
    candidates: int = 40
    #: anchors used in the first refinement round; each round may double them
    first_anchors: int = 250
    #: at most this fraction of the encoded records become anchors
    max_anchor_fraction: float = 0.5
    #: refinement rounds at most; the attack stops earlier once the assignment settles
    max_rounds: int = 20
    #: "settled": fewer than this fraction of the assignments changed in a round
    settled: float = 0.005
    seed: int = 0


@dataclass
class GraphAttackResult:
    """What the attack achieved (and how it got there)."""

    assignment: IntArray  # per encoded record: the plaintext record assigned, or -1
    correct: int
    targets: int
    rounds: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.correct / self.targets if self.targets else 0.0


def _sample_offdiagonal(
    matrix: FloatMatrix, count: int, rng: np.random.Generator
) -> npt.NDArray[np.float32]:
    n = matrix.shape[0]
    i = rng.integers(0, n, count)
    j = rng.integers(0, n - 1, count)
    j = j + (j >= i)
    return matrix[i, j]


def calibrate(encoded: FloatMatrix, plain: FloatMatrix, seed: int = 0) -> FloatMatrix:
    """Map encoded similarities to the plaintext scale by quantile matching (in place)."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(0.0, 1.0, 4001)
    # Dense at the top, where the informative pairs are.
    levels = np.unique(np.concatenate([levels, 1.0 - np.logspace(-7, -1, 400)]))
    source = np.quantile(_sample_offdiagonal(encoded, 2_000_000, rng), levels)
    target = np.quantile(_sample_offdiagonal(plain, 2_000_000, rng), levels)
    source, keep = np.unique(source, return_index=True)
    target = target[keep]
    for start in range(0, encoded.shape[0], 1000):
        block = encoded[start : start + 1000]
        block[...] = np.interp(block, source, target).astype(np.float32)
    return encoded


def _ranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    ranks: npt.NDArray[np.float64] = rankdata(values, method="average") / max(1, len(values))
    return ranks


def node_features(
    matrix: FloatMatrix,
    thresholds: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    top: int,
) -> npt.NDArray[np.float64]:
    """Per node: log degrees at each threshold, top neighbour sims, mean, std, size rank."""
    n = matrix.shape[0]
    columns: list[npt.NDArray[np.float64]] = []
    degrees = np.zeros((n, len(thresholds)), dtype=np.float64)
    tops = np.zeros((n, top), dtype=np.float64)
    quantiles = np.zeros((n, len(_ROW_QUANTILES)), dtype=np.float64)
    means = np.zeros(n, dtype=np.float64)
    stds = np.zeros(n, dtype=np.float64)
    for start in range(0, n, 1000):
        block = matrix[start : start + 1000]
        for k, threshold in enumerate(thresholds):
            degrees[start : start + 1000, k] = (block > threshold).sum(axis=1)
        part = np.partition(block, n - top, axis=1)[:, n - top :]
        tops[start : start + 1000] = -np.sort(-part, axis=1)
        means[start : start + 1000] = block.mean(axis=1)
        stds[start : start + 1000] = block.std(axis=1)
        quantiles[start : start + 1000] = np.quantile(block, _ROW_QUANTILES, axis=1).T
    columns.extend(np.log1p(degrees).T)
    columns.extend(quantiles.T)
    columns.extend(tops.T)
    columns.extend([means, stds, _ranks(sizes)])
    return np.stack(columns, axis=1)


def neighbourhood_features(
    matrix: FloatMatrix,
    base: npt.NDArray[np.float64],
    neighbours: int,
    hops: int,
    sharpness: float = 20.0,
) -> npt.NDArray[np.float64]:
    """``base`` with, per hop, the similarity-weighted mean of the neighbours' features.

    Each node's strongest ``neighbours`` are weighted by ``softmax(sharpness * sim)``; hop
    ``h`` averages hop ``h - 1`` over them (a parameter-free graph convolution), so the
    features describe the node's neighbourhood as well as the node.
    """
    n = matrix.shape[0]
    index = np.empty((n, neighbours), dtype=np.int64)
    weight = np.empty((n, neighbours), dtype=np.float64)
    for start in range(0, n, 1000):
        block = matrix[start : start + 1000]
        top = np.argpartition(-block, neighbours - 1, axis=1)[:, :neighbours]
        index[start : start + 1000] = top
        weight[start : start + 1000] = np.take_along_axis(block, top, axis=1)
    weight = np.exp(sharpness * (weight - weight.max(axis=1, keepdims=True)))
    weight /= weight.sum(axis=1, keepdims=True)
    parts = [base]
    current = base
    for _ in range(hops):
        current = np.einsum("nk,nkf->nf", weight, current[index])
        parts.append(current)
    return np.concatenate(parts, axis=1)


def _zscored(scores: FloatMatrix) -> FloatMatrix:
    """Scores standardised per row (each encoded node's candidates on a common scale)."""
    out = scores - scores.mean(axis=1, keepdims=True)
    out /= out.std(axis=1, keepdims=True) + 1e-9
    return out.astype(np.float32)


def assign(scores: FloatMatrix, candidates: int) -> tuple[IntArray, npt.NDArray[np.float64]]:
    """Max-score one-to-one assignment of rows to columns on each row's best ``candidates``.

    Returns, per row, its column (or -1 if it fell back to no match) and the row's margin
    (its assigned score minus the best score among its other candidates).
    """
    n_rows, n_cols = scores.shape
    k = min(candidates, n_cols)
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(scores, top, axis=1).astype(np.float64)
    high = float(values.max())
    low = float(values.min())
    cost = (high - values) + 1e-6
    penalty = (high - low) * 4 + 1.0
    rows = np.concatenate([np.repeat(np.arange(n_rows), k), np.arange(n_rows)])
    cols = np.concatenate([top.ravel(), n_cols + np.arange(n_rows)])
    data = np.concatenate([cost.ravel(), np.full(n_rows, penalty)])
    graph = sparse.csr_matrix((data, (rows, cols)), shape=(n_rows, n_cols + n_rows))
    matched_rows, matched_cols = min_weight_full_bipartite_matching(graph)
    assignment = np.full(n_rows, -1, dtype=np.int64)
    real = matched_cols < n_cols
    assignment[matched_rows[real]] = matched_cols[real]
    margins = np.full(n_rows, -np.inf)
    for row in np.nonzero(assignment >= 0)[0]:
        column = assignment[row]
        others = values[row][top[row] != column]
        own = float(scores[row, column])
        margins[row] = own - (float(others.max()) if others.size else own - 1.0)
    return assignment, margins


def _confident_pairs(
    scores: FloatMatrix, assignment: IntArray, margins: npt.NDArray[np.float64], count: int
) -> tuple[IntArray, IntArray]:
    """The ``count`` assigned pairs with the largest margins that are also mutual bests."""
    rows = np.nonzero(assignment >= 0)[0]
    cols = assignment[rows]
    best_row_of_col = np.argmax(scores, axis=0)[cols]
    mutual = best_row_of_col == rows
    rows, cols, margin = rows[mutual], cols[mutual], margins[rows[mutual]]
    order = np.argsort(-margin, kind="stable")[:count]
    return rows[order], cols[order]


def _double_centred(matrix: FloatMatrix) -> FloatMatrix:
    """``matrix`` minus its row and column means, scaled to unit variance (a new array)."""
    out = matrix.astype(np.float32, copy=True)
    out -= out.mean(axis=0, keepdims=True)
    out -= out.mean(axis=1, keepdims=True)
    out /= float(out.std()) + 1e-12
    return out


def consistent_pairs(
    encoded_z: FloatMatrix,
    plain_z: FloatMatrix,
    encoded: IntArray,
    plain: IntArray,
    keep: int,
    shrink: float = 0.6,
) -> tuple[IntArray, IntArray]:
    """The ``keep`` candidate pairs most consistent with the others (spectral-matching style).

    Pair ``c = (e, p)`` scores ``sum_c' zE[e, e'] * zP[p, p']`` over the other candidates
    ``c' = (e', p')``: true pairs agree with each other on how similar their records are,
    wrong pairs agree with nothing. The least consistent ``1 - shrink`` are dropped and the
    scores recomputed among the rest, until ``keep`` remain.
    """
    chosen = np.arange(len(encoded))
    while len(chosen) > keep:
        e, p = encoded[chosen], plain[chosen]
        scores = np.zeros(len(chosen), dtype=np.float64)
        for start in range(0, len(chosen), 2000):
            rows = slice(start, start + 2000)
            block = encoded_z[np.ix_(e[rows], e)] * plain_z[np.ix_(p[rows], p)]
            scores[rows] = (
                block.sum(axis=1)
                - block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])]
            )
        target = max(keep, int(len(chosen) * shrink))
        chosen = chosen[np.argsort(-scores, kind="stable")[:target]]
    return encoded[chosen], plain[chosen]


def _standardised(matrix: FloatMatrix, columns: IntArray) -> FloatMatrix:
    """Similarities to the anchors, double-centred (no node- or anchor-wide level), unit rows."""
    part = matrix[:, columns].astype(np.float32)
    part -= part.mean(axis=0, keepdims=True)
    part -= part.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(part, axis=1, keepdims=True)
    part /= np.maximum(norms, 1e-12)
    return part


def score_assignment(
    assignment: IntArray, plain_entities: Sequence[str], encoded_entities: Sequence[str]
) -> tuple[int, int]:
    """(encoded records assigned a plaintext record of their person, records that could be)."""
    present = set(plain_entities)
    targets = sum(1 for entity in encoded_entities if entity in present)
    correct = sum(
        1
        for e, p in enumerate(assignment.tolist())
        if p >= 0 and plain_entities[p] == encoded_entities[e]
    )
    return correct, targets


def graph_attack(
    plain: FloatMatrix,
    encoded: FloatMatrix,
    plain_sizes: npt.NDArray[np.float64],
    encoded_popcounts: npt.NDArray[np.int64],
    plain_entities: Sequence[str],
    encoded_entities: Sequence[str],
    params: GraphAttackParams | None = None,
) -> GraphAttackResult:
    """Run the attack; ``encoded`` is calibrated in place. Entities are used only to score."""
    params = params or GraphAttackParams()
    started = time.perf_counter()
    rng = np.random.default_rng(params.seed)
    calibrate(encoded, plain, params.seed)
    thresholds = np.quantile(_sample_offdiagonal(plain, 2_000_000, rng), params.degree_quantiles)
    f_plain = node_features(plain, thresholds, plain_sizes, params.top_neighbours)
    f_encoded = node_features(
        encoded, thresholds, encoded_popcounts.astype(np.float64), params.top_neighbours
    )
    f_plain = neighbourhood_features(plain, f_plain, params.neighbours, params.hops)
    f_encoded = neighbourhood_features(encoded, f_encoded, params.neighbours, params.hops)
    mean, std = f_plain.mean(axis=0), f_plain.std(axis=0) + 1e-9
    f_plain = (f_plain - mean) / std
    f_encoded = (f_encoded - mean) / std
    # score = -squared distance, rows = encoded nodes, columns = plaintext nodes
    scores = (
        2.0 * f_encoded @ f_plain.T
        - (f_encoded**2).sum(axis=1)[:, None]
        - (f_plain**2).sum(axis=1)[None, :]
    ).astype(np.float32)
    feature_scores = _zscored(scores)
    rounds: list[dict[str, float]] = []

    def record(
        stage: str, assignment: IntArray, anchors: int = 0, anchor_precision: float = float("nan")
    ) -> None:
        correct, targets = score_assignment(assignment, plain_entities, encoded_entities)
        rounds.append(
            {
                "stage": float(len(rounds)),
                "anchors": float(anchors),
                "anchor_precision": anchor_precision,
                "correct": float(correct),
                "rate": correct / targets if targets else 0.0,
            }
        )
        del stage

    assignment, _ = assign(scores, params.candidates)
    record("features", assignment)
    count = params.first_anchors
    limit = max(10, int(params.max_anchor_fraction * encoded.shape[0]))
    encoded_z = _double_centred(encoded)
    plain_z = _double_centred(plain)
    for _ in range(params.max_rounds):
        assigned = np.nonzero(assignment >= 0)[0]
        enc_anchor, plain_anchor = consistent_pairs(
            encoded_z, plain_z, assigned, assignment[assigned], count
        )
        if len(enc_anchor) < 10:
            break
        good = sum(
            plain_entities[p] == encoded_entities[e]
            for e, p in zip(enc_anchor.tolist(), plain_anchor.tolist(), strict=True)
        )
        u = _standardised(encoded_z, enc_anchor)
        v = _standardised(plain_z, plain_anchor)
        scores = _zscored(u @ v.T)
        del u, v
        scores += params.feature_weight * feature_scores
        previous = assignment
        assignment, _ = assign(scores, params.candidates)
        record("anchors", assignment, len(enc_anchor), good / len(enc_anchor))
        changed = float(np.mean(previous != assignment))
        rounds[-1]["changed"] = changed
        if changed < params.settled and len(enc_anchor) >= min(count, limit) // 2:
            break
        count = min(2 * count, limit)
    correct, targets = score_assignment(assignment, plain_entities, encoded_entities)
    return GraphAttackResult(
        assignment=assignment,
        correct=correct,
        targets=targets,
        rounds=rounds,
        seconds=time.perf_counter() - started,
    )


@dataclass
class KnownAnchorResult:
    """What the known-anchor attack achieved on the records it did not already know."""

    known: int
    targets: int  # encoded records outside the known ones whose person is in the plaintext
    one_step: int  # re-identified by the known pairs alone (one alignment)
    propagated: int  # re-identified after the refinement rounds
    rounds: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def one_step_rate(self) -> float:
        return self.one_step / self.targets if self.targets else 0.0

    @property
    def propagated_rate(self) -> float:
        return self.propagated / self.targets if self.targets else 0.0


def centred_pair(
    plain: FloatMatrix, encoded: FloatMatrix, seed: int = 0
) -> tuple[FloatMatrix, FloatMatrix]:
    """(encoded, plain) as the refinement uses them: calibrated, then double-centred.

    ``encoded`` is calibrated in place; the returned matrices are new.
    """
    calibrate(encoded, plain, seed)
    return _double_centred(encoded), _double_centred(plain)


def known_anchor_attack(
    encoded_z: FloatMatrix,
    plain_z: FloatMatrix,
    known_encoded: IntArray,
    known_plain: IntArray,
    plain_entities: Sequence[str],
    encoded_entities: Sequence[str],
    params: GraphAttackParams | None = None,
) -> KnownAnchorResult:
    """Re-identify encoded records from ``known`` pairs (encoded record, its plaintext record).

    ``encoded_z`` and ``plain_z`` come from :func:`centred_pair`. The known pairs stay
    anchors in every round; each round adds the other assignments that are mutual bests
    with the largest margins (cheaper than :func:`consistent_pairs` and, with known pairs
    to start from, enough). Only records outside the known ones are counted.
    """
    params = params or GraphAttackParams()
    if len(known_encoded) != len(known_plain) or len(known_encoded) == 0:
        raise ValueError("known pairs: give as many encoded as plaintext records, at least one")
    started = time.perf_counter()
    known = set(known_encoded.tolist())
    present = set(plain_entities)
    unknown = [
        e for e in range(encoded_z.shape[0]) if e not in known and encoded_entities[e] in present
    ]

    def right(assignment: IntArray) -> int:
        return sum(
            1
            for e in unknown
            if assignment[e] >= 0 and plain_entities[assignment[e]] == encoded_entities[e]
        )

    limit = max(len(known_encoded), int(params.max_anchor_fraction * encoded_z.shape[0]))
    # anchors after the first round: at least twice the known pairs, doubling each round
    count = max(params.first_anchors, 2 * len(known_encoded))
    # the known pairs are settled: only the other records and columns are assigned
    free_rows = np.setdiff1d(np.arange(encoded_z.shape[0]), known_encoded)
    free_cols = np.setdiff1d(np.arange(plain_z.shape[0]), known_plain)
    enc_anchor, plain_anchor = known_encoded, known_plain
    rounds: list[dict[str, float]] = []
    first = -1
    assignment = np.full(encoded_z.shape[0], -1, dtype=np.int64)
    assignment[known_encoded] = known_plain
    for _ in range(max(1, params.max_rounds)):
        u = _standardised(encoded_z[free_rows], enc_anchor)
        v = _standardised(plain_z[free_cols], plain_anchor)
        scores = _zscored(u @ v.T)
        del u, v
        local, margins = assign(scores, params.candidates)
        previous = assignment.copy()
        assignment[free_rows] = np.where(local >= 0, free_cols[np.maximum(local, 0)], -1)
        correct = right(assignment)
        first = correct if first < 0 else first
        changed = float(np.mean(previous[free_rows] != assignment[free_rows]))
        rounds.append(
            {
                "stage": float(len(rounds)),
                "anchors": float(len(enc_anchor)),
                "correct": float(correct),
                "rate": correct / len(unknown) if unknown else 0.0,
                "changed": changed,
            }
        )
        if len(rounds) > 1 and changed < params.settled and len(enc_anchor) >= limit // 2:
            break
        extra = max(0, min(count, limit) - len(known_encoded))
        rows, cols = _confident_pairs(scores, local, margins, extra)
        del scores
        if len(rows) == 0:
            break
        enc_anchor = np.concatenate([known_encoded, free_rows[rows]])
        plain_anchor = np.concatenate([known_plain, free_cols[cols]])
        count = min(2 * count, limit)
    return KnownAnchorResult(
        known=len(known_encoded),
        targets=len(unknown),
        one_step=first,
        propagated=right(assignment),
        rounds=rounds,
        seconds=time.perf_counter() - started,
    )
