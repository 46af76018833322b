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

These two counts compare with the q-gram's first 256 positions, a quarter of a 1,024-bit
filter, so they are lenient: a pattern of a q-gram with few positions (k = 5 to 11 in the
address, phone and middle-name features) shares about a quarter of its positions with any
other q-gram's 256 and often counts as right by chance. The **strict** counts compare with
the positions the encoder really sets: an aligned pattern is strictly right when it holds at
least half of the q-gram's first ``fewest`` positions (those every record that holds it
sets), or, for a smaller pattern, half of the pattern's positions are among them; a learned
position is strictly right when it is among the q-gram's first ``most`` positions (the most
any plaintext record gives it).

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

__all__ = [
    "AlignmentCheck",
    "check_alignment",
    "fewest_insertions",
    "most_insertions",
    "true_positions",
]

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
    #: the strict counts (see the module docstring)
    aligned_right_strict: int = 0
    learned_positions_right_strict: int = 0

    @property
    def strict_alignment_precision(self) -> float:
        return self.aligned_right_strict / self.aligned if self.aligned else 0.0

    @property
    def strict_position_precision(self) -> float:
        return (
            self.learned_positions_right_strict / self.learned_positions
            if self.learned_positions
            else 0.0
        )

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
    schema: LinkageSchema,
    secret: bytes,
    tokens: list[tuple[str, ...]],
    first: dict[tuple[str, ...], int] | None = None,
) -> dict[tuple[str, ...], set[int]]:
    """Every position the encoder may give each ``(feature, q-gram)`` token (any k), or,
    for the tokens in ``first``, only its first ``first[token]`` positions."""
    encoder = ClkEncoder(schema, secret, key_epoch=KEY_EPOCH)
    # The benchmark's own look inside the encoder: the attacker never has this.
    codecs = {codec.identifier: codec for _, codec in encoder._codecs}
    out: dict[tuple[str, ...], set[int]] = {}
    for token in tokens:
        if len(token) != 2 or token[0] not in codecs:
            continue
        codec = codecs[token[0]]
        data = token[1].encode(codec.encoding)
        count = _MAX_K if first is None else min(_MAX_K, max(1, first.get(token, _MAX_K)))
        out[token] = set(codec._indices(data, count))
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
    most = most_insertions(table) if table is not None else {}
    every_holder = true_positions(schema, secret, aligned, fewest)
    at_most = true_positions(schema, secret, list(learned), most)
    right = 0
    right_strict = 0
    for token, pattern in zip(aligned, aligned_patterns, strict=True):
        positions = truth.get(token, set())
        shared = sum(1 for p in pattern.tolist() if p in positions)
        if shared >= 0.5 * min(len(pattern), max(1, fewest.get(token, len(pattern)))):
            right += 1
        firsts = every_holder.get(token, set())
        shared_first = sum(1 for p in pattern.tolist() if p in firsts)
        if firsts and shared_first >= 0.5 * min(len(pattern), len(firsts)):
            right_strict += 1
    total = 0
    good = 0
    explained = 0
    good_strict = 0
    for token, learned_positions in learned.items():
        positions = truth.get(token, set())
        wider = set(positions)
        for companion in companions.get(token, []):
            wider |= truth.get(companion, set())
        total += len(learned_positions)
        good += sum(1 for p in learned_positions.tolist() if p in positions)
        explained += sum(1 for p in learned_positions.tolist() if p in wider)
        if token in most:
            strict_positions = at_most.get(token, set())
            good_strict += sum(1 for p in learned_positions.tolist() if p in strict_positions)
    return AlignmentCheck(
        len(aligned),
        right,
        len(learned),
        total,
        good,
        explained,
        right_strict,
        good_strict,
    )


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
    return _insertions(table, most=False)


def most_insertions(table: TokenTable) -> dict[tuple[str, ...], int]:
    """Per token, the most positions any plaintext record gives it (its longest prefix)."""
    return _insertions(table, most=True)


def _insertions(table: TokenTable, most: bool) -> dict[tuple[str, ...], int]:
    weights = table.matrix.tocsc().power(2)
    columns = table.columns
    out: dict[tuple[str, ...], int] = {}
    starts = weights.indptr
    for column in np.nonzero(np.diff(starts))[0].tolist():
        values = weights.data[starts[column] : starts[column + 1]]
        out[columns[column]] = int(np.rint(values.max() if most else values.min()))
    return out
