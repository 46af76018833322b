"""Read the matcher's store (read methods of :class:`~linkage.store.LinkStore`
only) and compute everything the report shows. No PII leaves this module:
record keys are used only to join ground-truth labels, and nothing but
counts, scores and agency IDs goes into :class:`ReportData`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from linkage.errors import InvalidInputError
from linkage.match import (
    CandidatePairs,
    HammingLsh,
    blocked_dice_join,
    dice_join,
    pack_clk_bytes,
)
from linkage.probabilistic import ProbabilisticLinker, probability_of_weight
from linkage.report._activity import Activity, ActivityCounter
from linkage.report._bestmatch import BestMatches, best_matches, edge_best_scores
from linkage.report._evaluate import (
    QualityEvidence,
    scored_truth_evidence,
    sweep_grid,
    truth_evidence,
)
from linkage.report._overlap import LinkOverlap, link_overlap
from linkage.report._probabilistic import (
    SCORE_DICE,
    SCORE_PROBABILITY,
    ModelEvidence,
    best_candidate_weights,
    links_within_agency,
    load_linker,
    probability_weight,
    score_candidate_pairs,
    term_frequencies,
    weight_histogram,
)
from linkage.report._review import ReviewLedger, clerical_evidence
from linkage.report._threshold import (
    ScoreHistogram,
    ThresholdSuggestion,
    score_histogram,
    suggest_threshold,
)
from linkage.report._truth import TruthLabels
from linkage.service import LinkageSettings
from linkage.store import AgencyRow, LinkageRunRow, LinkStore
from linkage.types import Int64Array, PackedClks

__all__ = [
    "IndexSnapshot",
    "ReportData",
    "ReportOptions",
    "band_candidates",
    "collect_report_data",
    "load_edges",
    "load_index",
    "model_band_candidates",
    "pointer_tokens",
]

_PAGE = 10_000
_PACK_CHUNK = 65_536


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """How to compute the report; validated on construction."""

    chosen_threshold: float | None = None
    floor: float = 0.5
    max_comparisons: int = 2_000_000_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.chosen_threshold is not None and not 0.0 < self.chosen_threshold <= 1.0:
            raise InvalidInputError("the threshold override must be in (0, 1]")
        if not 0.0 <= self.floor < 1.0:
            raise InvalidInputError("the floor must be in [0, 1)")
        if self.max_comparisons < 1:
            raise InvalidInputError("the comparison budget must be positive")


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything the report shows: counts and scores only.

    ``score_kind`` is :data:`SCORE_DICE` (record-level Dice scores) or
    :data:`SCORE_PROBABILITY` (match probabilities of the matcher's Fellegi-Sunter
    model, whose evidence is ``model``); ``threshold`` is the threshold in force (in
    probabilistic mode with ``threshold = "auto"``, the model's), ``chosen_threshold``
    the one evaluated. ``best`` holds each record's best match (Dice: in another
    agency, searched exactly or sampled; probabilistic: its best candidate pair)."""

    generated_at: datetime
    settings: LinkageSettings
    score_kind: str
    threshold: float
    chosen_threshold: float
    agencies: tuple[str, ...]
    best: BestMatches
    histogram: ScoreHistogram
    suggestion: ThresholdSuggestion | None
    overlap: LinkOverlap
    activity: Activity
    quality: QualityEvidence | None
    last_rebuild: LinkageRunRow | None
    notes: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)
    model: ModelEvidence | None = None

    @property
    def probabilistic(self) -> bool:
        return self.model is not None

    @property
    def suggested_threshold(self) -> float | None:
        """The valley of the best-match histogram (Dice), or the threshold the fitted
        model expects the best F1 at (probabilistic)."""
        if self.model is not None:
            return self.model.suggested_threshold
        return None if self.suggestion is None else self.suggestion.threshold


@dataclass(frozen=True, slots=True)
class _Evidence:
    """The mode-specific part of the report."""

    threshold: float
    chosen: float
    best: BestMatches
    histogram: ScoreHistogram
    suggestion: ThresholdSuggestion | None
    quality: QualityEvidence | None
    model: ModelEvidence | None


@dataclass(frozen=True, slots=True, eq=False)
class IndexSnapshot:
    """The linkable records of the configured linkage space, by node ID.

    ``agency[r]`` indexes ``agencies``; ``link[r]`` is the record's link ID or -1.
    """

    agencies: tuple[str, ...]
    node_ids: Int64Array
    agency: Int64Array
    packed: PackedClks
    link: Int64Array

    def rows_of(self, nodes: Int64Array) -> Int64Array:
        """Row of each node ID, -1 for nodes not in the snapshot."""
        pos = np.searchsorted(self.node_ids, nodes)
        pos = np.minimum(pos, max(0, self.node_ids.shape[0] - 1))
        found = self.node_ids.shape[0] > 0
        hit = (self.node_ids[pos] == nodes) if found else np.zeros(nodes.shape, bool)
        return np.where(hit, pos, -1).astype(np.int64)


def _agencies(store: LinkStore) -> list[AgencyRow]:
    rows: list[AgencyRow] = []
    after = ""
    while True:
        page = store.list_agencies(after, 1000)
        rows.extend(page)
        if len(page) < 1000:
            return rows
        after = page[-1].agency_id


def load_index(store: LinkStore, settings: LinkageSettings) -> IndexSnapshot:
    """Every linkable record's node ID, agency and packed CLK, and every link."""
    agency_rows = sorted(_agencies(store), key=lambda a: a.agency_id)
    position = {row.agency_no: i for i, row in enumerate(agency_rows)}
    nodes: list[int] = []
    owners: list[int] = []
    packed_parts: list[PackedClks] = []
    clks: list[bytes] = []
    for record in store.iter_index_records(settings.key_epoch, settings.schema_fingerprint):
        nodes.append(record.node_id)
        owners.append(position[record.agency_no])
        clks.append(record.clk)
        if len(clks) >= _PACK_CHUNK:
            packed_parts.append(pack_clk_bytes(clks, settings.clk_bits))
            clks = []
    if clks or not packed_parts:
        packed_parts.append(
            pack_clk_bytes(clks, settings.clk_bits)
            if clks
            else np.zeros((0, settings.clk_bits // 64), dtype=np.uint64)
        )
    snapshot = IndexSnapshot(
        agencies=tuple(row.agency_id for row in agency_rows),
        node_ids=np.asarray(nodes, dtype=np.int64),
        agency=np.asarray(owners, dtype=np.int64),
        packed=np.concatenate(packed_parts),
        link=np.zeros(0, np.int64),
    )
    flat = (value for pair in store.iter_node_links() for value in (pair[0], pair[1]))
    pairs = np.fromiter(flat, dtype=np.int64).reshape(-1, 2)
    link = np.full(snapshot.node_ids.shape[0], -1, dtype=np.int64)
    rows = snapshot.rows_of(pairs[:, 0])
    link[rows[rows >= 0]] = pairs[rows >= 0, 1]
    return IndexSnapshot(
        snapshot.agencies, snapshot.node_ids, snapshot.agency, snapshot.packed, link
    )


def load_edges(
    store: LinkStore, snapshot: IndexSnapshot
) -> tuple[Int64Array, Int64Array, np.ndarray]:
    """Stored candidate pairs as rows of the snapshot, with their scores."""
    a: list[int] = []
    b: list[int] = []
    s: list[float] = []
    for edge in store.iter_edges():
        a.append(edge.node_a)
        b.append(edge.node_b)
        s.append(edge.score)
    ra = snapshot.rows_of(np.asarray(a, dtype=np.int64))
    rb = snapshot.rows_of(np.asarray(b, dtype=np.int64))
    ok = (ra >= 0) & (rb >= 0)
    return ra[ok], rb[ok], np.asarray(s, dtype=np.float64)[ok]


def _activity(store: LinkStore, agencies: tuple[str, ...]) -> Activity:
    counter = ActivityCounter()
    after = 0
    while True:
        page = store.list_events(after, _PAGE)
        if not page:
            break
        counter.add_events(page)
        after = page[-1].sequence
    for row in store.iter_audit():
        if row.action == "lookup":
            counter.add_lookup(row.entry_time_us, row.actor)
    for agency_id in agencies:
        before: int | None = None
        while True:
            disclosed = store.list_disclosures(agency_id, before, _PAGE)
            for _, disclosure in disclosed:
                counter.add_disclosures(disclosure.disclose_time_us, agency_id)
            if len(disclosed) < _PAGE:
                break
            before = disclosed[-1][0]
    return counter.result()


def _entities(store: LinkStore, snapshot: IndexSnapshot, truth: TruthLabels) -> Int64Array:
    """The truth entity of each row (-1 when the file does not label it)."""
    entity = np.full(snapshot.node_ids.shape[0], -1, dtype=np.int64)
    links = np.unique(snapshot.link[snapshot.link >= 0]).tolist()
    for start in range(0, len(links), _PAGE):
        members = store.link_members(links[start : start + _PAGE])
        nodes = np.array([m.node_id for m in members], dtype=np.int64)
        rows = snapshot.rows_of(nodes)
        for row, member in zip(rows.tolist(), members, strict=True):
            if row >= 0:
                entity[row] = truth.entities.get((member.agency_id, member.record_key), -1)
    return entity


def collect_report_data(
    store: LinkStore,
    settings: LinkageSettings,
    options: ReportOptions | None = None,
    *,
    truth: TruthLabels | None = None,
    ledger: ReviewLedger | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReportData:
    """Read the store and compute the report's figures (reads only; never writes)."""
    timings: dict[str, float] = {}
    notes: list[str] = []
    started = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[name] = now - started
        started = now

    options = options or ReportOptions()
    snapshot = load_index(store, settings)
    lap("read index")
    runs = store.list_linkage_runs(1)
    last = runs[0] if runs else None
    entity = None if truth is None else _entities(store, snapshot, truth)
    if entity is not None and not (entity >= 0).any():
        raise InvalidInputError(
            "no record in the ground truth file is in the index; check agency IDs and "
            "that record keys are the uploaded ones, in hex"
        )
    if settings.probabilistic is None:
        evidence = _dice_evidence(store, settings, snapshot, options, entity, ledger, lap, notes)
    else:
        evidence = _model_evidence(settings, snapshot, runs, options, entity, ledger, lap, notes)
    overlap = link_overlap(snapshot.agencies, snapshot.agency, snapshot.link)
    lap("links")
    activity = _activity(store, snapshot.agencies)
    lap("activity")
    if last is not None and abs(last.threshold - evidence.threshold) > 1e-9:
        what = "the configuration says" if evidence.model is None else "in force now:"
        notes.append(
            f"The last rebuild used threshold {last.threshold:.3f}, {what} "
            f"{evidence.threshold:.3f}: run 'linkage-admin links rebuild' so that stored links "
            "follow the threshold in force."
        )
    return ReportData(
        generated_at=clock(),
        settings=settings,
        score_kind=SCORE_DICE if evidence.model is None else SCORE_PROBABILITY,
        threshold=evidence.threshold,
        chosen_threshold=evidence.chosen,
        agencies=snapshot.agencies,
        best=evidence.best,
        histogram=evidence.histogram,
        suggestion=evidence.suggestion,
        overlap=overlap,
        activity=activity,
        quality=evidence.quality,
        last_rebuild=last,
        notes=tuple(notes),
        timings=timings,
        model=evidence.model,
    )


def _dice_evidence(
    store: LinkStore,
    settings: LinkageSettings,
    snapshot: IndexSnapshot,
    options: ReportOptions,
    entity: Int64Array | None,
    ledger: ReviewLedger | None,
    lap: Callable[[str], None],
    notes: list[str],
) -> _Evidence:
    """Best matches by record-level Dice, the valley between the modes, and quality."""
    chosen = options.chosen_threshold or settings.threshold
    floor = min(options.floor, settings.threshold, chosen)
    edges = load_edges(store, snapshot)
    lap("read edges")
    known = edge_best_scores(snapshot.node_ids.shape[0], *edges, snapshot.agency)
    best = best_matches(
        snapshot.packed,
        snapshot.agency,
        known,
        threshold=settings.threshold,
        floor=floor,
        max_comparisons=options.max_comparisons,
        rng=np.random.default_rng(options.seed),
    )
    histogram = score_histogram(best.scores, best.weights, floor=floor)
    suggestion = suggest_threshold(histogram)
    lap("best matches")
    if best.sampled:
        notes.append(
            f"Best matches below the threshold were computed for a random sample of "
            f"{best.searched:,} of {best.records - best.from_edges:,} records "
            f"(comparison budget {options.max_comparisons:,}); each stands for "
            f"{(best.records - best.from_edges) / max(1, best.searched):,.1f} records."
        )
    quality: QualityEvidence | None = None
    if entity is not None:
        quality = truth_evidence(
            snapshot.packed,
            snapshot.agency,
            entity,
            snapshot.link,
            stored_pairs=edges,
            threshold=settings.threshold,
            chosen_threshold=chosen,
            floor=floor,
            max_comparisons=options.max_comparisons,
        )
    elif ledger is not None:
        quality = clerical_evidence(ledger, chosen, SCORE_DICE)
    lap("quality")
    return _Evidence(settings.threshold, chosen, best, histogram, suggestion, quality, None)


def _model_evidence(
    settings: LinkageSettings,
    snapshot: IndexSnapshot,
    runs: list[LinkageRunRow],
    options: ReportOptions,
    entity: Int64Array | None,
    ledger: ReviewLedger | None,
    lap: Callable[[str], None],
    notes: list[str],
) -> _Evidence:
    """The model in force scoring every candidate pair of its blocking: best candidate
    per record, match weights, the model's own suggestion, and quality."""
    loaded = load_linker(settings, runs)
    linker = loaded.linker
    threshold = linker.threshold
    chosen = options.chosen_threshold or threshold
    if chosen >= 1.0:
        raise InvalidInputError(
            "this matcher scores pairs by match probability: the threshold override must be below 1"
        )
    within = links_within_agency(settings)
    records = int(snapshot.node_ids.shape[0])
    frequencies = term_frequencies(linker, snapshot.packed)
    pairs = score_candidate_pairs(
        linker, snapshot.packed, snapshot.agency, within_agency=within, frequencies=frequencies
    )
    lap("score candidate pairs")
    probabilities = pairs.probabilities
    best_p = probability_of_weight(best_candidate_weights(records, pairs))
    best = BestMatches(
        scores=best_p,
        weights=np.ones(records),
        agency=snapshot.agency,
        floor=0.0,
        records=records,
        from_edges=0,
        searched=records,
        sampled=False,
        comparisons=len(pairs),
    )
    histogram = score_histogram(best_p, floor=0.0, bin_width=0.01)
    weights = weight_histogram(pairs.weights, probability_weight(threshold))
    lap("best matches")
    quality: QualityEvidence | None = None
    completeness: float | None = None
    if entity is not None:
        grid = np.unique(np.concatenate((sweep_grid(0.005, 0.995), [threshold, chosen])))
        quality, completeness = scored_truth_evidence(
            (pairs.left, pairs.right, probabilities),
            snapshot.agency,
            entity,
            snapshot.link,
            within_agency=within,
            threshold=threshold,
            chosen_threshold=chosen,
            thresholds=grid,
        )
    elif ledger is not None:
        quality = clerical_evidence(ledger, chosen, SCORE_PROBABILITY)
    lap("quality")
    run = loaded.run
    if loaded.source == "prior":
        notes.append(
            "No linkage run has fitted a model for this segment layout yet: the matcher "
            "scores pairs with the shipped prior model. A rebuild ('linkage-admin links "
            "rebuild') fits one on the records held."
        )
    report = linker.model.report
    model = ModelEvidence(
        model=linker.model,
        source=loaded.source,
        run_id=None if run is None else run.run_id,
        run_reason="" if run is None else run.reason,
        fitted_records=loaded.fitted_records,
        threshold=threshold,
        configured_threshold=settings.threshold,
        auto_threshold=settings.auto_threshold,
        suggested_threshold=None if report is None else report.suggested_threshold,
        blocking_preset=loaded.blocking_preset,
        rules=ModelEvidence.rule_names(linker),
        plan=loaded.plan,
        within_agency=within,
        records=records,
        candidate_pairs=len(pairs),
        pairs_at_threshold=int((probabilities >= threshold).sum()),
        records_with_candidate=int(np.isfinite(best_p).sum()),
        weights=weights,
        measured_completeness=completeness,
    )
    return _Evidence(threshold, chosen, best, histogram, None, quality, model)


def band_candidates(
    snapshot: IndexSnapshot, low: float, high: float, max_comparisons: int
) -> tuple[tuple[Int64Array, Int64Array, np.ndarray], str]:
    """Cross-agency pairs scoring in ``[low, high]`` as ``(node_a, node_b, score)``,
    and how they were found: ``exact`` (every pair compared) when that fits
    ``max_comparisons``, else ``blocked`` (Hamming LSH, which finds most but not
    all pairs this close)."""
    groups = [np.flatnonzero(snapshot.agency == a) for a in range(len(snapshot.agencies))]
    sizes = [g.shape[0] for g in groups]
    total = sum(sizes[i] * sizes[j] for i in range(len(sizes)) for j in range(i + 1, len(sizes)))
    method = "exact" if total <= max_comparisons else "blocked"
    lsh = HammingLsh(bands=48, bits_per_band=14, seed=0)
    parts_a: list[Int64Array] = [np.zeros(0, np.int64)]
    parts_b: list[Int64Array] = [np.zeros(0, np.int64)]
    parts_s: list[np.ndarray] = [np.zeros(0)]
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            left, right = snapshot.packed[groups[i]], snapshot.packed[groups[j]]
            if left.shape[0] == 0 or right.shape[0] == 0:
                continue
            found = (
                dice_join(left, right, low)
                if method == "exact"
                else _blocked(left, right, low, lsh)
            )
            keep = found.scores <= high
            parts_a.append(snapshot.node_ids[groups[i][found.left[keep]]])
            parts_b.append(snapshot.node_ids[groups[j][found.right[keep]]])
            parts_s.append(found.scores[keep])
    return (np.concatenate(parts_a), np.concatenate(parts_b), np.concatenate(parts_s)), method


def model_band_candidates(
    snapshot: IndexSnapshot,
    linker: ProbabilisticLinker,
    low: float,
    high: float,
    *,
    within_agency: bool,
) -> tuple[Int64Array, Int64Array, np.ndarray]:
    """Candidate pairs of the matcher's blocking whose match probability (by ``linker``,
    with the index's term frequencies) lies in ``[low, high]``, as ``(node_a, node_b,
    probability)``; pairs of one agency only when ``within_agency``."""
    pairs = score_candidate_pairs(
        linker,
        snapshot.packed,
        snapshot.agency,
        within_agency=within_agency,
        frequencies=term_frequencies(linker, snapshot.packed),
    )
    p = pairs.probabilities
    keep = (p >= low) & (p <= high)
    return (
        snapshot.node_ids[pairs.left[keep]],
        snapshot.node_ids[pairs.right[keep]],
        p[keep],
    )


def _blocked(left: PackedClks, right: PackedClks, low: float, lsh: HammingLsh) -> CandidatePairs:
    # blocked_dice_join returns its pairs directly, or (newer) wrapped with the
    # number of candidates verified; take the pairs either way.
    result: Any = blocked_dice_join(left, right, low, lsh)
    pairs: CandidatePairs = getattr(result, "pairs", result)
    return pairs


def pointer_tokens(store: LinkStore, node_ids: Iterable[int]) -> dict[int, tuple[str, bytes]]:
    """``node -> (agency ID, pointer token)`` for these records (found through their links)."""
    wanted = sorted(set(node_ids))
    links = store.read_node_links(wanted)
    found: dict[int, tuple[str, bytes]] = {}
    for member in store.link_members(sorted(set(links.values()))):
        if member.node_id in links:
            found[member.node_id] = (member.agency_id, member.pointer_token)
    return found
