"""Quality evidence from labels: ground truth per record (test data) or a
clerical-review sample of pairs. Pure numpy and the matching core, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linkage.arrays import unique_sorted
from linkage.errors import InvalidInputError
from linkage.match import dice_join
from linkage.report._quality import Confusion, ThresholdSweep, confusion_at, threshold_sweep
from linkage.types import Float64Array, Int64Array, PackedClks

__all__ = [
    "QualityEvidence",
    "dice_of_pairs",
    "scored_truth_evidence",
    "sweep_grid",
    "truth_evidence",
]


@dataclass(frozen=True, slots=True)
class QualityEvidence:
    """Precision, recall and F1 over thresholds, and the confusion matrix at the
    chosen threshold; ``linked``: the links the matcher holds, judged the same way."""

    source: str  # "ground truth" or "clerical review"
    sweep: ThresholdSweep
    chosen: Confusion
    linked: Confusion | None
    notes: tuple[str, ...]


def sweep_grid(low: float, high: float = 1.0, step: float = 0.005) -> Float64Array:
    """Thresholds from ``low`` to ``high`` on a ``step`` grid, rounded (no float drift)."""
    count = int(np.floor((high - low) / step + 1e-9)) + 1
    return np.round(low + step * np.arange(count), 6)


def dice_of_pairs(packed: PackedClks, left: npt.ArrayLike, right: npt.ArrayLike) -> Float64Array:
    """The Dice coefficient of each pair of rows (0 when both CLKs are empty)."""
    a = packed[np.asarray(left, dtype=np.int64)]
    b = packed[np.asarray(right, dtype=np.int64)]
    common = np.bitwise_count(a & b).sum(axis=1, dtype=np.int64)
    total = np.bitwise_count(a).sum(axis=1, dtype=np.int64) + np.bitwise_count(b).sum(
        axis=1, dtype=np.int64
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * common / np.maximum(total, 1), 0.0)


def _true_pairs(entity: Int64Array, agency: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Every cross-agency pair ``i < j`` of rows with the same non-negative ``entity``."""
    rows = np.flatnonzero(entity >= 0)
    order = rows[np.argsort(entity[rows], kind="stable")]
    keys = entity[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    sizes = np.diff(np.concatenate((starts, [keys.shape[0]])))
    left: list[Int64Array] = [np.zeros(0, np.int64)]
    right: list[Int64Array] = [np.zeros(0, np.int64)]
    # One vectorised step per distinct group size (there are few).
    for size in np.unique(sizes[sizes >= 2]):
        first = starts[sizes == size]
        members = order[first[:, None] + np.arange(size)[None, :]]
        i, j = np.triu_indices(int(size), k=1)
        a, b = members[:, i].ravel(), members[:, j].ravel()
        cross = agency[a] != agency[b]
        left.append(np.minimum(a, b)[cross])
        right.append(np.maximum(a, b)[cross])
    return np.concatenate(left), np.concatenate(right)


def _codes(left: Int64Array, right: Int64Array, n: int) -> Int64Array:
    return np.minimum(left, right) * n + np.maximum(left, right)


def truth_evidence(
    packed: PackedClks,
    agency: npt.ArrayLike,
    entity: npt.ArrayLike,
    link: npt.ArrayLike,
    *,
    stored_pairs: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    threshold: float,
    chosen_threshold: float,
    floor: float,
    max_comparisons: int,
) -> QualityEvidence:
    """Judge pairs against ground truth (``entity[r]``: the entity of row ``r``, or
    negative when unlabelled; only labelled rows count).

    Scores of every cross-agency pair at or above ``floor`` are computed exactly
    when that fits ``max_comparisons``; otherwise the stored edges
    (``stored_pairs``: rows, rows, scores at or above ``threshold``) stand for
    them and the sweep starts at ``threshold``.
    """
    ag = np.asarray(agency, dtype=np.int64)
    ent = np.asarray(entity, dtype=np.int64)
    lk = np.asarray(link, dtype=np.int64)
    n = ag.shape[0]
    if packed.shape[0] != n or ent.shape != (n,) or lk.shape != (n,):
        raise InvalidInputError("packed, agency, entity and link must have the same length")
    labelled = ent >= 0
    notes: list[str] = []
    true_left, true_right = _true_pairs(ent, ag)
    true_codes = unique_sorted(_codes(true_left, true_right, n))
    groups: list[Int64Array] = [
        np.flatnonzero(labelled & (ag == a)) for a in np.unique(ag[labelled])
    ]
    sizes = [g.shape[0] for g in groups]
    all_pairs = sum(
        sizes[i] * sizes[j] for i in range(len(sizes)) for j in range(i + 1, len(sizes))
    )
    if all_pairs <= max_comparisons:
        start = floor
        parts_l, parts_r, parts_s = [], [], []
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                found = dice_join(packed[groups[i]], packed[groups[j]], floor)
                parts_l.append(groups[i][found.left])
                parts_r.append(groups[j][found.right])
                parts_s.append(found.scores)
        left = np.concatenate(parts_l) if parts_l else np.zeros(0, np.int64)
        right = np.concatenate(parts_r) if parts_r else np.zeros(0, np.int64)
        scores = np.concatenate(parts_s) if parts_s else np.zeros(0)
        notes.append(f"every cross-agency pair scoring {floor:.2f} or more was compared exactly")
    else:
        start = threshold
        sl, sr, ss = (np.asarray(x) for x in stored_pairs)
        left, right = sl.astype(np.int64), sr.astype(np.int64)
        keep = labelled[left] & labelled[right] & (ag[left] != ag[right])
        left, right, scores = left[keep], right[keep], ss.astype(np.float64)[keep]
        notes.append(
            f"{all_pairs:,} labelled cross-agency pairs exceed the comparison budget; "
            f"the stored candidate pairs (scores {threshold:.2f} and up) were used"
        )
    pair_codes = _codes(left, right, n)
    is_match = np.isin(pair_codes, true_codes)
    missed = int(true_codes.shape[0]) - int(np.isin(true_codes, pair_codes).sum())
    sweep = threshold_sweep(
        scores,
        is_match,
        sweep_grid(round(start, 3)),
        extra_positives=float(missed),
        pairs=float(all_pairs),
    )
    chosen = confusion_at(sweep, chosen_threshold)
    linked = _linked_confusion(lk, ag, labelled, true_codes, n, all_pairs, threshold)
    notes.append(
        f"{int(labelled.sum()):,} labelled records, {true_codes.shape[0]:,} true "
        f"cross-agency pairs, {all_pairs:,} cross-agency pairs in all"
    )
    return QualityEvidence("ground truth", sweep, chosen, linked, tuple(notes))


def scored_truth_evidence(
    scored: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    agency: npt.ArrayLike,
    entity: npt.ArrayLike,
    link: npt.ArrayLike,
    *,
    within_agency: bool,
    threshold: float,
    chosen_threshold: float,
    thresholds: npt.ArrayLike,
    score_name: str = "match probability",
) -> tuple[QualityEvidence, float | None]:
    """Judge scored candidate pairs (``scored``: rows, rows, scores) against ground truth
    (``entity[r]``: negative when unlabelled), over the pairs the matcher may link: every
    pair when ``within_agency``, else pairs of different agencies. True pairs that are
    not among the scored pairs count as missed at every threshold. Returns the evidence
    and the share of true pairs among the scored ones (None without true pairs)."""
    ag = np.asarray(agency, dtype=np.int64)
    ent = np.asarray(entity, dtype=np.int64)
    lk = np.asarray(link, dtype=np.int64)
    n = ag.shape[0]
    if ent.shape != (n,) or lk.shape != (n,):
        raise InvalidInputError("agency, entity and link must have the same length")
    labelled = ent >= 0
    # Every record its own "agency" makes every pair a cross pair.
    scope = np.arange(n, dtype=np.int64) if within_agency else ag
    true_left, true_right = _true_pairs(ent, scope)
    true_codes = unique_sorted(_codes(true_left, true_right, n))
    count = int(labelled.sum())
    if within_agency:
        all_pairs = count * (count - 1) // 2
    else:
        sizes = np.bincount(ag[labelled]).astype(np.int64)
        all_pairs = int((int(sizes.sum()) ** 2 - int((sizes * sizes).sum())) // 2)
    left = np.asarray(scored[0], dtype=np.int64)
    right = np.asarray(scored[1], dtype=np.int64)
    scores = np.asarray(scored[2], dtype=np.float64)
    keep = labelled[left] & labelled[right] & (scope[left] != scope[right])
    left, right, scores = left[keep], right[keep], scores[keep]
    pair_codes = _codes(left, right, n)
    is_match = np.isin(pair_codes, true_codes)
    found = int(np.isin(true_codes, pair_codes).sum())
    missed = int(true_codes.shape[0]) - found
    sweep = threshold_sweep(
        scores,
        is_match,
        np.asarray(thresholds, dtype=np.float64),
        extra_positives=float(missed),
        pairs=float(all_pairs),
    )
    chosen = confusion_at(sweep, chosen_threshold)
    linked = _linked_confusion(lk, scope, labelled, true_codes, n, all_pairs, threshold)
    scope_words = "pairs" if within_agency else "cross-agency pairs"
    notes = (
        f"every candidate pair of the blocking was scored by the model; {missed:,} of "
        f"{true_codes.shape[0]:,} true {scope_words} were never candidates and count as "
        "missed at every threshold",
        f"{count:,} labelled records, {all_pairs:,} {scope_words} in all; a pair is linked "
        f"at threshold t when its {score_name} is t or more",
    )
    completeness = found / true_codes.shape[0] if true_codes.shape[0] else None
    return QualityEvidence("ground truth", sweep, chosen, linked, notes), completeness


def _linked_confusion(
    link: Int64Array,
    agency: Int64Array,
    labelled: npt.NDArray[np.bool_],
    true_codes: Int64Array,
    n: int,
    all_pairs: int,
    threshold: float,
) -> Confusion:
    """Pairs of labelled records from different agencies in one link, judged as matches."""
    left, right = _true_pairs(np.where(labelled & (link >= 0), link, -1), agency)
    codes = unique_sorted(_codes(left, right, n))
    tp = float(np.isin(codes, true_codes).sum())
    fp = float(codes.shape[0]) - tp
    fn = float(true_codes.shape[0]) - tp
    return Confusion(threshold, tp, fp, fn, max(0.0, all_pairs - tp - fp - fn))


def clerical_weights(
    scores: npt.ArrayLike, threshold: float, population_above: int, population_below: int
) -> Float64Array:
    """Weights of labelled pairs of a two-stratum sample (at/above and below the threshold)."""
    s = np.asarray(scores, dtype=np.float64)
    above = s >= threshold
    n_above, n_below = int(above.sum()), int((~above).sum())
    return np.where(
        above,
        population_above / n_above if n_above else 0.0,
        population_below / n_below if n_below else 0.0,
    )
