"""Ingest on its own: the plan of a batch and the graph it changes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from linkage.errors import InvalidInputError
from linkage.service import (
    ConsentChange,
    NullObserver,
    RecordWithdrawal,
    ServiceLimits,
    cross_agency_greedy,
)
from linkage.service._agencies import Agencies
from linkage.service._clock import system_clock_us
from linkage.service._ingest import Ingest, Plan
from linkage.service._linking import Linking
from linkage.service._state import ServiceState
from linkage.store import SqliteLinkStore
from tests.service.factory import (
    OPERATOR,
    SETTINGS,
    agency,
    batch,
    consent,
    person,
    upsert,
    variant,
)

pytestmark = pytest.mark.unit


@dataclass
class Parts:
    store: SqliteLinkStore
    state: ServiceState
    ingest: Ingest


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    store = SqliteLinkStore(tmp_path / "ingest.db")
    state = ServiceState(
        store, SETTINGS, ServiceLimits(max_batch_mutations=10), system_clock_us, NullObserver()
    )
    state.load_index()
    agencies = Agencies(state)
    agencies.create(OPERATOR, "police", "Police", b"")
    yield Parts(store, state, Ingest(state, agencies, Linking(state, cross_agency_greedy, None)))
    store.close()


def _plan(parts: Parts, *mutations: object) -> Plan:
    with parts.store.write() as tx:
        return parts.ingest.plan(tx, batch("police", "p", *mutations))


def test_the_plan_sorts_each_mutation_by_what_it_changes(parts: Parts) -> None:
    rng = np.random.default_rng(2)
    people = [person(rng) for _ in range(5)]
    stored = [upsert(f"k{i}", p) for i, p in enumerate(people)]
    parts.ingest.write_batch(agency("police"), batch("police", "b1", *stored))
    same = stored[0]  # the same bytes (consent expiries are made to the second)
    new_consent = upsert("k1", people[1], disclose=False)
    new_clk = upsert("k2", variant(rng, people[2]))
    plan = _plan(
        parts,
        same,
        new_consent,
        new_clk,
        RecordWithdrawal(b"k3"),
        ConsentChange(b"k4", consent(linkable=False), linkable=False),
        upsert("k9", person(rng)),
    )
    assert plan.unchanged == 1
    assert [(ref.record_key, u.record_key) for ref, u in plan.updated_in_place] == [(b"k1", b"k1")]
    assert [ref.record_key for ref in plan.replaced] == [b"k2"]
    assert [u.record_key for u in plan.inserts] == [b"k2", b"k9"]
    assert [ref.record_key for ref in plan.withdrawn] == [b"k3"]
    assert [(ref.record_key, c.linkable) for ref, c in plan.consent_changes] == [(b"k4", False)]
    graph = parts.ingest.graph(plan)
    assert graph.deleted == {plan.replaced[0].node_id, plan.withdrawn[0].node_id}
    assert graph.detached == {plan.consent_changes[0][0].node_id}
    assert graph.rejoining == []


def test_withdrawing_or_changing_consent_of_a_missing_record_is_refused(parts: Parts) -> None:
    with pytest.raises(InvalidInputError) as info:
        _plan(parts, RecordWithdrawal(b"gone"), ConsentChange(b"gone2", consent(), linkable=True))
    assert [p.location for p in info.value.problems] == [
        "mutations[0].withdraw_record_key",
        "mutations[1].consent_update.record_key",
    ]
