"""The ``segments`` block of a segmented schema's JSON, one pydantic model per object.

The models check shapes, types and per-key ranges, and, through the validation context
(``{"features": {identifier: format type}}``: the schema's hashed features), that each
segment names hashed features of the schema. Rules across segments (unique names, key
groups, the diffusion's taps against each filter) are
:func:`linkage.encode._segments.parse_segmentation`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, Literal, TypeAlias

from pydantic import AfterValidator, Discriminator, Field, Tag, ValidationInfo, field_validator

from linkage.encode._derived import TRANSFORMS
from linkage.encode._schema_json import JsonObject, NotAnObject, tag_of

__all__ = [
    "MAX_FILTER_BITS",
    "MAX_KEYS",
    "RECORD_PART",
    "SEGMENT_KINDS",
    "BloomSegmentDocument",
    "KeySegmentDocument",
    "SegmentSaltDocument",
    "SegmentsDocument",
]

#: The name of the record-level CLK part in a segmented layout.
RECORD_PART: Final = "record"
MAX_FILTER_BITS: Final = 1 << 20
#: The most words (keys) a key segment may hold.
MAX_KEYS: Final = 8
SEGMENT_KINDS: Final = ("bloom", "keys")


def _hashed_features(info: ValidationInfo) -> Mapping[str, str]:
    """The schema's hashed features and their format types, from the validation context."""
    context = info.context if isinstance(info.context, Mapping) else {}
    features = context.get("features", {})
    return features if isinstance(features, Mapping) else {}


def _segment_name(name: str) -> str:
    if not name.isidentifier() or name == RECORD_PART:
        raise ValueError(f"must be an identifier other than {RECORD_PART!r}")
    return name


#: A segment's name: an identifier, not the record part's.
SegmentName: TypeAlias = Annotated[
    str,
    AfterValidator(_segment_name),
    Field(description=f"an identifier other than {RECORD_PART!r}"),
]


class SegmentSaltDocument(JsonObject):
    """``salt``: salt a segment's tokens with ``value[start:end]`` of another feature."""

    salt_from: str = Field(alias="saltFrom")
    start: int = Field(default=0, ge=0)
    end: int | None = Field(default=None, ge=1)

    @field_validator("salt_from")
    @classmethod
    def _hashed(cls, name: str, info: ValidationInfo) -> str:
        if name not in _hashed_features(info):
            raise ValueError("must name a hashed feature")
        return name


class BloomSegmentDocument(JsonObject):
    """A Bloom-filter segment of one feature group (``"kind": "bloom"``, the default)."""

    name: SegmentName
    kind: Literal["bloom"] = "bloom"
    features: list[str] = Field(description="an array of distinct hashed features of the schema")
    filter_bits: int = Field(alias="filterBits", ge=64, le=MAX_FILTER_BITS, multiple_of=64)
    bits_per_token: int = Field(alias="bitsPerToken", ge=1)
    bits: int = Field(ge=64, multiple_of=64)
    salt: SegmentSaltDocument | None = None
    key_group: str | None = Field(default=None, alias="keyGroup")

    @field_validator("features")
    @classmethod
    def _distinct_hashed(cls, group: list[str], info: ValidationInfo) -> list[str]:
        known = _hashed_features(info)
        if not group or len(set(group)) != len(group) or any(f not in known for f in group):
            raise ValueError("must list distinct hashed features of the schema")
        return group

    @field_validator("key_group")
    @classmethod
    def _identifier(cls, group: str | None) -> str | None:
        if group is not None and not group.isidentifier():
            raise ValueError("must be an identifier")
        return group


_TRANSFORM_NAMES: Final = ", ".join(sorted(TRANSFORMS))


class KeySegmentDocument(JsonObject):
    """A segment of derived keys (``"kind": "keys"``): ``keys`` words of one feature."""

    name: SegmentName
    kind: Literal["keys"]
    features: list[str] = Field(description="an array of exactly one hashed feature")
    transform: str = Field(description=f"one of {_TRANSFORM_NAMES}")
    keys: int = Field(description=f"an integer in [1, {MAX_KEYS}]", ge=1, le=MAX_KEYS)
    salt: SegmentSaltDocument | None = None

    @field_validator("features")
    @classmethod
    def _one_hashed(cls, group: list[str], info: ValidationInfo) -> list[str]:
        if len(group) != 1 or group[0] not in _hashed_features(info):
            raise ValueError("must list exactly one hashed feature")
        return group

    @field_validator("transform")
    @classmethod
    def _known(cls, transform: str) -> str:
        if transform not in TRANSFORMS:
            raise ValueError(f"must be one of {_TRANSFORM_NAMES}")
        return transform


class InvalidSegment(JsonObject):
    """A segment whose ``kind`` is neither."""

    model_config = JsonObject.model_config | {"extra": "ignore"}

    kind: Literal["bloom", "keys"] = Field(description="one of " + ", ".join(SEGMENT_KINDS))


def _segment_tag(value: object) -> str:
    if isinstance(value, dict) and "kind" not in value:
        return "bloom"
    return tag_of(value, "kind", SEGMENT_KINDS)


SegmentItem: TypeAlias = Annotated[
    Annotated[BloomSegmentDocument, Tag("bloom")]
    | Annotated[KeySegmentDocument, Tag("keys")]
    | Annotated[InvalidSegment, Tag("invalid")]
    | Annotated[NotAnObject, Tag("not-an-object")],
    Discriminator(_segment_tag),
]


class SegmentDiffusionDocument(JsonObject):
    """``diffusion``: every segment's filter diffused with ``t`` taps per output bit."""

    t: int = Field(ge=1)


class SegmentsDocument(JsonObject):
    """The ``segments`` block."""

    fields: list[SegmentItem] = Field(min_length=1, description="a non-empty array")
    diffusion: SegmentDiffusionDocument | None = None
