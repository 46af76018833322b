"""The schema an agency encodes with, of either kind, behind one small typed surface.

An agency's ``[schema] file`` names a record-level schema (plain or hardened: each CLK is
one Bloom filter, :class:`~linkage.encode.ClkEncoder`) or a schema with a ``segments``
block (each CLK is ``record CLK || one segment per feature group``,
:class:`~linkage.encode.SegmentedEncoder`, docs/quality.md). :class:`EncodingSchema`
gives, for both kinds, what the client needs: the fingerprint sent with every CLK, the
CLK length, the feature identifiers and an encoder. Nothing else in the client builds an
encoder or computes a fingerprint.

Pure: no I/O except :func:`load_encoding_schema_file`, which reads one file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Protocol, TypeAlias

from linkage.encode import (
    ClkEncoder,
    EncodedBatch,
    Feature,
    IgnoredFeature,
    LinkageSchema,
    SegmentedEncoder,
    SegmentedSchema,
    default_schema,
    default_segmented_schema,
    load_schema,
    load_segmented_schema,
    plain_schema,
    schema_fingerprint,
    segment_layout,
)
from linkage.errors import ConfigError, Problem, SchemaError
from linkage.layout import SegmentLayout
from linkage.limited_read import MAX_SCHEMA_BYTES, read_limited

__all__ = [
    "BUILTIN_SCHEMA_NAMES",
    "DEFAULT_SCHEMA_NAME",
    "DEFAULT_SEGMENTED_SCHEMA_NAME",
    "PLAIN_SCHEMA_NAME",
    "EncodingSchema",
    "RecordEncoder",
    "SchemaKind",
    "builtin_encoding_schema",
    "load_encoding_schema_file",
    "parse_encoding_schema",
]

#: The shipped hardened person schema (record-level CLKs).
DEFAULT_SCHEMA_NAME: Final = "default"
#: The built-in plain (clkhash-compatible, unhardened) person schema.
PLAIN_SCHEMA_NAME: Final = "plain"
#: The shipped hardened person schema with the default per-field segments.
DEFAULT_SEGMENTED_SCHEMA_NAME: Final = "default-segmented"
BUILTIN_SCHEMA_NAMES: Final = (
    DEFAULT_SCHEMA_NAME,
    PLAIN_SCHEMA_NAME,
    DEFAULT_SEGMENTED_SCHEMA_NAME,
)

SchemaKind: TypeAlias = Literal["plain", "hardened", "segmented"]


class RecordEncoder(Protocol):
    """What the client needs of an encoder (:class:`ClkEncoder` and :class:`SegmentedEncoder`)."""

    @property
    def clk_bytes(self) -> int: ...

    def encode_valid(self, rows: Sequence[Sequence[str | None]]) -> EncodedBatch: ...


@dataclass(frozen=True, slots=True)
class EncodingSchema:
    """A record-level schema, optionally with per-field segments (``segmented``).

    ``schema`` is always the record-level schema: it decides the features, their
    validation and the record CLK. With ``segmented``, ``segmented.schema`` must be it.
    """

    schema: LinkageSchema
    segmented: SegmentedSchema | None = None

    def __post_init__(self) -> None:
        if self.segmented is None:
            return
        if self.segmented.schema != self.schema:
            raise ConfigError("a segmented schema's record part must be its schema")
        if self.schema.length % 64:
            raise SchemaError(
                "the schema's segments block is invalid",
                problems=[
                    Problem(
                        "$.segments",
                        f"needs a record CLK of a multiple of 64 bits, not {self.schema.length}",
                    )
                ],
            )

    @classmethod
    def of(cls, schema: LinkageSchema | SegmentedSchema) -> EncodingSchema:
        """Wrap either kind of schema."""
        if isinstance(schema, SegmentedSchema):
            return cls(schema.schema, schema)
        return cls(schema)

    @property
    def kind(self) -> SchemaKind:
        if self.segmented is not None:
            return "segmented"
        return "plain" if self.schema.hardening is None else "hardened"

    @property
    def fingerprint(self) -> str:
        """What the CLK file header and every upload and lookup carry (64 hex digits)."""
        if self.segmented is not None:
            return self.segmented.fingerprint
        return schema_fingerprint(self.schema)

    @property
    def record_bits(self) -> int:
        """Bits of the record-level CLK (the whole CLK unless segmented)."""
        return self.schema.length

    @property
    def clk_bits(self) -> int:
        """Bits of each CLK: the record CLK plus every segment."""
        if self.segmented is None:
            return self.schema.length
        return self.schema.length + 64 * self.segmented.segmentation.words

    @property
    def clk_bytes(self) -> int:
        return self.clk_bits // 8

    @property
    def features(self) -> tuple[Feature | IgnoredFeature, ...]:
        return tuple(self.schema.features)

    @property
    def identifiers(self) -> tuple[str, ...]:
        return self.schema.identifiers

    @property
    def layout(self) -> SegmentLayout | None:
        """The segmented layout (record first, then each segment), ``None`` if not segmented."""
        if self.segmented is None:
            return None
        return segment_layout(self.schema.length, self.segmented.segmentation)

    def encoder(self, secret: bytes, *, key_epoch: int) -> RecordEncoder:
        """An encoder for this schema: same secret and epoch give the same CLKs anywhere."""
        if self.segmented is not None:
            return SegmentedEncoder(self.segmented, secret, key_epoch=key_epoch)
        return ClkEncoder(self.schema, secret, key_epoch=key_epoch)


def builtin_encoding_schema(name: str) -> EncodingSchema | None:
    """The built-in schema ``name`` (:data:`BUILTIN_SCHEMA_NAMES`), or ``None``."""
    if name == DEFAULT_SCHEMA_NAME:
        return EncodingSchema(default_schema())
    if name == PLAIN_SCHEMA_NAME:
        return EncodingSchema(plain_schema())
    if name == DEFAULT_SEGMENTED_SCHEMA_NAME:
        return EncodingSchema.of(default_segmented_schema())
    return None


def parse_encoding_schema(text: str | bytes) -> EncodingSchema:
    """A schema JSON document: segmented when it holds ``segments``, else record-level.

    :raises SchemaError: with one problem per JSON path.
    """
    try:
        document = json.loads(text)
    except ValueError:
        raise SchemaError(
            "the linkage schema is not valid JSON", problems=[Problem("$", "not valid JSON")]
        ) from None
    if isinstance(document, dict) and "segments" in document:
        return EncodingSchema.of(load_segmented_schema(document))
    return EncodingSchema(load_schema(text))


def load_encoding_schema_file(path: Path) -> EncodingSchema:
    """Read and validate a schema file of either kind (``SchemaError`` names JSON paths)."""
    try:
        text = read_limited(path, MAX_SCHEMA_BYTES, "the schema file")
    except OSError as exc:
        raise ConfigError(f"cannot read the schema file {path.name}: {exc.strerror}") from None
    return parse_encoding_schema(text)
