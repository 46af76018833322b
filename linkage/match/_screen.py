"""Which records of a large set may share an LSH band with any of a few queries.

A batch of ten thousand records linked against an index of a million needs, of the index,
only the records that some blocking rule pairs with a batch record: a few per batch record.
:func:`band_screen` finds the ones an LSH rule (:class:`HammingLsh`) could pair, reading the
large side once, in place (in the in-memory index's own layout: no copy of a million
records), and computing for each record and band not its band key (one shift-mask-shift-or
per sampled bit) but a 64-bit hash of the band's sampled bits: per word the band samples,
one and, one rotate and one xor (:class:`BandHashPlan`). Records whose sampled bits agree
have equal hashes, so no candidate is missed; a hash collision lets a record through that
no band pairs (a superset: the caller runs the exact rules on what passes).

Pure: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from linkage.errors import InvalidInputError
from linkage.match import _lsh_kernels, _screen_kernels
from linkage.match._blocking import HammingLsh
from linkage.match._join import kernel_launch
from linkage.match._packing import check_packed
from linkage.types import Int64Array, PackedClks

__all__ = ["BandHashPlan", "band_hashes", "band_screen"]


_ROTATIONS = np.arange(64, dtype=np.uint64)


def _rotations_of(mask: int) -> np.ndarray:
    """``uint64[64]``: ``mask`` rotated left by 0 .. 63 bits."""
    word = np.uint64(mask)
    return (word << _ROTATIONS) | (word >> ((np.uint64(64) - _ROTATIONS) & np.uint64(63)))


def _pack(masks: list[int]) -> tuple[list[int], list[int]]:
    """A slot and a left rotation for each mask such that no two rotated masks of one slot
    share a bit (first fit, fewest slots first): the masked words, rotated and or-ed into
    their slots, keep every sampled bit apart."""
    occupied: list[int] = []
    slots: list[int] = []
    rotations: list[int] = []
    for mask in masks:
        rotated = _rotations_of(mask)
        for slot, taken in enumerate(occupied):
            free = np.flatnonzero((rotated & np.uint64(taken)) == 0)
            if free.size:
                rotation = int(free[0])
                occupied[slot] = taken | int(rotated[rotation])
                break
        else:
            slot, rotation = len(occupied), 0
            occupied.append(mask)
        slots.append(slot)
        rotations.append(rotation)
    return slots, rotations


@dataclass(frozen=True, slots=True, eq=False)
class BandHashPlan:
    """Where one LSH configuration's bands read, and how their sampled bits are packed.

    ``used``: the words read; per band and entry ``k``: the column it samples
    (``column_of[band, k]``, an index into ``used``), the mask of its sampled bits in that
    word (``masks``; padding entries have mask 0), and the packed word (``slots``) and left
    rotation (``rotations``) that take them; ``slot_count``: the most packed words a band
    uses."""

    used: Int64Array
    column_of: Int64Array
    masks: np.ndarray
    rotations: Int64Array
    slots: Int64Array
    slot_count: int

    @classmethod
    def of(cls, lsh: HammingLsh, total_words: int, words: Int64Array | None = None) -> BandHashPlan:
        """The plan of ``lsh`` over records of ``total_words`` words (``words``: the words
        its bands sample, as in :meth:`HammingLsh.keys`)."""
        used, column_of, shift_of = lsh.word_plan(total_words, words)
        bands = column_of.shape[0]
        bits = np.left_shift(np.uint64(1), shift_of.astype(np.uint64))
        entries: list[tuple[list[int], list[int], list[int], list[int]]] = []
        for band in range(bands):
            columns, inverse = np.unique(column_of[band], return_inverse=True)  # <= 64 values
            masks = np.zeros(columns.shape[0], dtype=np.uint64)
            np.bitwise_or.at(masks, inverse.reshape(-1), bits[band])
            # the fullest words first: they are the hardest to place
            order = np.argsort(-np.bitwise_count(masks), kind="stable")
            band_masks = [int(m) for m in masks[order]]
            slots, rotations = _pack(band_masks)
            entries.append(([int(c) for c in columns[order]], band_masks, slots, rotations))
        width = max((len(entry[0]) for entry in entries), default=0)
        plan = np.zeros((4, bands, width), dtype=np.uint64)
        for band, entry in enumerate(entries):
            for field, values in enumerate(entry):
                plan[field, band, : len(values)] = values
        slot_count = max((max(entry[2], default=0) + 1 for entry in entries), default=1)
        return cls(
            used.astype(np.int64),
            plan[0].astype(np.int64),
            plan[1],
            plan[3].astype(np.int64),
            plan[2].astype(np.int64),
            slot_count,
        )

    @property
    def bands(self) -> int:
        return int(self.column_of.shape[0])


def _as_records(records: np.ndarray, n: int, plan: BandHashPlan) -> np.ndarray:
    """``records`` as ``uint64[groups, words, lanes]`` (a plain ``[n, words]`` array is
    seen as ``[n, words, 1]``), checked against ``n`` and the plan."""
    array = records if records.ndim == 3 else records.reshape(records.shape[0], -1, 1)
    if array.dtype != np.uint64 or array.ndim != 3:
        raise InvalidInputError("records must be uint64[n, words] or uint64[groups, words, lanes]")
    if _screen_kernels.HASH_BLOCK % array.shape[2]:
        raise InvalidInputError(f"lanes must divide {_screen_kernels.HASH_BLOCK}")
    if not 0 <= n <= array.shape[0] * array.shape[2]:
        raise InvalidInputError(f"records hold fewer than {n} records")
    if plan.used.size and int(plan.used.max()) >= array.shape[1]:
        raise InvalidInputError("the plan reads words beyond the records' width")
    return array


def _plan_arrays(
    plan: BandHashPlan,
) -> tuple[Int64Array, Int64Array, np.ndarray, Int64Array, Int64Array, int]:
    return plan.used, plan.column_of, plan.masks, plan.rotations, plan.slots, plan.slot_count


def band_hashes(records: np.ndarray, n: int, plan: BandHashPlan) -> np.ndarray:
    """``uint64[bands, n]``: each band's hash of records ``0 .. n`` (records as in
    :func:`band_screen`)."""
    array = _as_records(records, n, plan)
    out = np.empty((plan.bands, n), dtype=np.uint64)
    if n:
        with kernel_launch():
            _screen_kernels.band_hash_kernel(array, n, *_plan_arrays(plan), out)
    return out


def band_screen(records: np.ndarray, n: int, queries: PackedClks, plan: BandHashPlan) -> np.ndarray:
    """``bool[n]``: whether record ``r`` (of ``records``, ``uint64[n, words]`` or the
    index's ``[groups, words, lanes]``) agrees with some query on every sampled bit of some
    band of ``plan``, or collides with one in that band's 64-bit hash (rare)."""
    query_array = check_packed(queries, "queries")
    hit = np.zeros(n, dtype=np.bool_)
    array = _as_records(records, n, plan)
    if n == 0 or query_array.shape[0] == 0:
        return hit
    query_hashes = band_hashes(query_array, query_array.shape[0], plan)
    sorted_hashes = np.sort(query_hashes, axis=1)
    # about 8 bits per query hash in the coarse bitmaps (all bands' together stay in
    # cache; about 12 % of unrelated hashes pass), 64 in the fine ones (1-2 % reach the
    # search)
    coarse_bits, fine_bits = (
        int(min(cap, max(10, int(np.ceil(np.log2(per_hash * query_array.shape[0]))))))
        for per_hash, cap in ((8, 20), (64, 24))
    )
    coarse_shift, fine_shift = np.uint64(64 - coarse_bits), np.uint64(64 - fine_bits)
    coarse = np.zeros((plan.bands, (1 << coarse_bits) // 64), dtype=np.uint64)
    fine = np.zeros((plan.bands, (1 << fine_bits) // 64), dtype=np.uint64)
    with kernel_launch():
        _lsh_kernels.lsh_bitmap_kernel(query_hashes, coarse_shift, coarse)
        _lsh_kernels.lsh_bitmap_kernel(query_hashes, fine_shift, fine)
        _screen_kernels.band_hash_screen_kernel(
            array, n, *_plan_arrays(plan), coarse, coarse_shift, fine, fine_shift,
            sorted_hashes, hit,
        )  # fmt: skip
    return hit
