"""A matcher's store built once per session (synthetic agencies, six weeks of uploads
and lookups); each test gets its own copy with a server.toml beside it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.report.prob_scenario import ProbScenario, build_prob_scenario, prob_server_toml
from tests.report.scenario import FINGERPRINT, build_scenario


@dataclass(frozen=True)
class BuiltStore:
    """The closed store file and what went into it."""

    db: Path
    threshold: float
    truth_rows: list[tuple[str, str, str]]
    secrets: list[bytes]
    token_owner: dict[bytes, tuple[str, int]]  # pointer token -> (agency, entity)
    records: int
    lookups: int
    weeks: int


@dataclass(frozen=True)
class MatcherDir:
    """A directory holding server.toml, index.db and truth.csv."""

    root: Path
    config: Path
    truth: Path
    built: BuiltStore


@pytest.fixture(scope="session")
def built_store(tmp_path_factory: pytest.TempPathFactory) -> BuiltStore:
    db = tmp_path_factory.mktemp("built") / "index.db"
    scenario = build_scenario(db, people=500, weeks=6, lookups_per_week=5)
    records = scenario.records
    truth = [
        (
            records.agencies[int(records.agency[row])],
            records.record_key(row).hex(),
            f"person-{int(records.entity[row])}",
        )
        for row in range(records.agency.shape[0])
    ]
    secrets = [*scenario.pointer_tokens.values()]
    secrets += [records.record_key(row) for row in range(records.agency.shape[0])]
    secrets += records.clk_bytes(range(records.agency.shape[0]))
    owners = {
        token: (records.agencies[int(records.agency[row])], int(records.entity[row]))
        for row, token in scenario.pointer_tokens.items()
    }
    scenario.store.close()
    return BuiltStore(
        db=db,
        threshold=scenario.settings.threshold,
        truth_rows=truth,
        secrets=secrets,
        token_owner=owners,
        records=records.agency.shape[0],
        lookups=scenario.lookups,
        weeks=scenario.weeks,
    )


def write_server_toml(root: Path, threshold: float) -> Path:
    path = root / "server.toml"
    path.write_text(
        f"""
[server]
listen = "127.0.0.1:0"

[store]
engine = "sqlite"
path = "index.db"

[linkage]
threshold = {threshold}
clk_bits = 1024
key_epoch = 1
schema_fingerprint = "{FINGERPRINT}"
"""
    )
    return path


@pytest.fixture
def matcher_dir(tmp_path: Path, built_store: BuiltStore) -> MatcherDir:
    for suffix in ("", "-wal", "-shm"):
        source = built_store.db.with_name(built_store.db.name + suffix)
        if source.exists():
            shutil.copy(source, tmp_path / f"index.db{suffix}")
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "agency_id,record_key,entity_id\n"
        + "".join(f"{a},{k},{e}\n" for a, k, e in built_store.truth_rows)
    )
    config = write_server_toml(tmp_path, built_store.threshold)
    return MatcherDir(tmp_path, config, truth, built_store)


@dataclass(frozen=True)
class ProbMatcherDir:
    """A probabilistic matcher's directory: server.toml, index.db and truth.csv."""

    root: Path
    config: Path
    truth: Path
    built: ProbScenario


@pytest.fixture(scope="session")
def prob_built(tmp_path_factory: pytest.TempPathFactory) -> ProbScenario:
    return build_prob_scenario(tmp_path_factory.mktemp("prob-built"), people=400, weeks=4)


@pytest.fixture
def prob_matcher_dir(tmp_path: Path, prob_built: ProbScenario) -> ProbMatcherDir:
    for suffix in ("", "-wal", "-shm"):
        source = prob_built.root / f"index.db{suffix}"
        if source.exists():
            shutil.copy(source, tmp_path / f"index.db{suffix}")
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "agency_id,record_key,entity_id\n"
        + "".join(f"{a},{k},{e}\n" for a, k, e in prob_built.truth_rows)
    )
    return ProbMatcherDir(tmp_path, prob_server_toml(tmp_path), truth, prob_built)
