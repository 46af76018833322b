"""Regression tests of what the fuzzers found (tests/fuzz/targets.py), one per finding, at
the level where it was found; each finding's input is also kept in the target's corpus
(``finding-<what>``), so every bounded run replays it. Findings of the adversarial test
that came before the fuzzers are tested beside their code (tests/server/
test_malformed_requests.py, tests/agency_client/test_endless_input.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agency_client._client_config import load_client_config
from agency_client._clkfile import ClkBatch, ClkFileHeader, open_writer, read_clk_batches
from agency_client._cmd_consent import read_consent_csv
from agency_client._export import find_record, iter_local_ids
from linkage.errors import IntegrityError, InvalidInputError
from tests.fuzz.targets import agency_folder

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).resolve().parent / "corpus"


def test_an_export_header_that_is_not_utf8_is_a_named_error_for_deref(tmp_path: Path) -> None:
    # export_csv: deref's record search read the header outside its decoding guard, so a
    # byte that is not UTF-8 in the first block read (here in the third row) raised
    # UnicodeDecodeError
    folder = agency_folder(tmp_path)
    client = load_client_config(folder / "agency.toml", {})
    export = folder / "export.csv"
    export.write_bytes((CORPUS / "export_csv" / "finding-deref-header-not-utf8").read_bytes())
    assert b"\xff" in export.read_bytes()
    with pytest.raises(InvalidInputError, match=r"export\.csv is not valid utf-8-sig text"):
        find_record(client, export, "VMHC-1000")
    with pytest.raises(InvalidInputError, match="is not valid utf-8-sig text"):
        list(iter_local_ids(client, export))


def _input_of(target: str, finding: str) -> bytes:
    """A finding's input without its target's selector byte."""
    return (CORPUS / target / finding).read_bytes()[1:]


def test_a_consent_csv_that_is_not_utf8_is_a_named_error(tmp_path: Path) -> None:
    # agency_files: consent set --from-csv read the header and rows outside any decoding
    # or CSV guard (UnicodeDecodeError)
    path = tmp_path / "consent.csv"
    path.write_bytes(_input_of("agency_files", "finding-consent-csv-not-utf8"))
    with pytest.raises(InvalidInputError, match=r"consent\.csv is not UTF-8 text"):
        read_consent_csv(path)


def test_a_clk_file_row_number_beyond_int64_is_damage(tmp_path: Path) -> None:
    # agency_files: a row number of 2^63 or more in a CLK file with record keys raised
    # OverflowError (without keys it silently turned negative)
    path = tmp_path / "export.clk"
    path.write_bytes(_input_of("agency_files", "finding-clk-row-number-over-int64"))
    with pytest.raises(IntegrityError, match="row number is out of range"):
        list(read_clk_batches(path))
    for keys in (("a",), None):
        path = tmp_path / f"keys-{keys is not None}.clk"
        header = ClkFileHeader(
            schema_fingerprint="ab" * 32,
            key_epoch=1,
            clk_bits=64,
            record_key_column="client_id" if keys else None,
        )
        writer = open_writer(path, "clk", header)
        writer.write(
            ClkBatch(
                row_numbers=np.array([5], dtype=np.int64),
                record_keys=keys,
                clks=np.zeros((1, 8), dtype=np.uint8),
            )
        )
        writer.commit()
        data = bytearray(path.read_bytes())
        at = data.index((5).to_bytes(8, "big"))
        data[at : at + 8] = (2**63).to_bytes(8, "big")
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError, match="row number is out of range"):
            list(read_clk_batches(path))
