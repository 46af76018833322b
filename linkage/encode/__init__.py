"""Linkage schema v3, normalisation, CLK encoding (byte-identical to clkhash 0.18.3) and hardening.

Public API:

* :func:`load_schema` ``(source: str | bytes | Mapping, *, allow_hardening=True) ->
  LinkageSchema`` parses and validates a schema, raising :class:`linkage.errors.SchemaError`
  with one problem per JSON path. Hardened schemas (``"version": "3-hardened-1"`` and a
  ``hardening`` block: :class:`Hardening`, :class:`SaltRule`, :class:`Diffusion`) are this
  project's extension; see docs/hardening.md.
* :func:`schema_fingerprint` ``(schema) -> str``: stable hex digest of the canonical schema
  (the hardening block included).
* :func:`default_schema` ``() -> LinkageSchema``: the shipped, **hardened** schema for the
  project's canonical person features (see :data:`DEFAULT_FEATURES`);
  :func:`plain_schema`: the same features as a plain, clkhash-compatible v3 schema.
* :class:`ClkEncoder` ``(schema, secret: bytes, *, key_epoch: int | None = None)`` with
  ``encode(rows) -> ClkBytes``, ``encode_valid(rows) -> EncodedBatch`` and
  ``encode_record(row) -> bytes``. ``key_epoch`` is required for hardened schemas.
* Hardening keys and primitives: :func:`derive_epoch_secret`, :func:`derive_hardening_key`,
  :class:`Hardener`, :func:`diffusion_taps` ``(key, input_bits, output_bits, taps)``,
  :func:`diffuse_packed` ``(packed, taps) -> PackedClks`` (and :func:`diffuse_reference`),
  :func:`balance_permutation`, :func:`balance_packed`.
* Per-field segment encodings (issue 10, docs/quality.md): :func:`load_segmented_schema`,
  :func:`default_segmented_schema` (the default schema plus :data:`DEFAULT_SEGMENTS`),
  :class:`SegmentedSchema`, :class:`SegmentedEncoder` ``(segmented, secret, *, key_epoch)``
  (``encode`` / ``encode_valid``: record CLK followed by one segment per feature group;
  ``layout``: the :class:`linkage.layout.SegmentLayout`), :func:`segment_layout`.
* :func:`map_ordered`: run picklable per-chunk work on all cores, results in input order.
* Normalisation functions for agency exports (pure): :func:`fold_text`, :func:`normalise_name`,
  :func:`split_last_first`, :func:`parse_date` (:data:`DATE_FORMATS`), :func:`calendar_date`,
  :func:`normalise_sex`, :func:`phone_digits`.
* Built-in placeholders that read as missing (``1900-01-01``, ``UNKNOWN``, ``JOHN DOE``,
  ``HOMELESS``, ``000-000-0000``, ...), kept in one documented list
  (:mod:`linkage.encode._placeholders`): :func:`is_placeholder`, :func:`placeholder_kind`,
  :func:`parse_date_unless_placeholder`, :func:`unidentified_name_parts`.
* :class:`ValueChecker`: the encoder's own checks of a row's values (no secret, no hashing),
  for dry runs that must reject exactly what encoding would.
"""

from linkage.encode._defaults import (
    DEFAULT_FEATURES,
    default_schema,
    default_schema_text,
    plain_schema,
    plain_schema_text,
)
from linkage.encode._diffusion import (
    DiffusionTaps,
    balance_packed,
    balance_permutation,
    diffuse_packed,
    diffuse_reference,
    diffusion_taps,
)
from linkage.encode._encoder import MIN_SECRET_BYTES, ClkEncoder, EncodedBatch, derive_feature_keys
from linkage.encode._hardening import Hardener, derive_epoch_secret, derive_hardening_key
from linkage.encode._normalise import (
    DATE_FORMATS,
    calendar_date,
    fold_text,
    normalise_digits,
    normalise_name,
    normalise_sex,
    parse_date,
    phone_digits,
    split_last_first,
)
from linkage.encode._parallel import map_ordered
from linkage.encode._placeholders import (
    PLACEHOLDER_RULES_VERSION,
    PlaceholderKind,
    is_placeholder,
    parse_date_unless_placeholder,
    placeholder_kind,
    unidentified_name_parts,
)
from linkage.encode._schema import (
    HARDENED_SCHEMA_VERSION,
    RECOMMENDED_MIN_TAPS,
    BitsPerFeature,
    BitsPerToken,
    BlakeHash,
    ClkConfig,
    DateFormat,
    Diffusion,
    DoubleHash,
    EnumFormat,
    ExactComparison,
    Feature,
    Hardening,
    Hashing,
    IgnoredFeature,
    IntegerFormat,
    KdfConfig,
    LinkageSchema,
    MissingValue,
    NgramComparison,
    NumericComparison,
    PatternFormat,
    SaltRule,
    StringFormat,
    load_schema,
    schema_fingerprint,
)
from linkage.encode._segments import SegmentedEncoder
from linkage.encode._segments_schema import (
    DEFAULT_SEGMENTS,
    SegmentedSchema,
    default_segmented_schema,
    load_segmented_schema,
    segment_layout,
)
from linkage.encode._values import RowProblem, ValueChecker, tokenize

__all__ = [
    "DATE_FORMATS",
    "DEFAULT_FEATURES",
    "DEFAULT_SEGMENTS",
    "HARDENED_SCHEMA_VERSION",
    "MIN_SECRET_BYTES",
    "PLACEHOLDER_RULES_VERSION",
    "RECOMMENDED_MIN_TAPS",
    "BitsPerFeature",
    "BitsPerToken",
    "BlakeHash",
    "ClkConfig",
    "ClkEncoder",
    "DateFormat",
    "Diffusion",
    "DiffusionTaps",
    "DoubleHash",
    "EncodedBatch",
    "EnumFormat",
    "ExactComparison",
    "Feature",
    "Hardener",
    "Hardening",
    "Hashing",
    "IgnoredFeature",
    "IntegerFormat",
    "KdfConfig",
    "LinkageSchema",
    "MissingValue",
    "NgramComparison",
    "NumericComparison",
    "PatternFormat",
    "PlaceholderKind",
    "RowProblem",
    "SaltRule",
    "SegmentedEncoder",
    "SegmentedSchema",
    "StringFormat",
    "ValueChecker",
    "balance_packed",
    "balance_permutation",
    "calendar_date",
    "default_schema",
    "default_schema_text",
    "default_segmented_schema",
    "derive_epoch_secret",
    "derive_feature_keys",
    "derive_hardening_key",
    "diffuse_packed",
    "diffuse_reference",
    "diffusion_taps",
    "fold_text",
    "is_placeholder",
    "load_schema",
    "load_segmented_schema",
    "map_ordered",
    "normalise_digits",
    "normalise_name",
    "normalise_sex",
    "parse_date",
    "parse_date_unless_placeholder",
    "phone_digits",
    "placeholder_kind",
    "plain_schema",
    "plain_schema_text",
    "schema_fingerprint",
    "segment_layout",
    "split_last_first",
    "tokenize",
    "unidentified_name_parts",
]
