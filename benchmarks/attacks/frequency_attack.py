"""A frequency / pattern-mining attack on CLK bit patterns, written from the published
descriptions: Christen, Schnell, Vatsalan and Ranbaduge ("Efficient cryptanalysis of Bloom
filters for PPRL", PAKDD 2017), Christen et al. ("Precise and fast cryptanalysis for Bloom
filter based PPRL", TKDE 2019), Vidanage et al. (CIKM 2020) and Mitchell et al. (2017).
No attack code was copied.

The attacker sees only the CLKs (no similarities) and holds plaintext records of (some of)
the same people. It knows the public schema: the features, how each is tokenised (q-grams,
positional unigrams, exact values), the filter length and the salting rules, so it
tokenises its plaintext exactly as the encoder does (``feature:q-gram`` tokens).

1. **Frequent bit patterns** (:func:`mine_patterns`). Every record that holds a q-gram has
   all of that q-gram's positions set, so a frequent q-gram shows up as a group of positions
   that are set together more often than the records' fill explains. Seeds: pairs of
   positions with a high fill-adjusted correlation, each grown greedily into a group. Each
   group is then *closed*, as a frequent itemset: its holders are the CLKs that have (nearly)
   all its positions set, and the group becomes every position that is set in nearly all
   holders and clearly less often in the other CLKs; repeated until it is stable. A closed
   pattern is a q-gram's positions (or a few q-grams that always occur together) and its
   holders are the records that hold that q-gram.
2. **Alignment by frequency and co-occurrence** (:func:`align_patterns`). A pattern's
   holder frequency estimates the frequency of its q-gram, and the frequency with which two
   patterns are held together estimates the joint frequency of their q-grams. The attacker
   aligns patterns and q-grams seed-and-extend style: first the pairs whose frequencies
   match clearly better than any alternative, then, round by round, every remaining pattern
   by how well its joint frequencies with the aligned anchors match each candidate q-gram's
   (the conditional frequencies of Christen's recursive partitioning, all at once), with an
   assignment solver, keeping the most certain pairs as new anchors. Every round also
   weighs a **size term** (:func:`expected_pattern_sizes`): the public schema says how many
   positions each q-gram gets in each record (``k`` depends on the value's length), so the
   attacker knows from its own plaintext how many positions a q-gram's closed pattern should
   have (plus those of the q-grams always held with it). Frequencies alone leave hundreds of
   q-grams of similar frequency; the size tells the features apart (a street q-gram has
   about 10 positions, a name q-gram 20-40, a rare name's union over 100).
3. **Re-identification, then learning every q-gram's positions.** Each CLK-record pair is
   scored by a naive-Bayes log-likelihood ratio over the aligned q-grams ("the record holds
   the q-gram and the CLK holds its pattern", "holds it but the CLK lacks the pattern", ...)
   and records are matched with an assignment solver (``assign`` of the graph attack). The
   most confident mutual matches then teach the attacker the positions of *every* q-gram
   its plaintext holds often enough: the positions set in nearly all matched CLKs of
   records that hold it, and clearly less often in the others (Mitchell et al.'s and
   Christen et al.'s position identification with known pairs). Records are re-scored with
   all learned q-grams and re-matched; the confident set grows each round.
4. **Restarts with a self-check.** Steps 2-3 run from several starts (with and without the
   size term, and from different first anchors). The attacker cannot count its correct
   matches, but it can see whether learning took off: :func:`self_check` is the share of
   records whose assigned plaintext record scores clearly above every other (by at least
   the spread of the record's scores). Runs that took off score about 0.45-0.9; runs that
   did not, under 0.02. The attack keeps the start with the highest self-check and stops at
   the first that reaches ``took_off``.

Reported: the encoded records assigned a plaintext record of their own person and, as the
papers report, the precision of the pattern -> q-gram alignment and of the learned
positions, checked with the key by :mod:`benchmarks.attacks.key_check` (only the benchmark
holds the key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.stats import binom

from benchmarks.attacks.graph_attack import assign, score_assignment
from benchmarks.attacks.similarity import TokenTable
from linkage.types import ClkBytes

__all__ = [
    "FrequencyAttackParams",
    "FrequencyAttackResult",
    "Pattern",
    "align_patterns",
    "frequency_attack",
    "mine_patterns",
]

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FrequencyAttackParams:
    """Knobs of the attack (the defaults are what the benchmark reports)."""

    # -- 1. mining
    #: a group grows while its new position's mean association is at least this
    min_association: float = 0.04
    #: seeds are position pairs with an association of at least this many times the above
    seed_factor: float = 1.5
    #: seed pairs tried at most
    max_seeds: int = 1500
    #: seed pairs set together in fewer than this share of the CLKs rank lower, in proportion
    #: (0: off; for sparse filters, where the positions of rare values correlate best)
    seed_support: float = 0.0
    #: the association is recomputed (found patterns regressed out) after this many new
    #: patterns or this many seeds, whichever comes first
    batch_patterns: int = 8
    batch_seeds: int = 150
    #: closed patterns smaller than this are discarded
    min_pattern: int = 10
    #: ... and so are those whose holders chance alone would explain more than this share of
    #: (a CLK of average fill holding every position by chance)
    max_chance: float = 0.1
    #: patterns mined at most
    max_patterns: int = 400
    #: a CLK holds a pattern when at least this share of its positions are set
    hold: float = 0.95
    #: closure keeps the positions set in at least this share of the holders ...
    keep_inside: float = 0.97
    #: ... and in at most this share of the other CLKs
    keep_outside: float = 0.9
    #: closure iterations at most
    closure_rounds: int = 6
    #: patterns held by fewer CLKs than this share are discarded
    min_support: float = 0.003
    #: two patterns whose holder sets overlap this much (Jaccard) are one pattern
    duplicate: float = 0.9
    # -- 2. alignment
    #: q-grams rarer than this (share of plaintext records) are not aligned
    min_frequency: float = 0.003
    #: the most frequent q-grams aligned at most
    max_tokens: int = 1500
    #: relative error allowed in a pattern's frequency estimate (on top of sampling noise)
    relative_error: float = 0.03
    #: a z-score squared is capped at this (robust to a wrong anchor)
    z_cap: float = 25.0
    #: a pair is accepted only when its mean squared z is at most this
    max_cost: float = 9.0
    #: pairs accepted in the first extension round (doubles each round)
    first_accepted: int = 4
    #: weight of the pattern-size term: a q-gram's pattern is expected to have as many
    #: positions as the schema gives it (and its companions) in nearly all of its records
    size_weight: float = 1.0
    #: relative spread allowed around the expected size
    size_spread: float = 0.2
    #: other starts draw their first anchors from this many most certain pairs
    first_pool: int = 16
    # -- restarts
    #: starts of steps 2-3 at most ...
    starts: int = 4
    #: ... stopping at the first whose self-check (share of records whose assigned pair
    #: stands out) reaches this
    took_off: float = 0.2
    # -- 3. re-identification
    #: candidates per encoded record for the assignment solver
    candidates: int = 40
    #: learning rounds
    rounds: int = 5
    #: confident pairs of the first learning round, as a share of the encoded records
    first_confident: float = 0.05
    #: the confident share grows by this factor each round, up to ``max_confident``
    confident_growth: float = 2.0
    max_confident: float = 0.6
    #: a q-gram is learned when at least this many confident records hold it
    min_learn: int = 4
    #: a learned position is set in at least this share of the matched holders' CLKs
    learn_inside: float = 0.85
    #: ... and that many set would happen by chance (binomial, at the position's share among
    #: the other matched CLKs) with at most this probability
    learn_p: float = 1e-3
    #: learned q-grams need at least this many positions
    min_learned_positions: int = 3


@dataclass(frozen=True)
class Pattern:
    """Mined positions and the CLKs that hold them."""

    positions: IntArray
    holders: BoolArray


@dataclass
class FrequencyAttackResult:
    assignment: IntArray
    correct: int
    targets: int
    patterns: int
    #: the aligned q-gram (token key) of each aligned pattern, and the pattern's positions
    aligned: list[tuple[str, ...]] = field(default_factory=list)
    aligned_patterns: list[IntArray] = field(default_factory=list)
    #: the positions learned per q-gram in the last round
    learned: dict[tuple[str, ...], IntArray] = field(default_factory=dict)
    #: per stage: confident pairs used, q-grams scored, re-identified
    rounds: list[dict[str, float]] = field(default_factory=list)
    #: per start of steps 2-3: aligned patterns, the self-check, and (scored with the truth,
    #: for the report only) the first matching's and the last round's re-identified
    starts: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.correct / self.targets if self.targets else 0.0


# -- 1. mining -------------------------------------------------------------------------------


def _association(bits: FloatArray, explained: FloatArray | None = None) -> FloatArray:
    """Correlation of positions after removing each record's fill (popcount / length) and,
    if given, what the holders of the patterns found so far explain (``explained``:
    ``float32[n, found]``): least-squares residuals, so that found q-grams stop seeding."""
    residual = bits - bits.mean(axis=1, keepdims=True)
    residual -= residual.mean(axis=0, keepdims=True)
    if explained is not None and explained.shape[1]:
        z = explained - explained.mean(axis=0, keepdims=True)
        gram = z.T @ z + 1e-3 * np.eye(z.shape[1], dtype=np.float32)
        coef = np.linalg.solve(gram, z.T @ residual).astype(np.float32)
        residual -= z @ coef
    cov = residual.T @ residual
    scale = np.sqrt(np.maximum(np.diag(cov), 1e-12))
    corr: FloatArray = (cov / scale[:, None] / scale[None, :]).astype(np.float32)
    np.fill_diagonal(corr, 0.0)
    return corr


def _grow(corr: FloatArray, a: int, b: int, min_association: float) -> IntArray:
    m = corr.shape[0]
    members = [a, b]
    total = corr[a] + corr[b]
    inside = np.zeros(m, dtype=bool)
    inside[[a, b]] = True
    while True:
        mean = np.where(inside, -np.inf, total / len(members))
        best = int(np.argmax(mean))
        if mean[best] < min_association:
            break
        members.append(best)
        inside[best] = True
        total = total + corr[best]
    return np.array(sorted(members), dtype=np.int64)


def holders_of(bits: npt.NDArray[np.uint8], positions: IntArray, hold: float) -> BoolArray:
    """The CLKs that have at least ``hold`` of ``positions`` set."""
    need = int(np.ceil(hold * len(positions)))
    held: BoolArray = bits[:, positions].sum(axis=1, dtype=np.int32) >= need
    return held


def _close(
    bits: npt.NDArray[np.uint8],
    bits_f: FloatArray,
    column_sums: FloatArray,
    positions: IntArray,
    params: FrequencyAttackParams,
) -> Pattern | None:
    n = bits.shape[0]
    low = max(10, int(params.min_support * n))
    previous: IntArray | None = None
    holders = holders_of(bits, positions, params.hold)
    for _ in range(params.closure_rounds):
        count = int(holders.sum())
        if count < low or count > n - low:
            return None
        inside = holders.astype(np.float32) @ bits_f
        share_in = inside / count
        share_out = (column_sums - inside) / (n - count)
        positions = np.nonzero(
            (share_in >= params.keep_inside) & (share_out <= params.keep_outside)
        )[0].astype(np.int64)
        if len(positions) < params.min_pattern:
            return None
        if previous is not None and np.array_equal(positions, previous):
            break
        previous = positions
        holders = holders_of(bits, positions, params.hold)
    count = int(holders.sum())
    fill = float(column_sums[positions].mean()) / n
    if count < low or n * fill ** len(positions) > params.max_chance * count:
        return None
    return Pattern(positions, holders)


def mine_patterns(bits: npt.NDArray[np.uint8], params: FrequencyAttackParams) -> list[Pattern]:
    """Closed groups of positions that are set together (step 1 of the module docstring).

    Mining runs in batches: after each batch the association is recomputed with the found
    patterns' holders regressed out, so that the next batch seeds on what is left.
    """
    bits_f = bits.astype(np.float32)
    column_sums = bits_f.sum(axis=0)
    m = bits.shape[1]
    # Seeds held by few records are down-weighted: frequent q-grams first (as Christen et
    # al.'s partitioning starts from the most frequent), not the positions of rare values.
    weight: FloatArray = np.ones((m, m), dtype=np.float32)
    if params.seed_support > 0:
        support = (bits_f.T @ bits_f) / (bits.shape[0] * params.seed_support)
        weight = np.minimum(support, 1.0).astype(np.float32)
    tried = np.zeros((m, m), dtype=bool)
    patterns: list[Pattern] = []
    seeds = 0
    while seeds < params.max_seeds and len(patterns) < params.max_patterns:
        explained = (
            np.stack([p.holders for p in patterns], axis=1).astype(np.float32) if patterns else None
        )
        corr = _association(bits_f, explained)
        seedable = np.where(tried, 0.0, corr * weight).astype(np.float32)
        found = 0
        for _ in range(params.batch_seeds):
            if seeds >= params.max_seeds:
                break
            flat = int(np.argmax(seedable))
            a, b = divmod(flat, m)
            if seedable[a, b] < params.seed_factor * params.min_association:
                break
            seeds += 1
            tried[a, b] = tried[b, a] = True
            seedable[a, b] = seedable[b, a] = 0.0
            group = _grow(corr, a, b, params.min_association)
            if len(group) < 3:
                continue
            seedable[np.ix_(group, group)] = 0.0
            pattern = _close(bits, bits_f, column_sums, group, params)
            if pattern is None:
                continue
            seedable[np.ix_(pattern.positions, pattern.positions)] = 0.0
            if any(_jaccard(p.holders, pattern.holders) >= params.duplicate for p in patterns):
                continue
            patterns.append(pattern)
            found += 1
            if found >= params.batch_patterns:
                break
        if found == 0:
            break
    return patterns


def _jaccard(a: BoolArray, b: BoolArray) -> float:
    either = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / either if either else 0.0


# -- 2. alignment ----------------------------------------------------------------------------


def _z2(
    observed: npt.NDArray[np.float64],
    expected: npt.NDArray[np.float64],
    scale: float,
    params: FrequencyAttackParams,
) -> npt.NDArray[np.float64]:
    """Capped squared z of observed vs expected frequencies (sampling + estimation error)."""
    var = expected * (1.0 - expected) * scale + (params.relative_error * expected) ** 2 + 1e-8
    z2: npt.NDArray[np.float64] = np.minimum((observed - expected) ** 2 / var, params.z_cap)
    return z2


def align_patterns(
    holders: BoolArray,
    present: sparse.csc_matrix,
    candidates: IntArray,
    params: FrequencyAttackParams,
    start: int = 0,
    pattern_sizes: IntArray | None = None,
    token_sizes: npt.NDArray[np.float64] | None = None,
) -> dict[int, int]:
    """Pattern index -> q-gram column, by frequency and co-occurrence (step 2).

    ``holders``: ``bool[n_encoded, patterns]``; ``present``: ``{0,1}[n_plain, vocabulary]``;
    ``candidates``: the q-gram columns that may be aligned.
    """
    n_e, n_patterns = holders.shape
    n_p = present.shape[0]
    scale = 1.0 / n_e + 1.0 / n_p
    h = holders.astype(np.float64)
    x = present[:, candidates].toarray().astype(np.float64)
    f_pattern = h.mean(axis=0)
    f_token = x.mean(axis=0)
    base = _z2(f_pattern[:, None], f_token[None, :], scale, params)
    size_cost = np.zeros_like(base)
    if pattern_sizes is not None and token_sizes is not None and params.size_weight > 0:
        spread = params.size_spread * token_sizes[None, :] + 3.0
        size_z = (pattern_sizes[:, None] - token_sizes[None, :]) / spread
        size_cost = params.size_weight * np.minimum(size_z**2, params.z_cap)
    aligned: dict[int, int] = {}
    used: set[int] = set()
    accept = params.first_accepted
    while len(aligned) < n_patterns:
        free_p = np.array([p for p in range(n_patterns) if p not in aligned], dtype=np.int64)
        free_g = np.array([g for g in range(len(candidates)) if g not in used], dtype=np.int64)
        if len(free_p) == 0 or len(free_g) == 0:
            break
        cost = base[np.ix_(free_p, free_g)].copy()
        if aligned:
            anchors_p = np.array(list(aligned), dtype=np.int64)
            anchors_g = np.array([aligned[p] for p in anchors_p.tolist()], dtype=np.int64)
            joint_p = h[:, free_p].T @ h[:, anchors_p] / n_e  # free patterns x anchors
            joint_g = x[:, free_g].T @ x[:, anchors_g] / n_p  # free q-grams x anchors
            total = cost.copy()
            for a in range(len(anchors_p)):
                total += _z2(joint_p[:, a][:, None], joint_g[:, a][None, :], scale, params)
            cost = total / (1.0 + len(anchors_p))
        cost = cost + size_cost[np.ix_(free_p, free_g)]
        rows, cols = linear_sum_assignment(cost)
        margins = np.full(len(rows), -np.inf)
        for i, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
            if cost[r, c] > params.max_cost:
                continue
            others = np.delete(cost[r], c)
            column_others = np.delete(cost[:, c], r)
            second = min(
                float(others.min()) if others.size else np.inf,
                float(column_others.min()) if column_others.size else np.inf,
            )
            margins[i] = second - float(cost[r, c])
        order = [i for i in np.argsort(-margins, kind="stable").tolist() if margins[i] > 0]
        if not order:
            break
        if start and not aligned:
            # another start: the first anchors drawn from the most certain pairs
            pool = order[: params.first_pool]
            rng = np.random.default_rng(start)
            order = rng.choice(pool, size=min(accept, len(pool)), replace=False).tolist()
        for i in order[:accept]:
            p = int(free_p[rows[i]])
            g = int(free_g[cols[i]])
            aligned[p] = g
            used.add(g)
        accept *= 2
    return {p: int(candidates[g]) for p, g in aligned.items()}


def expected_pattern_sizes(
    weights: sparse.csc_matrix, candidates: IntArray, keep_inside: float, keep_outside: float
) -> npt.NDArray[np.float64]:
    """Per candidate q-gram, how many positions its mined pattern should have.

    ``weights``: the plaintext's ``sqrt(k)`` token weights (the public schema gives each
    q-gram ``k`` positions, depending on the value's length). Closure keeps the positions set
    in at least ``keep_inside`` of the holders and at most ``keep_outside`` of the other
    records: a q-gram's first ``k`` positions for the ``k`` that nearly all its records
    reach, plus those of the q-grams held together with it in nearly all its records but not
    in nearly all the others (its pattern is their union).
    """
    k = weights[:, candidates].tocsc().power(2)
    own = np.zeros(len(candidates))
    for i in range(len(candidates)):
        values = k.data[k.indptr[i] : k.indptr[i + 1]]
        if values.size:
            own[i] = float(np.quantile(values, 1.0 - keep_inside))
    present = (k > 0).astype(np.float32)
    joint = (present.T @ present).toarray()
    counts = np.diag(joint).copy()
    inside = joint / np.maximum(counts, 1.0)[:, None]
    outside = (counts[None, :] - joint) / np.maximum(weights.shape[0] - counts, 1.0)[:, None]
    companions = (inside >= keep_inside) & (outside <= keep_outside)
    sizes: npt.NDArray[np.float64] = companions.astype(np.float64) @ own
    return sizes


# -- 3. re-identification --------------------------------------------------------------------


def _pair_scores(
    held: FloatArray,
    present: FloatArray,
    miss: npt.NDArray[np.float64],
    chance: npt.NDArray[np.float64],
) -> FloatArray:
    """Naive-Bayes log-likelihood ratio of every (CLK, record) pair, ``float32[n_e, n_p]``.

    Per q-gram, a record that holds it expects the CLK to hold its pattern (but for
    ``miss``); a record that lacks it expects the pattern only by ``chance``. Terms that do
    not depend on the record are dropped (they do not change the assignment).
    """
    if held.shape[1] == 0:
        return np.zeros((held.shape[0], present.shape[0]), dtype=np.float32)
    gain = np.log((1.0 - miss) / chance).astype(np.float32)
    loss = np.log(miss / (1.0 - chance)).astype(np.float32)
    weights = held * (gain - loss)[None, :] + loss[None, :]
    # records hold few q-grams: a sparse product is far cheaper than a dense one
    by_record = sparse.csr_matrix(present, dtype=np.float32) @ weights.T
    scores: FloatArray = np.ascontiguousarray(np.asarray(by_record, dtype=np.float32).T)
    return scores


def _confident(
    scores: FloatArray, assignment: IntArray, margins: npt.NDArray[np.float64], count: int
) -> tuple[IntArray, IntArray]:
    """The ``count`` assigned pairs with the largest margins that are also mutual bests."""
    rows = np.nonzero(assignment >= 0)[0]
    cols = assignment[rows]
    mutual = np.argmax(scores, axis=0)[cols] == rows
    rows, cols = rows[mutual], cols[mutual]
    order = np.argsort(-margins[rows], kind="stable")[:count]
    return rows[order].astype(np.int64), cols[order].astype(np.int64)


def learn_positions(
    bits: FloatArray,
    present: sparse.csc_matrix,
    encoded: IntArray,
    plain: IntArray,
    params: FrequencyAttackParams,
) -> dict[int, IntArray]:
    """q-gram column -> positions, learned from matched pairs (``encoded[i]``, ``plain[i]``)."""
    x = present[plain].tocsc()
    counts = np.asarray(x.sum(axis=0)).ravel()
    columns = np.nonzero(counts >= params.min_learn)[0]
    if len(columns) == 0:
        return {}
    matched = bits[encoded]
    k = len(encoded)
    totals = matched.sum(axis=0)
    out: dict[int, IntArray] = {}
    for start in range(0, len(columns), 512):
        block = columns[start : start + 512]
        xb = x[:, block].toarray().astype(np.float32)
        inside = xb.T @ matched  # q-grams x positions
        held = counts[block][:, None].astype(np.float32)
        share_in = inside / held
        rest = np.maximum(k - held, 1.0)
        share_out = np.clip((totals[None, :] - inside) / rest, 1e-3, 1.0 - 1e-3)
        candidate = share_in >= params.learn_inside
        tail = np.ones_like(share_in)
        tail[candidate] = binom.sf(
            np.rint(inside[candidate]) - 1,
            np.broadcast_to(held, inside.shape)[candidate],
            share_out[candidate],
        )
        keep = candidate & (tail <= params.learn_p)
        for i, column in enumerate(block.tolist()):
            positions = np.nonzero(keep[i])[0].astype(np.int64)
            if len(positions) >= params.min_learned_positions:
                out[column] = positions
    return out


def _error_rates(
    held: BoolArray, present: FloatArray, encoded: IntArray, plain: IntArray
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(miss, chance) per q-gram, estimated on matched pairs and clipped."""
    h = held[encoded].astype(np.float64)
    x = present[plain].astype(np.float64)
    holds = x.sum(axis=0)
    lacks = len(encoded) - holds
    miss = ((1.0 - h) * x).sum(axis=0) / np.maximum(holds, 1.0)
    chance = (h * (1.0 - x)).sum(axis=0) / np.maximum(lacks, 1.0)
    return np.clip(miss, 0.01, 0.5), np.clip(chance, 0.002, 0.5)


@dataclass
class LearningRun:
    """One start of step 3: its final matching, learned positions and self-check."""

    assignment: IntArray
    learned: dict[int, IntArray]
    rounds: list[dict[str, float]]
    self_check: float


def self_check(scores: FloatArray, assignment: IntArray) -> float:
    """How far the assigned pairs stand out, computed without ground truth.

    Per encoded record (row), the gap between its assigned score and the best score of the
    *other* plaintext records, in units of the row's spread (the median absolute deviation of
    its scores); the statistic is the share of assigned rows whose gap is positive and at least
    :data:`SELF_CHECK_GAP` spreads. When learning took off, the true partners stand far above
    the crowd; when it did not, the assigned pairs are near-ties among many similar records.
    """
    standing_out = 0
    for first in range(0, scores.shape[0], 1024):
        block = scores[first : first + 1024]
        columns = assignment[first : first + 1024]
        rows = np.nonzero(columns >= 0)[0]
        if len(rows) == 0:
            continue
        s = block[rows]
        own = s[np.arange(len(rows)), columns[rows]]
        s[np.arange(len(rows)), columns[rows]] = -np.inf
        second = s.max(axis=1)
        s[np.arange(len(rows)), columns[rows]] = own
        centre = np.median(s, axis=1)
        spread = np.median(np.abs(s - centre[:, None]), axis=1) + 1e-6
        standing_out += int(np.count_nonzero((own - second) / spread >= SELF_CHECK_GAP))
    return standing_out / len(scores)


#: a record's assigned pair counts as standing out at this many spreads above the runner-up
SELF_CHECK_GAP = 1.0


def match_and_learn(
    bits: npt.NDArray[np.uint8],
    holders: BoolArray,
    pattern_ids: list[int],
    token_ids: list[int],
    present: sparse.csc_matrix,
    params: FrequencyAttackParams,
    record: Callable[[IntArray], float],
    *,
    seed: int = 0,
    first_confident: float | None = None,
    rounds: int | None = None,
    first_miss: float = 0.02,
    first_chance: float = 0.01,
) -> LearningRun:
    """Step 3 from one start: first matching on the aligned patterns, then learning rounds.

    ``record(assignment)`` scores an assignment against the truth, for the log only.
    """
    bits_f = bits.astype(np.float32)
    n_e = bits.shape[0]
    log: list[dict[str, float]] = []
    held = holders[:, pattern_ids]
    x = present[:, token_ids].toarray()
    miss = np.full(len(token_ids), first_miss)
    chance = np.full(len(token_ids), first_chance)
    scores = _pair_scores(held.astype(np.float32), x, miss, chance)
    scores += np.random.default_rng(seed).random(scores.shape, dtype=np.float32) * 1e-3
    assignment, margins = assign(scores, params.candidates)
    log.append({"stage": 0.0, "confident": 0.0, "qgrams": float(len(token_ids))})
    log[-1]["correct"] = record(assignment)
    learned: dict[int, IntArray] = {}
    share = params.first_confident if first_confident is None else first_confident
    for stage in range(1, (params.rounds if rounds is None else rounds) + 1):
        count = max(10, int(share * n_e))
        enc_idx, plain_idx = _confident(scores, assignment, margins, count)
        learned = learn_positions(bits_f, present, enc_idx, plain_idx, params)
        # the aligned patterns stay in, for q-grams not (yet) learned
        tokens = sorted(learned)
        columns_held = [holders_of(bits, learned[t], params.hold) for t in tokens]
        for p, t in zip(pattern_ids, token_ids, strict=True):
            if t not in learned:
                tokens.append(t)
                columns_held.append(holders[:, p])
        if not tokens:
            break
        held_all = np.stack(columns_held, axis=1)
        x = present[:, tokens].toarray()
        miss, chance = _error_rates(held_all, x, enc_idx, plain_idx)
        del scores
        scores = _pair_scores(held_all.astype(np.float32), x, miss, chance)
        previous = assignment
        assignment, margins = assign(scores, params.candidates)
        log.append(
            {"stage": float(stage), "confident": float(len(enc_idx)), "qgrams": float(len(tokens))}
        )
        log[-1]["correct"] = record(assignment)
        log[-1]["changed"] = float(np.mean(previous != assignment))
        share = min(params.max_confident, share * params.confident_growth)
    check = self_check(scores, assignment)
    return LearningRun(assignment, learned, log, check)


def frequency_attack(
    clks: ClkBytes,
    plain: TokenTable,
    plain_entities: Sequence[str],
    encoded_entities: Sequence[str],
    params: FrequencyAttackParams | None = None,
    blocks: Sequence[tuple[int, int]] | None = None,
    all_starts: bool = False,
) -> FrequencyAttackResult:
    """Run the attack. Entities are used only to score the outcome (and each start's log).

    ``blocks``: bit ranges ``[start, stop)`` mined separately, for a layout of independent
    filters (per-field segments; the layout is public). Default: the whole CLK.

    Steps 2 and 3 run from up to ``params.starts`` starts. Start 0 aligns with the
    pattern-size term (:func:`expected_pattern_sizes`) from the most certain first anchors;
    start 1 aligns by frequency and co-occurrence alone (the attack before restarts); starts
    2, 3, ... use the size term and draw their first anchors at random among the most
    certain pairs. The
    attacker keeps the start whose :func:`self_check` is highest, and stops at the first
    start whose self-check reaches ``params.took_off`` (``all_starts``: run every start, to
    report how the self-check separates good from bad starts).
    """
    params = params or FrequencyAttackParams()
    started = time.perf_counter()
    bits = np.unpackbits(clks, axis=1)
    n_e = bits.shape[0]
    present = (plain.matrix.tocsc() > 0).astype(np.float32).tocsc()
    columns = plain.columns
    frequency = np.asarray(present.mean(axis=0)).ravel()
    order = np.argsort(-frequency, kind="stable")
    candidates = np.array(
        [int(t) for t in order[: params.max_tokens] if frequency[t] >= params.min_frequency],
        dtype=np.int64,
    )

    def record(assignment: IntArray) -> float:
        correct, _ = score_assignment(assignment, plain_entities, encoded_entities)
        return float(correct)  # for the log only: the attack never reads it

    # 1. mining
    patterns: list[Pattern] = []
    for start, stop in blocks or [(0, bits.shape[1])]:
        for found in mine_patterns(np.ascontiguousarray(bits[:, start:stop]), params):
            patterns.append(Pattern(found.positions + start, found.holders))
    empty = np.full(n_e, -1, dtype=np.int64)
    if not patterns or len(candidates) == 0:
        correct, targets = score_assignment(empty, plain_entities, encoded_entities)
        return FrequencyAttackResult(
            empty, correct, targets, len(patterns), seconds=time.perf_counter() - started
        )
    holders = np.stack([p.holders for p in patterns], axis=1)
    pattern_sizes = np.array([len(p.positions) for p in patterns], dtype=np.int64)
    token_sizes = expected_pattern_sizes(
        plain.matrix.tocsc(), candidates, params.keep_inside, params.keep_outside
    )
    best: tuple[LearningRun, list[int], list[int]] | None = None
    starts: list[dict[str, float]] = []
    for start in range(max(1, params.starts)):
        # 2. alignment, 3. re-identification and learning, from this start
        # start 1 aligns without the size term; starts 2, 3, ... draw their first anchors
        alignment = align_patterns(
            holders,
            present,
            candidates,
            params,
            start if start >= 2 else 0,
            pattern_sizes if start != 1 else None,
            token_sizes if start != 1 else None,
        )
        pattern_ids = sorted(alignment)
        token_ids = [alignment[p] for p in pattern_ids]
        if not pattern_ids:
            continue
        run = match_and_learn(
            bits, holders, pattern_ids, token_ids, present, params, record, seed=start
        )
        starts.append(
            {
                "start": float(start),
                "aligned": float(len(pattern_ids)),
                "self_check": run.self_check,
                "first_correct": run.rounds[0]["correct"],
                "correct": run.rounds[-1]["correct"],
            }
        )
        if best is None or run.self_check > best[0].self_check:
            best = (run, pattern_ids, token_ids)
        if not all_starts and run.self_check >= params.took_off:
            break
    if best is None:
        correct, targets = score_assignment(empty, plain_entities, encoded_entities)
        return FrequencyAttackResult(
            empty, correct, targets, len(patterns), seconds=time.perf_counter() - started
        )
    run, pattern_ids, token_ids = best
    correct, targets = score_assignment(run.assignment, plain_entities, encoded_entities)
    return FrequencyAttackResult(
        assignment=run.assignment,
        correct=correct,
        targets=targets,
        patterns=len(patterns),
        aligned=[columns[t] for t in token_ids],
        aligned_patterns=[patterns[p].positions for p in pattern_ids],
        learned={columns[t]: positions for t, positions in run.learned.items()},
        rounds=run.rounds,
        starts=starts,
        seconds=time.perf_counter() - started,
    )
