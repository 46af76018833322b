"""The attack benchmark's pieces (benchmarks/attacks/), small enough for the default run.

The full-size runs (10,000 records per side) are in docs/hardening.md; the ``benchmark``
test at the end repeats a reduced one on demand (``pytest -m benchmark``).
"""

from __future__ import annotations

import secrets

import numpy as np
import pytest

from benchmarks.attacks.data import SyntheticSpec, overlap_split, synthetic_pool
from benchmarks.attacks.encodings import SETTINGS, encode_rows, setting
from benchmarks.attacks.graph_attack import assign, graph_attack, score_assignment
from benchmarks.attacks.similarity import (
    clk_dice_matrix,
    expected_similarity_matrix,
    popcounts_of,
    token_table,
)
from linkage.encode import default_schema, schema_fingerprint

pytestmark = pytest.mark.unit


def test_overlap_split_shares_exactly_the_requested_records() -> None:
    pool = synthetic_pool(SyntheticSpec(people=200, seed=3))
    plain, encoded, truth = overlap_split(pool, 100, 0.5, seed=4)
    assert len(plain) == len(encoded) == len(truth) == 100
    shared = [(e, p) for e, p in enumerate(truth) if p >= 0]
    assert len(shared) == 50
    assert all(encoded.rows[e] == plain.rows[p] for e, p in shared)
    assert all(encoded.entities[e] == plain.entities[p] for e, p in shared)


def test_the_settings_are_the_issues_and_the_default_is_shipped_unchanged() -> None:
    assert {"plain", "salting only", "diffusion t=4", "diffusion t=8", "diffusion t=10"} <= set(
        SETTINGS
    )
    shipped = setting("shipped default").schema
    assert schema_fingerprint(shipped) == schema_fingerprint(default_schema())
    assert setting("plain").schema.hardening is None


# diffused Dice carries the extra binomial noise of 1024 XOR bits, hence a lower bar
@pytest.mark.parametrize(("name", "correlation"), [("plain", 0.9), ("shipped default", 0.75)])
def test_the_attackers_expected_similarity_tracks_the_real_clk_dice(
    name: str, correlation: float
) -> None:
    pool = synthetic_pool(SyntheticSpec(people=150, seed=5))
    schema = setting(name).schema
    clks = encode_rows(schema, pool.rows, secrets.token_bytes(32))
    expected = expected_similarity_matrix(token_table(schema, pool.rows), schema)
    real = clk_dice_matrix(clks)
    off = ~np.eye(len(pool), dtype=bool)
    assert np.corrcoef(expected[off], real[off])[0, 1] > correlation
    assert abs(float(expected[off].mean() - real[off].mean())) < 0.05


def test_assign_is_one_to_one_and_finds_a_planted_permutation() -> None:
    rng = np.random.default_rng(0)
    permutation = rng.permutation(50)
    scores = rng.random((50, 50)).astype(np.float32)
    scores[np.arange(50), permutation] += 1.0
    assignment, _ = assign(scores, candidates=10)
    assert assignment.tolist() == permutation.tolist()
    correct, targets = score_assignment(
        assignment, [f"p{i}" for i in range(50)], [f"p{int(j)}" for j in permutation]
    )
    assert (correct, targets) == (50, 50)


def test_the_graph_attack_re_identifies_most_plain_clks_of_a_small_population() -> None:
    pool = synthetic_pool(SyntheticSpec(people=260, seed=3))
    plain, encoded, _ = overlap_split(pool, 400, 1.0, seed=2)
    schema = setting("plain").schema
    clks = encode_rows(schema, encoded.rows, secrets.token_bytes(32))
    table = token_table(schema, plain.rows)
    result = graph_attack(
        expected_similarity_matrix(table, schema),
        clk_dice_matrix(clks),
        table.sizes,
        popcounts_of(clks),
        plain.entities,
        encoded.entities,
    )
    assert result.targets == 400
    assert result.rate > 0.5


@pytest.mark.benchmark
def test_benchmark_graph_attack_on_2000_febrl_records() -> None:  # pragma: no cover
    from benchmarks.attacks.data import febrl_pool

    plain, encoded, _ = overlap_split(febrl_pool(), 2000, 1.0, seed=1)
    rates = {}
    for name in ("plain", "shipped default"):
        schema = setting(name).schema
        clks = encode_rows(schema, encoded.rows, secrets.token_bytes(32))
        table = token_table(schema, plain.rows)
        rates[name] = graph_attack(
            expected_similarity_matrix(table, schema),
            clk_dice_matrix(clks),
            table.sizes,
            popcounts_of(clks),
            plain.entities,
            encoded.entities,
        ).rate
    assert rates["plain"] >= 0.5
