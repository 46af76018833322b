"""The JSON document of a linkage schema v3 (plain or hardened), one pydantic model per object.

The models describe the document as written, with clkhash's key names (``clkConfig``,
``keySize``, ``xor_folds``, ``bitsPerToken`` ...) and the same strictness as before:
unknown keys are errors at every level, JSON's types are not coerced (``"5"`` is not an
integer, ``true`` is not a number), and each object that comes in several kinds is a
tagged union (a feature format by its ``type``, a string with a ``pattern`` apart, ...).
The ranges a JSON Schema states per key (``minimum``, ``multipleOf``) are stated here;
rules across keys and objects are the domain model's (:mod:`linkage.encode._schema`).
:func:`linkage.encode.load_schema` validates a document with :func:`linkage.validation.check`,
which names every problem by its JSON path (``$.features[3].hashing.strategy``).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Discriminator, Field, PlainValidator, Tag, field_validator, model_validator

from linkage.validation import Table

__all__ = [
    "DEFAULT_KEY_SIZE",
    "FeatureDocument",
    "HardeningDocument",
    "JsonObject",
    "NotAnObject",
    "SchemaDocument",
    "tag_of",
]

DEFAULT_KEY_SIZE = 64


class JsonObject(Table):
    """An object of the schema document: unknown keys are errors, types are strict."""


def _base64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        # Same (lenient) decoding as clkhash, which uses base64.b64decode.
        return base64.b64decode(value)
    except (binascii.Error, ValueError):
        raise ValueError("must be base64-encoded bytes") from None


Base64Bytes: TypeAlias = Annotated[bytes, PlainValidator(_base64)]
Encoding: TypeAlias = Literal["ascii", "utf-8", "utf-16", "utf-32"]


def _any(value: object) -> object:
    return value


#: A value whose kind the reader itself checks (``version``: 3 or "3-hardened-1").
AnyValue: TypeAlias = Annotated[object, PlainValidator(_any)]


def tag_of(value: object, key: str, tags: tuple[str, ...]) -> str:
    """The member of a tagged union a value names by its ``key``: ``"invalid"`` for one
    that names none (a model that says what ``key`` must be)."""
    if isinstance(value, dict):
        kind = value.get(key)
        if isinstance(kind, str) and kind in tags:
            return kind
    return "invalid" if isinstance(value, dict) else "not-an-object"


class NotAnObject(JsonObject):
    """Stands in for a union member where the value is not an object at all."""


# -- clkConfig ---------------------------------------------------------------------------


class KdfDocument(JsonObject):
    """``clkConfig.kdf``."""

    type: Literal["HKDF"]
    hash: Literal["SHA256", "SHA512"] = "SHA256"
    salt: Base64Bytes | None = None
    info: Base64Bytes | None = None
    key_size: int = Field(default=DEFAULT_KEY_SIZE, alias="keySize", ge=1)


class ClkConfigDocument(JsonObject):
    """``clkConfig``. clkhash folds by ``xor_folds`` and ignores the documented
    ``xorFolds``; both are read, and the reader refuses them when they disagree."""

    length: int = Field(alias="l", ge=8, multiple_of=8)
    kdf: KdfDocument
    xor_folds: int = Field(default=0, ge=0)
    xor_folds_documented: int | None = Field(default=None, alias="xorFolds", ge=0)


# -- formats -----------------------------------------------------------------------------


class StringFormatDocument(JsonObject):
    type: Literal["string"]
    encoding: Encoding = "utf-8"
    case: Literal["upper", "lower", "mixed"] = "mixed"
    min_length: int | None = Field(default=None, alias="minLength", ge=0)
    max_length: int | None = Field(default=None, alias="maxLength", ge=1)
    description: str | None = None


class PatternFormatDocument(JsonObject):
    """A string format with a ``pattern`` (which takes no case or length)."""

    type: Literal["string"]
    encoding: Encoding = "utf-8"
    pattern: str
    description: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error:
            raise ValueError("is not a valid regular expression") from None
        return pattern


class IntegerFormatDocument(JsonObject):
    type: Literal["integer"]
    minimum: int | None = None
    maximum: int | None = None
    description: str | None = None


class DateFormatDocument(JsonObject):
    type: Literal["date"]
    format: str
    description: str | None = None


class EnumFormatDocument(JsonObject):
    type: Literal["enum"]
    values: list[str] = Field(description="an array of strings")
    description: str | None = None


class InvalidFormat(JsonObject):
    """A format whose ``type`` is none of the four."""

    model_config = JsonObject.model_config | {"extra": "ignore"}

    type: Literal["string", "integer", "date", "enum"]


def _format_tag(value: object) -> str:
    tag = tag_of(value, "type", ("string", "integer", "date", "enum"))
    if tag == "string" and isinstance(value, dict) and "pattern" in value:
        return "pattern"
    return tag


FormatDocument: TypeAlias = Annotated[
    Annotated[StringFormatDocument, Tag("string")]
    | Annotated[PatternFormatDocument, Tag("pattern")]
    | Annotated[IntegerFormatDocument, Tag("integer")]
    | Annotated[DateFormatDocument, Tag("date")]
    | Annotated[EnumFormatDocument, Tag("enum")]
    | Annotated[InvalidFormat, Tag("invalid")]
    | Annotated[NotAnObject, Tag("not-an-object")],
    Discriminator(_format_tag),
]


# -- hashing -----------------------------------------------------------------------------


class NgramDocument(JsonObject):
    type: Literal["ngram"]
    n: int = Field(ge=1)
    positional: bool = False


class ExactDocument(JsonObject):
    type: Literal["exact"]


class NumericDocument(JsonObject):
    type: Literal["numeric"]
    threshold_distance: float = Field(alias="thresholdDistance", gt=0, allow_inf_nan=False)
    resolution: int = Field(ge=1)
    fractional_precision: int = Field(default=0, ge=0)


class InvalidComparison(JsonObject):
    model_config = JsonObject.model_config | {"extra": "ignore"}

    type: Literal["ngram", "exact", "numeric"]


ComparisonDocument: TypeAlias = Annotated[
    Annotated[NgramDocument, Tag("ngram")]
    | Annotated[ExactDocument, Tag("exact")]
    | Annotated[NumericDocument, Tag("numeric")]
    | Annotated[InvalidComparison, Tag("invalid")]
    | Annotated[NotAnObject, Tag("not-an-object")],
    Discriminator(lambda value: tag_of(value, "type", ("ngram", "exact", "numeric"))),
]


class StrategyDocument(JsonObject):
    """Exactly one of ``bitsPerToken`` and ``bitsPerFeature``."""

    bits_per_token: int | None = Field(default=None, alias="bitsPerToken", ge=1)
    bits_per_feature: int | None = Field(default=None, alias="bitsPerFeature", ge=1)

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        if isinstance(value, dict):
            given = [k for k in ("bitsPerToken", "bitsPerFeature") if k in value]
            if len(given) != 1:
                raise ValueError("must hold exactly one of bitsPerToken, bitsPerFeature")
        return value


class BlakeHashDocument(JsonObject):
    type: Literal["blakeHash"]
    prevent_singularity: AnyValue | None = None

    @field_validator("prevent_singularity")
    @classmethod
    def _double_hash_only(cls, value: object) -> object:
        raise ValueError("may only be given with doubleHash")


class DoubleHashDocument(JsonObject):
    type: Literal["doubleHash"]
    prevent_singularity: bool = False


class InvalidHash(JsonObject):
    model_config = JsonObject.model_config | {"extra": "ignore"}

    type: Literal["blakeHash", "doubleHash"]


HashDocument: TypeAlias = Annotated[
    Annotated[BlakeHashDocument, Tag("blakeHash")]
    | Annotated[DoubleHashDocument, Tag("doubleHash")]
    | Annotated[InvalidHash, Tag("invalid")]
    | Annotated[NotAnObject, Tag("not-an-object")],
    Discriminator(lambda value: tag_of(value, "type", ("blakeHash", "doubleHash"))),
]


class MissingValueDocument(JsonObject):
    sentinel: str
    replace_with: str | None = Field(default=None, alias="replaceWith")


class HashingDocument(JsonObject):
    comparison: ComparisonDocument
    strategy: StrategyDocument
    hash: HashDocument | None = None
    missing_value: MissingValueDocument | None = Field(default=None, alias="missingValue")


# -- features ----------------------------------------------------------------------------


class FeatureDocument(JsonObject):
    """A hashed feature (``"ignored": true`` with format and hashing: ignored, as clkhash)."""

    identifier: str
    description: str | None = None
    ignored: bool = False
    format: FormatDocument
    hashing: HashingDocument


class IgnoredFeatureDocument(JsonObject):
    """A column present in rows but never hashed."""

    identifier: str
    ignored: Literal[True]
    description: str | None = None


def _feature_tag(value: object) -> str:
    if not isinstance(value, dict):
        return "not-an-object"
    plain_ignore = value.get("ignored") is True and "format" not in value
    return "ignored" if plain_ignore and "hashing" not in value else "feature"


FeatureItem: TypeAlias = Annotated[
    Annotated[FeatureDocument, Tag("feature")]
    | Annotated[IgnoredFeatureDocument, Tag("ignored")]
    | Annotated[NotAnObject, Tag("not-an-object")],
    Discriminator(_feature_tag),
]


# -- hardening ---------------------------------------------------------------------------


class SaltRuleDocument(JsonObject):
    feature: str
    salt_from: str = Field(alias="saltFrom")
    start: int = Field(default=0, ge=0)
    end: int | None = Field(default=None, ge=1)


class DiffusionDocument(JsonObject):
    output_bits: int = Field(default=1024, alias="outputBits", ge=64, multiple_of=64)
    t: int = Field(default=10, ge=1)


class HardeningDocument(JsonObject):
    salting: list[SaltRuleDocument] = Field(default_factory=list)
    balance: bool = False
    diffusion: DiffusionDocument | None = None


class SchemaDocument(JsonObject):
    """A linkage schema v3 document, or a hardened one (``version`` "3-hardened-1" and a
    ``hardening`` block; whether the version allows the block is the reader's check)."""

    version: AnyValue
    clk_config: ClkConfigDocument = Field(alias="clkConfig")
    features: list[FeatureItem] = Field(
        min_length=1, description="an array of at least one feature"
    )
    hardening: HardeningDocument | None = None
