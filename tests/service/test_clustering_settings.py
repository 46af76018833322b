"""The clustering a matcher is configured with: anonlink's greedy (one record per
agency in a link) or duplicate-aware average linkage, and the settings stored with a run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from linkage.errors import ConfigError
from linkage.service import ClusteringSettings, LinkageService, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.service.factory import OPERATOR, SETTINGS, agency, batch, person, upsert, variant

pytestmark = pytest.mark.unit


def _service(path: Path, clustering: ClusteringSettings) -> tuple[LinkageService, SqliteLinkStore]:
    store = SqliteLinkStore(path)
    settings = dataclasses.replace(SETTINGS, clustering=clustering)
    service = LinkageService(store, settings, ServiceLimits(lookup_burst=1000))
    for agency_id in ("police", "valley-mhc"):
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    return service, store


def _groups(store: SqliteLinkStore) -> list[list[tuple[str, bytes]]]:
    by_link: dict[int, list[int]] = {}
    for node, link in store.iter_node_links():
        by_link.setdefault(link, []).append(node)
    names = {m.node_id: (m.agency_id, m.record_key) for m in store.link_members(list(by_link))}
    return sorted(sorted(names[n] for n in nodes) for nodes in by_link.values() if len(nodes) > 1)


def _upload_duplicates(service: LinkageService) -> None:
    """One person twice at the police (a duplicate) and once at the clinic, plus a
    stranger at the police."""
    rng = np.random.default_rng(5)
    alice, stranger = person(rng), person(rng)
    service.write_batch(
        agency("police"),
        batch(
            "police",
            "p1",
            upsert("p-alice-1", variant(rng, alice, 10)),
            upsert("p-alice-2", variant(rng, alice, 10)),
            upsert("p-stranger", stranger),
        ),
    )
    service.write_batch(
        agency("valley-mhc"), batch("valley-mhc", "m1", upsert("m-alice", variant(rng, alice, 10)))
    )


def test_greedy_keeps_one_record_per_agency_in_a_link(tmp_path: Path) -> None:
    service, store = _service(tmp_path / "g.db", ClusteringSettings())
    _upload_duplicates(service)
    groups = _groups(store)
    store.close()
    assert len(groups) == 1
    assert len(groups[0]) == 2
    assert ("valley-mhc", b"m-alice") in groups[0]


def test_average_link_puts_an_agencys_duplicates_in_one_link(tmp_path: Path) -> None:
    service, store = _service(tmp_path / "a.db", ClusteringSettings(method="average_link"))
    _upload_duplicates(service)
    incremental = _groups(store)
    run = service.rebuild(OPERATOR, "check")
    rebuilt = _groups(store)
    store.close()
    expected = [[("police", b"p-alice-1"), ("police", b"p-alice-2"), ("valley-mhc", b"m-alice")]]
    assert incremental == rebuilt == expected
    model = json.loads(run.model)
    assert model["clustering"] == {
        "method": "average_link",
        "join_threshold": SETTINGS.threshold,
        "merge_threshold": SETTINGS.threshold,
    }
    assert model["threshold"] == SETTINGS.threshold
    assert model["schema_fingerprint"] == SETTINGS.schema_fingerprint


def test_a_strict_join_threshold_keeps_weak_joiners_out(tmp_path: Path) -> None:
    strict = ClusteringSettings(method="average_link", join_threshold=0.999)
    service, store = _service(tmp_path / "s.db", strict)
    _upload_duplicates(service)
    groups = _groups(store)
    store.close()
    assert groups == []


def test_the_run_records_greedy_and_the_blocking_it_used(tmp_path: Path) -> None:
    service, store = _service(tmp_path / "r.db", ClusteringSettings())
    run = service.rebuild(OPERATOR, "empty")
    stored = store.list_linkage_runs(10)
    store.close()
    assert [r.run_id for r in stored] == [run.run_id]
    model = json.loads(stored[0].model)
    assert model["clustering"] == {"method": "greedy"}
    assert model["blocking"] is None


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"method": "single_link"}, "linkage.clustering.method"),
        ({"method": "greedy", "join_threshold": 0.9}, "linkage.clustering.join_threshold"),
        ({"method": "average_link", "join_threshold": 0.0}, "linkage.clustering.join_threshold"),
        (
            {"method": "average_link", "join_threshold": 0.9, "merge_threshold": 0.8},
            "linkage.clustering.merge_threshold",
        ),
    ],
)
def test_bad_clustering_settings_name_the_setting(kwargs: dict[str, object], path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ClusteringSettings(**kwargs)  # type: ignore[arg-type]
    assert path in [p.location for p in caught.value.problems]


def test_auto_clustering_is_average_link_in_probabilistic_mode_and_greedy_in_dice_mode() -> None:
    from tests.service.prob_factory import PROB_SETTINGS

    assert ClusteringSettings().method == "auto"
    assert PROB_SETTINGS.clustering.method == "average_link"
    dice = dataclasses.replace(
        PROB_SETTINGS, probabilistic=None, clk_bits=1024, clustering=ClusteringSettings()
    )
    assert dice.clustering.method == "greedy"
    # thresholds given without a method mean average_link; in Dice mode they are named
    with pytest.raises(ConfigError) as caught:
        dataclasses.replace(
            PROB_SETTINGS,
            probabilistic=None,
            clk_bits=1024,
            clustering=ClusteringSettings(join_threshold=0.9),
        )
    assert "linkage.clustering" in [p.location for p in caught.value.problems]
