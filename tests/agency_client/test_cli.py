"""The real ``agency-client`` CLI, run in isolated folders."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from agency_client import encode_export, load_agency_config, read_clk_batches, read_clk_file_header
from agency_client.cli import cli
from linkage.encode import ClkEncoder, default_schema, default_schema_text, schema_fingerprint

pytestmark = pytest.mark.unit


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_encode_skips_bad_rows_and_reports_them_without_values(agency_dir: Path) -> None:
    out = agency_dir / "out.clk"
    code, stdout, stderr = run(
        "encode",
        "--config",
        str(agency_dir / "agency.toml"),
        str(agency_dir / "valley-mhc-export.csv"),
        "-o",
        str(out),
        "--workers",
        "1",
    )
    assert code == 0, stderr
    assert "encoded 57 of 61 rows" in stdout
    assert "skipped 4 bad rows" in stdout
    assert "skipped row 11, column dob: not a real calendar date" in stderr
    assert "02/30/1981" not in stderr + stdout
    header = read_clk_file_header(out)
    assert header.count == 57
    assert header.schema_fingerprint == schema_fingerprint(default_schema())
    assert header.record_key_column == "client_id"
    batches = list(read_clk_batches(out))
    keys = [k for b in batches for k in (b.record_keys or ())]
    assert keys[0] == "VMHC-1000"
    rows = [n for b in batches for n in b.row_numbers.tolist()]
    assert not {11, 26, 42, 51} & set(rows)
    raw = out.read_bytes()
    # The first row's identifiers, as exported and as normalised. (Strings of five bytes or
    # more: the bare year, four bytes, can turn up by chance among the 7,000-odd random CLK
    # bytes, and once did in a full test run.)
    for plaintext in ("Mateo", "Müller", "mateo", "muller", "09/04/1949", "19490409", "Mill Lane"):
        assert plaintext.encode() not in raw, plaintext


def test_the_duplicate_person_encodes_to_the_same_clk(agency_dir: Path) -> None:
    # VMHC-1000 "Müller, Mateo" and VMHC-2000 "MULLER, Mateo" differ only in case,
    # diacritics and sex code (F vs M).
    out = agency_dir / "out.clk"
    run(
        "encode",
        "--config",
        str(agency_dir / "agency.toml"),
        str(agency_dir / "valley-mhc-export.csv"),
        "-o",
        str(out),
        "--workers",
        "1",
    )
    batch = next(read_clk_batches(out))
    keys = list(batch.record_keys or ())
    first, dup = batch.clks[keys.index("VMHC-1000")], batch.clks[keys.index("VMHC-2000")]
    a = np.unpackbits(first).astype(bool)
    b = np.unpackbits(dup).astype(bool)
    dice = 2 * (a & b).sum() / (a.sum() + b.sum())
    assert 0.9 < dice < 1.0


def test_strict_fails_with_exit_2_and_writes_nothing(agency_dir: Path) -> None:
    out = agency_dir / "out.clk"
    code, _, stderr = run(
        "encode",
        "--config",
        str(agency_dir / "agency.toml"),
        str(agency_dir / "valley-mhc-export.csv"),
        "-o",
        str(out),
        "--strict",
        "--workers",
        "1",
    )
    assert code == 2
    assert "--strict: nothing was written" in stderr
    assert "row 26, column gender: not a recognised sex code" in stderr
    assert not out.exists()
    assert not [p for p in agency_dir.iterdir() if p.name.startswith(".out.clk")]


def test_clkhash_json_output_matches_the_clk_file(agency_dir: Path) -> None:
    clk, js = agency_dir / "out.clk", agency_dir / "out.json"
    for target, fmt in ((clk, "clk"), (js, "clkhash-json")):
        code, _, stderr = run(
            "encode",
            "--config",
            str(agency_dir / "agency.toml"),
            str(agency_dir / "valley-mhc-export.csv"),
            "-o",
            str(target),
            "--format",
            fmt,
        )
        assert code == 0, stderr
    left = np.concatenate([b.clks for b in read_clk_batches(clk)])
    right = np.concatenate([b.clks for b in read_clk_batches(js)])
    assert np.array_equal(left, right)


def test_missing_column_and_short_secret_exit_2(agency_dir: Path) -> None:
    export = agency_dir / "valley-mhc-export.csv"
    export.write_text(export.read_text().replace("client_name", "name", 1))
    code, _, stderr = run(
        "encode",
        "--config",
        str(agency_dir / "agency.toml"),
        str(export),
        "-o",
        str(agency_dir / "o.clk"),
    )
    assert code == 2
    assert "column client_name: not in the header" in stderr
    (agency_dir / "linkage-secret.key").write_text("short")
    (agency_dir / "linkage-secret.key").chmod(0o600)
    code, _, stderr = run(
        "encode",
        "--config",
        str(agency_dir / "agency.toml"),
        str(export),
        "-o",
        str(agency_dir / "o.clk"),
    )
    assert code == 2
    assert "shorter than 16 bytes" in stderr


def test_there_is_no_secret_option() -> None:
    code, _, stderr = run("encode", "--secret", "x" * 32, "--config", "a.toml", "in.csv", "-o", "o")
    assert code == 2
    assert "No such option" in stderr


def test_parallel_pipeline_equals_single_process_and_direct_encoding(agency_dir: Path) -> None:
    export = agency_dir / "valley-mhc-export.csv"
    with export.open() as handle:
        rows = list(csv.reader(handle))
    big = agency_dir / "big.csv"
    with big.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(rows[0])
        for copy in range(12):
            writer.writerows([[f"{r[0]}-{copy}", *r[1:]] for r in rows[1:]])
    config = load_agency_config(agency_dir / "agency.toml", {})
    one = encode_export(config, big, agency_dir / "one.clk", workers=1, chunk_rows=50)
    two = encode_export(config, big, agency_dir / "two.clk", workers=2, chunk_rows=50)
    # The row without a record key gets one ("-0", ...) in the copies, so 3 bad rows remain.
    assert one.rows_encoded == two.rows_encoded == 58 * 12
    assert one.rows_skipped == two.rows_skipped == 3 * 12
    assert (agency_dir / "one.clk").read_bytes()[:16] == (agency_dir / "two.clk").read_bytes()[:16]
    first = list(read_clk_batches(agency_dir / "one.clk"))
    second = list(read_clk_batches(agency_dir / "two.clk"))
    assert np.array_equal(
        np.concatenate([b.clks for b in first]), np.concatenate([b.clks for b in second])
    )
    assert [k for b in first for k in b.record_keys or ()] == [
        k for b in second for k in b.record_keys or ()
    ]
    # Row 2 of the export (VMHC-1001 "TAYLOR, Liam", 04/21/1955, X, no phone, 57 High St ...).
    direct = ClkEncoder(
        default_schema(), config.secret.reveal(), key_epoch=config.key_epoch
    ).encode_record(
        [
            "liam",
            None,
            "taylor",
            "1955-04-21",
            "x",
            None,
            "57 high st",
            None,
            "springvale",
            "3171",
            "vic",
        ]
    )
    assert bytes(first[0].clks[1]) == direct


def test_schema_validate_and_describe(tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(default_schema_text())
    code, stdout, _ = run("schema", "validate", str(schema_file))
    assert code == 0
    assert schema_fingerprint(default_schema()) in stdout
    code, stdout, _ = run("schema", "describe", str(schema_file))
    assert code == 0
    assert "[3] date_of_birth: date '%Y-%m-%d'; positional 1-grams, 250 bits per feature" in stdout
    schema_file.write_text(
        '{"version": 3, "clkConfig": {"l": 64, "kdf": {"type": "HKDF"}}, '
        '"features": [{"identifier": "x", "format": {"type": "string"}, '
        '"hashing": {"comparison": {"type": "ngram", "n": 2}, '
        '"strategy": {"bitsPerToken": 0}}}]}'
    )
    code, _, stderr = run("schema", "validate", str(schema_file))
    assert code == 2
    assert "$.features[0].hashing.strategy.bitsPerToken: must be >= 1" in stderr


def test_describe_an_encoded_file_shows_a_histogram(agency_dir: Path) -> None:
    out = agency_dir / "out.clk"
    run(
        "encode",
        "--config",
        str(agency_dir / "agency.toml"),
        str(agency_dir / "valley-mhc-export.csv"),
        "-o",
        str(out),
    )
    code, stdout, _ = run("schema", "describe", str(out))
    assert code == 0
    assert "57 records of 1024 bits" in stdout
    assert "bits set per CLK: n=57" in stdout
    assert stdout.count("|") >= 5
