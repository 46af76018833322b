"""Segmented records under a known secret, so tests can encode responder queries too.

:func:`tests.service.prob_factory.segmented_records` encodes under a fresh secret and keeps
no encoder; the lookup tests need one to encode a query with some fields left out or
changed (a twin's given name), exactly as an agency's gateway would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from benchmarks.scenario_rows import MappedRow, mapped_rows
from linkage.encode import DEFAULT_FEATURES, SegmentedEncoder
from linkage.service import LinkageService, LinkageSettings, RecordUpsert, ServiceLimits, WriteBatch
from linkage.store import SqliteLinkStore
from tests.service.factory import OPERATOR, agency, consent
from tests.service.prob_factory import LAYOUT, SEGMENTED

SECRET = bytes(range(32))
ENCODER = SegmentedEncoder(SEGMENTED, SECRET, key_epoch=1)
#: bytes of the record-level CLK at the start of a segmented CLK
RECORD_BYTES = 8 * (LAYOUT.record.stop_word if LAYOUT.record is not None else 0)


@dataclass(frozen=True, slots=True)
class Encoded:
    row: MappedRow
    clk: bytes


@cache
def encoded_rows(people: int, seed: int) -> tuple[Encoded, ...]:
    """Every mapped row of the scenario, encoded under :data:`SECRET`."""
    rows = mapped_rows(people, seed)
    batch = ENCODER.encode_valid([list(r.values) for r in rows])
    return tuple(
        Encoded(rows[i], clk.tobytes())
        for i, clk in zip(batch.accepted.tolist(), batch.clks, strict=True)
    )


def encode_query(values: Sequence[str | None]) -> bytes:
    """One query CLK from schema-ordered values."""
    return ENCODER.encode([tuple(values)]).tobytes()


def with_values(values: Sequence[str | None], **changes: str | None) -> list[str | None]:
    """``values`` with some features replaced (None: left out)."""
    out = list(values)
    for name, value in changes.items():
        out[DEFAULT_FEATURES.index(name)] = value
    return out


def open_service(
    path: Path, settings: LinkageSettings, agencies: Sequence[str]
) -> tuple[LinkageService, SqliteLinkStore]:
    store = SqliteLinkStore(path)
    service = LinkageService(
        store, settings, ServiceLimits(lookup_burst=100_000, max_batch_mutations=5000)
    )
    for agency_id in agencies:
        if store.get_agency(agency_id) is None:
            service.create_agency(OPERATOR, agency_id, agency_id, b"")
    return service, store


def upsert(record: Encoded, *, linkable: bool = True) -> RecordUpsert:
    key = record.row.local_id.encode()
    return RecordUpsert(
        record_key=key,
        clk=record.clk,
        pointer_token=b"ptr:" + key,
        consent=consent(linkable=linkable),
        linkable=linkable,
    )


def upload_by_agency(
    service: LinkageService, records: Sequence[Encoded], tag: str
) -> dict[str, list[Encoded]]:
    """One batch per agency; returns the records by agency."""
    by_agency: dict[str, list[Encoded]] = defaultdict(list)
    for record in records:
        by_agency[record.row.agency_id].append(record)
    for agency_id, mine in by_agency.items():
        service.write_batch(
            agency(agency_id),
            WriteBatch(
                agency_id=agency_id,
                batch_id=tag,
                key_epoch=1,
                schema_fingerprint=service.settings.schema_fingerprint,
                mutations=tuple(upsert(r) for r in mine),
            ),
        )
    return by_agency


def record_popcounts(clks: Sequence[bytes]) -> np.ndarray:
    """Set bits of the record-level part of each segmented CLK."""
    if not clks:
        return np.zeros(0, dtype=np.int64)
    data = np.frombuffer(b"".join(c[:RECORD_BYTES] for c in clks), dtype=np.uint8)
    counts = np.bitwise_count(data.reshape(len(clks), RECORD_BYTES)).sum(axis=1)
    return np.asarray(counts, dtype=np.int64)
