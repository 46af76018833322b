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
from linkage.report._activity import Activity, ActivityCounter
from linkage.report._bestmatch import BestMatches, best_matches, edge_best_scores
from linkage.report._evaluate import QualityEvidence, truth_evidence
from linkage.report._overlap import LinkOverlap, link_overlap
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
    """Everything the report shows: counts and scores only."""

    generated_at: datetime
    settings: LinkageSettings
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
    chosen = options.chosen_threshold or settings.threshold
    floor = min(options.floor, settings.threshold, chosen)
    snapshot = load_index(store, settings)
    lap("read index")
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
    overlap = link_overlap(snapshot.agencies, snapshot.agency, snapshot.link)
    lap("links")
    activity = _activity(store, snapshot.agencies)
    lap("activity")
    quality: QualityEvidence | None = None
    if truth is not None:
        entity = _entities(store, snapshot, truth)
        if not (entity >= 0).any():
            raise InvalidInputError(
                "no record in the ground truth file is in the index; check agency IDs and "
                "that record keys are the uploaded ones, in hex"
            )
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
        quality = clerical_evidence(ledger, chosen)
    lap("quality")
    runs = store.list_linkage_runs(1)
    last = runs[0] if runs else None
    if last is not None and abs(last.threshold - settings.threshold) > 1e-9:
        notes.append(
            f"The last rebuild used threshold {last.threshold:.3f}, the configuration says "
            f"{settings.threshold:.3f}: run 'linkage-admin links rebuild' so that stored links "
            "follow the configured threshold."
        )
    return ReportData(
        generated_at=clock(),
        settings=settings,
        chosen_threshold=chosen,
        agencies=snapshot.agencies,
        best=best,
        histogram=histogram,
        suggestion=suggestion,
        overlap=overlap,
        activity=activity,
        quality=quality,
        last_rebuild=last,
        notes=tuple(notes),
        timings=timings,
    )


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
