"""Per-field encodings: one Bloom-filter segment per feature group, besides the record CLK.

A schema may declare ``segments`` (this project's extension, see docs/quality.md): feature
groups such as the names, the date of birth, the sex, the address or the phone, each
encoded into a Bloom filter of its own. The encoder then emits, per record, one bit array:
the record-level CLK followed by every segment, each a whole number of 64-bit words, so
the matcher computes a vector of per-segment Dice scores in one pass over packed records
(:mod:`linkage.probabilistic`). :func:`segment_layout` gives the word range of each part.

The JSON block::

    "segments": {
      "diffusion": {"t": 10},                 # optional: diffuse every segment
      "fields": [
        {"name": "surname", "features": ["surname"], "filterBits": 1024,
         "bitsPerToken": 12, "bits": 128,
         "salt": {"saltFrom": "date_of_birth", "start": 0, "end": 4},    # optional
         "keyGroup": "names"},                                           # optional
        ...
      ]
    }

How a segment is encoded, for one record:

* each feature of the group yields its tokens exactly as in the record-level CLK (the
  feature's format, missing-value rule and comparison: n-grams, exact or numeric);
* each token sets ``bitsPerToken`` bits of a ``filterBits``-bit filter, at positions drawn
  from ``BLAKE2b(key=segment key, feature || salt || token)``; the segment key is
  ``HKDF-SHA256(secret, salt="linkage/segment-key/1", info="key-epoch:" || epoch ||
  ";segment:" || name)``, so segments share no bits with the record CLK or each other,
  and segments of different key epochs never compare;
* salting (optional): the salt is a slice of another feature's formatted value (the year
  of birth), as the hardening block's salting rules do;
* key groups (optional): segments with the same ``keyGroup`` (e.g. given name and
  surname) take their keys from the group's name instead of their own and hash tokens
  without the feature's name, so one record's given name compares with another's
  surname: the layout lists them as ``swaps`` and the matcher catches transposed names.
  They must agree on ``filterBits``, ``bitsPerToken``, ``bits`` and ``salt``;
* diffusion (optional): output bit ``j`` is the XOR of ``t`` filter bits chosen by a key
  derived like the segment key (label ``linkage/segment-diffusion/1``); ``bits`` output
  bits (without diffusion ``bits`` must equal ``filterBits``);
* a group whose features are all missing gives an **all-zero** segment, whatever the
  hardening: the matcher reads it as "missing", never as disagreement. (A present segment
  always has bits set: a Bloom filter by construction; a diffused one but with
  probability ``2**-bits``.)

Key segments (``"kind": "keys"``) carry derived comparison keys instead of a Bloom filter::

    {"name": "given_key", "kind": "keys", "features": ["given_name"],
     "transform": "nicknames", "keys": 4}

The transform (:mod:`linkage.encode._derived`: ``nicknames``, ``sorted-letters``,
``name-parts``, ``day-month-sorted``) maps the formatted value to a set of strings; each
string becomes one 64-bit word ``BLAKE2b(key=segment key, salt || string)`` (never 0), the
words sorted ascending and the rest of the ``keys`` words zero. The matcher reads two key
segments as agreeing when they share a word (the layout lists them as ``key_sets``); all
zero is missing. A key segment is as hard to invert as an identical-value Bloom segment:
equal values give equal words, unequal ones unrelated words, and nothing without the key.

The segmented schema (the ``segments`` block, its defaults and the layout) is
:mod:`linkage.encode._segments_schema`; its names are re-exported here, where they were
first defined.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Final

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.encode._derived import derived_keys
from linkage.encode._diffusion import diffuse_packed, diffusion_taps
from linkage.encode._encoder import MIN_SECRET_BYTES, ClkEncoder, EncodedBatch
from linkage.encode._schema import (
    DateFormat,
    Feature,
    IntegerFormat,
    LinkageSchema,
)
from linkage.encode._segments_schema import (
    DEFAULT_SEGMENTS,
    RECORD_PART,
    Segmentation,
    SegmentedSchema,
    SegmentSalt,
    SegmentSpec,
    default_segmented_schema,
    load_segmented_schema,
    parse_segmentation,
    segment_layout,
)
from linkage.encode._values import tokenize
from linkage.errors import InvalidInputError
from linkage.types import ClkBytes

__all__ = [
    "DEFAULT_SEGMENTS",
    "RECORD_PART",
    "SegmentEncoder",
    "SegmentSalt",
    "SegmentSpec",
    "Segmentation",
    "SegmentedEncoder",
    "SegmentedSchema",
    "default_segmented_schema",
    "load_segmented_schema",
    "parse_segmentation",
    "segment_layout",
]

_KEY_SALT: Final = b"linkage/segment-key/1"
_DIFFUSION_SALT: Final = b"linkage/segment-diffusion/1"


def _segment_key(secret: bytes, key_epoch: int, name: str, label: bytes) -> bytes:
    if (
        isinstance(key_epoch, bool)
        or not isinstance(key_epoch, int)
        or not 0 <= key_epoch < 1 << 63
    ):
        raise InvalidInputError("the key epoch must be an integer in [0, 2**63)")
    info = b"key-epoch:" + key_epoch.to_bytes(8, "big") + b";segment:" + name.encode("utf-8")
    return HKDF(algorithm=hashes.SHA256(), length=64, salt=label, info=info).derive(secret)


@lru_cache(maxsize=65536)
def _format_date(value: str, date_format: str) -> str:
    return datetime.strptime(value, date_format).strftime("%Y%m%d")


def _formatted(feature: Feature, value: str | None) -> str:
    """The value as the record CLK tokenises it (the row must be valid for the schema)."""
    missing = feature.hashing.missing_value
    if value is None:
        value = "" if missing is None else missing.sentinel
    if missing is not None and value == missing.sentinel:
        return missing.replacement
    fmt = feature.format
    if not value:
        return value
    if isinstance(fmt, DateFormat):
        return _format_date(value, fmt.format)
    if isinstance(fmt, IntegerFormat):
        return str(int(value, base=10))
    return value


class _SegmentCodec:
    """Hashes one segment's tokens; caches each (feature, value, salt) -> bit mask."""

    def __init__(self, spec: SegmentSpec, key: bytes) -> None:
        self.spec = spec
        self._base = hashlib.blake2b(key=key, digest_size=64)
        self._cache: dict[tuple[int, str, str], int] = {}

    def mask(self, feature_index: int, feature: Feature, formatted: str, salt: str) -> int:
        cache_key = (feature_index, formatted, salt)
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached
        top = self.spec.filter_bits - 1
        # in a key group, tokens are hashed without the feature's name (comparable across)
        label = "" if self.spec.key_group is not None else feature.identifier
        prefix = (
            label.encode("utf-8")
            + b"\x00"
            + len(salt.encode("utf-8")).to_bytes(2, "big")
            + salt.encode("utf-8")
        )
        mask = 0
        for token in tokenize(feature, formatted):
            for index in self._indices(prefix + token.encode("utf-8")):
                mask |= 1 << (top - index)
        if len(self._cache) >= 1 << 17:
            self._cache.clear()
        self._cache[cache_key] = mask
        return mask

    def key_word(self, key: str, salt: str) -> int:
        """A derived key's 64-bit word (never 0)."""
        encoded_salt = salt.encode("utf-8")
        digest = self._base.copy()
        digest.update(
            b"key\x00" + len(encoded_salt).to_bytes(2, "big") + encoded_salt + key.encode("utf-8")
        )
        return int.from_bytes(digest.digest()[:8], "big") or 1

    def _indices(self, data: bytes) -> list[int]:
        out: list[int] = []
        counter = 0
        while len(out) < self.spec.bits_per_token:
            digest = self._base.copy()
            digest.update(counter.to_bytes(4, "big") + data)
            block = digest.digest()
            out.extend(
                int.from_bytes(block[i : i + 4], "big") % self.spec.filter_bits
                for i in range(0, 64, 4)
            )
            counter += 1
        return out[: self.spec.bits_per_token]


class SegmentEncoder:
    """Encodes the segments of valid rows (rows as :class:`ClkEncoder` takes them).

    Rows must already be valid for the schema (encode them with :class:`SegmentedEncoder`,
    which validates with the record-level encoder first). Not thread-safe.
    """

    def __init__(
        self, schema: LinkageSchema, segmentation: Segmentation, secret: bytes, *, key_epoch: int
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise InvalidInputError(f"the linkage secret must be at least {MIN_SECRET_BYTES} bytes")
        self.segmentation = segmentation
        position = {f.identifier: i for i, f in enumerate(schema.features)}
        self._width = len(schema.features)
        self._groups: list[
            tuple[_SegmentCodec, list[tuple[int, Feature]], tuple[int, Feature] | None]
        ] = []
        self._taps: list[np.ndarray | None] = []
        for spec in segmentation.fields:
            codec = _SegmentCodec(spec, _segment_key(secret, key_epoch, spec.key_name, _KEY_SALT))
            members = []
            for name in spec.features:
                feature = schema.features[position[name]]
                assert isinstance(feature, Feature)
                members.append((position[name], feature))
            salt_source: tuple[int, Feature] | None = None
            if spec.salt is not None:
                source = schema.features[position[spec.salt.salt_from]]
                assert isinstance(source, Feature)
                salt_source = (position[spec.salt.salt_from], source)
            self._groups.append((codec, members, salt_source))
            if segmentation.diffusion_taps is not None and spec.kind == "bloom":
                key = _segment_key(secret, key_epoch, spec.key_name, _DIFFUSION_SALT)
                self._taps.append(
                    diffusion_taps(key, spec.filter_bits, spec.bits, segmentation.diffusion_taps)
                )
            else:
                self._taps.append(None)

    @property
    def segment_bytes(self) -> int:
        return self.segmentation.words * 8

    def encode(self, rows: Sequence[Sequence[str | None]]) -> ClkBytes:
        """``uint8[len(rows), segment_bytes]``: every segment of every row, in order."""
        n = len(rows)
        parts: list[np.ndarray] = []
        for index, (codec, members, salt_source) in enumerate(self._groups):
            spec = codec.spec
            if spec.kind == "keys":
                parts.append(self._encode_keys(codec, members, salt_source, rows))
                continue
            out = bytearray()
            present = np.zeros(n, dtype=bool)
            for row_index, row in enumerate(rows):
                if len(row) != self._width:
                    raise InvalidInputError(
                        f"rows[{row_index}] has {len(row)} values, the schema {self._width}"
                    )
                salt = ""
                if salt_source is not None and spec.salt is not None:
                    source_value = _formatted(salt_source[1], row[salt_source[0]])
                    salt = source_value[spec.salt.start : spec.salt.end]
                mask = 0
                for position, feature in members:
                    formatted = _formatted(feature, row[position])
                    if formatted:
                        mask |= codec.mask(position, feature, formatted, salt)
                present[row_index] = mask != 0
                out += mask.to_bytes(spec.filter_bits // 8, "big")
            filters = np.frombuffer(bytes(out), dtype=np.uint8).reshape(n, spec.filter_bits // 8)
            packed = np.ascontiguousarray(filters).view(">u8").astype(np.uint64)
            taps = self._taps[index]
            if taps is not None and n:
                packed = diffuse_packed(packed, taps)
            packed[~present] = 0
            parts.append(packed)
        if not parts or n == 0:
            return np.zeros((n, self.segment_bytes), dtype=np.uint8)
        joined = np.concatenate(parts, axis=1)
        result: ClkBytes = np.ascontiguousarray(joined.astype(">u8")).view(np.uint8)
        return result

    def _encode_keys(
        self,
        codec: _SegmentCodec,
        members: list[tuple[int, Feature]],
        salt_source: tuple[int, Feature] | None,
        rows: Sequence[Sequence[str | None]],
    ) -> np.ndarray:
        """``uint64[n, keys]``: each row's derived keys, hashed, sorted, zero-padded."""
        spec = codec.spec
        assert spec.transform is not None
        out = np.zeros((len(rows), spec.keys), dtype=np.uint64)
        position, feature = members[0]
        for row_index, row in enumerate(rows):
            if len(row) != self._width:
                raise InvalidInputError(
                    f"rows[{row_index}] has {len(row)} values, the schema {self._width}"
                )
            formatted = _formatted(feature, row[position])
            if not formatted:
                continue
            salt = ""
            if salt_source is not None and spec.salt is not None:
                salt = _formatted(salt_source[1], row[salt_source[0]])[
                    spec.salt.start : spec.salt.end
                ]
            keys = derived_keys(spec.transform, formatted, spec.keys)
            words = sorted({codec.key_word(key, salt) for key in keys})
            out[row_index, : len(words)] = words
        return out


class SegmentedEncoder:
    """Record CLK and segments in one bit array per record (``record || segments``)."""

    def __init__(self, segmented: SegmentedSchema, secret: bytes, *, key_epoch: int) -> None:
        self.schema = segmented
        self.record_encoder = ClkEncoder(segmented.schema, secret, key_epoch=key_epoch)
        self.segment_encoder = SegmentEncoder(
            segmented.schema, segmented.segmentation, secret, key_epoch=key_epoch
        )
        self.layout = segment_layout(self.record_encoder.clk_bytes * 8, segmented.segmentation)

    @property
    def clk_bytes(self) -> int:
        return self.layout.total_words * 8

    def encode_valid(self, rows: Sequence[Sequence[str | None]]) -> EncodedBatch:
        batch = self.record_encoder.encode_valid(rows)
        accepted = [rows[i] for i in batch.accepted.tolist()]
        segments = self.segment_encoder.encode(accepted)
        clks = np.ascontiguousarray(np.concatenate([batch.clks, segments], axis=1))
        return EncodedBatch(clks=clks, accepted=batch.accepted, problems=batch.problems)

    def encode(self, rows: Sequence[Sequence[str | None]]) -> ClkBytes:
        """Every row (:class:`linkage.errors.RowError` if any is invalid)."""
        record = self.record_encoder.encode(rows)
        return np.ascontiguousarray(
            np.concatenate([record, self.segment_encoder.encode(rows)], axis=1)
        )
