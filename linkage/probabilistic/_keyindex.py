"""An inverted index of exact blocking keys, for lookups that never scan the index.

A responder's lookup must find the records its query could match among a million in a few
milliseconds. Scanning every packed record for Dice reads the whole index (about 330 MB
at a million records: memory-bound, 15-20 ms) and still misses records whose whole-CLK
Dice is unremarkable (a nickname, a moved address, a typo in the date of birth).
:class:`KeyIndex` keeps, for each exact blocking rule (:class:`ExactRule`: the same rules
that find candidate pairs for linkage, derived keys included), the 64-bit digest of each
record's values sorted beside its node ID; a query computes its own digests and finds
every record sharing one by binary search: microseconds per rule, and exactly the
records the linkage rules would pair with the query.

Records are added in batches (kept unsorted until the next merge: a lookup's, a batch's
screen (:meth:`KeyIndex.sharing`), or :meth:`KeyIndex.merge` after a load; a merge
inserts the new entries, sorted, into the sorted arrays) and removed lazily: a removed
node is dropped at the next merge, and callers check membership of what a lookup returns.
Thread-safe: lookups read it while a batch changes it. A digest held by more than
``max_block`` records (a placeholder value) gives a lookup no candidates: agreeing on it
says nothing (a batch's screen takes them all, as the linkage rules do).

Pure: arrays in, arrays out.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import numpy as np

from linkage.arrays import unique_sorted
from linkage.layout import SegmentLayout
from linkage.probabilistic._blocking import _SPREAD, ExactRule, _row_hashes, _words
from linkage.types import Int64Array, PackedClks

__all__ = ["KeyIndex"]

#: Records sharing one key beyond which the key is treated as a placeholder.
MAX_BLOCK_DEFAULT = 2000


_MASK = (1 << 64) - 1
_SPREAD_INT = int(_SPREAD)
_SEED = 0x243F6A8885A308D3


def _hash_words(words: Sequence[int]) -> int:
    """:func:`_row_hashes` of one row, in Python integers (equal results)."""
    digest = _SEED
    for word in words:
        digest ^= word
        digest = (digest * _SPREAD_INT) & _MASK
        digest ^= digest >> 31
    return digest


class _RuleIndex:
    def __init__(self) -> None:
        self.digests = np.zeros(0, dtype=np.uint64)
        self.nodes = np.zeros(0, dtype=np.int64)
        self.pending_digests: list[np.ndarray] = []
        self.pending_nodes: list[Int64Array] = []

    def merge(self, removed: set[int]) -> None:
        """Drop removed nodes and file the pending entries in place: the pending ones are
        sorted (a batch's worth) and inserted where they belong, so a merge costs a pass over
        the index, not a sort of it (entries of one digest are not kept in node order)."""
        if not self.pending_digests and not removed:
            return
        digests, nodes = self.digests, self.nodes
        new_digests = np.concatenate([np.zeros(0, np.uint64), *self.pending_digests])
        new_nodes = np.concatenate([np.zeros(0, np.int64), *self.pending_nodes])
        if removed:
            gone = np.fromiter(removed, dtype=np.int64, count=len(removed))
            keep = np.isin(nodes, gone, invert=True)
            digests, nodes = digests[keep], nodes[keep]
            keep_new = np.isin(new_nodes, gone, invert=True)
            new_digests, new_nodes = new_digests[keep_new], new_nodes[keep_new]
        if new_digests.size:
            order = np.lexsort((new_nodes, new_digests))
            new_digests, new_nodes = new_digests[order], new_nodes[order]
            at = np.searchsorted(digests, new_digests, side="right")
            digests = np.insert(digests, at, new_digests)
            nodes = np.insert(nodes, at, new_nodes)
        self.digests = np.ascontiguousarray(digests)
        self.nodes = np.ascontiguousarray(nodes)
        self.pending_digests.clear()
        self.pending_nodes.clear()


class KeyIndex:
    """Node IDs by the exact blocking keys of their records (module docstring)."""

    def __init__(
        self,
        layout: SegmentLayout,
        rules: Sequence[ExactRule],
        *,
        max_block: int = MAX_BLOCK_DEFAULT,
    ) -> None:
        self.layout = layout
        self.rules = tuple(rules)
        self.max_block = max_block
        # lookups read (and merge) without the service's writer lock while a batch adds
        # and screens under it: every change and every read of the sorted arrays holds this
        self._lock = threading.RLock()
        self._indexes = [_RuleIndex() for _ in self.rules]
        self._removed: set[int] = set()
        self._size = 0
        # per rule, for one query row without numpy's per-call cost: the words of its
        # plain segments and, for a rule on a multi-word key segment, that segment's words
        self._plans = [self._query_plan(rule) for rule in self.rules]

    def _query_plan(self, rule: ExactRule) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
        keyed = [
            name
            for name in rule.segments
            if name in self.layout.key_sets and self.layout.part(name).words > 1
        ]
        if rule.unordered or len(keyed) > 1:
            return (), (), False
        others = tuple(name for name in rule.segments if name not in keyed)
        base = tuple(int(w) for w in _words(self.layout, others)) if others else ()
        key_words: tuple[int, ...] = ()
        if keyed:
            part = self.layout.part(keyed[0])
            key_words = tuple(range(part.start_word, part.stop_word))
        return base, key_words, True

    def _query_digests(self, position: int, row: list[int]) -> list[int] | None:
        """The digests of one query row for rule ``position``, as :func:`_row_hashes`
        computes them (None: the rule needs the general path)."""
        base, key_words, simple = self._plans[position]
        if not simple:
            return None
        rule = self.rules[position]
        for name in rule.segments:
            part = self.layout.part(name)
            if not any(row[w] for w in range(part.start_word, part.stop_word)):
                return []
        rows = (
            [[row[w] for w in base]]
            if not key_words
            else [[row[w] for w in base] + [row[k]] for k in key_words if row[k]]
        )
        return [_hash_words(words) for words in rows]

    def __len__(self) -> int:
        """Entries held (a record counts once per rule and key)."""
        return self._size

    def _digests(self, rule: ExactRule, packed: PackedClks) -> tuple[np.ndarray, Int64Array]:
        values, owners = rule._entries(packed, self.layout)
        if values.shape[0] == 0:
            return np.zeros(0, dtype=np.uint64), owners
        return _row_hashes(values), owners

    def add(self, node_ids: Sequence[int] | Int64Array, packed: PackedClks) -> None:
        """Index records (node IDs aligned with the packed rows)."""
        nodes = np.asarray(node_ids, dtype=np.int64)
        if nodes.shape[0] == 0:
            return
        computed = [self._digests(rule, packed) for rule in self.rules]
        with self._lock:
            if self._removed.intersection(nodes.tolist()):
                # a node removed and added again: drop its old keys before indexing the new
                self.merge()
            for index, (digests, owners) in zip(self._indexes, computed, strict=True):
                index.pending_digests.append(digests)
                index.pending_nodes.append(nodes[owners])
                self._size += int(digests.shape[0])

    def remove(self, node_ids: Iterable[int]) -> None:
        """Forget records (dropped at the next merge)."""
        gone = [int(n) for n in node_ids]
        with self._lock:
            self._removed.update(gone)

    def merge(self) -> None:
        """File the records added since the last merge and drop the removed ones (the next
        lookup does it otherwise: call it after loading many records, so that no request
        waits for the sort)."""
        with self._lock:
            for index in self._indexes:
                index.merge(self._removed)
            self._size = sum(int(index.digests.shape[0]) for index in self._indexes)
            self._removed.clear()

    def _sorted(self) -> list[tuple[np.ndarray, Int64Array]]:
        """Each rule's digests and nodes as they are after a merge (a consistent view:
        a merge replaces the arrays, it never changes them in place)."""
        with self._lock:
            if any(index.pending_digests for index in self._indexes) or self._removed:
                self.merge()
            return [(index.digests, index.nodes) for index in self._indexes]

    def sharing(self, records: PackedClks) -> list[Int64Array]:
        """Per rule, node IDs (ascending) of every indexed record whose digest equals a
        digest of one of ``records``: every record the rule pairs with one of them, with no
        ``max_block`` cut (a batch's linkage pairs a record with a whole block, however
        large, as the rule itself does); a digest collision adds one the rule does not
        pair. Each distinct digest is looked up once, so the work is bounded by the index's
        records however many of ``records`` share a value."""
        found: list[Int64Array] = []
        for rule, (index_digests, index_nodes) in zip(self.rules, self._sorted(), strict=True):
            digests = unique_sorted(self._digests(rule, records)[0])
            low = np.searchsorted(index_digests, digests, side="left")
            counts = np.searchsorted(index_digests, digests, side="right") - low
            total = int(counts.sum())
            start = np.cumsum(counts) - counts
            positions = np.repeat(low - start, counts) + np.arange(total)
            found.append(unique_sorted(index_nodes[positions]).astype(np.int64, copy=False))
        return found

    def candidates(self, query: PackedClks) -> Int64Array:
        """Node IDs of the records sharing any exact key with any query row, sorted,
        without repeats (removed records may remain until the next merge: callers check
        membership)."""
        indexes = self._sorted()
        # the same steps whether or not a key is found (an empty slice where none is, and
        # always the final union): a lookup's time must not tell that the index holds
        # someone sharing a key with the query
        found: list[Int64Array] = [nodes[:0] for _, nodes in indexes[:1]]
        single = [int(w) for w in query[0].tolist()] if query.shape[0] == 1 else None
        for position, (rule, (index_digests, index_nodes)) in enumerate(
            zip(self.rules, indexes, strict=True)
        ):
            if index_digests.shape[0] == 0:
                continue
            fast = None if single is None else self._query_digests(position, single)
            if fast is not None:
                digests = np.array(fast, dtype=np.uint64)
            else:
                digests, _ = self._digests(rule, query)
            if digests.shape[0] == 0:
                continue
            low = np.searchsorted(index_digests, digests, side="left")
            high = np.searchsorted(index_digests, digests, side="right")
            for lo, hi in zip(low.tolist(), high.tolist(), strict=True):
                block = index_nodes[lo:hi] if 0 < hi - lo <= self.max_block else index_nodes[:0]
                found.append(block)
        if not found:
            return np.zeros(0, dtype=np.int64)
        return unique_sorted(np.concatenate(found)).astype(np.int64, copy=False)
