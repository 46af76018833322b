"""``linkage-server init-config``: the shipped, commented server.toml of each linkage mode."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from linkage.encode import default_schema, default_segmented_schema, schema_fingerprint
from linkage.errors import ConfigError
from linkage.server._config import parse_server_config
from linkage.server._sample_config import SampleSettings, sample_server_config

pytestmark = pytest.mark.unit


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linkage.server.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_probabilistic_sample_is_a_valid_config_with_the_model_choosing_the_threshold(
    tmp_path: Path,
) -> None:
    data = tomllib.loads(sample_server_config("probabilistic"))
    assert data["linkage"]["threshold"] == "auto"
    assert data["linkage"]["schema_fingerprint"] == default_segmented_schema().fingerprint
    config = parse_server_config(data, tmp_path, {})
    linkage = config.linkage
    assert linkage.auto_threshold
    assert linkage.probabilistic is not None
    assert linkage.probabilistic.blocking_preset == "auto"
    assert linkage.probabilistic.auto_refit
    assert linkage.clustering.method == "average_link"
    assert linkage.clk_bits == linkage.probabilistic.layout.total_words * 64
    assert linkage.effective_lookup_threshold == 0.9


def test_the_dice_sample_is_a_valid_config_with_a_stricter_lookup(tmp_path: Path) -> None:
    data = tomllib.loads(sample_server_config("dice"))
    config = parse_server_config(data, tmp_path, {})
    assert config.linkage.probabilistic is None
    assert config.linkage.schema_fingerprint == schema_fingerprint(default_schema())
    assert config.linkage.threshold == 0.55
    assert config.linkage.effective_lookup_threshold == 0.7


def test_a_fixed_threshold_and_paths_are_filled_in(tmp_path: Path) -> None:
    text = sample_server_config(
        "probabilistic",
        SampleSettings(
            listen="0.0.0.0:6000",
            trust_domain="county.example",
            ca_cert="/etc/pki/ca.pem",
            probability_threshold=0.6,
            grace_period_s=3,
        ),
    )
    data = tomllib.loads(text)
    assert data["server"] == {"listen": "0.0.0.0:6000", "grace_period_s": 3}
    assert data["tls"]["trust_domain"] == "county.example"
    assert data["tls"]["ca_cert"] == "/etc/pki/ca.pem"
    assert parse_server_config(data, tmp_path, {}).linkage.threshold == 0.6


@pytest.mark.parametrize(("field", "value"), [("ca_cert", 'a"b'), ("listen", ""), ("key", "x\ny")])
def test_values_that_would_break_the_file_are_refused(field: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        sample_server_config("dice", SampleSettings(**{field: value}))  # type: ignore[arg-type]
    assert [p.location for p in caught.value.problems] == [field]


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match="invalid sample configuration"):
        sample_server_config("greedy")


@pytest.mark.integration
def test_init_config_writes_the_file_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    done = _run("init-config", "--out", "server.toml", "--pki", "my-pki", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "probabilistic linkage" in done.stdout
    data = tomllib.loads((tmp_path / "server.toml").read_text(encoding="utf-8"))
    assert data["tls"]["cert"] == "my-pki/server/matcher.cert.pem"
    assert data["linkage"]["threshold"] == "auto"
    again = _run("init-config", "--out", "server.toml", "--linkage", "dice", cwd=tmp_path)
    assert again.returncode == 2
    assert "exists; pass --force" in again.stderr
    forced = _run(
        "init-config", "--out", "server.toml", "--linkage", "dice", "--force", cwd=tmp_path
    )
    assert forced.returncode == 0, forced.stderr
    dice = tomllib.loads((tmp_path / "server.toml").read_text(encoding="utf-8"))
    assert dice["linkage"]["threshold"] == 0.55
