"""numba kernels of the LSH-blocked Dice join and of greedy 1:1 matching (internal; see
``_blocking`` and ``_greedy``)."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from linkage.match._kernel_primitives import accepts, claim, holds_sorted, jit_kernel, popcount64

__all__ = [
    "KEY_BLOCK",
    "PRIMITIVES_DIGEST",
    "SPREAD",
    "greedy_bipartite_kernel",
    "lsh_bitmap_kernel",
    "lsh_bucket_count_kernel",
    "lsh_bucket_pairs_kernel",
    "lsh_expand_pairs_kernel",
    "lsh_join_kernel",
    "lsh_keys_kernel",
    "lsh_row_keys_kernel",
    "lsh_screen_kernel",
    "lsh_slots_kernel",
    "merge_unique_kernel",
]

#: Digest of ``_kernel_primitives.py`` (see its docstring): changing it invalidates numba's
#: cached kernels of this file when a primitive they inline changes.
PRIMITIVES_DIGEST = "2c209345a974d0cd"


#: Records per block of the band-key kernels (a block's words, transposed, stay in L1/L2;
#: a multiple of 64, so that blocks never share a word of a hit bitset).
KEY_BLOCK = 256
#: Fibonacci hashing multiplier (2^64 / golden ratio): a band key's bitmap slot is
#: ``(key * SPREAD) >> shift``.
SPREAD = np.uint64(0x9E3779B97F4A7C15)


@jit_kernel(inline=True)
def _block_columns(packed: Any, start: int, size: int, used: Any) -> Any:
    """Words ``used`` of records ``start .. start + size``, word-major (zero-padded to
    :data:`KEY_BLOCK` records)."""
    columns = np.zeros((used.shape[0], KEY_BLOCK), dtype=np.uint64)
    for i in range(size):
        for u in range(used.shape[0]):
            columns[u, i] = packed[start + i, used[u]]
    return columns


@jit_kernel(inline=True)
def _block_band_keys(columns: Any, column_of: Any, shift_of: Any, band: int, keys: Any) -> None:
    """``keys[i]`` := band ``band``'s key of the block's record ``i``: each sampled bit is
    extracted for the whole block by one loop over contiguous words, which LLVM vectorises
    (shift, mask, shift, or: a few vector instructions per 4-8 records)."""
    one = np.uint64(1)
    keys[:] = 0
    for k in range(column_of.shape[1]):
        column = columns[column_of[band, k]]
        shift = np.uint64(shift_of[band, k])
        place = np.uint64(k)
        for i in range(KEY_BLOCK):  # a constant trip count: one vectorised loop
            keys[i] |= ((column[i] >> shift) & one) << place


@jit_kernel(parallel=True)
def lsh_keys_kernel(packed: Any, used: Any, column_of: Any, shift_of: Any, out: Any) -> None:
    """``out[band, i]``: bit ``k`` is bit ``positions[band, k]`` of record ``i``, the
    positions given as the word ``used[column_of[band, k]]`` of ``packed`` and the shift
    from that word's least significant bit. Records are taken in blocks of
    :data:`KEY_BLOCK`, their used words transposed word-major."""
    n = packed.shape[0]
    bands = column_of.shape[0]
    for block in prange((n + KEY_BLOCK - 1) // KEY_BLOCK):
        start = block * KEY_BLOCK
        size = min(KEY_BLOCK, n - start)
        columns = _block_columns(packed, start, size, used)
        keys = np.empty(KEY_BLOCK, dtype=np.uint64)
        for band in range(bands):
            _block_band_keys(columns, column_of, shift_of, band, keys)
            for i in range(size):
                out[band, start + i] = keys[i]


@jit_kernel(parallel=True)
def lsh_bitmap_kernel(keys: Any, shift: Any, bitmaps: Any) -> None:
    """``bitmaps[band]``: the bit of slot ``(key * SPREAD) >> shift`` set for every key of
    ``keys[band]`` (a bitset of ``bitmaps.shape[1] * 64`` slots per band)."""
    one = np.uint64(1)
    for band in prange(keys.shape[0]):
        for i in range(keys.shape[1]):
            slot = (keys[band, i] * SPREAD) >> shift
            bitmaps[band, slot >> np.uint64(6)] |= one << (slot & np.uint64(63))


@jit_kernel(parallel=True)
def lsh_screen_kernel(
    packed: Any,
    used: Any,
    column_of: Any,
    shift_of: Any,
    bitmaps: Any,
    shift: Any,
    sorted_keys: Any,
    hits: Any,
) -> None:
    """Set bit ``i`` of ``hits[band]`` (a zeroed bitset of ``ceil(n / 64)`` words per band)
    when record ``i``'s key in ``band`` (as :func:`lsh_keys_kernel` computes it) is one of
    ``sorted_keys[band]`` (the other side's keys, ascending): the bitmap
    (:func:`lsh_bitmap_kernel` of the same keys) turns most records away before any
    search. No key of this side is kept."""
    n = packed.shape[0]
    bands = column_of.shape[0]
    one = np.uint64(1)
    for block in prange((n + KEY_BLOCK - 1) // KEY_BLOCK):
        start = block * KEY_BLOCK
        size = min(KEY_BLOCK, n - start)
        columns = _block_columns(packed, start, size, used)
        keys = np.empty(KEY_BLOCK, dtype=np.uint64)
        for band in range(bands):
            _block_band_keys(columns, column_of, shift_of, band, keys)
            for i in range(size):
                key = keys[i]
                slot = (key * SPREAD) >> shift
                screened = (bitmaps[band, slot >> np.uint64(6)] >> (slot & np.uint64(63))) & one
                if screened and holds_sorted(sorted_keys[band], key):
                    row = start + i
                    hits[band, row >> 6] |= one << np.uint64(row & 63)


@jit_kernel(parallel=True)
def lsh_row_keys_kernel(
    packed: Any, rows: Any, word_of: Any, shift_of: Any, band: int, out: Any
) -> None:
    """``out[r]``: band ``band``'s key of record ``rows[r]`` (positions as word of
    ``packed`` and shift, for the few rows a screen let through)."""
    one = np.uint64(1)
    for r in prange(rows.shape[0]):
        key = np.uint64(0)
        for k in range(word_of.shape[1]):
            bit = (packed[rows[r], word_of[band, k]] >> np.uint64(shift_of[band, k])) & one
            key |= bit << np.uint64(k)
        out[r] = key


@jit_kernel(parallel=True)
def lsh_slots_kernel(keys: Any, first_band: int, spread: Any, row_bits: int, out: Any) -> None:
    """``out[b, row]``: the slot of ``row`` in band ``first_band + b``, ``(keys[band, row] *
    spread)`` with its low ``row_bits`` bits replaced by the row (a hash of the key above
    the row: sorted, the rows of one key are adjacent)."""
    shift = np.uint64(row_bits)
    row_mask = (np.uint64(1) << shift) - np.uint64(1)
    for b in prange(out.shape[0]):
        band_keys = keys[first_band + b]
        band_out = out[b]
        for row in range(out.shape[1]):
            band_out[row] = (band_keys[row] * spread) & ~row_mask | np.uint64(row)


@jit_kernel(inline=True)
def _run_end(slots: Any, start: int, row_bits: Any) -> int:
    """The end of the run of equal hashes (``slots[p] >> row_bits``) from ``start``."""
    head = slots[start] >> row_bits
    end = start + 1
    while end < slots.shape[0] and (slots[end] >> row_bits) == head:
        end += 1
    return end


@jit_kernel(inline=True)
def _uniform_run(slots: Any, start: int, end: int, keys: Any, row_mask: Any) -> bool:
    """Whether every row of the run ``slots[start:end]`` has the same key (no collision)."""
    first = keys[slots[start] & row_mask]
    p = start + 1
    while p < end and keys[slots[p] & row_mask] == first:
        p += 1
    return p == end


@jit_kernel(parallel=True)
def lsh_bucket_count_kernel(
    slots: Any, keys: Any, weights: Any, row_bits: int, pairs: Any, work: Any
) -> None:
    """Per band of a self-join over distinct rows: ``pairs[band]`` the pairs of rows with
    equal keys, ``work[band]`` the pairs of records they stand for (``weights[row]``
    records each) across rows: ``sum(weights[x] * weights[y])`` over those pairs.

    ``slots[band]`` is ascending ``hash(key) << row_bits | row`` over the rows (``keys[band,
    row]``); a run of equal hashes is one bucket unless its keys differ (a hash
    collision), which are then compared pair by pair. O(rows) but for collisions.
    """
    shift = np.uint64(row_bits)
    row_mask = (np.uint64(1) << shift) - np.uint64(1)
    for band in prange(slots.shape[0]):
        band_slots = slots[band]
        band_keys = keys[band]
        found = 0
        total = 0
        start = 0
        while start < band_slots.shape[0]:
            end = _run_end(band_slots, start, shift)
            if end - start > 1:
                if _uniform_run(band_slots, start, end, band_keys, row_mask):
                    size = end - start
                    found += size * (size - 1) // 2
                    weight = 0
                    squares = 0
                    for p in range(start, end):
                        w = weights[band_slots[p] & row_mask]
                        weight += w
                        squares += w * w
                    total += (weight * weight - squares) // 2
                else:
                    for p in range(start, end):
                        x = band_slots[p] & row_mask
                        for q in range(p + 1, end):
                            y = band_slots[q] & row_mask
                            if band_keys[x] == band_keys[y]:
                                found += 1
                                total += weights[x] * weights[y]
            start = end
        pairs[band] = found
        work[band] = total


@jit_kernel(parallel=True)
def lsh_bucket_pairs_kernel(
    slots: Any, keys: Any, row_bits: int, width: int, offsets: Any, out: Any
) -> None:
    """``out[offsets[band] : offsets[band + 1]]``: the pairs :func:`lsh_bucket_count_kernel`
    counts in ``band``, each as ``min(x, y) * width + max(x, y)``."""
    shift = np.uint64(row_bits)
    row_mask = (np.uint64(1) << shift) - np.uint64(1)
    for band in prange(slots.shape[0]):
        band_slots = slots[band]
        band_keys = keys[band]
        pos = offsets[band]
        start = 0
        while start < band_slots.shape[0]:
            end = _run_end(band_slots, start, shift)
            for p in range(start, end):
                x = np.int64(band_slots[p] & row_mask)
                for q in range(p + 1, end):
                    y = np.int64(band_slots[q] & row_mask)
                    if band_keys[x] == band_keys[y]:
                        out[pos] = min(x, y) * width + max(x, y)
                        pos += 1
            start = end


@jit_kernel(parallel=True)
def lsh_expand_pairs_kernel(
    left: Any, right: Any, members: Any, first: Any, sizes: Any, width: int, offsets: Any, out: Any
) -> None:
    """``out[offsets[u] : offsets[u + 1]]``: the record pairs of group pair ``u``, each as
    ``min(a, b) * width + max(a, b)``: every member of group ``left[u]`` with every member
    of group ``right[u]`` or, when they are one group, every two of its members. Group
    ``g``'s members are ``members[first[g] : first[g] + sizes[g]]``."""
    for u in prange(left.shape[0]):
        g = left[u]
        h = right[u]
        pos = offsets[u]
        for p in range(first[g], first[g] + sizes[g]):
            a = members[p]
            start = p + 1 if g == h else first[h]
            for q in range(start, first[h] + sizes[h]):
                b = members[q]
                out[pos] = min(a, b) * width + max(a, b)
                pos += 1


@jit_kernel(parallel=True)
def lsh_join_kernel(
    queue: Any,
    a: Any,
    b: Any,
    a_pop: Any,
    b_pop: Any,
    bucket_lo: Any,
    bucket_hi: Any,
    order_b: Any,
    self_join: bool,
    min_count: Any,
    max_delta: Any,
    rows: Any,
    stamps: Any,
    next_stamp: Any,
    candidates: Any,
    out_i: Any,
    out_j: Any,
    out_c: Any,
    out_n: Any,
    failed: Any,
) -> None:
    """Verify every LSH candidate of the given left rows with the exact Dice rule.

    Row ``i``'s candidates are the right records sharing its key in at least one band:
    ``order_b[band, bucket_lo[band, i] : bucket_hi[band, i]]``; each is
    counted once (a per-thread stamp array deduplicates across bands) in ``candidates[u]``
    and, if accepted, appended to the thread's buffer row as in :func:`pairs_kernel`. With
    ``self_join`` only ``j > i`` is considered (``i`` is the left record).
    """
    cap = out_i.shape[1]
    bands = bucket_lo.shape[0]
    words = a.shape[1]
    for _worker in prange(queue.shape[0] - 1):
        while True:  # claim work units one at a time (dynamic balance)
            u = claim(queue)
            if u >= rows.shape[0]:
                break
            thread = numba.get_thread_id()  # type: ignore[attr-defined]
            i = rows[u]
            mark = next_stamp[thread]
            next_stamp[thread] = mark + 1
            start = out_n[thread]
            pos = start
            full = False
            seen = 0
            pa = a_pop[i]
            for band in range(bands):
                for p in range(bucket_lo[band, i], bucket_hi[band, i]):
                    j = order_b[band, p]
                    if (self_join and j <= i) or stamps[thread, j] == mark:
                        continue
                    stamps[thread, j] = mark
                    seen += 1
                    count = 0
                    for w in range(words):
                        count += popcount64(a[i, w] & b[j, w])
                    if accepts(pa, b_pop[j], count, min_count, max_delta):
                        if pos == cap:
                            full = True
                            break
                        out_i[thread, pos] = i
                        out_j[thread, pos] = j
                        out_c[thread, pos] = count
                        pos += 1
                if full:
                    break
            candidates[u] = seen
            if full:
                failed[u] = True
            else:
                out_n[thread] = pos


@jit_kernel()
def greedy_bipartite_kernel(left: Any, right: Any, n_left: int, n_right: int, keep: Any) -> None:
    """Greedy 1:1 on distinct bipartite edges in the given order: keep an edge iff both of its
    records are still unmatched. (On such edges anonlink's greedy reduces to exactly this:
    a merge would need an edge within one side.)"""
    used_left = np.zeros(n_left, dtype=np.bool_)
    used_right = np.zeros(n_right, dtype=np.bool_)
    for e in range(left.shape[0]):
        a = left[e]
        b = right[e]
        if not used_left[a] and not used_right[b]:
            used_left[a] = True
            used_right[b] = True
            keep[e] = True


@jit_kernel()
def merge_unique_kernel(first: Any, second: Any, out: Any) -> int:  # pragma: no cover
    """``out[:size]``: the union of two ascending arrays of distinct integers, ascending;
    returns ``size``."""
    i = 0
    j = 0
    size = 0
    while i < first.shape[0] and j < second.shape[0]:
        if first[i] < second[j]:
            out[size] = first[i]
            i += 1
        elif second[j] < first[i]:
            out[size] = second[j]
            j += 1
        else:
            out[size] = first[i]
            i += 1
            j += 1
        size += 1
    while i < first.shape[0]:
        out[size] = first[i]
        i += 1
        size += 1
    while j < second.shape[0]:
        out[size] = second[j]
        j += 1
        size += 1
    return size
