"""The majority-vote XOR comparison encoding (benchmarks/attacks/majority_xor.py)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import numpy as np
import pytest

from benchmarks.attacks.data import Dataset, SyntheticSpec, synthetic_pool
from benchmarks.attacks.encodings import SETTINGS, encode_rows, setting
from benchmarks.attacks.majority_xor import (
    MajorityXor,
    encode_table,
    expected_matrix,
    token_signs,
)
from benchmarks.attacks.run import main, run_attack, run_known_anchors
from benchmarks.attacks.similarity import clk_dice_matrix, token_table
from linkage.encode import LinkageSchema

pytestmark = pytest.mark.unit

SMALL = MajorityXor(output_bits=64, votes=3)
SETTING_4096 = MajorityXor(output_bits=4096, votes=2)


@pytest.fixture(scope="module")
def pool() -> Dataset:
    return synthetic_pool(SyntheticSpec(people=120, seed=3))


def _schema() -> LinkageSchema:
    return setting("majority XOR k=2, 4096 bits").schema


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="output_bits must be a positive multiple of 8, not 1004"):
        MajorityXor(output_bits=1004, votes=2)
    with pytest.raises(ValueError, match="votes must be at least 1, not 0"):
        MajorityXor(output_bits=1024, votes=0)


def test_token_signs_depend_on_the_secret_and_the_token_alone() -> None:
    secret = secrets.token_bytes(32)
    tokens = [("surname", "sm"), ("given_name", "sm"), ("surname", "mi")]
    together = token_signs(tokens, secret, 256)
    alone = np.concatenate([token_signs([t], secret, 256) for t in reversed(tokens)])[::-1]
    assert np.array_equal(together, alone)
    assert set(np.unique(together).tolist()) == {-1, 1}
    # the feature tag is part of the token: the same q-gram in another feature differs
    assert not np.array_equal(together[0], together[1])
    other = token_signs(tokens, secrets.token_bytes(32), 256)
    assert 0.35 < float(np.mean(other != together)) < 0.65


def test_encoding_is_a_function_of_the_secret_and_each_record(pool: Dataset) -> None:
    schema = _schema()
    rows = pool.rows[:60]
    secret = secrets.token_bytes(32)
    once = encode_table(token_table(schema, rows), secret, SMALL)
    again = encode_table(token_table(schema, rows[::-1]), secret, SMALL)
    assert once.shape == (60, SMALL.output_bits // 8)
    assert np.array_equal(once, again[::-1])
    rekeyed = np.unpackbits(encode_table(token_table(schema, rows), secrets.token_bytes(32), SMALL))
    assert 0.4 < float(np.mean(rekeyed != np.unpackbits(once))) < 0.6


def test_each_output_bit_is_the_xor_of_k_weighted_majority_votes(pool: Dataset) -> None:
    schema = _schema()
    rows = pool.rows[:5]
    secret = secrets.token_bytes(32)
    table = token_table(schema, rows)
    encoded = np.unpackbits(encode_table(table, secret, SMALL), axis=1)
    columns = table.columns
    width = SMALL.output_bits * SMALL.votes
    tie_break = token_signs([("\x00tie-break",)], secret, width)[0]
    matrix = table.matrix.tocsr()
    for r in range(len(rows)):
        start, stop = matrix.indptr[r], matrix.indptr[r + 1]
        votes = [0.25 * float(s) for s in tie_break]
        for column, root_weight in zip(
            matrix.indices[start:stop], matrix.data[start:stop], strict=True
        ):
            signs = token_signs([columns[column]], secret, width)[0]
            for position in range(width):
                votes[position] += float(root_weight) ** 2 * int(signs[position])
        for bit in range(SMALL.output_bits):
            parity = 0
            for vote in range(SMALL.votes):
                parity ^= int(votes[vote * SMALL.output_bits + bit] > 0)
            assert encoded[r, bit] == parity, (r, bit)


def test_expected_dice_matches_the_mean_over_keys(pool: Dataset) -> None:
    schema = _schema()
    params = MajorityXor(output_bits=2048, votes=2)
    # pairs from one person's records (similar), neighbours and strangers
    rows = pool.rows[:40]
    table = token_table(schema, rows)
    expected = expected_matrix(table, params).astype(np.float64)
    observed = np.zeros_like(expected)
    keys = 48
    for _ in range(keys):
        observed += clk_dice_matrix(encode_table(table, secrets.token_bytes(32), params))
    observed /= keys
    off_diagonal = ~np.eye(len(rows), dtype=bool)
    spread = float(np.ptp(expected[off_diagonal]))
    assert spread > 0.1  # the sample holds similar and dissimilar pairs
    error = np.abs(observed - expected)[off_diagonal]
    # One key's Dice has a standard deviation of 0.011-0.015 at 2,048 bits (0.002 over 48
    # keys), and the closed form (Gaussian hyperplanes) overstates near-duplicates by up to
    # about 0.007 for these +-1 signs; a wrong k would be off by 0.05 or more on them.
    assert float(error.max()) < 0.02
    assert float(error.mean()) < 0.004


def test_output_bits_are_about_half_set(pool: Dataset) -> None:
    clks = encode_table(token_table(_schema(), pool.rows), secrets.token_bytes(32), SMALL)
    assert 0.45 < float(np.unpackbits(clks).mean()) < 0.55


def test_settings_route_encoding_and_the_attackers_model(pool: Dataset) -> None:
    assert "majority XOR k=3, 16384 bits" in SETTINGS
    rows = pool.rows[:30]
    secret = secrets.token_bytes(32)
    majority = setting("majority XOR k=2, 4096 bits")
    assert majority.majority_xor == SETTING_4096
    table = token_table(majority.schema, rows)
    assert np.array_equal(majority.encode(rows, secret), encode_table(table, secret, SETTING_4096))
    assert np.allclose(majority.expected(table), expected_matrix(table, SETTING_4096))
    bloom = setting("shipped default")
    assert bloom.majority_xor is None
    assert np.array_equal(bloom.encode(rows, secret), encode_rows(bloom.schema, rows, secret))
    assert bloom.encode(rows, secret).shape == (30, 1024 // 8)


def test_the_runners_attack_a_majority_xor_setting(tmp_path: Path) -> None:
    name = "majority XOR k=2, 4096 bits"
    known = run_known_anchors("synthetic", 150, 1.0, [name], [40], seed=2)
    cell = known["settings"][name]["40"]
    assert cell["targets"] == 110
    # the attacker's closed form fits the encoding: forty known records give the rest away
    assert cell["propagated_rate"] > 0.8
    out = tmp_path / "attack.json"
    blind = run_attack("synthetic", 150, 1.0, [name], ["graph"], seed=1, path=out)
    graph = blind["settings"][name]["graph"]
    assert graph["targets"] == 150
    assert graph["rate"] > 0.5
    assert json.loads(out.read_text())["settings"][name]["graph"]["correct"] == graph["correct"]


def test_the_frequency_attack_refuses_a_setting_that_is_not_a_bloom_filter(
    capsys: pytest.CaptureFixture[str],
) -> None:
    name = "majority XOR k=3, 16384 bits"
    with pytest.raises(ValueError, match="mines Bloom-filter bits"):
        run_attack("synthetic", 150, 1.0, ["plain", name], ["graph", "frequency"], seed=1)
    with pytest.raises(SystemExit):
        main(["attack", "--dataset", "synthetic", "--size", "150", "--settings", name])
    assert f"['{name}'] are not Bloom filters" in capsys.readouterr().err
