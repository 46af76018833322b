"""agency.toml loading: frozen, validated, secrets from a file or a named environment variable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agency_client import load_agency_config
from linkage.errors import ConfigError

pytestmark = pytest.mark.unit


def rewrite(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_sample_config_loads(agency_dir: Path) -> None:
    config = load_agency_config(agency_dir / "agency.toml", {})
    assert config.record_key == "client_id"
    assert config.key_epoch == 1
    assert len(config.secret.reveal()) == 64
    assert "client_name" in config.columns
    assert config.secret.reveal().decode() not in repr(config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.key_epoch = 2  # type: ignore[misc]


def test_secret_from_a_named_environment_variable(agency_dir: Path) -> None:
    config_path = agency_dir / "agency.toml"
    rewrite(config_path, 'file = "linkage-secret.key"', 'env = "MY_SECRET"')
    config = load_agency_config(config_path, {"MY_SECRET": "s" * 20})
    assert config.secret.reveal() == b"s" * 20
    with pytest.raises(
        ConfigError, match=r"secret\.env: the named environment variable is not set"
    ):
        load_agency_config(config_path, {})


def test_a_secret_file_open_to_other_users_is_refused(agency_dir: Path) -> None:
    secret = agency_dir / "linkage-secret.key"
    owned_by_root = secret.stat().st_uid == 0
    for mode in (0o644, 0o604, 0o660, *(() if owned_by_root else (0o640,))):
        secret.chmod(mode)
        with pytest.raises(ConfigError) as info:
            load_agency_config(agency_dir / "agency.toml", {})
        problems = {p.location: p.reason for p in info.value.problems}
        assert problems["secret.file"].startswith(
            f"the linkage secret at {secret} is open to other users (mode {mode:04o}); "
            "run chmod 600 on it"
        )
        assert problems["secret.file"].endswith("or name it by [secret] env")
    # 0600 and 0400 always; 0640 and 0440 for a root-owned file read through its group
    for mode in (0o600, 0o400, *((0o640, 0o440) if owned_by_root else ())):
        secret.chmod(mode)
        assert load_agency_config(agency_dir / "agency.toml", {}).secret is not None


def test_short_secret_is_refused_without_echoing_it(agency_dir: Path) -> None:
    (agency_dir / "linkage-secret.key").write_text("tooshort15bytes\n")
    (agency_dir / "linkage-secret.key").chmod(0o600)
    with pytest.raises(ConfigError) as info:
        load_agency_config(agency_dir / "agency.toml", {})
    assert "shorter than 16 bytes" in str(info.value)
    assert "tooshort" not in str(info.value)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (
            'date_format = "MM/DD/YYYY"',
            'date_format = "MM-DD-YY"',
            "features.date_of_birth.date_format",
        ),
        ('date_format = "MM/DD/YYYY"', "", "features.date_of_birth.date_format"),
        ("[features.sex]", "[features.gender]", "features.gender"),
        ('name_part = "first"', 'name_part = "initial"', "features.given_name.name_part"),
        ("key_epoch = 1", 'key_epoch = "one"', "agency.key_epoch"),
        ("[input]", '[input]\nquote = "x"', "input.quote"),
        ('format = "clk"', 'format = "xml"', "output.format"),
        ('file = "default"', 'file = "missing.json"', "schema.file"),
    ],
)
def test_invalid_configs_name_the_key(agency_dir: Path, old: str, new: str, where: str) -> None:
    config_path = agency_dir / "agency.toml"
    rewrite(config_path, old, new)
    with pytest.raises(ConfigError) as info:
        load_agency_config(config_path, {})
    assert where in {p.location for p in info.value.problems}


def test_both_or_neither_secret_source_is_an_error(agency_dir: Path) -> None:
    config_path = agency_dir / "agency.toml"
    rewrite(config_path, 'file = "linkage-secret.key"', 'file = "linkage-secret.key"\nenv = "X"')
    with pytest.raises(ConfigError, match="exactly one of file or env"):
        load_agency_config(config_path, {"X": "y" * 20})


def test_custom_schema_file_is_validated(agency_dir: Path) -> None:
    config_path = agency_dir / "agency.toml"
    (agency_dir / "schema.json").write_text('{"version": 3, "clkConfig": {"l": 64}}')
    rewrite(config_path, 'file = "default"', 'file = "schema.json"')
    with pytest.raises(ConfigError) as info:
        load_agency_config(config_path, {})
    locations = {p.location for p in info.value.problems}
    assert "$.clkConfig.kdf" in locations
    assert "$.features" in locations


def test_a_missing_config_is_named_with_its_folder_and_the_default_gets_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as default:
        load_agency_config(Path("agency.toml"), {})
    assert str(default.value).startswith("cannot read the config file agency.toml: ")
    assert "pass --config site/agency.toml or set AGENCY_CLIENT_CONFIG" in str(default.value)
    with pytest.raises(ConfigError) as nested:
        load_agency_config(Path("site") / "nope.toml", {})
    assert f"cannot read the config file {Path('site') / 'nope.toml'}: " in str(nested.value)
    assert "AGENCY_CLIENT_CONFIG" not in str(nested.value)
