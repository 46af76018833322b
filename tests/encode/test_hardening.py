"""Hardening: the diffusion mapping, balancing, salting, epoch-bound keys, the encoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from linkage.encode import (
    HARDENED_SCHEMA_VERSION,
    ClkEncoder,
    Hardener,
    balance_packed,
    balance_permutation,
    default_schema,
    derive_epoch_secret,
    derive_feature_keys,
    derive_hardening_key,
    diffuse_packed,
    diffuse_reference,
    diffusion_taps,
    load_schema,
    plain_schema,
)
from linkage.encode._diffusion import keyed_integers
from linkage.errors import InvalidInputError

pytestmark = pytest.mark.unit

SECRET = b"0123456789abcdef-hardening-test"
KEYS = st.binary(min_size=1, max_size=64)


def _popcount(array: np.ndarray) -> int:
    return int(np.unpackbits(np.ascontiguousarray(array).view(np.uint8)).sum())


def _packed(rows: int, words: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**64, size=(rows, words), dtype=np.uint64)


def _unit(position: int, words: int) -> np.ndarray:
    out = np.zeros((1, words), dtype=np.uint64)
    out[0, position // 64] = np.uint64(1) << np.uint64(63 - position % 64)
    return out


def _bits(packed: np.ndarray) -> np.ndarray:
    return np.unpackbits(packed.astype(">u8").view(np.uint8), axis=1)


# --------------------------------------------------------------------- the mapping


@settings(max_examples=40, deadline=None)
@given(
    key=KEYS, input_words=st.integers(1, 4), output_words=st.integers(1, 3), t=st.integers(1, 16)
)
def test_taps_are_a_function_of_the_key_alone(
    key: bytes, input_words: int, output_words: int, t: int
) -> None:
    inputs, outputs = 64 * input_words, 64 * output_words
    taps = diffusion_taps(key, inputs, outputs, t)
    assert np.array_equal(taps, diffusion_taps(bytes(key), inputs, outputs, t))
    assert taps.shape == (outputs, t)
    assert taps.min() >= 0
    assert taps.max() < inputs
    # every output bit has exactly t distinct inputs
    assert all(len(set(row)) == t for row in taps.tolist())
    assert not taps.flags.writeable


@settings(max_examples=30, deadline=None)
@given(key=KEYS, other=KEYS)
def test_different_keys_give_different_mappings(key: bytes, other: bytes) -> None:
    if key[:64] == other[:64]:
        other = other + b"!" if len(other) < 64 else bytes([other[0] ^ 1]) + other[1:]
    assert not np.array_equal(diffusion_taps(key, 512, 256, 8), diffusion_taps(other, 512, 256, 8))


def test_taps_cover_the_inputs_evenly() -> None:
    taps = diffusion_taps(b"k" * 32, 1024, 4096, 10)
    counts = np.bincount(taps.ravel(), minlength=1024)
    # 40 uses per input on average; a uniform choice stays within a few standard deviations
    assert counts.min() > 10
    assert counts.max() < 75
    assert abs(counts.mean() - 40) < 1e-9


@settings(max_examples=25, deadline=None)
@given(key=KEYS, t=st.integers(1, 12), seed=st.integers(0, 2**32 - 1))
def test_every_output_bit_depends_on_exactly_its_t_inputs(key: bytes, t: int, seed: int) -> None:
    taps = diffusion_taps(key, 128, 64, t)
    # The layer is linear over GF(2): its impulse responses are its matrix.
    responses = np.concatenate([_bits(diffuse_packed(_unit(i, 2), taps)) for i in range(128)])
    assert responses.shape == (128, 64)
    assert (responses.sum(axis=0) == t).all()
    for j in range(64):
        assert set(np.nonzero(responses[:, j])[0].tolist()) == set(taps[j].tolist())
    # ... and flipping any one input flips exactly the outputs that tap it.
    x = _packed(1, 2, seed)
    i = seed % 128
    flipped = _bits(diffuse_packed(x ^ _unit(i, 2), taps)) ^ _bits(diffuse_packed(x, taps))
    assert np.array_equal(flipped[0], responses[i])


@settings(max_examples=40, deadline=None)
@given(
    data=hnp.arrays(np.uint64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6)),
    key=KEYS,
    t=st.integers(1, 20),
    output_words=st.integers(1, 4),
)
def test_the_numba_kernel_equals_the_numpy_reference(
    data: np.ndarray, key: bytes, t: int, output_words: int
) -> None:
    inputs = data.shape[1] * 64
    taps = diffusion_taps(key, inputs, 64 * output_words, min(t, inputs))
    fast = diffuse_packed(data, taps)
    assert fast.dtype == np.uint64
    assert fast.shape == (data.shape[0], output_words)
    assert np.array_equal(fast, diffuse_reference(data, taps))
    assert np.array_equal(fast, diffuse_packed(data.copy(), taps))  # deterministic


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), t=st.integers(1, 12))
def test_diffusion_is_linear_and_fixes_zero(seed: int, t: int) -> None:
    taps = diffusion_taps(seed.to_bytes(4, "big"), 256, 128, t)
    x, y = _packed(2, 4, seed)
    both = np.stack([x, y, x ^ y])
    out = diffuse_packed(both, taps)
    assert np.array_equal(out[2], out[0] ^ out[1])
    assert not diffuse_packed(np.zeros((1, 4), np.uint64), taps).any()


def test_diffused_similarity_falls_with_input_distance() -> None:
    taps = diffusion_taps(b"similarity", 4096, 1024, 10)
    rng = np.random.default_rng(3)
    base = np.zeros(4096, dtype=np.uint8)
    base[rng.choice(4096, 500, replace=False)] = 1
    hamming = []
    for flips in (0, 20, 100, 1000):
        other = base.copy()
        other[rng.choice(4096, flips, replace=False)] ^= 1
        pair = np.packbits(np.stack([base, other]), axis=1).view(">u8").astype(np.uint64)
        out = _bits(diffuse_packed(pair, taps))
        hamming.append(int((out[0] != out[1]).sum()))
    assert hamming[0] == 0
    assert hamming[0] < hamming[1] < hamming[2] < hamming[3]
    assert 400 < hamming[3] < 624  # unrelated inputs: about half the output bits differ


def test_bad_taps_and_inputs_are_refused() -> None:
    packed = _packed(2, 2, 1)
    with pytest.raises(InvalidInputError, match="outside"):
        diffuse_packed(packed, np.full((64, 3), 200, dtype=np.int64))
    with pytest.raises(InvalidInputError, match="output_bits"):
        diffuse_packed(packed, np.zeros((10, 3), dtype=np.int64))
    with pytest.raises(InvalidInputError):
        diffusion_taps(b"k", 64, 64, 65)
    with pytest.raises(InvalidInputError):
        diffusion_taps(b"", 64, 64, 2)


def test_keyed_integers_are_uniform_and_in_range() -> None:
    below = keyed_integers(b"uniform", b"test")
    draws = [below(6) for _ in range(6000)]
    counts = np.bincount(draws, minlength=6)
    assert counts.shape == (6,)
    assert counts.min() > 850
    assert counts.max() < 1150
    again = keyed_integers(b"uniform", b"test")
    assert [again(6) for _ in range(50)] == draws[:50]


# --------------------------------------------------------------------- balancing


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_balancing_fixes_the_popcount_and_doubles_distances(seed: int) -> None:
    permutation = balance_permutation(seed.to_bytes(4, "big"), 128)
    assert sorted(permutation.tolist()) == list(range(256))
    x = _packed(3, 2, seed)
    balanced = balance_packed(x, permutation)
    assert balanced.shape == (3, 4)
    assert all(_popcount(row) == 128 for row in balanced)
    assert _popcount(balanced[0] ^ balanced[1]) == 2 * _popcount(x[0] ^ x[1])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), t=st.integers(1, 12), rows=st.integers(1, 4))
def test_fused_balance_and_diffusion_equal_the_two_steps(seed: int, t: int, rows: int) -> None:
    doc = _hardened_doc(t=t, balance=True, length=128)
    schema = load_schema(doc)
    hardener = Hardener(schema, seed.to_bytes(4, "big") * 4, 1)
    assert hardener.permutation is not None
    assert hardener.taps is not None
    filters = np.random.default_rng(seed).integers(0, 256, size=(rows, 16), dtype=np.uint8)
    packed = filters.view(">u8").astype(np.uint64)
    two_steps = diffuse_reference(balance_packed(packed, hardener.permutation), hardener.taps)
    fused = hardener.apply(filters)
    assert np.array_equal(fused, two_steps.astype(">u8").view(np.uint8))


# --------------------------------------------------------------------- keys


def test_epoch_secrets_and_hardening_keys_depend_on_every_input() -> None:
    assert derive_epoch_secret(SECRET, 1) == derive_epoch_secret(SECRET, 1)
    assert derive_epoch_secret(SECRET, 1) != derive_epoch_secret(SECRET, 2)
    assert derive_epoch_secret(SECRET, 1) != derive_epoch_secret(SECRET + b"x", 1)
    assert len(derive_epoch_secret(SECRET, 0)) == 64
    schema = default_schema()
    other = load_schema(_hardened_doc(t=8))
    keys = {
        derive_hardening_key(SECRET, 1, schema),
        derive_hardening_key(SECRET, 2, schema),
        derive_hardening_key(SECRET, 1, other),
        derive_hardening_key(SECRET + b"x", 1, schema),
        derive_epoch_secret(SECRET, 1),
    }
    assert len(keys) == 5
    with pytest.raises(InvalidInputError):
        derive_epoch_secret(SECRET, -1)
    with pytest.raises(InvalidInputError):
        derive_epoch_secret(SECRET, True)


def test_hardened_feature_keys_are_bound_to_the_epoch() -> None:
    schema = default_schema()
    one = derive_feature_keys(schema, derive_epoch_secret(SECRET, 1))
    two = derive_feature_keys(schema, derive_epoch_secret(SECRET, 2))
    assert one != two
    assert one != derive_feature_keys(schema, SECRET)


# --------------------------------------------------------------------- encoder


def _hardened_doc(
    *,
    t: int | None = 10,
    balance: bool = False,
    salting: list[dict[str, Any]] | None = None,
    length: int = 512,
) -> dict[str, Any]:
    def feature(identifier: str, fmt: dict[str, Any]) -> dict[str, Any]:
        return {
            "identifier": identifier,
            "format": fmt,
            "hashing": {
                "comparison": {"type": "ngram", "n": 2},
                "strategy": {"bitsPerToken": 8},
                "missingValue": {"sentinel": ""},
            },
        }

    hardening: dict[str, Any] = {"salting": salting or [], "balance": balance}
    if t is not None:
        hardening["diffusion"] = {"outputBits": 256, "t": t}
    return {
        "version": HARDENED_SCHEMA_VERSION,
        "clkConfig": {"l": length, "kdf": {"type": "HKDF"}},
        "features": [
            feature("name", {"type": "string"}),
            feature("dob", {"type": "date", "format": "%Y-%m-%d"}),
            feature("town", {"type": "string"}),
        ],
        "hardening": hardening,
    }


ROWS = [
    ["john smith", "1980-01-02", "springfield"],
    ["jon smith", "1980-01-02", "springfield"],
    ["mary jones", "1975-11-30", "shelbyville"],
]


def _dice(a: bytes | np.ndarray, b: bytes | np.ndarray) -> float:
    x = np.unpackbits(np.frombuffer(bytes(a), np.uint8))
    y = np.unpackbits(np.frombuffer(bytes(b), np.uint8))
    return 2 * int((x & y).sum()) / int(x.sum() + y.sum())


def _looks_independent(a: bytes | np.ndarray, b: bytes | np.ndarray) -> bool:
    """Whether a and b overlap no more than two independent random filters would.

    With popcounts ``ka`` and ``kb`` in ``n`` bits, the overlap of independent filters is
    hypergeometric: mean ``ka*kb/n``; we accept anything within four standard deviations.
    """
    x = np.unpackbits(np.frombuffer(bytes(a), np.uint8))
    y = np.unpackbits(np.frombuffer(bytes(b), np.uint8))
    n, ka, kb = x.size, int(x.sum()), int(y.sum())
    mean = ka * kb / n
    sd = (kb * (ka / n) * (1 - ka / n) * (n - kb) / (n - 1)) ** 0.5
    return abs(int((x & y).sum()) - mean) <= 4 * sd


def test_a_hardened_schema_needs_the_key_epoch() -> None:
    with pytest.raises(InvalidInputError, match="key epoch"):
        ClkEncoder(default_schema(), SECRET)


def test_plain_encoding_ignores_the_epoch_and_stays_clkhash() -> None:
    row = [
        "liam", None, "taylor", "1955-04-21", "x", None, "57 high st", None, "springvale",
        "3171", "vic",
    ]  # fmt: skip
    plain = ClkEncoder(plain_schema(), SECRET).encode_record(row)
    assert ClkEncoder(plain_schema(), SECRET, key_epoch=7).encode_record(row) == plain
    assert len(plain) == 128


def test_hardened_encoding_is_deterministic_and_has_the_output_length() -> None:
    schema = load_schema(_hardened_doc())
    first = ClkEncoder(schema, SECRET, key_epoch=3).encode(ROWS)
    again = ClkEncoder(schema, SECRET, key_epoch=3).encode(ROWS)
    assert first.shape == (3, 32)
    assert np.array_equal(first, again)
    assert ClkEncoder(schema, SECRET, key_epoch=3).clk_bytes == 32
    # similar records stay the most similar pair
    assert _dice(first[0], first[1]) > _dice(first[0], first[2]) + 0.1


def test_clks_of_different_epochs_never_compare() -> None:
    schema = default_schema()
    row = [
        "liam", None, "taylor", "1955-04-21", "x", None, "57 high st", None, "springvale",
        "3171", "vic",
    ]  # fmt: skip
    one = ClkEncoder(schema, SECRET, key_epoch=1).encode_record(row)
    two = ClkEncoder(schema, SECRET, key_epoch=2).encode_record(row)
    assert one == ClkEncoder(schema, SECRET, key_epoch=1).encode_record(row)
    assert _dice(one, one) == 1.0
    assert _looks_independent(one, two)  # unrelated: about as similar as random vectors


def test_differently_hardened_clks_never_compare() -> None:
    one = ClkEncoder(load_schema(_hardened_doc(t=8)), SECRET, key_epoch=1).encode(ROWS)
    two = ClkEncoder(load_schema(_hardened_doc(t=10)), SECRET, key_epoch=1).encode(ROWS)
    assert all(_looks_independent(one[i], two[i]) for i in range(len(ROWS)))


def test_diffused_fill_follows_the_xor_of_t_filter_bits() -> None:
    """Output fill = P(odd number of ones among t taps) = (1 - (1 - 2p)^t) / 2.

    ``p`` is the record's own Bloom-filter density before diffusion. The fill is not 0.5:
    for the default (16384-bit filter, t = 10) it is about 0.41, and it still grows with
    the number of filled fields (docs/hardening.md says what popcount leaks).
    """
    schema = default_schema()
    assert schema.hardening is not None
    assert schema.hardening.diffusion is not None
    t = schema.hardening.diffusion.taps
    encoder = ClkEncoder(schema, SECRET, key_epoch=1)
    rows = [
        [
            f"name{i}", None, "smith", "1970-01-01", "f", None, f"{i} main st", None,
            "town", "2000", "nsw",
        ][: 3 + i % 9] + [None] * (8 - i % 9)
        for i in range(270)
    ]  # fmt: skip
    clks = encoder.encode(rows)
    hardener = Hardener(schema, SECRET, 1)
    encoder._hardener = None  # the same encoder, stopped before diffusion: its filters
    filters = encoder.encode(rows)
    assert bytes(hardener.apply(filters)[5]) == bytes(clks[5])
    p = np.unpackbits(filters, axis=1).mean(axis=1)
    expected = (1 - (1 - 2 * p) ** t) / 2
    fill = np.unpackbits(clks, axis=1).mean(axis=1)
    # each record's fill is a mean of 1024 near-independent bits: sd <= 0.016
    assert np.abs(fill - expected).max() < 0.07
    assert abs(float((fill - expected).mean())) < 0.006
    assert fill.max() - fill.min() > 0.1  # records with fewer fields are visibly emptier


def test_salting_separates_equal_values_with_different_salts() -> None:
    salting = [{"feature": "name", "saltFrom": "dob", "start": 0, "end": 4}]
    schema = load_schema(_hardened_doc(t=None, salting=salting))
    encoder = ClkEncoder(schema, SECRET, key_epoch=1)
    assert encoder.clk_bytes == 64
    same_year = encoder.encode([["ann lee", "1980-01-01", ""], ["ann lee", "1980-12-31", ""]])
    other_year = encoder.encode([["ann lee", "1981-01-01", ""]])
    # Same year: only the date bits differ; another year: the name bits move too.
    assert _dice(same_year[0], same_year[1]) > _dice(same_year[0], other_year[0]) + 0.2
    # the unsalted feature still matches across salts
    towns = encoder.encode([["", "1980-01-01", "springfield"], ["", "1990-01-01", "springfield"]])
    only_town = encoder.encode([["", "", "springfield"]])
    assert _dice(towns[0], only_town[0]) > 0.5
    assert _dice(towns[1], only_town[0]) > 0.5


def test_a_missing_salt_source_is_the_empty_salt() -> None:
    salting = [{"feature": "name", "saltFrom": "dob", "end": 4}]
    encoder = ClkEncoder(load_schema(_hardened_doc(t=None, salting=salting)), SECRET, key_epoch=1)
    a, b = encoder.encode([["ann", None, ""], ["ann", "", ""]])
    assert bytes(a) == bytes(b)


def test_an_invalid_salt_source_rejects_the_row() -> None:
    salting = [{"feature": "name", "saltFrom": "dob", "end": 4}]
    encoder = ClkEncoder(load_schema(_hardened_doc(t=None, salting=salting)), SECRET, key_epoch=1)
    batch = encoder.encode_valid([["ann", "not a date", ""], ["ann", "1990-02-03", ""]])
    assert batch.accepted.tolist() == [1]
    assert batch.problems[0].feature == "dob"


def test_balanced_only_clks_have_a_constant_popcount() -> None:
    schema = load_schema(_hardened_doc(t=None, balance=True))
    clks = ClkEncoder(schema, SECRET, key_epoch=1).encode(ROWS)
    assert clks.shape == (3, 128)
    assert {int(v) for v in np.unpackbits(clks, axis=1).sum(axis=1)} == {512}


def test_the_hardener_handles_empty_batches_and_checks_lengths() -> None:
    schema = load_schema(_hardened_doc())
    hardener = Hardener(schema, SECRET, 1)
    assert hardener.apply(np.zeros((0, 64), np.uint8)).shape == (0, 32)
    with pytest.raises(InvalidInputError, match="filter length"):
        hardener.apply(np.zeros((2, 8), np.uint8))
    assert ClkEncoder(schema, SECRET, key_epoch=1).encode_valid([]).clks.shape == (0, 32)
    with pytest.raises(InvalidInputError):
        Hardener(plain_schema(), SECRET, 1)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.lists(st.one_of(st.none(), st.text(max_size=10)), min_size=3, max_size=3), max_size=6
    )
)
def test_hardened_batches_equal_row_by_row_encoding(rows: list[list[str | None]]) -> None:
    salting = [{"feature": "town", "saltFrom": "name", "end": 2}]
    schema = load_schema(_hardened_doc(salting=salting, balance=True))
    encoder = ClkEncoder(schema, SECRET, key_epoch=1)
    batch = encoder.encode_valid(rows)
    singles = [
        bytes(ClkEncoder(schema, SECRET, key_epoch=1).encode_valid([row]).clks[0])
        for i, row in enumerate(rows)
        if i in set(batch.accepted.tolist())
    ]
    assert [bytes(c) for c in batch.clks] == singles
