"""The matcher's in-memory mirror of its linkable records.

:class:`IndexMirror` holds what the service computes on without a database round trip:
the packed CLKs of every linkable record of the linkage space (a :class:`ClkIndex` keyed
by node ID), the popcount histogram that the query plausibility band follows, and, in
probabilistic mode, the term frequencies of the segment values the model weighs by
frequency and an inverted index of the exact blocking keys (:class:`KeyIndex`), from
which a lookup finds its candidates without scanning every record. Everything here follows
the store: records are added when a batch commits and removed when they leave, so the
band, the frequencies and the keys always describe the index as it is (a band frozen at
the first batches refused valid lookups).

Not thread-safe on its own: the service changes it under its writer lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence, Set

import numpy as np

from linkage.arrays import unique_sorted
from linkage.errors import InvalidInputError
from linkage.match import CandidatePairs, ClkIndex, pack_clk_bytes, popcounts
from linkage.probabilistic import (
    BlockingRules,
    ExactRule,
    ProbabilisticLinker,
    SegmentLayout,
    TermFrequencies,
)
from linkage.probabilistic._batch_screen import link_against_index
from linkage.probabilistic._keyindex import KeyIndex
from linkage.security import PopcountBand, band_from_histogram, band_from_range
from linkage.types import Int64Array, PackedClks

__all__ = ["IndexMirror"]

#: Fewest indexed records before the plausibility band follows the index (below it, any
#: popcount but none and all is accepted).
_MIN_BAND_RECORDS = 50


class IndexMirror:
    """Packed CLKs by node ID, their popcount histogram and their term frequencies."""

    def __init__(self, clk_bits: int, band_words: tuple[int, int]) -> None:
        self._clk_bits = clk_bits
        self._band_words = band_words
        self._band_bits = 64 * (band_words[1] - band_words[0])
        self.clear()
        self._layout: SegmentLayout | None = None
        self._frequency_segments: tuple[str, ...] = ()
        self._frequencies: TermFrequencies | None = None
        self._key_rules: tuple[ExactRule, ...] = ()
        self._keys: KeyIndex | None = None

    def clear(self) -> None:
        """Forget every record (before a reload from the store)."""
        self._index = ClkIndex(self._clk_bits)
        self._fill = np.zeros(self._band_bits + 1, dtype=np.int64)
        self._band: PopcountBand | None = None
        layout = getattr(self, "_layout", None)
        if layout is not None and self._frequency_segments:
            self._frequencies = TermFrequencies.empty(layout, self._frequency_segments)
        if layout is not None and self._key_rules:
            self._keys = KeyIndex(layout, self._key_rules)

    # -- contents -------------------------------------------------------------

    @property
    def index(self) -> ClkIndex:
        return self._index

    @property
    def nodes(self) -> frozenset[int]:
        """Node IDs of the records held (built on each call: for checks, not hot paths)."""
        return frozenset(self._index.keys().tolist())

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, node: object) -> bool:
        return node in self._index

    def reserve(self, records: int) -> None:
        """Make room for this many records at once (before a load that knows its size)."""
        self._index.reserve(records)

    def add(self, node_ids: Sequence[int], clks: Sequence[bytes]) -> None:
        """Records join (ones already held are skipped)."""
        if len(node_ids) != len(clks):
            raise InvalidInputError("node IDs and CLKs differ in number")
        held = self._index.holds(np.asarray(node_ids, dtype=np.int64))
        fresh = np.flatnonzero(~held).tolist()
        if not fresh:
            return
        nodes = np.asarray(node_ids, dtype=np.int64)[fresh]
        packed = pack_clk_bytes([clks[i] for i in fresh], self._clk_bits)
        self._index.add(nodes, packed)
        self._fill += np.bincount(self._band_popcounts(packed), minlength=self._fill.shape[0])
        if self._frequencies is not None:
            self._frequencies.add(packed)
        if self._keys is not None:
            self._keys.add(nodes, packed)

    def remove(self, node_ids: Iterable[int]) -> None:
        """Records leave (ones not held are skipped)."""
        asked = unique_sorted(np.fromiter(node_ids, dtype=np.int64))  # each once
        present = asked[self._index.holds(asked)]
        if not present.shape[0]:
            return
        packed = self._index.get(present)
        self._fill -= np.bincount(self._band_popcounts(packed), minlength=self._fill.shape[0])
        if self._frequencies is not None:
            self._frequencies.remove(packed)
        if self._keys is not None:
            self._keys.remove(present)
        self._index.remove(present)

    def packed(self, node_ids: Sequence[int]) -> PackedClks:
        """The packed CLKs of held records, in the order asked."""
        return self._index.get(node_ids)

    def all_packed(self) -> tuple[list[int], PackedClks]:
        """Every held record: sorted node IDs and their packed CLKs."""
        nodes, packed = self._index.items()
        return nodes.tolist(), packed

    def packed_except(self, leaving: set[int]) -> tuple[Int64Array, PackedClks]:
        """Every held record but ``leaving``: node IDs ascending and their packed CLKs."""
        nodes, packed = self._index.items()
        if leaving:
            keep = ~np.isin(nodes, np.fromiter(leaving, dtype=np.int64, count=len(leaving)))
            nodes, packed = nodes[keep], packed[keep]
        return nodes, packed

    # -- plausibility band ------------------------------------------------------

    def _band_popcounts(self, packed: PackedClks) -> np.ndarray:
        start, stop = self._band_words
        return popcounts(np.ascontiguousarray(packed[:, start:stop]))

    def refresh_band(self) -> None:
        """Recompute the plausible query band from the histogram (cheap: one pass over
        ``bits + 1`` counters). Called after every change, so it follows the index."""
        total = int(self._fill.sum())
        if total < _MIN_BAND_RECORDS:
            self._band = None
            return
        self._band = band_from_histogram(self._fill, self._band_bits)

    @property
    def band_words(self) -> tuple[int, int]:
        """The words of a CLK the band checks (the record part of a segmented CLK)."""
        return self._band_words

    def plausibility_band(self) -> PopcountBand:
        if self._band is not None:
            return self._band
        return band_from_range(self._band_bits, 1, self._band_bits - 1)

    # -- term frequencies -------------------------------------------------------

    def track_frequencies(self, layout: SegmentLayout, segments: Sequence[str]) -> None:
        """Count the values of these segments (the model's term-frequency comparisons);
        recounts the whole index when the set of segments changes."""
        wanted = tuple(dict.fromkeys(segments))
        if self._layout == layout and wanted == self._frequency_segments:
            return
        self._layout = layout
        self._frequency_segments = wanted
        _, packed = self.all_packed()
        self._frequencies = TermFrequencies.of(packed, layout, wanted) if wanted else None

    def track_keys(self, layout: SegmentLayout, rules: BlockingRules) -> None:
        """Index the exact rules' keys of every record (re-indexes when the rules change)."""
        wanted = tuple(rule for rule in rules.rules if isinstance(rule, ExactRule))
        if self._layout == layout and wanted == self._key_rules and self._keys is not None:
            return
        self._layout = layout
        self._key_rules = wanted
        nodes, packed = self.all_packed()
        self._keys = KeyIndex(layout, wanted) if wanted else None
        if self._keys is not None and nodes:
            self._keys.add(np.asarray(nodes, dtype=np.int64), packed)
            self._keys.merge()  # sorted now, not by the next request

    def settle(self) -> None:
        """Sort what the key index was given since its last change (after a load: the
        first lookup or batch would otherwise wait for it)."""
        if self._keys is not None:
            self._keys.merge()

    def link_batch(
        self, linker: ProbabilisticLinker, packed: PackedClks, leaving: Set[int]
    ) -> tuple[CandidatePairs, Int64Array] | None:
        """``linker.link`` of a batch against the held records but ``leaving``, read in
        place (:func:`link_against_index`): the pairs, their right side a position in the
        node IDs returned with them. None when the key index does not hold the linker's
        exact rules (then join the whole index)."""
        exact = tuple(rule for rule in linker.blocking.rules if isinstance(rule, ExactRule))
        layout = linker.layout
        if exact and (self._layout != layout or exact != self._key_rules or self._keys is None):
            return None
        keys, frequencies = self._keys, self._frequencies
        return link_against_index(linker, packed, self._index, keys, frequencies, leaving)

    def key_candidates(self, query: PackedClks) -> list[int]:
        """Held records sharing an exact blocking key with the query, by node ID."""
        if self._keys is None:
            return []
        found = self._keys.candidates(query)
        held: list[int] = found[self._index.holds(found)].tolist()
        return held

    @property
    def frequencies(self) -> TermFrequencies | None:
        """The term frequencies of the held records, or None when none are tracked."""
        return self._frequencies
