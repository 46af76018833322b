"""Segmented CLKs of synthetic multi-agency people, for the probabilistic service tests."""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from agency_client._config import load_agency_config
from agency_client._mapping import RowMapper
from linkage.encode import SegmentedEncoder, default_segmented_schema, segment_layout
from linkage.service import LinkageSettings, ProbabilisticSettings
from linkage.synth import generate_scenario

SEGMENTED = default_segmented_schema()
LAYOUT = segment_layout(SEGMENTED.schema.length, SEGMENTED.segmentation)
SEGMENTED_BITS = LAYOUT.total_words * 64
PROBABILISTIC = ProbabilisticSettings(
    layout=LAYOUT, hardened=True, schema_source="default-segmented", min_fit_records=200
)
PROB_SETTINGS = LinkageSettings(
    threshold=0.5,
    clk_bits=SEGMENTED_BITS,
    key_epoch=1,
    schema_fingerprint=SEGMENTED.fingerprint,
    probabilistic=PROBABILISTIC,
)


@dataclass(frozen=True, slots=True)
class SegmentedRecord:
    agency_id: str
    key: str
    person_id: str
    clk: bytes
    #: surname and date of birth of the person: equal for twins
    family: str


@cache
def segmented_records(people: int, seed: int) -> tuple[SegmentedRecord, ...]:
    """Every agency's export of ``people`` synthetic people, mapped by the agency's own
    mapping and encoded with the shipped segmented schema under a fresh secret."""
    scenario = generate_scenario(people=people, seed=seed)
    person_of = {(t.agency_id, t.local_id): t.person_id for t in scenario.truth}
    family = {p.person_id: f"{p.surname}|{p.date_of_birth}" for p in scenario.people}
    encoder = SegmentedEncoder(SEGMENTED, secrets.token_bytes(32), key_epoch=1)
    environ = {"TEST_SECRET": secrets.token_hex(32)}
    out: list[SegmentedRecord] = []
    with tempfile.TemporaryDirectory() as folder:
        for export in scenario.exports:
            agency = export.agency
            path = Path(folder) / f"{agency.agency_id}.toml"
            path.write_text(
                f'[agency]\nname = "{agency.display_name}"\nkey_epoch = 1\n\n'
                '[secret]\nenv = "TEST_SECRET"\n\n[schema]\nfile = "default"\n\n'
                + agency.mapping_toml,
                encoding="utf-8",
            )
            mapper = RowMapper(load_agency_config(path, environ), agency.header)
            keys: list[str] = []
            values: list[list[str | None]] = []
            for line, row in enumerate(export.rows, start=1):
                mapped = mapper.map_row(line, row)
                if isinstance(mapped, list):
                    continue
                keys.append(row[0])
                values.append(list(mapped.values))
            batch = encoder.encode_valid(values)
            for row_index, clk in zip(batch.accepted.tolist(), batch.clks, strict=True):
                key = keys[row_index]
                person_id = person_of[(agency.agency_id, key)]
                out.append(
                    SegmentedRecord(
                        agency.agency_id, key, person_id, clk.tobytes(), family[person_id]
                    )
                )
    return tuple(out)


def with_probabilistic(**changes: object) -> LinkageSettings:
    """:data:`PROB_SETTINGS` with some probabilistic settings changed."""
    return dataclasses.replace(
        PROB_SETTINGS, probabilistic=dataclasses.replace(PROBABILISTIC, **changes)
    )
