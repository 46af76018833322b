"""What every part of the linkage service shares, and the rules for changing it.

One :class:`ServiceState` per :class:`~linkage.service.LinkageService`. It holds:

* the store, the settings, the limits, the clock and the observer;
* the **writer lock** (``writer``): one writer at a time per process. Ingest, rebuilds,
  agency changes and every change of the in-memory state below take it;
* the **index mirror** (:class:`~linkage.service._mirror.IndexMirror`) and its position
  in the store's index-change feed (``seen_change``). Other processes sharing the store
  (a PostgreSQL store) append to the feed; :meth:`catch_up` replays their changes into
  the mirror, and a gap (the feed was pruned past this process) reloads it;
* during a key-epoch rotation (docs/key-rotation.md), the **next epoch's mirror**
  (``next_mirror``): the next-epoch CLKs of the same records, under the same node IDs, so a
  lookup in the next epoch finds the same links. The store's ``key_rotation`` row decides
  which epochs are in force; a rotation's begin and finish append a mark to the index-change
  feed (:data:`~linkage.store.ROTATION_MARK_NODE`), and :meth:`catch_up` re-reads the
  rotation when it meets one. Likewise an agency change (an enrolment, a confirmed
  contact card) appends :data:`~linkage.store.AGENCY_MARK_NODE`, and :meth:`catch_up`
  counts ``agency_generation`` up when it meets one (or reloads), so every process reads
  the agencies it caches (:mod:`._agencies`) again at its next call. Inside
  :meth:`epoch_scope` (a lookup), ``mirror`` is the mirror of the call's epoch as it was
  when the call came in, and :meth:`check_space` accepts that epoch; elsewhere (ingest,
  rebuilds) it is the epoch in force's;
* in probabilistic mode, the **model in force**: the linker (model, blocking rules,
  threshold) of the latest linkage run, the run it came from, the records it was fitted
  on and the blocking plan. :meth:`refresh_model` picks up a run another process saved.

The parts of the service (:mod:`._agencies`, :mod:`._ingest`, :mod:`._rebuild`,
:mod:`._lookup`) read and change this state; none keeps a copy of it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from linkage.errors import ConfigError, Problem
from linkage.pki import Principal
from linkage.probabilistic import BlockingPlan, ProbabilisticLinker
from linkage.security import DetailValue, append_audit_entry
from linkage.service._clock import Clock
from linkage.service._mirror import IndexMirror
from linkage.service._observer import ServiceObserver
from linkage.service._probabilistic import (
    effective_threshold,
    fitted_records,
    prior_model,
    stored_blocking_plan,
    stored_model,
)
from linkage.service._settings import LinkageSettings, ServiceLimits
from linkage.store import (
    AGENCY_MARK_NODE,
    ROTATION_MARK_NODE,
    IndexChange,
    IndexRecord,
    LinkStore,
    WriteTransaction,
)

__all__ = ["ServiceState"]

_log = logging.getLogger("linkage.service")

#: Records handed to the mirror at once while the index loads.
_LOAD_CHUNK = 65536

#: The mirror (and its key epoch) a call in :meth:`ServiceState.epoch_scope` reads.
_EPOCH_SCOPE: ContextVar[tuple[ServiceState, IndexMirror, int] | None] = ContextVar(
    "linkage_epoch_scope", default=None
)


class ServiceState:
    """The shared state of one linkage service (see the module docstring)."""

    def __init__(
        self,
        store: LinkStore,
        settings: LinkageSettings,
        limits: ServiceLimits,
        clock: Clock,
        observer: ServiceObserver,
    ) -> None:
        self.store = store
        self.settings = settings
        self.limits = limits
        self.clock = clock
        self.observer = observer
        self.writer = threading.Lock()
        self._mirror = self._new_mirror()
        #: during a key-epoch rotation, the epoch the agencies are moving to and its mirror
        self.next_epoch: int | None = None
        self.next_mirror: IndexMirror | None = None
        #: the last index change of the store's feed that the mirror holds
        self.seen_change = 0
        #: counted up when another process (or this one) changed an agency: the agencies
        #: cached before are read again from the store
        self.agency_generation = 0
        self.linker: ProbabilisticLinker | None = None
        self.model_run_id = -1
        #: linkable records the model in force was fitted on (0: the shipped prior)
        self.fit_records = 0
        self.blocking_plan: BlockingPlan | None = None

    def _new_mirror(self) -> IndexMirror:
        # The popcount band a query must fall in: over the whole CLK, or over the record
        # CLK of a segmented one (a missing field empties its segment, legitimately).
        settings = self.settings
        record = None if settings.probabilistic is None else settings.probabilistic.layout.record
        mirror = IndexMirror(
            settings.clk_bits,
            (0, settings.clk_bits // 64)
            if record is None
            else (record.start_word, record.stop_word),
        )
        linker = getattr(self, "linker", None)
        if linker is not None:
            _track(mirror, linker)
        return mirror

    @property
    def mirror(self) -> IndexMirror:
        """The in-memory index of the key epoch in force, or of the epoch of the
        :meth:`epoch_scope` the caller is in."""
        scoped = _EPOCH_SCOPE.get()
        if scoped is not None and scoped[0] is self:
            return scoped[1]
        return self._mirror

    @contextmanager
    def epoch_scope(self, key_epoch: int) -> Iterator[None]:
        """Within: ``mirror`` is the mirror of ``key_epoch`` as it is on entry (the epoch in
        force's, or the next epoch's during a rotation) and :meth:`check_space` accepts that
        epoch; a finish that lands meanwhile does not move the call to the other epoch's
        CLKs. For any other epoch nothing changes (and :meth:`check_space` refuses it)."""
        if key_epoch == self.settings.key_epoch:
            pinned: IndexMirror | None = self._mirror
        elif key_epoch == self.next_epoch:
            pinned = self.next_mirror
        else:
            pinned = None
        if pinned is None:
            yield
            return
        token = _EPOCH_SCOPE.set((self, pinned, key_epoch))
        try:
            yield
        finally:
            _EPOCH_SCOPE.reset(token)

    # ------------------------------------------------------------- linkage space
    def check_space(self, key_epoch: int, fingerprint: str, problems: list[Problem]) -> None:
        """Add a problem for a key epoch or schema fingerprint of another linkage space
        (the next epoch of a rotation belongs to it inside :meth:`epoch_scope`)."""
        settings = self.settings
        scoped = _EPOCH_SCOPE.get()
        if scoped is not None and scoped[0] is self and key_epoch == scoped[2]:
            pass
        elif key_epoch != settings.key_epoch:
            problems.append(
                Problem("key_epoch", f"must be the matcher's key epoch {settings.key_epoch}")
            )
        if fingerprint != settings.schema_fingerprint:
            probabilistic = settings.probabilistic
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
                    f"{settings.schema_fingerprint[:16]}...{schema}: encode with the "
                    "matcher's schema",
                )
            )

    # ------------------------------------------------------------- the model
    def refresh_model(self) -> None:
        """Probabilistic mode: take the model of the latest linkage run (this process's or
        another's), or the shipped prior before any run fitted one."""
        probabilistic = self.settings.probabilistic
        if probabilistic is None:
            return
        runs = self.store.list_linkage_runs(1)
        run_id = runs[0].run_id if runs else 0
        if run_id == self.model_run_id and self.linker is not None:
            return
        model = stored_model(runs[0].model, probabilistic) if runs else None
        plan = stored_blocking_plan(runs[0].model) if runs else None
        if model is None and self.linker is not None and runs:
            # The latest run kept the model in force (it recorded none for this layout).
            model = self.linker.model
        elif model is not None and runs:
            self.fit_records = fitted_records(runs[0].model)
        prior = prior_model(probabilistic.hardened, probabilistic.layout)
        if model is None:
            model = prior
        blocking = probabilistic.blocking()
        if plan is not None and probabilistic.blocking_preset == "auto":
            try:
                plan.rules.check(probabilistic.layout)
                blocking = plan.rules
            except ConfigError:
                plan = None
        self.blocking_plan = plan
        self.linker = ProbabilisticLinker(
            probabilistic.layout,
            model,
            blocking,
            # the prior's own suggestion is about other data: "auto" waits for a fit
            effective_threshold(
                model,
                self.settings.threshold,
                self.settings.auto_threshold,
                fitted=model != prior,
            ),
        )
        self.model_run_id = run_id
        self.track_frequencies(self.linker)

    def adopt_model(
        self,
        linker: ProbabilisticLinker,
        run_id: int,
        plan: BlockingPlan | None,
        fitted: int,
    ) -> None:
        """A rebuild of this process saved run ``run_id`` with ``linker``: it is in force
        now (``fitted``: the records it was refitted on, 0 when it was not refitted)."""
        self.linker = linker
        self.model_run_id = run_id
        self.track_frequencies(linker)
        self.blocking_plan = plan
        if fitted:
            self.fit_records = fitted

    def track_frequencies(self, linker: ProbabilisticLinker) -> None:
        """Count the values the model weighs by frequency and index the blocking's exact
        keys for lookups (both redone when the model or the rules change)."""
        _track(self._mirror, linker)
        if self.next_mirror is not None:
            _track(self.next_mirror, linker)

    # ------------------------------------------------------------- the mirror
    def load_index(self) -> None:
        """Load every linkable record of the linkage space into the mirror (and, during a
        rotation, their next-epoch CLKs into the next epoch's)."""
        # Read the feed position first: changes committed while loading are
        # replayed later, and replaying is idempotent.
        self.seen_change = self.store.last_index_change()
        self._adopt_store_epoch()
        fingerprint = self.settings.schema_fingerprint
        # sized once, with room for a quarter more: growing a ten-million-record index
        # copies it (the first batch after a start held the old and the new arrays, 2.7 GB
        # above the index), and room not yet written to is never paged in
        held = self.store.count_index_records(self.settings.key_epoch, fingerprint)
        self._mirror.reserve(held + held // 4 + _LOAD_CHUNK)
        _fill(self._mirror, self.store.iter_index_records(self.settings.key_epoch, fingerprint))
        self._mirror.settle()
        self.observer.index_size(len(self._mirror), self.store.link_count())
        _log.info("loaded %d linkable records into the index", len(self._mirror))
        self.sync_rotation()

    def reload_index(self) -> None:
        """Forget the mirror and load it again from the store."""
        self._mirror.clear()
        self.next_epoch, self.next_mirror = None, None
        self.agency_generation += 1  # the feed may have held an agency change
        self.load_index()

    def _adopt_store_epoch(self) -> None:
        """At start: the key epoch in force is the store's once a rotation was begun. A
        server.toml behind it (not updated after a finish) is followed, with a warning; one
        ahead of it is refused."""
        row = self.store.key_rotation()
        configured = self.settings.key_epoch
        if row is None or row.current_epoch == configured:
            return
        if row.current_epoch < configured:
            raise ConfigError(
                f"linkage.key_epoch is {configured} but the store's key epoch is "
                f"{row.current_epoch}: move to a new epoch with linkage-admin epoch begin and "
                f"finish (docs/key-rotation.md), or set key_epoch = {row.current_epoch}"
            )
        _log.warning(
            "the store's key epoch is %d (a rotation finished); set [linkage] key_epoch = %d "
            "in server.toml",
            row.current_epoch,
            row.current_epoch,
        )
        self.settings = dataclasses.replace(self.settings, key_epoch=row.current_epoch)

    def sync_rotation(self) -> None:
        """Follow the store's rotation: a begun rotation gets the next epoch's mirror
        (loaded from the store), a finished one makes it the mirror in force."""
        row = self.store.key_rotation()
        if row is None:
            return
        if row.current_epoch != self.settings.key_epoch:
            if self.next_mirror is not None and self.next_epoch == row.current_epoch:
                finished = self.next_mirror
            else:
                finished = self._new_mirror()
                _fill(
                    finished,
                    self.store.iter_index_records(
                        row.current_epoch, self.settings.schema_fingerprint
                    ),
                )
            self._mirror = finished
            self.settings = dataclasses.replace(self.settings, key_epoch=row.current_epoch)
            _log.info("key epoch %d is in force (the rotation finished)", row.current_epoch)
        if row.next_epoch != self.next_epoch:
            following: IndexMirror | None = None
            if row.next_epoch is not None:
                following = self._new_mirror()
                _fill(
                    following,
                    self.store.iter_next_epoch_records(
                        row.next_epoch, self.settings.schema_fingerprint
                    ),
                )
                _log.info(
                    "rotating to key epoch %d: %d records hold its CLKs",
                    row.next_epoch,
                    len(following),
                )
            self.next_mirror, self.next_epoch = following, row.next_epoch

    def follow_next_epoch(self, node_ids: Iterable[int]) -> None:
        """During a rotation: these records changed (joined, left or took a next-epoch
        CLK); the next epoch's mirror reads them again from the store."""
        following, epoch = self.next_mirror, self.next_epoch
        nodes = sorted({n for n in node_ids if n not in (ROTATION_MARK_NODE, AGENCY_MARK_NODE)})
        if following is None or epoch is None or not nodes:
            return
        following.remove(nodes)
        clks = self.store.read_next_epoch_clks(nodes, epoch)
        if clks:
            following.add(list(clks), list(clks.values()))
        following.refresh_band()

    def catch_up(self, changes: Sequence[IndexChange]) -> None:
        """Replay other processes' index changes (caller holds ``writer``).

        A gap (the feed was pruned past what this process has seen) reloads
        the whole index from the store.
        """
        if not changes:
            return
        if changes[0].sequence != self.seen_change + 1:
            _log.warning("index change feed was pruned past this process; reloading the index")
            self.reload_index()
            return
        final: dict[int, IndexChange] = {}
        for change in changes:
            final[change.node_id] = change
        # A rotation's mark is followed first: the feed's CLKs and the next-epoch rows
        # are read as they are now, so after a finish they are the new epoch's (the
        # next-epoch rows are gone), and the changes go into the mirrors that hold now.
        if final.pop(AGENCY_MARK_NODE, None) is not None:
            self.agency_generation += 1
        finished = False
        if final.pop(ROTATION_MARK_NODE, None) is not None:
            epoch_before = self.settings.key_epoch
            self.sync_rotation()
            finished = self.settings.key_epoch != epoch_before
        mirror = self._mirror
        # after a finish every changed record's CLK in the mirror may be an older
        # next-epoch one: each is read again
        mirror.remove([node for node, c in final.items() if finished or not c.added])
        adds = [
            (node, c.clk)
            for node, c in final.items()
            if c.added and c.clk is not None and node not in mirror
        ]
        if adds:
            nodes, clks = zip(*adds, strict=True)
            mirror.add(nodes, clks)
        self.follow_next_epoch(final)
        self.seen_change = changes[-1].sequence
        mirror.refresh_band()

    def catch_up_for_reads(self, last_change: int | None = None) -> None:
        """Before a lookup: pick up what other processes committed (``last_change``: the
        newest change feed entry, when the caller has just read it)."""
        if last_change is None:
            last_change = self.store.last_index_change()
        if last_change != self.seen_change:
            with self.writer:
                self.catch_up(self.store.read_index_changes_since(self.seen_change))

    # ------------------------------------------------------------- the audit log
    def audit(
        self,
        tx: WriteTransaction,
        actor: Principal | str,
        action: str,
        targets: Iterable[str],
        details: Mapping[str, DetailValue],
        now_us: int,
    ) -> int:
        """Seal an audit entry into ``tx`` (see :func:`linkage.security.append_audit_entry`)."""
        name = actor if isinstance(actor, str) else actor.actor
        return append_audit_entry(tx, name, action, targets, details, now_us)


def _track(mirror: IndexMirror, linker: ProbabilisticLinker) -> None:
    """Count the values the model weighs by frequency and index the blocking's exact keys."""
    segments = [s for s in linker.model.term_frequency_segments() if s is not None]
    mirror.track_frequencies(linker.layout, segments)
    mirror.track_keys(linker.layout, linker.blocking)


def _fill(mirror: IndexMirror, records: Iterable[IndexRecord]) -> None:
    """Load records into a mirror, in chunks."""
    node_ids: list[int] = []
    clks: list[bytes] = []
    for record in records:
        node_ids.append(record.node_id)
        clks.append(record.clk)
        if len(clks) >= _LOAD_CHUNK:
            mirror.add(node_ids, clks)
            node_ids, clks = [], []
    mirror.add(node_ids, clks)
    mirror.refresh_band()
