"""The demo's operator-side evaluation: pairwise precision, recall and F1 per agency pair,
from the matcher's store and the synthetic truth."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from agency_client._keys import AgencyKeys
from agency_client.pointer import load_pointer_key
from linkage.demo._scenario import PairQuality
from linkage.store import SqliteLinkStore
from linkage.synth import DEFAULT_AGENCIES, true_pairs

__all__ = ["pair_quality"]


def pair_quality(
    work_dir: Path, scenario: Any, agency_dir: Callable[[str], Path]
) -> list[PairQuality]:
    """Pairwise precision/recall/F1 per agency pair, from the matcher's store and the truth.

    Operator-side evaluation: the demo knows every agency's pointer key (it made
    them), so it can map record keys back to local IDs; real operators cannot.
    """
    agency_ids = [a.agency_id for a in DEFAULT_AGENCIES]
    local_of: dict[tuple[str, bytes], str] = {}
    for agency_id in agency_ids:
        keys = AgencyKeys.from_pointer_key(
            load_pointer_key(agency_dir(agency_id) / "pointer.key"), agency_id
        )
        for row in scenario.truth:
            if row.agency_id == agency_id:
                local_of[(agency_id, keys.record_key(row.local_id))] = row.local_id
    store = SqliteLinkStore(work_dir / "matcher" / "index.sqlite")
    try:
        links = sorted({link for _, link in store.iter_node_links()})
        members = store.link_members(links)
    finally:
        store.close()
    by_link: dict[int, list[tuple[str, str]]] = {}
    for member in members:
        local = local_of.get((member.agency_id, member.record_key))
        if local is not None:
            by_link.setdefault(member.link_id, []).append((member.agency_id, local))
    report: list[PairQuality] = []
    for i, a in enumerate(agency_ids):
        for b in agency_ids[i + 1 :]:
            found = {
                (x, y)
                for group in by_link.values()
                for agency_x, x in group
                if agency_x == a
                for agency_y, y in group
                if agency_y == b
            }
            truth = true_pairs(scenario.truth, a, b)
            report.append(PairQuality(a, b, len(truth), len(found), len(found & truth)))
    return report
