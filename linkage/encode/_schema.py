"""Linkage schema v3, as clkhash 0.18.3 defines and interprets it.

The model is a tree of frozen dataclasses built by :func:`load_schema`, which
collects *every* problem it finds (each named by its JSON path, e.g.
``$.features[2].hashing.strategy``) and raises one :class:`SchemaError`.

Where clkhash's JSON schema is loose, this reader is stricter, on purpose:

The document's shape is declared by pydantic models in :mod:`linkage.encode._schema_json`
(clkhash's JSON Schema route, with models instead of a schema file); the rules across keys
and objects are the model's own checks below.

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

import base64
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from linkage.encode._schema_json import (
    DEFAULT_KEY_SIZE,
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

SCHEMA_VERSION: Final = 3
#: The ``version`` of a hardened schema: linkage schema v3 plus the ``hardening`` block, v1.
HARDENED_SCHEMA_VERSION: Final = "3-hardened-1"
#: The smallest number of XORed inputs per diffused bit that the project recommends.
RECOMMENDED_MIN_TAPS: Final = 8
_BLAKE2B_MAX_KEY: Final = 64
_HKDF_DIGEST_SIZE: Final = {"SHA256": 32, "SHA512": 64}
_ENCODINGS: Final = ("ascii", "utf-8", "utf-16", "utf-32")
_CASES: Final = ("upper", "lower", "mixed")

Encoding: TypeAlias = Literal["ascii", "utf-8", "utf-16", "utf-32"]
KdfHash: TypeAlias = Literal["SHA256", "SHA512"]
Case: TypeAlias = Literal["upper", "lower", "mixed"]


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, slots=True)
class KdfConfig:
    """HKDF settings: hash, optional salt and info (raw bytes) and key size."""

    hash: KdfHash = "SHA256"
    salt: bytes | None = None
    info: bytes | None = None
    key_size: int = DEFAULT_KEY_SIZE

    def __post_init__(self) -> None:
        if self.hash not in _HKDF_DIGEST_SIZE:
            raise SchemaError("invalid KDF", problems=[Problem("$.clkConfig.kdf.hash", "unknown")])
        if self.key_size < 1:
            raise SchemaError(
                "invalid KDF", problems=[Problem("$.clkConfig.kdf.keySize", "must be >= 1")]
            )


@dataclass(frozen=True, slots=True)
class ClkConfig:
    """CLK-wide settings: ``length`` is the CLK length in bits after folding."""

    length: int
    kdf: KdfConfig
    xor_folds: int = 0

    def __post_init__(self) -> None:
        if self.length < 8 or self.length % 8:
            raise SchemaError(
                "invalid clkConfig",
                problems=[Problem("$.clkConfig.l", "must be a positive multiple of 8")],
            )
        if self.xor_folds < 0:
            raise SchemaError(
                "invalid clkConfig", problems=[Problem("$.clkConfig.xor_folds", "must be >= 0")]
            )

    @property
    def hash_length(self) -> int:
        """Length in bits of the filter before XOR folding."""
        return int(self.length * 2**self.xor_folds)


@dataclass(frozen=True, slots=True)
class StringFormat:
    """A free string with optional case and length constraints."""

    encoding: Encoding = "utf-8"
    case: Case = "mixed"
    min_length: int | None = None
    max_length: int | None = None


@dataclass(frozen=True, slots=True)
class PatternFormat:
    """A string that must fully match a Python regular expression."""

    pattern: str
    encoding: Encoding = "utf-8"
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))


@dataclass(frozen=True, slots=True)
class IntegerFormat:
    """A base-10 integer, formatted as ``str(int(value))`` before hashing."""

    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True, slots=True)
class DateFormat:
    """A date parsed with a ``strptime`` format and hashed as ``%Y%m%d``."""

    format: str


@dataclass(frozen=True, slots=True)
class EnumFormat:
    """One of a fixed set of strings (kept in schema order)."""

    values: tuple[str, ...]


FeatureFormat: TypeAlias = StringFormat | PatternFormat | IntegerFormat | DateFormat | EnumFormat


@dataclass(frozen=True, slots=True)
class NgramComparison:
    """n-grams padded with ``n - 1`` spaces; positional ones are ``"{i} {gram}"``."""

    n: int
    positional: bool = False


@dataclass(frozen=True, slots=True)
class ExactComparison:
    """The whole (formatted) value is one token."""


@dataclass(frozen=True, slots=True)
class NumericComparison:
    """Vatsalan and Christen's neighbourhood tokens for numbers."""

    threshold_distance: float
    resolution: int
    fractional_precision: int = 0

    @property
    def distance_interval(self) -> int:
        scale: int = 10**self.fractional_precision
        return round(self.threshold_distance * scale)


Comparison: TypeAlias = NgramComparison | ExactComparison | NumericComparison


@dataclass(frozen=True, slots=True)
class BitsPerToken:
    """Every token is inserted ``bits`` times."""

    bits: int

    def bits_per_token(self, num_tokens: int) -> list[int]:
        return [self.bits] * num_tokens


@dataclass(frozen=True, slots=True)
class BitsPerFeature:
    """``bits`` insertions spread over the tokens, the first ones getting the remainder."""

    bits: int

    def bits_per_token(self, num_tokens: int) -> list[int]:
        if num_tokens == 0:
            return []
        k = int(self.bits / num_tokens)
        residue = self.bits % num_tokens
        return [k + 1] * residue + [k] * (num_tokens - residue)


Strategy: TypeAlias = BitsPerToken | BitsPerFeature


@dataclass(frozen=True, slots=True)
class BlakeHash:
    """Keyed BLAKE2b, sliced into 16-bit indices (clkhash's default)."""


@dataclass(frozen=True, slots=True)
class DoubleHash:
    """HMAC-SHA1 + i * HMAC-MD5 (Schnell 2011); ``prevent_singularity`` as in clkhash."""

    prevent_singularity: bool = False


HashFunction: TypeAlias = BlakeHash | DoubleHash


@dataclass(frozen=True, slots=True)
class MissingValue:
    """A value equal to ``sentinel`` is replaced by ``replace_with`` and not validated."""

    sentinel: str
    replace_with: str | None = None

    @property
    def replacement(self) -> str:
        return self.sentinel if self.replace_with is None else self.replace_with


@dataclass(frozen=True, slots=True)
class Hashing:
    """How one feature is tokenised and inserted into the filter."""

    comparison: Comparison
    strategy: Strategy
    hash: HashFunction = BlakeHash()
    missing_value: MissingValue | None = None


@dataclass(frozen=True, slots=True)
class Feature:
    """A feature that contributes to the CLK."""

    identifier: str
    format: FeatureFormat
    hashing: Hashing
    description: str | None = None

    @property
    def encoding(self) -> Encoding:
        """The encoding tokens are hashed in (only string formats may change it)."""
        if isinstance(self.format, StringFormat | PatternFormat):
            return self.format.encoding
        return "utf-8"


@dataclass(frozen=True, slots=True)
class IgnoredFeature:
    """A column that is present in rows but never hashed (it still consumes keys)."""

    identifier: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class SaltRule:
    """Salt every token of ``feature`` with (a slice of) the record's ``salt_from`` value.

    The salt is the *formatted* value of ``salt_from`` (dates as ``YYYYMMDD``), sliced as
    ``value[start:end]``; ``start=0, end=4`` of a date of birth is the year of birth. A
    missing ``salt_from`` value gives the empty salt.
    """

    feature: str
    salt_from: str
    start: int = 0
    end: int | None = None

    def salt_of(self, formatted: str) -> str:
        return formatted[self.start : self.end]


@dataclass(frozen=True, slots=True)
class Diffusion:
    """Armknecht-Heng-Schnell diffusion: output bit ``j`` is the XOR of ``taps`` input bits.

    The inputs of each output bit are ``taps`` distinct positions chosen by a key derived
    from the linkage secret and the key epoch (never stored in the schema).
    """

    output_bits: int = 1024
    taps: int = 10


@dataclass(frozen=True, slots=True)
class Hardening:
    """The hardening steps of a hardened schema, applied in this order.

    1. ``salting``: per-record salts of chosen features, while hashing;
    2. ``balance``: the filter followed by its complement (constant popcount), with the
       ``2 l`` bits permuted by a secret key;
    3. ``diffusion``: the diffusion layer, whose output is the CLK.

    XOR folding is ``clkConfig.xor_folds`` (applied to the filter, before step 2).
    """

    salting: tuple[SaltRule, ...] = ()
    balance: bool = False
    diffusion: Diffusion | None = None

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.salting, key=lambda rule: rule.feature))
        object.__setattr__(self, "salting", ordered)

    def salt_rule(self, feature: str) -> SaltRule | None:
        """The salt rule of ``feature``, if it is salted."""
        for rule in self.salting:
            if rule.feature == feature:
                return rule
        return None


@dataclass(frozen=True, slots=True)
class LinkageSchema:
    """A validated linkage schema v3, hardened when ``hardening`` is set."""

    clk_config: ClkConfig
    features: tuple[Feature | IgnoredFeature, ...]
    version: int = SCHEMA_VERSION
    hardening: Hardening | None = None

    def __post_init__(self) -> None:
        problems = _check_whole(self)
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
        return _dump_schema(self, with_descriptions=True)

    def canonical_json(self) -> str:
        """Canonical JSON: defaults filled in, descriptions dropped, keys sorted."""
        return json.dumps(
            _dump_schema(self, with_descriptions=False),
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


# --------------------------------------------------------------------------- checks


def _check_whole(schema: LinkageSchema) -> list[Problem]:
    problems: list[Problem] = []
    if schema.version != SCHEMA_VERSION:
        problems.append(Problem("$.version", f"must be {SCHEMA_VERSION}"))
    if not schema.features:
        problems.append(Problem("$.features", "must hold at least one feature"))
    seen: dict[str, int] = {}
    for index, feature in enumerate(schema.features):
        path = f"$.features[{index}]"
        if feature.identifier in seen:
            problems.append(
                Problem(
                    f"{path}.identifier",
                    f"duplicates the identifier of $.features[{seen[feature.identifier]}]",
                )
            )
        else:
            seen[feature.identifier] = index
        if isinstance(feature, Feature):
            problems.extend(_check_feature(feature, schema.clk_config, path))
    if schema.hardening is not None:
        problems.extend(_check_hardening(schema, schema.hardening))
    kdf = schema.clk_config.kdf
    key_bytes = 2 * len(schema.features) * kdf.key_size
    limit = 255 * _HKDF_DIGEST_SIZE[kdf.hash]
    if schema.features and key_bytes > limit:
        problems.append(
            Problem(
                "$.clkConfig.kdf.keySize",
                f"{len(schema.features)} features need {key_bytes} bytes of key material, "
                f"more than HKDF-{kdf.hash} can derive ({limit})",
            )
        )
    return problems


def _check_hardening(schema: LinkageSchema, hardening: Hardening) -> list[Problem]:
    problems: list[Problem] = []
    path = "$.hardening"
    if not hardening.salting and not hardening.balance and hardening.diffusion is None:
        problems.append(Problem(path, "declares no hardening step (salting, balance or diffusion)"))
    kinds = {f.identifier: isinstance(f, Feature) for f in schema.features}
    salted = {rule.feature for rule in hardening.salting}
    seen: set[str] = set()
    for index, rule in enumerate(hardening.salting):
        rpath = f"{path}.salting[{index}]"
        if rule.feature in seen:
            problems.append(Problem(f"{rpath}.feature", "is salted twice"))
        seen.add(rule.feature)
        for key, name in (("feature", rule.feature), ("saltFrom", rule.salt_from)):
            if name not in kinds:
                problems.append(Problem(f"{rpath}.{key}", "is not a feature of the schema"))
            elif not kinds[name]:
                problems.append(Problem(f"{rpath}.{key}", "names an ignored feature"))
        if rule.salt_from == rule.feature:
            problems.append(Problem(f"{rpath}.saltFrom", "must differ from the salted feature"))
        elif rule.salt_from in salted:
            problems.append(
                Problem(f"{rpath}.saltFrom", "is itself salted (salts are never chained)")
            )
        if rule.start < 0:
            problems.append(Problem(f"{rpath}.start", "must be >= 0"))
        if rule.end is not None and rule.end <= rule.start:
            problems.append(Problem(f"{rpath}.end", "must be greater than start"))
    length = schema.clk_config.length
    if (hardening.balance or hardening.diffusion is not None) and length % 64:
        problems.append(
            Problem(
                "$.clkConfig.l",
                "must be a multiple of 64 when the schema balances or diffuses the filter",
            )
        )
    diffusion = hardening.diffusion
    if diffusion is not None:
        inputs = 2 * length if hardening.balance else length
        if diffusion.output_bits < 64 or diffusion.output_bits % 64:
            problems.append(
                Problem(f"{path}.diffusion.outputBits", "must be a positive multiple of 64")
            )
        if diffusion.taps < 1:
            problems.append(Problem(f"{path}.diffusion.t", "must be >= 1"))
        elif diffusion.taps > inputs:
            problems.append(
                Problem(f"{path}.diffusion.t", f"exceeds the {inputs} bits it diffuses")
            )
    return problems


def _check_feature(feature: Feature, clk: ClkConfig, path: str) -> list[Problem]:
    problems: list[Problem] = []
    fmt = feature.format
    if isinstance(fmt, StringFormat):
        if fmt.min_length is not None and fmt.min_length < 0:
            problems.append(Problem(f"{path}.format.minLength", "must be >= 0"))
        if fmt.max_length is not None and fmt.max_length < 1:
            problems.append(Problem(f"{path}.format.maxLength", "must be >= 1"))
        if (
            fmt.min_length is not None
            and fmt.max_length is not None
            and fmt.min_length > fmt.max_length
        ):
            problems.append(Problem(f"{path}.format.minLength", "is greater than maxLength"))
    elif isinstance(fmt, IntegerFormat):
        if fmt.minimum is not None and fmt.maximum is not None and fmt.minimum > fmt.maximum:
            problems.append(Problem(f"{path}.format.minimum", "is greater than maximum"))
    elif isinstance(fmt, EnumFormat):
        if len(set(fmt.values)) != len(fmt.values):
            problems.append(Problem(f"{path}.format.values", "holds duplicate values"))
    elif isinstance(fmt, DateFormat) and not fmt.format:
        problems.append(Problem(f"{path}.format.format", "must not be empty"))
    hashing = feature.hashing
    comparison = hashing.comparison
    cpath = f"{path}.hashing.comparison"
    if isinstance(comparison, NgramComparison) and comparison.n < 1:
        problems.append(Problem(f"{cpath}.n", "must be >= 1"))
    if isinstance(comparison, NumericComparison):
        if not comparison.threshold_distance > 0 or not math.isfinite(
            comparison.threshold_distance
        ):
            problems.append(Problem(f"{cpath}.thresholdDistance", "must be a positive number"))
        elif comparison.fractional_precision >= 0 and comparison.distance_interval == 0:
            problems.append(
                Problem(
                    f"{cpath}.thresholdDistance",
                    "rounds to zero at this fractional_precision",
                )
            )
        if comparison.resolution < 1:
            problems.append(Problem(f"{cpath}.resolution", "must be >= 1"))
        if comparison.fractional_precision < 0:
            problems.append(Problem(f"{cpath}.fractional_precision", "must be >= 0"))
    if hashing.strategy.bits < 1:
        key = "bitsPerToken" if isinstance(hashing.strategy, BitsPerToken) else "bitsPerFeature"
        problems.append(Problem(f"{path}.hashing.strategy.{key}", "must be >= 1"))
    if isinstance(hashing.hash, BlakeHash):
        hash_length = clk.hash_length
        if 2 ** int(math.log(hash_length, 2)) != hash_length:
            problems.append(
                Problem(
                    f"{path}.hashing.hash.type",
                    "blakeHash needs l * 2**xor_folds to be a power of two",
                )
            )
        if clk.kdf.key_size > _BLAKE2B_MAX_KEY:
            problems.append(
                Problem(
                    f"{path}.hashing.hash.type",
                    f"blakeHash takes keys of at most {_BLAKE2B_MAX_KEY} bytes; "
                    "$.clkConfig.kdf.keySize is larger",
                )
            )
    return problems


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


# --------------------------------------------------------------------------- dumping


def _dump_schema(schema: LinkageSchema, *, with_descriptions: bool) -> dict[str, Any]:
    clk = schema.clk_config
    kdf: dict[str, Any] = {"type": "HKDF", "hash": clk.kdf.hash, "keySize": clk.kdf.key_size}
    if clk.kdf.salt is not None:
        kdf["salt"] = base64.b64encode(clk.kdf.salt).decode("ascii")
    if clk.kdf.info is not None:
        kdf["info"] = base64.b64encode(clk.kdf.info).decode("ascii")
    features: list[dict[str, Any]] = []
    for feature in schema.features:
        item: dict[str, Any] = {"identifier": feature.identifier}
        if with_descriptions and feature.description is not None:
            item["description"] = feature.description
        if isinstance(feature, IgnoredFeature):
            item["ignored"] = True
        else:
            item["format"] = _dump_format(feature.format)
            item["hashing"] = _dump_hashing(feature.hashing)
        features.append(item)
    document: dict[str, Any] = {
        "version": schema.version_marker,
        "clkConfig": {"l": clk.length, "xor_folds": clk.xor_folds, "kdf": kdf},
        "features": features,
    }
    if schema.hardening is not None:
        document["hardening"] = _dump_hardening(schema.hardening)
    return document


def _dump_hardening(hardening: Hardening) -> dict[str, Any]:
    salting: list[dict[str, Any]] = []
    for rule in hardening.salting:
        item: dict[str, Any] = {
            "feature": rule.feature,
            "saltFrom": rule.salt_from,
            "start": rule.start,
        }
        if rule.end is not None:
            item["end"] = rule.end
        salting.append(item)
    out: dict[str, Any] = {"salting": salting, "balance": hardening.balance}
    if hardening.diffusion is not None:
        out["diffusion"] = {
            "outputBits": hardening.diffusion.output_bits,
            "t": hardening.diffusion.taps,
        }
    return out


def _dump_format(fmt: FeatureFormat) -> dict[str, Any]:
    if isinstance(fmt, StringFormat):
        out: dict[str, Any] = {"type": "string", "encoding": fmt.encoding, "case": fmt.case}
        if fmt.min_length is not None:
            out["minLength"] = fmt.min_length
        if fmt.max_length is not None:
            out["maxLength"] = fmt.max_length
        return out
    if isinstance(fmt, PatternFormat):
        return {"type": "string", "encoding": fmt.encoding, "pattern": fmt.pattern}
    if isinstance(fmt, IntegerFormat):
        out = {"type": "integer"}
        if fmt.minimum is not None:
            out["minimum"] = fmt.minimum
        if fmt.maximum is not None:
            out["maximum"] = fmt.maximum
        return out
    if isinstance(fmt, DateFormat):
        return {"type": "date", "format": fmt.format}
    return {"type": "enum", "values": list(fmt.values)}


def _dump_hashing(hashing: Hashing) -> dict[str, Any]:
    comparison = hashing.comparison
    if isinstance(comparison, NgramComparison):
        comp: dict[str, Any] = {
            "type": "ngram",
            "n": comparison.n,
            "positional": comparison.positional,
        }
    elif isinstance(comparison, ExactComparison):
        comp = {"type": "exact"}
    else:
        threshold = comparison.threshold_distance
        comp = {
            "type": "numeric",
            # 2 and 2.0 encode identically, so they dump (and fingerprint) identically.
            "thresholdDistance": int(threshold) if float(threshold).is_integer() else threshold,
            "resolution": comparison.resolution,
            "fractional_precision": comparison.fractional_precision,
        }
    strategy = hashing.strategy
    strat = (
        {"bitsPerToken": strategy.bits}
        if isinstance(strategy, BitsPerToken)
        else {"bitsPerFeature": strategy.bits}
    )
    hash_dict: dict[str, Any] = (
        {"type": "doubleHash", "prevent_singularity": hashing.hash.prevent_singularity}
        if isinstance(hashing.hash, DoubleHash)
        else {"type": "blakeHash"}
    )
    out: dict[str, Any] = {"comparison": comp, "strategy": strat, "hash": hash_dict}
    if hashing.missing_value is not None:
        missing: dict[str, Any] = {"sentinel": hashing.missing_value.sentinel}
        if hashing.missing_value.replace_with is not None:
            missing["replaceWith"] = hashing.missing_value.replace_with
        out["missingValue"] = missing
    return out
