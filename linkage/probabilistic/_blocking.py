"""Blocking for segmented records: a union of rules, deduplicated, pair by pair deterministic.

Each rule decides for one pair of records, from those two records alone, whether they are
candidates; the candidate set is the union over the rules. So a pair is a candidate or not
whatever else is in the batch, and incremental linkage (new records against the index,
then among themselves) finds exactly the pairs a rebuild finds.

* :class:`LshRule`: Hamming-LSH bit sampling (:class:`linkage.match.HammingLsh`) over the
  words of one or more parts of the record (typically the record-level CLK): candidates
  share every sampled bit of at least one band.
* :class:`ExactRule`: the listed field segments are all present and bit-for-bit identical
  (identical encodings of identical values: the date of birth, the phone, the names);
  with ``unordered`` the segments' values compare as a multiset, so a given name and
  surname written the other way round still block together (segments of one key group,
  the layout's ``swaps``). A key segment (the layout's ``key_sets``: derived keys such as
  a name's nicknames) blocks on *any* shared key: each record is filed under each of its
  keys.

Results are ``(left, right)`` index arrays sorted by ``left`` then ``right``; within one set
``left < right``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np

from linkage.arrays import SPREAD, row_groups, row_hashes, unique_sorted
from linkage.errors import ConfigError, InvalidInputError, Problem, ResourceExhaustedError
from linkage.layout import SegmentLayout
from linkage.match import HammingLsh, lsh_candidates, lsh_self_candidates
from linkage.match._blocking import merge_unique
from linkage.match._kernel_primitives import jit_kernel
from linkage.types import Int64Array, PackedClks

__all__ = ["BlockingRule", "BlockingRules", "ExactRule", "LshRule"]

_DEFAULT_MAX_CANDIDATES = 100_000_000


def _words(layout: SegmentLayout, parts: tuple[str, ...]) -> Int64Array:
    ranges = [layout.part(name) for name in parts]
    return np.concatenate(
        [np.arange(r.start_word, r.stop_word, dtype=np.int64) for r in ranges]
    ).astype(np.int64)


def _check(packed: PackedClks, layout: SegmentLayout, name: str) -> PackedClks:
    array = np.ascontiguousarray(packed)
    if array.dtype != np.uint64 or array.ndim != 2 or array.shape[1] != layout.total_words:
        raise InvalidInputError(f"{name} must be uint64[n, {layout.total_words}] packed records")
    return array


@dataclass(frozen=True, slots=True)
class LshRule:
    """Hamming-LSH over the concatenated words of ``parts`` (segment or record names)."""

    parts: tuple[str, ...]
    lsh: HammingLsh

    def __post_init__(self) -> None:
        if not self.parts:
            raise ConfigError("invalid blocking rule", problems=[Problem("parts", "empty")])

    def pairs(self, left: PackedClks, right: PackedClks, layout: SegmentLayout) -> Int64Array:
        # the bands sample the parts' words in place: no copy of the (large) index side
        a, b = lsh_candidates(left, right, self.lsh, words=_words(layout, self.parts))
        return np.stack([a, b])

    def pairs_within(self, packed: PackedClks, layout: SegmentLayout) -> Int64Array:
        words = _words(layout, self.parts)
        a, b = lsh_self_candidates(np.ascontiguousarray(packed[:, words]), self.lsh)
        return np.stack([a, b])


@dataclass(frozen=True, slots=True)
class ExactRule:
    """Candidates when every listed field segment is present and identical on both sides
    (``unordered``: the segments' values are equal as a multiset)."""

    segments: tuple[str, ...]
    max_candidates: int = _DEFAULT_MAX_CANDIDATES
    unordered: bool = False

    def __post_init__(self) -> None:
        if not self.segments:
            raise ConfigError("invalid blocking rule", problems=[Problem("segments", "empty")])

    def _entries(self, packed: PackedClks, layout: SegmentLayout) -> tuple[PackedClks, Int64Array]:
        """The blocking values of the records that have every segment, and each value's
        record: one value per record, or one per key for a rule on a key segment."""
        values, present = self._keys(packed, layout)
        # a one-word key segment holds one key: "any shared key" is "identical"
        keyed = [
            name
            for name in self.segments
            if name in layout.key_sets and layout.part(name).words > 1
        ]
        if not keyed:
            rows = np.nonzero(present)[0].astype(np.int64)
            return np.ascontiguousarray(values[rows]), rows
        if len(keyed) > 1 or self.unordered:
            raise ConfigError(
                "invalid blocking rule",
                problems=[
                    Problem("segments", "at most one key segment of several keys, not unordered")
                ],
            )
        part = layout.part(keyed[0])
        others = [name for name in self.segments if name != keyed[0]]
        base = (
            np.ascontiguousarray(packed[:, _words(layout, tuple(others))])
            if others
            else np.zeros((packed.shape[0], 0), dtype=np.uint64)
        )
        chunks: list[PackedClks] = []
        owners: list[Int64Array] = []
        for word in range(part.start_word, part.stop_word):
            rows = np.nonzero(present & (packed[:, word] != 0))[0].astype(np.int64)
            chunks.append(np.concatenate([base[rows], packed[rows, word : word + 1]], axis=1))
            owners.append(rows)
        return np.ascontiguousarray(np.concatenate(chunks)), np.concatenate(owners)

    def _keys(self, packed: PackedClks, layout: SegmentLayout) -> tuple[PackedClks, np.ndarray]:
        present = np.ones(packed.shape[0], dtype=bool)
        for name in self.segments:
            part = layout.part(name)
            present &= packed[:, part.start_word : part.stop_word].any(axis=1)
        if not self.unordered:
            words = _words(layout, self.segments)
            return np.ascontiguousarray(packed[:, words]), present
        parts = [layout.part(name) for name in self.segments]
        if len({part.words for part in parts}) != 1:
            raise ConfigError(
                "invalid blocking rule",
                problems=[Problem("segments", "unordered segments must have equal sizes")],
            )
        # each record's segment values in a canonical (sorted) order
        stacked = np.stack([packed[:, p.start_word : p.stop_word] for p in parts], axis=1)
        n, k, width = stacked.shape
        values = np.take_along_axis(stacked, _canonical_order(stacked)[:, :, None], axis=1)
        return np.ascontiguousarray(values.reshape(n, k * width)), present

    def pairs(self, left: PackedClks, right: PackedClks, layout: SegmentLayout) -> Int64Array:
        """Every (left, right) pair of records with equal values (each entry pair once).

        Built for a small batch against a large index: only the smaller side's entries are
        sorted (by a 64-bit hash of their values); the larger side's hashes are looked up in
        them (after a bitmap of the smaller side's hashes has turned most away), and the
        pairs whose hashes agree are checked word for word: the large side costs one hash and
        one bitmap probe per entry, not a sort of both sides."""
        left_values, li = self._entries(left, layout)
        right_values, ri = self._entries(right, layout)
        small_is_left = li.shape[0] <= ri.shape[0]
        small, large = (left_values, right_values) if small_is_left else (right_values, left_values)
        small_hashes = _row_hashes(small)
        order = np.argsort(small_hashes, kind="stable")
        sorted_hashes = small_hashes[order]
        large_hashes = _row_hashes(large)
        # a bitmap of the small side's hashes turns most large entries away before the search
        bits = int(min(26, max(10, np.ceil(np.log2(64 * max(1, small_hashes.shape[0]))))))
        shift = np.uint64(64 - bits)
        bitmap = np.zeros(1 << bits, dtype=np.bool_)
        bitmap[(small_hashes * _SPREAD) >> shift] = True
        screened = np.flatnonzero(bitmap[(large_hashes * _SPREAD) >> shift])
        needles = large_hashes[screened]
        lo = np.searchsorted(sorted_hashes, needles, side="left")
        counts = np.searchsorted(sorted_hashes, needles, side="right") - lo
        found = np.flatnonzero(counts)
        lo, counts, hit = lo[found], counts[found], screened[found]
        if int(counts.sum()) > self.max_candidates:
            # equal hashes bound equal values from above: the exact count decides
            inverse = _row_groups(np.concatenate([left_values, right_values]))
            left_group, right_group = inverse[: li.shape[0]], inverse[li.shape[0] :]
            return self._cross(li, left_group, ri, right_group, within=False)
        start = np.cumsum(counts) - counts
        positions = np.repeat(lo - start, counts) + np.arange(int(counts.sum()))
        small_entry = order[positions]
        large_entry = np.repeat(hit, counts)
        same = (small[small_entry] == large[large_entry]).all(axis=1)  # hash collisions out
        small_entry, large_entry = small_entry[same], large_entry[same]
        if small_is_left:
            a, b = li[small_entry], ri[large_entry]
        else:
            a, b = li[large_entry], ri[small_entry]
        return np.stack([a.astype(np.int64), b.astype(np.int64)])

    def pairs_within(self, packed: PackedClks, layout: SegmentLayout) -> Int64Array:
        values, idx = self._entries(packed, layout)
        inverse = _row_groups(values)
        return self._cross(idx, inverse, idx, inverse, within=True)

    def _cross(
        self,
        li: Int64Array,
        left_group: Int64Array,
        ri: Int64Array,
        right_group: Int64Array,
        *,
        within: bool,
    ) -> Int64Array:
        groups = int(max(left_group.max(initial=-1), right_group.max(initial=-1))) + 1
        if groups == 0:
            return np.empty((2, 0), dtype=np.int64)
        left_count = np.bincount(left_group, minlength=groups).astype(np.int64)
        left_order = _group_order(left_group.astype(np.int64), left_count)
        if right_group is left_group:  # within one set: one grouping
            right_count, right_order = left_count, left_order
        else:
            right_count = np.bincount(right_group, minlength=groups).astype(np.int64)
            right_order = _group_order(right_group.astype(np.int64), right_count)
        left_start = np.concatenate([[0], np.cumsum(left_count)[:-1]])
        right_start = np.concatenate([[0], np.cumsum(right_count)[:-1]])
        per_group = left_count * right_count
        total = int(per_group.sum())
        if total > self.max_candidates:
            raise ResourceExhaustedError(
                f"exact blocking on {'+'.join(self.segments)} would generate {total} candidate"
                f" pairs (limit {self.max_candidates})"
            )
        out = np.empty((2, total), dtype=np.int64)
        found = _group_pairs_kernel(
            np.ascontiguousarray(li, dtype=np.int64),
            left_order.astype(np.int64),
            left_start.astype(np.int64),
            left_count.astype(np.int64),
            np.ascontiguousarray(ri, dtype=np.int64),
            right_order.astype(np.int64),
            right_start.astype(np.int64),
            right_count.astype(np.int64),
            within,
            out,
        )
        return np.ascontiguousarray(out[:, :found])


def _group_order(group: Int64Array, counts: Int64Array) -> Int64Array:
    """``np.argsort(group, kind="stable")`` of group ids ``0 .. len(counts) - 1`` with
    ``counts`` entries each, by one counting pass (a stable sort of int64 is a merge sort)."""
    order = np.empty(group.shape[0], dtype=np.int64)
    _group_order_kernel(group, (np.cumsum(counts) - counts).astype(np.int64), order)
    return order


@jit_kernel()
def _group_order_kernel(group: Any, start: Any, order: Any) -> None:  # pragma: no cover
    """``order``: the entries group by group, each group's in their order."""
    for entry in range(group.shape[0]):
        order[start[group[entry]]] = entry
        start[group[entry]] += 1


@jit_kernel()
def _group_pairs_kernel(
    li: Any,
    left_order: Any,
    left_start: Any,
    left_count: Any,
    ri: Any,
    right_order: Any,
    right_start: Any,
    right_count: Any,
    within: bool,
    out: Any,
) -> int:  # pragma: no cover - compiled
    """Every (left entry, right entry) pair of each group, group by group, left entry by
    left entry, into ``out[0]`` (``li`` of the left entry) and ``out[1]``; with ``within``
    only the pairs whose left record is below the right one. Returns how many."""
    found = 0
    for group in range(left_count.shape[0]):
        for x in range(left_start[group], left_start[group] + left_count[group]):
            a = li[left_order[x]]
            for y in range(right_start[group], right_start[group] + right_count[group]):
                b = ri[right_order[y]]
                if within and a >= b:
                    continue
                out[0, found] = a
                out[1, found] = b
                found += 1
    return found


#: Fibonacci hashing multiplier (2^64 / golden ratio).
_SPREAD = SPREAD


def _row_hashes(rows: PackedClks) -> np.ndarray:
    """A 64-bit hash of each row's words (equal rows, equal hashes):
    :func:`linkage.arrays.row_hashes`."""
    return row_hashes(rows)


def _row_groups(rows: PackedClks) -> Int64Array:
    """:func:`linkage.arrays.row_groups` with this module's :func:`_row_hashes`."""
    return row_groups(rows, _row_hashes(rows))


def _canonical_order(stacked: PackedClks) -> Int64Array:
    """Per record, the order that sorts its ``k`` segment values (``[n, k, words]``)
    lexicographically: stable sorts from the last word to the first."""
    n, k, width = stacked.shape
    order = np.broadcast_to(np.arange(k, dtype=np.int64), (n, k)).copy()
    for w in range(width - 1, -1, -1):
        keys = np.take_along_axis(stacked[:, :, w], order, axis=1)
        order = np.take_along_axis(order, np.argsort(keys, axis=1, kind="stable"), axis=1)
    return order


BlockingRule: TypeAlias = LshRule | ExactRule


@dataclass(frozen=True, slots=True)
class BlockingRules:
    """The union of blocking rules (a pair is a candidate when any rule makes it one)."""

    rules: tuple[BlockingRule, ...]

    def __post_init__(self) -> None:
        if not self.rules:
            raise ConfigError("invalid blocking", problems=[Problem("rules", "need at least one")])

    def check(self, layout: SegmentLayout) -> None:
        """Raise :class:`ConfigError` if a rule names a part the layout lacks."""
        for index, rule in enumerate(self.rules):
            names = rule.parts if isinstance(rule, LshRule) else rule.segments
            for name in names:
                try:
                    layout.part(name)
                except ConfigError:
                    raise ConfigError(
                        "invalid blocking",
                        problems=[Problem(f"rules[{index}]", f"names no part {name!r}")],
                    ) from None

    def candidate_pairs(
        self, left: PackedClks, right: PackedClks, layout: SegmentLayout
    ) -> tuple[Int64Array, Int64Array]:
        """Candidate pairs between two sets, deduplicated, sorted by left then right."""
        self.check(layout)
        a = _check(left, layout, "left")
        b = _check(right, layout, "right")
        if a.shape[0] == 0 or b.shape[0] == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        found = [rule.pairs(a, b, layout) for rule in self.rules]
        return _union(found, b.shape[0])

    def candidate_pairs_within(
        self, packed: PackedClks, layout: SegmentLayout
    ) -> tuple[Int64Array, Int64Array]:
        """Candidate pairs ``i < j`` within one set, deduplicated, sorted by ``i`` then ``j``."""
        codes = self.candidate_codes_within(packed, layout)
        width = max(int(packed.shape[0]), 1)
        return (codes // width).astype(np.int64), (codes % width).astype(np.int64)

    def candidate_codes_within(self, packed: PackedClks, layout: SegmentLayout) -> Int64Array:
        """:meth:`candidate_pairs_within` as codes ``i * n + j`` (``n`` records), ascending.

        Each rule's pairs are merged into the union as soon as they are made, so the peak
        is the union and one rule's pairs (8 bytes a pair), not every rule's pairs at once
        as index pairs: what a rebuild of ten million records needs."""
        self.check(layout)
        a = _check(packed, layout, "packed")
        n = a.shape[0]
        codes = np.empty(0, dtype=np.int64)
        if n < 2:
            return codes
        for rule in self.rules:
            pairs = rule.pairs_within(a, layout)
            found = unique_sorted(pairs[0] * n + pairs[1])
            del pairs
            codes = merge_unique(codes, found)
        return codes


def _union(found: list[Int64Array], width: int) -> tuple[Int64Array, Int64Array]:
    keys = unique_sorted(np.concatenate([pair[0] * width + pair[1] for pair in found]))
    return (keys // width).astype(np.int64), (keys % width).astype(np.int64)
