"""``Linking.update_links`` on arrays equals its earlier per-node form (kept below as the
reference, over the reference of ``linkage.match.update_links``): the same update, old
links, store reads, link-ID allocations, ``assign_links`` and ``delete_links`` calls, under
each of the service's clusterers (whose one-edge pair rules are checked with it)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

import linkage.match._incremental as incremental
import linkage.service._linking as linking
from linkage.errors import InvalidInputError
from linkage.match import CandidateEdges, ComponentClusterer, LinkUpdate, greedy_solve
from linkage.probabilistic import AverageLinkClusterer
from linkage.service import cross_agency_greedy
from linkage.service._linking import Linking
from linkage.store import EdgeRow
from tests.match.incremental_reference import reference_update_links

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("path")]


@pytest.fixture(params=["arrays", "default"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every update on arrays (even the smallest), or small ones per node as in service."""
    if request.param == "arrays":
        monkeypatch.setattr(linking, "_SMALL_LINKING", -1)
        monkeypatch.setattr(incremental, "_SMALL_UPDATE", -1)
    return str(request.param)


@dataclass
class FakeTransaction:
    """The store calls of ``Linking.update_links``, answered from dicts and recorded."""

    agency: dict[int, int]
    links: dict[int, int]
    next_link: int
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def node_agency_nos(self, nodes: Sequence[int]) -> dict[int, int]:
        self.calls.append(("node_agency_nos", sorted(nodes)))
        return {n: self.agency[n] for n in nodes if n in self.agency}

    def node_links(self, nodes: Sequence[int]) -> dict[int, int]:
        self.calls.append(("node_links", sorted(nodes)))
        return {n: self.links[n] for n in nodes if n in self.links}

    def allocate_link_ids(self, count: int, now: int) -> list[int]:
        block = list(range(self.next_link, self.next_link + count))
        self.next_link += count
        self.calls.append(("allocate_link_ids", (count, now)))
        return block

    def assign_links(self, assignments: Sequence[tuple[int, int]], now: int) -> None:
        self.calls.append(("assign_links", (list(assignments), now)))

    def delete_links(self, link_ids: Sequence[int]) -> None:
        self.calls.append(("delete_links", list(link_ids)))


def reference_linking_update_links(
    tx: Any,
    nodes: Sequence[int],
    edges: Sequence[EdgeRow],
    leaving: Mapping[int, tuple[int, int]],
    now: int,
    clusterer: ComponentClusterer,
) -> tuple[LinkUpdate[int], dict[int, int]]:
    """``Linking.update_links`` as it was before it passed arrays (commit 0662f3b)."""
    agency_of = tx.node_agency_nos(nodes)
    old = tx.node_links(nodes)
    existing: dict[tuple[int, int], int] = {(agency_of[n], n): link for n, link in old.items()}
    withdrawn = [(agency, node) for node, (agency, _) in leaving.items()]
    existing.update({(agency, node): link for node, (agency, link) in leaving.items()})
    added = [(agency_of[n], n) for n in nodes if n not in old]
    candidate_edges = CandidateEdges.from_tuples(
        [(e.score, (agency_of[e.node_a], e.node_a), (agency_of[e.node_b], e.node_b)) for e in edges]
    )
    spare: list[int] = []
    allocated: list[int] = []

    def allocate() -> int:
        if not spare:
            block = tx.allocate_link_ids(max(1, min(4096, 2 * len(allocated))), now)
            allocated.extend(block)
            spare.extend(reversed(block))
        return spare.pop()

    update = reference_update_links(
        existing,
        candidate_edges,
        allocate,
        added=added,
        withdrawn=withdrawn,
        clusterer=clusterer,
    )
    changed = [
        (node, link) for (_, node), link in update.assignment.items() if old.get(node) != link
    ]
    tx.assign_links(changed, now)
    surviving = set(update.assignment.values())
    gone = (set(old.values()) | {link for _, link in leaving.values()}) - surviving
    tx.delete_links(sorted(gone | set(spare)))
    return update, old


CLUSTERERS: list[tuple[str, ComponentClusterer]] = [
    ("greedy", greedy_solve),
    ("cross-agency-greedy", cross_agency_greedy),
    ("average-link", AverageLinkClusterer(0.8, 0.85)),
    ("average-link-low", AverageLinkClusterer(0.7, 0.95)),
]


def _case(
    seed: int, size: int
) -> tuple[dict[int, int], dict[int, int], list[int], list[EdgeRow], dict[int, tuple[int, int]]]:
    rng = random.Random(seed)
    # node IDs dense (looked up through tables) or sparse (binary search)
    nodes = rng.sample(range(1, (40 if seed % 2 else 2) * size + 8), size + 4)
    leaving_nodes, nodes = nodes[:4], nodes[4:]
    agency = {n: rng.randrange(1, 4) for n in nodes}
    links: dict[int, int] = {}
    next_id = 100
    for n in nodes:
        if rng.random() < 0.75:
            if links and rng.random() < 0.5:
                links[n] = rng.choice(list(links.values()))
            else:
                next_id += 1
                links[n] = next_id
    leaving = {
        n: (rng.randrange(1, 4), rng.choice([*links.values(), 999]))
        for n in leaving_nodes
        if rng.random() < 0.5
    }
    if nodes and rng.random() < 0.1:  # a leaving node that is still listed with its link
        n = rng.choice(nodes)
        leaving[n] = (agency[n], links.get(n, 998))
    pairs: dict[tuple[int, int], float] = {}
    for _ in range(rng.randrange(2 * size + 1)):
        a, b = rng.sample(nodes, 2) if len(nodes) > 1 else (nodes[0], nodes[0])
        if a != b:
            pairs[(min(a, b), max(a, b))] = rng.choice([1.0, 0.95, 0.9, 0.9, 0.8, 0.75, 0.7])
    edges = [EdgeRow(a, b, s) for (a, b), s in pairs.items()]
    rng.shuffle(edges)
    rng.shuffle(nodes)
    return agency, links, nodes, edges, leaving


def _run(function: Any, case: Any, clusterer: ComponentClusterer) -> Any:
    agency, links, nodes, edges, leaving = case
    tx = FakeTransaction(dict(agency), dict(links), 5000)
    try:
        update, old = function(tx, nodes, edges, leaving, 77, clusterer)
    except (InvalidInputError, KeyError) as exc:
        return ("error", type(exc).__name__ if isinstance(exc, KeyError) else exc.message)
    return list(update.assignment.items()), update.events, old, tx.calls


@pytest.mark.parametrize(("name", "clusterer"), CLUSTERERS, ids=[c[0] for c in CLUSTERERS])
@pytest.mark.parametrize("size", [1, 5, 30, 200])
def test_linking_update_links_equals_the_reference(
    name: str, clusterer: ComponentClusterer, size: int
) -> None:
    errors = 0
    for seed in range(40 if size < 100 else 10):
        case = _case(seed * 7919 + size, size)
        new = _run(Linking.update_links, case, clusterer)
        old = _run(reference_linking_update_links, case, clusterer)
        if old[0] == "error":
            # the same refusal (a missing agency was a KeyError before)
            errors += 1
            assert new[0] == "error"
            assert old[1] == "KeyError" or new == old
            continue
        assert new == old
    assert errors < (40 if size < 100 else 10)
