"""Checking the frequency attack's alignment with the key (only the benchmark holds it).

The published pattern-mining attacks report how many q-grams they aligned correctly. The
benchmark knows the linkage secret, so it can compute the positions the encoder really
gives each q-gram and check each alignment:

* an aligned pattern is **right** when at least half of its positions (or of the q-gram's
  fewest positions, if fewer) are among the q-gram's true positions (a pattern of q-grams
  that always occur together, such as the bigrams of "nsw", is right for each of them);
* a learned position is **right** when it is one of its q-gram's true positions; it is
  **explained** when it is a true position of the q-gram or of a q-gram that the plaintext
  holds together with it nearly always (in at least :data:`COMPANION_SHARE` of its
  records: the bigrams of "nsw", a postcode and its suburb). No attack on the CLKs alone
  can tell such q-grams apart, since their records are the same.

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
#: a q-gram held in at least this share of another's records is its companion
COMPANION_SHARE = 0.85


@dataclass(frozen=True)
class AlignmentCheck:
    aligned: int
    aligned_right: int
    learned_qgrams: int
    learned_positions: int
    learned_positions_right: int
    #: learned positions that are the q-gram's or a companion's (see the module docstring)
    learned_positions_explained: int = 0

    @property
    def alignment_precision(self) -> float:
        return self.aligned_right / self.aligned if self.aligned else 0.0

    @property
    def position_precision(self) -> float:
        return (
            self.learned_positions_right / self.learned_positions if self.learned_positions else 0.0
        )

    @property
    def explained_precision(self) -> float:
        return (
            self.learned_positions_explained / self.learned_positions
            if self.learned_positions
            else 0.0
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
    table: TokenTable | None = None,
) -> AlignmentCheck | None:
    """Check an attack result against the key; None where the schema hides positions."""
    if schema.hardening is not None and (
        schema.hardening.diffusion is not None or schema.hardening.salting
    ):
        return None
    companions = _companions(table, list(learned)) if table is not None else {}
    extra = sorted({c for group in companions.values() for c in group})
    truth = true_positions(schema, secret, [*aligned, *learned, *extra])
    right = 0
    for token, pattern in zip(aligned, aligned_patterns, strict=True):
        positions = truth.get(token, set())
        shared = sum(1 for p in pattern.tolist() if p in positions)
        if shared >= 0.5 * min(len(pattern), max(1, fewest.get(token, len(pattern)))):
            right += 1
    total = 0
    good = 0
    explained = 0
    for token, learned_positions in learned.items():
        positions = truth.get(token, set())
        wider = set(positions)
        for companion in companions.get(token, []):
            wider |= truth.get(companion, set())
        total += len(learned_positions)
        good += sum(1 for p in learned_positions.tolist() if p in positions)
        explained += sum(1 for p in learned_positions.tolist() if p in wider)
    return AlignmentCheck(len(aligned), right, len(learned), total, good, explained)


def _companions(
    table: TokenTable, tokens: list[tuple[str, ...]]
) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """Per token, the other tokens held in at least COMPANION_SHARE of its records."""
    columns = table.columns
    wanted = [table.vocabulary[t] for t in tokens if t in table.vocabulary]
    if not wanted:
        return {}
    present = (table.matrix.tocsc() > 0).astype(np.float32)
    counts = np.asarray(present.sum(axis=0)).ravel()
    joint = (present[:, wanted].T @ present).toarray()  # wanted x vocabulary
    out: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for row, column in enumerate(wanted):
        share = joint[row] / max(1.0, float(counts[column]))
        others = np.nonzero(share >= COMPANION_SHARE)[0].tolist()
        out[columns[column]] = [columns[o] for o in others if o != column]
    return out


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
