"""The probabilistic rebuild's ``link_within`` on a Dask distributed cluster.

:meth:`ProbabilisticLinker.link_within` finds the candidate pairs within one set (the
union of every blocking rule's ``pairs_within``), scores them with the Fellegi-Sunter model
and keeps those at or above the threshold, best first. Here the same three steps run as:

1. the packed records, the linker and the term frequencies are scattered to every worker
   once (each worker holds its own copy, so a task never waits for a transfer, and a dead
   worker's tasks rerun on another one that holds the inputs);
2. one task per blocking rule: that rule's ``pairs_within``, returned as sorted distinct
   pair codes ``left * n + right`` (8 bytes a pair);
3. the driver merges each rule's codes into the union as its task finishes (distinct,
   ascending: the codes ``BlockingRules.candidate_codes_within`` gives in-process), cuts
   the union into chunks and sends each chunk to a scoring task, which returns only the
   pairs at or above the threshold with their match probabilities;
4. the driver orders the kept pairs as ``ProbabilisticLinker._keep`` does (probability
   descending, then left, then right).

Every blocking rule decides a pair from its two records alone, and every pair's
probability depends on its two records (and the term frequencies) alone, so the result is
the in-process one: the same pairs, the same probabilities bit for bit, the same order
(tests compare all three). Any failure raises a :class:`~linkage.errors.LinkageError` and
returns nothing, so the service's rebuild applies all of it or none.

Nothing here logs CLKs: task keys name rule and chunk numbers only.
"""

from __future__ import annotations

import itertools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from linkage.arrays import unique_sorted
from linkage.errors import FailedPreconditionError, InvalidInputError, UnavailableError
from linkage.match import CandidatePairs
from linkage.match._blocking import merge_unique
from linkage.probabilistic import ProbabilisticLinker, TermFrequencies
from linkage.probabilistic._linker import keep_in_order
from linkage.types import Float64Array, Int64Array, PackedClks

if TYPE_CHECKING:
    from distributed import Client, Future

__all__ = [
    "LinkWithinReport",
    "RuleResult",
    "ScoreResult",
    "TaskTime",
    "rule_pair_codes",
    "run_link_within",
    "score_chunk",
]

_log = logging.getLogger("linkage.distributed")

#: Most candidate pairs one scoring task scores (about 200 bytes a pair of temporaries
#: while it scores: 200 MB).
SCORE_CHUNK_MAX = 1 << 20
#: Fewest candidate pairs worth a scoring task of their own.
SCORE_CHUNK_MIN = 50_000
#: Scoring tasks per worker thread (at least), so that one slow task does not leave the
#: other workers idle at the end.
SCORE_TASKS_PER_THREAD = 4


@dataclass(frozen=True, slots=True)
class TaskTime:
    """How long one task ran on its worker: wall seconds and the worker process's CPU
    seconds (with one task thread and one numba thread per worker, the task's own)."""

    name: str
    seconds: float
    cpu_seconds: float


@dataclass(frozen=True, slots=True, eq=False)
class RuleResult:
    """One blocking rule's pairs within the set: distinct codes ``left * n + right``,
    ascending (``int64``)."""

    codes: Int64Array
    seconds: float
    cpu_seconds: float


@dataclass(frozen=True, slots=True, eq=False)
class ScoreResult:
    """One chunk's pairs at or above the threshold: their codes (ascending, as sent) and
    match probabilities."""

    codes: Int64Array
    probabilities: Float64Array
    scored: int
    seconds: float
    cpu_seconds: float


@dataclass(frozen=True, slots=True)
class LinkWithinReport:
    """What one distributed ``link_within`` did, sent and spent.

    ``rule_tasks`` and ``score_tasks`` hold each task's time on its worker (the benchmark
    projects cluster sizes from them); ``union_seconds`` (merging each rule's codes into
    the union as its task finishes, while later ones may still run) and
    ``order_seconds`` (the final ordering) are the driver's own steps.
    ``scattered_bytes``: the records (one copy a worker) and the candidate codes sent to
    the scoring tasks (the linker and frequencies are not counted); ``result_bytes``: the
    rules' codes and the kept pairs that came back.
    """

    records: int
    workers: int
    rule_candidates: tuple[int, ...]
    candidates: int
    pairs: int
    rule_tasks: tuple[TaskTime, ...]
    score_tasks: tuple[TaskTime, ...]
    scatter_seconds: float
    union_seconds: float
    order_seconds: float
    scattered_bytes: int
    result_bytes: int
    seconds: float

    @property
    def task_cpu_seconds(self) -> float:
        """CPU seconds of every task together."""
        return sum(t.cpu_seconds for t in (*self.rule_tasks, *self.score_tasks))

    @property
    def task_seconds(self) -> float:
        """Wall seconds of every task together."""
        return sum(t.seconds for t in (*self.rule_tasks, *self.score_tasks))


# ------------------------------------------------------------------ the tasks
def rule_pair_codes(packed: PackedClks, linker: ProbabilisticLinker, rule_index: int) -> RuleResult:
    """Task: blocking rule ``rule_index``'s pairs ``i < j`` as distinct ascending codes
    ``i * n + j`` (what ``_union`` sorts)."""
    started, cpu = time.perf_counter(), time.process_time()
    rule = linker.blocking.rules[rule_index]
    pairs = rule.pairs_within(packed, linker.layout)
    width = np.int64(packed.shape[0])
    codes = unique_sorted(pairs[0].astype(np.int64) * width + pairs[1].astype(np.int64))
    return RuleResult(
        codes=np.ascontiguousarray(codes, dtype=np.int64),
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu,
    )


def score_chunk(
    packed: PackedClks,
    linker: ProbabilisticLinker,
    frequencies: TermFrequencies | None,
    codes: Int64Array,
) -> ScoreResult:
    """Task: the match probabilities of the pairs ``codes`` (``left * n + right``); only
    the pairs at or above the linker's threshold come back."""
    started, cpu = time.perf_counter(), time.process_time()
    width = packed.shape[0]
    left, right = codes // width, codes % width
    probabilities = linker.score(packed, packed, left, right, frequencies)
    keep = probabilities >= linker.threshold
    return ScoreResult(
        codes=np.ascontiguousarray(codes[keep], dtype=np.int64),
        probabilities=np.ascontiguousarray(probabilities[keep], dtype=np.float64),
        scored=int(codes.shape[0]),
        seconds=time.perf_counter() - started,
        cpu_seconds=time.process_time() - cpu,
    )


def _chunk_bounds(candidates: int, threads: int) -> list[int]:
    """Chunk boundaries: at most :data:`SCORE_CHUNK_MAX` pairs a chunk, at least
    :data:`SCORE_TASKS_PER_THREAD` chunks a worker thread where each keeps
    :data:`SCORE_CHUNK_MIN` pairs."""
    if candidates == 0:
        return [0]
    wanted = max(
        -(-candidates // SCORE_CHUNK_MAX),
        min(SCORE_TASKS_PER_THREAD * max(1, threads), candidates // SCORE_CHUNK_MIN),
        1,
    )
    return [candidates * k // wanted for k in range(wanted + 1)]


# ------------------------------------------------------------------ the driver
def _result(future: Future[Any], kind: type[Any]) -> Any:
    try:
        result = future.result()
    finally:
        future.release()  # type: ignore[no-untyped-call]
    if not isinstance(result, kind):
        raise FailedPreconditionError("a Dask worker returned an unexpected result")
    return result


def run_link_within(
    client: Client,
    linker: ProbabilisticLinker,
    packed: PackedClks,
    frequencies: TermFrequencies | None,
    *,
    timeout_s: float,
    where: str,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[CandidatePairs, LinkWithinReport]:
    """``linker.link_within(packed, frequencies)`` on the cluster behind ``client``, and
    what it did. ``where`` names the cluster in errors."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    started = time.perf_counter()
    array = np.ascontiguousarray(packed)
    layout = linker.layout
    if array.dtype != np.uint64 or array.ndim != 2 or array.shape[1] != layout.total_words:
        raise InvalidInputError(f"packed must be uint64[n, {layout.total_words}] packed records")
    linker.blocking.check(layout)
    n = int(array.shape[0])
    if n < 2:
        return CandidatePairs.empty(), _empty_report(n, time.perf_counter() - started)
    prefix = f"linkage-prob-{uuid.uuid4().hex[:12]}"
    deadline = started + timeout_s
    held: list[Future[Any]] = []  # scattered inputs
    pending: set[Future[Any]] = set()  # tasks whose result was not taken yet
    try:
        workers = len(client.scheduler_info()["workers"])
        threads = sum(client.nthreads().values())  # type: ignore[no-untyped-call]
        scatter_started = time.perf_counter()
        inputs = client.scatter(  # type: ignore[no-untyped-call]
            [array, linker] if frequencies is None else [array, linker, frequencies],
            hash=False,
            broadcast=True,
        )
        held.extend(inputs)
        packed_f, linker_f = inputs[0], inputs[1]
        frequencies_f = None if frequencies is None else inputs[2]
        scatter_seconds = time.perf_counter() - scatter_started
        scattered = max(1, workers) * int(array.nbytes)
        rules = linker.blocking.rules
        total_tasks = len(rules)
        done = 0

        # one task per blocking rule
        rule_futures = {
            client.submit(
                rule_pair_codes, packed_f, linker_f, index, key=f"{prefix}-rule-{index}", pure=False
            ): index
            for index in range(len(rules))
        }
        pending.update(rule_futures)
        codes: Int64Array = np.empty(0, np.int64)
        union_seconds = 0.0
        result_bytes = 0
        rule_counts = [0] * len(rules)
        rule_times: list[TaskTime] = [TaskTime("", 0.0, 0.0)] * len(rules)
        for future in as_completed(  # type: ignore[no-untyped-call]
            list(rule_futures), loop=client.loop, timeout=_left(deadline)
        ):
            index = rule_futures[future]
            pending.discard(future)
            result: RuleResult = _result(future, RuleResult)
            rule_counts[index] = int(result.codes.shape[0])
            result_bytes += int(result.codes.nbytes)
            # the union, a rule at a time (the peak is the union and one rule's codes)
            union_started = time.perf_counter()
            codes = merge_unique(codes, result.codes)
            union_seconds += time.perf_counter() - union_started
            rule_times[index] = TaskTime(f"rule-{index}", result.seconds, result.cpu_seconds)
            done += 1
            if on_progress is not None:
                on_progress(done, total_tasks)

        # scoring tasks over chunks of the candidates
        bounds = _chunk_bounds(int(codes.shape[0]), threads)
        chunks = [np.ascontiguousarray(codes[a:b]) for a, b in itertools.pairwise(bounds)]
        total_tasks += len(chunks)
        chunk_futures: dict[Future[Any], int] = {}
        chunk_inputs = (
            client.scatter(chunks, hash=False)  # type: ignore[no-untyped-call]
            if chunks
            else []
        )
        held.extend(chunk_inputs)
        scattered += sum(int(chunk.nbytes) for chunk in chunks)
        for index, chunk_f in enumerate(chunk_inputs):
            future = client.submit(
                score_chunk,
                packed_f,
                linker_f,
                frequencies_f,
                chunk_f,
                key=f"{prefix}-score-{index}",
                pure=False,
            )
            chunk_futures[future] = index
            pending.add(future)
        del chunks
        kept: list[ScoreResult | None] = [None] * len(chunk_futures)
        for future in as_completed(  # type: ignore[no-untyped-call]
            list(chunk_futures), loop=client.loop, timeout=_left(deadline)
        ):
            pending.discard(future)
            kept[chunk_futures[future]] = _result(future, ScoreResult)
            done += 1
            if on_progress is not None:
                on_progress(done, total_tasks)
    except KilledWorker:
        raise UnavailableError(
            f"Dask workers died while running the probabilistic join on {where}; "
            "nothing was applied"
        ) from None
    except (OSError, CancelledError, TimeoutError) as exc:
        raise UnavailableError(
            f"the distributed probabilistic join on {where} failed ({type(exc).__name__}); "
            "nothing was applied"
        ) from None
    finally:
        _release(client, [*pending, *held])

    results = [r for r in kept if r is not None]
    order_started = time.perf_counter()
    kept_codes = np.concatenate([r.codes for r in results]) if results else np.empty(0, np.int64)
    probabilities = (
        np.concatenate([r.probabilities for r in results]) if results else np.empty(0, np.float64)
    )
    pairs = keep_in_order(kept_codes // n, kept_codes % n, probabilities, linker.threshold)
    order_seconds = time.perf_counter() - order_started
    report = LinkWithinReport(
        records=n,
        workers=workers,
        rule_candidates=tuple(rule_counts),
        candidates=int(codes.shape[0]),
        pairs=len(pairs),
        rule_tasks=tuple(rule_times),
        score_tasks=tuple(
            TaskTime(f"score-{i}", r.seconds, r.cpu_seconds) for i, r in enumerate(results)
        ),
        scatter_seconds=scatter_seconds,
        union_seconds=union_seconds,
        order_seconds=order_seconds,
        scattered_bytes=scattered,
        result_bytes=result_bytes
        + sum(int(r.codes.nbytes + r.probabilities.nbytes) for r in results),
        seconds=time.perf_counter() - started,
    )
    return pairs, report


def _left(deadline: float) -> float:
    """Seconds left until ``deadline`` (a little, once it has passed: the wait then
    times out at once)."""
    return max(0.001, deadline - time.perf_counter())


def _empty_report(n: int, seconds: float) -> LinkWithinReport:
    return LinkWithinReport(
        records=n,
        workers=0,
        rule_candidates=(),
        candidates=0,
        pairs=0,
        rule_tasks=(),
        score_tasks=(),
        scatter_seconds=0.0,
        union_seconds=0.0,
        order_seconds=0.0,
        scattered_bytes=0,
        result_bytes=0,
        seconds=seconds,
    )


def _release(client: Client, futures: Sequence[Future[Any]]) -> None:
    """Drop every future of the run (the cluster frees the records and chunks)."""
    if futures and client.status == "running":
        try:
            client.cancel(list(futures))  # type: ignore[no-untyped-call]
        except Exception:
            _log.debug("releasing the probabilistic join's futures failed", exc_info=True)
