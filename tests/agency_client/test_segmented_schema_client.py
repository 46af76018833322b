"""The agency client with per-field segment schemas: every ``[schema] file`` form, the errors,
encoding an export with ``default-segmented`` (336-byte CLKs, the segmented fingerprint, equal
to :class:`SegmentedEncoder`'s output), the gateway's query encoding and ``schema describe``."""

from __future__ import annotations

import copy
import csv
import json
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from agency_client import (
    EncodingSchema,
    RowMapper,
    builtin_encoding_schema,
    encode_export,
    load_agency_config,
    read_clk_batches,
    read_clk_file_header,
)
from agency_client._cli_common import EXIT_DOMAIN_ERROR
from agency_client._client_config import load_client_config
from agency_client._gateway import GatewayApp
from agency_client._query import QueryEncoder
from agency_client._workflow import plan_upload
from agency_client.cli import cli
from linkage.consent import Purpose
from linkage.encode import (
    DEFAULT_SEGMENTS,
    ClkEncoder,
    SegmentedEncoder,
    default_schema,
    default_schema_text,
    default_segmented_schema,
    load_segmented_schema,
    plain_schema,
    plain_schema_text,
    schema_fingerprint,
)
from linkage.errors import ConfigError, SchemaError
from linkage.v1 import ingest_pb2, lookup_pb2
from tests.agency_client.workflow_fixtures import MHC, make_agency_folder

pytestmark = pytest.mark.unit

#: Row 2 of the sample export (VMHC-1001 "TAYLOR, Liam", 04/21/1955, X, no phone, 57 High St,
#: Springvale 3171 VIC), normalised, in the default schema's feature order.
TAYLOR = ["liam", None, "taylor", "1955-04-21", "x", None, "57 high st", None, "springvale",
          "3171", "vic"]  # fmt: skip
TAYLOR_QUERY = {
    "given_name": "Liam",
    "surname": "TAYLOR",
    "date_of_birth": "1955-04-21",
    "sex": "X",
    "street_address": "57 High St",
    "suburb": "Springvale",
    "postcode": "3171",
    "state": "VIC",
}
DOB_SEGMENT = {
    "fields": [
        {
            "name": "dob",
            "features": ["date_of_birth"],
            "filterBits": 256,
            "bitsPerToken": 8,
            "bits": 256,
        }
    ]
}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def use_schema(agency_dir: Path, value: str) -> Path:
    """Set ``[schema] file`` of the sample agency.toml."""
    config_path = agency_dir / "agency.toml"
    text, count = re.subn(
        r'(\[schema\]\nfile = )"[^"]*"',
        lambda m: m.group(1) + json.dumps(value),
        config_path.read_text(),
    )
    assert count == 1
    config_path.write_text(text)
    return config_path


def schema_document(segments: object | None, base: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(base or default_schema_text())
    if segments is not None:
        document["segments"] = segments
    return document


# --------------------------------------------------------------------------- config forms


def test_built_in_schema_names(agency_dir: Path) -> None:
    segmented = default_segmented_schema()
    expected = {
        "default": ("hardened", schema_fingerprint(default_schema()), 1024),
        "plain": ("plain", schema_fingerprint(plain_schema()), 1024),
        "default-segmented": ("segmented", segmented.fingerprint, 2688),
    }
    for name, (kind, fingerprint, bits) in expected.items():
        config = load_agency_config(use_schema(agency_dir, name), {})
        encoding = config.encoding_schema
        assert (encoding.kind, encoding.fingerprint, encoding.clk_bits) == (kind, fingerprint, bits)
        assert encoding.clk_bytes * 8 == bits
        assert config.schema_source == name
        assert config.schema == encoding.schema, "config.schema is the record-level schema"
        assert encoding.identifiers == default_schema().identifiers
    built_in = builtin_encoding_schema("default-segmented")
    assert built_in is not None
    assert built_in.segmented == segmented
    assert built_in.clk_bytes == 336
    assert built_in.fingerprint != schema_fingerprint(default_schema())
    assert builtin_encoding_schema("nonsense") is None


def test_a_schema_file_with_a_segments_block_is_segmented(agency_dir: Path) -> None:
    document = schema_document(DOB_SEGMENT)
    (agency_dir / "seg.json").write_text(json.dumps(document))
    config = load_agency_config(use_schema(agency_dir, "seg.json"), {})
    encoding = config.encoding_schema
    assert encoding.kind == "segmented"
    assert encoding.fingerprint == load_segmented_schema(document).fingerprint
    assert encoding.clk_bits == 1024 + 256
    layout = encoding.layout
    assert layout is not None
    assert [f.name for f in layout.fields] == ["dob"]
    assert layout.record is not None
    assert layout.record.bits == 1024
    # The same schema without its segments block: a record-level schema, as before.
    (agency_dir / "seg.json").write_text(json.dumps(schema_document(None)))
    record_only = load_agency_config(agency_dir / "agency.toml", {}).encoding_schema
    assert record_only.kind == "hardened"
    assert record_only.fingerprint == schema_fingerprint(default_schema())
    assert record_only.layout is None
    assert record_only.clk_bits == 1024


@pytest.mark.parametrize(
    ("segments", "where"),
    [
        ({"fields": [{**DOB_SEGMENT["fields"][0], "bits": 100}]}, "$.segments.fields[0].bits"),
        ({"fields": [{**DOB_SEGMENT["fields"][0], "features": ["nope"]}]},
         "$.segments.fields[0].features"),
        ({"fields": []}, "$.segments.fields"),
        ({**DOB_SEGMENT, "colour": "red"}, "$.segments.colour"),
        ([], "$.segments"),
        ({**DOB_SEGMENT, "diffusion": {"t": 0}}, "$.segments.diffusion.t"),
    ],
)  # fmt: skip
def test_a_bad_segments_block_names_the_json_path(
    agency_dir: Path, segments: object, where: str
) -> None:
    (agency_dir / "seg.json").write_text(json.dumps(schema_document(segments)))
    with pytest.raises(ConfigError) as info:
        load_agency_config(use_schema(agency_dir, "seg.json"), {})
    locations = {p.location for p in info.value.problems}
    assert "schema.file" in locations
    assert where in locations


def test_segments_need_a_record_clk_of_whole_64_bit_words(agency_dir: Path) -> None:
    plain = json.loads(plain_schema_text())
    plain["clkConfig"]["l"] = 32
    (agency_dir / "seg.json").write_text(
        json.dumps(schema_document(DOB_SEGMENT, json.dumps(plain)))
    )
    with pytest.raises(ConfigError) as info:
        load_agency_config(use_schema(agency_dir, "seg.json"), {})
    assert any(
        p.location == "$.segments" and "multiple of 64" in p.reason for p in info.value.problems
    )
    with pytest.raises(SchemaError):
        EncodingSchema.of(load_segmented_schema(schema_document(DOB_SEGMENT, json.dumps(plain))))


def test_empty_schema_file_setting_is_an_error(agency_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_agency_config(use_schema(agency_dir, ""), {})
    assert "schema.file" in {p.location for p in info.value.problems}


def test_the_cli_reports_a_bad_segments_block_as_a_config_error(agency_dir: Path) -> None:
    segments = copy.deepcopy(DEFAULT_SEGMENTS)
    segments["fields"][0]["bits"] = 100
    (agency_dir / "seg.json").write_text(json.dumps(schema_document(segments)))
    config_path = use_schema(agency_dir, "seg.json")
    export = agency_dir / "valley-mhc-export.csv"
    code, _, stderr = run("encode", "--config", str(config_path), str(export), "-o", "x.clk")
    assert code == EXIT_DOMAIN_ERROR
    assert "$.segments.fields[0].bits: must be a multiple of 64" in stderr
    assert "schema.file: the schema's segments block is invalid" in stderr
    assert "Traceback" not in stderr
    code, _, stderr = run("schema", "validate", str(agency_dir / "seg.json"))
    assert code == EXIT_DOMAIN_ERROR
    assert "$.segments.fields[0].bits: must be a multiple of 64" in stderr


# --------------------------------------------------------------------------- encode


def test_encode_with_default_segmented_gives_336_byte_segmented_clks(agency_dir: Path) -> None:
    config = load_agency_config(use_schema(agency_dir, "default-segmented"), {})
    export = agency_dir / "valley-mhc-export.csv"
    out = agency_dir / "seg.clk"
    # Two worker processes and small chunks: the config (and its schema) travels by pickle.
    report = encode_export(config, export, out, workers=2, chunk_rows=20)
    segmented = default_segmented_schema()
    assert report.schema_fingerprint == segmented.fingerprint
    assert report.rows_encoded == 57
    header = read_clk_file_header(out)
    assert header.clk_bits == 2688
    assert header.schema_fingerprint == segmented.fingerprint
    assert header.key_epoch == config.key_epoch
    assert header.count == 57
    batches = list(read_clk_batches(out))
    clks = np.concatenate([b.clks for b in batches])
    assert clks.shape == (57, 336)
    # Equal to SegmentedEncoder's output for the same (mapped, normalised) rows.
    encoder = SegmentedEncoder(segmented, config.secret.reveal(), key_epoch=config.key_epoch)
    assert bytes(clks[1]) == bytes(encoder.encode([TAYLOR])[0])
    with export.open(newline="", encoding="utf-8-sig") as stream:
        rows = list(csv.reader(stream))
    mapper = RowMapper(config, rows[0])
    numbers = [n for b in batches for n in b.row_numbers.tolist()]
    values = []
    for number in numbers:
        mapped = mapper.map_row(number, rows[number])
        assert not isinstance(mapped, list)
        values.append(mapped.values)
    assert np.array_equal(encoder.encode_valid(values).clks, clks)
    # The record part is the plain default-schema CLK; the segments follow it.
    record = ClkEncoder(default_schema(), config.secret.reveal(), key_epoch=config.key_epoch)
    assert bytes(clks[1][:128]) == record.encode_record(TAYLOR)
    assert clks[:, 128:].any(axis=1).all(), "every record has segment bits"
    raw = out.read_bytes()
    assert b"Taylor" not in raw
    assert b"TAYLOR" not in raw
    assert b"1955" not in raw


def test_a_segmented_file_differs_from_a_record_level_one(agency_dir: Path) -> None:
    export = agency_dir / "valley-mhc-export.csv"
    plain_config = load_agency_config(agency_dir / "agency.toml", {})
    encode_export(plain_config, export, agency_dir / "record.clk", workers=1)
    config = load_agency_config(use_schema(agency_dir, "default-segmented"), {})
    encode_export(config, export, agency_dir / "seg.clk", workers=1, output_format="clkhash-json")
    record = read_clk_file_header(agency_dir / "record.clk")
    assert record.clk_bits == 1024
    assert record.schema_fingerprint != config.encoding_schema.fingerprint
    (json_batch,) = read_clk_batches(agency_dir / "seg.clk")
    assert json_batch.clks.shape == (57, 336)
    code, stdout, _ = run("schema", "describe", str(agency_dir / "seg.clk"))
    assert code == 0
    assert "(fill" in stdout
    assert "of 2688)" in stdout


def test_the_pickled_config_encodes_the_same(agency_dir: Path) -> None:
    config = load_agency_config(use_schema(agency_dir, "default-segmented"), {})
    copy_of = pickle.loads(pickle.dumps(config))  # noqa: S301 (our own bytes)
    assert copy_of.encoding_schema == config.encoding_schema
    first = config.encoding_schema.encoder(config.secret.reveal(), key_epoch=1)
    second = copy_of.encoding_schema.encoder(copy_of.secret.reveal(), key_epoch=1)
    assert np.array_equal(first.encode_valid([TAYLOR]).clks, second.encode_valid([TAYLOR]).clks)
    other_epoch = config.encoding_schema.encoder(config.secret.reveal(), key_epoch=2)
    assert not np.array_equal(
        first.encode_valid([TAYLOR]).clks, other_epoch.encode_valid([TAYLOR]).clks
    )


# --------------------------------------------------------------------------- gateway


class RecordingLookup:
    def __init__(self) -> None:
        self.requests: list[lookup_pb2.LookupRequest] = []

    def __call__(self, request: lookup_pb2.LookupRequest) -> lookup_pb2.LookupResponse:
        self.requests.append(request)
        return lookup_pb2.LookupResponse()


def test_the_gateway_encodes_queries_with_the_segmented_encoder(agency_dir: Path) -> None:
    config = load_agency_config(use_schema(agency_dir, "default-segmented"), {})
    encoder = QueryEncoder(config)
    clk = encoder.encode(TAYLOR_QUERY)
    assert len(clk) == 336
    segmented = SegmentedEncoder(
        default_segmented_schema(), config.secret.reveal(), key_epoch=config.key_epoch
    )
    assert clk == bytes(segmented.encode([TAYLOR])[0])
    # ... and the export path gives the same bytes for the same person (row 2).
    out = agency_dir / "seg.clk"
    encode_export(config, agency_dir / "valley-mhc-export.csv", out, workers=1)
    assert clk == bytes(next(read_clk_batches(out)).clks[1])
    lookup = RecordingLookup()
    app = GatewayApp(
        agency_name=config.agency_name,
        encoder=encoder,
        lookup=lookup,
        key_epoch=config.key_epoch,
        fingerprint=config.encoding_schema.fingerprint,
        purpose=Purpose.CRISIS_RESPONSE,
    )
    assert app.run_lookup(TAYLOR_QUERY) == []
    (request,) = lookup.requests
    assert request.clk == clk
    assert request.schema_fingerprint == default_segmented_schema().fingerprint
    assert request.key_epoch == config.key_epoch


def test_upload_planning_sends_segmented_clks_and_fingerprint(tmp_path: Path) -> None:
    folder = make_agency_folder(tmp_path / "mhc", people=12, schema="default-segmented")
    session = folder.session()
    assert session.fingerprint == default_segmented_schema().fingerprint
    client = load_client_config(folder.config, {})
    assert client.encoding.encoding_schema.kind == "segmented"
    with session.state() as state:
        plan = plan_upload(session, state, folder.export, workers=1)
        assert plan.new > 0
        requests = [ingest_pb2.WriteBatchRequest.FromString(p.request) for p in state.pending()]
    assert {r.schema_fingerprint for r in requests} == {default_segmented_schema().fingerprint}
    clks = [m.upsert.clk for r in requests for m in r.mutations if m.HasField("upsert")]
    assert len(clks) == plan.new
    assert {len(c) for c in clks} == {336}


# --------------------------------------------------------------------------- schema command


def test_schema_describe_shows_the_segment_layout(tmp_path: Path) -> None:
    code, stdout, stderr = run("schema", "describe", "default-segmented")
    assert code == 0, stderr
    fingerprint = default_segmented_schema().fingerprint
    assert f"fingerprint {fingerprint}" in stdout
    assert "2688-bit CLKs (336 bytes) = 1024-bit record CLK + 14 segments (1664 bits)" in stdout
    assert "segment diffusion: t = 10 filter bits per output bit" in stdout
    assert "layout (15 parts, 42 64-bit words):" in stdout
    lines = stdout.splitlines()
    assert any(line.split()[:3] == ["record", "words", "0-15"] for line in lines)
    given = next(line for line in lines if line.strip().startswith("given_name "))
    assert "words  16-17    128 bits" in given
    assert "1024-bit filter, 10 bits per token, key group names" in given
    sex = next(line for line in lines if line.strip().startswith("sex "))
    assert "64 bits" in sex
    locality = next(line for line in lines if line.strip().startswith("locality "))
    assert "suburb, postcode, state" in locality
    assert "words  29-30" in locality
    assert "given_name <-> surname" in stdout
    given_key = next(line for line in lines if line.strip().startswith("given_key "))
    assert "derived keys (nicknames), up to 4 keyed 64-bit words" in given_key
    assert "record part: linkage schema v3 (hardened): 1024-bit CLKs" in stdout
    record_fingerprint = schema_fingerprint(default_schema())
    assert f"record-part fingerprint {record_fingerprint} (not for the matcher" in stdout
    assert "warning" not in stdout
    # A file with an undiffused segments block: described, with a warning.
    schema_file = tmp_path / "seg.json"
    schema_file.write_text(json.dumps(schema_document(DOB_SEGMENT)))
    code, stdout, _ = run("schema", "describe", str(schema_file))
    assert code == 0
    assert "1280-bit CLKs (160 bytes) = 1024-bit record CLK + 1 segments (256 bits)" in stdout
    assert "segment diffusion: none" in stdout
    assert "warning: the segments are not diffused" in stdout
    code, stdout, _ = run("schema", "validate", str(schema_file))
    assert code == 0
    assert "with 1 per-field segments (1024-bit record CLK + 256 segment bits)" in stdout
    assert "1280-bit CLKs (160 bytes)" in stdout
    assert load_segmented_schema(schema_document(DOB_SEGMENT)).fingerprint in stdout
    code, stdout, _ = run("schema", "validate", "default")
    assert code == 0
    assert schema_fingerprint(default_schema()) in stdout
    code, _, stderr = run("schema", "describe", str(tmp_path / "nothing-here"))
    assert code != 0
    assert "built-in schema name" in stderr


# --------------------------------------------------------------------------- init


def _init_args(tmp_path: Path, target: Path, *extra: str) -> list[str]:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("placeholder\n")
    (tmp_path / "secret.key").write_text("s" * 40)
    (tmp_path / "secret.key").chmod(0o600)
    return [
        "init", str(target), "--agency-id", "mhc-a", "--matcher", "localhost:50051",
        "--ca-cert", str(tmp_path / "ca.pem"), "--cert", str(tmp_path / "cert.pem"),
        "--key", str(tmp_path / "key.pem"), "--secret-file", str(tmp_path / "secret.key"),
        "--mapping", str(tmp_path / "mapping.toml"), *extra,
    ]  # fmt: skip


def test_init_writes_the_schema_it_is_given(tmp_path: Path) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MHC.mapping_toml)
    code, _, err = run(*_init_args(tmp_path, tmp_path / "a", "--schema", "default-segmented"))
    assert code == 0, err
    config = load_client_config(tmp_path / "a" / "agency.toml", {})
    assert config.encoding.encoding_schema.fingerprint == default_segmented_schema().fingerprint
    # A schema file outside the new folder: referenced by its absolute path.
    (tmp_path / "seg.json").write_text(json.dumps(schema_document(DOB_SEGMENT)))
    code, _, err = run(
        *_init_args(tmp_path, tmp_path / "b", "--schema", str(tmp_path / "seg.json"))
    )
    assert code == 0, err
    schema_line = f"file = {json.dumps(str((tmp_path / 'seg.json').resolve()))}"
    assert schema_line in (tmp_path / "b" / "agency.toml").read_text()
    config = load_client_config(tmp_path / "b" / "agency.toml", {})
    assert config.encoding.encoding_schema.clk_bits == 1280
    # Without --schema: the mapping's [schema] table, else the default.
    code, _, _ = run(*_init_args(tmp_path, tmp_path / "c"))
    assert code == 0
    assert (
        load_client_config(tmp_path / "c" / "agency.toml", {}).encoding.schema_source == "default"
    )
    mapping.write_text('[schema]\nfile = "plain"\n' + MHC.mapping_toml)
    code, _, _ = run(*_init_args(tmp_path, tmp_path / "f"))
    assert code == 0
    assert load_client_config(tmp_path / "f" / "agency.toml", {}).encoding.schema_source == "plain"
    code, _, err = run(*_init_args(tmp_path, tmp_path / "d", "--schema", "default-segmented"))
    assert code == EXIT_DOMAIN_ERROR
    assert "--schema names one too" in err
    assert not (tmp_path / "d").exists()
    mapping.write_text(MHC.mapping_toml)
    code, _, err = run(*_init_args(tmp_path, tmp_path / "e", "--schema", "no-such.json"))
    assert code == EXIT_DOMAIN_ERROR
    assert "--schema: no file at no-such.json" in err
