"""The operator's side of a key-epoch rotation: begin, status and finish
(``linkage-admin epoch``; docs/key-rotation.md).

These run on the store directly, each in one write transaction with its audit entry,
while matchers keep serving: a begin and a finish append a mark to the index-change
feed, and every matcher process on the store follows it on its next call
(:meth:`~linkage.service._state.ServiceState.sync_rotation`).

* :func:`begin_rotation` names the next epoch (above the one in force). From then on the
  matcher accepts batches and lookups of either epoch.
* :func:`rotation_status` counts, per agency, its records in the epoch in force and those
  of them that hold a CLK of the next epoch too.
* :func:`finish_rotation` refuses while an agency has records only on the old epoch,
  unless the operator names that agency to drop them. Dropped records are withdrawn as a
  batch's withdrawal withdraws them (:class:`DropRelinker`): deleted, every component
  they were in re-clustered with the service's clusterer (link IDs carried over), and
  ``RECORD_WITHDRAWN`` and ``LINK_*`` events written. Then, in the same transaction,
  every record takes its next-epoch CLK, pointer token and digest, the next-epoch rows
  and so the old epoch's CLKs and tokens are deleted, the next epoch is in force, and the
  audit log says so. On any failure nothing of it is written.
* :func:`abort_rotation` abandons a rotation (its secret leaked, a wrong epoch): every
  next-epoch CLK and token is deleted and the epoch in force stays, in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from linkage.errors import FailedPreconditionError, InvalidInputError, Problem
from linkage.match import ComponentClusterer
from linkage.probabilistic import AverageLinkClusterer, greedy_one_per_agency
from linkage.security import append_audit_entry
from linkage.service._clock import Clock, system_clock_us
from linkage.service._linking import Linking, link_event
from linkage.service._observer import NullObserver
from linkage.service._relink_plan import Departures
from linkage.service._settings import LinkageSettings, ServiceLimits
from linkage.service._state import ServiceState
from linkage.store import (
    ROTATION_MARK_NODE,
    EpochCounts,
    EventKind,
    EventRow,
    KeyRotationRow,
    LinkStore,
    WriteTransaction,
)

__all__ = [
    "DropRelinker",
    "FinishedRotation",
    "RotationStatus",
    "abort_rotation",
    "begin_rotation",
    "finish_rotation",
    "rotation_status",
]

#: Key epochs are 32-bit on the wire (pointer tokens, batches, lookups).
_MAX_EPOCH = 2**32 - 1


@dataclass(frozen=True, slots=True)
class RotationStatus:
    """The key epoch in force, the next one (None: no rotation in progress) and, during
    a rotation, each agency's records on each epoch."""

    current_epoch: int
    next_epoch: int | None
    agencies: tuple[EpochCounts, ...]

    @property
    def blocking(self) -> tuple[EpochCounts, ...]:
        """Agencies with records only on the old epoch (a finish refuses them)."""
        return tuple(a for a in self.agencies if a.old_only)


@dataclass(frozen=True, slots=True)
class FinishedRotation:
    """What a finish did."""

    from_epoch: int
    to_epoch: int
    records_moved: int
    dropped: tuple[tuple[str, int], ...]
    audit_sequence: int


class DropRelinker:
    """What a finish needs to withdraw the records it drops as a batch withdraws them: the
    clusterer the service uses (``settings.clusterer()``, or ``clusterer``). Average-link
    in probabilistic mode scores the pairs without an edge with the model in force, from
    the CLKs of the epoch in force (as a withdrawal just before the finish would), so its
    index is loaded from the store here (like a matcher's start) and brought up to date
    inside the finish's transaction."""

    def __init__(
        self,
        store: LinkStore,
        settings: LinkageSettings,
        limits: ServiceLimits | None = None,
        *,
        clusterer: ComponentClusterer | None = None,
        clock: Clock = system_clock_us,
    ) -> None:
        cluster = clusterer if clusterer is not None else settings.clusterer()
        self._state = ServiceState(
            store, settings, limits or ServiceLimits(), clock, NullObserver()
        )
        self._linking = Linking(self._state, cluster, None)
        self._scored = settings.probabilistic is not None and isinstance(
            cluster, AverageLinkClusterer
        )
        if self._scored:
            self._state.refresh_model()
            self._state.load_index()

    def clusterer(self, tx: WriteTransaction) -> ComponentClusterer:
        """The clusterer, with the index as ``tx`` sees it (called inside the finish)."""
        state = self._state
        if not self._scored:
            return self._linking.clusterer_for(None, None, {})
        with state.writer:
            state.catch_up(tx.index_changes_since(state.seen_change))
        state.refresh_model()
        return self._linking.clusterer_for(state.linker, state.mirror.frequencies, {})


def _withdraw_dropped(
    tx: WriteTransaction,
    agency_id: str,
    nodes: list[int],
    clusterer: ComponentClusterer,
    now_us: int,
) -> list[EventRow]:
    """Withdraw one agency's dropped records as a batch's withdrawal does
    (:meth:`~linkage.service._ingest.Ingest.write_batch`): deleted, the components they
    were in re-clustered with link IDs carried over; the events to write."""
    if not nodes:
        return []
    departures = Departures.read(tx, nodes)
    tx.delete_records(nodes)
    changes, _ = Linking.relink(tx, set(departures.neighbours), departures.links, now_us, clusterer)
    events = [
        EventRow(EventKind.RECORD_WITHDRAWN, now_us, agency_id=agency_id, record_count=len(nodes))
    ]
    events.extend(link_event(change, now_us, agency_id, None) for change in changes)
    return events


def rotation_status(store: LinkStore, configured_epoch: int) -> RotationStatus:
    """Where the rotation stands (``configured_epoch``: server.toml's, in force until a
    first rotation is begun)."""
    row = store.key_rotation()
    current = configured_epoch if row is None else row.current_epoch
    following = None if row is None else row.next_epoch
    counts = store.epoch_counts(current, current if following is None else following)
    if following is None:
        counts = [EpochCounts(c.agency_id, c.current_records, 0) for c in counts]
    return RotationStatus(current, following, tuple(counts))


def begin_rotation(
    store: LinkStore, configured_epoch: int, to_epoch: int, actor: str, now_us: int
) -> KeyRotationRow:
    """Name ``to_epoch`` as the next key epoch (audited)."""
    with store.write() as tx:
        row = tx.key_rotation()
        current = configured_epoch if row is None else row.current_epoch
        if row is not None and row.next_epoch is not None:
            raise FailedPreconditionError(
                f"a rotation from key epoch {current} to {row.next_epoch} is in progress; "
                "finish it first (linkage-admin epoch status, then epoch finish)"
            )
        if not current < to_epoch <= _MAX_EPOCH:
            raise InvalidInputError(
                "the rotation was not begun",
                problems=[
                    Problem(
                        "--to",
                        f"must be above the key epoch in force ({current}) and "
                        f"at most {_MAX_EPOCH}",
                    )
                ],
            )
        begun = KeyRotationRow(current, to_epoch, now_us)
        tx.save_key_rotation(begun)
        append_audit_entry(
            tx,
            actor,
            "key_epoch.begin",
            [f"key_epochs/{to_epoch}"],
            {"from_epoch": current, "to_epoch": to_epoch},
            now_us,
        )
        tx.record_index_changes([(ROTATION_MARK_NODE, False)])
    return begun


def finish_rotation(
    store: LinkStore,
    configured_epoch: int,
    actor: str,
    now_us: int,
    *,
    drop_old_only: Sequence[str] = (),
    relinker: DropRelinker | None = None,
) -> FinishedRotation:
    """Move every record onto its next-epoch CLK and token and delete the old epoch's,
    all or nothing (audited). ``drop_old_only``: agencies whose records only on the old
    epoch are withdrawn instead of refusing the finish, the links they leave re-clustered
    with ``relinker``'s clusterer. Without one only records with no edge to another record
    can be dropped (nothing to re-cluster); others refuse the finish."""
    with store.write() as tx:
        row = tx.key_rotation()
        if row is None or row.next_epoch is None:
            current = configured_epoch if row is None else row.current_epoch
            raise FailedPreconditionError(
                f"no rotation is in progress (key epoch {current} is in force); "
                "begin one with linkage-admin epoch begin --to N"
            )
        current, following = row.current_epoch, row.next_epoch
        counts = {c.agency_id: c for c in tx.epoch_counts(current, following)}
        unknown = [
            Problem("--drop-old-only", f"agency {name!r} is not enrolled")
            for name in drop_old_only
            if name not in counts
        ]
        if unknown:
            raise InvalidInputError("the rotation was not finished", problems=unknown)
        blocking = [
            Problem(
                f"agencies/{c.agency_id}",
                f"{c.old_only} of its {c.current_records} records are only on key epoch {current}",
            )
            for c in counts.values()
            if c.old_only and c.agency_id not in drop_old_only
        ]
        if blocking:
            raise FailedPreconditionError(
                f"the rotation to key epoch {following} was not finished: some agencies have "
                f"records only on key epoch {current}; they upload again (agency-client "
                "upload with [rotation] in agency.toml), or name each with --drop-old-only "
                "AGENCY to delete those records",
                problems=blocking,
            )
        names = sorted(set(drop_old_only))
        by_agency = {name: tx.old_epoch_only_nodes([name], current, following) for name in names}
        dropped_nodes = sorted(node for nodes in by_agency.values() for node in nodes)
        if relinker is None:
            clusterer: ComponentClusterer = greedy_one_per_agency
            if dropped_nodes and tx.edges_touching(dropped_nodes):
                raise FailedPreconditionError(
                    f"the rotation to key epoch {following} was not finished: records to "
                    "drop are linked to other records, and no clusterer was given to link "
                    "those again (linkage-admin epoch finish --config server.toml does)"
                )
        else:
            clusterer = relinker.clusterer(tx)
        events: list[EventRow] = []
        for name in names:
            events.extend(_withdraw_dropped(tx, name, by_agency[name], clusterer, now_us))
        tx.append_events(events)
        moved = tx.adopt_next_epoch(following, now_us)
        tx.save_key_rotation(KeyRotationRow(following, None, now_us))
        dropped = tuple((n, counts[n].old_only) for n in names if counts[n].old_only)
        sequence = append_audit_entry(
            tx,
            actor,
            "key_epoch.finish",
            [f"key_epochs/{following}"],
            {
                "from_epoch": current,
                "to_epoch": following,
                "records_moved": moved,
                "records_dropped": len(dropped_nodes),
                "dropped_agencies": [n for n, _ in dropped],
            },
            now_us,
        )
        tx.record_index_changes(
            [(node, False) for node in dropped_nodes] + [(ROTATION_MARK_NODE, False)]
        )
    return FinishedRotation(current, following, moved, dropped, sequence)


def abort_rotation(store: LinkStore, configured_epoch: int, actor: str, now_us: int) -> int:
    """Abandon the rotation in progress: delete every next-epoch CLK and pointer token and
    keep the epoch in force (audited). Returns how many records' next-epoch CLKs went."""
    with store.write() as tx:
        row = tx.key_rotation()
        if row is None or row.next_epoch is None:
            current = configured_epoch if row is None else row.current_epoch
            raise FailedPreconditionError(
                f"no rotation is in progress (key epoch {current} is in force)"
            )
        counts = tx.epoch_counts(row.current_epoch, row.next_epoch)
        dropped = sum(c.next_records for c in counts)
        tx.delete_all_next_epoch_records()
        tx.save_key_rotation(KeyRotationRow(row.current_epoch, None, now_us))
        append_audit_entry(
            tx,
            actor,
            "key_epoch.abort",
            [f"key_epochs/{row.next_epoch}"],
            {
                "epoch_in_force": row.current_epoch,
                "abandoned_epoch": row.next_epoch,
                "records_dropped": dropped,
            },
            now_us,
        )
        tx.record_index_changes([(ROTATION_MARK_NODE, False)])
    return dropped
