"""Conversions between CLK bytes and the matcher's packed ``uint64`` layout, and popcounts.

The layout is the one documented in :mod:`linkage.types`: a CLK of ``l`` bits is
``l // 8`` bytes (clkhash's most-significant-bit-first order) and, packed, ``l // 64``
big-endian 64-bit words, so bit ``i`` is ``(words[i // 64] >> (63 - i % 64)) & 1``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from linkage.errors import InvalidInputError, Problem
from linkage.types import ClkBytes, Int64Array, PackedClks

__all__ = [
    "check_packed",
    "pack_clk_bytes",
    "pack_clks",
    "popcounts",
    "unpack_clks",
]

#: At most this many problems are listed in one error (the count of all is in the message).
_MAX_PROBLEMS = 20


def pack_clks(clks: ClkBytes) -> PackedClks:
    """Pack ``uint8[n, l // 8]`` CLK bytes into ``uint64[n, l // 64]`` big-endian words.

    ``l`` must be a positive multiple of 64. The result is a new C-contiguous array.
    """
    array = np.asarray(clks)
    if array.dtype != np.uint8 or array.ndim != 2:
        raise InvalidInputError(
            f"CLK bytes must be a 2-D uint8 array, got {array.ndim}-D {array.dtype}"
        )
    n_bytes = array.shape[1]
    if n_bytes == 0 or n_bytes % 8:
        raise InvalidInputError(
            f"CLK length must be a positive multiple of 64 bits, got {n_bytes * 8} bits"
        )
    contiguous = np.ascontiguousarray(array)
    return contiguous.view(">u8").astype(np.uint64)


def unpack_clks(packed: PackedClks) -> ClkBytes:
    """Inverse of :func:`pack_clks`: ``uint64[n, w]`` words back to ``uint8[n, 8 * w]`` bytes."""
    array = check_packed(packed, "packed")
    return np.ascontiguousarray(array.astype(">u8")).view(np.uint8)


def pack_clk_bytes(records: Sequence[bytes], bits: int) -> PackedClks:
    """Pack a sequence of serialised CLKs of ``bits`` bits each.

    Every record must be exactly ``bits // 8`` bytes long. Problems name the position of the
    record (``records[i]``), never its content.
    """
    if bits <= 0 or bits % 64:
        raise InvalidInputError(f"CLK length must be a positive multiple of 64 bits, got {bits}")
    n_bytes = bits // 8
    bad = [i for i, record in enumerate(records) if len(record) != n_bytes]
    if bad:
        problems = [
            Problem(f"records[{i}]", f"expected {n_bytes} bytes, got {len(records[i])}")
            for i in bad[:_MAX_PROBLEMS]
        ]
        raise InvalidInputError(
            f"{len(bad)} of {len(records)} CLKs have the wrong length", problems=problems
        )
    buffer = np.frombuffer(b"".join(records), dtype=np.uint8)
    return pack_clks(buffer.reshape(len(records), n_bytes))


def popcounts(packed: PackedClks) -> Int64Array:
    """The number of set bits of every packed CLK, as ``int64[n]``."""
    array = check_packed(packed, "packed")
    counts: Int64Array = np.bitwise_count(array).sum(axis=1, dtype=np.int64)
    return counts


def check_packed(packed: PackedClks, name: str) -> PackedClks:
    """Validate a packed CLK array and return it C-contiguous (copying only if needed)."""
    array = np.asarray(packed)
    if array.dtype != np.uint64 or array.ndim != 2:
        raise InvalidInputError(
            f"{name} must be a 2-D uint64 array of packed CLKs, got {array.ndim}-D {array.dtype}"
        )
    if array.shape[1] == 0:
        raise InvalidInputError(f"{name} has zero words per CLK")
    return np.ascontiguousarray(array)
