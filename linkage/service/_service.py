"""The linkage service: one facade over the parts a reader can name.

:class:`LinkageService` is what the gRPC servicers, the admin tools and the benchmarks
call. It wires the parts together and delegates to them:

=========================  ==========================================================
part                       responsibility
=========================  ==========================================================
:mod:`._state`             the shared state: store, settings, the writer lock, the
                           in-memory index mirror (:mod:`._mirror`) and its catch-up
                           with other processes, the model in force
:mod:`._agencies`          enrolment, changes and reads of agencies
:mod:`._ingest`            a batch: validate, plan, graph, apply, relink (its
                           checks: :mod:`._ingest_checks`; its stored rows:
                           :mod:`._batch_rows`)
:mod:`._linking`           joins, clustering and link IDs (ingest and rebuilds)
:mod:`._rebuild`           rebuilds, the model refit and the automatic refit
:mod:`._lookup`            lookups: plausibility, search, consent, disclosure audit
:mod:`._epochs`            batches of the next key epoch during a rotation
                           (:mod:`._rotation`: the operator's begin, status, finish)
:mod:`linkage.security`    the audit log's hash chain, sealing and verification
=========================  ==========================================================

Concurrency: one writer at a time per process (the state's writer lock), and one
process per store for SQLite. The expensive similarity join of a batch runs against the
in-memory index before the store's write transaction opens, so the database write lock
is held only for the short write phase; lookups never wait for a join. See
docs/architecture.md for the layers and the data flow of one record.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from linkage.audit_heads import AuditHead
from linkage.distributed import DaskJoiner
from linkage.errors import LinkageError
from linkage.match import ComponentClusterer
from linkage.pki import Principal
from linkage.probabilistic import ProbabilisticLinker, greedy_one_per_agency, warm_up_linker
from linkage.security import RateLimiter, VerificationResult, verify_audit_log
from linkage.service._agencies import Agencies
from linkage.service._clock import Clock, system_clock_us
from linkage.service._epochs import NextEpochIngest
from linkage.service._ingest import Ingest
from linkage.service._linking import Linking
from linkage.service._lookup import Lookups
from linkage.service._model import BatchOutcome, LinkHit, WriteBatch
from linkage.service._observer import NullObserver, ServiceObserver
from linkage.service._rebuild import Rebuilds
from linkage.service._refusals import RefusalAudit
from linkage.service._settings import LinkageSettings, ServiceLimits
from linkage.service._state import ServiceState
from linkage.store import (
    AgencyCounts,
    AgencyRow,
    ContactCardProposalRow,
    DisclosureRow,
    EventRow,
    LinkageRunRow,
    LinkStore,
    RecordListing,
)

__all__ = ["IndexStatus", "LinkageService", "cross_agency_greedy", "verify_audit_log"]

_log = logging.getLogger("linkage.service")


#: anonlink's greedy solving over the edges between different agencies only (nodes are
#: ``(agency number, node ID)``): at most one record per agency in a link. The default
#: clusterer (``[linkage.clustering] method = "greedy"``).
cross_agency_greedy: ComponentClusterer = greedy_one_per_agency


@dataclass(frozen=True, slots=True)
class IndexStatus:
    """Counts over the whole index."""

    record_count: int
    link_count: int
    agencies: tuple[AgencyCounts, ...]
    last_event_sequence: int


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
        state = ServiceState(store, settings, limits, clock, observer or NullObserver())
        if joiner is None and settings.dask is not None:
            joiner = DaskJoiner(settings.dask)
        cluster = clusterer if clusterer is not None else settings.clusterer()
        linking = Linking(state, cluster, joiner)
        limiter = RateLimiter(
            limits.lookup_rate_per_s, limits.lookup_burst, monotonic or time.monotonic
        )
        agency_limiter = RateLimiter(
            limits.agency_rate_per_s, limits.agency_burst, monotonic or time.monotonic
        )
        self._state = state
        self._store = store
        self._agencies = Agencies(state)
        self._ingest = Ingest(state, self._agencies, linking)
        self._next_epoch = NextEpochIngest(state, self._ingest)
        self._rebuilds = Rebuilds(state, linking)
        self._refusals = RefusalAudit(state)
        self._lookups = Lookups(
            state,
            self._agencies,
            limiter,
            self._refusals,
            agency_limiter=agency_limiter,
            audit_lookups=audit_lookups,
        )
        state.refresh_model()
        state.load_index()

    # ------------------------------------------------------------------ state
    @property
    def settings(self) -> LinkageSettings:
        """The linkage settings in force."""
        return self._state.settings

    @property
    def limits(self) -> ServiceLimits:
        """The size and rate limits in force."""
        return self._state.limits

    @property
    def indexed_count(self) -> int:
        """Linkable records in the in-memory index."""
        return len(self._state.mirror)

    @property
    def linker(self) -> ProbabilisticLinker | None:
        """The probabilistic linker in force (its model included); ``None`` in Dice mode."""
        return self._state.linker

    def warm_up(self) -> float:
        """Load the probabilistic linker's kernels (when one is in force) before the first
        request needs them; the seconds it took (:func:`warm_up_linker`). An optimisation,
        not a precondition: a linker the synthetic records do not suit (a blocking guard
        refusing them, say) is logged and the kernels load at the first request instead."""
        state = self._state
        if state.linker is None:
            return 0.0
        try:
            return warm_up_linker(state.linker, state.mirror.frequencies)
        except LinkageError as exc:
            _log.warning("probabilistic warm-up skipped: %s", exc)
            return 0.0

    def linkage_model_json(self) -> str:
        """What decides links now, as the JSON a rebuild records (with the model in force)."""
        linker = self._state.linker
        return self._state.settings.linkage_model_json(None if linker is None else linker.model)

    def audit_refusal(
        self, actor: Principal | str, action: str, reason: str, fields: Sequence[str] = ()
    ) -> None:
        """Audit a refused call (a role calling what it may not): one entry per principal,
        action, reason, fields and minute, with a count (:mod:`._refusals`)."""
        self._refusals.refused(actor, action, reason, fields)

    def flush_refusals(self) -> int:
        """Write the counted repeats of refusals of the minutes that are over."""
        return self._refusals.flush()

    def close(self) -> None:
        """Write what the service still holds in memory (the refusals' counts); the caller
        closes the store after it."""
        self._refusals.close()

    def audit_head(self) -> AuditHead | None:
        """The audit log's last entry (sequence and chain hash); None while it is empty.
        Agency clients keep the heads they are shown (linkage.audit_heads). Read without a
        write transaction, so a long write (an epoch finish) does not hold it up."""
        last = self._store.read_last_audit()
        return None if last is None else AuditHead(last.sequence, last.entry_hash)

    def verify_audit(self) -> VerificationResult:
        """Verify the audit hash chain from the first entry to the last."""
        return verify_audit_log(self._store)

    # ------------------------------------------------------------- agencies
    def create_agency(
        self, actor: Principal, agency_id: str, display_name: str, contact_card: bytes
    ) -> AgencyRow:
        """Enrol an agency."""
        return self._agencies.create(actor, agency_id, display_name, contact_card)

    def propose_agency_change(
        self, actor: Principal, agency_id: str, display_name: str, contact_card: bytes
    ) -> tuple[AgencyRow, ContactCardProposalRow | None]:
        """The operator proposes a new display name and contact card; the agency's card in
        force is unchanged until the agency confirms (:meth:`settle_contact_card`)."""
        return self._agencies.propose(actor, agency_id, display_name, contact_card)

    def contact_card_proposal(self, agency_id: str) -> ContactCardProposalRow | None:
        """The agency's pending contact-card proposal, or None."""
        return self._agencies.proposal(agency_id)

    def settle_contact_card(
        self, actor: Principal, agency_id: str, digest: bytes, *, reject: bool = False
    ) -> AgencyRow:
        """The agency confirms (or rejects) the proposal whose digest it was shown."""
        return self._agencies.settle(actor, agency_id, digest, reject=reject)

    def get_agency(self, agency_id: str) -> AgencyRow:
        """One agency; NotFoundError if it is not enrolled."""
        return self._agencies.get(agency_id)

    def list_agencies(self, after_id: str, limit: int) -> list[AgencyRow]:
        """Agencies by ID, after ``after_id``."""
        return self._agencies.list_agencies(after_id, limit)

    def list_records(self, agency_id: str, after_key: bytes, limit: int) -> list[RecordListing]:
        """An agency's records, by key."""
        return self._agencies.list_records(agency_id, after_key, limit)

    def agency_counts(self, agency_id: str) -> AgencyCounts:
        """Counts for one agency."""
        return self._agencies.counts(agency_id)

    # --------------------------------------------------------------- ingest
    def write_batch(self, actor: Principal, batch: WriteBatch) -> BatchOutcome:
        """Commit a batch all or nothing, idempotently, and link it incrementally
        (:class:`~linkage.service._ingest.Ingest`); a committed batch may make an
        automatic refit due. During a key-epoch rotation a batch of the next epoch gives
        records their next-epoch CLKs instead (:class:`~linkage.service._epochs.
        NextEpochIngest`)."""
        if self._next_epoch.accepts(batch):
            rotated = self._next_epoch.write_batch(actor, batch)
            if rotated is not None:
                return rotated
        state = self._state
        seen = state.seen_change
        outcome = self._ingest.write_batch(actor, batch)
        if state.next_mirror is not None and not outcome.replayed:
            # records that left or joined the index leave or join the next epoch's too
            # (under the writer lock, as every change of the mirrors)
            with state.writer:
                state.follow_next_epoch(
                    c.node_id for c in self._store.read_index_changes_since(seen)
                )
        if not outcome.replayed:
            self._rebuilds.refit_if_due()
        return outcome

    # ----------------------------------------------------- rebuild and refit
    def rebuild(self, actor: Principal | str, reason: str) -> LinkageRunRow:
        """Rebuild every link from scratch and replace the old links atomically
        (:class:`~linkage.service._rebuild.Rebuilds`)."""
        return self._rebuilds.rebuild(actor, reason)

    def refit_due(self) -> str | None:
        """Why the model should be refitted now (the index grew by the configured factor
        since the last fit, or holds enough records for a first one), else None."""
        return self._rebuilds.refit_due()

    def _refit_if_due(self) -> None:
        self._rebuilds.refit_if_due()

    def wait_for_refit(self, timeout: float | None = None) -> None:
        """Wait for a background refit to finish (tests, benchmarks, shutdown)."""
        self._rebuilds.wait_for_refit(timeout)

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
        """The links matching a query CLK, with the members the actor may see
        (:class:`~linkage.service._lookup.Lookups`).

        A query with no match and one whose matches are all hidden return the
        same empty list. Every call, refused ones included, is audited. During a key-epoch
        rotation a query of the next epoch is answered from the next epoch's CLKs.
        """
        state = self._state
        if state.next_epoch is not None or key_epoch != state.settings.key_epoch:
            # during a rotation, or for an epoch not (yet) known here: pick up a begin,
            # finish or abandonment another process committed, before choosing the epoch
            state.catch_up_for_reads()
        with state.epoch_scope(key_epoch):
            return self._lookups.lookup(
                actor, clk, key_epoch, schema_fingerprint, purpose, max_links
            )

    def disclosable_count(self, agency_id: str) -> int:
        """Records of an agency whose consent allows disclosure to someone now."""
        return self._lookups.disclosable_count(agency_id)

    def list_disclosures(
        self, agency_id: str, before_id: int | None, limit: int
    ) -> list[tuple[int, DisclosureRow]]:
        """The accounting of disclosures of an agency's records, newest first."""
        return self._lookups.list_disclosures(agency_id, before_id, limit)

    # ------------------------------------------------------------- listings
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
