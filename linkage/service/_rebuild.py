"""Rebuilds and the automatic refit: fit, relink everything, record the run.

:meth:`Rebuilds.rebuild` rebuilds every link from scratch and replaces the old links in
one transaction; in probabilistic mode with ``refit_on_rebuild`` it first refits the
Fellegi-Sunter model (and, with ``blocking = "auto"``, the blocking plan) on the records
held, and the run it saves records the model, so every process of the store takes it
(:meth:`~linkage.service._state.ServiceState.refresh_model`).

The automatic refit: after each committed batch the facade asks
:meth:`Rebuilds.refit_if_due`; when :meth:`Rebuilds.refit_due` names a reason (the index
grew by ``refit_growth`` since the last fit, or holds ``min_fit_records`` for a first
one), a rebuild by the actor ``matcher`` runs in that call while the index is small, or
in one background thread beyond ``background_refit_above`` records.
:meth:`Rebuilds.wait_for_refit` waits for that thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping

import numpy as np

from linkage.arrays import unique_counts, unique_sorted
from linkage.errors import InvalidInputError, Problem, StorageError
from linkage.match import LinkUpdate, pack_clk_bytes
from linkage.pki import Principal
from linkage.probabilistic import BlockingPlan, ProbabilisticLinker, TermFrequencies
from linkage.service._linking import Linking, edge, int_pairs, link_event
from linkage.service._probabilistic import fit_linker
from linkage.service._state import ServiceState
from linkage.store import EdgeRow, EventKind, EventRow, LinkageRunRow
from linkage.types import PackedClks

__all__ = ["MATCHER_ACTOR", "Rebuilds"]

_log = logging.getLogger("linkage.service")

#: Who the audit log names for the matcher's own automatic work (refits).
MATCHER_ACTOR = "matcher"
_MAX_REASON = 500
_PACK_CHUNK = 65536


@dataclasses.dataclass(slots=True)
class _FullGraph:
    """Every linkable record, every candidate edge, and what scored them."""

    nodes: list[int]
    edges: list[EdgeRow]
    linker: ProbabilisticLinker | None
    frequencies: TermFrequencies | None
    #: records the model was refitted on (0: not refitted)
    fitted: int
    plan: BlockingPlan | None


def _link_counts(update: LinkUpdate[int], old: Mapping[int, int]) -> tuple[int, int]:
    """Links of two or more records after ``update``, and links that gained or lost a
    record (``old``: each node's link before)."""
    assert update.arrays is not None  # Linking.update_links: int link IDs
    _, new_nodes, new_links = update.arrays
    _, sizes = unique_counts(new_links)
    old_nodes = np.fromiter(old.keys(), dtype=np.int64, count=len(old))
    old_links = np.fromiter(old.values(), dtype=np.int64, count=len(old))
    moved = np.concatenate(
        [
            new_links[_differs(new_nodes, new_links, old_nodes, old_links)],
            old_links[_differs(old_nodes, old_links, new_nodes, new_links)],
        ]
    )
    return int(np.count_nonzero(sizes > 1)), int(unique_sorted(moved).shape[0])


def _differs(
    nodes: np.ndarray, links: np.ndarray, other_nodes: np.ndarray, other_links: np.ndarray
) -> np.ndarray:
    """Whether each node's link differs from its link in the other assignment (or the
    node has none there); a node listed twice there counts with its last link."""
    if other_nodes.shape[0] == 0:
        return np.ones(nodes.shape[0], dtype=np.bool_)
    # the last of equal nodes: a stable sort of the reversed arrays puts it first
    order = np.argsort(other_nodes[::-1], kind="stable")
    keys, values = other_nodes[::-1][order], other_links[::-1][order]
    first = np.ones(keys.shape[0], dtype=np.bool_)
    first[1:] = keys[1:] != keys[:-1]
    keys, values = keys[first], values[first]
    at = np.minimum(np.searchsorted(keys, nodes), keys.shape[0] - 1)
    differs: np.ndarray = (keys[at] != nodes) | (values[at] != links)
    return differs


class Rebuilds:
    """Rebuilds and automatic refits of one service."""

    def __init__(self, state: ServiceState, linking: Linking) -> None:
        self._state = state
        self._linking = linking
        self._refit_thread: threading.Thread | None = None

    # -------------------------------------------------------------- rebuild
    def rebuild(self, actor: Principal | str, reason: str) -> LinkageRunRow:
        """Rebuild every link from scratch and replace the old links atomically.

        The partition equals the one incremental linkage maintains (both
        cluster each connected component of the same candidate graph); link
        IDs carry over to the groups that keep most of their records.
        """
        if len(reason) > _MAX_REASON:
            raise InvalidInputError(
                "invalid rebuild", problems=[Problem("reason", "must be at most 500 characters")]
            )
        state = self._state
        settings = state.settings
        started = time.perf_counter()
        with state.writer:
            start = state.clock()
            seen = state.store.last_index_change()
            state.refresh_model()
            graph = self._full_graph()
            with state.store.write() as tx:
                others = tx.index_changes_since(seen)
                if others:
                    # Another matcher process changed the index meanwhile: redo
                    # the join while this transaction holds the writer lock.
                    state.catch_up(tx.index_changes_since(state.seen_change))
                    graph = self._full_graph()
                now = state.clock()
                tx.delete_all_edges()
                tx.insert_edges(graph.edges)
                linker = graph.linker
                clusterer = self._linking.clusterer_for(linker, graph.frequencies, {})
                update, old = self._linking.update_links(
                    tx, graph.nodes, graph.edges, {}, now, clusterer
                )
                link_count, changed = _link_counts(update, old)
                run = LinkageRunRow(
                    run_id=0,
                    start_time_us=start,
                    end_time_us=now,
                    record_count=len(graph.nodes),
                    candidate_pair_count=len(graph.edges),
                    link_count=link_count,
                    changed_link_count=changed,
                    threshold=settings.threshold if linker is None else linker.threshold,
                    reason=reason,
                    model=settings.linkage_model_json(
                        None if linker is None else linker.model,
                        fitted_records=graph.fitted or state.fit_records or None,
                        blocking_plan=None if graph.plan is None else graph.plan.to_dict(),
                        threshold=None if linker is None else linker.threshold,
                    ),
                )
                run_id = tx.save_linkage_run(run)
                tx.append_events(
                    [
                        EventRow(EventKind.LINKS_REBUILT, now, record_count=len(graph.nodes)),
                        *(link_event(e, now, None, None) for e in update.events),
                    ]
                )
                state.audit(
                    tx,
                    actor,
                    "linkage.rebuild",
                    [f"linkageRuns/{run_id}"],
                    {"records": len(graph.nodes), "links": link_count, "changed_links": changed},
                    now,
                )
            if linker is not None:
                state.adopt_model(linker, run_id, graph.plan, graph.fitted)
        try:
            state.store.refresh_statistics()
        except StorageError as exc:  # the rebuild is committed; lookups work, maybe slower
            _log.warning("after the rebuild, the store's statistics were not refreshed: %s", exc)
        state.observer.links_rebuilt(len(graph.nodes), time.perf_counter() - started)
        state.observer.index_size(len(state.mirror), link_count)
        return dataclasses.replace(run, run_id=run_id)

    def _full_graph(self) -> _FullGraph:
        """Every linkable record of the linkage space, all candidate pairs, and (in
        probabilistic mode) the linker that scored them: with a model refitted on these
        records when the settings ask for it and enough are held; the term frequencies
        it scored with and the records it was fitted on (0: not refitted).

        CLKs are packed chunk by chunk as they stream from the store, so the
        peak is the packed array (``clk_bits / 8`` bytes a record), not a list
        of Python byte strings.
        """
        state = self._state
        settings = state.settings
        node_list: list[int] = []
        chunks: list[PackedClks] = []
        pending: list[bytes] = []
        bits = settings.clk_bits
        for record in state.store.iter_index_records(
            settings.key_epoch, settings.schema_fingerprint
        ):
            node_list.append(record.node_id)
            pending.append(record.clk)
            if len(pending) == _PACK_CHUNK:
                chunks.append(pack_clk_bytes(pending, bits))
                pending = []
        if pending:
            chunks.append(pack_clk_bytes(pending, bits))
        packed = np.concatenate(chunks) if chunks else np.zeros((0, bits // 64), dtype=np.uint64)
        del chunks
        linker = state.linker
        plan = state.blocking_plan
        probabilistic = settings.probabilistic
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
                    settings.threshold,
                    auto_threshold=settings.auto_threshold,
                )
                linker, plan = result.linker, result.plan
                fitted = int(packed.shape[0])
            except InvalidInputError as exc:
                _log.warning("refitting the linkage model failed, keeping it: %s", exc.message)
        if linker is None:
            pairs, frequencies = self._linking.self_join(packed), None
        else:
            segments = [s for s in linker.model.term_frequency_segments() if s is not None]
            frequencies = TermFrequencies.of(packed, linker.layout, segments) if segments else None
            pairs = self._linking.link_within(linker, packed, frequencies)
        edges = [edge(node_list[a], node_list[b], score) for a, b, score in int_pairs(pairs)]
        return _FullGraph(node_list, edges, linker, frequencies, fitted, plan)

    # ---------------------------------------------------------- automatic refit
    def refit_due(self) -> str | None:
        """Why the model should be refitted now (the index grew by the configured factor
        since the last fit, or holds enough records for a first one), else None."""
        state = self._state
        probabilistic = state.settings.probabilistic
        if probabilistic is None or not probabilistic.auto_refit:
            return None
        held = len(state.mirror)
        if held < probabilistic.min_fit_records:
            return None
        last = state.fit_records
        if last and held < probabilistic.refit_growth * last:
            return None
        before = f"{last} at the last fit" if last else "the shipped prior model until now"
        return f"automatic refit: {held} linkable records, {before}"

    def refit_if_due(self) -> None:
        """Refit the model and relink with it when :meth:`refit_due` says so: in the
        batch's own call while the index is small, in a background thread beyond
        ``background_refit_above`` records (one at a time)."""
        reason = self.refit_due()
        probabilistic = self._state.settings.probabilistic
        if reason is None or probabilistic is None:
            return
        if len(self._state.mirror) <= probabilistic.background_refit_above:
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
            run = self.rebuild(MATCHER_ACTOR, reason)
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
