"""server.toml: every problem is named, relative paths resolve, secrets stay out."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from linkage.channel import mtls_channel
from linkage.encode import DEFAULT_SEGMENTS, default_schema_text, default_segmented_schema
from linkage.errors import ConfigError
from linkage.match import HammingLsh
from linkage.pki import create_demo_pki
from linkage.probabilistic import default_blocking, default_blocking_ladder
from linkage.server import is_loopback_address, load_server_config, parse_server_config
from linkage.server._config import TlsConfig
from linkage.server._serve import server_credentials, start_matcher
from linkage.service import ClusteringSettings
from tests.server.conftest import write_config

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
    # Dice mode resolves the default ("auto") to anonlink's greedy solving
    default = parse_server_config(GOOD, tmp_path, {}).linkage.clustering
    assert default == ClusteringSettings("greedy")
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
    # fuzz findings (issue 22): bytes that are not UTF-8 raised UnicodeDecodeError, and an
    # endless file (/dev/zero) ran the process out of memory
    broken.write_bytes(b"[server]\nlisten = '\xff'\n")
    with pytest.raises(ConfigError, match=r"broken\.toml is not UTF-8 text"):
        load_server_config(broken, {})
    with pytest.raises(ConfigError, match="zero is larger than 1,048,576 bytes"):
        load_server_config(Path("/dev/zero"), {})


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


def _probabilistic(table: dict[str, object], **linkage: object) -> dict[str, object]:
    fingerprint = default_segmented_schema().fingerprint
    return {
        **GOOD,
        "linkage": {
            **GOOD["linkage"],
            "threshold": 0.5,
            "clk_bits": 2688,
            "schema_fingerprint": fingerprint,
            "probabilistic": table,
            **linkage,
        },
    }


def test_probabilistic_linkage_is_configurable(tmp_path: Path) -> None:
    data = _probabilistic(
        {
            "schema": "default-segmented",
            "min_fit_records": 500,
            "lookup_candidates": 50,
            "blocking": "small",
            "fit_sample_records": 50_000,
        },
        lookup_threshold=0.9,
    )
    linkage = parse_server_config(data, tmp_path, {}).linkage
    assert linkage.probabilistic is not None
    assert linkage.probabilistic.layout.total_words * 64 == 2688
    assert linkage.probabilistic.hardened
    assert linkage.probabilistic.refit_on_rebuild
    assert (linkage.probabilistic.min_fit_records, linkage.probabilistic.lookup_candidates) == (
        500,
        50,
    )
    assert linkage.probabilistic.blocking_preset == "small"
    assert linkage.probabilistic.fit_sample_records == 50_000
    assert linkage.probabilistic.blocking() == default_blocking(True, wide=True)
    default = parse_server_config(_probabilistic({"schema": "default-segmented"}), tmp_path, {})
    assert default.linkage.probabilistic is not None
    # "auto" by default: planned at the first fit; until then the ladder's core
    assert default.linkage.probabilistic.blocking_preset == "auto"
    ladder, always = default_blocking_ladder(True)
    assert default.linkage.probabilistic.blocking().rules == ladder[:always]
    assert linkage.effective_lookup_threshold == 0.9
    assert parse_server_config(GOOD, tmp_path, {}).linkage.effective_lookup_threshold == 0.8


def test_a_segmented_schema_file_is_read_relative_to_the_config(tmp_path: Path) -> None:
    document = json.loads(default_schema_text())
    document["segments"] = DEFAULT_SEGMENTS
    (tmp_path / "segmented.json").write_text(json.dumps(document), encoding="utf-8")
    linkage = parse_server_config(
        _probabilistic({"schema": "segmented.json"}), tmp_path, {}
    ).linkage
    assert linkage.probabilistic is not None
    assert linkage.probabilistic.schema_source == "segmented.json"


@pytest.mark.parametrize(
    ("data", "locations"),
    [
        (
            _probabilistic({"schema": "default-segmented"}, clk_bits=1024),
            {"linkage.clk_bits"},
        ),
        (
            _probabilistic({"schema": "default-segmented"}, schema_fingerprint="cd" * 16),
            {"linkage.schema_fingerprint"},
        ),
        (
            _probabilistic(
                {"schema": "default-segmented", "colour": 1, "min_fit_records": 1, "blocking": "x"}
            ),
            {
                "linkage.probabilistic.colour",
                "linkage.probabilistic.min_fit_records",
                "linkage.probabilistic.blocking",
            },
        ),
        (
            _probabilistic(
                {"schema": "default-segmented"},
                blocking={"method": "hamming_lsh"},
                threshold=1.0,
            ),
            {"linkage.blocking", "linkage.threshold"},
        ),
        (_probabilistic({"schema": "missing.json"}), {"linkage.probabilistic.schema"}),
        (_probabilistic({}), {"linkage.probabilistic.schema"}),
        (
            _probabilistic({"schema": "default-segmented"}, lookup_threshold=2),
            {"linkage.lookup_threshold"},
        ),
    ],
)
def test_probabilistic_problems_are_named(
    tmp_path: Path, data: dict[str, object], locations: set[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_server_config(data, tmp_path, {})
    assert {p.location for p in caught.value.problems} == locations


def test_a_schema_file_without_segments_is_refused_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "plain.json").write_text(default_schema_text(), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        parse_server_config(_probabilistic({"schema": "plain.json"}), tmp_path, {})
    (problem,) = caught.value.problems
    assert problem.location.startswith("linkage.probabilistic.schema (plain.json)")
    assert "segments" in problem.location + problem.reason


def test_the_server_certificate_must_be_a_server_in_the_configured_trust_domain(
    tmp_path: Path,
) -> None:
    pki = create_demo_pki(tmp_path, trust_domain="coresponder.test", agency_ids=("valley-mhc",))
    server = pki.server.paths
    assert server.private_key is not None

    def tls(cert: Path, key: Path, trust_domain: str) -> TlsConfig:
        return TlsConfig(server.ca_certificate, cert, key, trust_domain)

    server_credentials(tls(server.certificate, server.private_key, "coresponder.test"))
    with pytest.raises(ConfigError) as mismatch:
        server_credentials(tls(server.certificate, server.private_key, "example.org"))
    assert "[tls] trust_domain is 'example.org'" in str(mismatch.value)
    assert "set trust_domain = 'coresponder.test'" in str(mismatch.value)
    operator = pki.operator.paths
    assert operator.private_key is not None
    with pytest.raises(ConfigError, match="is an 'operator' certificate, not a server's"):
        server_credentials(tls(operator.certificate, operator.private_key, "coresponder.test"))


def test_a_taken_port_is_a_named_configuration_problem(tmp_path: Path) -> None:
    pki = create_demo_pki(tmp_path / "pki", agency_ids=("valley-mhc",))
    config = load_server_config(write_config(tmp_path, pki), {})
    first, _ = start_matcher(config)
    try:
        taken = dataclasses.replace(config, listen=f"127.0.0.1:{first.port}")
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            start_matcher(taken)
    finally:
        first.stop(0)


def test_private_keys_open_to_other_users_are_refused(tmp_path: Path) -> None:
    pki = create_demo_pki(tmp_path, agency_ids=("valley-mhc",))
    server, agency = pki.server.paths, pki.agencies["valley-mhc"].paths
    assert server.private_key is not None
    assert agency.private_key is not None
    server.private_key.chmod(0o644)
    with pytest.raises(ConfigError, match=r"server key at .* is open to other users \(mode 0644\)"):
        server_credentials(
            TlsConfig(
                server.ca_certificate, server.certificate, server.private_key, "coresponder.test"
            )
        )
    agency.private_key.chmod(0o604)
    with pytest.raises(ConfigError, match=r"private key at .* \(mode 0604\); run chmod 600"):
        mtls_channel(
            "127.0.0.1:1",
            ca_certificate=agency.ca_certificate,
            certificate=agency.certificate,
            private_key=agency.private_key,
        )
    agency.private_key.chmod(0o600)
    mtls_channel(
        "127.0.0.1:1",
        ca_certificate=agency.ca_certificate,
        certificate=agency.certificate,
        private_key=agency.private_key,
    ).close()
