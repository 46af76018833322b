"""A matcher's store filled through the service, over several weeks of a fake clock:
synthetic records from four agencies, uploads, lookups and disclosures."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from linkage.pki import Principal, Role
from linkage.service import LinkageService, LinkageSettings, RecordUpsert, ServiceLimits, WriteBatch
from linkage.store import SqliteLinkStore
from tests.report.synthetic import SyntheticRecords, synthetic_records
from tests.service.factory import consent

FINGERPRINT = "cd" * 16
START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday
OPERATOR = Principal(Role.OPERATOR, None, "op", 1)


class FakeClock:
    """Microseconds since the epoch; tests move it forward."""

    def __init__(self, start: datetime) -> None:
        self.now_us = int(start.timestamp() * 1e6)

    def __call__(self) -> int:
        return self.now_us

    def advance(self, delta: timedelta) -> None:
        self.now_us += int(delta.total_seconds() * 1e6)


@dataclass
class Scenario:
    """The store (open), the settings it was filled with, the records, and every
    secret that went into it (pointer tokens, record keys) for privacy checks."""

    path: Path
    store: SqliteLinkStore
    service: LinkageService
    settings: LinkageSettings
    records: SyntheticRecords
    pointer_tokens: dict[int, bytes]
    lookups: int
    weeks: int


def build_scenario(
    path: Path,
    *,
    people: int = 600,
    weeks: int = 6,
    lookups_per_week: int = 6,
    threshold: float = 0.8,
    seed: int = 3,
) -> Scenario:
    """Upload each agency's records in weekly batches, with lookups in between."""
    records = synthetic_records(people=people, seed=seed)
    settings = LinkageSettings(
        threshold=threshold, clk_bits=records.bits, key_epoch=1, schema_fingerprint=FINGERPRINT
    )
    clock = FakeClock(START)
    store = SqliteLinkStore(path)
    service = LinkageService(
        store,
        settings,
        ServiceLimits(lookup_burst=10_000, lookup_rate_per_s=1000),
        clock=clock,
    )
    for agency_id in records.agencies:
        service.create_agency(OPERATOR, agency_id, agency_id.upper(), b"")
    rng = np.random.default_rng(seed)
    tokens: dict[int, bytes] = {}
    lookups = 0
    weekly_rows = {
        agency_id: np.array_split(records.rows_of(agency_id), weeks)
        for agency_id in records.agencies
    }
    for week in range(weeks):
        clock.now_us = int((START + timedelta(weeks=week)).timestamp() * 1e6)
        for agency_id in records.agencies:
            rows = weekly_rows[agency_id][week]
            if rows.size == 0:
                continue
            clks = records.clk_bytes(rows)
            mutations = []
            for row, clk in zip(rows.tolist(), clks, strict=True):
                tokens[row] = secrets.token_bytes(32)
                mutations.append(
                    RecordUpsert(
                        record_key=records.record_key(row),
                        clk=clk,
                        pointer_token=tokens[row],
                        consent=consent(disclose=row % 7 != 0),
                        linkable=True,
                    )
                )
            principal = Principal(Role.AGENCY, agency_id, "it", 2)
            service.write_batch(
                principal,
                WriteBatch(agency_id, f"w{week}", 1, FINGERPRINT, tuple(mutations)),
            )
            clock.advance(timedelta(hours=7))
        uploaded = np.concatenate(
            [weekly_rows[a][w] for a in records.agencies for w in range(week + 1)]
        )
        for _ in range(lookups_per_week):
            asking = records.agencies[int(rng.integers(0, len(records.agencies)))]
            row = int(rng.choice(uploaded))
            responder = Principal(Role.RESPONDER, asking, f"gateway-{asking}", 3)
            (clk,) = records.clk_bytes([row])
            service.lookup(responder, clk, 1, FINGERPRINT, "crisis_response", 5)
            lookups += 1
            clock.advance(timedelta(hours=3))
    return Scenario(path, store, service, settings, records, tokens, lookups, weeks)
