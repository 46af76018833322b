"""The batch join on a Dask distributed cluster: block-pair tasks, merged in canonical order.

The driver (the matcher) cuts the CLKs into blocks (:class:`~linkage.distributed.JoinPlan`),
scatters each block to the cluster once as a numpy array (Dask sends its buffer as is, no
pickled Python objects), submits one task per block pair, and merges the compact results.
Dask moves blocks between workers as tasks need them and reruns the tasks of a worker that
dies. Scattered blocks have no recipe to recompute them, so when a worker dies with the
only copy of one, the tasks that needed it are cancelled: the driver scatters that block
again and resubmits them, at most ``max_resubmits`` times each. Any other failure raises
a :class:`~linkage.errors.LinkageError` and returns nothing, so a caller that applies the
result afterwards (the service's rebuild) applies all of it or none.

Nothing here logs CLKs: task keys and logged task specs name block numbers only.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from linkage.distributed._plan import BlockPair, BlockPairResult, JoinPlan, merge_results
from linkage.distributed._probabilistic import LinkWithinReport, run_link_within
from linkage.distributed._settings import DaskJoinSettings
from linkage.distributed._tasks import join_block_pair
from linkage.errors import (
    ConfigError,
    FailedPreconditionError,
    InvalidInputError,
    LinkageError,
    UnavailableError,
)
from linkage.match import (
    CandidatePairs,
    HammingLsh,
    blocked_dice_join,
    blocked_dice_self_join,
    dice_join,
    dice_self_join,
)
from linkage.probabilistic import ProbabilisticLinker, TermFrequencies
from linkage.types import PackedClks

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = ["DaskJoiner", "JoinReport"]

_log = logging.getLogger("linkage.distributed")

#: ``on_progress(done_tasks, total_tasks)``, called in the driver as tasks finish.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class JoinReport:
    """What one distributed join did and what it sent.

    ``comparisons`` are the pairs whose similarity was computed: every pair of the
    pair space without blocking, the verified LSH candidates with it.
    ``scattered_bytes`` went from the driver to the cluster (blocks, re-scatters
    included), ``result_bytes`` came back (16 bytes a pair), and ``peer_bytes`` moved
    between workers (read from the workers' transfer counters before and after the
    join, so it also counts anything else the cluster moved meanwhile).
    """

    records_left: int
    records_right: int
    blocks: int
    tasks: int
    pair_space: int
    comparisons: int
    pairs: int
    scattered_bytes: int
    result_bytes: int
    peer_bytes: int
    resubmitted_tasks: int
    rescattered_blocks: int
    seconds: float

    @property
    def bytes_sent(self) -> int:
        """Every byte the join moved: scattered, between workers and back."""
        return self.scattered_bytes + self.peer_bytes + self.result_bytes

    @property
    def bytes_per_comparison(self) -> float:
        """Bytes moved per similarity computed."""
        return self.bytes_sent / self.comparisons if self.comparisons else 0.0


def _check_packed(clks: PackedClks, name: str) -> PackedClks:
    array = np.asarray(clks)
    if array.dtype != np.uint64 or array.ndim != 2 or array.shape[1] == 0:
        raise InvalidInputError(f"{name} must be packed CLKs, uint64[n, words]")
    return np.ascontiguousarray(array)


def _outgoing_bytes(dask_worker: Any) -> int:
    """Run on each worker: bytes it has sent to other workers so far."""
    return int(dask_worker.transfer_outgoing_bytes_total)


def _close_client(client: Client) -> None:
    try:
        client.close()  # type: ignore[no-untyped-call]
    except Exception:
        _log.debug("closing the Dask client failed", exc_info=True)


class DaskJoiner:
    """Runs similarity joins on the Dask cluster named by ``settings``.

    :meth:`self_join` and :meth:`pair_join` have the signatures and results of the
    service's in-process joins, :meth:`link_within` those of the probabilistic linker's
    ``link_within``; joins below ``settings.min_comparisons`` run in-process.
    :meth:`run_self_join` and :meth:`run_pair_join` always use the cluster and also
    return a :class:`JoinReport`, :meth:`run_link_within` a
    :class:`~linkage.distributed.LinkWithinReport`. The connection opens on first use
    and is kept; :meth:`close` ends it. Calls are serialised by the caller (the
    service's writer lock); one joiner is not meant for concurrent joins.
    """

    def __init__(
        self, settings: DaskJoinSettings, *, on_progress: ProgressCallback | None = None
    ) -> None:
        self._settings = settings
        self._on_progress = on_progress
        self._client: Client | None = None
        self._finalizer: weakref.finalize[Any, DaskJoiner] | None = None
        self.last_report: JoinReport | None = None
        self.last_link_report: LinkWithinReport | None = None

    @property
    def settings(self) -> DaskJoinSettings:
        """Where and how joins run."""
        return self._settings

    # ------------------------------------------------------------ connection
    def client(self) -> Client:
        """The connected Dask client (connecting on first use)."""
        if self._client is not None and self._client.status == "running":
            return self._client
        self.close()
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError(
                "[linkage.dask] needs the dask extra: pip install 'coresponder-linkage[dask]'"
            ) from None
        security = None
        if self._settings.uses_tls:
            from distributed.security import Security

            security = Security(  # type: ignore[no-untyped-call]
                tls_ca_file=str(self._settings.tls_ca_file),
                tls_client_cert=str(self._settings.tls_cert_file),
                tls_client_key=str(self._settings.tls_key_file),
                require_encryption=True,
            )
        try:
            client = Client(  # type: ignore[no-untyped-call]
                self._settings.scheduler,
                timeout=self._settings.connect_timeout_s,
                set_as_default=False,
                security=security,
            )
        except (OSError, TimeoutError) as exc:
            raise UnavailableError(
                f"cannot reach the Dask scheduler at {self._settings.scheduler}: "
                f"{type(exc).__name__}"
            ) from None
        self._client = client
        self._finalizer = weakref.finalize(self, _close_client, client)
        return client

    def close(self) -> None:
        """Disconnect from the cluster (the next join connects again)."""
        if self._finalizer is not None:
            self._finalizer()
        self._finalizer = None
        self._client = None

    # ------------------------------------------------------------ the joins
    def uses_cluster(self, pair_space: int) -> bool:
        """Whether a join of this pair space goes to the cluster."""
        return pair_space > 0 and pair_space >= self._settings.min_comparisons

    def self_join(
        self, clks: PackedClks, threshold: float, blocking: HammingLsh | None = None
    ) -> CandidatePairs:
        """Pairs ``i < j`` within one set: :func:`linkage.match.dice_self_join`, or the
        blocked join with ``blocking``; on the cluster when the join is big enough."""
        n = int(np.shape(clks)[0])
        if not self.uses_cluster(n * (n - 1) // 2):
            if blocking is None:
                return dice_self_join(clks, threshold)
            return blocked_dice_self_join(clks, threshold, blocking).pairs
        return self.run_self_join(clks, threshold, blocking)[0]

    def pair_join(
        self,
        left: PackedClks,
        right: PackedClks,
        threshold: float,
        blocking: HammingLsh | None = None,
    ) -> CandidatePairs:
        """Pairs between two sets: :func:`linkage.match.dice_join`, or the blocked join
        with ``blocking``; on the cluster when the join is big enough."""
        if not self.uses_cluster(int(np.shape(left)[0]) * int(np.shape(right)[0])):
            if blocking is None:
                return dice_join(left, right, threshold)
            return blocked_dice_join(left, right, threshold, blocking).pairs
        return self.run_pair_join(left, right, threshold, blocking)[0]

    def run_self_join(
        self, clks: PackedClks, threshold: float, blocking: HammingLsh | None = None
    ) -> tuple[CandidatePairs, JoinReport]:
        """The self-join on the cluster, and what it did."""
        array = _check_packed(clks, "clks")
        plan = JoinPlan.self_join(array.shape[0], self._settings.block_size)
        return self._run(plan, array, None, threshold, blocking)

    def run_pair_join(
        self,
        left: PackedClks,
        right: PackedClks,
        threshold: float,
        blocking: HammingLsh | None = None,
    ) -> tuple[CandidatePairs, JoinReport]:
        """The join of two sets on the cluster, and what it did."""
        a = _check_packed(left, "left")
        b = _check_packed(right, "right")
        if a.shape[1] != b.shape[1]:
            raise InvalidInputError("left and right CLKs differ in length")
        plan = JoinPlan.pair_join(a.shape[0], b.shape[0], self._settings.block_size)
        return self._run(plan, a, b, threshold, blocking)

    # ------------------------------------------------- probabilistic linkage
    def link_within(
        self,
        linker: ProbabilisticLinker,
        packed: PackedClks,
        frequencies: TermFrequencies | None = None,
    ) -> CandidatePairs:
        """``linker.link_within(packed, frequencies)``: on the cluster when the pair space
        within ``packed`` (``n (n - 1) / 2``) reaches ``min_comparisons``, in-process
        below it; the same pairs, probabilities and order either way."""
        n = int(np.shape(packed)[0])
        if not self.uses_cluster(n * (n - 1) // 2):
            return linker.link_within(packed, frequencies)
        return self.run_link_within(linker, packed, frequencies)[0]

    def run_link_within(
        self,
        linker: ProbabilisticLinker,
        packed: PackedClks,
        frequencies: TermFrequencies | None = None,
    ) -> tuple[CandidatePairs, LinkWithinReport]:
        """The probabilistic ``link_within`` on the cluster, and what it did
        (:func:`linkage.distributed.run_link_within`)."""
        pairs, report = run_link_within(
            self.client(),
            linker,
            packed,
            frequencies,
            timeout_s=self._settings.timeout_s,
            where=self._settings.scheduler,
            on_progress=self._on_progress,
        )
        self.last_link_report = report
        _log.info(
            "distributed probabilistic join: %d records, %d rule and %d scoring tasks, "
            "%d candidates, %d pairs, %.1f s",
            report.records,
            len(report.rule_tasks),
            len(report.score_tasks),
            report.candidates,
            report.pairs,
            report.seconds,
        )
        return pairs, report

    # ------------------------------------------------------------- the run
    def _run(
        self,
        plan: JoinPlan,
        left: PackedClks,
        right: PackedClks | None,
        threshold: float,
        blocking: HammingLsh | None,
    ) -> tuple[CandidatePairs, JoinReport]:
        started = time.perf_counter()
        client = self.client()
        run = _Run(client, plan, left, right, threshold, blocking, self._settings)
        try:
            peer_before = self._peer_counters(client)
            results = run.execute(self._on_progress)
            peer_after = self._peer_counters(client)
        except LinkageError:
            raise
        except (OSError, CancelledError, TimeoutError) as exc:
            raise UnavailableError(
                f"the distributed join on {self._settings.scheduler} failed "
                f"({type(exc).__name__}); nothing was applied"
            ) from None
        finally:
            run.release()
        pairs = merge_results(plan, results)
        report = JoinReport(
            records_left=plan.left_bounds[-1],
            records_right=(plan.left_bounds if plan.right_bounds is None else plan.right_bounds)[
                -1
            ],
            blocks=plan.blocks("left") + (0 if plan.is_self_join else plan.blocks("right")),
            tasks=len(plan.tasks),
            pair_space=plan.pair_space,
            comparisons=sum(result.comparisons for _, result in results),
            pairs=len(pairs),
            scattered_bytes=run.scattered_bytes,
            result_bytes=sum(result.nbytes for _, result in results),
            peer_bytes=sum(
                max(0, count - peer_before.get(worker, 0)) for worker, count in peer_after.items()
            ),
            resubmitted_tasks=run.resubmitted,
            rescattered_blocks=run.rescattered,
            seconds=time.perf_counter() - started,
        )
        self.last_report = report
        _log.info(
            "distributed join: %d tasks, %d comparisons, %d pairs, %.1f bytes/comparison, "
            "%d resubmitted, %.1f s",
            report.tasks,
            report.comparisons,
            report.pairs,
            report.bytes_per_comparison,
            report.resubmitted_tasks,
            report.seconds,
        )
        return pairs, report

    @staticmethod
    def _peer_counters(client: Client) -> dict[str, int]:
        counters: dict[str, int] = client.run(_outgoing_bytes)
        return counters


def _outcome(future: Future[Any]) -> BlockPairResult | BaseException | None:
    """A finished task's result, its error, or None when it was cancelled (an input
    was lost with a worker, possibly while the result was being fetched)."""
    try:
        if future.status == "error":
            error = future.exception()  # type: ignore[no-untyped-call]
            return error if isinstance(error, BaseException) else None
        result = future.result()
    except CancelledError:
        return None
    except Exception as exc:  # the task failed on a rerun after a lost result
        return exc
    finally:
        future.release()  # type: ignore[no-untyped-call]
    if not isinstance(result, BlockPairResult):
        return FailedPreconditionError("a Dask worker returned an unexpected result")
    return result


class _Run:
    """One join's futures: its scattered blocks and its block-pair tasks."""

    def __init__(
        self,
        client: Client,
        plan: JoinPlan,
        left: PackedClks,
        right: PackedClks | None,
        threshold: float,
        blocking: HammingLsh | None,
        settings: DaskJoinSettings,
    ) -> None:
        self.client = client
        self.plan = plan
        self.arrays = {"left": left, "right": left if right is None else right}
        self.threshold = threshold
        self.blocking = blocking
        self.settings = settings
        self.prefix = f"linkage-join-{uuid.uuid4().hex[:12]}"
        self.blocks: dict[tuple[str, int], Future[Any]] = {}
        self.tasks: dict[Future[Any], BlockPair] = {}
        self.scattered_bytes = 0
        self.resubmitted = 0
        self.rescattered = 0
        self._attempt = itertools.count(1)

    def _block(self, side: str, index: int) -> np.ndarray:
        side = "left" if self.plan.is_self_join else side
        return self.arrays[side][self.plan.block_rows(side, index)]

    def _side(self, side: str) -> str:
        return "left" if self.plan.is_self_join else side

    def scatter_all(self) -> None:
        wanted = sorted(
            {("left", t.left) for t in self.plan.tasks}
            | {(self._side("right"), t.right) for t in self.plan.tasks if not t.within}
        )
        blocks = [self._block(side, index) for side, index in wanted]
        if not blocks:
            return
        futures = self.client.scatter(blocks, hash=False)  # type: ignore[no-untyped-call]
        self.blocks.update(zip(wanted, futures, strict=True))
        self.scattered_bytes += sum(int(b.nbytes) for b in blocks)

    def block_future(self, side: str, index: int) -> Future[Any]:
        key = (self._side(side), index)
        future = self.blocks.get(key)
        if future is None or future.status != "finished":
            block = self._block(*key)
            future = self.client.scatter(block, hash=False)  # type: ignore[no-untyped-call]
            self.blocks[key] = future
            self.scattered_bytes += int(block.nbytes)
            self.rescattered += 1
        return future

    def submit(self, task: BlockPair) -> Future[Any]:
        left = self.block_future("left", task.left)
        right = None if task.within else self.block_future("right", task.right)
        future = self.client.submit(
            join_block_pair,
            left,
            right,
            self.threshold,
            self.blocking,
            key=f"{self.prefix}-{task.left}-{task.right}-{next(self._attempt)}",
            pure=False,
        )
        self.tasks[future] = task
        return future

    def execute(
        self, on_progress: ProgressCallback | None
    ) -> list[tuple[BlockPair, BlockPairResult]]:
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        self.scatter_all()
        pending = as_completed(  # type: ignore[no-untyped-call]
            [self.submit(task) for task in self.plan.tasks],
            loop=self.client.loop,
            timeout=self.settings.timeout_s,
        )
        total = len(self.plan.tasks)
        results: list[tuple[BlockPair, BlockPairResult]] = []
        resubmits: dict[BlockPair, int] = {}
        for future in pending:
            task = self.tasks.pop(future)
            outcome = _outcome(future)
            if isinstance(outcome, BlockPairResult):
                results.append((task, outcome))
                if on_progress is not None:
                    on_progress(len(results), total)
                continue
            if isinstance(outcome, KilledWorker):
                raise UnavailableError(
                    f"Dask workers died while running block pair ({task.left}, "
                    f"{task.right}) of the join; nothing was applied"
                ) from None
            if isinstance(outcome, BaseException):
                raise outcome
            # Cancelled: an input block was lost with its worker (or the cluster is gone).
            if self.client.status != "running":
                raise UnavailableError(
                    f"lost the connection to the Dask scheduler at {self.settings.scheduler} "
                    "during the join; nothing was applied"
                )
            resubmits[task] = resubmits.get(task, 0) + 1
            if resubmits[task] > self.settings.max_resubmits:
                raise UnavailableError(
                    f"block pair ({task.left}, {task.right}) of the join lost its inputs "
                    f"{resubmits[task]} times (workers died); nothing was applied"
                )
            self.resubmitted += 1
            _log.warning(
                "block pair (%d, %d) lost an input with a worker; scattering it again",
                task.left,
                task.right,
            )
            pending.add(self.submit(task))  # type: ignore[no-untyped-call]
        return results

    def release(self) -> None:
        """Drop every future this run holds (the cluster frees the blocks)."""
        futures = list(self.tasks) + list(self.blocks.values())
        self.tasks.clear()
        self.blocks.clear()
        if futures and self.client.status == "running":
            try:
                self.client.cancel(futures)  # type: ignore[no-untyped-call]
            except Exception:
                _log.debug("releasing the join's futures failed", exc_info=True)
