"""The parts of a linkage schema v3 (and of its hardening block): frozen dataclasses, each
checking its own fields; :class:`linkage.encode.LinkageSchema` holds them, and
:func:`linkage.encode.load_schema` builds them from JSON (:mod:`linkage.encode._schema`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias

from linkage.encode._schema_json import DEFAULT_KEY_SIZE
from linkage.errors import Problem, SchemaError

__all__ = [
    "BLAKE2B_MAX_KEY",
    "HARDENED_SCHEMA_VERSION",
    "HKDF_DIGEST_SIZE",
    "RECOMMENDED_MIN_TAPS",
    "SCHEMA_VERSION",
    "BitsPerFeature",
    "BitsPerToken",
    "BlakeHash",
    "Case",
    "ClkConfig",
    "Comparison",
    "DateFormat",
    "Diffusion",
    "DoubleHash",
    "Encoding",
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
    "KdfHash",
    "MissingValue",
    "NgramComparison",
    "NumericComparison",
    "PatternFormat",
    "SaltRule",
    "Strategy",
    "StringFormat",
]

#: The linkage schema version this reader implements (clkhash 0.18.3).
SCHEMA_VERSION: Final = 3
#: The ``version`` of a hardened schema: linkage schema v3 plus the ``hardening`` block, v1.
HARDENED_SCHEMA_VERSION: Final = "3-hardened-1"
#: The smallest number of XORed inputs per diffused bit that the project recommends.
RECOMMENDED_MIN_TAPS: Final = 8
BLAKE2B_MAX_KEY: Final = 64
HKDF_DIGEST_SIZE: Final = {"SHA256": 32, "SHA512": 64}
_ENCODINGS: Final = ("ascii", "utf-8", "utf-16", "utf-32")
_CASES: Final = ("upper", "lower", "mixed")

Encoding: TypeAlias = Literal["ascii", "utf-8", "utf-16", "utf-32"]
KdfHash: TypeAlias = Literal["SHA256", "SHA512"]
Case: TypeAlias = Literal["upper", "lower", "mixed"]


@dataclass(frozen=True, slots=True)
class KdfConfig:
    """HKDF settings: hash, optional salt and info (raw bytes) and key size."""

    hash: KdfHash = "SHA256"
    salt: bytes | None = None
    info: bytes | None = None
    key_size: int = DEFAULT_KEY_SIZE

    def __post_init__(self) -> None:
        if self.hash not in HKDF_DIGEST_SIZE:
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
