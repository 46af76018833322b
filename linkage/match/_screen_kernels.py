"""numba kernels of the band-hash screen (internal; see ``_screen``).

Records are read from a ``uint64[groups, words, lanes]`` array, record ``r`` being
``array[r // lanes, :, r % lanes]``: the in-memory index's transposed layout as it is
(``lanes`` = 4), or a plain ``uint64[n, words]`` array seen as ``[n, words, 1]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import prange

from linkage.match._kernel_primitives import holds_sorted, jit_kernel

__all__ = ["HASH_BLOCK", "PRIMITIVES_DIGEST", "band_hash_kernel", "band_hash_screen_kernel"]

#: Digest of ``_kernel_primitives.py`` (see its docstring): changing it invalidates numba's
#: cached kernels of this file when a primitive they inline changes.
PRIMITIVES_DIGEST = "2c209345a974d0cd"

#: Records per block (a block's used words, transposed word-major, stay in L1/L2).
HASH_BLOCK = 256
#: Fibonacci hashing multiplier (2^64 / golden ratio): a hash's bitmap slot is
#: ``(hash * SPREAD) >> shift``.
SPREAD = np.uint64(0x9E3779B97F4A7C15)
#: MurmurHash3's 64-bit finaliser constants.
MIX_1 = np.uint64(0xFF51AFD7ED558CCD)
MIX_2 = np.uint64(0xC4CEB9FE1A85EC53)
#: A band hash's starting value.
SEED = np.uint64(0x243F6A8885A308D3)


@jit_kernel(inline=True)
def _block_columns(records: Any, start: int, size: int, used: Any) -> Any:
    """Words ``used`` of records ``start .. start + size``, word-major (zero-padded to
    :data:`HASH_BLOCK` records). ``start`` is a multiple of the lanes (blocks are), so the
    block is whole groups, each read lane by lane (contiguous in the index's layout)."""
    lanes = records.shape[2]
    columns = np.zeros((used.shape[0], HASH_BLOCK), dtype=np.uint64)
    first = start // lanes
    groups = (size + lanes - 1) // lanes
    for g in range(groups):
        lanes_here = min(lanes, size - g * lanes)
        for u in range(used.shape[0]):
            word = used[u]
            for lane in range(lanes_here):
                columns[u, g * lanes + lane] = records[first + g, word, lane]
    return columns


@jit_kernel(inline=True)
def _block_band_hashes(
    columns: Any,
    column_of: Any,
    masks: Any,
    rotations: Any,
    slots: Any,
    band: int,
    packed: Any,
    out: Any,
) -> None:
    """``out[i]`` := band ``band``'s hash of the block's record ``i``.

    The band's sampled bits are first packed, losslessly, into a few 64-bit words: each
    column's masked word is rotated by ``rotations[band, k]`` and or-ed into word
    ``slots[band, k]``, the plan having chosen rotations under which no two columns' bits
    of one word overlap (three vectorised instructions per column: and, rotate, or). Equal
    packed words are equal sampled bits, so the only collisions are those of the final
    hash of the packed words (MurmurHash3's 64-bit finaliser, chained): about 2^-64.
    ``packed``: scratch space, ``uint64[slots, HASH_BLOCK]``."""
    packed[:] = 0
    used_slots = 1
    for k in range(column_of.shape[1]):
        mask = masks[band, k]
        if mask == 0:
            continue
        column = columns[column_of[band, k]]
        slot = slots[band, k]
        used_slots = max(used_slots, slot + 1)
        left = np.uint64(rotations[band, k])
        right = np.uint64((64 - rotations[band, k]) & 63)
        target = packed[slot]
        for i in range(HASH_BLOCK):  # a constant trip count: one vectorised loop
            value = column[i] & mask
            target[i] |= (value << left) | (value >> right)
    shift = np.uint64(33)
    for i in range(HASH_BLOCK):
        out[i] = SEED
    for slot in range(used_slots):
        word = packed[slot]
        for i in range(HASH_BLOCK):
            h = out[i] ^ word[i]
            h = (h ^ (h >> shift)) * MIX_1
            h = (h ^ (h >> shift)) * MIX_2
            out[i] = h ^ (h >> shift)


@jit_kernel(parallel=True)
def band_hash_kernel(
    records: Any,
    n: int,
    used: Any,
    column_of: Any,
    masks: Any,
    rotations: Any,
    slots: Any,
    slot_count: int,
    out: Any,
) -> None:
    """``out[band, r]``: band ``band``'s hash of record ``r < n`` (see
    :func:`_block_band_hashes`)."""
    bands = column_of.shape[0]
    for block in prange((n + HASH_BLOCK - 1) // HASH_BLOCK):
        start = block * HASH_BLOCK
        size = min(HASH_BLOCK, n - start)
        columns = _block_columns(records, start, size, used)
        hashes = np.empty(HASH_BLOCK, dtype=np.uint64)
        packed = np.empty((slot_count, HASH_BLOCK), dtype=np.uint64)
        for band in range(bands):
            _block_band_hashes(columns, column_of, masks, rotations, slots, band, packed, hashes)
            for i in range(size):
                out[band, start + i] = hashes[i]


@jit_kernel(parallel=True)
def band_hash_screen_kernel(
    records: Any,
    n: int,
    used: Any,
    column_of: Any,
    masks: Any,
    rotations: Any,
    slots: Any,
    slot_count: int,
    coarse: Any,
    coarse_shift: Any,
    bitmaps: Any,
    shift: Any,
    sorted_hashes: Any,
    hit: Any,
) -> None:
    """``hit[r]`` := True for each record ``r < n`` whose hash in some band is one of
    ``sorted_hashes[band]`` (the queries' hashes, ascending); records already hit are not
    looked at again. Two bitmaps per band (a bit per ``(hash * SPREAD) >> shift`` slot of
    the band's query hashes) turn most records away before any search: a coarse one of
    about 8 bits per query hash, small enough for all bands' to stay in cache (most
    records stop there), then a fine one of about 64 bits per hash."""
    bands = column_of.shape[0]
    one = np.uint64(1)
    for block in prange((n + HASH_BLOCK - 1) // HASH_BLOCK):
        start = block * HASH_BLOCK
        size = min(HASH_BLOCK, n - start)
        columns = _block_columns(records, start, size, used)
        hashes = np.empty(HASH_BLOCK, dtype=np.uint64)
        packed = np.empty((slot_count, HASH_BLOCK), dtype=np.uint64)
        passed = np.empty(HASH_BLOCK, dtype=np.uint64)
        for band in range(bands):
            _block_band_hashes(columns, column_of, masks, rotations, slots, band, packed, hashes)
            # the coarse probe for the whole block, without branches (gathers)
            band_coarse = coarse[band]
            for i in range(HASH_BLOCK):
                slot = (hashes[i] * SPREAD) >> coarse_shift
                passed[i] = (band_coarse[slot >> np.uint64(6)] >> (slot & np.uint64(63))) & one
            for i in range(size):
                if not passed[i] or hit[start + i]:
                    continue
                value = hashes[i]
                slot = (value * SPREAD) >> shift
                screened = (bitmaps[band, slot >> np.uint64(6)] >> (slot & np.uint64(63))) & one
                if screened and holds_sorted(sorted_hashes[band], value):
                    hit[start + i] = True
