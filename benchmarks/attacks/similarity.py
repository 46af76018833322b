"""Similarity graphs of both sides of the attack, as dense ``float32[n, n]`` matrices.

* Plaintext (the attacker's): q-gram similarity, made schema-aware. The schema is public,
  so the attacker tokenises each feature as the encoder does (``linkage.encode.tokenize``),
  tags each token with its feature (and, for a salted feature, with the record's salt: the
  salting rule is public too) and weights it by the bits the schema inserts for it
  (``w_x(g)``). From the shared insertions ``c = sum_g sqrt(w_x(g) w_y(g))`` and the totals
  ``W_x = sum_g w_x(g)`` it computes either the weighted q-gram Dice ``2c / (W_x + W_y)``
  (:func:`plaintext_dice_matrix`) or, better for the attacker, the Dice that the public
  encoding is *expected* to produce for those token sets, whatever the key
  (:func:`expected_similarity_matrix`): Bloom-filter collisions for a filter of ``l`` bits,
  and, for a diffused schema, the expected output similarity of ``t``-input XORs. This is
  the attacker's regression from plaintext to encoded similarity, in closed form.
* Encoded (the matcher's view): the Dice coefficient of the CLKs, ``2 |a & b| / (|a| + |b|)``,
  as linkage.match computes it, for every pair.

Diagonals are set to each row's mean (a neutral value), so that no node looks similar to
itself in anything computed from rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import numpy.typing as npt
from scipy import sparse

from linkage.encode import (
    DateFormat,
    Feature,
    IntegerFormat,
    LinkageSchema,
    tokenize,
)
from linkage.types import ClkBytes

__all__ = [
    "FloatMatrix",
    "TokenTable",
    "clk_dice_matrix",
    "expected_similarity_matrix",
    "neutral_diagonal",
    "plaintext_dice_matrix",
    "popcounts_of",
    "token_table",
]

FloatMatrix = npt.NDArray[np.float32]
Row = Sequence[str | None]


def _formatted(feature: Feature, value: str | None) -> str:
    missing = feature.hashing.missing_value
    if value is None or (missing is not None and value == missing.sentinel):
        return "" if missing is None else missing.replacement
    fmt = feature.format
    if isinstance(fmt, DateFormat):
        return datetime.strptime(value, fmt.format).strftime("%Y%m%d")
    if isinstance(fmt, IntegerFormat):
        return str(int(value))
    return value


class TokenTable:
    """Records as weighted token sets: a sparse ``float32[n, vocabulary]`` of sqrt weights."""

    def __init__(
        self,
        matrix: sparse.csr_matrix,
        sizes: npt.NDArray[np.float64],
        vocabulary: dict[tuple[str, ...], int],
    ) -> None:
        self.matrix = matrix
        self.sizes = sizes
        self.vocabulary = vocabulary

    @property
    def columns(self) -> list[tuple[str, ...]]:
        out: list[tuple[str, ...]] = [("",)] * len(self.vocabulary)
        for token, column in self.vocabulary.items():
            out[column] = token
        return out


def token_table(
    schema: LinkageSchema, rows: Sequence[Row], vocabulary: dict[tuple[str, ...], int] | None = None
) -> TokenTable:
    """Tokenise ``rows`` as ``schema`` would; token keys are ``(feature, [salt,] token)``.

    Pass another table's ``vocabulary`` to share columns (new tokens are added to it).
    """
    vocab: dict[tuple[str, ...], int] = {} if vocabulary is None else vocabulary
    hardening = schema.hardening
    index_of = {f.identifier: i for i, f in enumerate(schema.features)}
    indptr = [0]
    indices: list[int] = []
    data: list[float] = []
    sizes = np.zeros(len(rows), dtype=np.float64)
    features = [(i, f) for i, f in enumerate(schema.features) if isinstance(f, Feature)]
    for r, row in enumerate(rows):
        weights: dict[int, float] = {}
        for i, feature in features:
            tokens = tokenize(feature, _formatted(feature, row[i]))
            counts = feature.hashing.strategy.bits_per_token(len(tokens))
            rule = None if hardening is None else hardening.salt_rule(feature.identifier)
            salt: tuple[str, ...] = ()
            if rule is not None:
                source = schema.features[index_of[rule.salt_from]]
                assert isinstance(source, Feature)
                salt = (rule.salt_of(_formatted(source, row[index_of[rule.salt_from]])),)
            for token, k in zip(tokens, counts, strict=True):
                if not k:
                    continue
                key = (feature.identifier, *salt, token)
                column = vocab.setdefault(key, len(vocab))
                weights[column] = weights.get(column, 0.0) + k
        for column, weight in sorted(weights.items()):
            indices.append(column)
            data.append(float(np.sqrt(weight)))
            sizes[r] += weight
        indptr.append(len(indices))
    matrix = sparse.csr_matrix(
        (np.asarray(data, np.float32), np.asarray(indices, np.int64), np.asarray(indptr, np.int64)),
        shape=(len(rows), max(1, len(vocab))),
    )
    return TokenTable(matrix, sizes, vocab)


def neutral_diagonal(matrix: FloatMatrix) -> FloatMatrix:
    """Set each row's diagonal entry to the mean of its other entries (in place)."""
    n = matrix.shape[0]
    np.fill_diagonal(matrix, 0.0)
    means = matrix.sum(axis=1) / max(1, n - 1)
    matrix[np.arange(n), np.arange(n)] = means
    return matrix


def plaintext_dice_matrix(table: TokenTable, block: int = 1000) -> FloatMatrix:
    """Schema-aware q-gram Dice of every pair of records, ``float32[n, n]``."""
    matrix = table.matrix.tocsr()
    transposed = matrix.T.tocsc()
    n = matrix.shape[0]
    out = np.empty((n, n), dtype=np.float32)
    sizes = table.sizes.astype(np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        shared = (matrix[start:stop] @ transposed).toarray().astype(np.float32)
        total = sizes[start:stop, None] + sizes[None, :]
        np.divide(2.0 * shared, total, out=out[start:stop], where=total > 0)
        out[start:stop][total <= 0] = 0.0
    return neutral_diagonal(out)


def _expected_block(
    shared: npt.NDArray[np.float64],
    size_a: npt.NDArray[np.float64],
    size_b: npt.NDArray[np.float64],
    schema: LinkageSchema,
) -> npt.NDArray[np.float64]:
    """Expected encoded Dice from shared and total insertions (rows a, columns b)."""
    length = float(schema.bloom_length)
    log_q = np.log1p(-1.0 / length)
    fill_a = -np.expm1(size_a * log_q)[:, None]
    fill_b = -np.expm1(size_b * log_q)[None, :]
    union = -np.expm1((size_a[:, None] + size_b[None, :] - shared) * log_q)
    both = np.maximum(fill_a + fill_b - union, 0.0)
    hardening = schema.hardening
    if hardening is not None and hardening.diffusion is not None:
        taps = hardening.diffusion.taps
        differ = fill_a + fill_b - 2.0 * both
        if hardening.balance:
            fill_a = np.full_like(fill_a, 0.5)
            fill_b = np.full_like(fill_b, 0.5)
            differ = differ / 2.0
        one_a = (1.0 - (1.0 - 2.0 * fill_a) ** taps) / 2.0
        one_b = (1.0 - (1.0 - 2.0 * fill_b) ** taps) / 2.0
        out_differ = (1.0 - (1.0 - 2.0 * differ) ** taps) / 2.0
        both = np.maximum((one_a + one_b - out_differ) / 2.0, 0.0)
        fill_a, fill_b = one_a, one_b
    elif hardening is not None and hardening.balance:
        differ = fill_a + fill_b - 2.0 * both
        return 1.0 - differ / 2.0
    total = fill_a + fill_b
    out: npt.NDArray[np.float64] = np.divide(
        2.0 * both, total, out=np.zeros_like(union), where=total > 0
    )
    return out


def expected_similarity_matrix(
    table: TokenTable, schema: LinkageSchema, block: int = 1000
) -> FloatMatrix:
    """The Dice the public encoding is expected to give every pair of records (any key)."""
    matrix = table.matrix.tocsr()
    transposed = matrix.T.tocsc()
    n = matrix.shape[0]
    out = np.empty((n, n), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        shared = (matrix[start:stop] @ transposed).toarray().astype(np.float64)
        out[start:stop] = _expected_block(shared, table.sizes[start:stop], table.sizes, schema)
    return neutral_diagonal(out)


def popcounts_of(clks: ClkBytes) -> npt.NDArray[np.int64]:
    counts: npt.NDArray[np.int64] = np.unpackbits(clks, axis=1).sum(axis=1, dtype=np.int64)
    return counts


def clk_dice_matrix(clks: ClkBytes, block: int = 2000) -> FloatMatrix:
    """Dice coefficient of every pair of CLKs, ``float32[n, n]`` (bit counts via BLAS)."""
    bits = np.unpackbits(clks, axis=1).astype(np.float32)
    pops = bits.sum(axis=1)
    n = bits.shape[0]
    out = np.empty((n, n), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        shared = bits[start:stop] @ bits.T
        total = pops[start:stop, None] + pops[None, :]
        np.divide(2.0 * shared, total, out=out[start:stop], where=total > 0)
        out[start:stop][total <= 0] = 0.0
    return neutral_diagonal(out)
