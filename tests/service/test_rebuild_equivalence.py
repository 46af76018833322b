"""A rebuild and incremental linkage of the same records, in any arrival
order, give the same partition of records."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage.match import HammingLsh
from linkage.service import ClusteringSettings, LinkageService, RecordWithdrawal, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS, agency, batch, person, upsert, variant

pytestmark = pytest.mark.unit

AGENCIES = ("police", "valley-mhc", "er")


def _partition(store: SqliteLinkStore) -> set[frozenset[tuple[str, bytes]]]:
    by_link: dict[int, list[int]] = {}
    for node, link in store.iter_node_links():
        by_link.setdefault(link, []).append(node)
    names = {m.node_id: (m.agency_id, m.record_key) for m in store.link_members(list(by_link))}
    return {frozenset(names[n] for n in nodes) for nodes in by_link.values()}


def _records(seed: int, people: int) -> list[tuple[str, str, np.ndarray]]:
    """Records of a few people across agencies, with near-duplicates and
    look-alikes so that greedy has ties and choices to make."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(people):
        base = person(rng)
        for agency_id in AGENCIES:
            for copy in range(int(rng.integers(0, 3))):
                out.append(
                    (
                        agency_id,
                        f"{agency_id}-{p}-{copy}",
                        variant(rng, base, int(rng.integers(0, 60))),
                    )
                )
    return out


def _service(
    path: Path, blocked: bool, clustering: str = "greedy"
) -> tuple[LinkageService, SqliteLinkStore]:
    store = SqliteLinkStore(path)
    settings = (
        dataclasses.replace(SETTINGS, blocking=HammingLsh(bands=4, bits_per_band=12, seed=3))
        if blocked
        else SETTINGS
    )
    settings = dataclasses.replace(settings, clustering=ClusteringSettings(method=clustering))
    service = LinkageService(store, settings, ServiceLimits(lookup_burst=1000))
    for agency_id in AGENCIES:
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    return service, store


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    people=st.integers(2, 6),
    order_seed=st.integers(0, 10_000),
    batch_size=st.integers(1, 5),
    withdraw=st.integers(0, 3),
    blocked=st.booleans(),
    clustering=st.sampled_from(["greedy", "average_link"]),
)
def test_incremental_equals_rebuild_for_any_arrival_order(
    seed: int,
    people: int,
    order_seed: int,
    batch_size: int,
    withdraw: int,
    blocked: bool,
    clustering: str,
) -> None:
    records = _records(seed, people)
    order = np.random.default_rng(order_seed).permutation(len(records)).tolist()
    with tempfile.TemporaryDirectory() as tmp:
        service, store = _service(Path(tmp) / "a.db", blocked, clustering)
        pending = [records[i] for i in order]
        number = 0
        while pending:
            chunk, pending = pending[:batch_size], pending[batch_size:]
            for agency_id in AGENCIES:
                mine = [upsert(key, bits) for a, key, bits in chunk if a == agency_id]
                if mine:
                    number += 1
                    service.write_batch(agency(agency_id), batch(agency_id, f"b{number}", *mine))
        # Withdraw a few records, one batch each.
        for agency_id, key, _ in [records[i] for i in order[:withdraw]]:
            number += 1
            service.write_batch(
                agency(agency_id), batch(agency_id, f"w{number}", RecordWithdrawal(key.encode()))
            )
        incremental = _partition(store)
        service.rebuild(OPERATOR, "equivalence test")
        rebuilt = _partition(store)
        store.close()
    assert incremental == rebuilt
    if clustering == "greedy":
        assert all(len({a for a, _ in group}) == len(group) for group in rebuilt), (
            "greedy keeps at most one record per agency in a link"
        )
