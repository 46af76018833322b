"""The distributed join on a real 2-worker LocalCluster: the same pairs and the same
links as in-process, and a worker killed mid-run never half-applies a rebuild."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from linkage.distributed import DaskJoiner, DaskJoinSettings
from linkage.errors import ResourceExhaustedError, UnavailableError
from linkage.match import (
    HammingLsh,
    blocked_dice_join,
    blocked_dice_self_join,
    dice_join,
    dice_self_join,
)
from linkage.service import LinkageService, LinkageSettings, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.distributed.conftest import Cluster
from tests.distributed.data import assert_same_pairs, noisy_population
from tests.service.factory import OPERATOR, SETTINGS, agency, batch, person, upsert, variant

pytestmark = pytest.mark.integration

AGENCIES = ("police", "valley-mhc", "er")
LSH = HammingLsh(bands=8, bits_per_band=16, seed=4)


def _joiner(cluster: Cluster, block_size: int, **kwargs: object) -> DaskJoiner:
    settings = DaskJoinSettings(cluster.address, block_size=block_size, min_comparisons=0)
    return DaskJoiner(settings, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the joins
def test_self_join_on_the_cluster_equals_in_process(cluster: Cluster) -> None:
    clks = noisy_population(3000, 11)
    joiner = _joiner(cluster, 700)  # five blocks, the last one short
    try:
        got, report = joiner.run_self_join(clks, 0.8)
        expected = dice_self_join(clks, 0.8)
        assert len(expected) > 1000
        assert_same_pairs(expected, got)
        assert (report.blocks, report.tasks) == (5, 15)
        assert report.comparisons == report.pair_space == 3000 * 2999 // 2
        assert report.scattered_bytes == clks.nbytes
        assert report.result_bytes == 16 * len(got)
        # Far below the 2 x 128 bytes of shipping both CLKs per comparison.
        assert 0 < report.bytes_per_comparison < 1.0

        blocked = blocked_dice_self_join(clks, 0.8, LSH)
        got, report = joiner.run_self_join(clks, 0.8, LSH)
        assert_same_pairs(blocked.pairs, got)
        assert report.comparisons == blocked.candidate_pairs < report.pair_space
        assert joiner.last_report == report
    finally:
        joiner.close()


def test_pair_join_on_the_cluster_equals_in_process(cluster: Cluster) -> None:
    clks = noisy_population(2500, 12)
    left, right = clks[:1100], clks[1100:]
    joiner = _joiner(cluster, 500)
    try:
        got, report = joiner.run_pair_join(left, right, 0.8)
        expected = dice_join(left, right, 0.8)
        assert len(expected) > 300
        assert_same_pairs(expected, got)
        assert report.tasks == 3 * 3
        assert report.comparisons == 1100 * 1400
        got, _ = joiner.run_pair_join(left, right, 0.8, LSH)
        assert_same_pairs(blocked_dice_join(left, right, 0.8, LSH).pairs, got)
    finally:
        joiner.close()


# --------------------------------------------------------- the service rebuild
def _records(seed: int, people: int) -> list[tuple[str, str, np.ndarray]]:
    """People across agencies with noisy copies: many pairs between 0.7 and 0.8."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(people):
        base = person(rng)
        for agency_id in AGENCIES:
            for copy in range(int(rng.integers(0, 3))):
                flips = int(rng.integers(0, 110))
                out.append((agency_id, f"{agency_id}-{p}-{copy}", variant(rng, base, flips)))
    return out


def _partition(store: SqliteLinkStore) -> set[frozenset[int]]:
    by_link: dict[int, set[int]] = {}
    for node, link in store.iter_node_links():
        by_link.setdefault(link, set()).add(node)
    return {frozenset(nodes) for nodes in by_link.values()}


def _edges(store: SqliteLinkStore) -> list[tuple[int, int, float]]:
    return sorted((e.node_a, e.node_b, e.score) for e in store.iter_edges())


@pytest.fixture(scope="module")
def linked_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store linked incrementally at threshold 0.8 (the "old links")."""
    path = tmp_path_factory.mktemp("dask-service") / "old.db"
    store = SqliteLinkStore(path)
    service = LinkageService(store, SETTINGS, ServiceLimits(max_batch_mutations=500))
    for agency_id in AGENCIES:
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    records = _records(21, 320)
    for agency_id in AGENCIES:
        mine = [upsert(key, bits) for a, key, bits in records if a == agency_id]
        service.write_batch(agency(agency_id), batch(agency_id, "b1", *mine))
    store.close()
    return path


@pytest.fixture
def stores(linked_store: Path, tmp_path: Path) -> Iterator[tuple[SqliteLinkStore, SqliteLinkStore]]:
    """Two copies of the linked store: one for the cluster, one for the in-process run."""
    copies = []
    for name in ("cluster.db", "local.db"):
        shutil.copy(linked_store, tmp_path / name)
        copies.append(SqliteLinkStore(tmp_path / name))
    yield copies[0], copies[1]
    for store in copies:
        store.close()


def _settings(blocking: HammingLsh | None) -> LinkageSettings:
    # A lower threshold than the old links': the rebuild changes many of them.
    return LinkageSettings(
        threshold=0.7,
        clk_bits=SETTINGS.clk_bits,
        key_epoch=SETTINGS.key_epoch,
        schema_fingerprint=SETTINGS.schema_fingerprint,
        blocking=blocking,
    )


@pytest.mark.parametrize("blocking", [None, LSH], ids=["exact", "blocked"])
def test_rebuild_on_the_cluster_gives_the_same_links_as_in_process(
    cluster: Cluster,
    stores: tuple[SqliteLinkStore, SqliteLinkStore],
    blocking: HammingLsh | None,
) -> None:
    on_cluster, local = stores
    old = _partition(local)
    joiner = _joiner(cluster, 150)
    try:
        distributed_run = LinkageService(
            on_cluster, _settings(blocking), ServiceLimits(), joiner=joiner
        ).rebuild(OPERATOR, "dask test")
        assert joiner.last_report is not None
        assert joiner.last_report.tasks > 10
    finally:
        joiner.close()
    local_run = LinkageService(local, _settings(blocking), ServiceLimits()).rebuild(
        OPERATOR, "in-process"
    )
    assert _partition(on_cluster) == _partition(local) != old
    assert _edges(on_cluster) == _edges(local)
    assert distributed_run.candidate_pair_count == local_run.candidate_pair_count > 500
    assert distributed_run.link_count == local_run.link_count


def test_a_worker_killed_mid_rebuild_never_half_applies_it(
    cluster: Cluster, stores: tuple[SqliteLinkStore, SqliteLinkStore]
) -> None:
    on_cluster, local = stores
    old_partition, old_edges = _partition(on_cluster), _edges(on_cluster)
    old_audit = sum(1 for _ in on_cluster.iter_audit())
    killed: list[int] = []

    def kill_on_first_result(done: int, total: int) -> None:
        if not killed:
            assert done < total
            killed.append(cluster.kill_one_worker())

    joiner = _joiner(cluster, 40, on_progress=kill_on_first_result)
    service = LinkageService(on_cluster, _settings(None), ServiceLimits(), joiner=joiner)
    try:
        service.rebuild(OPERATOR, "a worker dies")
    except UnavailableError:
        # Failed cleanly: the old links, edges and audit trail, untouched.
        assert _partition(on_cluster) == old_partition
        assert _edges(on_cluster) == old_edges
        assert sum(1 for _ in on_cluster.iter_audit()) == old_audit
    else:
        # Finished (lost blocks were scattered again): exactly the in-process links.
        LinkageService(local, _settings(None), ServiceLimits()).rebuild(OPERATOR, "local")
        assert _partition(on_cluster) == _partition(local) != old_partition
        assert _edges(on_cluster) == _edges(local)
    finally:
        joiner.close()
        cluster.wait_for_both_workers()
    assert killed
    assert service.verify_audit().ok


def test_a_task_failing_on_a_worker_fails_the_rebuild_cleanly(
    cluster: Cluster, stores: tuple[SqliteLinkStore, SqliteLinkStore]
) -> None:
    on_cluster, _ = stores
    old_partition, old_edges = _partition(on_cluster), _edges(on_cluster)
    # One sampled bit per band makes every block pair exceed the candidate budget.
    greedy = HammingLsh(bands=4, bits_per_band=1, seed=1, max_candidates=10)
    joiner = _joiner(cluster, 150)
    try:
        service = LinkageService(on_cluster, _settings(greedy), ServiceLimits(), joiner=joiner)
        with pytest.raises(ResourceExhaustedError, match="candidate pairs"):
            service.rebuild(OPERATOR, "too many candidates")
    finally:
        joiner.close()
    assert _partition(on_cluster) == old_partition
    assert _edges(on_cluster) == old_edges


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_an_unreachable_scheduler_fails_the_rebuild_cleanly(
    stores: tuple[SqliteLinkStore, SqliteLinkStore],
) -> None:
    on_cluster, _ = stores
    old_partition, old_edges = _partition(on_cluster), _edges(on_cluster)
    settings = DaskJoinSettings(
        f"tcp://127.0.0.1:{_free_port()}", min_comparisons=0, connect_timeout_s=1.0
    )
    service = LinkageService(
        on_cluster,
        LinkageSettings(
            threshold=0.7,
            clk_bits=SETTINGS.clk_bits,
            key_epoch=SETTINGS.key_epoch,
            schema_fingerprint=SETTINGS.schema_fingerprint,
            dask=settings,
        ),
        ServiceLimits(),
    )
    with pytest.raises(UnavailableError, match="cannot reach the Dask scheduler"):
        service.rebuild(OPERATOR, "no cluster")
    assert _partition(on_cluster) == old_partition
    assert _edges(on_cluster) == old_edges
