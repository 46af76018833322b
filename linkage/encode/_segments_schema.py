"""The segmented schema: a linkage schema with a ``segments`` block (this project's extension,
docs/quality.md), its defaults, its checks and the word layout of a segmented CLK.

:func:`parse_segmentation` reads the block (its shape declared in
:mod:`linkage.encode._segments_json`, the rules across segments here) into a
:class:`Segmentation` of :class:`SegmentSpec`; :func:`load_segmented_schema` reads a whole
schema with one, :func:`default_segmented_schema` is the shipped default
(:data:`DEFAULT_SEGMENTS`), and :func:`segment_layout` gives the word range of each part.
The encoding itself is :mod:`linkage.encode._segments`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from linkage.encode._defaults import default_schema_text
from linkage.encode._derived import transform_applies_to
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
from linkage.validation import Findings, check

__all__ = [
    "DEFAULT_SEGMENTS",
    "RECORD_PART",
    "SegmentSalt",
    "SegmentSpec",
    "Segmentation",
    "SegmentedSchema",
    "default_segmented_schema",
    "load_segmented_schema",
    "parse_segmentation",
    "segment_layout",
]


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
