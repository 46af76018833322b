"""The diffusion layer and balancing on packed CLKs: keyed tap choice and the XOR kernels.

Diffusion (Armknecht, Heng and Schnell, PoPETs 2023): output bit ``j`` is the XOR of the
``t`` input bits ``taps[j, 0..t-1]``, ``t`` distinct positions chosen by a secret key.
Balancing (Schnell and Borgs 2016): the filter followed by its complement, the ``2 l``
bits then permuted by a secret key, so every CLK has exactly ``l`` bits set.

Everything here is pure: a key and sizes in, a mapping out; packed arrays in, packed
arrays out (``uint64[n, bits // 64]``, big-endian words, see :mod:`linkage.types`).

The keyed choices come from a BLAKE2b counter-mode stream, not from numpy's random
generators, whose streams numpy does not promise to keep across versions: every agency
must derive exactly the same mapping from the same key, whatever it has installed.
Uniform integers below ``n`` are drawn by rejection (no modulo bias).

:func:`diffuse_packed` is the numba kernel; :func:`diffuse_reference` is the plain numpy
version with the same signature and result, kept for tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

from linkage.errors import InvalidInputError
from linkage.types import PackedClks

__all__ = [
    "DiffusionTaps",
    "balance_packed",
    "balance_permutation",
    "diffuse_packed",
    "diffuse_reference",
    "diffusion_taps",
    "keyed_integers",
]

#: ``int64[output_bits, t]``: the input positions XORed into each output bit.
DiffusionTaps = npt.NDArray[np.int64]

_BLOCK_BYTES: Final = 64
_WORD: Final = 1 << 32
_F = TypeVar("_F", bound=Callable[..., Any])


def _jit(function: _F) -> _F:
    """``numba.njit`` (serial: encoders already run one per core), typed for mypy."""
    decorator = numba.njit(cache=True, nogil=True, boundscheck=False)
    return cast(_F, decorator(function))


def _stream_words(key: bytes, label: bytes) -> Iterator[int]:
    """An endless stream of 32-bit words: BLAKE2b(key, person=label) over a block counter."""
    if not key:
        raise InvalidInputError("a keyed stream needs a non-empty key")
    if len(label) > 16:
        raise InvalidInputError("a keyed stream label is at most 16 bytes")
    counter = 0
    while True:
        block = hashlib.blake2b(
            counter.to_bytes(8, "big"),
            key=key[:64],
            person=label,
            digest_size=_BLOCK_BYTES,
        ).digest()
        counter += 1
        for offset in range(0, _BLOCK_BYTES, 4):
            yield int.from_bytes(block[offset : offset + 4], "big")


def keyed_integers(key: bytes, label: bytes) -> Callable[[int], int]:
    """A function ``below(n)`` returning the next uniform integer in ``[0, n)`` of a keyed stream.

    Deterministic: the same key and label always give the same sequence.
    """
    words = _stream_words(key, label)

    def below(n: int) -> int:
        if not 0 < n <= _WORD:
            raise InvalidInputError("a keyed integer bound must be in [1, 2**32]")
        limit = _WORD - _WORD % n
        while True:
            word = next(words)
            if word < limit:
                return word % n

    return below


def diffusion_taps(key: bytes, input_bits: int, output_bits: int, taps: int) -> DiffusionTaps:
    """The diffusion mapping of a key: ``int64[output_bits, taps]`` distinct input positions.

    A function of its arguments alone (no data, no global state). Each row holds ``taps``
    distinct positions in ``[0, input_bits)``, in the order they were drawn.
    """
    if input_bits < 1 or output_bits < 1:
        raise InvalidInputError("diffusion needs at least one input and one output bit")
    if not 1 <= taps <= input_bits:
        raise InvalidInputError(f"diffusion taps must be in [1, {input_bits}]")
    below = keyed_integers(key, b"diffusion-taps")
    out = np.empty((output_bits, taps), dtype=np.int64)
    for row in range(output_bits):
        chosen: list[int] = []
        while len(chosen) < taps:
            position = below(input_bits)
            if position not in chosen:
                chosen.append(position)
        out[row] = chosen
    out.setflags(write=False)
    return out


def balance_permutation(key: bytes, bits: int) -> npt.NDArray[np.int64]:
    """A keyed permutation of ``range(2 * bits)`` (Fisher-Yates), for balancing."""
    if bits < 1:
        raise InvalidInputError("balancing needs at least one bit")
    below = keyed_integers(key, b"balance-perm")
    order = list(range(2 * bits))
    for i in range(len(order) - 1, 0, -1):
        j = below(i + 1)
        order[i], order[j] = order[j], order[i]
    permutation = np.array(order, dtype=np.int64)
    permutation.setflags(write=False)
    return permutation


def _check(packed: PackedClks, taps: DiffusionTaps) -> tuple[PackedClks, DiffusionTaps]:
    array = np.ascontiguousarray(packed, dtype=np.uint64)
    if array.ndim != 2:
        raise InvalidInputError("packed CLKs must be a 2-D uint64 array")
    table = np.ascontiguousarray(taps, dtype=np.int64)
    if table.ndim != 2 or table.shape[0] % 64 or table.shape[0] == 0 or table.shape[1] == 0:
        raise InvalidInputError("taps must be int64[output_bits, t] with output_bits % 64 == 0")
    if table.size and (table.min() < 0 or table.max() >= array.shape[1] * 64):
        raise InvalidInputError("a tap lies outside the input CLK")
    return array, table


@_jit
def _diffuse_kernel(
    packed: PackedClks, words: npt.NDArray[np.int64], shifts: npt.NDArray[np.uint64]
) -> PackedClks:  # pragma: no cover (compiled; its Python twin is diffuse_reference)
    n = packed.shape[0]
    out_bits, t = words.shape
    out = np.zeros((n, out_bits // 64), dtype=np.uint64)
    one = np.uint64(1)
    for r in range(n):
        row = packed[r]
        for out_word in range(out_bits // 64):
            acc = np.uint64(0)
            for b in range(64):
                j = out_word * 64 + b
                x = np.uint64(0)
                for s in range(t):
                    x ^= row[words[j, s]] >> shifts[j, s]
                acc |= (x & one) << np.uint64(63 - b)
            out[r, out_word] = acc
    return out


def diffuse_packed(packed: PackedClks, taps: DiffusionTaps) -> PackedClks:
    """Diffuse packed CLKs: output bit ``j`` of each row is the XOR of its bits ``taps[j]``.

    ``uint64[n, w]`` in, ``uint64[n, len(taps) // 64]`` out (big-endian bit order).
    """
    array, table = _check(packed, taps)
    words = np.ascontiguousarray(table >> 6)
    shifts = np.ascontiguousarray((63 - (table & 63)).astype(np.uint64))
    return _diffuse_kernel(array, words, shifts)


def diffuse_reference(packed: PackedClks, taps: DiffusionTaps) -> PackedClks:
    """:func:`diffuse_packed` in plain numpy (unpack, gather, XOR, pack), for tests."""
    array, table = _check(packed, taps)
    bits = np.unpackbits(array.astype(">u8").view(np.uint8), axis=1, bitorder="big")
    out = np.zeros((array.shape[0], table.shape[0]), dtype=np.uint8)
    for column in range(table.shape[1]):
        out ^= bits[:, table[:, column]]
    packed_bytes = np.packbits(out, axis=1, bitorder="big")
    return np.ascontiguousarray(packed_bytes).view(">u8").astype(np.uint64)


def balance_packed(packed: PackedClks, permutation: npt.NDArray[np.int64]) -> PackedClks:
    """``uint64[n, w]`` -> ``uint64[n, 2w]``: bit ``j`` is bit ``permutation[j]`` of ``x || ~x``."""
    array = np.ascontiguousarray(packed, dtype=np.uint64)
    if array.ndim != 2 or permutation.shape != (2 * array.shape[1] * 64,):
        raise InvalidInputError("the balance permutation must cover the filter and its complement")
    doubled = np.concatenate([array, ~array], axis=1)
    return diffuse_packed(doubled, permutation.reshape(-1, 1))
