"""Ordered, bounded, multi-process mapping of chunks: all cores, deterministic output order.

``map_ordered(factory, chunks, workers=N)`` builds ``factory()`` once per worker process
(so caches stay warm across chunks), feeds it chunks and yields the results in input
order. At most ``2 * workers`` chunks are in flight, so a 1M-row input is never held in
memory. With ``workers == 1``, or for an input of only a few chunks, no process is started.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Protocol, TypeVar

__all__ = ["WorkerFactory", "default_workers", "map_ordered"]

T_contra = TypeVar("T_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")
R = TypeVar("R")


class WorkerFactory(Protocol[T_contra, R_co]):
    """A picklable object that builds the per-process chunk function."""

    def __call__(self) -> Callable[[T_contra], R_co]: ...


_worker: Callable[[object], object] | None = None


def _initialise(factory: WorkerFactory[object, object]) -> None:
    global _worker
    _worker = factory()


def _run(chunk: object) -> object:
    assert _worker is not None
    return _worker(chunk)


def default_workers() -> int:
    """The number of CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


def _context() -> multiprocessing.context.BaseContext:
    # forkserver avoids fork-after-threads hazards (tqdm starts a monitor thread) on Linux.
    name = "forkserver" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(name)


def map_ordered(
    factory: WorkerFactory[T, R],
    chunks: Iterable[T],
    *,
    workers: int | None = None,
    inline_below: int = 4,
) -> Iterator[R]:
    """Yield ``factory()(chunk)`` for every chunk, in order, using ``workers`` processes.

    Inputs of fewer than ``inline_below`` chunks run in this process: starting worker
    processes costs about a second, more than encoding a few chunks takes.
    """
    count = default_workers() if workers is None else workers
    if count < 1:
        raise ValueError("workers must be >= 1")
    iterator = iter(chunks)
    head: list[T] = []
    for chunk in iterator:
        head.append(chunk)
        if count == 1 or len(head) >= max(2, inline_below):
            break
    if not head:
        return
    if count == 1 or len(head) < max(2, inline_below):
        work = factory()
        for chunk in head:
            yield work(chunk)
        for chunk in iterator:
            yield work(chunk)
        return
    pending: deque[Future[R]] = deque()
    with ProcessPoolExecutor(
        max_workers=count,
        mp_context=_context(),
        initializer=_initialise,  # type: ignore[arg-type]
        initargs=(factory,),  # type: ignore[arg-type]
    ) as pool:

        def submit(chunk: T) -> Future[R]:
            return pool.submit(_run, chunk)  # type: ignore[arg-type]

        for chunk in head:
            pending.append(submit(chunk))
        for chunk in iterator:
            if len(pending) >= 2 * count:
                yield pending.popleft().result()
            pending.append(submit(chunk))
        while pending:
            yield pending.popleft().result()
