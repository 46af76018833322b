"""Key derivation for hardened schemas, and the post-filter hardening steps.

For a *plain* v3 schema nothing here is used: the per-feature keys are clkhash's
``HKDF(secret, schema salt, schema info)`` and the key epoch is metadata only, so plain
CLKs stay byte-identical to clkhash 0.18.3.

For a *hardened* schema the key epoch is part of every key:

* the per-feature keys are clkhash's derivation applied to the **epoch secret**
  ``HKDF-SHA256(secret, salt="linkage/epoch-secret/1", info="key-epoch:" || epoch)``;
* the **hardening key** (balance permutation, diffusion taps) is
  ``HKDF-SHA256(secret, salt="linkage/hardening-key/1",
  info="key-epoch:" || epoch || ";schema:" || fingerprint)``,

so CLKs of different epochs, and of differently hardened schemas, never compare: their
filters and their diffusion mappings are unrelated. ``epoch`` is 8 bytes, big-endian.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.encode._diffusion import (
    DiffusionTaps,
    balance_packed,
    balance_permutation,
    diffuse_packed,
    diffusion_taps,
)
from linkage.encode._schema import Hardening, LinkageSchema, schema_fingerprint
from linkage.errors import InvalidInputError
from linkage.types import ClkBytes, PackedClks

__all__ = ["Hardener", "derive_epoch_secret", "derive_hardening_key"]

_KEY_BYTES: Final = 64
_EPOCH_SALT: Final = b"linkage/epoch-secret/1"
_HARDENING_SALT: Final = b"linkage/hardening-key/1"


def _epoch_bytes(key_epoch: int) -> bytes:
    if isinstance(key_epoch, bool) or not isinstance(key_epoch, int) or key_epoch < 0:
        raise InvalidInputError("the key epoch must be an integer >= 0")
    if key_epoch >= 1 << 63:
        raise InvalidInputError("the key epoch must be below 2**63")
    return key_epoch.to_bytes(8, "big")


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=_KEY_BYTES, salt=salt, info=info).derive(secret)


def derive_epoch_secret(secret: bytes, key_epoch: int) -> bytes:
    """The secret a hardened schema derives its per-feature keys from (64 bytes)."""
    return _hkdf(secret, _EPOCH_SALT, b"key-epoch:" + _epoch_bytes(key_epoch))


def derive_hardening_key(secret: bytes, key_epoch: int, schema: LinkageSchema) -> bytes:
    """The key of the balance permutation and the diffusion taps (64 bytes)."""
    info = (
        b"key-epoch:"
        + _epoch_bytes(key_epoch)
        + b";schema:"
        + schema_fingerprint(schema).encode("ascii")
    )
    return _hkdf(secret, _HARDENING_SALT, info)


def _fuse(
    permutation: npt.NDArray[np.int64], taps: DiffusionTaps, bits: int
) -> tuple[DiffusionTaps, PackedClks]:
    """Balance-then-diffuse as one diffusion of the filter itself, plus constant flips.

    Balanced bit ``p`` is filter bit ``q = permutation[p]`` if ``q < bits``, else the
    complement of filter bit ``q - bits``; a complement inside an XOR is the bit XOR 1. So
    output bit ``j`` is the XOR of filter bits ``permutation[taps[j]] mod bits``, flipped
    when an odd number of those taps fell on the complement half. (A bit and its own
    complement both tapped cancel to 1, which the same rule yields.) This equals
    :func:`balance_packed` followed by :func:`diffuse_packed`, at the cost of diffusion only.
    """
    balanced_positions = permutation[taps]
    fused = balanced_positions % bits
    odd = (balanced_positions >= bits).sum(axis=1) % 2
    flips = np.packbits(odd.astype(np.uint8), bitorder="big").view(">u8").astype(np.uint64)
    return fused, flips.reshape(1, -1)


class Hardener:
    """Applies a hardened schema's balance and diffusion steps to Bloom-filter bytes.

    Built once per encoder (drawing the taps costs a few milliseconds); :meth:`apply` is
    vectorised over a whole batch. Salting happens earlier, while hashing.
    """

    def __init__(self, schema: LinkageSchema, secret: bytes, key_epoch: int) -> None:
        hardening = schema.hardening
        if hardening is None:
            raise InvalidInputError("the schema declares no hardening")
        self.hardening: Hardening = hardening
        self.input_bits = schema.bloom_length
        self.output_bits = schema.length
        key = derive_hardening_key(secret, key_epoch, schema)
        self.permutation: np.ndarray | None = None
        diffused_bits = self.input_bits
        if hardening.balance:
            self.permutation = balance_permutation(key, self.input_bits)
            diffused_bits = 2 * self.input_bits
        self.taps: DiffusionTaps | None = None
        self._fused: tuple[DiffusionTaps, PackedClks] | None = None
        if hardening.diffusion is not None:
            self.taps = diffusion_taps(
                key, diffused_bits, hardening.diffusion.output_bits, hardening.diffusion.taps
            )
            if self.permutation is not None:
                self._fused = _fuse(self.permutation, self.taps, self.input_bits)

    @property
    def transforms(self) -> bool:
        """Whether :meth:`apply` changes anything (salting-only schemas do not)."""
        return self.permutation is not None or self.taps is not None

    def apply(self, filters: ClkBytes) -> ClkBytes:
        """``uint8[n, bloom_length // 8]`` filters -> ``uint8[n, length // 8]`` CLKs."""
        if not self.transforms:
            return filters
        if filters.ndim != 2 or filters.shape[1] * 8 != self.input_bits:
            raise InvalidInputError("the filters do not have the schema's filter length")
        n = filters.shape[0]
        if n == 0:
            return np.zeros((0, self.output_bits // 8), dtype=np.uint8)
        packed = np.ascontiguousarray(filters).view(">u8").astype(np.uint64)
        if self._fused is not None:
            taps, flips = self._fused
            packed = diffuse_packed(packed, taps) ^ flips
        else:
            if self.permutation is not None:
                packed = balance_packed(packed, self.permutation)
            if self.taps is not None:
                packed = diffuse_packed(packed, self.taps)
        out: ClkBytes = np.ascontiguousarray(packed.astype(">u8")).view(np.uint8)
        return out
