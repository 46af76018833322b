"""Linkage schema v3, as clkhash 0.18.3 defines and interprets it.

The model is a tree of frozen dataclasses built by :func:`load_schema`, which
collects *every* problem it finds (each named by its JSON path, e.g.
``$.features[2].hashing.strategy``) and raises one :class:`SchemaError`.

Where clkhash's JSON schema is loose, this reader is stricter, on purpose:

The document's shape is declared by pydantic models in :mod:`linkage.encode._schema_json`
(clkhash's JSON Schema route, with models instead of a schema file); the parts are the
dataclasses of :mod:`linkage.encode._schema_parts`, each checking its own fields; the rules
across keys and objects are :mod:`linkage.encode._schema_checks`; the way back to JSON (and
so the fingerprint) is :mod:`linkage.encode._schema_dump`. This module holds the schema
itself and the parsing.

* unknown keys are errors at every level (a typo such as ``prevent_singularty``
  would otherwise silently change the encoding; and extensions such as the
  later hardening block must be rejected clearly by a plain v3 reader);
* ``xorFolds`` is documented by clkhash's master schema but *ignored* by its
  code, which folds by ``xor_folds``. We honour ``xor_folds`` exactly as
  clkhash does and accept ``xorFolds`` only when it agrees with it, so a schema
  never encodes differently here and in clkhash;
* combinations that make clkhash fail at encoding time (a BLAKE2 key longer
  than 64 bytes, a non power-of-two filter with ``blakeHash``, more key
  material than HKDF can produce, a numeric comparison whose threshold rounds
  to zero) are schema errors here;
* feature identifiers must be unique, the CLK length a whole number of bytes.

Hardened schemas (this project's extension, see docs/hardening.md) declare
``"version": "3-hardened-1"`` and a ``hardening`` block (per-record salting,
balancing, a diffusion layer). A plain v3 reader cannot misread one: clkhash
refuses the version ("not supported"), and ``load_schema(..., allow_hardening=False)``
refuses it naming ``$.version``. A ``hardening`` block under ``"version": 3`` is an
error, because a lax v3 reader would ignore it and encode unhardened CLKs. The
block takes part in the canonical JSON and so in the fingerprint; plain schemas
keep exactly the canonical JSON and fingerprint they always had.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from linkage.encode._schema_checks import check_whole
from linkage.encode._schema_dump import dump_schema
from linkage.encode._schema_json import (
    BlakeHashDocument,
    ComparisonDocument,
    DateFormatDocument,
    DoubleHashDocument,
    EnumFormatDocument,
    ExactDocument,
    FeatureDocument,
    FeatureItem,
    FormatDocument,
    HashDocument,
    IgnoredFeatureDocument,
    IntegerFormatDocument,
    NgramDocument,
    NumericDocument,
    PatternFormatDocument,
    SchemaDocument,
    StringFormatDocument,
)
from linkage.encode._schema_parts import (
    HARDENED_SCHEMA_VERSION,
    RECOMMENDED_MIN_TAPS,
    SCHEMA_VERSION,
    BitsPerFeature,
    BitsPerToken,
    BlakeHash,
    ClkConfig,
    Comparison,
    DateFormat,
    Diffusion,
    DoubleHash,
    EnumFormat,
    ExactComparison,
    Feature,
    FeatureFormat,
    Hardening,
    HashFunction,
    Hashing,
    IgnoredFeature,
    IntegerFormat,
    KdfConfig,
    MissingValue,
    NgramComparison,
    NumericComparison,
    PatternFormat,
    SaltRule,
    Strategy,
    StringFormat,
)
from linkage.errors import Problem, SchemaError
from linkage.validation import Findings, check

__all__ = [
    "HARDENED_SCHEMA_VERSION",
    "RECOMMENDED_MIN_TAPS",
    "BitsPerFeature",
    "BitsPerToken",
    "BlakeHash",
    "ClkConfig",
    "Comparison",
    "DateFormat",
    "Diffusion",
    "DoubleHash",
    "EnumFormat",
    "ExactComparison",
    "Feature",
    "FeatureFormat",
    "Hardening",
    "HashFunction",
    "Hashing",
    "IgnoredFeature",
    "IntegerFormat",
    "KdfConfig",
    "LinkageSchema",
    "MissingValue",
    "NgramComparison",
    "NumericComparison",
    "PatternFormat",
    "SaltRule",
    "Strategy",
    "StringFormat",
    "load_schema",
    "schema_fingerprint",
]


@dataclass(frozen=True, slots=True)
class LinkageSchema:
    """A validated linkage schema v3, hardened when ``hardening`` is set."""

    clk_config: ClkConfig
    features: tuple[Feature | IgnoredFeature, ...]
    version: int = SCHEMA_VERSION
    hardening: Hardening | None = None

    def __post_init__(self) -> None:
        problems = check_whole(self)
        if problems:
            raise SchemaError("the linkage schema is invalid", problems=problems)

    @property
    def identifiers(self) -> tuple[str, ...]:
        return tuple(f.identifier for f in self.features)

    @property
    def length(self) -> int:
        """Length in bits of the CLKs this schema produces (after any hardening)."""
        hardening = self.hardening
        if hardening is not None and hardening.diffusion is not None:
            return hardening.diffusion.output_bits
        if hardening is not None and hardening.balance:
            return 2 * self.clk_config.length
        return self.clk_config.length

    @property
    def bloom_length(self) -> int:
        """Length in bits of the Bloom filter after XOR folding, before balance and diffusion."""
        return self.clk_config.length

    @property
    def is_hardened(self) -> bool:
        return self.hardening is not None

    @property
    def version_marker(self) -> int | str:
        """The JSON ``version``: ``3``, or ``"3-hardened-1"`` for a hardened schema."""
        return HARDENED_SCHEMA_VERSION if self.hardening is not None else self.version

    def to_json_dict(self) -> dict[str, Any]:
        """The schema as clkhash-compatible JSON with every default written out."""
        return dump_schema(self, with_descriptions=True)

    def canonical_json(self) -> str:
        """Canonical JSON: defaults filled in, descriptions dropped, keys sorted."""
        return json.dumps(
            dump_schema(self, with_descriptions=False),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )


def schema_fingerprint(schema: LinkageSchema) -> str:
    """A stable SHA-256 hex digest of the schema's canonical JSON (never of a secret).

    Two schemas that encode identically up to descriptions have the same
    fingerprint, whether defaults are written out or not.
    """
    payload = b"linkage-schema-fingerprint/1\n" + schema.canonical_json().encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


# --------------------------------------------------------------------------- parsing


def load_schema(
    source: str | bytes | Mapping[str, Any], *, allow_hardening: bool = True
) -> LinkageSchema:
    """Parse and validate a linkage schema v3 (or a hardened one) from JSON or a parsed object.

    The document's shape and types are checked by its pydantic models
    (:mod:`linkage.encode._schema_json`), the rules across keys and objects by the
    :class:`LinkageSchema` built from it. With ``allow_hardening=False`` this is a strict
    plain-v3 reader: a hardened schema is refused at ``$.version`` rather than read as
    something else.

    :raises SchemaError: with one :class:`Problem` per problem, each naming its JSON path.
    """
    if isinstance(source, str | bytes):
        try:
            document: object = json.loads(source)
        except (ValueError, UnicodeDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            where = f"line {line}" if line is not None else "$"
            raise SchemaError(
                "the linkage schema is not valid JSON",
                problems=[Problem(where, "not valid JSON")],
            ) from None
    else:
        document = source
    parsed, problems = check(SchemaDocument, document, prefix=("$",), style="json")
    findings = Findings(problems)
    hardened = _check_version(document, allow_hardening, findings)
    schema = None
    # the rules across objects also run past problems that were dropped to go on, unless
    # one is in clkConfig, whose settings every other rule depends on
    if parsed is not None and not any(p.location.startswith("$.clkConfig") for p in problems):
        schema = _schema_of(parsed, hardened and allow_hardening, findings)
    if findings or schema is None:
        raise SchemaError("the linkage schema is invalid", problems=findings.problems)
    return schema


def _check_version(document: object, allow_hardening: bool, findings: Findings) -> bool:
    """Whether the document declares the hardened version; its ``version`` and whether
    that version allows a ``hardening`` block are checked here."""
    if not isinstance(document, Mapping) or "version" not in document:
        return False
    version = document["version"]
    hardened: bool = version == HARDENED_SCHEMA_VERSION
    if hardened and not allow_hardening:
        findings.add(
            Problem(
                "$.version",
                f"{HARDENED_SCHEMA_VERSION!r} is a hardened schema (linkage schema v3 plus "
                "a hardening block); this reader accepts only plain linkage schema v3",
            )
        )
    elif not hardened and (isinstance(version, bool) or version != SCHEMA_VERSION):
        findings.add(
            Problem(
                "$.version",
                f"must be {SCHEMA_VERSION} (linkage schema v3)"
                + (f" or {HARDENED_SCHEMA_VERSION!r} (hardened)" if allow_hardening else ""),
            )
        )
    if "hardening" in document and not hardened:
        findings.add(
            Problem(
                "$.hardening",
                f'is only allowed with "version": "{HARDENED_SCHEMA_VERSION}"; under version 3 '
                "a plain reader would ignore it and encode unhardened CLKs",
            )
        )
    elif hardened and "hardening" not in document:
        findings.add(
            Problem("$.hardening", f"is required with version {HARDENED_SCHEMA_VERSION!r}")
        )
    return hardened


def _schema_of(
    document: SchemaDocument, hardened: bool, findings: Findings
) -> LinkageSchema | None:
    clk = document.clk_config
    if clk.xor_folds_documented is not None and clk.xor_folds_documented != clk.xor_folds:
        findings.add(
            Problem(
                "$.clkConfig.xorFolds",
                "clkhash 0.18.3 ignores 'xorFolds' and folds by 'xor_folds'; "
                "set 'xor_folds' to the same value so that both encoders agree",
            )
        )
        return None
    kdf = clk.kdf
    clk_config = ClkConfig(
        length=clk.length,
        kdf=KdfConfig(hash=kdf.hash, salt=kdf.salt, info=kdf.info, key_size=kdf.key_size),
        xor_folds=clk.xor_folds,
    )
    features = tuple(_feature_of(item) for item in document.features)
    hardening = None
    if hardened and document.hardening is not None:
        block = document.hardening
        diffusion = block.diffusion
        hardening = Hardening(
            salting=tuple(
                SaltRule(feature=r.feature, salt_from=r.salt_from, start=r.start, end=r.end)
                for r in block.salting
            ),
            balance=block.balance,
            diffusion=None
            if diffusion is None
            else Diffusion(output_bits=diffusion.output_bits, taps=diffusion.t),
        )
    return findings.build(
        lambda: LinkageSchema(clk_config=clk_config, features=features, hardening=hardening)
    )


def _feature_of(item: FeatureItem) -> Feature | IgnoredFeature:
    if isinstance(item, IgnoredFeatureDocument) or (
        isinstance(item, FeatureDocument) and item.ignored
    ):
        # clkhash treats a fully specified feature with "ignored": true as ignored.
        return IgnoredFeature(identifier=item.identifier, description=item.description)
    if not isinstance(item, FeatureDocument):
        raise TypeError("not a feature")  # never: validation refused it
    hashing = item.hashing
    strategy: Strategy = (
        BitsPerToken(hashing.strategy.bits_per_token)
        if hashing.strategy.bits_per_token is not None
        else BitsPerFeature(hashing.strategy.bits_per_feature or 0)
    )
    missing = hashing.missing_value
    return Feature(
        identifier=item.identifier,
        format=_format_of(item.format),
        hashing=Hashing(
            comparison=_comparison_of(hashing.comparison),
            strategy=strategy,
            hash=_hash_of(hashing.hash),
            missing_value=None
            if missing is None
            else MissingValue(sentinel=missing.sentinel, replace_with=missing.replace_with),
        ),
        description=item.description,
    )


def _format_of(document: FormatDocument) -> FeatureFormat:
    if isinstance(document, StringFormatDocument):
        return StringFormat(
            encoding=document.encoding,
            case=document.case,
            min_length=document.min_length,
            max_length=document.max_length,
        )
    if isinstance(document, PatternFormatDocument):
        return PatternFormat(pattern=document.pattern, encoding=document.encoding)
    if isinstance(document, IntegerFormatDocument):
        return IntegerFormat(minimum=document.minimum, maximum=document.maximum)
    if isinstance(document, DateFormatDocument):
        return DateFormat(format=document.format)
    if isinstance(document, EnumFormatDocument):
        return EnumFormat(values=tuple(document.values))
    raise TypeError("not a format")  # never: validation refused it


def _comparison_of(document: ComparisonDocument) -> Comparison:
    if isinstance(document, NgramDocument):
        return NgramComparison(n=document.n, positional=document.positional)
    if isinstance(document, ExactDocument):
        return ExactComparison()
    if isinstance(document, NumericDocument):
        return NumericComparison(
            threshold_distance=document.threshold_distance,
            resolution=document.resolution,
            fractional_precision=document.fractional_precision,
        )
    raise TypeError("not a comparison")  # never: validation refused it


def _hash_of(document: HashDocument | None) -> HashFunction:
    if document is None or isinstance(document, BlakeHashDocument):
        return BlakeHash()
    if isinstance(document, DoubleHashDocument):
        return DoubleHash(prevent_singularity=document.prevent_singularity)
    raise TypeError("not a hash function")  # never: validation refused it
