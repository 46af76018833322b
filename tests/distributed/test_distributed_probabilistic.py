"""The probabilistic ``link_within`` (the rebuild's join) on a 2-worker LocalCluster: the
same pairs, probabilities (bit for bit) and order as in-process, and the same rebuild."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest

import linkage.distributed._probabilistic as distributed_probabilistic
from linkage.distributed import DaskJoiner, DaskJoinSettings
from linkage.errors import ResourceExhaustedError
from linkage.match import CandidatePairs, HammingLsh, pack_clk_bytes
from linkage.probabilistic import (
    BlockingRules,
    ExactRule,
    LshRule,
    ProbabilisticLinker,
    TermFrequencies,
    default_blocking,
)
from linkage.service import (
    LinkageService,
    RecordUpsert,
    ServiceLimits,
    WriteBatch,
    prior_model,
)
from linkage.store import SqliteLinkStore
from tests.distributed.conftest import Cluster
from tests.distributed.data import assert_same_pairs
from tests.service.factory import OPERATOR, agency, consent
from tests.service.prob_factory import LAYOUT, SEGMENTED_BITS, segmented_records, with_probabilistic

AGENCIES = ("police", "valley-mhc", "er")


@cache
def _packed() -> np.ndarray:
    """About 2,900 realistic segmented records (1,500 synthetic people, several agencies)."""
    records = segmented_records(1500, 5)
    packed: np.ndarray = pack_clk_bytes([r.clk for r in records], SEGMENTED_BITS)
    return packed


def _frequencies(linker: ProbabilisticLinker, packed: np.ndarray) -> TermFrequencies | None:
    segments = [s for s in linker.model.term_frequency_segments() if s is not None]
    return TermFrequencies.of(packed, LAYOUT, segments) if segments else None


def _joiner(cluster: Cluster, **kwargs: object) -> DaskJoiner:
    return DaskJoiner(DaskJoinSettings(cluster.address, min_comparisons=0, **kwargs))  # type: ignore[arg-type]


MIXED = BlockingRules(
    (
        LshRule(("record",), HammingLsh(bands=24, bits_per_band=20, seed=3)),
        ExactRule(("date_of_birth",)),
        ExactRule(("given_name", "surname"), unordered=True),
        LshRule(("surname", "date_of_birth"), HammingLsh(bands=16, bits_per_band=24, seed=4)),
        ExactRule(("phone",)),
    )
)


@pytest.mark.parametrize(
    "blocking",
    [MIXED, default_blocking(True), default_blocking(True, scale="large")],
    ids=["exact-and-lsh", "default", "large"],
)
def test_link_within_on_the_cluster_equals_in_process(
    cluster: Cluster, blocking: BlockingRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small scoring chunks, so that the candidates are scored by many tasks
    monkeypatch.setattr(distributed_probabilistic, "SCORE_CHUNK_MIN", 100)
    packed = _packed()
    linker = ProbabilisticLinker(LAYOUT, prior_model(True, LAYOUT), blocking, 0.5)
    frequencies = _frequencies(linker, packed)
    expected = linker.link_within(packed, frequencies)
    progress: list[tuple[int, int]] = []
    joiner = DaskJoiner(
        DaskJoinSettings(cluster.address, min_comparisons=0),
        on_progress=lambda done, total: progress.append((done, total)),
    )
    try:
        got, report = joiner.run_link_within(linker, packed, frequencies)
    finally:
        joiner.close()
    assert len(expected) > 1000
    assert_same_pairs(expected, got)
    assert report.records == packed.shape[0]
    assert report.pairs == len(expected)
    assert len(report.rule_tasks) == len(blocking.rules)
    assert len(report.rule_candidates) == len(blocking.rules)
    assert report.candidates == len(linker.candidate_pairs_within(packed)[0])
    assert max(report.rule_candidates) <= report.candidates <= sum(report.rule_candidates)
    assert len(report.score_tasks) == 8  # 4 a worker thread
    assert report.task_cpu_seconds > 0
    assert report.scattered_bytes >= 2 * packed.nbytes  # the records to both workers
    assert progress[-1] == (len(blocking.rules) + 8, len(blocking.rules) + 8)
    assert joiner.last_link_report is report


def test_link_within_without_frequencies_and_without_candidates(cluster: Cluster) -> None:
    packed = _packed()
    linker = ProbabilisticLinker(LAYOUT, prior_model(True, LAYOUT), MIXED, 0.5)
    joiner = _joiner(cluster)
    try:
        assert_same_pairs(linker.link_within(packed), joiner.run_link_within(linker, packed)[0])
        # records without a phone, blocked on the phone alone: no candidates, no scoring
        phone = dataclasses.replace(linker, blocking=BlockingRules((ExactRule(("phone",)),)))
        lone = np.zeros((3, LAYOUT.total_words), dtype=np.uint64)
        got, report = joiner.run_link_within(phone, lone)
        assert len(got) == 0
        assert report.rule_candidates == (0,)
        assert report.candidates == 0
        assert report.score_tasks == ()
        assert len(joiner.run_link_within(linker, packed[:1])[0]) == 0
    finally:
        joiner.close()


def test_link_within_below_min_comparisons_runs_in_process(cluster: Cluster) -> None:
    packed = _packed()
    linker = ProbabilisticLinker(LAYOUT, prior_model(True, LAYOUT), MIXED, 0.5)
    n = packed.shape[0]
    joiner = DaskJoiner(DaskJoinSettings(cluster.address, min_comparisons=n * (n - 1) // 2 + 1))
    try:
        got: CandidatePairs = joiner.link_within(linker, packed)
        assert joiner.last_link_report is None  # never reached the cluster
        assert_same_pairs(linker.link_within(packed), got)
    finally:
        joiner.close()


def test_a_rule_failing_on_a_worker_raises_its_error(cluster: Cluster) -> None:
    packed = _packed()
    tight = BlockingRules((ExactRule(("surname", "sex"), max_candidates=10),))
    linker = ProbabilisticLinker(LAYOUT, prior_model(True, LAYOUT), tight, 0.5)
    joiner = _joiner(cluster)
    try:
        with pytest.raises(ResourceExhaustedError):
            joiner.run_link_within(linker, packed)
    finally:
        joiner.close()


# ------------------------------------------------------------------ the service
def test_linkage_settings_accept_dask_with_probabilistic() -> None:
    dask = DaskJoinSettings("tcp://127.0.0.1:8786")
    settings = dataclasses.replace(with_probabilistic(), dask=dask)
    assert settings.dask == dask
    assert settings.probabilistic is not None


def _upload(service: LinkageService, records: list[tuple[str, str, bytes]]) -> None:
    for agency_id in AGENCIES:
        mine = [(key, clk) for a, key, clk in records if a == agency_id]
        for start in range(0, len(mine), 400):
            service.write_batch(
                agency(agency_id),
                WriteBatch(
                    agency_id=agency_id,
                    batch_id=f"b-{start}",
                    key_epoch=1,
                    schema_fingerprint=service.settings.schema_fingerprint,
                    mutations=tuple(
                        RecordUpsert(
                            record_key=key.encode(),
                            clk=clk,
                            pointer_token=b"ptr:" + key.encode(),
                            consent=consent(),
                            linkable=True,
                        )
                        for key, clk in mine[start : start + 400]
                    ),
                ),
            )


@pytest.fixture(scope="module")
def prob_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A probabilistic store linked incrementally with the shipped prior."""
    path = tmp_path_factory.mktemp("dask-prob") / "old.db"
    store = SqliteLinkStore(path)
    service = LinkageService(store, with_probabilistic(auto_refit=False), ServiceLimits())
    for agency_id in AGENCIES:
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    records = segmented_records(700, 9)
    # the generator's agencies mapped onto this test's three
    _upload(
        service,
        [
            (AGENCIES[i % len(AGENCIES)], f"{r.agency_id}-{r.key}", r.clk)
            for i, r in enumerate(records)
        ],
    )
    store.close()
    return path


@pytest.fixture
def prob_stores(prob_store: Path, tmp_path: Path) -> Iterator[tuple[SqliteLinkStore, ...]]:
    copies = []
    for name in ("cluster.db", "local.db"):
        shutil.copy(prob_store, tmp_path / name)
        copies.append(SqliteLinkStore(tmp_path / name))
    yield tuple(copies)
    for store in copies:
        store.close()


def _state(store: SqliteLinkStore) -> tuple[set[frozenset[int]], list[tuple[int, int, float]]]:
    by_link: dict[int, set[int]] = {}
    for node, link in store.iter_node_links():
        by_link.setdefault(link, set()).add(node)
    edges = sorted((e.node_a, e.node_b, e.score) for e in store.iter_edges())
    return {frozenset(nodes) for nodes in by_link.values()}, edges


def test_probabilistic_rebuild_on_the_cluster_gives_the_same_links_and_edges(
    cluster: Cluster, prob_stores: tuple[SqliteLinkStore, ...]
) -> None:
    on_cluster, local = prob_stores
    plain = with_probabilistic(auto_refit=False)
    dask = DaskJoinSettings(cluster.address, min_comparisons=0)
    joiner = DaskJoiner(dask)
    try:
        service = LinkageService(
            on_cluster, dataclasses.replace(plain, dask=dask), ServiceLimits(), joiner=joiner
        )
        distributed_run = service.rebuild(OPERATOR, "dask test")
        report = joiner.last_link_report
        assert report is not None  # the rebuild's join ran on the cluster
        assert report.records == distributed_run.record_count
    finally:
        joiner.close()
    local_run = LinkageService(local, plain, ServiceLimits()).rebuild(OPERATOR, "in-process")
    assert _state(on_cluster) == _state(local)
    assert distributed_run.candidate_pair_count == local_run.candidate_pair_count > 300
    assert distributed_run.link_count == local_run.link_count
    assert distributed_run.model == local_run.model  # the same refitted model
