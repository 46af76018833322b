"""A probabilistic matcher's store filled through the service over several weeks of a
fake clock: segmented CLKs of synthetic people from four agencies (the probabilistic
service tests' records), weekly uploads, lookups and disclosures, then a rebuild that
fits the Fellegi-Sunter model on the records held."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

from linkage.pki import Principal, Role
from linkage.server import load_server_config
from linkage.service import LinkageService, RecordUpsert, ServiceLimits, WriteBatch
from linkage.store import SqliteLinkStore
from tests.report.scenario import OPERATOR, START, FakeClock
from tests.service.factory import consent
from tests.service.prob_factory import SEGMENTED, SEGMENTED_BITS, SegmentedRecord, segmented_records

AGENCIES = ("harbour-sud", "metro-police", "riverside-er", "valley-mhc")


def prob_server_toml(
    root: Path, *, threshold: str = "0.5", clustering: str = "average_link"
) -> Path:
    """A server.toml for a probabilistic matcher on ``root/index.db``."""
    path = root / "server.toml"
    path.write_text(
        f"""
[server]
listen = "127.0.0.1:0"

[store]
engine = "sqlite"
path = "index.db"

[linkage]
threshold = {threshold}
clk_bits = {SEGMENTED_BITS}
key_epoch = 1
schema_fingerprint = "{SEGMENTED.fingerprint}"

[linkage.probabilistic]
schema = "default-segmented"
min_fit_records = 200

[linkage.clustering]
method = "{clustering}"
"""
    )
    return path


@dataclass(frozen=True)
class ProbScenario:
    """The closed store, its server.toml, and what went into it."""

    root: Path
    config: Path
    records: tuple[SegmentedRecord, ...]
    pointer_tokens: dict[tuple[str, str], bytes]
    lookups: int
    weeks: int

    @property
    def truth_rows(self) -> list[tuple[str, str, str]]:
        return [(r.agency_id, r.key.encode().hex(), r.person_id) for r in self.records]

    @property
    def secrets(self) -> list[bytes]:
        """Everything that must never appear in what the report writes."""
        return [
            *self.pointer_tokens.values(),
            *(r.key.encode() for r in self.records),
            *(r.clk for r in self.records),
        ]


def build_prob_scenario(
    root: Path, *, people: int = 500, weeks: int = 5, lookups_per_week: int = 4, seed: int = 11
) -> ProbScenario:
    """Upload each agency's records in weekly batches with lookups in between, then rebuild."""
    root.mkdir(parents=True, exist_ok=True)
    config_path = prob_server_toml(root)
    config = load_server_config(config_path, {})
    records = segmented_records(people, seed)
    clock = FakeClock(START)
    store = SqliteLinkStore(root / "index.db")
    service = LinkageService(
        store,
        config.linkage,
        ServiceLimits(lookup_burst=10_000, lookup_rate_per_s=1000),
        clock=clock,
    )
    for agency_id in AGENCIES:
        service.create_agency(OPERATOR, agency_id, agency_id.upper(), b"")
    by_agency: dict[str, list[SegmentedRecord]] = defaultdict(list)
    for record in records:
        by_agency[record.agency_id].append(record)
    rng = np.random.default_rng(seed)
    tokens: dict[tuple[str, str], bytes] = {}
    uploaded: list[SegmentedRecord] = []
    lookups = 0
    for week in range(weeks):
        clock.now_us = int((START + timedelta(weeks=week)).timestamp() * 1e6)
        for agency_id in AGENCIES:
            mine = by_agency[agency_id]
            chunk = np.array_split(np.arange(len(mine)), weeks)[week].tolist()
            if not chunk:
                continue
            mutations = []
            for i in chunk:
                record = mine[i]
                token = rng.bytes(32)
                tokens[(agency_id, record.key)] = token
                mutations.append(
                    RecordUpsert(
                        record_key=record.key.encode(),
                        clk=record.clk,
                        pointer_token=token,
                        consent=consent(disclose=i % 7 != 0),
                        linkable=True,
                    )
                )
                uploaded.append(record)
            service.write_batch(
                Principal(Role.AGENCY, agency_id, "it", 2),
                WriteBatch(
                    agency_id, f"w{week}", 1, config.linkage.schema_fingerprint, tuple(mutations)
                ),
            )
            clock.advance(timedelta(hours=7))
        for _ in range(lookups_per_week):
            asking = AGENCIES[int(rng.integers(0, len(AGENCIES)))]
            record = uploaded[int(rng.integers(0, len(uploaded)))]
            responder = Principal(Role.RESPONDER, asking, f"gateway-{asking}", 3)
            service.lookup(
                responder, record.clk, 1, config.linkage.schema_fingerprint, "crisis_response", 5
            )
            lookups += 1
            clock.advance(timedelta(hours=3))
    service.rebuild(OPERATOR, "report test")
    store.close()
    return ProbScenario(root, config_path, records, tokens, lookups, weeks)
