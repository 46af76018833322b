"""Linking on its own: event rows of link changes, stored edges, component closure and
the joins and clusterer the settings pick."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from linkage.match import (
    LinkCreated,
    LinkDissolved,
    LinkEvent,
    LinksMerged,
    LinkSplit,
    RecordsJoined,
    RecordsWithdrawn,
)
from linkage.service import NullObserver, ServiceLimits, cross_agency_greedy
from linkage.service._agencies import Agencies
from linkage.service._clock import system_clock_us
from linkage.service._linking import Linking, edge, link_event
from linkage.service._state import ServiceState
from linkage.store import EdgeRow, EventKind, NewRecord, SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS, clk_bytes, person, variant

pytestmark = pytest.mark.unit


@pytest.fixture
def state(tmp_path: Path) -> Iterator[ServiceState]:
    store = SqliteLinkStore(tmp_path / "linking.db")
    state = ServiceState(store, SETTINGS, ServiceLimits(), system_clock_us, NullObserver())
    state.load_index()
    Agencies(state).create(OPERATOR, "police", "Police", b"")
    Agencies(state).create(OPERATOR, "er", "ER", b"")
    yield state
    store.close()


@pytest.mark.parametrize(
    ("event", "kind", "sources", "targets", "count"),
    [
        (LinkCreated(7, ((1, 10), (2, 11))), EventKind.LINK_CREATED, (), (7,), 2),
        (RecordsJoined(7, ((3, 12),)), EventKind.LINK_JOINED, (7,), (7,), 1),
        (LinksMerged((7, 8), 7), EventKind.LINK_MERGED, (7, 8), (7,), 0),
        (LinkSplit(7, (7, 9)), EventKind.LINK_SPLIT, (7,), (7, 9), 0),
        (LinkDissolved(7), EventKind.LINK_DISSOLVED, (7,), (), 0),
        (RecordsWithdrawn(7, ((1, 10), (2, 11))), EventKind.LINK_LEFT, (7,), (7,), 2),
    ],
)
def test_each_link_change_has_its_event_row(
    event: LinkEvent[int],
    kind: EventKind,
    sources: tuple[int, ...],
    targets: tuple[int, ...],
    count: int,
) -> None:
    row = link_event(event, 5, "police", "b1")
    assert (row.kind, row.source_links, row.target_links, row.record_count) == (
        kind,
        sources,
        targets,
        count,
    )
    assert (row.event_time_us, row.agency_id, row.batch_id) == (5, "police", "b1")


def test_edges_are_stored_lower_node_first() -> None:
    assert edge(9, 4, 0.9) == EdgeRow(4, 9, 0.9)
    assert edge(4, 9, 0.9) == EdgeRow(4, 9, 0.9)


def test_joins_pair_joining_clks_with_the_index_and_each_other(state: ServiceState) -> None:
    rng = np.random.default_rng(3)
    alice = person(rng)
    state.mirror.add([100], [clk_bytes(alice)])
    linking = Linking(state, cross_agency_greedy, None)
    against, within = linking.join(
        [clk_bytes(variant(rng, alice)), clk_bytes(variant(rng, alice)), clk_bytes(person(rng))],
        leaving=set(),
    )
    assert sorted((row, node) for row, node, _ in against) == [(0, 100), (1, 100)]
    assert [(a, b) for a, b, _ in within] == [(0, 1)]
    assert all(score >= SETTINGS.threshold for *_, score in against + within)
    # a node leaving the graph is not joined against
    against, _ = linking.join([clk_bytes(variant(rng, alice))], leaving={100})
    assert against == []
    assert linking.join([], leaving=set()) == ([], [])


def test_components_close_under_stored_edges_and_relink_gives_them_links(
    state: ServiceState,
) -> None:
    rng = np.random.default_rng(4)
    linking = Linking(state, cross_agency_greedy, None)
    assert linking.clusterer_for(None, None, {}) is cross_agency_greedy
    with state.store.write() as tx:
        nodes = [
            tx.insert_record(
                NewRecord(
                    ("police", "er")[i % 2],
                    f"k{i}".encode(),
                    1,
                    SETTINGS.schema_fingerprint,
                    clk_bytes(person(rng)),
                    b"p",
                    b"c",
                    True,
                    b"d",
                    1,
                )
            )
            for i in range(4)
        ]
        tx.insert_edges([edge(nodes[0], nodes[1], 0.9), edge(nodes[1], nodes[2], 0.85)])
        reached, edges = linking.component_edges(tx, {nodes[0]})
        assert reached == set(nodes[:3])
        assert len(edges) == 2
        events, linked = linking.relink(tx, {nodes[0]}, {}, 1, cross_agency_greedy)
    # greedy keeps at most one record per agency in a link: n2 (police) stays alone
    assert linked == {nodes[0], nodes[1]}
    created = [e for e in events if isinstance(e, LinkCreated)]
    assert sorted(len(e.members) for e in created) == [1, 2]
