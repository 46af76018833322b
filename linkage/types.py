"""Shared type aliases and protocols, in one place.

Bit layout (the contract between the encoder, the matcher and the wire):

* A CLK of ``l`` bits is ``l // 8`` bytes exactly as clkhash serialises it:
  bit ``i`` of the Bloom filter is bit ``7 - i % 8`` of byte ``i // 8``
  (most significant bit first, bitarray's ``big`` endianness).
* Packed CLKs are ``uint64[n, l // 64]``: the same bytes read as big-endian
  64-bit words, so bit ``i`` is ``(words[i // 64] >> (63 - i % 64)) & 1``.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "ClkBytes",
    "Float64Array",
    "Int64Array",
    "PackedClks",
]

#: CLKs as raw bytes, ``uint8[n, l // 8]``.
ClkBytes: TypeAlias = npt.NDArray[np.uint8]
#: CLKs packed for the matcher, ``uint64[n, l // 64]``.
PackedClks: TypeAlias = npt.NDArray[np.uint64]
Int64Array: TypeAlias = npt.NDArray[np.int64]
Float64Array: TypeAlias = npt.NDArray[np.float64]
