"""How often each exact segment value occurs: the term frequencies of the model's
term-frequency adjustment.

Identical field values give identical segments (whatever the hardening: diffusion is a
keyed function of the filter), so the matcher can count each segment value without
learning what it is. :class:`ValueCounts` holds one segment's counts, keyed by a 64-bit
digest of the segment's words; :class:`TermFrequencies` one table per segment, updated as
records join and leave the index. A pair that agrees exactly on a value held by ``c`` of
``N`` records is then scored with ``u = c / N`` (Splink's term-frequency adjustment)
instead of the level's mean u: "David Miller" counts for less than a rare name, a shelter's
address shared by hundreds of clients for almost nothing.

What the counts tell the operator: nothing it cannot already compute from the segments it
stores (the frequency attack of benchmarks/attacks/segments_attack.py starts from exactly
these counts), see docs/hardening.md.

Pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import prange

from linkage.arrays import unique_counts, unique_inverse
from linkage.layout import SegmentLayout
from linkage.match._kernel_primitives import function_variant, jit_kernel
from linkage.types import Float64Array, Int64Array, PackedClks

__all__ = ["TermFrequencies", "ValueCounts", "segment_value_digests"]

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)
_MIX = np.uint64(0xBF58476D1CE4E5B9)


def segment_value_digests(packed: PackedClks, layout: SegmentLayout, segment: str) -> np.ndarray:
    """``uint64[n]``: a digest of each record's value of ``segment`` (0 where it is missing;
    a present value never digests to 0). Equal segments give equal digests; two different
    ones collide with probability about 2**-64."""
    part = layout.part(segment)
    array = np.asarray(packed, dtype=np.uint64)
    digest = np.empty(array.shape[0], dtype=np.uint64)
    if array.shape[0]:
        kernel = _digests_serial if array.shape[0] < _SERIAL_BELOW else _digests_parallel
        kernel(array, part.start_word, part.stop_word, digest)
    return digest


#: Below this many records the serial digest kernel runs (a lookup digests one record).
_SERIAL_BELOW = 4096


def _digests_impl(packed: Any, start: int, stop: int, out: Any) -> None:  # pragma: no cover
    """``out[i]``: the digest of words ``start .. stop`` of record ``i`` (a multiply-xorshift
    chain over the words; 1 for a present value that chains to 0, 0 for a missing one)."""
    for i in prange(packed.shape[0]):
        digest = np.uint64(0)
        present = False
        for w in range(start, stop):
            word = packed[i, w]
            present |= word != 0
            digest = (digest ^ word) * _MULTIPLIER
            digest ^= digest >> np.uint64(31)
            digest *= _MIX
        if not present:
            digest = np.uint64(0)
        elif digest == 0:
            digest = np.uint64(1)
        out[i] = digest


_digests_parallel = jit_kernel(parallel=True)(function_variant(_digests_impl, "_digests_parallel"))
_digests_serial = jit_kernel()(function_variant(_digests_impl, "_digests_serial"))


@dataclass(slots=True)
class ValueCounts:
    """Counts of one segment's present values (digests sorted, counts aligned)."""

    digests: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    counts: Int64Array = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    total: int = 0

    def add(self, digests: np.ndarray, sign: int = 1) -> None:
        """Count (``sign=1``) or uncount (``-1``) values; 0 (missing) is ignored."""
        values = np.asarray(digests, dtype=np.uint64)
        values = values[values != 0]
        if values.size == 0:
            return
        unique, counts = unique_counts(values)
        merged = np.concatenate([self.digests, unique])
        weights = np.concatenate([self.counts, sign * counts.astype(np.int64)])
        keys, inverse = unique_inverse(merged)
        totals = np.bincount(inverse.reshape(-1), weights=weights, minlength=keys.shape[0])
        totals = np.rint(totals).astype(np.int64)
        keep = totals > 0
        self.digests = np.ascontiguousarray(keys[keep])
        self.counts = np.ascontiguousarray(totals[keep])
        self.total = max(0, self.total + sign * int(values.size))

    def counts_of(self, digests: np.ndarray) -> Int64Array:
        """How many records hold each value (0 for unseen values and for 0)."""
        values = np.asarray(digests, dtype=np.uint64)
        if self.digests.size == 0:
            return np.zeros(values.shape[0], dtype=np.int64)
        at = np.searchsorted(self.digests, values)
        at = np.minimum(at, self.digests.size - 1)
        found = (self.digests[at] == values) & (values != 0)
        return np.where(found, self.counts[at], 0).astype(np.int64)


@dataclass(slots=True)
class TermFrequencies:
    """Value counts of several segments of a set of records (the matcher's index)."""

    layout: SegmentLayout
    tables: dict[str, ValueCounts]

    @classmethod
    def empty(cls, layout: SegmentLayout, segments: Iterable[str]) -> TermFrequencies:
        return cls(layout, {name: ValueCounts() for name in dict.fromkeys(segments)})

    @classmethod
    def of(
        cls, packed: PackedClks, layout: SegmentLayout, segments: Iterable[str]
    ) -> TermFrequencies:
        """The counts over ``packed``."""
        out = cls.empty(layout, segments)
        out.add(packed)
        return out

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.tables)

    def add(self, packed: PackedClks) -> None:
        """Records join the set."""
        for name, table in self.tables.items():
            table.add(segment_value_digests(packed, self.layout, name), 1)

    def remove(self, packed: PackedClks) -> None:
        """Records leave the set."""
        for name, table in self.tables.items():
            table.add(segment_value_digests(packed, self.layout, name), -1)

    def u_of(self, packed: PackedClks, segment: str) -> Float64Array:
        """``float64[n]``: the share of the set's records holding each record's value of
        ``segment`` (at least one record: the value itself); NaN where the segment is
        missing, not counted, or the set holds none."""
        table = self.tables.get(segment)
        digests = segment_value_digests(packed, self.layout, segment)
        out = np.full(digests.shape[0], np.nan, dtype=np.float64)
        if table is None or table.total <= 0:
            return out
        counts = np.maximum(table.counts_of(digests), 1).astype(np.float64)
        present = digests != 0
        out[present] = counts[present] / float(table.total)
        return out

    def snapshot(self) -> Mapping[str, tuple[int, int]]:
        """``{segment: (distinct values, records counted)}``, for status reports."""
        return {name: (int(t.digests.size), t.total) for name, t in self.tables.items()}
