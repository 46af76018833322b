"""``agency-client`` with hardened schemas, end to end: encode, schema validate, describe."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agency_client import (
    encode_export,
    load_agency_config,
    read_clk_batches,
    read_clk_file_header,
    sample_path,
)
from agency_client.cli import cli
from linkage.encode import (
    ClkEncoder,
    default_schema,
    default_schema_text,
    plain_schema,
    schema_fingerprint,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def agency(tmp_path: Path) -> Path:
    for name in ("agency.toml", "valley-mhc-export.csv"):
        shutil.copyfile(sample_path(name), tmp_path / name)
    (tmp_path / "linkage-secret.key").write_text(secrets.token_hex(32) + "\n")
    (tmp_path / "linkage-secret.key").chmod(0o600)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def _clks(path: Path) -> np.ndarray:
    return np.concatenate([batch.clks for batch in read_clk_batches(path)])


ROW_2 = [
    "liam", None, "taylor", "1955-04-21", "x", None, "57 high st", None, "springvale", "3171",
    "vic",
]  # fmt: skip


def test_the_default_config_encodes_hardened_clks_end_to_end(agency: Path) -> None:
    out = agency / "out.clk"
    code, _, stderr = run(
        "encode", "--config", str(agency / "agency.toml"), str(agency / "valley-mhc-export.csv"),
        "-o", str(out), "--workers", "1",
    )  # fmt: skip
    assert code == 0, stderr
    header = read_clk_file_header(out)
    assert header.schema_fingerprint == schema_fingerprint(default_schema())
    assert header.clk_bits == default_schema().length == 1024
    assert header.key_epoch == 1
    config = load_agency_config(agency / "agency.toml", {})
    direct = ClkEncoder(default_schema(), config.secret.reveal(), key_epoch=1).encode_record(ROW_2)
    clks = _clks(out)
    assert bytes(clks[1]) == direct
    plain = ClkEncoder(plain_schema(), config.secret.reveal()).encode_record(ROW_2)
    assert len(plain) == len(direct)
    # not the plain CLK: shares no more bits with it than an unrelated random vector would
    x, y = np.unpackbits(clks[1]), np.unpackbits(np.frombuffer(plain, np.uint8))
    n, kx, ky = x.size, int(x.sum()), int(y.sum())
    sd = (ky * (kx / n) * (1 - kx / n) * (n - ky) / (n - 1)) ** 0.5
    assert abs(int((x & y).sum()) - kx * ky / n) <= 4 * sd


def test_the_key_epoch_of_the_config_changes_every_hardened_clk(agency: Path) -> None:
    config = agency / "agency.toml"
    export = agency / "valley-mhc-export.csv"
    first = encode_export(load_agency_config(config, {}), export, agency / "e1.clk", workers=1)
    _rewrite(config, "key_epoch = 1", "key_epoch = 2")
    second = encode_export(load_agency_config(config, {}), export, agency / "e2.clk", workers=1)
    assert first.schema_fingerprint == second.schema_fingerprint
    one, two = _clks(agency / "e1.clk"), _clks(agency / "e2.clk")
    assert one.shape == two.shape
    assert not (one == two).all(axis=1).any()
    assert read_clk_file_header(agency / "e2.clk").key_epoch == 2


def test_the_plain_schema_stays_clkhash_compatible_through_the_cli(agency: Path) -> None:
    _rewrite(agency / "agency.toml", 'file = "default"', 'file = "plain"')
    config = load_agency_config(agency / "agency.toml", {})
    assert config.schema == plain_schema()
    out = agency / "plain.clk"
    encode_export(config, agency / "valley-mhc-export.csv", out, workers=1)
    assert read_clk_file_header(out).schema_fingerprint == schema_fingerprint(plain_schema())
    # the key epoch is not part of a plain schema's keys (clkhash has none)
    assert bytes(_clks(out)[1]) == ClkEncoder(plain_schema(), config.secret.reveal()).encode_record(
        ROW_2
    )


def test_schema_validate_and_describe_understand_the_extension(tmp_path: Path) -> None:
    schema_file = tmp_path / "hardened.json"
    schema_file.write_text(default_schema_text())
    code, stdout, _ = run("schema", "validate", str(schema_file))
    assert code == 0
    assert "valid hardened linkage schema v3" in stdout
    assert "diffusion to 1024 bits" in stdout
    assert schema_fingerprint(default_schema()) in stdout
    code, stdout, _ = run("schema", "describe", str(schema_file))
    assert code == 0
    assert "(hardened): 1024-bit CLKs from a" in stdout
    assert "keys bound to the key epoch" in stdout
    assert "warning" not in stdout
    # a weak setting is described with a warning
    document = json.loads(default_schema_text())
    document["hardening"]["diffusion"]["t"] = 4
    schema_file.write_text(json.dumps(document))
    code, stdout, _ = run("schema", "describe", str(schema_file))
    assert code == 0
    assert "t = 4 is below the recommended minimum of 8" in stdout
    # a plain schema says it is not hardened
    schema_file.write_text(json.dumps(plain_schema().to_json_dict()))
    code, stdout, _ = run("schema", "describe", str(schema_file))
    assert "hardening: none" in stdout
    code, stdout, _ = run("schema", "validate", str(schema_file))
    assert "plain, not hardened" in stdout


def test_a_hardening_block_smuggled_into_version_3_is_refused_by_the_cli(tmp_path: Path) -> None:
    document = json.loads(default_schema_text())
    document["version"] = 3
    schema_file = tmp_path / "sneaky.json"
    schema_file.write_text(json.dumps(document))
    code, _, stderr = run("schema", "validate", str(schema_file))
    assert code == 2
    assert "$.hardening" in stderr
