"""The linkage service: validated, idempotent, all-or-nothing ingest with
incremental linkage; rebuilds; consented lookups; the audit trail.

Concurrency: one writer at a time per process (``_writer``), and one
process per store for SQLite. The expensive similarity join of a batch runs
against the in-memory index before the store's write transaction opens, so
the database write lock is held only for the short write phase; lookups
never wait for a join.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from linkage.consent import Purpose, may_disclose, parse_consent
from linkage.distributed import DaskJoiner
from linkage.errors import (
    ConfigError,
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    Problem,
    ResourceExhaustedError,
)
from linkage.match import (
    CandidateEdges,
    CandidatePairs,
    ComponentClusterer,
    LinkCreated,
    LinkDissolved,
    LinkEvent,
    LinksMerged,
    LinkSplit,
    LinkUpdate,
    Node,
    RecordsJoined,
    RecordsWithdrawn,
    blocked_dice_join,
    blocked_dice_self_join,
    dice_join,
    dice_self_join,
    pack_clk_bytes,
    update_links,
)
from linkage.pki import Principal
from linkage.probabilistic import (
    AverageLinkClusterer,
    BlockingPlan,
    ProbabilisticLinker,
    TermFrequencies,
    greedy_one_per_agency,
)
from linkage.security import (
    AuditEntry,
    ChainedAuditEntry,
    RateLimiter,
    VerificationResult,
    band_from_range,
    check_query_clk_plausible,
    check_segments_plausible,
    seal,
    verify_rows,
)
from linkage.service._clock import Clock, datetime_from_us, system_clock_us
from linkage.service._mirror import IndexMirror
from linkage.service._model import (
    AGENCY_ID_PATTERN,
    BATCH_ID_PATTERN,
    BatchOutcome,
    ConsentChange,
    DisclosedMember,
    LinkHit,
    RecordUpsert,
    RecordWithdrawal,
    WriteBatch,
)
from linkage.service._observer import LookupOutcome, NullObserver, ServiceObserver
from linkage.service._probabilistic import (
    effective_threshold,
    fit_linker,
    fitted_records,
    prior_model,
    search_index,
    stored_blocking_plan,
    stored_model,
)
from linkage.service._settings import LinkageSettings, ServiceLimits
from linkage.store import (
    AgencyCounts,
    AgencyRow,
    AuditRow,
    BatchRow,
    DisclosureRow,
    EdgeRow,
    EventKind,
    EventRow,
    IndexChange,
    LinkageRunRow,
    LinkMember,
    LinkStore,
    NewRecord,
    RecordListing,
    StoredRecordRef,
    WriteTransaction,
)
from linkage.types import PackedClks

__all__ = ["IndexStatus", "LinkageService", "cross_agency_greedy", "verify_audit_log"]

_log = logging.getLogger("linkage.service")


#: anonlink's greedy solving over the edges between different agencies only (nodes are
#: ``(agency number, node ID)``): at most one record per agency in a link. The default
#: clusterer (``[linkage.clustering] method = "greedy"``).
cross_agency_greedy: ComponentClusterer = greedy_one_per_agency


#: Who the audit log names for the matcher's own automatic work (refits).
_MATCHER_ACTOR = "matcher"
_MAX_RECORD_KEY = 64
_FEED_KEEP = 1_000_000  # index-change entries kept for other processes to replay
_MAX_POINTER_TOKEN = 1024
_MAX_PROBLEMS = 100


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """Counts over the whole index."""

    record_count: int
    link_count: int
    agencies: tuple[AgencyCounts, ...]
    last_event_sequence: int


@dataclass(slots=True)
class _Plan:
    """What a batch will change, decided before the write transaction."""

    inserts: list[RecordUpsert]
    replaced: list[StoredRecordRef]
    updated_in_place: list[tuple[StoredRecordRef, RecordUpsert]]
    unchanged: int
    withdrawn: list[StoredRecordRef]
    consent_changes: list[tuple[StoredRecordRef, ConsentChange]]


def _content_digest(clk: bytes, pointer_token: bytes, consent: bytes) -> bytes:
    h = hashlib.sha256()
    for part in (clk, pointer_token, consent):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


def _outcome_to_json(outcome: BatchOutcome) -> bytes:
    return json.dumps(
        {
            "inserted": outcome.inserted,
            "updated": outcome.updated,
            "unchanged": outcome.unchanged,
            "withdrawn": outcome.withdrawn,
            "consent_updated": outcome.consent_updated,
            "linked": outcome.linked,
            "commit_time_us": outcome.commit_time_us,
        },
        sort_keys=True,
    ).encode()


def _outcome_from_json(agency_id: str, batch_id: str, data: bytes) -> BatchOutcome:
    values = json.loads(data)
    return BatchOutcome(agency_id=agency_id, batch_id=batch_id, replayed=True, **values)


class LinkageService:
    """The domain operations behind the gRPC servicers."""

    def __init__(
        self,
        store: LinkStore,
        settings: LinkageSettings,
        limits: ServiceLimits,
        *,
        clusterer: ComponentClusterer | None = None,
        clock: Clock = system_clock_us,
        monotonic: Callable[[], float] | None = None,
        observer: ServiceObserver | None = None,
        audit_lookups: bool = True,
        joiner: DaskJoiner | None = None,
    ) -> None:
        """``audit_lookups=False`` exists only so a benchmark can measure what the
        audit costs; no configuration or command line can set it. ``clusterer``
        overrides the one ``settings.clustering`` names (tests use it). ``joiner`` runs
        the joins on a Dask cluster; by default one is made from ``settings.dask``
        when that is set, and without either every join runs in-process."""
        self._store = store
        self._settings = settings
        self._limits = limits
        self._cluster = clusterer if clusterer is not None else settings.clusterer()
        self._clock = clock
        self._observer: ServiceObserver = observer or NullObserver()
        self._audit_lookups = audit_lookups
        if joiner is None and settings.dask is not None:
            joiner = DaskJoiner(settings.dask)
        self._joiner = joiner
        self._writer = threading.Lock()
        self._limiter = RateLimiter(
            limits.lookup_rate_per_s, limits.lookup_burst, monotonic or time.monotonic
        )
        # The popcount band a query must fall in: over the whole CLK, or over the record
        # CLK of a segmented one (a missing field empties its segment, legitimately).
        record = None if settings.probabilistic is None else settings.probabilistic.layout.record
        self._mirror = IndexMirror(
            settings.clk_bits,
            (0, settings.clk_bits // 64)
            if record is None
            else (record.start_word, record.stop_word),
        )
        self._agency_cache: dict[str, AgencyRow] = {}
        self._linker: ProbabilisticLinker | None = None
        self._model_run_id = -1
        #: linkable records the model in force was fitted on (0: the shipped prior)
        self._fit_records = 0
        self._blocking_plan: BlockingPlan | None = None
        self._refit_thread: threading.Thread | None = None
        self._refresh_model()
        self._load_index()

    # ------------------------------------------------------------------ state
    @property
    def settings(self) -> LinkageSettings:
        """The linkage settings in force."""
        return self._settings

    @property
    def limits(self) -> ServiceLimits:
        """The size and rate limits in force."""
        return self._limits

    @property
    def indexed_count(self) -> int:
        """Linkable records in the in-memory index."""
        return len(self._mirror)

    @property
    def linker(self) -> ProbabilisticLinker | None:
        """The probabilistic linker in force (its model included); ``None`` in Dice mode."""
        return self._linker

    def linkage_model_json(self) -> str:
        """What decides links now, as the JSON a rebuild records (with the model in force)."""
        return self._settings.linkage_model_json(
            None if self._linker is None else self._linker.model
        )

    def _refresh_model(self) -> None:
        """Probabilistic mode: take the model of the latest linkage run (this process's or
        another's), or the shipped prior before any run fitted one."""
        probabilistic = self._settings.probabilistic
        if probabilistic is None:
            return
        runs = self._store.list_linkage_runs(1)
        run_id = runs[0].run_id if runs else 0
        if run_id == self._model_run_id and self._linker is not None:
            return
        model = stored_model(runs[0].model, probabilistic) if runs else None
        plan = stored_blocking_plan(runs[0].model) if runs else None
        if model is None and self._linker is not None and runs:
            # The latest run kept the model in force (it recorded none for this layout).
            model = self._linker.model
        elif model is not None and runs:
            self._fit_records = fitted_records(runs[0].model)
        if model is None:
            model = prior_model(probabilistic.hardened, probabilistic.layout)
        blocking = probabilistic.blocking()
        if plan is not None and probabilistic.blocking_preset == "auto":
            try:
                plan.rules.check(probabilistic.layout)
                blocking = plan.rules
            except ConfigError:
                plan = None
        self._blocking_plan = plan
        self._linker = ProbabilisticLinker(
            probabilistic.layout,
            model,
            blocking,
            effective_threshold(model, self._settings.threshold, self._settings.auto_threshold),
        )
        self._model_run_id = run_id
        self._track_frequencies(self._linker)

    def _track_frequencies(self, linker: ProbabilisticLinker) -> None:
        """Count the values the model weighs by frequency and index the blocking's exact
        keys for lookups (both redone when the model or the rules change)."""
        segments = [s for s in linker.model.term_frequency_segments() if s is not None]
        self._mirror.track_frequencies(linker.layout, segments)
        self._mirror.track_keys(linker.layout, linker.blocking)

    def _reload_index(self) -> None:
        self._mirror.clear()
        self._load_index()

    def _load_index(self) -> None:
        # Read the feed position first: changes committed while loading are
        # replayed later, and replaying is idempotent.
        self._seen_change = self._store.last_index_change()
        node_ids: list[int] = []
        clks: list[bytes] = []
        for record in self._store.iter_index_records(
            self._settings.key_epoch, self._settings.schema_fingerprint
        ):
            node_ids.append(record.node_id)
            clks.append(record.clk)
            if len(clks) >= 65536:
                self._mirror.add(node_ids, clks)
                node_ids, clks = [], []
        self._mirror.add(node_ids, clks)
        self._mirror.refresh_band()
        self._observer.index_size(len(self._mirror), self._store.link_count())
        _log.info("loaded %d linkable records into the index", len(self._mirror))

    # ---------------------------------------------------------------- audit
    def _audit(
        self,
        tx: WriteTransaction,
        actor: Principal | str,
        action: str,
        targets: Iterable[str],
        details: Mapping[str, object],
        now_us: int,
    ) -> int:
        last = tx.last_audit()
        prev = (
            None
            if last is None
            else ChainedAuditEntry(
                AuditEntry(
                    last.sequence,
                    last.entry_time_us,
                    last.actor,
                    last.action,
                    last.target_ids,
                    last.details,
                ),
                last.prev_hash,
                last.entry_hash,
            )
        )
        entry = AuditEntry.new(
            sequence=1 if last is None else last.sequence + 1,
            entry_time_us=now_us,
            actor=actor if isinstance(actor, str) else actor.actor,
            action=action,
            target_ids=tuple(targets),
            details=details,  # type: ignore[arg-type]
        )
        sealed = seal(entry, prev)
        tx.append_audit(
            AuditRow(
                sequence=entry.sequence,
                entry_time_us=entry.entry_time_us,
                actor=entry.actor,
                action=entry.action,
                target_ids=entry.target_ids,
                details=entry.details_json,
                prev_hash=sealed.prev_hash or b"",
                entry_hash=sealed.entry_hash,
            )
        )
        return entry.sequence

    def verify_audit(self) -> VerificationResult:
        """Verify the audit hash chain from the first entry to the last."""
        return verify_audit_log(self._store)

    # ------------------------------------------------------------- agencies
    def create_agency(
        self, actor: Principal, agency_id: str, display_name: str, contact_card: bytes
    ) -> AgencyRow:
        """Enrol an agency."""
        if not AGENCY_ID_PATTERN.match(agency_id):
            raise InvalidInputError(
                "invalid agency ID",
                problems=[
                    Problem("agency_id", "must be 2-63 of [a-z0-9-], starting with a letter")
                ],
            )
        if not display_name.strip() or len(display_name) > 200:
            raise InvalidInputError(
                "invalid agency",
                problems=[Problem("agency.display_name", "must be 1-200 characters")],
            )
        now = self._clock()
        with self._writer, self._store.write() as tx:
            row = tx.insert_agency(agency_id, display_name, contact_card, now)
            tx.append_events(
                [EventRow(EventKind.AGENCY_CHANGED, now, agency_id=agency_id, record_count=0)]
            )
            self._audit(tx, actor, "agency.create", [f"agencies/{agency_id}"], {}, now)
        self._agency_cache[agency_id] = row
        return row

    def update_agency(
        self, actor: Principal, agency_id: str, display_name: str, contact_card: bytes
    ) -> AgencyRow:
        """Change an agency's display name and contact card."""
        if not display_name.strip() or len(display_name) > 200:
            raise InvalidInputError(
                "invalid agency",
                problems=[Problem("agency.display_name", "must be 1-200 characters")],
            )
        now = self._clock()
        with self._writer, self._store.write() as tx:
            row = tx.update_agency(agency_id, display_name, contact_card, now)
            tx.append_events([EventRow(EventKind.AGENCY_CHANGED, now, agency_id=agency_id)])
            self._audit(tx, actor, "agency.update", [f"agencies/{agency_id}"], {}, now)
        self._agency_cache[agency_id] = row
        return row

    def get_agency(self, agency_id: str) -> AgencyRow:
        """One agency; NotFoundError if it is not enrolled."""
        row = self._store.get_agency(agency_id)
        if row is None:
            raise NotFoundError(f"agency {agency_id!r} is not enrolled")
        return row

    def list_agencies(self, after_id: str, limit: int) -> list[AgencyRow]:
        """Agencies by ID, after ``after_id``."""
        return self._store.list_agencies(after_id, limit)

    def _agency(self, agency_id: str) -> AgencyRow | None:
        row = self._agency_cache.get(agency_id)
        if row is None:
            row = self._store.get_agency(agency_id)
            if row is not None:
                self._agency_cache[agency_id] = row
        return row

    # --------------------------------------------------------------- ingest
    def _check_space(self, key_epoch: int, fingerprint: str, problems: list[Problem]) -> None:
        if key_epoch != self._settings.key_epoch:
            problems.append(
                Problem("key_epoch", f"must be the matcher's key epoch {self._settings.key_epoch}")
            )
        if fingerprint != self._settings.schema_fingerprint:
            probabilistic = self._settings.probabilistic
            schema = (
                ""
                if probabilistic is None
                else f" (schema {probabilistic.schema_source!r}: agency-client init --schema "
                f"{probabilistic.schema_source}, or [schema] file = "
                f"{probabilistic.schema_source!r} in agency.toml)"
            )
            problems.append(
                Problem(
                    "schema_fingerprint",
                    f"{fingerprint[:16] or 'none'}... is not the matcher's linkage schema "
                    f"{self._settings.schema_fingerprint[:16]}...{schema}: encode with the "
                    "matcher's schema",
                )
            )

    def _validate(self, batch: WriteBatch) -> None:
        if len(batch.mutations) > self._limits.max_batch_mutations:
            raise ResourceExhaustedError(
                f"a batch may hold at most {self._limits.max_batch_mutations} mutations, "
                f"this one holds {len(batch.mutations)}; split it"
            )
        if self._agency(batch.agency_id) is None:
            raise NotFoundError(f"agency {batch.agency_id!r} is not enrolled")
        problems: list[Problem] = []
        if not BATCH_ID_PATTERN.match(batch.batch_id):
            problems.append(Problem("batch_id", "must be 1-128 of [A-Za-z0-9._:-]"))
        self._check_space(batch.key_epoch, batch.schema_fingerprint, problems)
        if problems:
            # another linkage space: one line says why, not one per record's CLK length
            raise InvalidInputError(
                f"batch {batch.batch_id!r} was refused; nothing of it was stored",
                problems=problems,
            )
        seen: dict[bytes, int] = {}
        clk_len = self._settings.clk_bytes
        for i, mutation in enumerate(batch.mutations):
            if len(problems) >= _MAX_PROBLEMS:
                break
            where = f"mutations[{i}]"
            key = mutation.record_key
            if not key:
                problems.append(Problem(f"{where}.record_key", "must not be empty"))
            elif len(key) > _MAX_RECORD_KEY:
                problems.append(Problem(f"{where}.record_key", "must be at most 64 bytes"))
            elif key in seen:
                problems.append(
                    Problem(f"{where}.record_key", f"duplicates the key of mutations[{seen[key]}]")
                )
            else:
                seen[key] = i
            if isinstance(mutation, RecordUpsert):
                if len(mutation.clk) != clk_len:
                    problems.append(
                        Problem(
                            f"{where}.upsert.clk",
                            f"must be {clk_len} bytes ({self._settings.clk_bits} bits), "
                            f"got {len(mutation.clk)}",
                        )
                    )
                elif not any(mutation.clk):
                    problems.append(
                        Problem(f"{where}.upsert.clk", "is all zeros: every feature is missing")
                    )
                if not mutation.pointer_token:
                    problems.append(Problem(f"{where}.upsert.pointer_token", "must not be empty"))
                elif len(mutation.pointer_token) > _MAX_POINTER_TOKEN:
                    problems.append(
                        Problem(f"{where}.upsert.pointer_token", "must be at most 1024 bytes")
                    )
        if problems:
            raise InvalidInputError(
                f"batch {batch.batch_id!r} was refused; nothing of it was stored",
                problems=problems,
            )

    def _plan(self, tx: WriteTransaction, batch: WriteBatch) -> _Plan:
        keys = [m.record_key for m in batch.mutations]
        plan = _Plan([], [], [], 0, [], [])
        if batch.withdraw_all:
            plan.withdrawn.extend(tx.all_records(batch.agency_id))
            existing: dict[bytes, StoredRecordRef] = {}
        else:
            existing = {r.record_key: r for r in tx.find_records(batch.agency_id, keys)}
        problems: list[Problem] = []
        for i, mutation in enumerate(batch.mutations):
            ref = existing.get(mutation.record_key)
            match mutation:
                case RecordUpsert():
                    digest = _content_digest(mutation.clk, mutation.pointer_token, mutation.consent)
                    if ref is None:
                        plan.inserts.append(mutation)
                    elif ref.content_digest == digest:
                        plan.unchanged += 1
                    elif ref.clk == mutation.clk:
                        plan.updated_in_place.append((ref, mutation))
                    else:
                        plan.replaced.append(ref)
                        plan.inserts.append(mutation)
                case RecordWithdrawal():
                    if ref is None:
                        problems.append(
                            Problem(f"mutations[{i}].withdraw_record_key", "no such record")
                        )
                    else:
                        plan.withdrawn.append(ref)
                case ConsentChange():
                    if ref is None:
                        problems.append(
                            Problem(f"mutations[{i}].consent_update.record_key", "no such record")
                        )
                    else:
                        plan.consent_changes.append((ref, mutation))
        if problems:
            raise InvalidInputError(
                f"batch {batch.batch_id!r} was refused; nothing of it was stored",
                problems=problems[:_MAX_PROBLEMS],
            )
        return plan

    def _replayed(
        self, tx: WriteTransaction, batch: WriteBatch, digest: bytes
    ) -> BatchOutcome | None:
        """The original outcome if this batch was committed already."""
        stored = tx.get_batch(batch.agency_id, batch.batch_id)
        if stored is None:
            return None
        if stored.request_digest != digest:
            raise FailedPreconditionError(
                f"batch ID {batch.batch_id!r} was already used for a different "
                "batch; choose a new batch ID"
            )
        return _outcome_from_json(batch.agency_id, batch.batch_id, stored.response)

    def _graph(self, plan: _Plan) -> _Graph:
        """Which nodes leave the link graph, which join it, and the joiners'
        candidate pairs against the in-memory index (CPU work, no lock)."""
        deleted = {r.node_id for r in plan.withdrawn} | {r.node_id for r in plan.replaced}
        detached: set[int] = set()
        rejoining: list[StoredRecordRef] = []
        for ref, new_linkable in [(r, u.linkable) for r, u in plan.updated_in_place] + [
            (r, c.linkable) for r, c in plan.consent_changes
        ]:
            if ref.node_id in deleted:
                continue
            if ref.linkable and not new_linkable:
                detached.add(ref.node_id)
            elif new_linkable and not ref.linkable:
                rejoining.append(ref)
        joining_clks = [u.clk for u in plan.inserts if u.linkable] + [r.clk for r in rejoining]
        pairs_vs_index, pairs_within = self._join(joining_clks, deleted | detached)
        return _Graph(deleted, detached, rejoining, pairs_vs_index, pairs_within)

    def write_batch(self, actor: Principal, batch: WriteBatch) -> BatchOutcome:
        """Commit a batch all or nothing, idempotently, and link it incrementally.

        The similarity join runs against the in-memory index between two
        transactions, so the store's writer lock is held only to write. If
        another matcher process committed in between (a shared PostgreSQL
        store), the batch is planned and joined again under the lock.
        """
        self._validate(batch)
        digest = batch.digest()
        started = time.perf_counter()
        with self._writer:
            # Phase 1 (reads): replay check, catch-up, plan.
            with self._store.write() as tx:
                replay = self._replayed(tx, batch, digest)
                if replay is not None:
                    return replay
                self._catch_up(tx.index_changes_since(self._seen_change))
                self._refresh_model()
                plan = self._plan(tx, batch)
            # Phase 2 (CPU, no lock): the similarity join.
            graph = self._graph(plan)
            # Phase 3: one write transaction.
            now = self._clock()
            with self._store.write() as tx:
                replay = self._replayed(tx, batch, digest)
                if replay is not None:
                    return replay
                others = tx.index_changes_since(self._seen_change)
                model_run = self._model_run_id
                self._refresh_model()
                if others or self._model_run_id != model_run:
                    self._catch_up(others)
                    plan = self._plan(tx, batch)
                    graph = self._graph(plan)
                outcome, index_adds = self._apply(tx, actor, batch, plan, digest, graph, now)
                leaving = sorted(graph.deleted | graph.detached)
                tx.record_index_changes(
                    [(node, False) for node in leaving] + [(node, True) for node, _ in index_adds]
                )
                mine = tx.index_changes_since(self._seen_change)
                seen_after = mine[-1].sequence if mine else self._seen_change
                if seen_after % 10_000 < len(mine):
                    tx.prune_index_changes(keep_last=_FEED_KEEP)
            # Phase 4: the committed state goes into the in-memory index.
            self._mirror.remove(leaving)
            if index_adds:
                nodes, clks = zip(*index_adds, strict=True)
                self._mirror.add(nodes, clks)
            self._seen_change = seen_after
            self._mirror.refresh_band()
        self._observer.batch_committed(
            batch.agency_id, len(batch.mutations), time.perf_counter() - started
        )
        self._observer.index_size(len(self._mirror), self._store.link_count())
        self._refit_if_due()
        return outcome

    # ------------------------------------------------------------ model upkeep
    def refit_due(self) -> str | None:
        """Why the model should be refitted now (the index grew by the configured factor
        since the last fit, or holds enough records for a first one), else None."""
        probabilistic = self._settings.probabilistic
        if probabilistic is None or not probabilistic.auto_refit:
            return None
        held = len(self._mirror)
        if held < probabilistic.min_fit_records:
            return None
        last = self._fit_records
        if last and held < probabilistic.refit_growth * last:
            return None
        before = f"{last} at the last fit" if last else "the shipped prior model until now"
        return f"automatic refit: {held} linkable records, {before}"

    def _refit_if_due(self) -> None:
        """Refit the model and relink with it when :meth:`refit_due` says so: in the
        batch's own call while the index is small, in a background thread beyond
        ``background_refit_above`` records (one at a time)."""
        reason = self.refit_due()
        probabilistic = self._settings.probabilistic
        if reason is None or probabilistic is None:
            return
        if len(self._mirror) <= probabilistic.background_refit_above:
            self._refit(reason)
            return
        if self._refit_thread is not None and self._refit_thread.is_alive():
            return
        self._refit_thread = threading.Thread(
            target=self._refit, args=(reason,), name="linkage-refit", daemon=True
        )
        self._refit_thread.start()

    def _refit(self, reason: str) -> None:
        try:
            run = self.rebuild(_MATCHER_ACTOR, reason)
        except Exception:  # a failed refit keeps the model in force; ingest goes on
            _log.exception("the automatic refit failed; the model in force is kept")
            return
        _log.info(
            "refitted the linkage model on %d records (run %d, %d links changed)",
            run.record_count,
            run.run_id,
            run.changed_link_count,
        )

    def wait_for_refit(self, timeout: float | None = None) -> None:
        """Wait for a background refit to finish (tests, benchmarks, shutdown)."""
        thread = self._refit_thread
        if thread is not None:
            thread.join(timeout)

    def _catch_up(self, changes: Sequence[IndexChange]) -> None:
        """Replay other processes' index changes (caller holds ``_writer``).

        A gap (the feed was pruned past what this process has seen) reloads
        the whole index from the store.
        """
        if not changes:
            return
        if changes[0].sequence != self._seen_change + 1:
            _log.warning("index change feed was pruned past this process; reloading the index")
            self._reload_index()
            return
        final: dict[int, IndexChange] = {}
        for change in changes:
            final[change.node_id] = change
        self._mirror.remove([node for node, c in final.items() if not c.added])
        adds = [
            (node, c.clk)
            for node, c in final.items()
            if c.added and c.clk is not None and node not in self._mirror
        ]
        if adds:
            nodes, clks = zip(*adds, strict=True)
            self._mirror.add(nodes, clks)
        self._seen_change = changes[-1].sequence
        self._mirror.refresh_band()

    def _catch_up_for_reads(self) -> None:
        """Before a lookup: pick up what other processes committed."""
        if self._store.last_index_change() != self._seen_change:
            with self._writer:
                self._catch_up(self._store.read_index_changes_since(self._seen_change))

    def _join(
        self, clks: list[bytes], leaving: set[int]
    ) -> tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]:
        """Candidate pairs of joining CLKs: ``(row, node_id, score)`` against the
        index (minus ``leaving``) and ``(row, row, score)`` among themselves."""
        if not clks:
            return [], []
        packed = pack_clk_bytes(clks, self._settings.clk_bits)
        keys = sorted(self._mirror.nodes - leaving)
        against = (
            self._pair_join(packed, self._mirror.packed(keys)) if keys else CandidatePairs.empty()
        )
        against_index = [(row, keys[col], score) for score, row, col in against.as_tuples()]
        return against_index, _int_pairs(self._self_join(packed))

    def _pair_join(self, left: PackedClks, right: PackedClks) -> CandidatePairs:
        """Candidate pairs between two sets, blocked if configured."""
        if self._linker is not None:
            return self._linker.link(left, right, self._mirror.frequencies)
        blocking = self._settings.blocking
        if self._joiner is not None:
            return self._joiner.pair_join(left, right, self._settings.threshold, blocking)
        if blocking is None:
            return dice_join(left, right, self._settings.threshold)
        return blocked_dice_join(left, right, self._settings.threshold, blocking).pairs

    def _self_join(self, clks: PackedClks) -> CandidatePairs:
        """Candidate pairs within one set, blocked if configured."""
        if self._linker is not None:
            return self._linker.link_within(clks, self._mirror.frequencies)
        blocking = self._settings.blocking
        if self._joiner is not None:
            return self._joiner.self_join(clks, self._settings.threshold, blocking)
        if blocking is None:
            return dice_self_join(clks, self._settings.threshold)
        return blocked_dice_self_join(clks, self._settings.threshold, blocking).pairs

    def _apply(
        self,
        tx: WriteTransaction,
        actor: Principal,
        batch: WriteBatch,
        plan: _Plan,
        digest: bytes,
        graph: _Graph,
        now: int,
    ) -> tuple[BatchOutcome, list[tuple[int, bytes]]]:
        settings = self._settings
        leaving = sorted(graph.deleted | graph.detached)
        # The neighbourhood and links of leaving nodes, before their edges go.
        old_neighbours: set[int] = set()
        leaving_nodes: dict[int, tuple[int, int]] = {}
        if leaving:
            for edge in tx.edges_touching(leaving):
                old_neighbours.update((edge.node_a, edge.node_b))
            agency_nos = tx.node_agency_nos(leaving)
            leaving_nodes = {
                node: (agency_nos[node], link) for node, link in tx.node_links(leaving).items()
            }
            old_neighbours.difference_update(leaving)
        if graph.deleted:
            tx.delete_records(sorted(graph.deleted))
        if graph.detached:
            tx.detach_nodes(sorted(graph.detached))
        # Inserts and in-place updates.
        batch_nodes: list[int] = []
        joining_nodes: list[int] = []
        index_adds: list[tuple[int, bytes]] = []
        pending: dict[int, bytes] = {}
        for upsert in plan.inserts:
            node = tx.insert_record(
                NewRecord(
                    agency_id=batch.agency_id,
                    record_key=upsert.record_key,
                    key_epoch=settings.key_epoch,
                    schema_fingerprint=settings.schema_fingerprint,
                    clk=upsert.clk,
                    pointer_token=upsert.pointer_token,
                    consent=upsert.consent,
                    linkable=upsert.linkable,
                    content_digest=_content_digest(
                        upsert.clk, upsert.pointer_token, upsert.consent
                    ),
                    update_time_us=now,
                )
            )
            batch_nodes.append(node)
            if upsert.linkable:
                joining_nodes.append(node)
                index_adds.append((node, upsert.clk))
                pending[node] = upsert.clk
        for ref, upsert in plan.updated_in_place:
            tx.update_record(
                ref.node_id,
                upsert.pointer_token,
                upsert.consent,
                upsert.linkable,
                _content_digest(ref.clk, upsert.pointer_token, upsert.consent),
                now,
            )
            batch_nodes.append(ref.node_id)
        for ref, change in plan.consent_changes:
            tx.update_record(
                ref.node_id,
                ref.pointer_token,
                change.consent,
                change.linkable,
                _content_digest(ref.clk, ref.pointer_token, change.consent),
                now,
            )
        for ref in graph.rejoining:
            joining_nodes.append(ref.node_id)
            index_adds.append((ref.node_id, ref.clk))
            pending[ref.node_id] = ref.clk
        # Candidate edges of the joining nodes, now that they have node IDs.
        edges = [
            _edge(joining_nodes[row], node, score) for row, node, score in graph.pairs_vs_index
        ]
        edges += [
            _edge(joining_nodes[a], joining_nodes[b], score) for a, b, score in graph.pairs_within
        ]
        tx.insert_edges(edges)
        # Re-cluster every component the batch touched.
        seeds = set(joining_nodes) | old_neighbours
        clusterer = self._clusterer_for(self._linker, self._mirror.frequencies, pending)
        changes, linked_nodes = self._relink(tx, seeds, leaving_nodes, now, clusterer)
        outcome = BatchOutcome(
            agency_id=batch.agency_id,
            batch_id=batch.batch_id,
            replayed=False,
            inserted=len(plan.inserts) - len(plan.replaced),
            updated=len(plan.replaced) + len(plan.updated_in_place),
            unchanged=plan.unchanged,
            withdrawn=len(plan.withdrawn),
            consent_updated=len(plan.consent_changes),
            linked=sum(1 for node in batch_nodes if node in linked_nodes),
            commit_time_us=now,
        )
        tx.save_batch(
            BatchRow(batch.agency_id, batch.batch_id, digest, _outcome_to_json(outcome), now)
        )
        events = [
            EventRow(
                EventKind.BATCH_COMMITTED,
                now,
                agency_id=batch.agency_id,
                batch_id=batch.batch_id,
                record_count=len(batch.mutations),
            )
        ]
        if plan.withdrawn:
            events.append(
                EventRow(
                    EventKind.RECORD_WITHDRAWN,
                    now,
                    agency_id=batch.agency_id,
                    batch_id=batch.batch_id,
                    record_count=len(plan.withdrawn),
                )
            )
        events.extend(_link_event(c, now, batch.agency_id, batch.batch_id) for c in changes)
        tx.append_events(events)
        self._audit(
            tx,
            actor,
            "ingest.batch",
            [f"agencies/{batch.agency_id}/batches/{batch.batch_id}"],
            {
                "inserted": outcome.inserted,
                "updated": outcome.updated,
                "unchanged": outcome.unchanged,
                "withdrawn": outcome.withdrawn,
                "consent_updated": outcome.consent_updated,
            },
            now,
        )
        return outcome, index_adds

    def _component_edges(
        self, tx: WriteTransaction, seeds: set[int]
    ) -> tuple[set[int], list[EdgeRow]]:
        """Close ``seeds`` under stored edges: every node and edge reachable."""
        nodes = set(seeds)
        edges: dict[tuple[int, int], EdgeRow] = {}
        frontier = sorted(seeds)
        while frontier:
            found: set[int] = set()
            for edge in tx.edges_touching(frontier):
                edges[(edge.node_a, edge.node_b)] = edge
                found.update((edge.node_a, edge.node_b))
            frontier = sorted(found - nodes)
            nodes |= found
        return nodes, list(edges.values())

    def _clusterer_for(
        self,
        linker: ProbabilisticLinker | None,
        frequencies: TermFrequencies | None,
        pending: Mapping[int, bytes],
    ) -> ComponentClusterer:
        """The clusterer, scoring the pairs without an edge with ``linker`` when it is
        average-link in probabilistic mode (``pending``: CLKs of records not yet in the
        in-memory index)."""
        cluster = self._cluster
        if linker is None or not isinstance(cluster, AverageLinkClusterer):
            return cluster
        clustering = self._settings.clustering
        if self._settings.auto_threshold:
            # the model's threshold, where the configuration sets none of its own
            cluster = dataclasses.replace(
                cluster,
                join_threshold=clustering.join_threshold or linker.threshold,
                merge_threshold=max(
                    clustering.join_threshold or linker.threshold,
                    clustering.merge_threshold or linker.threshold,
                ),
            )
        mirror = self._mirror
        bits = self._settings.clk_bits

        def scorer(left: Sequence[Node], right: Sequence[Node]) -> list[float]:
            wanted = sorted({n for _, n in left} | {n for _, n in right})
            held = [n for n in wanted if n in mirror]
            extra = [n for n in wanted if n not in mirror and n in pending]
            parts = []
            if held:
                parts.append(mirror.packed(held))
            if extra:
                parts.append(pack_clk_bytes([pending[n] for n in extra], bits))
            row = {n: i for i, n in enumerate(held + extra)}
            li = np.array([row.get(n, -1) for _, n in left], dtype=np.int64)
            ri = np.array([row.get(n, -1) for _, n in right], dtype=np.int64)
            out = np.zeros(li.shape[0], dtype=np.float64)
            known = (li >= 0) & (ri >= 0)
            if parts and known.any():
                packed = np.concatenate(parts)
                out[known] = linker.score(packed, packed, li[known], ri[known], frequencies)
            return out.tolist()

        return dataclasses.replace(cluster, scorer=scorer)

    def _update_links(
        self,
        tx: WriteTransaction,
        nodes: Sequence[int],
        edges: Sequence[EdgeRow],
        leaving: Mapping[int, tuple[int, int]],
        now: int,
        clusterer: ComponentClusterer,
    ) -> tuple[LinkUpdate[int], dict[int, int]]:
        """Re-cluster ``nodes`` (closed under ``edges``) and carry link IDs over.

        ``leaving`` maps nodes that left the graph to ``(agency_no, old link)``.
        Returns the update and the old link of every node that had one.
        """
        agency_of = tx.node_agency_nos(nodes)
        old = tx.node_links(nodes)
        existing: dict[tuple[int, int], int] = {(agency_of[n], n): link for n, link in old.items()}
        withdrawn = [(agency, node) for node, (agency, _) in leaving.items()]
        existing.update({(agency, node): link for node, (agency, link) in leaving.items()})
        added = [(agency_of[n], n) for n in nodes if n not in old]
        candidate_edges = CandidateEdges.from_tuples(
            [
                (e.score, (agency_of[e.node_a], e.node_a), (agency_of[e.node_b], e.node_b))
                for e in edges
            ]
        )

        # Fresh link IDs come from the store in growing blocks; unused ones are
        # deleted again below (link IDs are never reused either way).
        spare: list[int] = []
        allocated: list[int] = []

        def allocate() -> int:
            if not spare:
                block = tx.allocate_link_ids(max(1, min(4096, 2 * len(allocated))), now)
                allocated.extend(block)
                spare.extend(reversed(block))
            return spare.pop()

        update = update_links(
            existing,
            candidate_edges,
            allocate,
            added=added,
            withdrawn=withdrawn,
            clusterer=clusterer,
        )
        changed = [
            (node, link) for (_, node), link in update.assignment.items() if old.get(node) != link
        ]
        tx.assign_links(changed, now)
        surviving = set(update.assignment.values())
        gone = (set(old.values()) | {link for _, link in leaving.values()}) - surviving
        tx.delete_links(sorted(gone | set(spare)))
        return update, old

    def _relink(
        self,
        tx: WriteTransaction,
        seeds: set[int],
        leaving: Mapping[int, tuple[int, int]],
        now: int,
        clusterer: ComponentClusterer,
    ) -> tuple[tuple[LinkEvent[int], ...], set[int]]:
        nodes, edges = self._component_edges(tx, seeds)
        update, _ = self._update_links(tx, sorted(nodes), edges, leaving, now, clusterer)
        sizes: dict[int, int] = defaultdict(int)
        for link in update.assignment.values():
            sizes[link] += 1
        linked = {node for (_, node), link in update.assignment.items() if sizes[link] > 1}
        return update.events, linked

    # -------------------------------------------------------------- rebuild
    def rebuild(self, actor: Principal | str, reason: str) -> LinkageRunRow:
        """Rebuild every link from scratch and replace the old links atomically.

        The partition equals the one incremental linkage maintains (both
        cluster each connected component of the same candidate graph); link
        IDs carry over to the groups that keep most of their records.
        """
        if len(reason) > 500:
            raise InvalidInputError(
                "invalid rebuild", problems=[Problem("reason", "must be at most 500 characters")]
            )
        started = time.perf_counter()
        with self._writer:
            start = self._clock()
            seen = self._store.last_index_change()
            self._refresh_model()
            node_list, edges, linker, frequencies, fitted, plan = self._full_graph()
            with self._store.write() as tx:
                others = tx.index_changes_since(seen)
                if others:
                    # Another matcher process changed the index meanwhile: redo
                    # the join while this transaction holds the writer lock.
                    self._catch_up(tx.index_changes_since(self._seen_change))
                    node_list, edges, linker, frequencies, fitted, plan = self._full_graph()
                now = self._clock()
                tx.delete_all_edges()
                tx.insert_edges(edges)
                clusterer = self._clusterer_for(linker, frequencies, {})
                update, old = self._update_links(tx, node_list, edges, {}, now, clusterer)
                sizes: dict[int, int] = defaultdict(int)
                for link in update.assignment.values():
                    sizes[link] += 1
                link_count = sum(1 for size in sizes.values() if size > 1)
                new_links = {node: link for (_, node), link in update.assignment.items()}
                changed = len(
                    {link for node, link in new_links.items() if old.get(node) != link}
                    | {link for node, link in old.items() if new_links.get(node) != link}
                )
                run = LinkageRunRow(
                    run_id=0,
                    start_time_us=start,
                    end_time_us=now,
                    record_count=len(node_list),
                    candidate_pair_count=len(edges),
                    link_count=link_count,
                    changed_link_count=changed,
                    threshold=self._settings.threshold if linker is None else linker.threshold,
                    reason=reason,
                    model=self._settings.linkage_model_json(
                        None if linker is None else linker.model,
                        fitted_records=fitted or self._fit_records or None,
                        blocking_plan=None if plan is None else plan.to_dict(),
                        threshold=None if linker is None else linker.threshold,
                    ),
                )
                run_id = tx.save_linkage_run(run)
                tx.append_events(
                    [
                        EventRow(EventKind.LINKS_REBUILT, now, record_count=len(node_list)),
                        *(_link_event(e, now, None, None) for e in update.events),
                    ]
                )
                self._audit(
                    tx,
                    actor,
                    "linkage.rebuild",
                    [f"linkageRuns/{run_id}"],
                    {"records": len(node_list), "links": link_count, "changed_links": changed},
                    now,
                )
            if linker is not None:
                self._linker = linker
                self._model_run_id = run_id
                self._track_frequencies(linker)
                self._blocking_plan = plan
                if fitted:
                    self._fit_records = fitted
        self._observer.links_rebuilt(len(node_list), time.perf_counter() - started)
        self._observer.index_size(len(self._mirror), link_count)
        return dataclasses.replace(run, run_id=run_id)

    def _full_graph(
        self,
    ) -> tuple[
        list[int],
        list[EdgeRow],
        ProbabilisticLinker | None,
        TermFrequencies | None,
        int,
        BlockingPlan | None,
    ]:
        """Every linkable record of the linkage space, all candidate pairs, and (in
        probabilistic mode) the linker that scored them: with a model refitted on these
        records when the settings ask for it and enough are held; the term frequencies
        it scored with and the records it was fitted on (0: not refitted).

        CLKs are packed chunk by chunk as they stream from the store, so the
        peak is the packed array (``clk_bits / 8`` bytes a record), not a list
        of Python byte strings.
        """
        node_list: list[int] = []
        chunks: list[PackedClks] = []
        pending: list[bytes] = []
        bits = self._settings.clk_bits
        for record in self._store.iter_index_records(
            self._settings.key_epoch, self._settings.schema_fingerprint
        ):
            node_list.append(record.node_id)
            pending.append(record.clk)
            if len(pending) == 65536:
                chunks.append(pack_clk_bytes(pending, bits))
                pending = []
        if pending:
            chunks.append(pack_clk_bytes(pending, bits))
        packed = np.concatenate(chunks) if chunks else np.zeros((0, bits // 64), dtype=np.uint64)
        del chunks
        linker = self._linker
        plan = self._blocking_plan
        probabilistic = self._settings.probabilistic
        fitted = 0
        if (
            probabilistic is not None
            and probabilistic.refit_on_rebuild
            and packed.shape[0] >= probabilistic.min_fit_records
        ):
            try:
                result = fit_linker(
                    probabilistic,
                    packed,
                    self._settings.threshold,
                    auto_threshold=self._settings.auto_threshold,
                )
                linker, plan = result.linker, result.plan
                fitted = int(packed.shape[0])
            except InvalidInputError as exc:
                _log.warning("refitting the linkage model failed, keeping it: %s", exc.message)
        if linker is None:
            pairs, frequencies = self._self_join(packed), None
        else:
            segments = [s for s in linker.model.term_frequency_segments() if s is not None]
            frequencies = TermFrequencies.of(packed, linker.layout, segments) if segments else None
            pairs = linker.link_within(packed, frequencies)
        edges = [_edge(node_list[a], node_list[b], score) for a, b, score in _int_pairs(pairs)]
        return node_list, edges, linker, frequencies, fitted, plan

    # --------------------------------------------------------------- lookup
    def lookup(
        self,
        actor: Principal,
        clk: bytes,
        key_epoch: int,
        schema_fingerprint: str,
        purpose: str,
        max_links: int,
    ) -> list[LinkHit]:
        """The links matching a query CLK, with the members the actor may see.

        A query with no match and one whose matches are all hidden return the
        same empty list. Every call, refused ones included, is audited.
        """
        started = time.perf_counter()
        try:
            hits = self._lookup(actor, clk, key_epoch, schema_fingerprint, purpose, max_links)
        except ResourceExhaustedError:
            self._observer.lookup_finished(
                LookupOutcome.RATE_LIMITED, time.perf_counter() - started
            )
            raise
        except InvalidInputError:
            self._observer.lookup_finished(LookupOutcome.REFUSED, time.perf_counter() - started)
            raise
        outcome = LookupOutcome.DISCLOSED if hits else LookupOutcome.NOTHING
        self._observer.lookup_finished(outcome, time.perf_counter() - started)
        return hits

    def _lookup(
        self,
        actor: Principal,
        clk: bytes,
        key_epoch: int,
        schema_fingerprint: str,
        purpose: str,
        max_links: int,
    ) -> list[LinkHit]:
        if not self._limiter.try_acquire(actor.actor):
            self._audit_refusal(actor, "rate_limited")
            raise ResourceExhaustedError(
                "too many lookups; wait a moment and retry (the limit is per principal)"
            )
        problems: list[Problem] = []
        self._check_space(key_epoch, schema_fingerprint, problems)
        try:
            purpose_value = Purpose(purpose)
        except ValueError:
            known = ", ".join(p.value for p in Purpose)
            problems.append(Problem("purpose", f"must be one of {known}"))
        limit = self._limits.max_links_per_lookup
        if max_links < 0 or max_links > limit:
            problems.append(Problem("max_links", f"must be in [0, {limit}]"))
        if len(clk) != self._settings.clk_bytes:
            problems.append(
                Problem("clk", f"must be {self._settings.clk_bytes} bytes, got {len(clk)}")
            )
        if problems:
            raise InvalidInputError("lookup refused", problems=problems)
        try:
            self._check_plausible(clk)
        except InvalidInputError:
            self._audit_refusal(actor, "implausible_query")
            raise
        wanted = max_links or 5
        self._catch_up_for_reads()
        query = pack_clk_bytes([clk], self._settings.clk_bits)
        found = self._search(query, min(4 * wanted, 100))
        node_links = self._store.read_node_links([node for node, _ in found])
        link_order: list[int] = []
        for node, _ in found:
            link = node_links.get(node)
            if link is not None and link not in link_order:
                link_order.append(link)
        members_by_link: dict[int, list[LinkMember]] = defaultdict(list)
        for member in self._store.link_members(link_order):
            members_by_link[member.link_id].append(member)
        now = self._clock()
        now_dt = datetime_from_us(now)
        hits: list[LinkHit] = []
        disclosed_rows: list[tuple[LinkMember, int]] = []
        for link in link_order:
            visible: list[DisclosedMember] = []
            for member in members_by_link[link]:
                if may_disclose(parse_consent(member.consent), actor, purpose_value, now_dt):
                    agency = self._agency(member.agency_id)
                    visible.append(
                        DisclosedMember(
                            agency_id=member.agency_id,
                            contact_card=agency.contact_card if agency else b"",
                            pointer_token=member.pointer_token,
                            consent=member.consent,
                            agency_display_name=agency.display_name if agency else "",
                        )
                    )
                    disclosed_rows.append((member, link))
            if visible and len(hits) < wanted:
                hits.append(LinkHit(link_id=link, members=tuple(visible)))
        shown = {hit.link_id for hit in hits}
        disclosed_rows = [(m, link) for m, link in disclosed_rows if link in shown]
        if not self._audit_lookups:
            return hits
        with self._store.write() as tx:
            sequence = self._audit(
                tx,
                actor,
                "lookup",
                [f"links/{link}" for link in link_order],
                {
                    "purpose": purpose_value.value,
                    "matched_links": len(link_order),
                    "disclosed_links": [f"links/{h.link_id}" for h in hits],
                    "disclosed_records": [
                        _record_name(m.agency_id, m.record_key) for m, _ in disclosed_rows
                    ],
                },
                now,
            )
            tx.insert_disclosures(
                DisclosureRow(
                    agency_id=m.agency_id,
                    record_key=m.record_key,
                    link_id=link,
                    recipient=actor.actor,
                    recipient_agency=actor.agency_id or "",
                    purpose=purpose_value.value,
                    disclose_time_us=now,
                    audit_sequence=sequence,
                )
                for m, link in disclosed_rows
            )
        return hits

    def _check_plausible(self, clk: bytes) -> None:
        """Refuse a query CLK no real query encodes to (an all-ones probe, a foreign
        encoding), naming what is wrong.

        Dice mode: the CLK's popcount must lie in the band the index's fill suggests.
        Probabilistic mode: the record part may have fewer bits than any indexed record
        (a query with a name and date of birth only is valid), but not more than the
        band allows; every field segment must look like a real encoding, a name must be
        there and the date of birth, the phone or the street.
        """
        start, stop = self._mirror.band_words
        band = self._mirror.plausibility_band()
        probabilistic = self._settings.probabilistic
        if probabilistic is None:
            check_query_clk_plausible(clk[start * 8 : stop * 8], band)
            return
        check_query_clk_plausible(
            clk[start * 8 : stop * 8], band_from_range(band.bits, 1, band.high)
        )
        layout = probabilistic.layout
        words = pack_clk_bytes([clk], self._settings.clk_bits)[0]
        check_segments_plausible(
            words,
            [
                (part.name, part.start_word, part.stop_word, part.name in layout.key_sets)
                for part in layout.fields
            ],
            required=[
                tuple(n for n in ("given_name", "surname") if n in layout.names),
                tuple(n for n in ("date_of_birth", "phone", "street") if n in layout.names),
            ],
        )

    def _search(self, query: PackedClks, k: int) -> list[tuple[int, float]]:
        """The best ``k`` indexed records for one packed query, ``(node, score)`` with the
        score at or above the lookup threshold, best first (ties: lower node first).

        Dice mode scans the index for Dice. Probabilistic mode scores the
        ``lookup_candidates`` records nearest by whole-CLK Dice with the model: the match
        probability, not a Dice, decides.
        """
        threshold = self._settings.effective_lookup_threshold
        probabilistic = self._settings.probabilistic
        if probabilistic is None:
            (hits,) = self._mirror.index.search(query, threshold, k)
            return [(node, score) for score, node in hits.as_tuples()]
        latest = self._store.list_linkage_runs(1)
        if latest and latest[0].run_id != self._model_run_id:
            with self._writer:  # another process rebuilt: its model now decides
                self._refresh_model()
        linker = self._linker
        if linker is None:  # pragma: no cover - set whenever the settings are probabilistic
            raise FailedPreconditionError("the probabilistic linker is not loaded")
        return search_index(
            self._mirror.index,
            linker,
            query,
            keyed=self._mirror.key_candidates(query),
            scan=probabilistic.lookup_scan,
            candidates=probabilistic.lookup_candidates,
            threshold=threshold,
            k=k,
            frequencies=self._mirror.frequencies,
            require=probabilistic.lookup_requires,
        )

    def _audit_refusal(self, actor: Principal, reason: str) -> None:
        now = self._clock()
        with self._store.write() as tx:
            self._audit(tx, actor, "lookup.refused", [], {"reason": reason}, now)

    # ------------------------------------------------------------- listings
    def list_records(self, agency_id: str, after_key: bytes, limit: int) -> list[RecordListing]:
        """An agency's records, by key."""
        return self._store.list_records(agency_id, after_key, limit)

    def agency_counts(self, agency_id: str) -> AgencyCounts:
        """Counts for one agency."""
        for counts in self._store.agency_counts():
            if counts.agency_id == agency_id:
                return counts
        raise NotFoundError(f"agency {agency_id!r} is not enrolled")

    def disclosable_count(self, agency_id: str) -> int:
        """Records of an agency whose consent allows disclosure to someone now."""
        now_dt = datetime_from_us(self._clock())
        count = 0
        after = b""
        while True:
            page = self._store.list_records(agency_id, after, 5000)
            for record in page:
                consent = parse_consent(record.consent)
                if consent.discloses_at(now_dt):
                    count += 1
            if len(page) < 5000:
                return count
            after = page[-1].record_key

    def list_disclosures(
        self, agency_id: str, before_id: int | None, limit: int
    ) -> list[tuple[int, DisclosureRow]]:
        """The accounting of disclosures of an agency's records, newest first."""
        return self._store.list_disclosures(agency_id, before_id, limit)

    def index_status(self) -> IndexStatus:
        """Counts over the whole index."""
        agencies = tuple(self._store.agency_counts())
        return IndexStatus(
            record_count=sum(a.record_count for a in agencies),
            link_count=self._store.link_count(),
            agencies=agencies,
            last_event_sequence=self._store.last_event_sequence(),
        )

    def list_events(self, after_sequence: int, limit: int) -> list[EventRow]:
        """The event log after a sequence number."""
        return self._store.list_events(after_sequence, limit)


@dataclass(frozen=True, slots=True)
class _Graph:
    """How a batch changes the link graph."""

    deleted: set[int]
    detached: set[int]
    rejoining: list[StoredRecordRef]
    pairs_vs_index: list[tuple[int, int, float]]
    pairs_within: list[tuple[int, int, float]]


def verify_audit_log(store: LinkStore) -> VerificationResult:
    """Verify a store's audit hash chain; names the first altered, inserted,
    deleted or reordered entry."""
    return verify_rows(
        (
            row.sequence,
            row.entry_time_us,
            row.actor,
            row.action,
            row.target_ids,
            row.details,
            row.prev_hash,
            row.entry_hash,
        )
        for row in store.iter_audit()
    )


def _int_pairs(pairs: CandidatePairs) -> list[tuple[int, int, float]]:
    return [(left, right, score) for score, left, right in pairs.as_tuples()]


def _edge(a: int, b: int, score: float) -> EdgeRow:
    return EdgeRow(a, b, score) if a < b else EdgeRow(b, a, score)


def _link_event(
    event: LinkEvent[int], now: int, agency_id: str | None, batch_id: str | None
) -> EventRow:
    """The event-log row for one link change."""
    kind: EventKind
    sources: tuple[int, ...]
    targets: tuple[int, ...]
    count = 0
    match event:
        case LinkCreated():
            kind, sources, targets, count = (
                EventKind.LINK_CREATED,
                (),
                (event.link_id,),
                len(event.members),
            )
        case RecordsJoined():
            kind, sources, targets = EventKind.LINK_JOINED, (event.link_id,), (event.link_id,)
            count = len(event.records)
        case LinksMerged():
            kind, sources, targets = EventKind.LINK_MERGED, event.from_ids, (event.into_id,)
        case LinkSplit():
            kind, sources, targets = EventKind.LINK_SPLIT, (event.from_id,), event.into_ids
        case LinkDissolved():
            kind, sources, targets = EventKind.LINK_DISSOLVED, (event.link_id,), ()
        case RecordsWithdrawn():
            kind, sources, targets = EventKind.LINK_LEFT, (event.link_id,), (event.link_id,)
            count = len(event.records)
    return EventRow(
        kind,
        now,
        agency_id=agency_id,
        batch_id=batch_id,
        source_links=tuple(sources),
        target_links=tuple(targets),
        record_count=count,
    )


def _record_name(agency_id: str, record_key: bytes) -> str:
    return f"agencies/{agency_id}/records/{base64.urlsafe_b64encode(record_key).decode()}"
