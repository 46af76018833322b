"""A majority-vote XOR encoding, after SAUL (Armknecht & Schäfer, PoPETs 2026), for comparison.

"Breaking BAD? Better Call SAUL!" (PoPETs 2026, issue 2) re-identifies up to 91.6 % of
Bloom filters with added diffusion (BAD, our shipped hardening) with a graph-matching attack
of its own, and proposes SAUL in its place. This module encodes the benchmark's records with
a scheme of that shape, written from the published description, so that the attacks of this
benchmark can be run against it next to ours. It is not a linkage encoding of the service.

Encoding, with ``votes`` (k) and ``output_bits`` (L):

* every token of the schema (feature-tagged, salted where the schema salts; the tokens of
  :func:`benchmarks.attacks.similarity.token_table`) gets a secret-keyed sign vector
  ``s_g in {-1, +1}^(k L)`` (BLAKE2b keyed with the secret, then a seeded generator);
* a record's vote at each of the ``k L`` positions is ``sum_g w(g) s_g`` with ``w(g)`` the
  bits the schema gives the token (its weight in the Bloom filter), plus a keyed tie-breaker
  of weight 1/4 that every record shares;
* bit ``j`` of the output is the XOR of the signs (vote > 0) at positions ``j, L + j, ...,
  (k - 1) L + j``.

A vote's sign is a random-hyperplane (SimHash) bit of the weighted token vector, so two
records agree on it with probability about ``1 - theta / pi``, ``cos theta`` their weighted
cosine (exact for Gaussian hyperplanes; these +-1 signs make near-duplicates agree slightly
less, by under 0.01 on the XOR); on the XOR of ``k`` independent ones with probability
about ``(1 + (1 - 2 theta / pi)^k) / 2``. Output bits are half set, so that is also about
the expected Dice (:func:`expected_matrix`): the attacker's closed form, as
:func:`benchmarks.attacks.similarity.expected_similarity_matrix` is for Bloom filters.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from benchmarks.attacks.similarity import FloatMatrix, TokenTable, neutral_diagonal
from linkage.types import ClkBytes

__all__ = ["MajorityXor", "encode_table", "expected_matrix", "token_signs"]

#: weight of the tie-breaking pseudo-token every record holds
TIE_BREAK_WEIGHT = 0.25


@dataclass(frozen=True)
class MajorityXor:
    """The encoding's parameters: output length ``L`` and votes XORed per bit ``k``."""

    output_bits: int
    votes: int

    def __post_init__(self) -> None:
        if self.output_bits <= 0 or self.output_bits % 8:
            raise ValueError(
                f"output_bits must be a positive multiple of 8, not {self.output_bits}"
            )
        if self.votes < 1:
            raise ValueError(f"votes must be at least 1, not {self.votes}")


def token_signs(tokens: list[tuple[str, ...]], secret: bytes, width: int) -> npt.NDArray[np.int8]:
    """``int8[len(tokens), width]`` of -1 / +1, a function of the secret and each token alone."""
    out = np.empty((len(tokens), width), dtype=np.int8)
    for row, token in enumerate(tokens):
        digest = hashlib.blake2b(
            "\x1f".join(token).encode(), key=secret[:64], digest_size=16, person=b"majority-xor"
        ).digest()
        generator = np.random.default_rng(int.from_bytes(digest, "little"))
        out[row] = generator.integers(0, 2, width, dtype=np.int8) * 2 - 1
    return out


def _weights(table: TokenTable) -> sparse.csr_matrix:
    """The tokens' schema weights ``w(g)`` (the table holds their square roots)."""
    weights = table.matrix.tocsr().astype(np.float32)
    weights.data = weights.data**2
    return weights


def encode_table(table: TokenTable, secret: bytes, params: MajorityXor) -> ClkBytes:
    """Encode every record of ``table``, ``uint8[n, output_bits // 8]``."""
    width = params.output_bits * params.votes
    weights = _weights(table)
    signs = token_signs(table.columns, secret, width).astype(np.float32)
    tie_break = token_signs([("\x00tie-break",)], secret, width)[0].astype(np.float32)
    votes = np.asarray(weights @ signs) + TIE_BREAK_WEIGHT * tie_break
    positive = (votes > 0).reshape(len(votes), params.votes, params.output_bits)
    out: ClkBytes = np.packbits(np.bitwise_xor.reduce(positive, axis=1), axis=1)
    return out


def expected_matrix(table: TokenTable, params: MajorityXor, block: int = 1000) -> FloatMatrix:
    """The Dice the encoding is expected to give every pair of records (any key)."""
    weights = _weights(table)
    norms = np.sqrt(np.asarray(weights.multiply(weights).sum(axis=1), dtype=np.float64).ravel())
    transposed = weights.T.tocsc()
    n = weights.shape[0]
    out = np.empty((n, n), dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        dot = (weights[start:stop] @ transposed).toarray().astype(np.float64)
        scale = norms[start:stop, None] * norms[None, :]
        cosine = np.clip(np.divide(dot, scale, out=np.zeros_like(dot), where=scale > 0), -1.0, 1.0)
        agreement = 1.0 - 2.0 * np.arccos(cosine) / np.pi
        out[start:stop] = (1.0 + agreement**params.votes) / 2.0
    return neutral_diagonal(out)
