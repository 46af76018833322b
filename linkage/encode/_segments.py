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
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.encode._defaults import default_schema_text
from linkage.encode._derived import derived_keys, transform_applies_to
from linkage.encode._diffusion import diffuse_packed, diffusion_taps
from linkage.encode._encoder import MIN_SECRET_BYTES, ClkEncoder, EncodedBatch, tokenize
from linkage.encode._schema import (
    DateFormat,
    EnumFormat,
    Feature,
    IgnoredFeature,
    IntegerFormat,
    LinkageSchema,
    load_schema,
    schema_fingerprint,
)
from linkage.encode._segments_json import (
    RECORD_PART,
    BloomSegmentDocument,
    KeySegmentDocument,
    SegmentItem,
    SegmentSaltDocument,
    SegmentsDocument,
)
from linkage.errors import InvalidInputError, Problem, SchemaError
from linkage.layout import SegmentLayout, SegmentRange
from linkage.types import ClkBytes
from linkage.validation import Findings, check

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


def _default_segment(name: str, features: list[str], bits: int = 128) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": name,
        "features": features,
        "filterBits": 1024,
        "bitsPerToken": 10,
        "bits": bits,
    }
    if name in ("given_name", "surname"):
        item["keyGroup"] = "names"
    return item


def _key_segment_spec(name: str, feature: str, transform: str, keys: int) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "keys",
        "features": [feature],
        "transform": transform,
        "keys": keys,
    }


#: The segments block of :func:`default_segmented_schema`: one segment per feature group of
#: the default person features, each a 1024-bit filter diffused (t = 10) to 128 bits (sex
#: to 64), given name and surname in one key group; then the derived keys
#: (:mod:`linkage.encode._derived`): the given name's nickname set, sorted letters and
#: initial, the surname's parts and sorted letters, the date of birth with day and month
#: sorted.
#: docs/quality.md measures it.
DEFAULT_SEGMENTS: Final[dict[str, Any]] = {
    "diffusion": {"t": 10},
    "fields": [
        _default_segment("given_name", ["given_name"]),
        _default_segment("middle_name", ["middle_name"]),
        _default_segment("surname", ["surname"]),
        _default_segment("date_of_birth", ["date_of_birth"]),
        _default_segment("sex", ["sex"], 64),
        _default_segment("phone", ["phone"]),
        _default_segment("street", ["street_address", "address_line_2"]),
        _default_segment("locality", ["suburb", "postcode", "state"]),
        _key_segment_spec("given_key", "given_name", "nicknames", 4),
        _key_segment_spec("given_letters", "given_name", "sorted-letters", 1),
        _key_segment_spec("surname_key", "surname", "name-parts", 3),
        _key_segment_spec("surname_letters", "surname", "sorted-letters", 1),
        _key_segment_spec("dob_key", "date_of_birth", "day-month-sorted", 1),
        _key_segment_spec("given_initial", "given_name", "initial", 1),
    ],
}


@dataclass(frozen=True, slots=True)
class SegmentSalt:
    """Salt a segment's tokens with ``value[start:end]`` of feature ``salt_from``'s value."""

    salt_from: str
    start: int = 0
    end: int | None = None


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    """One feature group's segment: a Bloom filter (``kind="bloom"``) or derived keys
    (``kind="keys"``: ``transform`` and ``bits = 64 * keys``)."""

    name: str
    features: tuple[str, ...]
    filter_bits: int
    bits_per_token: int
    bits: int
    salt: SegmentSalt | None = None
    key_group: str | None = None
    kind: str = "bloom"
    transform: str | None = None

    @property
    def key_name(self) -> str:
        """The name its keys derive from: the key group, else the segment's own name."""
        return self.name if self.key_group is None else self.key_group

    @property
    def keys(self) -> int:
        """Words of a key segment (0 for a Bloom segment)."""
        return self.bits // 64 if self.kind == "keys" else 0


@dataclass(frozen=True, slots=True)
class Segmentation:
    """The ``segments`` block of a schema: the groups and the per-segment diffusion."""

    fields: tuple[SegmentSpec, ...]
    diffusion_taps: int | None = None

    def to_json_dict(self) -> dict[str, Any]:
        fields = []
        for spec in self.fields:
            item: dict[str, Any]
            if spec.kind == "keys":
                item = {
                    "name": spec.name,
                    "kind": "keys",
                    "features": list(spec.features),
                    "transform": spec.transform,
                    "keys": spec.keys,
                }
            else:
                item = {
                    "name": spec.name,
                    "features": list(spec.features),
                    "filterBits": spec.filter_bits,
                    "bitsPerToken": spec.bits_per_token,
                    "bits": spec.bits,
                }
            if spec.salt is not None:
                salt: dict[str, Any] = {"saltFrom": spec.salt.salt_from, "start": spec.salt.start}
                if spec.salt.end is not None:
                    salt["end"] = spec.salt.end
                item["salt"] = salt
            if spec.key_group is not None:
                item["keyGroup"] = spec.key_group
            fields.append(item)
        out: dict[str, Any] = {"fields": fields}
        if self.diffusion_taps is not None:
            out["diffusion"] = {"t": self.diffusion_taps}
        return out

    @property
    def words(self) -> int:
        return sum(spec.bits // 64 for spec in self.fields)


def parse_segmentation(
    block: object, features: Sequence[Feature | IgnoredFeature], path: str = "$.segments"
) -> Segmentation:
    """Validate a ``segments`` block against the schema's features: its shape by
    :class:`~linkage.encode._segments_json.SegmentsDocument`, the rules across segments here.

    :raises SchemaError: with one problem per JSON path.
    """
    known = {f.identifier: f for f in features if isinstance(f, Feature)}
    context = {"features": {name: _format_type(feature) for name, feature in known.items()}}
    prefix = tuple(path.split("."))
    parsed, problems = check(SegmentsDocument, block, prefix=prefix, style="json", context=context)
    findings = Findings(problems)
    specs: list[SegmentSpec] = []
    taps: int | None = None
    if parsed is not None:
        taps = None if parsed.diffusion is None else parsed.diffusion.t
        for index, item in enumerate(parsed.fields):
            spec = _segment_spec(item, f"{path}.fields[{index}]", known, taps, path, findings)
            if spec is not None:
                specs.append(spec)
        _check_segments(specs, path, findings)
    if findings or parsed is None:
        raise SchemaError("the schema's segments block is invalid", problems=findings.problems)
    return Segmentation(tuple(specs), taps)


def _salt(
    document: SegmentSaltDocument | None, where: str, findings: Findings
) -> SegmentSalt | None:
    if document is None:
        return None
    if document.end is not None and document.end <= document.start:
        findings.add(Problem(f"{where}.salt.end", f"must be an integer >= {document.start + 1}"))
    return SegmentSalt(document.salt_from, document.start, document.end)


def _segment_spec(
    item: SegmentItem,
    where: str,
    known: Mapping[str, Feature],
    taps: int | None,
    path: str,
    findings: Findings,
) -> SegmentSpec | None:
    if not isinstance(item, KeySegmentDocument | BloomSegmentDocument):
        return None  # never: validation refused it
    salt = _salt(item.salt, where, findings)
    if isinstance(item, KeySegmentDocument):
        (feature,) = item.features
        if not transform_applies_to(item.transform, _format_type(known[feature])):
            findings.add(
                Problem(f"{where}.transform", f"does not apply to the feature {feature}'s format")
            )
        return SegmentSpec(
            item.name,
            (feature,),
            filter_bits=64 * item.keys,
            bits_per_token=1,
            bits=64 * item.keys,
            salt=salt,
            kind="keys",
            transform=item.transform,
        )
    if taps is None and item.bits != item.filter_bits:
        findings.add(Problem(f"{where}.bits", "must equal filterBits without diffusion"))
    if taps is not None and taps > item.filter_bits:
        findings.add(Problem(f"{path}.diffusion.t", "exceeds a segment's filterBits"))
    return SegmentSpec(
        item.name,
        tuple(item.features),
        item.filter_bits,
        item.bits_per_token,
        item.bits,
        salt,
        item.key_group,
    )


def _check_segments(specs: Sequence[SegmentSpec], path: str, findings: Findings) -> None:
    """Unique names; a key group's segments alike and named apart from every segment."""
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        findings.add(Problem(f"{path}.fields", "segment names must be unique"))
    groups: dict[str, SegmentSpec] = {}
    for index, spec in enumerate(specs):
        if spec.key_group is None or spec.kind != "bloom":
            continue
        if spec.key_group in names:
            findings.add(
                Problem(f"{path}.fields[{index}].keyGroup", "must differ from every segment name")
            )
        first = groups.setdefault(spec.key_group, spec)
        shape = (spec.filter_bits, spec.bits_per_token, spec.bits, spec.salt)
        if shape != (first.filter_bits, first.bits_per_token, first.bits, first.salt):
            findings.add(
                Problem(
                    f"{path}.fields[{index}].keyGroup",
                    "segments of one key group need equal filterBits, bitsPerToken, bits, salt",
                )
            )


def _format_type(feature: Feature) -> str:
    fmt = feature.format
    if isinstance(fmt, DateFormat):
        return "date"
    if isinstance(fmt, IntegerFormat):
        return "integer"
    if isinstance(fmt, EnumFormat):
        return "enum"
    return "string"


@dataclass(frozen=True, slots=True)
class SegmentedSchema:
    """A linkage schema with a ``segments`` block."""

    schema: LinkageSchema
    segmentation: Segmentation

    @property
    def fingerprint(self) -> str:
        """Digest of the schema's fingerprint and the canonical segments block."""
        canonical = json.dumps(
            {
                "schema": schema_fingerprint(self.schema),
                "segments": self.segmentation.to_json_dict(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_segmented_schema(source: str | bytes | Mapping[str, Any]) -> SegmentedSchema:
    """Parse a schema whose JSON holds a ``segments`` block (see the module docstring)."""
    if isinstance(source, str | bytes):
        try:
            document = json.loads(source)
        except ValueError:
            raise SchemaError(
                "the linkage schema is not valid JSON", problems=[Problem("$", "not valid JSON")]
            ) from None
    else:
        document = dict(source)
    if not isinstance(document, dict) or "segments" not in document:
        raise SchemaError("no segments", problems=[Problem("$.segments", "is required")])
    rest = {key: value for key, value in document.items() if key != "segments"}
    schema = load_schema(rest)
    return SegmentedSchema(schema, parse_segmentation(document["segments"], schema.features))


def default_segmented_schema() -> SegmentedSchema:
    """The shipped hardened default schema with :data:`DEFAULT_SEGMENTS`."""
    document = json.loads(default_schema_text())
    document["segments"] = json.loads(json.dumps(DEFAULT_SEGMENTS))
    return load_segmented_schema(document)


def segment_layout(record_bits: int, segmentation: Segmentation) -> SegmentLayout:
    """The layout of ``record CLK || segment 1 || segment 2 ...`` (record first)."""
    if record_bits <= 0 or record_bits % 64:
        raise InvalidInputError("the record CLK must be a positive multiple of 64 bits")
    word = record_bits // 64
    fields = []
    for spec in segmentation.fields:
        fields.append(SegmentRange(spec.name, word, word + spec.bits // 64))
        word += spec.bits // 64
    specs = segmentation.fields
    swaps = tuple(
        (a.name, b.name)
        for i, a in enumerate(specs)
        for b in specs[i + 1 :]
        if a.key_group is not None and a.key_group == b.key_group and a.kind == b.kind == "bloom"
    )
    return SegmentLayout(
        fields=tuple(fields),
        total_words=word,
        record=SegmentRange(RECORD_PART, 0, record_bits // 64),
        swaps=swaps,
        key_sets=tuple(spec.name for spec in specs if spec.kind == "keys"),
    )


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
