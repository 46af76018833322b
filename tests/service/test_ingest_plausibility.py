"""Implausible record CLKs are refused at ingest as at lookup, by fixed rules that no
genuine record of the synthetic scenarios breaks (issue 22)."""

from __future__ import annotations

import secrets
from pathlib import Path

import numpy as np
import pytest

from linkage.encode import ClkEncoder, default_schema, plain_schema
from linkage.errors import InvalidInputError
from linkage.security import record_clk_problems
from linkage.service import LinkageService, Mutation, RecordUpsert, WriteBatch
from tests.service.factory import agency, batch, person, upsert
from tests.service.prob_factory import LAYOUT, PROB_SETTINGS
from tests.service.prob_queries import encoded_rows, open_service
from tests.service.prob_queries import upsert as segmented_upsert

SEEDS = (1, 2025, 7)


def _segmented_batch(agency_id: str, batch_id: str, *mutations: Mutation) -> WriteBatch:
    return WriteBatch(agency_id, batch_id, 1, PROB_SETTINGS.schema_fingerprint, mutations)


def _with_clk(record: RecordUpsert, clk: bytes) -> RecordUpsert:
    return RecordUpsert(record.record_key, clk, record.pointer_token, record.consent, True)


def test_an_all_ones_clk_is_refused_naming_its_position_and_nothing_is_stored(
    service: LinkageService,
) -> None:
    rng = np.random.default_rng(3)
    good = [upsert(f"r{i}", person(rng)) for i in range(3)]
    probe = _with_clk(upsert("probe", person(rng)), b"\xff" * 128)
    with pytest.raises(InvalidInputError) as caught:
        service.write_batch(agency("police"), batch("police", "b1", *good, probe))
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        ("mutations[3].upsert.clk", "has every bit set: no encoding sets them all")
    ]
    assert "\\xff" not in str(caught.value)
    assert service.list_records("police", b"", 10) == []


def test_a_segment_all_ones_is_refused_naming_the_segment(tmp_path: Path) -> None:
    service, store = open_service(tmp_path / "index.db", PROB_SETTINGS, ["metro-police"])
    try:
        record = segmented_upsert(encoded_rows(40, 1)[0])
        surname = next(part for part in LAYOUT.fields if part.name == "surname")
        clk = bytearray(record.clk)
        clk[8 * surname.start_word : 8 * surname.stop_word] = b"\xff" * (
            8 * (surname.stop_word - surname.start_word)
        )
        with pytest.raises(InvalidInputError) as caught:
            service.write_batch(
                agency("metro-police"),
                _segmented_batch("metro-police", "b1", _with_clk(record, bytes(clk))),
            )
        assert [(p.location, p.reason) for p in caught.value.problems] == [
            (
                "mutations[0].upsert.clk.surname",
                "has more than 95% of its bits set: no encoding does",
            )
        ]
    finally:
        store.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_no_genuine_segmented_record_of_the_scenarios_is_refused(seed: int, tmp_path: Path) -> None:
    """Every agency's records of a 1,000-person scenario pass the batch validation that
    write_batch runs first (the linking after it is not what this checks)."""
    records = encoded_rows(1000, seed)
    agencies = sorted({r.row.agency_id for r in records})
    service, store = open_service(tmp_path / "index.db", PROB_SETTINGS, agencies)
    try:
        for agency_id in agencies:
            mine = {
                r.row.local_id: segmented_upsert(r) for r in records if r.row.agency_id == agency_id
            }
            service._ingest.validate(_segmented_batch(agency_id, "all", *mine.values()))
    finally:
        store.close()


def test_a_genuine_segmented_scenario_is_stored_whole(tmp_path: Path) -> None:
    records = encoded_rows(150, 5)
    agencies = sorted({r.row.agency_id for r in records})
    service, store = open_service(tmp_path / "index.db", PROB_SETTINGS, agencies)
    try:
        for agency_id in agencies:
            mine = {
                r.row.local_id: segmented_upsert(r) for r in records if r.row.agency_id == agency_id
            }
            outcome = service.write_batch(
                agency(agency_id), _segmented_batch(agency_id, "all", *mine.values())
            )
            assert outcome.inserted == len(mine)
    finally:
        store.close()


@pytest.mark.parametrize("seed", SEEDS)
def test_no_genuine_dice_record_of_the_scenarios_is_refused(seed: int) -> None:
    values = [list(r.row.values) for r in encoded_rows(1000, seed)]
    for schema in (default_schema(), plain_schema()):
        encoded = ClkEncoder(schema, secrets.token_bytes(32), key_epoch=1).encode_valid(values)
        clks = np.ascontiguousarray(np.asarray(encoded.clks))
        refused = [i for i, clk in enumerate(clks) if record_clk_problems(clk.tobytes(), "clk")]
        assert refused == []
