"""A batch linked against the in-memory index without a full join.

Linking a batch of ten thousand records against an index of a million with the blocking
rules as they are (:meth:`BlockingRules.candidate_pairs`) reads all of the index: every
record's band keys for each LSH rule and its values for each exact rule. But a rule pairs
a batch record only with index records that share its band key or its values, and the
index already holds what finds those: the in-memory :class:`ClkIndex` is screened in
place for each LSH rule's band matches (:meth:`ClkIndex.band_candidates`, a hash per band
instead of a key) and the :class:`KeyIndex` holds every record's exact-rule digests,
sorted. Each rule then runs, as it is, on the batch and its own few candidates: a superset
of the records it pairs with the batch (hash collisions add a rare extra), so
:func:`batch_candidate_pairs` gives exactly the pairs of the full join, and
:func:`link_against_index` exactly :meth:`ProbabilisticLinker.link`'s.

Pure: arrays in, arrays out.
"""

from __future__ import annotations

import functools
from collections.abc import Set

import numpy as np

from linkage.arrays import unique_inverse, unique_sorted
from linkage.errors import InvalidInputError
from linkage.layout import SegmentLayout
from linkage.match import BandHashPlan, CandidatePairs, ClkIndex
from linkage.probabilistic._blocking import BlockingRules, ExactRule, LshRule, _words
from linkage.probabilistic._frequency import TermFrequencies
from linkage.probabilistic._keyindex import KeyIndex
from linkage.probabilistic._linker import ProbabilisticLinker
from linkage.types import Int64Array, PackedClks

__all__ = ["batch_candidate_pairs", "link_against_index"]


@functools.lru_cache(maxsize=64)
def _band_plan(rule: LshRule, layout: SegmentLayout) -> BandHashPlan:
    """The band-hash plan of an LSH rule over records of ``layout`` (built once: its
    packing of the bands is a loop in Python)."""
    return BandHashPlan.of(rule.lsh, layout.total_words, _words(layout, rule.parts))


def batch_candidate_pairs(
    batch: PackedClks,
    index: ClkIndex,
    keys: KeyIndex | None,
    layout: SegmentLayout,
    rules: BlockingRules,
    exclude: Set[int] = frozenset(),
) -> tuple[Int64Array, Int64Array, Int64Array, PackedClks]:
    """``(batch rows, index keys, held keys, held)``: the pairs of
    ``rules.candidate_pairs(batch, records)`` where ``records`` are the index's records but
    ``exclude``, each as its key, sorted by row then key; and the keys (ascending) and
    packed CLKs of the index records some rule looked at (every paired one among them).
    ``keys`` must index the exact rules of ``rules`` over the same records as ``index``
    (records removed from both may linger in it until its next merge, which
    :meth:`KeyIndex.sharing` does first; a record it holds that ``index`` does not is a
    :class:`NotFoundError`)."""
    rows, positions, union, packed = _candidate_positions(
        batch, index, keys, layout, rules, exclude
    )
    return rows, union[positions], union, packed


def _candidate_positions(
    batch: PackedClks,
    index: ClkIndex,
    keys: KeyIndex | None,
    layout: SegmentLayout,
    rules: BlockingRules,
    exclude: Set[int] = frozenset(),
) -> tuple[Int64Array, Int64Array, Int64Array, PackedClks]:
    """:func:`batch_candidate_pairs` with each pair's record as its position in the
    records looked at (ascending like their keys)."""
    exact = tuple(rule for rule in rules.rules if isinstance(rule, ExactRule))
    if exact and (keys is None or keys.rules != exact or keys.layout != layout):
        raise InvalidInputError("the key index does not hold the exact rules' keys")
    keyed = iter(keys.sharing(batch)) if keys is not None and exact else iter(())
    gone = np.fromiter(exclude, dtype=np.int64, count=len(exclude))
    looked_at: list[Int64Array] = []
    for rule in rules.rules:
        if isinstance(rule, LshRule):
            nodes = index.band_candidates(batch, _band_plan(rule, layout))
        else:
            nodes = next(keyed)
        if gone.size:
            nodes = nodes[np.isin(nodes, gone, invert=True)]
        looked_at.append(nodes)
    union = unique_sorted(np.concatenate([np.zeros(0, np.int64), *looked_at])).astype(np.int64)
    packed = index.get(union) if union.size else np.zeros((0, batch.shape[1]), np.uint64)
    # a pair as one code: batch row and position in the union (ascending like the keys)
    width = max(1, int(union.size))
    codes: list[Int64Array] = [np.zeros(0, np.int64)]
    for rule, nodes in zip(rules.rules, looked_at, strict=True):
        if nodes.size:
            positions = np.searchsorted(union, nodes)
            rows, columns = rule.pairs(batch, packed[positions], layout)
            codes.append(rows * width + positions[columns])
    found = unique_sorted(np.concatenate(codes))
    return (found // width).astype(np.int64), found % width, union, packed


def link_against_index(
    linker: ProbabilisticLinker,
    batch: PackedClks,
    index: ClkIndex,
    keys: KeyIndex | None,
    frequencies: TermFrequencies | None,
    exclude: Set[int] = frozenset(),
) -> tuple[CandidatePairs, Int64Array]:
    """``linker.link(batch, records, frequencies)`` where ``records`` are the index's
    records but ``exclude`` in key order, without reading them all: the pairs (right =
    a position in the returned keys) and the keys, ascending, of the records in a pair."""
    rows, positions, union, packed = _candidate_positions(
        batch, index, keys, linker.layout, linker.blocking, exclude
    )
    # the records in a pair (their positions ascending, like their keys)
    paired, columns = unique_inverse(positions)
    columns = columns.reshape(-1).astype(np.int64)
    pairs = linker.link_pairs(batch, packed[paired], rows, columns, frequencies)
    return pairs, union[paired].astype(np.int64, copy=False)
