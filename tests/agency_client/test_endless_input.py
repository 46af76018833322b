"""Inputs that never end (``/dev/zero``) or are far too long: every command that reads a
CSV, a configuration, a schema or a list of IDs answers with one line naming the file and
exit code 2, never a MemoryError traceback (issue 22, item 6: ``encode`` and ``upload`` on
``/dev/zero`` once ran out of memory)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from agency_client._csvlines import MAX_LINE_CHARS, bounded_lines
from agency_client.cli import cli
from linkage.errors import ConfigError, InvalidInputError
from linkage.limited_read import read_limited
from tests.agency_client.workflow_fixtures import make_agency_folder

pytestmark = pytest.mark.unit

ENDLESS = "/dev/zero"
LINE_TOO_LONG = f"line 1 is longer than {MAX_LINE_CHARS:,} characters"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stderr


def _one_error_line(code: int, stderr: str, expected: str) -> None:
    assert code == 2, stderr
    assert stderr.startswith("error: "), stderr
    assert expected in stderr, stderr
    assert "Traceback" not in stderr


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_agency_folder(tmp_path_factory.mktemp("agency"), people=5).root


def test_encode_refuses_an_endless_export(folder: Path) -> None:
    code, err = run(
        "encode", "--config", str(folder / "agency.toml"), ENDLESS, "-o", str(folder / "o.clk")
    )
    _one_error_line(code, err, f"zero: {LINE_TOO_LONG}")
    assert not (folder / "o.clk").exists()


@pytest.mark.parametrize("dry_run", [True, False])
def test_upload_refuses_an_endless_export(folder: Path, dry_run: bool) -> None:
    args = ["upload", "--config", str(folder / "agency.toml"), ENDLESS]
    code, err = run(*args, *(["--dry-run"] if dry_run else []))
    _one_error_line(code, err, LINE_TOO_LONG)


def test_upload_refuses_an_endless_events_file(folder: Path) -> None:
    config = str(folder / "agency.toml")
    code, err = run("upload", "--config", config, str(folder / "export.csv"), "--events", ENDLESS)
    _one_error_line(code, err, LINE_TOO_LONG)


def test_consent_refuses_an_endless_csv(folder: Path) -> None:
    config = str(folder / "agency.toml")
    code, err = run("consent", "set", "--config", config, "--from-csv", ENDLESS)
    _one_error_line(code, err, LINE_TOO_LONG)


def test_withdraw_refuses_an_endless_id_file(folder: Path) -> None:
    code, err = run("withdraw", "--config", str(folder / "agency.toml"), "--from-file", ENDLESS)
    _one_error_line(code, err, "line 1 is longer than 4,096 characters")


def test_an_endless_config_is_refused(folder: Path) -> None:
    code, err = run("status", "--config", ENDLESS)
    _one_error_line(code, err, "the config file zero is larger than 1,048,576 bytes")


def test_an_endless_schema_is_refused() -> None:
    code, err = run("schema", "validate", ENDLESS)
    _one_error_line(code, err, "the schema file zero is larger than 4,194,304 bytes")


# -- the two readers ----------------------------------------------------------------------


def test_bounded_lines_keeps_line_ends_and_joined_quoted_cells() -> None:
    text = 'a,b\r\n"x\ny",2\nlast'
    assert list(bounded_lines(io.StringIO(text, newline=""), "f.csv")) == [
        "a,b\r\n",
        '"x\n',
        'y",2\n',
        "last",
    ]


def test_bounded_lines_accepts_a_line_at_the_limit_and_refuses_one_more() -> None:
    at_limit = "a" * 9 + "\n"  # ten characters, line end included
    assert list(bounded_lines(io.StringIO(at_limit * 2, newline=""), "f", limit=10)) == [
        at_limit,
        at_limit,
    ]
    with pytest.raises(InvalidInputError, match="f: line 2 is longer than 10 characters"):
        list(bounded_lines(io.StringIO(at_limit + "b" * 11, newline=""), "f", limit=10))


def test_read_limited_refuses_a_file_one_byte_over(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_bytes(b"x" * 100)
    assert read_limited(path, 100, "the configuration") == b"x" * 100
    path.write_bytes(b"x" * 101)
    with pytest.raises(ConfigError, match=r"the configuration server\.toml is larger than 100"):
        read_limited(path, 100, "the configuration")
    with pytest.raises(InvalidInputError) as caught:
        read_limited(path, 100, "the list", InvalidInputError)
    assert type(caught.value) is InvalidInputError
