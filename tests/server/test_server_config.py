"""server.toml: every problem is named, relative paths resolve, secrets stay out."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkage.errors import ConfigError
from linkage.match import HammingLsh
from linkage.server import is_loopback_address, load_server_config, parse_server_config
from linkage.service import ClusteringSettings

pytestmark = pytest.mark.unit

GOOD = {
    "server": {"listen": "127.0.0.1:0"},
    "store": {"engine": "sqlite", "path": "index.db"},
    "linkage": {
        "threshold": 0.8,
        "clk_bits": 1024,
        "key_epoch": 1,
        "schema_fingerprint": "ab" * 16,
    },
}


def test_a_minimal_config_gets_defaults_and_resolves_paths(tmp_path: Path) -> None:
    config = parse_server_config(GOOD, tmp_path, {})
    assert config.store.path == tmp_path / "index.db"
    assert config.tls is None
    assert config.limits.max_batch_mutations == 10_000
    assert config.linkage.blocking is None


def test_blocking_is_configurable(tmp_path: Path) -> None:
    data = {
        **GOOD,
        "linkage": {**GOOD["linkage"], "blocking": {"method": "hamming_lsh", "bands": 8}},
    }
    config = parse_server_config(data, tmp_path, {})
    assert config.linkage.blocking == HammingLsh(bands=8, bits_per_band=16, seed=0)


def test_clustering_is_configurable(tmp_path: Path) -> None:
    assert parse_server_config(GOOD, tmp_path, {}).linkage.clustering == ClusteringSettings()
    table = {"method": "average_link", "join_threshold": 0.8, "merge_threshold": 0.9}
    data = {**GOOD, "linkage": {**GOOD["linkage"], "clustering": table}}
    clustering = parse_server_config(data, tmp_path, {}).linkage.clustering
    assert clustering == ClusteringSettings("average_link", 0.8, 0.9)


def test_clustering_problems_are_named(tmp_path: Path) -> None:
    table = {"method": "average_link", "join_threshold": "high", "colour": 1}
    data = {**GOOD, "linkage": {**GOOD["linkage"], "clustering": table}}
    with pytest.raises(ConfigError) as caught:
        parse_server_config(data, tmp_path, {})
    locations = {p.location for p in caught.value.problems}
    assert locations == {"linkage.clustering.join_threshold", "linkage.clustering.colour"}
    data = {**GOOD, "linkage": {**GOOD["linkage"], "clustering": {"method": "kmeans"}}}
    with pytest.raises(ConfigError) as caught:
        parse_server_config(data, tmp_path, {})
    assert [p.location for p in caught.value.problems] == ["linkage.clustering.method"]


def test_every_problem_is_named(tmp_path: Path) -> None:
    bad = {
        "server": {"listen": "nowhere", "colour": "blue"},
        "store": {"engine": "oracle"},
        "linkage": {
            "threshold": 1.5,
            "clk_bits": 1000,
            "key_epoch": "one",
            "schema_fingerprint": "XYZ",
            "blocking": {"method": "minhash"},
        },
        "extras": {},
    }
    with pytest.raises(ConfigError) as caught:
        parse_server_config(bad, tmp_path, {})
    locations = {p.location for p in caught.value.problems}
    assert {"extras", "server.colour", "linkage.key_epoch", "linkage.blocking.method"} <= locations


def test_value_problems_are_named_after_types_pass(tmp_path: Path) -> None:
    bad = {**GOOD, "linkage": {**GOOD["linkage"], "threshold": 1.5, "clk_bits": 1000}}
    with pytest.raises(ConfigError) as caught:
        parse_server_config(bad, tmp_path, {})
    assert {p.location for p in caught.value.problems} == {"linkage.threshold", "linkage.clk_bits"}


def test_postgres_dsn_comes_from_the_named_environment_variable(tmp_path: Path) -> None:
    data = {**GOOD, "store": {"engine": "postgres", "dsn_env": "MY_DSN"}}
    with pytest.raises(ConfigError, match="MY_DSN is not set"):
        parse_server_config(data, tmp_path, {})
    config = parse_server_config(data, tmp_path, {"MY_DSN": "postgresql://x"})
    assert config.store.dsn == "postgresql://x"


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_server_config(tmp_path / "missing.toml", {})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nlisten=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_server_config(broken, {})


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1:1", True),
        ("localhost:5", True),
        ("[::1]:5", True),
        ("0.0.0.0:5", False),
        ("10.1.2.3:5", False),
    ],
)
def test_loopback_detection(address: str, loopback: bool) -> None:
    assert is_loopback_address(address) is loopback
