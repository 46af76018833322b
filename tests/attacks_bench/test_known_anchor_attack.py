"""The known-anchor attack (benchmarks/attacks/graph_attack.py) and its runner and table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from benchmarks.attacks.graph_attack import (
    GraphAttackParams,
    KnownAnchorResult,
    centred_pair,
    known_anchor_attack,
)
from benchmarks.attacks.run import known_anchor_table, main, run_known_anchors

pytestmark = pytest.mark.unit

N = 300


def _planted(
    noise: float, seed: int = 7
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """(plain, encoded, perm): encoded record e is plaintext record perm[e], plus noise."""
    rng = np.random.default_rng(seed)
    base = rng.random((N, N)).astype(np.float32)
    plain = ((base + base.T) / 2).astype(np.float32)
    perm = rng.permutation(N).astype(np.int64)
    jitter = rng.normal(0, noise, (N, N)).astype(np.float32)
    encoded = plain[np.ix_(perm, perm)] + (jitter + jitter.T) / 2
    return plain, encoded.astype(np.float32), perm


def _attack(
    plain: npt.NDArray[np.float32],
    encoded: npt.NDArray[np.float32],
    perm: npt.NDArray[np.int64],
    known: int,
    rounds: int = 6,
) -> tuple[KnownAnchorResult, list[str], list[str]]:
    plain_entities = [f"p{i}" for i in range(N)]
    encoded_entities = [f"p{int(p)}" for p in perm]
    encoded_z, plain_z = centred_pair(plain, encoded)
    known_encoded = np.arange(known, dtype=np.int64)
    result = known_anchor_attack(
        encoded_z,
        plain_z,
        known_encoded,
        perm[known_encoded],
        plain_entities,
        encoded_entities,
        GraphAttackParams(first_anchors=20, max_rounds=rounds),
    )
    return result, plain_entities, encoded_entities


def test_a_few_known_pairs_re_identify_the_others_when_similarities_carry_identity() -> None:
    plain, encoded, perm = _planted(noise=0.05)
    result, _, _ = _attack(plain, encoded, perm, known=15)
    assert result.known == 15
    assert result.targets == N - 15  # the known records themselves are not counted
    assert result.one_step_rate > 0.9
    assert result.rounds
    assert result.rounds[0]["anchors"] == 15


def test_propagation_re_identifies_what_the_known_pairs_alone_do_not() -> None:
    plain, encoded, perm = _planted(noise=0.3)
    result, _, _ = _attack(plain, encoded, perm, known=10, rounds=8)
    assert result.one_step_rate < 0.5  # ten pairs through this much noise: a weak start
    assert result.propagated_rate > 0.9  # the growing anchor set finishes the job
    assert result.one_step == result.rounds[0]["correct"]
    assert result.propagated == result.rounds[-1]["correct"]
    anchors = [r["anchors"] for r in result.rounds]
    assert anchors[0] == 10
    assert anchors[1] == 20  # first_anchors
    assert anchors[2] == 40  # doubling


def test_many_known_pairs_still_grow_the_anchor_set() -> None:
    plain, encoded, perm = _planted(noise=0.3)
    result, _, _ = _attack(plain, encoded, perm, known=40)  # more than first_anchors (20)
    assert len(result.rounds) > 1
    assert result.rounds[1]["anchors"] > 40


def test_similarities_unrelated_to_the_plaintext_give_nothing_away() -> None:
    plain, _, perm = _planted(noise=0.05)
    other, _, _ = _planted(noise=0.05, seed=99)  # a different population's similarities
    result, _, _ = _attack(plain, other, perm, known=30)
    assert result.propagated_rate < 0.05
    assert result.one_step_rate < 0.05


def test_known_pairs_must_come_in_pairs() -> None:
    plain, encoded, _ = _planted(noise=0.05)
    encoded_z, plain_z = centred_pair(plain, encoded)
    names = [f"p{i}" for i in range(N)]
    with pytest.raises(ValueError, match="known pairs"):
        known_anchor_attack(
            encoded_z, plain_z, np.arange(3), np.arange(2), names, names, GraphAttackParams()
        )
    with pytest.raises(ValueError, match="known pairs"):
        known_anchor_attack(
            encoded_z,
            plain_z,
            np.arange(0, dtype=np.int64),
            np.arange(0, dtype=np.int64),
            names,
            names,
            GraphAttackParams(),
        )


def test_the_runner_measures_each_count_and_the_table_shows_it(tmp_path: Path) -> None:
    out = tmp_path / "known.json"
    result = run_known_anchors("synthetic", 150, 1.0, ["plain"], [5, 40], seed=2, path=out)
    saved = json.loads(out.read_text())
    assert saved["kind"] == "known anchors"
    assert saved["settings"] == json.loads(json.dumps(result["settings"]))
    cells = saved["settings"]["plain"]
    assert set(cells) == {"5", "40"}
    # 100 % overlap: every record outside the known ones has its person in the plaintext
    assert cells["40"]["targets"] == 150 - 40
    assert cells["5"]["targets"] == 150 - 5
    assert cells["5"]["known"] == 5
    # plain CLKs: forty known records give the rest away
    assert cells["40"]["propagated_rate"] > 0.8
    other = tmp_path / "quality.json"
    other.write_text(json.dumps({"kind": "quality", "settings": {}}))
    table = known_anchor_table([out, other])
    assert "| 5 known | 40 known |" in table
    row = next(line for line in table.splitlines() if "| plain |" in line)
    assert f"{cells['40']['one_step_rate']:.1%} / {cells['40']['propagated_rate']:.1%}" in row


def test_the_runner_refuses_more_known_pairs_than_the_sides_share(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "known-anchors",
                "--dataset",
                "synthetic",
                "--size",
                "100",
                "--overlap",
                "0.5",
                "--settings",
                "plain",
                "--known",
                "50",
            ]
        )
    assert "known pairs [50]" in capsys.readouterr().err


def _known_file(path: Path, started: str, counts: dict[str, float]) -> Path:
    cells = {
        k: {"one_step_rate": rate / 2, "propagated_rate": rate, "targets": 100}
        for k, rate in counts.items()
    }
    path.write_text(
        json.dumps(
            {
                "kind": "known anchors",
                "meta": {"started": started},
                "dataset": "FEBRL 1-4",
                "overlap": 1.0,
                "size": 10000,
                "settings": {"shipped default": cells},
            }
        )
    )
    return path


def test_the_table_merges_runs_of_one_setting_and_the_later_run_wins(tmp_path: Path) -> None:
    early = _known_file(tmp_path / "a.json", "2026-01-01T00:00:00Z", {"10": 0.2, "100": 0.4})
    late = _known_file(tmp_path / "b.json", "2026-02-01T00:00:00Z", {"100": 0.8, "250": 0.9})
    table = known_anchor_table([late, early])
    rows = [line for line in table.splitlines() if "shipped default" in line]
    assert len(rows) == 1
    assert rows[0].endswith("| 10.0% / 20.0% | 40.0% / 80.0% | 45.0% / 90.0% |")
