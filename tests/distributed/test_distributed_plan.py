"""The pure pieces of the distributed join: the block plan, one task, the merge, the
settings. Running every task of a plan in-process must give the in-process join exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.distributed import (
    BlockPairResult,
    DaskJoiner,
    DaskJoinSettings,
    JoinPlan,
    join_block_pair,
    merge_results,
    parse_dask_table,
)
from linkage.errors import ConfigError, InvalidInputError
from linkage.match import (
    CandidatePairs,
    HammingLsh,
    blocked_dice_join,
    blocked_dice_self_join,
    dice_join,
    dice_self_join,
)
from linkage.server import parse_server_config
from linkage.types import PackedClks
from tests.distributed.data import assert_same_pairs, noisy_population

pytestmark = pytest.mark.unit


def _run_in_process(
    plan: JoinPlan,
    left: PackedClks,
    right: PackedClks | None,
    threshold: float,
    blocking: HammingLsh | None,
) -> CandidatePairs:
    """Every task of the plan, one after another, then the merge (what the cluster does)."""
    results = []
    for task in plan.tasks:
        a = left[plan.block_rows("left", task.left)]
        if task.within:
            b = None
        else:
            b = (left if right is None else right)[plan.block_rows("right", task.right)]
        results.append((task, join_block_pair(a, b, threshold, blocking)))
    return merge_results(plan, results)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), block_size=st.integers(1, 70))
def test_self_join_plan_covers_every_pair_once_with_the_lower_row_on_the_left(
    n: int, block_size: int
) -> None:
    plan = JoinPlan.self_join(n, block_size)
    seen: list[tuple[int, int]] = []
    for task in plan.tasks:
        rows_a = range(n)[plan.block_rows("left", task.left)]
        rows_b = range(n)[plan.block_rows("right", task.right)]
        assert task.within == (task.left == task.right)
        seen.extend((i, j) for i in rows_a for j in rows_b if not task.within or i < j)
    assert sorted(seen) == [(i, j) for i in range(n) for j in range(i + 1, n)]
    assert len(seen) == len(set(seen)) == plan.pair_space
    assert all(i < j for i, j in seen)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 30), m=st.integers(0, 30), block_size=st.integers(1, 35))
def test_pair_join_plan_covers_every_pair_once(n: int, m: int, block_size: int) -> None:
    plan = JoinPlan.pair_join(n, m, block_size)
    seen = [
        (i, j)
        for task in plan.tasks
        for i in range(n)[plan.block_rows("left", task.left)]
        for j in range(m)[plan.block_rows("right", task.right)]
    ]
    assert sorted(seen) == [(i, j) for i in range(n) for j in range(m)]
    assert plan.pair_space == n * m == len(seen)


def test_plan_rejects_bad_sizes() -> None:
    with pytest.raises(InvalidInputError):
        JoinPlan.self_join(10, 0)
    with pytest.raises(InvalidInputError):
        JoinPlan.pair_join(-1, 3, 5)
    with pytest.raises(InvalidInputError):
        JoinPlan.self_join(10, 3).block_rows("middle", 0)


@settings(max_examples=12, deadline=None)
@given(
    n=st.integers(2, 300),
    blocks=st.integers(1, 9),
    seed=st.integers(0, 1000),
    threshold=st.sampled_from([0.6, 0.8, 0.9]),
    blocked=st.booleans(),
)
def test_block_pair_tasks_merged_equal_the_in_process_self_join(
    n: int, blocks: int, seed: int, threshold: float, blocked: bool
) -> None:
    block_size = -(-n // blocks)  # at most 45 tasks, each a call into the core
    clks = noisy_population(n, seed, flip=0.05)
    lsh = HammingLsh(bands=6, bits_per_band=12, seed=seed) if blocked else None
    expected = (
        blocked_dice_self_join(clks, threshold, lsh).pairs
        if lsh
        else dice_self_join(clks, threshold)
    )
    got = _run_in_process(JoinPlan.self_join(n, block_size), clks, None, threshold, lsh)
    assert_same_pairs(expected, got)


@settings(max_examples=10, deadline=None)
@given(
    n=st.integers(1, 200),
    m=st.integers(1, 200),
    blocks=st.integers(1, 6),
    seed=st.integers(0, 1000),
    blocked=st.booleans(),
)
def test_block_pair_tasks_merged_equal_the_in_process_pair_join(
    n: int, m: int, blocks: int, seed: int, blocked: bool
) -> None:
    block_size = -(-max(n, m) // blocks)  # at most 36 tasks
    clks = noisy_population(n + m, seed, flip=0.05)
    left, right = clks[:n], clks[n:]
    lsh = HammingLsh(bands=6, bits_per_band=12, seed=seed) if blocked else None
    expected = (
        blocked_dice_join(left, right, 0.8, lsh).pairs if lsh else dice_join(left, right, 0.8)
    )
    got = _run_in_process(JoinPlan.pair_join(n, m, block_size), left, right, 0.8, lsh)
    assert_same_pairs(expected, got)


def test_merge_orders_ties_by_left_then_right_across_tasks() -> None:
    plan = JoinPlan.self_join(6, 3)  # blocks [0, 3) and [3, 6): tasks (0,0), (0,1), (1,1)
    by_task = {(t.left, t.right): t for t in plan.tasks}

    def result(scores: list[float], left: list[int], right: list[int]) -> BlockPairResult:
        return BlockPairResult(
            np.array(scores), np.array(left, np.int32), np.array(right, np.int32), len(scores)
        )

    merged = merge_results(
        plan,
        [
            (by_task[(1, 1)], result([0.9, 0.85], [0, 1], [2, 2])),  # global (3,5), (4,5)
            (by_task[(0, 1)], result([0.9, 0.85], [2, 0], [0, 1])),  # global (2,3), (0,4)
            (by_task[(0, 0)], result([0.95], [0], [1])),  # global (0,1)
        ],
    )
    assert merged.as_tuples() == [
        (0.95, 0, 1),
        (0.9, 2, 3),
        (0.9, 3, 5),
        (0.85, 0, 4),
        (0.85, 4, 5),
    ]


def test_task_reports_comparisons_and_compact_results() -> None:
    clks = noisy_population(120, 5)
    within = join_block_pair(clks[:50], None, 0.8, None)
    across = join_block_pair(clks[:50], clks[50:], 0.8, None)
    assert within.comparisons == 50 * 49 // 2
    assert across.comparisons == 50 * 70
    assert within.left.dtype == np.int32
    assert within.scores.dtype == np.float64
    assert within.nbytes == 16 * within.scores.shape[0]
    lsh = HammingLsh(bands=4, bits_per_band=16, seed=1)
    blocked = join_block_pair(clks[:50], clks[50:], 0.8, lsh)
    assert blocked.comparisons == blocked_dice_join(clks[:50], clks[50:], 0.8, lsh).candidate_pairs
    assert blocked.comparisons < across.comparisons


def test_joins_below_min_comparisons_run_in_process_without_a_cluster() -> None:
    # Nothing listens on this port: a join that tried the cluster would fail.
    joiner = DaskJoiner(DaskJoinSettings("tcp://127.0.0.1:9", min_comparisons=10**6))
    clks = noisy_population(400, 2)
    assert_same_pairs(dice_self_join(clks, 0.8), joiner.self_join(clks, 0.8))
    lsh = HammingLsh(bands=4, bits_per_band=12, seed=2)
    assert_same_pairs(
        blocked_dice_join(clks[:200], clks[200:], 0.8, lsh).pairs,
        joiner.pair_join(clks[:200], clks[200:], 0.8, lsh),
    )
    assert joiner.last_report is None
    assert not joiner.uses_cluster(0)
    assert joiner.uses_cluster(10**6)


@pytest.mark.parametrize(
    ("kwargs", "location"),
    [
        ({"scheduler": "http://h:8786"}, "linkage.dask.scheduler"),
        ({"scheduler": "tcp://h"}, "linkage.dask.scheduler"),
        ({"scheduler": "tcp://h:0"}, "linkage.dask.scheduler"),
        ({"scheduler": "tcp://h:1", "block_size": 0}, "linkage.dask.block_size"),
        ({"scheduler": "tcp://h:1", "block_size": 2**31}, "linkage.dask.block_size"),
        ({"scheduler": "tcp://h:1", "min_comparisons": -1}, "linkage.dask.min_comparisons"),
        ({"scheduler": "tcp://h:1", "timeout_s": 0}, "linkage.dask.timeout_s"),
        ({"scheduler": "tcp://h:1", "connect_timeout_s": -1}, "linkage.dask.connect_timeout_s"),
        ({"scheduler": "tcp://h:1", "max_resubmits": 101}, "linkage.dask.max_resubmits"),
        ({"scheduler": "tls://h:1"}, "linkage.dask.tls_ca_file"),
        ({"scheduler": "tcp://h:1", "tls_key_file": Path("k")}, "linkage.dask.tls_key_file"),
    ],
)
def test_settings_name_the_bad_field(kwargs: dict[str, object], location: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DaskJoinSettings(**kwargs)  # type: ignore[arg-type]
    assert location in [p.location for p in caught.value.problems]


def test_tls_settings_need_all_three_files() -> None:
    files = {name: Path(name) for name in ("tls_ca_file", "tls_cert_file", "tls_key_file")}
    assert DaskJoinSettings("tls://[::1]:8786", **files).uses_tls  # type: ignore[arg-type]
    assert not DaskJoinSettings("tcp://dask-scheduler.internal:8786").uses_tls


def test_parse_dask_table_resolves_paths_and_names_problems(tmp_path: Path) -> None:
    parsed = parse_dask_table(
        {
            "scheduler": "tls://10.0.0.5:8786",
            "block_size": 1000,
            "min_comparisons": 0,
            "timeout_s": 60,
            "tls_ca_file": "pki/ca.pem",
            "tls_cert_file": "pki/cert.pem",
            "tls_key_file": "/abs/key.pem",
        },
        tmp_path,
    )
    assert parsed.block_size == 1000
    assert parsed.min_comparisons == 0
    assert parsed.timeout_s == 60.0
    assert parsed.tls_ca_file == tmp_path / "pki/ca.pem"
    assert parsed.tls_key_file == Path("/abs/key.pem")
    with pytest.raises(ConfigError) as caught:
        parse_dask_table({"block_size": "big", "timeout_s": True, "workers": 3}, tmp_path)
    assert {p.location for p in caught.value.problems} == {
        "linkage.dask.scheduler",
        "linkage.dask.block_size",
        "linkage.dask.timeout_s",
        "linkage.dask.workers",
    }
    with pytest.raises(ConfigError):
        parse_dask_table("tcp://h:1", tmp_path)


def _server_toml(extra: dict[str, object]) -> dict[str, object]:
    return {
        "server": {"listen": "127.0.0.1:0"},
        "store": {"engine": "sqlite", "path": "x.db"},
        "linkage": {
            "threshold": 0.8,
            "clk_bits": 1024,
            "key_epoch": 1,
            "schema_fingerprint": "ab" * 16,
            **extra,
        },
    }


def test_server_config_reads_linkage_dask(tmp_path: Path) -> None:
    config = parse_server_config(
        _server_toml({"dask": {"scheduler": "tcp://127.0.0.1:8786", "block_size": 5000}}),
        tmp_path,
        {},
    )
    assert config.linkage.dask == DaskJoinSettings("tcp://127.0.0.1:8786", block_size=5000)
    assert parse_server_config(_server_toml({}), tmp_path, {}).linkage.dask is None
    with pytest.raises(ConfigError) as caught:
        parse_server_config(_server_toml({"dask": {"scheduler": "h:1"}}), tmp_path, {})
    assert [p.location for p in caught.value.problems] == ["linkage.dask.scheduler"]
