"""A frequency / pattern-mining attack on CLK bit patterns, after Christen, Schnell, Vatsalan
and Ranbaduge ("Efficient cryptanalysis of Bloom filters for PPRL", PAKDD 2017) and
Christen et al. ("Precise and fast cryptanalysis for Bloom filter based PPRL", TKDE 2019),
written from their descriptions.

The attacker sees only the CLKs (no similarities are needed) and holds plaintext records of
(some of) the same people. It knows the public schema: which features are q-grammed and how
many bits each q-gram receives.

1. **Frequent q-grams.** From its plaintext the attacker lists the most frequent q-grams of
   every feature (``feature:q-gram``) with their frequencies, and the fewest bits each one
   always sets (the schema's bits per token for the longest value that holds it).
2. **Frequent bit patterns.** Every record that holds a q-gram has all of that q-gram's
   positions set, so a frequent q-gram shows up as a group of positions that are set
   together far more often than the records' fill explains. The attacker computes the
   fill-adjusted co-occurrence (correlation) of every pair of positions and mines groups
   ("patterns") greedily: a seed pair of strongly associated positions, grown by the
   position most associated with the whole group, while the association holds.
3. **Alignment.** A pattern's support (records with nearly all its positions set, less
   what chance explains) estimates the frequency of the q-gram behind it; patterns and
   q-grams are aligned by an assignment on the difference of their log frequencies (and of
   their sizes), the pattern-to-q-gram step of the published attacks.
4. **Re-identification.** Each CLK is decoded to the q-grams whose patterns it contains;
   each plaintext record is reduced to its aligned q-grams; records are matched by the Dice
   coefficient of these sets with an assignment solver, as in the graph attack.

Reported: the encoded records assigned a plaintext record of their own person, and, as the
published attacks report, how many aligned q-grams were right (checked with the key, which
only the benchmark holds).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from benchmarks.attacks.graph_attack import assign, score_assignment
from benchmarks.attacks.similarity import TokenTable
from linkage.types import ClkBytes

__all__ = ["FrequencyAttackParams", "FrequencyAttackResult", "frequency_attack", "mine_patterns"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class FrequencyAttackParams:
    #: q-grams rarer than this (fraction of plaintext records) are not attacked
    min_frequency: float = 0.01
    #: the most frequent q-grams attacked
    max_tokens: int = 400
    #: a pattern grows while its new position's mean association is at least this
    min_association: float = 0.12
    #: patterns smaller than this are discarded (chance groups are small)
    min_pattern: int = 6
    #: patterns mined at most
    max_patterns: int = 600
    #: a record holds a pattern when it has at least this fraction of its positions
    holds: float = 0.9
    #: candidates per encoded record for the final assignment
    candidates: int = 40


@dataclass
class FrequencyAttackResult:
    assignment: IntArray
    correct: int
    targets: int
    patterns: int
    aligned: list[tuple[str, ...]] = field(default_factory=list)
    aligned_patterns: list[IntArray] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.correct / self.targets if self.targets else 0.0


def _association(bits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Correlation of positions after removing each record's fill (popcount / length)."""
    residual = bits - bits.mean(axis=1, keepdims=True)
    residual -= residual.mean(axis=0, keepdims=True)
    cov = residual.T @ residual
    scale = np.sqrt(np.maximum(np.diag(cov), 1e-12))
    corr = (cov / scale[:, None] / scale[None, :]).astype(np.float32)
    np.fill_diagonal(corr, 0.0)
    return corr


def mine_patterns(bits: npt.NDArray[np.float32], params: FrequencyAttackParams) -> list[IntArray]:
    """Greedy groups of positions that are set together (see the module docstring)."""
    corr = _association(bits)
    m = corr.shape[0]
    patterns: list[IntArray] = []
    # Pairs already explained by a pattern no longer seed new ones.
    seedable = corr.copy()
    while len(patterns) < params.max_patterns:
        flat = int(np.argmax(seedable))
        a, b = divmod(flat, m)
        if seedable[a, b] < 2 * params.min_association:
            break
        members = [a, b]
        total = corr[a] + corr[b]
        inside = np.zeros(m, dtype=bool)
        inside[[a, b]] = True
        while True:
            mean = np.where(inside, -np.inf, total / len(members))
            best = int(np.argmax(mean))
            if mean[best] < params.min_association:
                break
            members.append(best)
            inside[best] = True
            total += corr[best]
        group = np.array(sorted(members), dtype=np.int64)
        seedable[np.ix_(group, group)] = 0.0
        if len(group) >= params.min_pattern:
            patterns.append(group)
    return patterns


def _holders(
    bits: npt.NDArray[np.float32], pattern: IntArray, holds: float
) -> npt.NDArray[np.bool_]:
    need = int(np.ceil(holds * len(pattern)))
    held: npt.NDArray[np.bool_] = bits[:, pattern].sum(axis=1) >= need
    return held


def frequency_attack(
    clks: ClkBytes,
    plain: TokenTable,
    plain_entities: Sequence[str],
    encoded_entities: Sequence[str],
    params: FrequencyAttackParams | None = None,
) -> FrequencyAttackResult:
    """Run the attack. Entities are used only to score the outcome."""
    params = params or FrequencyAttackParams()
    started = time.perf_counter()
    bits = np.unpackbits(clks, axis=1).astype(np.float32)
    n = bits.shape[0]
    fill = float(bits.mean())
    # 1. frequent q-grams and the fewest bits each always sets
    weights = plain.matrix.tocsc().power(2)  # insertions per (record, q-gram)
    present = (weights > 0).astype(np.float32)
    frequency = np.asarray(present.mean(axis=0)).ravel()
    order = np.argsort(-frequency, kind="stable")
    tokens = [int(t) for t in order[: params.max_tokens] if frequency[t] >= params.min_frequency]
    columns = plain.columns
    core = np.zeros(len(tokens), dtype=np.float64)
    for i, token in enumerate(tokens):
        column = weights[:, token]
        core[i] = float(column.data.min()) if column.nnz else 0.0
    # 2. frequent bit patterns
    patterns = mine_patterns(bits, params)
    if not patterns or not tokens:
        empty = np.full(n, -1, dtype=np.int64)
        correct, targets = score_assignment(empty, plain_entities, encoded_entities)
        return FrequencyAttackResult(
            empty, correct, targets, len(patterns), seconds=time.perf_counter() - started
        )
    held = np.stack([_holders(bits, pattern, params.holds) for pattern in patterns], axis=1)
    chance = np.array(
        [fill ** int(np.ceil(params.holds * len(p))) for p in patterns], dtype=np.float64
    )
    support = np.clip((held.mean(axis=0) - chance) / (1.0 - chance), 1e-6, 1.0)
    sizes = np.array([len(p) for p in patterns], dtype=np.float64)
    # 3. align patterns and q-grams on log frequency (and size against the core size)
    token_freq = frequency[tokens]
    cost = np.abs(np.log(support)[:, None] - np.log(token_freq)[None, :])
    cost += 0.5 * np.abs(np.log(sizes)[:, None] - np.log(np.maximum(core, 1.0))[None, :])
    pattern_of, _ = assign((-cost).astype(np.float32), min(params.candidates, len(tokens)))
    aligned_tokens = []
    aligned_patterns = []
    keep_columns = []
    for index, token in enumerate(pattern_of.tolist()):
        if token < 0:
            continue
        aligned_tokens.append(columns[tokens[token]])
        aligned_patterns.append(patterns[index])
        keep_columns.append((index, tokens[token]))
    # 4. decode CLKs and match them to plaintext records by aligned q-gram sets
    decoded = held[:, [i for i, _ in keep_columns]].astype(np.float32)
    plain_sets = present[:, [t for _, t in keep_columns]].toarray().astype(np.float32)
    shared = decoded @ plain_sets.T
    totals = decoded.sum(axis=1)[:, None] + plain_sets.sum(axis=1)[None, :]
    scores = np.divide(2.0 * shared, totals, out=np.zeros_like(shared), where=totals > 0)
    # A tiny jitter breaks the many exact ties neutrally (no order carries information).
    scores += np.random.default_rng(0).random(scores.shape, dtype=np.float32) * 1e-4
    assignment, _ = assign(scores.astype(np.float32), params.candidates)
    correct, targets = score_assignment(assignment, plain_entities, encoded_entities)
    return FrequencyAttackResult(
        assignment=assignment,
        correct=correct,
        targets=targets,
        patterns=len(patterns),
        aligned=aligned_tokens,
        aligned_patterns=aligned_patterns,
        seconds=time.perf_counter() - started,
    )
