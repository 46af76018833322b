"""Checking the frequency attack's alignment with the key (only the benchmark holds it).

The published pattern-mining attacks report how many q-grams they aligned correctly. The
benchmark knows the linkage secret, so it can compute the positions the encoder really
gives each q-gram and check each alignment:

* an aligned pattern is **right** when at least half of its positions (or of the q-gram's
  fewest positions, if fewer) are among the q-gram's true positions (a pattern of q-grams
  that always occur together, such as the bigrams of "nsw", is right for each of them);
* a learned position is **right** when it is one of its q-gram's true positions.

Plain (not salted, not diffused) schemas only: after salting a q-gram's positions depend on
the record's salt, and after diffusion no output bit is a q-gram's position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from benchmarks.attacks.encodings import KEY_EPOCH
from benchmarks.attacks.similarity import TokenTable
from linkage.encode import ClkEncoder, LinkageSchema

__all__ = ["AlignmentCheck", "check_alignment", "fewest_insertions", "true_positions"]

#: positions computed per q-gram: more than any feature gives one token
_MAX_K = 256


@dataclass(frozen=True)
class AlignmentCheck:
    aligned: int
    aligned_right: int
    learned_qgrams: int
    learned_positions: int
    learned_positions_right: int

    @property
    def alignment_precision(self) -> float:
        return self.aligned_right / self.aligned if self.aligned else 0.0

    @property
    def position_precision(self) -> float:
        return (
            self.learned_positions_right / self.learned_positions if self.learned_positions else 0.0
        )


def true_positions(
    schema: LinkageSchema, secret: bytes, tokens: list[tuple[str, ...]]
) -> dict[tuple[str, ...], set[int]]:
    """Every position the encoder may give each ``(feature, q-gram)`` token (any k)."""
    encoder = ClkEncoder(schema, secret, key_epoch=KEY_EPOCH)
    # The benchmark's own look inside the encoder: the attacker never has this.
    codecs = {codec.identifier: codec for _, codec in encoder._codecs}
    out: dict[tuple[str, ...], set[int]] = {}
    for token in tokens:
        if len(token) != 2 or token[0] not in codecs:
            continue
        codec = codecs[token[0]]
        data = token[1].encode(codec.encoding)
        out[token] = set(codec._indices(data, _MAX_K))
    return out


def check_alignment(
    schema: LinkageSchema,
    secret: bytes,
    aligned: list[tuple[str, ...]],
    aligned_patterns: list[npt.NDArray[np.int64]],
    learned: dict[tuple[str, ...], npt.NDArray[np.int64]],
    fewest: dict[tuple[str, ...], int],
) -> AlignmentCheck | None:
    """Check an attack result against the key; None where the schema hides positions."""
    if schema.hardening is not None and (
        schema.hardening.diffusion is not None or schema.hardening.salting
    ):
        return None
    truth = true_positions(schema, secret, [*aligned, *learned])
    right = 0
    for token, pattern in zip(aligned, aligned_patterns, strict=True):
        positions = truth.get(token, set())
        shared = sum(1 for p in pattern.tolist() if p in positions)
        if shared >= 0.5 * min(len(pattern), max(1, fewest.get(token, len(pattern)))):
            right += 1
    total = 0
    good = 0
    for token, learned_positions in learned.items():
        positions = truth.get(token, set())
        total += len(learned_positions)
        good += sum(1 for p in learned_positions.tolist() if p in positions)
    return AlignmentCheck(len(aligned), right, len(learned), total, good)


def fewest_insertions(table: TokenTable) -> dict[tuple[str, ...], int]:
    """Per token, the fewest positions any plaintext record gives it (its shortest prefix)."""
    weights = table.matrix.tocsc().power(2)
    columns = table.columns
    out: dict[tuple[str, ...], int] = {}
    starts = weights.indptr
    for column in np.nonzero(np.diff(starts))[0].tolist():
        values = weights.data[starts[column] : starts[column + 1]]
        out[columns[column]] = int(np.rint(values.min()))
    return out
