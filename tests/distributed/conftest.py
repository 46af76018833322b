"""A 2-worker Dask LocalCluster (separate processes) shared by the cluster tests."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

import distributed
import pytest

from linkage.match import warm_up


@dataclass
class Cluster:
    """The running cluster and a control client for the tests (not the joiner's)."""

    address: str
    control: object  # distributed.Client

    def worker_pids(self) -> list[int]:
        pids: dict[str, int] = self.control.run(os.getpid)  # type: ignore[attr-defined]
        return sorted(pids.values())

    def kill_one_worker(self) -> int:
        """SIGKILL one worker process (its nanny starts a new one); returns its pid."""
        pid = self.worker_pids()[-1]
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_for_both_workers(self) -> None:
        self.control.wait_for_workers(2, timeout=120)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    # Compile (or load) the numba kernels here first, so that the workers load them
    # from the on-disk cache instead of compiling them twice at once.
    warm_up()
    with (
        distributed.LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # One numba thread per worker: two workers share this 2-core machine.
            env={"NUMBA_NUM_THREADS": "1"},
        ) as local,
        distributed.Client(local, set_as_default=False) as control,  # type: ignore[no-untyped-call]
    ):
        control.run(warm_up)
        yield Cluster(local.scheduler_address, control)
