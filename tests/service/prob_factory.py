"""Segmented CLKs of synthetic multi-agency people, for the probabilistic service tests."""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from functools import cache

from benchmarks.scenario_rows import mapped_rows
from linkage.encode import SegmentedEncoder, default_segmented_schema, segment_layout
from linkage.service import LinkageSettings, ProbabilisticSettings

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
    rows = mapped_rows(people, seed)
    encoder = SegmentedEncoder(SEGMENTED, secrets.token_bytes(32), key_epoch=1)
    batch = encoder.encode_valid([list(r.values) for r in rows])
    return tuple(
        SegmentedRecord(
            rows[i].agency_id, rows[i].local_id, rows[i].person_id, clk.tobytes(), rows[i].family
        )
        for i, clk in zip(batch.accepted.tolist(), batch.clks, strict=True)
    )


def with_probabilistic(**changes: object) -> LinkageSettings:
    """:data:`PROB_SETTINGS` with some probabilistic settings changed."""
    return dataclasses.replace(
        PROB_SETTINGS, probabilistic=dataclasses.replace(PROBABILISTIC, **changes)
    )
