"""Clerical review: samples of pairs near the threshold, and the labels that come back.

The operator keeps a **review ledger** (a JSON file next to ``server.toml``,
``clerical-review.json``): which pairs were sampled (node IDs, agencies, score,
side of the threshold), how many pairs each side of the band held, and the
labels imported. Only counts, scores, node IDs and agency IDs: no PII, no
pointer tokens. The sample that goes out to the agencies holds pair IDs,
agency IDs and pointer tokens only, in shuffled order, so reviewers see
neither scores nor which side of the threshold a pair came from.

Why a file and not a store table: labels are the operator's working notes
about a sample, not link-index state; a file keeps the store's schema and both
engines untouched, can be archived with the report, and is written atomically.

This module is pure (no I/O); :mod:`linkage.report._files` reads and writes.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from linkage.errors import InvalidInputError, Problem
from linkage.report._evaluate import QualityEvidence, clerical_weights, sweep_grid
from linkage.report._quality import confusion_at, threshold_sweep

__all__ = [
    "LEDGER_FORMAT",
    "Label",
    "ReviewLedger",
    "ReviewPair",
    "ReviewSample",
    "clerical_evidence",
    "draw_review_sample",
    "parse_label_rows",
]

LEDGER_FORMAT = "linkage-clerical-review/1"
_MAX_PROBLEMS = 50


class Label(enum.Enum):
    """A reviewer's verdict on a pair."""

    MATCH = "match"
    NON_MATCH = "non-match"
    UNSURE = "unsure"


_LABEL_SPELLINGS = {
    "match": Label.MATCH,
    "non-match": Label.NON_MATCH,
    "nonmatch": Label.NON_MATCH,
    "non_match": Label.NON_MATCH,
    "no-match": Label.NON_MATCH,
    "unsure": Label.UNSURE,
}


@dataclass(frozen=True, slots=True)
class ReviewPair:
    """One sampled pair (operator side only: it holds the score)."""

    pair_id: str
    sample_id: int
    node_a: int
    node_b: int
    agency_a: str
    agency_b: str
    score: float


@dataclass(frozen=True, slots=True)
class ReviewSample:
    """One draw: the band it came from and how many pairs each side held."""

    sample_id: int
    created_us: int
    threshold: float
    band: float
    method: str  # "exact" or "blocked" (Dice), "model" (blocked candidates, scored)
    population_above: int
    population_below: int
    size: int
    #: what the pairs' scores are: "dice" or "match probability" (older ledgers: dice)
    score_kind: str = "dice"


@dataclass(frozen=True, slots=True)
class ReviewLedger:
    """Every sample and label so far. Labels: pair ID -> (label, import time)."""

    samples: tuple[ReviewSample, ...] = ()
    pairs: tuple[ReviewPair, ...] = ()
    labels: Mapping[str, tuple[Label, int]] = field(default_factory=dict)

    def pair(self, pair_id: str) -> ReviewPair | None:
        for candidate in self.pairs:
            if candidate.pair_id == pair_id:
                return candidate
        return None

    @property
    def sampled_node_pairs(self) -> set[tuple[int, int]]:
        return {(min(p.node_a, p.node_b), max(p.node_a, p.node_b)) for p in self.pairs}

    def to_json(self) -> str:
        """The ledger file's text."""
        return json.dumps(
            {
                "format": LEDGER_FORMAT,
                "samples": [
                    {
                        "sample_id": s.sample_id,
                        "created_us": s.created_us,
                        "threshold": s.threshold,
                        "band": s.band,
                        "method": s.method,
                        "population_above": s.population_above,
                        "population_below": s.population_below,
                        "size": s.size,
                        "score_kind": s.score_kind,
                    }
                    for s in self.samples
                ],
                "pairs": [
                    {
                        "pair_id": p.pair_id,
                        "sample_id": p.sample_id,
                        "node_a": p.node_a,
                        "node_b": p.node_b,
                        "agency_a": p.agency_a,
                        "agency_b": p.agency_b,
                        "score": p.score,
                    }
                    for p in self.pairs
                ],
                "labels": {
                    pair_id: {"label": label.value, "imported_us": when}
                    for pair_id, (label, when) in sorted(self.labels.items())
                },
            },
            indent=1,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, where: str) -> ReviewLedger:
        """Parse a ledger file's text; ``where`` names it in errors."""
        try:
            data: Any = json.loads(text)
            if data.get("format") != LEDGER_FORMAT:
                raise InvalidInputError(f"{where}: not a {LEDGER_FORMAT} ledger")
            samples = tuple(ReviewSample(**s) for s in data["samples"])
            pairs = tuple(ReviewPair(**p) for p in data["pairs"])
            labels = {
                pair_id: (Label(entry["label"]), int(entry["imported_us"]))
                for pair_id, entry in data["labels"].items()
            }
        except InvalidInputError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInputError(
                f"{where}: damaged review ledger ({type(exc).__name__})"
            ) from None
        return cls(samples, pairs, labels)

    def with_sample(self, sample: ReviewSample, pairs: Sequence[ReviewPair]) -> ReviewLedger:
        return replace(self, samples=(*self.samples, sample), pairs=(*self.pairs, *pairs))

    def with_labels(self, labels: Mapping[str, Label], now_us: int) -> ReviewLedger:
        merged = dict(self.labels)
        merged.update({pair_id: (label, now_us) for pair_id, label in labels.items()})
        return replace(self, labels=merged)


def draw_review_sample(
    ledger: ReviewLedger,
    candidates: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    node_agency: Mapping[int, str],
    *,
    threshold: float,
    band: float,
    size: int,
    method: str,
    rng: np.random.Generator,
    now_us: int,
    score_kind: str = "dice",
    cross_agency_only: bool = True,
) -> tuple[ReviewLedger, list[ReviewPair]]:
    """Sample up to ``size`` cross-agency pairs scoring within ``band`` of the
    threshold, half at or above it and half below (the other side fills in when
    one runs short), leaving out pairs sampled before. ``candidates`` are
    ``(node_a, node_b, score)`` arrays, scores of ``score_kind`` ("dice" or "match
    probability"). Pairs of one agency count only without ``cross_agency_only`` (a
    matcher that links an agency's duplicates). Returns the grown ledger and the new
    pairs in shuffled order (pair IDs follow that order, not the score)."""
    if size < 1:
        raise InvalidInputError("the sample size must be at least 1")
    if not 0.0 < band < 1.0:
        raise InvalidInputError("the band must be in (0, 1)")
    a = np.asarray(candidates[0], dtype=np.int64)
    b = np.asarray(candidates[1], dtype=np.int64)
    s = np.asarray(candidates[2], dtype=np.float64)
    in_band = (s >= threshold - band) & (s <= threshold + band)
    cross = np.array(
        [
            not cross_agency_only or node_agency[x] != node_agency[y]
            for x, y in zip(a.tolist(), b.tolist(), strict=True)
        ],
        bool,
    )
    keep = in_band & cross
    a, b, s = a[keep], b[keep], s[keep]
    seen = ledger.sampled_node_pairs
    fresh = np.array(
        [(min(x, y), max(x, y)) not in seen for x, y in zip(a.tolist(), b.tolist(), strict=True)],
        bool,
    )
    a, b, s = a[fresh], b[fresh], s[fresh]
    above = np.flatnonzero(s >= threshold)
    below = np.flatnonzero(s < threshold)
    want_above = min(above.size, max(size // 2, size - below.size))
    want_below = min(below.size, size - want_above)
    chosen = np.concatenate(
        (
            rng.choice(above, size=want_above, replace=False),
            rng.choice(below, size=want_below, replace=False),
        )
    ).astype(np.int64)
    rng.shuffle(chosen)
    sample_id = max((x.sample_id for x in ledger.samples), default=0) + 1
    pairs = [
        ReviewPair(
            pair_id=f"S{sample_id}-{n + 1:04d}",
            sample_id=sample_id,
            node_a=int(a[i]),
            node_b=int(b[i]),
            agency_a=node_agency[int(a[i])],
            agency_b=node_agency[int(b[i])],
            score=float(s[i]),
        )
        for n, i in enumerate(chosen.tolist())
    ]
    sample = ReviewSample(
        sample_id=sample_id,
        created_us=now_us,
        threshold=threshold,
        band=band,
        method=method,
        population_above=int(above.size),
        population_below=int(below.size),
        size=len(pairs),
        score_kind=score_kind,
    )
    return ledger.with_sample(sample, pairs), pairs


def parse_label_rows(
    rows: Iterable[Mapping[str, str]], ledger: ReviewLedger, where: str
) -> dict[str, Label]:
    """Labels by pair ID from CSV rows with ``pair_id`` and ``label`` columns
    (other columns are ignored). All or nothing: every problem is named."""
    known = {p.pair_id for p in ledger.pairs}
    labels: dict[str, Label] = {}
    problems: list[Problem] = []
    for number, row in enumerate(rows, start=2):
        if len(problems) >= _MAX_PROBLEMS:
            break
        pair_id = (row.get("pair_id") or "").strip()
        text = (row.get("label") or "").strip().lower()
        if not pair_id:
            problems.append(Problem(f"{where}:{number}.pair_id", "is empty"))
            continue
        if pair_id not in known:
            problems.append(Problem(f"{where}:{number}.pair_id", "was never sampled"))
            continue
        if pair_id in labels:
            problems.append(Problem(f"{where}:{number}.pair_id", "appears twice"))
            continue
        label = _LABEL_SPELLINGS.get(text)
        if label is None:
            problems.append(
                Problem(f"{where}:{number}.label", "must be match, non-match or unsure")
            )
            continue
        labels[pair_id] = label
    if problems:
        raise InvalidInputError(f"{where}: no labels were imported", problems=problems)
    return labels


def clerical_evidence(
    ledger: ReviewLedger, chosen_threshold: float, score_kind: str = "dice"
) -> QualityEvidence | None:
    """Precision, recall and F1 within the latest sample's band, from every labelled
    pair in it, weighted by how many pairs each side of the threshold held. Only
    samples of ``score_kind`` count (a ledger kept across a change of linkage mode
    holds samples of Dice scores and of match probabilities)."""
    samples = [x for x in ledger.samples if x.score_kind == score_kind]
    if not samples:
        return None
    latest = max(samples, key=lambda x: x.sample_id)
    of_kind = {x.sample_id for x in samples}
    t, band = latest.threshold, latest.band
    decided = [
        (pair.score, label is Label.MATCH)
        for pair in ledger.pairs
        if pair.sample_id in of_kind
        and (entry := ledger.labels.get(pair.pair_id)) is not None
        and (label := entry[0]) is not Label.UNSURE
        and t - band <= pair.score <= t + band
    ]
    if not decided:
        return None
    scores = np.array([x for x, _ in decided])
    is_match = np.array([m for _, m in decided], dtype=bool)
    weights = clerical_weights(scores, t, latest.population_above, latest.population_below)
    low = max(0.0, round(t - band, 3))
    sweep = threshold_sweep(
        scores, is_match, sweep_grid(low, min(1.0, round(t + band, 3))), weights=weights
    )
    unsure = sum(1 for label, _ in ledger.labels.values() if label is Label.UNSURE)
    notes = (
        f"{len(decided)} reviewed pairs with "
        f"{'scores' if score_kind == 'dice' else 'match probabilities'} "
        f"{max(0.0, t - band):.2f}-{min(1.0, t + band):.2f} "
        f"({int(is_match.sum())} matches), weighted to the "
        f"{latest.population_above:,} pairs at or above {t:.2f} and the "
        f"{latest.population_below:,} below it in that band",
        "estimates hold for the review band only; pairs outside it were not sampled"
        + (f"; {unsure} pairs marked unsure are left out" if unsure else ""),
    )
    chosen = confusion_at(sweep, chosen_threshold)
    return QualityEvidence("clerical review", sweep, chosen, None, notes)
