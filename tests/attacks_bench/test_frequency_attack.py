"""The frequency / pattern-mining attack (benchmarks/attacks/frequency_attack.py) and its key
check, on planted data and on a small population (the 10,000-record runs are benchmarks)."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from scipy import sparse

from benchmarks.attacks import frequency_attack as frequency_attack_module
from benchmarks.attacks.data import SyntheticSpec, febrl_pool, overlap_split, synthetic_pool
from benchmarks.attacks.encodings import encode_rows, setting
from benchmarks.attacks.frequency_attack import (
    FrequencyAttackParams,
    LearningRun,
    align_patterns,
    expected_pattern_sizes,
    frequency_attack,
    learn_positions,
    mine_patterns,
    self_check,
)
from benchmarks.attacks.key_check import check_alignment, fewest_insertions, true_positions
from benchmarks.attacks.run import SYNTHETIC_PEOPLE
from benchmarks.attacks.similarity import TokenTable, token_table
from linkage.encode import DEFAULT_FEATURES

pytestmark = pytest.mark.unit


def _planted(
    rng: np.random.Generator, n: int, m: int, frequencies: list[float], k: int, fill: float
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Random bits of the given fill, plus tokens: each sets its ``k`` positions in its holders."""
    bits = (rng.random((n, m)) < fill).astype(np.uint8)
    holds = np.zeros((n, len(frequencies)), dtype=bool)
    positions = []
    for t, frequency in enumerate(frequencies):
        chosen = rng.choice(m, size=k, replace=False)
        positions.append(np.sort(chosen))
        holds[:, t] = rng.random(n) < frequency
        bits[np.ix_(np.nonzero(holds[:, t])[0], chosen)] = 1
    return bits, holds, positions


def test_mining_finds_planted_qgrams_and_exactly_their_holders() -> None:
    rng = np.random.default_rng(1)
    bits, holds, positions = _planted(rng, 3000, 256, [0.3, 0.2, 0.12], k=20, fill=0.5)
    patterns = mine_patterns(bits, FrequencyAttackParams())
    for t, planted in enumerate(positions):
        matches = [p for p in patterns if len(set(p.positions) & set(planted)) >= 15]
        assert matches, f"token {t} not mined"
        agreement = np.mean(matches[0].holders == holds[:, t])
        assert agreement > 0.99


def test_alignment_uses_co_occurrence_where_frequencies_tie() -> None:
    rng = np.random.default_rng(2)
    n = 4000
    # q-grams 0 and 1 have the same frequency; only their co-occurrence with 2 tells them apart
    a = rng.random(n) < 0.3
    b = rng.random(n) < 0.3
    c = np.where(rng.random(n) < 0.8, a, rng.random(n) < 0.3)
    d = rng.random(n) < 0.5
    present = np.stack([a, b, c, d], axis=1)
    order = np.array([1, 3, 0, 2])  # pattern i is q-gram order[i]
    holders = present[:, order]
    alignment = align_patterns(
        holders,
        sparse.csc_matrix(present.astype(np.float32)),
        np.arange(4),
        FrequencyAttackParams(),
    )
    assert alignment == {i: int(order[i]) for i in range(4)}


def test_learning_from_matched_pairs_recovers_planted_positions() -> None:
    rng = np.random.default_rng(3)
    bits, holds, positions = _planted(rng, 1500, 256, [0.2, 0.1], k=16, fill=0.6)
    pairs = np.arange(600, dtype=np.int64)
    learned = learn_positions(
        bits.astype(np.float32),
        sparse.csc_matrix(holds.astype(np.float32)),
        pairs,
        pairs,
        FrequencyAttackParams(),
    )
    for t, planted in enumerate(positions):
        assert set(learned[t].tolist()) == set(planted.tolist())


def test_true_positions_are_the_bits_the_encoder_sets() -> None:
    schema = setting("plain").schema
    secret = secrets.token_bytes(32)
    row: list[str | None] = [None] * len(DEFAULT_FEATURES)
    row[DEFAULT_FEATURES.index("sex")] = "f"
    clk = encode_rows(schema, (tuple(row),), secret)
    set_bits = set(np.nonzero(np.unpackbits(clk[0]))[0].tolist())
    truth = true_positions(schema, secret, [("sex", "f")])[("sex", "f")]
    assert set_bits
    assert set_bits <= truth
    assert check_alignment(setting("shipped default").schema, secret, [], [], {}, {}) is None


def test_the_attack_decodes_and_re_identifies_planted_records() -> None:
    """Records hold q-grams of Zipf-like frequencies; each CLK is the OR of its q-grams'
    positions plus background bits. The attacker gets the CLKs in shuffled order."""
    rng = np.random.default_rng(4)
    n, m, vocabulary = 2000, 512, 120
    frequencies = np.clip(0.4 / np.arange(1, vocabulary + 1) ** 0.6, 0.02, None)
    present = rng.random((n, vocabulary)) < frequencies[None, :]
    positions = [rng.choice(m, size=18, replace=False) for _ in range(vocabulary)]
    bits = (rng.random((n, m)) < 0.25).astype(np.uint8)
    for t in range(vocabulary):
        bits[np.ix_(np.nonzero(present[:, t])[0], positions[t])] = 1
    order = rng.permutation(n)
    clks = np.packbits(bits[order], axis=1)
    # token weights are sqrt(k), as token_table gives them: the schema gives each token 18 bits
    matrix = sparse.csr_matrix(present.astype(np.float32) * np.float32(np.sqrt(18)))
    table = TokenTable(
        matrix,
        present.sum(axis=1).astype(np.float64),
        {("f", str(t)): t for t in range(vocabulary)},
    )
    entities = [f"p{i}" for i in range(n)]
    result = frequency_attack(clks, table, entities, [entities[i] for i in order])
    assert result.rate > 0.8
    right = sum(
        len(set(pattern.tolist()) & set(positions[int(token[1])].tolist())) >= 9
        for token, pattern in zip(result.aligned, result.aligned_patterns, strict=True)
    )
    assert len(result.aligned) > 20
    assert right / len(result.aligned) > 0.8


@pytest.mark.benchmark
def test_the_attack_re_identifies_most_plain_clks_of_2000_febrl_records() -> None:
    plain, encoded, _ = overlap_split(febrl_pool(), 2000, 1.0, seed=1)
    schema = setting("plain").schema
    secret = secrets.token_bytes(32)
    clks = encode_rows(schema, encoded.rows, secret)
    table = token_table(schema, plain.rows)
    result = frequency_attack(clks, table, plain.entities, encoded.entities)
    assert result.rate > 0.5
    check = check_alignment(
        schema,
        secret,
        result.aligned,
        result.aligned_patterns,
        result.learned,
        fewest_insertions(table),
        table,
    )
    assert check is not None
    assert check.alignment_precision > 0.6


@pytest.mark.benchmark
def test_the_attack_re_identifies_most_plain_clks_of_synthetic_records_at_half_overlap() -> None:
    """The weak cell before the size term and restarts (it took off with some secrets only)."""
    pool = synthetic_pool(SyntheticSpec(SYNTHETIC_PEOPLE))
    plain, encoded, _ = overlap_split(pool, 3000, 0.5, seed=1)
    schema = setting("plain").schema
    clks = encode_rows(schema, encoded.rows, secrets.token_bytes(32))
    result = frequency_attack(
        clks, token_table(schema, plain.rows), plain.entities, encoded.entities
    )
    assert result.rate > 0.5
    assert max(start["self_check"] for start in result.starts) >= 0.2


def test_blocks_are_mined_separately_and_positions_keep_their_offsets() -> None:
    rng = np.random.default_rng(5)
    left, _, left_positions = _planted(rng, 3000, 128, [0.25], k=12, fill=0.1)
    right, _, right_positions = _planted(rng, 3000, 128, [0.15], k=12, fill=0.1)
    bits = np.concatenate([left, right], axis=1)
    params = FrequencyAttackParams(min_association=0.25, seed_support=0.02, min_pattern=8)
    found = []
    for start, stop in [(0, 128), (128, 256)]:
        found += [
            set((p.positions + start).tolist()) for p in mine_patterns(bits[:, start:stop], params)
        ]
    assert set(left_positions[0].tolist()) in found
    assert {p + 128 for p in right_positions[0].tolist()} in found


def test_the_attack_mines_each_block_of_a_segmented_layout() -> None:
    """Each q-gram's positions lie in one of two blocks (segments); mining each block on its
    own still decodes the records."""
    rng = np.random.default_rng(6)
    n, half, vocabulary = 1500, 256, 60
    frequencies = np.clip(0.4 / np.arange(1, vocabulary + 1) ** 0.6, 0.03, None)
    present = rng.random((n, vocabulary)) < frequencies[None, :]
    bits = (rng.random((n, 2 * half)) < 0.2).astype(np.uint8)
    for t in range(vocabulary):
        chosen = rng.choice(half, size=18, replace=False) + (t % 2) * half
        bits[np.ix_(np.nonzero(present[:, t])[0], chosen)] = 1
    order = rng.permutation(n)
    table = TokenTable(
        sparse.csr_matrix(present.astype(np.float32) * np.float32(np.sqrt(18))),
        present.sum(axis=1).astype(np.float64),
        {("f", str(t)): t for t in range(vocabulary)},
    )
    entities = [f"p{i}" for i in range(n)]
    result = frequency_attack(
        np.packbits(bits[order], axis=1),
        table,
        entities,
        [entities[i] for i in order],
        blocks=[(0, half), (half, 2 * half)],
    )
    assert result.rate > 0.8
    assert all(
        (pattern < half).all() or (pattern >= half).all() for pattern in result.aligned_patterns
    )


def test_expected_pattern_sizes_follow_the_schema_k_and_companions() -> None:
    # q-gram 0: 20 positions in every record; q-gram 1: 30 or 10 positions (the value's
    # length decides), held by 100 records; q-gram 2 (5 positions) is held by exactly the
    # records that hold q-gram 1, so their patterns are one union; q-gram 0 is held by them
    # too, but as often by the other records, so closure leaves its positions out
    n = 400
    k = np.zeros((n, 3))
    k[:, 0] = 20
    k[:100, 1] = np.where(np.arange(100) < 50, 30, 10)
    k[:100, 2] = 5
    weights = sparse.csc_matrix(np.sqrt(k).astype(np.float32))
    sizes = expected_pattern_sizes(weights, np.arange(3), keep_inside=0.97, keep_outside=0.9)
    assert sizes.tolist() == [20.0, 15.0, 15.0]


def test_the_size_term_aligns_q_grams_that_frequency_and_co_occurrence_cannot_tell_apart() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    # two independent q-grams of the same frequency: only their sizes differ
    present = rng.random((n, 2)) < 0.3
    holders = present[:, [1, 0]] & (rng.random((n, 2)) < 0.99)
    params = FrequencyAttackParams(first_accepted=1)
    with_sizes = align_patterns(
        holders,
        sparse.csc_matrix(present.astype(np.float32)),
        np.arange(2),
        params,
        pattern_sizes=np.array([40, 10]),
        token_sizes=np.array([10.0, 40.0]),
    )
    assert with_sizes == {0: 1, 1: 0}
    swapped = align_patterns(
        holders,
        sparse.csc_matrix(present.astype(np.float32)),
        np.arange(2),
        params,
        pattern_sizes=np.array([10, 40]),
        token_sizes=np.array([10.0, 40.0]),
    )
    assert swapped == {0: 0, 1: 1}


def test_the_self_check_separates_standing_out_pairs_from_near_ties() -> None:
    rng = np.random.default_rng(8)
    n = 500
    noise = rng.normal(size=(n, n)).astype(np.float32)
    identity = np.arange(n, dtype=np.int64)
    took_off = noise + 8.0 * np.eye(n, dtype=np.float32)
    assert self_check(took_off, identity) > 0.9
    # a failed run: the assignment is each row's best, but only by noise
    failed_assignment = np.argmax(noise, axis=1).astype(np.int64)
    assert self_check(noise, failed_assignment) < 0.3
    assert self_check(noise, np.full(n, -1, dtype=np.int64)) == 0.0


def test_the_attack_keeps_the_start_with_the_highest_self_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(9)
    n, m, vocabulary = 800, 256, 30
    frequencies = np.clip(0.4 / np.arange(1, vocabulary + 1) ** 0.6, 0.05, None)
    present = rng.random((n, vocabulary)) < frequencies[None, :]
    bits = (rng.random((n, m)) < 0.2).astype(np.uint8)
    for t in range(vocabulary):
        bits[np.ix_(np.nonzero(present[:, t])[0], rng.choice(m, size=16, replace=False))] = 1
    table = TokenTable(
        sparse.csr_matrix(present.astype(np.float32) * np.float32(4.0)),
        present.sum(axis=1).astype(np.float64),
        {("f", str(t)): t for t in range(vocabulary)},
    )
    checks = [0.05, 0.3, 0.1, 0.25]
    seen: list[int] = []

    def fake_run(*args: object, seed: int = 0, **kwargs: object) -> LearningRun:
        seen.append(seed)
        assignment = np.full(n, -1, dtype=np.int64)
        assignment[seed] = seed  # marks which start the attack kept
        return LearningRun(assignment, {}, [{"correct": 0.0}], checks[seed])

    monkeypatch.setattr(frequency_attack_module, "match_and_learn", fake_run)
    entities = [f"p{i}" for i in range(n)]
    clks = np.packbits(bits, axis=1)
    params = FrequencyAttackParams(starts=4, took_off=0.2)
    everything = frequency_attack(clks, table, entities, entities, params, all_starts=True)
    assert seen == [0, 1, 2, 3]
    assert [s["self_check"] for s in everything.starts] == checks
    assert np.nonzero(everything.assignment >= 0)[0].tolist() == [1]
    seen.clear()
    early = frequency_attack(clks, table, entities, entities, params)
    assert seen == [0, 1]  # start 1 reached the took-off self-check
    assert early.correct == 1
