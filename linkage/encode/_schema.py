"""Linkage schema v3, as clkhash 0.18.3 defines and interprets it.

The model is a tree of frozen dataclasses built by :func:`load_schema`, which
collects *every* problem it finds (each named by its JSON path, e.g.
``$.features[2].hashing.strategy``) and raises one :class:`SchemaError`.

Where clkhash's JSON schema is loose, this reader is stricter, on purpose:

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
import binascii
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

from linkage.errors import Problem, SchemaError

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
DEFAULT_KEY_SIZE: Final = 64
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


class _Reader:
    """Collects problems while walking a parsed JSON document."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, reason: str) -> None:
        self.problems.append(Problem(path, reason))

    def obj(self, value: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
            return None
        for key in value:
            if key not in allowed:
                self.fail(f"{path}.{key}", "unknown key (not part of linkage schema v3)")
        return value

    def has(self, obj: Mapping[str, Any], key: str, path: str) -> bool:
        if key not in obj:
            self.fail(f"{path}.{key}", "is required")
            return False
        return True

    def integer(
        self, obj: Mapping[str, Any], key: str, path: str, *, minimum: int | None = None
    ) -> int | None:
        value = obj[key]
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(f"{path}.{key}", "must be an integer")
            return None
        if minimum is not None and value < minimum:
            self.fail(f"{path}.{key}", f"must be >= {minimum}")
            return None
        return value

    def string(self, obj: Mapping[str, Any], key: str, path: str) -> str | None:
        value = obj[key]
        if not isinstance(value, str):
            self.fail(f"{path}.{key}", "must be a string")
            return None
        return value

    def boolean(self, obj: Mapping[str, Any], key: str, path: str) -> bool | None:
        value = obj[key]
        if not isinstance(value, bool):
            self.fail(f"{path}.{key}", "must be true or false")
            return None
        return value

    def choice(
        self, obj: Mapping[str, Any], key: str, path: str, options: tuple[str, ...]
    ) -> str | None:
        value = obj[key]
        if value not in options:
            self.fail(f"{path}.{key}", "must be one of " + ", ".join(options))
            return None
        return str(value)

    def base64(self, obj: Mapping[str, Any], key: str, path: str) -> bytes | None:
        text = self.string(obj, key, path)
        if text is None:
            return None
        try:
            # Same (lenient) decoding as clkhash, which uses base64.b64decode.
            return base64.b64decode(text)
        except (binascii.Error, ValueError):
            self.fail(f"{path}.{key}", "must be base64-encoded bytes")
            return None


def load_schema(
    source: str | bytes | Mapping[str, Any], *, allow_hardening: bool = True
) -> LinkageSchema:
    """Parse and validate a linkage schema v3 (or a hardened one) from JSON or a parsed object.

    With ``allow_hardening=False`` this is a strict plain-v3 reader: a hardened schema
    is refused at ``$.version`` rather than read as something else.

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
    reader = _Reader()
    schema = _parse_schema(reader, document, allow_hardening=allow_hardening)
    if reader.problems or schema is None:
        raise SchemaError("the linkage schema is invalid", problems=reader.problems)
    return schema


def _parse_schema(r: _Reader, document: object, *, allow_hardening: bool) -> LinkageSchema | None:
    top = r.obj(document, "$", ("version", "clkConfig", "features", "hardening"))
    if top is None:
        return None
    hardened = False
    if r.has(top, "version", "$"):
        version = top["version"]
        if version == HARDENED_SCHEMA_VERSION:
            hardened = True
            if not allow_hardening:
                r.fail(
                    "$.version",
                    f"{HARDENED_SCHEMA_VERSION!r} is a hardened schema (linkage schema v3 plus "
                    "a hardening block); this reader accepts only plain linkage schema v3",
                )
        elif isinstance(version, bool) or version != SCHEMA_VERSION:
            r.fail(
                "$.version",
                f"must be {SCHEMA_VERSION} (linkage schema v3)"
                + (f" or {HARDENED_SCHEMA_VERSION!r} (hardened)" if allow_hardening else ""),
            )
    hardening_document = top.get("hardening")
    if "hardening" in top and not hardened:
        r.fail(
            "$.hardening",
            f'is only allowed with "version": "{HARDENED_SCHEMA_VERSION}"; under version 3 '
            "a plain reader would ignore it and encode unhardened CLKs",
        )
    elif hardened and "hardening" not in top:
        r.fail("$.hardening", f"is required with version {HARDENED_SCHEMA_VERSION!r}")
    hardening = (
        _parse_hardening(r, hardening_document)
        if hardened and "hardening" in top and allow_hardening
        else None
    )
    clk = _parse_clk_config(r, top["clkConfig"]) if r.has(top, "clkConfig", "$") else None
    features: list[Feature | IgnoredFeature] = []
    if r.has(top, "features", "$"):
        raw = top["features"]
        if not isinstance(raw, list):
            r.fail("$.features", "must be an array")
        elif not raw:
            r.fail("$.features", "must hold at least one feature")
        else:
            for index, item in enumerate(raw):
                parsed = _parse_feature(r, item, f"$.features[{index}]")
                if parsed is not None:
                    features.append(parsed)
    if r.problems or clk is None:
        return None
    try:
        return LinkageSchema(clk_config=clk, features=tuple(features), hardening=hardening)
    except SchemaError as exc:
        r.problems.extend(exc.problems)
        return None


def _parse_hardening(r: _Reader, value: object) -> Hardening | None:
    path = "$.hardening"
    obj = r.obj(value, path, ("salting", "balance", "diffusion"))
    if obj is None:
        return None
    before = len(r.problems)
    rules: list[SaltRule] = []
    if "salting" in obj:
        raw = obj["salting"]
        if not isinstance(raw, list):
            r.fail(f"{path}.salting", "must be an array")
        else:
            for index, item in enumerate(raw):
                rule = _parse_salt_rule(r, item, f"{path}.salting[{index}]")
                if rule is not None:
                    rules.append(rule)
    balance = r.boolean(obj, "balance", path) if "balance" in obj else False
    diffusion: Diffusion | None = None
    if "diffusion" in obj:
        dpath = f"{path}.diffusion"
        dobj = r.obj(obj["diffusion"], dpath, ("outputBits", "t"))
        if dobj is not None:
            bits = (
                r.integer(dobj, "outputBits", dpath, minimum=64) if "outputBits" in dobj else 1024
            )
            taps = r.integer(dobj, "t", dpath, minimum=1) if "t" in dobj else 10
            if bits is not None and bits % 64:
                r.fail(f"{dpath}.outputBits", "must be a multiple of 64")
            elif bits is not None and taps is not None:
                diffusion = Diffusion(output_bits=bits, taps=taps)
    if len(r.problems) != before or balance is None:
        return None
    return Hardening(salting=tuple(rules), balance=balance, diffusion=diffusion)


def _parse_salt_rule(r: _Reader, value: object, path: str) -> SaltRule | None:
    obj = r.obj(value, path, ("feature", "saltFrom", "start", "end"))
    if obj is None:
        return None
    before = len(r.problems)
    feature = r.string(obj, "feature", path) if r.has(obj, "feature", path) else None
    salt_from = r.string(obj, "saltFrom", path) if r.has(obj, "saltFrom", path) else None
    start = r.integer(obj, "start", path, minimum=0) if "start" in obj else 0
    end = r.integer(obj, "end", path, minimum=1) if "end" in obj else None
    if feature is None or salt_from is None or start is None or len(r.problems) != before:
        return None
    return SaltRule(feature=feature, salt_from=salt_from, start=start, end=end)


def _parse_clk_config(r: _Reader, value: object) -> ClkConfig | None:
    path = "$.clkConfig"
    obj = r.obj(value, path, ("l", "kdf", "xor_folds", "xorFolds"))
    if obj is None:
        return None
    length = None
    if r.has(obj, "l", path):
        length = r.integer(obj, "l", path, minimum=1)
        if length is not None and length % 8:
            r.fail(f"{path}.l", "must be a multiple of 8 (a whole number of bytes)")
            length = None
    folds: int | None = 0
    if "xor_folds" in obj:
        folds = r.integer(obj, "xor_folds", path, minimum=0)
    if "xorFolds" in obj:
        documented = r.integer(obj, "xorFolds", path, minimum=0)
        if documented is not None and folds is not None and documented != folds:
            r.fail(
                f"{path}.xorFolds",
                "clkhash 0.18.3 ignores 'xorFolds' and folds by 'xor_folds'; "
                "set 'xor_folds' to the same value so that both encoders agree",
            )
    kdf = _parse_kdf(r, obj["kdf"]) if r.has(obj, "kdf", path) else None
    if length is None or folds is None or kdf is None:
        return None
    return ClkConfig(length=length, kdf=kdf, xor_folds=folds)


def _parse_kdf(r: _Reader, value: object) -> KdfConfig | None:
    path = "$.clkConfig.kdf"
    obj = r.obj(value, path, ("type", "hash", "salt", "info", "keySize"))
    if obj is None:
        return None
    before = len(r.problems)
    if r.has(obj, "type", path) and obj["type"] != "HKDF":
        r.fail(f"{path}.type", "must be HKDF")
    kdf_hash = r.choice(obj, "hash", path, ("SHA256", "SHA512")) if "hash" in obj else "SHA256"
    salt = r.base64(obj, "salt", path) if "salt" in obj else None
    info = r.base64(obj, "info", path) if "info" in obj else None
    key_size = r.integer(obj, "keySize", path, minimum=1) if "keySize" in obj else DEFAULT_KEY_SIZE
    if len(r.problems) != before or kdf_hash is None or key_size is None:
        return None
    return KdfConfig(
        hash="SHA512" if kdf_hash == "SHA512" else "SHA256",
        salt=salt,
        info=info,
        key_size=key_size,
    )


def _parse_feature(r: _Reader, value: object, path: str) -> Feature | IgnoredFeature | None:
    if not isinstance(value, dict):
        r.fail(path, "must be an object")
        return None
    ignored = value.get("ignored", False)
    is_plain_ignore = ignored is True and "format" not in value and "hashing" not in value
    allowed: tuple[str, ...] = (
        ("identifier", "ignored", "description")
        if is_plain_ignore
        else ("identifier", "description", "ignored", "format", "hashing")
    )
    obj = r.obj(value, path, allowed)
    if obj is None:
        return None
    before = len(r.problems)
    identifier = r.string(obj, "identifier", path) if r.has(obj, "identifier", path) else None
    description = r.string(obj, "description", path) if "description" in obj else None
    if "ignored" in obj:
        r.boolean(obj, "ignored", path)
    if is_plain_ignore:
        if identifier is None or len(r.problems) != before:
            return None
        return IgnoredFeature(identifier=identifier, description=description)
    fmt = _parse_format(r, obj["format"], f"{path}.format") if r.has(obj, "format", path) else None
    hashing = (
        _parse_hashing(r, obj["hashing"], f"{path}.hashing")
        if r.has(obj, "hashing", path)
        else None
    )
    if identifier is None or fmt is None or hashing is None or len(r.problems) != before:
        return None
    if ignored is True:
        # clkhash treats a fully specified feature with "ignored": true as ignored.
        return IgnoredFeature(identifier=identifier, description=description)
    return Feature(identifier=identifier, format=fmt, hashing=hashing, description=description)


def _parse_format(r: _Reader, value: object, path: str) -> FeatureFormat | None:
    if not isinstance(value, dict):
        r.fail(path, "must be an object")
        return None
    if not r.has(value, "type", path):
        return None
    kind = value["type"]
    before = len(r.problems)
    if kind == "string":
        if "pattern" in value:
            obj = r.obj(value, path, ("type", "encoding", "pattern", "description"))
            assert obj is not None
            encoding = _encoding(r, obj, path)
            pattern = r.string(obj, "pattern", path)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error:
                    r.fail(f"{path}.pattern", "is not a valid regular expression")
                    pattern = None
            if len(r.problems) != before or pattern is None or encoding is None:
                return None
            return PatternFormat(pattern=pattern, encoding=encoding)
        obj = r.obj(
            value, path, ("type", "encoding", "case", "minLength", "maxLength", "description")
        )
        assert obj is not None
        encoding = _encoding(r, obj, path)
        case = r.choice(obj, "case", path, _CASES) if "case" in obj else "mixed"
        min_length = r.integer(obj, "minLength", path, minimum=0) if "minLength" in obj else None
        max_length = r.integer(obj, "maxLength", path, minimum=1) if "maxLength" in obj else None
        if len(r.problems) != before or encoding is None or case is None:
            return None
        return StringFormat(
            encoding=encoding,
            case="upper" if case == "upper" else "lower" if case == "lower" else "mixed",
            min_length=min_length,
            max_length=max_length,
        )
    if kind == "integer":
        obj = r.obj(value, path, ("type", "minimum", "maximum", "description"))
        assert obj is not None
        minimum = r.integer(obj, "minimum", path) if "minimum" in obj else None
        maximum = r.integer(obj, "maximum", path) if "maximum" in obj else None
        if len(r.problems) != before:
            return None
        return IntegerFormat(minimum=minimum, maximum=maximum)
    if kind == "date":
        obj = r.obj(value, path, ("type", "format", "description"))
        assert obj is not None
        date_format = r.string(obj, "format", path) if r.has(obj, "format", path) else None
        if date_format is None or len(r.problems) != before:
            return None
        return DateFormat(format=date_format)
    if kind == "enum":
        obj = r.obj(value, path, ("type", "values", "description"))
        assert obj is not None
        if not r.has(obj, "values", path):
            return None
        values = obj["values"]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            r.fail(f"{path}.values", "must be an array of strings")
            return None
        return EnumFormat(values=tuple(values))
    r.fail(f"{path}.type", "must be one of string, integer, date, enum")
    return None


def _encoding(r: _Reader, obj: Mapping[str, Any], path: str) -> Encoding | None:
    if "encoding" not in obj:
        return "utf-8"
    value = r.choice(obj, "encoding", path, _ENCODINGS)
    if value == "ascii":
        return "ascii"
    if value == "utf-16":
        return "utf-16"
    if value == "utf-32":
        return "utf-32"
    return "utf-8" if value == "utf-8" else None


def _parse_hashing(r: _Reader, value: object, path: str) -> Hashing | None:
    obj = r.obj(value, path, ("comparison", "strategy", "hash", "missingValue"))
    if obj is None:
        return None
    comparison = (
        _parse_comparison(r, obj["comparison"], f"{path}.comparison")
        if r.has(obj, "comparison", path)
        else None
    )
    strategy = (
        _parse_strategy(r, obj["strategy"], f"{path}.strategy")
        if r.has(obj, "strategy", path)
        else None
    )
    hash_function: HashFunction | None = BlakeHash()
    if "hash" in obj:
        hash_function = _parse_hash(r, obj["hash"], f"{path}.hash")
    missing: MissingValue | None = None
    if "missingValue" in obj:
        mpath = f"{path}.missingValue"
        mobj = r.obj(obj["missingValue"], mpath, ("sentinel", "replaceWith"))
        if mobj is not None and r.has(mobj, "sentinel", mpath):
            sentinel = r.string(mobj, "sentinel", mpath)
            replace = r.string(mobj, "replaceWith", mpath) if "replaceWith" in mobj else None
            if sentinel is not None:
                missing = MissingValue(sentinel=sentinel, replace_with=replace)
    if comparison is None or strategy is None or hash_function is None:
        return None
    return Hashing(
        comparison=comparison, strategy=strategy, hash=hash_function, missing_value=missing
    )


def _parse_comparison(r: _Reader, value: object, path: str) -> Comparison | None:
    if not isinstance(value, dict):
        r.fail(path, "must be an object")
        return None
    if not r.has(value, "type", path):
        return None
    kind = value["type"]
    before = len(r.problems)
    if kind == "ngram":
        obj = r.obj(value, path, ("type", "n", "positional"))
        assert obj is not None
        n = r.integer(obj, "n", path, minimum=1) if r.has(obj, "n", path) else None
        positional = r.boolean(obj, "positional", path) if "positional" in obj else False
        if n is None or positional is None or len(r.problems) != before:
            return None
        return NgramComparison(n=n, positional=positional)
    if kind == "exact":
        r.obj(value, path, ("type",))
        return None if len(r.problems) != before else ExactComparison()
    if kind == "numeric":
        obj = r.obj(
            value, path, ("type", "thresholdDistance", "resolution", "fractional_precision")
        )
        assert obj is not None
        threshold: float | None = None
        if r.has(obj, "thresholdDistance", path):
            raw = obj["thresholdDistance"]
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not raw > 0:
                r.fail(f"{path}.thresholdDistance", "must be a number > 0")
            elif not math.isfinite(raw):
                r.fail(f"{path}.thresholdDistance", "must be finite")
            else:
                threshold = raw
        resolution = (
            r.integer(obj, "resolution", path, minimum=1)
            if r.has(obj, "resolution", path)
            else None
        )
        precision = (
            r.integer(obj, "fractional_precision", path, minimum=0)
            if "fractional_precision" in obj
            else 0
        )
        if threshold is None or resolution is None or precision is None:
            return None
        if round(threshold * 10**precision) == 0:
            r.fail(f"{path}.thresholdDistance", "rounds to zero at this fractional_precision")
            return None
        return NumericComparison(
            threshold_distance=threshold, resolution=resolution, fractional_precision=precision
        )
    r.fail(f"{path}.type", "must be one of ngram, exact, numeric")
    return None


def _parse_strategy(r: _Reader, value: object, path: str) -> Strategy | None:
    if not isinstance(value, dict):
        r.fail(path, "must be an object")
        return None
    keys = [k for k in ("bitsPerToken", "bitsPerFeature") if k in value]
    if len(keys) != 1:
        r.fail(path, "must hold exactly one of bitsPerToken, bitsPerFeature")
        return None
    obj = r.obj(value, path, (keys[0],))
    assert obj is not None
    bits = r.integer(obj, keys[0], path, minimum=1)
    if bits is None:
        return None
    return BitsPerToken(bits) if keys[0] == "bitsPerToken" else BitsPerFeature(bits)


def _parse_hash(r: _Reader, value: object, path: str) -> HashFunction | None:
    if not isinstance(value, dict):
        r.fail(path, "must be an object")
        return None
    if not r.has(value, "type", path):
        return None
    kind = value["type"]
    before = len(r.problems)
    if kind == "blakeHash":
        if "prevent_singularity" in value:
            r.fail(f"{path}.prevent_singularity", "may only be given with doubleHash")
            return None
        r.obj(value, path, ("type",))
        return None if len(r.problems) != before else BlakeHash()
    if kind == "doubleHash":
        obj = r.obj(value, path, ("type", "prevent_singularity"))
        assert obj is not None
        prevent = (
            r.boolean(obj, "prevent_singularity", path) if "prevent_singularity" in obj else False
        )
        if prevent is None or len(r.problems) != before:
            return None
        return DoubleHash(prevent_singularity=prevent)
    r.fail(f"{path}.type", "must be blakeHash or doubleHash")
    return None


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
