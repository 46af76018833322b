"""Regression tests of what the fuzzers found (tests/fuzz/targets.py), one per finding, at
the level where it was found; each finding's input is also kept in the target's corpus
(``finding-<what>``), so every bounded run replays it. Findings of the adversarial test
that came before the fuzzers are tested beside their code (tests/server/
test_malformed_requests.py, tests/agency_client/test_endless_input.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agency_client._client_config import load_client_config
from agency_client._export import find_record, iter_local_ids
from linkage.errors import InvalidInputError
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
