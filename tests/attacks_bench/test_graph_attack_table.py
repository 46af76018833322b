"""The section-4 table merging attack runs, and the graph attack's anchor cap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.attacks.graph_attack import GraphAttackParams, graph_attack
from benchmarks.attacks.run import make_table

pytestmark = pytest.mark.unit


def _attack_file(
    tmp_path: Path, name: str, started: str, settings: dict[str, object], overlap: float = 1.0
) -> Path:
    path = tmp_path / name
    document = {
        "kind": "attack",
        "meta": {"started": started},
        "dataset": "D",
        "size": 10_000,
        "overlap": overlap,
        "settings": settings,
    }
    path.write_text(json.dumps(document))
    return path


def _cell(correct: int, **extra: object) -> dict[str, object]:
    return {"correct": correct, "targets": 100, "rate": correct / 100, **extra}


def _row(table: str, name: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(f"| {name} |"))


def test_the_table_takes_the_latest_run_per_attack_and_skips_other_files(tmp_path: Path) -> None:
    old = _attack_file(
        tmp_path,
        "old.json",
        "2026-01-01T00:00:00Z",
        {"plain": {"graph": _cell(90), "frequency": _cell(1)}},
    )
    new = _attack_file(
        tmp_path, "new.json", "2026-02-01T00:00:00Z", {"plain": {"frequency": _cell(80)}}
    )
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"pairs": 3}))
    table = make_table([new, other, old])
    row = _row(table, "plain")
    assert "90.00% (90/100)" in row
    assert "80.00% (80/100)" in row
    assert "1.00% (1/100)" not in row


def test_a_setting_measured_again_shows_the_later_quality_run(tmp_path: Path) -> None:
    def quality_file(name: str, started: str, f1: float, threshold: float) -> Path:
        best = {"threshold": threshold, "f1": f1}
        path = tmp_path / name
        path.write_text(
            json.dumps(
                {
                    "kind": "quality",
                    "meta": {"started": started},
                    "settings": {"plain": {"best": best, "sweep": [best]}},
                }
            )
        )
        return path

    # the later run's file name sorts first, as quality-fine.json sorts before quality.json
    later = quality_file("a-later.json", "2026-02-01T00:00:00Z", 0.9921, 0.5025)
    earlier = quality_file("b-earlier.json", "2026-01-01T00:00:00Z", 0.9904, 0.51)
    row = _row(make_table([later, earlier]), "plain")
    assert "0.9921 (0.5025)" in row
    assert "0.9904" not in row


def test_the_graph_cell_keeps_the_strongest_attacker_configuration(tmp_path: Path) -> None:
    earlier = _attack_file(
        tmp_path,
        "a.json",
        "2026-01-01T00:00:00Z",
        {
            "plain": {"graph": _cell(44, max_anchor_fraction=0.5)},
            "shipped default": {"graph": _cell(10, max_anchor_fraction=0.5)},
        },
        overlap=0.5,
    )
    later = _attack_file(
        tmp_path,
        "b.json",
        "2026-02-01T00:00:00Z",
        {
            "plain": {"graph": _cell(70, max_anchor_fraction=0.25)},
            "shipped default": {"graph": _cell(3, max_anchor_fraction=0.25)},
        },
        overlap=0.5,
    )
    table = make_table([later, earlier])
    # plain: the later run is stronger and replaces the earlier one
    assert "70.00% (70/100)" in _row(table, "plain")
    assert "44.00%" not in _row(table, "plain")
    # shipped default: the later, weaker configuration does not hide the earlier result
    assert "10.00% (10/100)" in _row(table, "shipped default")
    assert "3.00%" not in _row(table, "shipped default")


@pytest.mark.parametrize("fraction", [0.1, 0.3])
def test_anchors_never_exceed_the_configured_fraction(fraction: float) -> None:
    rng = np.random.default_rng(3)
    n = 300
    base = rng.random((n, n)).astype(np.float32)
    plain = (base + base.T) / 2
    noise = rng.normal(0, 0.01, (n, n)).astype(np.float32)
    encoded = plain + (noise + noise.T) / 2
    entities = [f"p{i}" for i in range(n)]
    sizes = rng.random(n)
    result = graph_attack(
        plain,
        encoded,
        sizes,
        (sizes * 100).astype(np.int64),
        entities,
        entities,
        GraphAttackParams(first_anchors=20, max_anchor_fraction=fraction, max_rounds=6),
    )
    anchors = [r["anchors"] for r in result.rounds[1:]]
    assert anchors
    assert max(anchors) <= int(fraction * n)
    # the similarities carry the identities, so the refinement must find most of them
    assert result.rate > 0.5
