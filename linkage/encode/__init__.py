"""Linkage schema v3, normalisation and CLK encoding (byte-identical to clkhash 0.18.3).

Public API:

* :func:`load_schema` ``(source: str | bytes | Mapping) -> LinkageSchema`` parses and
  validates a schema, raising :class:`linkage.errors.SchemaError` with one problem per
  JSON path.
* :func:`schema_fingerprint` ``(schema) -> str``: stable hex digest of the canonical schema.
* :func:`default_schema` ``() -> LinkageSchema``: the shipped schema for the project's
  canonical person features (see :data:`DEFAULT_FEATURES`).
* :class:`ClkEncoder` ``(schema, secret: bytes)`` with ``encode(rows) -> ClkBytes``,
  ``encode_valid(rows) -> EncodedBatch`` and ``encode_record(row) -> bytes``.
* :func:`map_ordered`: run picklable per-chunk work on all cores, results in input order.
* Normalisation functions for agency exports (pure): :func:`fold_text`, :func:`normalise_name`,
  :func:`split_last_first`, :func:`parse_date`, :func:`normalise_sex`, :func:`phone_digits`.
"""

from linkage.encode._defaults import DEFAULT_FEATURES, default_schema, default_schema_text
from linkage.encode._encoder import (
    MIN_SECRET_BYTES,
    ClkEncoder,
    EncodedBatch,
    RowProblem,
    derive_feature_keys,
    tokenize,
)
from linkage.encode._normalise import (
    DATE_FORMATS,
    fold_text,
    normalise_digits,
    normalise_name,
    normalise_sex,
    parse_date,
    phone_digits,
    split_last_first,
)
from linkage.encode._parallel import map_ordered
from linkage.encode._schema import (
    BitsPerFeature,
    BitsPerToken,
    BlakeHash,
    ClkConfig,
    DateFormat,
    DoubleHash,
    EnumFormat,
    ExactComparison,
    Feature,
    Hashing,
    IgnoredFeature,
    IntegerFormat,
    KdfConfig,
    LinkageSchema,
    MissingValue,
    NgramComparison,
    NumericComparison,
    PatternFormat,
    StringFormat,
    load_schema,
    schema_fingerprint,
)

__all__ = [
    "DATE_FORMATS",
    "DEFAULT_FEATURES",
    "MIN_SECRET_BYTES",
    "BitsPerFeature",
    "BitsPerToken",
    "BlakeHash",
    "ClkConfig",
    "ClkEncoder",
    "DateFormat",
    "DoubleHash",
    "EncodedBatch",
    "EnumFormat",
    "ExactComparison",
    "Feature",
    "Hashing",
    "IgnoredFeature",
    "IntegerFormat",
    "KdfConfig",
    "LinkageSchema",
    "MissingValue",
    "NgramComparison",
    "NumericComparison",
    "PatternFormat",
    "RowProblem",
    "StringFormat",
    "default_schema",
    "default_schema_text",
    "derive_feature_keys",
    "fold_text",
    "load_schema",
    "map_ordered",
    "normalise_digits",
    "normalise_name",
    "normalise_sex",
    "parse_date",
    "phone_digits",
    "schema_fingerprint",
    "split_last_first",
    "tokenize",
]
