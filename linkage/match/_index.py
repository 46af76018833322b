"""A warm in-memory CLK index for responder lookups: a few queries against N records.

Records live in the kernels' transposed layout (``[group, word, lane]``), with their
popcounts, a per-group minimum popcount (a lower bound that lets whole groups be skipped),
a liveness mask and the caller's integer keys. Appends go to the end with amortised
capacity growth (by half, or to a size reserved ahead, so a large index does not hold a
mostly empty copy of itself); removals clear a liveness bit (a tombstone) and the index compacts
itself when more than half of its slots are dead. A search splits the groups into slabs,
scans them on all cores and merges the per-slab best-``k`` lists.

A search returns what anonlink's ``find_candidate_pairs([queries, records], ...)`` would
pair with each query (the query is the left record), best ``k`` first: score descending,
then key ascending.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from linkage.arrays import unique_sorted
from linkage.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from linkage.match import _kernels
from linkage.match._dice import dice_rule
from linkage.match._join import kernel_launch, work_queue
from linkage.match._kernels import LANES, ROWS
from linkage.match._layout import nibble_split, padded_words
from linkage.match._packing import check_packed, popcounts
from linkage.match._screen import BandHashPlan, band_screen
from linkage.types import Float64Array, Int64Array, PackedClks

__all__ = ["ClkIndex", "LookupHits"]

#: Groups per slab at least (a slab is the unit of parallel work in a search).
_MIN_SLAB_GROUPS = 256
#: Keys beyond the count held for which the slot map stays a table indexed by key.
_DENSE_SLACK = 1 << 20
#: Most results a search may ask for per query.
MAX_K = 10_000


@dataclass(frozen=True, slots=True, eq=False)
class LookupHits:
    """The best matches of one query: ``scores`` descending, ties by ``keys`` ascending."""

    scores: Float64Array
    keys: Int64Array

    def __post_init__(self) -> None:
        scores = np.array(self.scores, dtype=np.float64)
        keys = np.array(self.keys, dtype=np.int64)
        if scores.ndim != 1 or scores.shape != keys.shape:
            raise InvalidInputError("scores and keys must be one-dimensional and of equal length")
        scores.setflags(write=False)
        keys.setflags(write=False)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "keys", keys)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def as_tuples(self) -> list[tuple[float, int]]:
        return list(zip(self.scores.tolist(), self.keys.tolist(), strict=True))


class _SlotMap:
    """The slot of each live key: a table indexed by the key while the keys are small
    non-negative integers (node IDs are: 8 bytes a key, where a dictionary of Python
    integers takes about 100), a dictionary once one is not (negative, or beyond four times
    the count held plus ``_DENSE_SLACK``: node IDs are never reused, so an index whose
    records were all replaced a few times still has keys up to a few times its size).
    Not thread-safe: the index locks around it."""

    def __init__(self) -> None:
        self._table: Int64Array = np.full(0, -1, dtype=np.int64)
        self._dict: dict[int, int] | None = None
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: int) -> bool:
        if self._dict is not None:
            return key in self._dict
        return 0 <= key < self._table.shape[0] and bool(self._table[key] >= 0)

    def slots_of(self, keys: Int64Array) -> Int64Array:
        """Each key's slot, ``-1`` for a key not held."""
        if self._dict is not None:
            table = self._dict
            return np.array([table.get(key, -1) for key in keys.tolist()], dtype=np.int64)
        inside = (keys >= 0) & (keys < self._table.shape[0])
        slots = np.full(keys.shape[0], -1, dtype=np.int64)
        slots[inside] = self._table[keys[inside]]
        return slots

    def assign(self, keys: Int64Array, slots: Int64Array) -> None:
        """Hold ``keys`` (distinct, none held) at ``slots``."""
        if keys.shape[0] == 0:
            return
        if self._dict is None:
            low, high = int(keys.min()), int(keys.max())
            if low < 0 or high >= 4 * (self._count + keys.shape[0]) + _DENSE_SLACK:
                held = np.flatnonzero(self._table >= 0)
                self._dict = dict(zip(held.tolist(), self._table[held].tolist(), strict=True))
                self._table = np.full(0, -1, dtype=np.int64)
            else:
                if high >= self._table.shape[0]:
                    grown = np.full(
                        max(high + 1, self._table.shape[0] * 3 // 2), -1, dtype=np.int64
                    )
                    grown[: self._table.shape[0]] = self._table
                    self._table = grown
                self._table[keys] = slots
        if self._dict is not None:
            self._dict.update(zip(keys.tolist(), slots.tolist(), strict=True))
        self._count += keys.shape[0]

    def discard(self, keys: Int64Array) -> Int64Array:
        """Stop holding ``keys`` (distinct, all held); their slots."""
        slots = self.slots_of(keys)
        if self._dict is not None:
            for key in keys.tolist():
                del self._dict[key]
        else:
            self._table[keys] = -1
        self._count -= keys.shape[0]
        return slots


class ClkIndex:
    """A mutable index of packed CLKs of ``bits`` bits, searchable by Dice similarity.

    Thread-safe: mutations and searches take an internal lock (a search of a million records
    takes milliseconds).
    """

    def __init__(self, bits: int, *, capacity: int = 1024) -> None:
        if bits <= 0 or bits % 64:
            raise InvalidInputError(f"CLK length must be a positive multiple of 64, got {bits}")
        if capacity < 1:
            raise InvalidInputError("capacity must be positive")
        self._bits = bits
        self._words = bits // 64
        self._width = padded_words(self._words)  # words per record in the kernel layout
        self._lock = threading.RLock()
        self._slot_of = _SlotMap()
        self._size = 0  # slots in use (live or dead)
        self._allocate(capacity)

    def _allocate(self, capacity: int) -> None:
        groups = -(-capacity // LANES)
        self._bt = np.zeros((groups, self._width, LANES), dtype=np.uint64)
        self._pop = np.zeros(groups * LANES, dtype=np.int64)
        self._group_min_pop = np.full(groups, self._bits, dtype=np.int64)
        self._alive = np.zeros(groups * LANES, dtype=np.bool_)
        self._keys = np.zeros(groups * LANES, dtype=np.int64)

    @property
    def bits(self) -> int:
        return self._bits

    @property
    def capacity(self) -> int:
        return int(self._alive.shape[0])

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int | np.integer) and int(key) in self._slot_of

    def holds(self, keys: Sequence[int] | Int64Array) -> np.ndarray:
        """Whether each key is held (a boolean array, in the order asked)."""
        key_array = np.asarray(keys, dtype=np.int64).reshape(-1)
        with self._lock:
            return self._slot_of.slots_of(key_array) >= 0

    def reserve(self, capacity: int) -> None:
        """Make room for ``capacity`` records at least, at once (a loader that knows how
        many records come spares the index its growth steps and their copies)."""
        with self._lock:
            if capacity > self.capacity:
                self._grow(capacity, exact=True)

    def add(self, keys: Sequence[int] | Int64Array, clks: PackedClks) -> None:
        """Add records; ``keys`` must be new and distinct. All or nothing."""
        packed = check_packed(clks, "clks")
        key_array = np.asarray(keys, dtype=np.int64)
        if key_array.ndim != 1 or key_array.shape[0] != packed.shape[0]:
            raise InvalidInputError("keys and clks must have the same length")
        if packed.shape[1] != self._words:
            raise InvalidInputError(
                f"CLKs have {packed.shape[1] * 64} bits, the index holds {self._bits}"
            )
        n = key_array.shape[0]
        if n == 0:
            return
        with self._lock:
            if unique_sorted(key_array).shape[0] != n:
                raise InvalidInputError("keys must be distinct")
            clash = np.flatnonzero(self._slot_of.slots_of(key_array) >= 0)
            if clash.shape[0]:
                raise AlreadyExistsError(f"keys[{int(clash[0])}] is already in the index")
            if self._size + n > self.capacity:
                self._grow(self._size + n)
            slots = np.arange(self._size, self._size + n)
            groups, lanes = slots // LANES, slots % LANES
            self._bt[groups, : self._words, lanes] = packed
            pop = popcounts(packed)
            self._pop[slots] = pop
            self._alive[slots] = True
            self._keys[slots] = key_array
            np.minimum.at(self._group_min_pop, groups, pop)
            self._slot_of.assign(key_array, slots)
            self._size += n

    def _grow(self, needed: int, *, exact: bool = False) -> None:
        old = (self._bt, self._pop, self._group_min_pop, self._alive, self._keys)
        self._allocate(needed if exact else max(needed, self.capacity * 3 // 2))
        # only the slots in use are copied: the rest of the new arrays stays unwritten (a
        # large reserve costs address space, not memory, until records arrive)
        size = self._size
        groups = -(-size // LANES)
        self._bt[:groups] = old[0][:groups]
        self._pop[:size] = old[1][:size]
        self._group_min_pop[:groups] = old[2][:groups]
        self._alive[:size] = old[3][:size]
        self._keys[:size] = old[4][:size]

    def remove(self, keys: Sequence[int] | Int64Array) -> None:
        """Remove records by key; every key must be present. All or nothing."""
        key_array = np.asarray(keys, dtype=np.int64).reshape(-1)
        with self._lock:
            self._slots(key_array)  # every key present, else nothing changes
            if unique_sorted(key_array).shape[0] != key_array.shape[0]:
                raise InvalidInputError("keys must be distinct")
            self._alive[self._slot_of.discard(key_array)] = False
            dead = self._size - len(self._slot_of)
            if dead > 1024 and dead > len(self._slot_of):
                self.compact()

    def compact(self) -> None:
        """Rewrite the live records contiguously, dropping tombstones."""
        with self._lock:
            live = np.flatnonzero(self._alive[: self._size])
            keys = self._keys[live].copy()
            clks = self._bt[live // LANES, : self._words, live % LANES].copy()
            self._allocate(max(live.shape[0] * 3 // 2, 1024))
            self._slot_of = _SlotMap()
            self._size = 0
            self.add(keys, clks)

    def sample_keys(self, count: int, rng: np.random.Generator) -> Int64Array:
        """Up to ``count`` keys of live records drawn at random (fewer when the index holds
        fewer, or when a draw hits removed slots): constant work for a lookup that has
        few candidates of its own."""
        with self._lock:
            if not self._slot_of or count <= 0:
                return np.zeros(0, dtype=np.int64)
            slots = rng.integers(0, self._size, size=count)
            live = slots[self._alive[slots]]
            return unique_sorted(self._keys[live]).astype(np.int64)

    def get(self, keys: Sequence[int] | Int64Array) -> PackedClks:
        """The packed CLKs of the given keys (for verification and rebuilds)."""
        key_array = np.asarray(keys, dtype=np.int64).reshape(-1)
        with self._lock:
            slots = self._slots(key_array)
            return self._bt[slots // LANES, : self._words, slots % LANES].copy()

    def _slots(self, keys: Int64Array) -> Int64Array:
        """The slots of ``keys`` (:class:`NotFoundError` naming the first one not held)."""
        slots = self._slot_of.slots_of(keys)
        missing = np.flatnonzero(slots < 0)
        if missing.shape[0]:
            raise NotFoundError(f"keys[{int(missing[0])}] is not in the index")
        return slots

    def keys(self) -> Int64Array:
        """The live keys, ascending."""
        with self._lock:
            return np.sort(self._keys[np.flatnonzero(self._alive[: self._size])])

    def items(self) -> tuple[Int64Array, PackedClks]:
        """Every live record: its keys ascending and their packed CLKs, in one vectorised
        gather (no per-key work: a batch joined against a million records reads them all)."""
        with self._lock:
            slots = np.flatnonzero(self._alive[: self._size])
            keys = self._keys[slots]
            order = np.argsort(keys, kind="stable")
            slots = slots[order]
            clks = self._bt[slots // LANES, : self._words, slots % LANES]
            return keys[order].astype(np.int64), np.ascontiguousarray(clks)

    def band_candidates(self, queries: PackedClks, plan: BandHashPlan) -> Int64Array:
        """Keys, ascending, of the live records that agree with some query on every
        sampled bit of some band of ``plan`` (:func:`linkage.match.band_screen`, read in
        place): every record the LSH rule would pair with a query, and rarely one more (a
        64-bit hash of a band's bits stands for them)."""
        packed = check_packed(queries, "queries")
        if packed.shape[1] != self._words:
            raise InvalidInputError(
                f"queries have {packed.shape[1] * 64} bits, the index holds {self._bits}"
            )
        # the arrays as they are now: the screen (about a second at a million records) runs
        # without the lock, so lookups are not held up by a batch's screen. Adds write
        # beyond ``size`` or into new arrays, a removal clears a live bit: the result is the
        # index at the snapshot, less what was removed meanwhile.
        with self._lock:
            records, alive, keys, size = self._bt, self._alive, self._keys, self._size
        hit = band_screen(records, size, packed, plan)
        slots = np.flatnonzero(hit & alive[:size])
        return np.sort(keys[slots]).astype(np.int64)

    def search(self, queries: PackedClks, threshold: float, k: int) -> tuple[LookupHits, ...]:
        """The best ``k`` records with Dice ``>= threshold`` for each query."""
        packed = check_packed(queries, "queries")
        if packed.shape[1] != self._words:
            raise InvalidInputError(
                f"queries have {packed.shape[1] * 64} bits, the index holds {self._bits}"
            )
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be an integer between 1 and {MAX_K}")
        rule = dice_rule(threshold, self._bits)
        q_n = packed.shape[0]
        if q_n == 0:
            return ()
        q_pop = popcounts(packed)
        with self._lock:
            groups = -(-self._size // LANES)
            if groups == 0 or not self._slot_of:
                return tuple(LookupHits(np.empty(0), np.empty(0, np.int64)) for _ in range(q_n))
            # Small slabs, claimed dynamically by the threads: a thread the OS deschedules
            # delays the answer by one slab, not by half of the index.
            per_slab = max(_MIN_SLAB_GROUPS, -(-groups // (16 * numba.get_num_threads())))
            slab_g0 = np.arange(0, groups, per_slab, dtype=np.int64)
            slab_g1 = np.minimum(slab_g0 + per_slab, groups)
            n_slabs = slab_g0.shape[0]
            k_eff = min(int(k), len(self._slot_of))
            single = q_n == 1
            q_rows = 1 if single else -(-q_n // ROWS) * ROWS
            q_split = nibble_split(packed, 1 if single else ROWS)
            q_pop_padded = np.zeros(q_rows, dtype=np.int64)
            q_pop_padded[:q_n] = q_pop
            top_score = np.zeros((n_slabs * q_rows, k_eff), dtype=np.float64)
            top_key = np.zeros((n_slabs * q_rows, k_eff), dtype=np.int64)
            top_n = np.zeros(n_slabs * q_rows, dtype=np.int64)
            kernel = _kernels.lookup_kernel_1 if single else _kernels.lookup_kernel_4
            index_arrays = (self._bt, self._pop, self._group_min_pop, self._alive, self._keys)
            tables = (rule.min_count, rule.count_floor, rule.max_delta)
            with kernel_launch():
                kernel(
                    work_queue(), q_split, q_pop_padded, q_n, *index_arrays, self._size, *tables,
                    slab_g0, slab_g1, k_eff, top_score, top_key, top_n,
                )  # fmt: skip
        return tuple(
            _merge(top_score, top_key, top_n, q_rows, n_slabs, query, k_eff) for query in range(q_n)
        )


def _merge(
    top_score: np.ndarray,
    top_key: np.ndarray,
    top_n: np.ndarray,
    q_rows: int,
    n_slabs: int,
    query: int,
    k: int,
) -> LookupHits:
    rows = np.arange(n_slabs) * q_rows + query
    valid = np.arange(top_score.shape[1])[None, :] < top_n[rows][:, None]
    scores = top_score[rows][valid]
    keys = top_key[rows][valid]
    order = np.lexsort((keys, -scores))[:k]
    return LookupHits(scores[order], keys[order])
