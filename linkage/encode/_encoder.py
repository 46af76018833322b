"""CLK encoding, byte-identical to clkhash 0.18.3.

How clkhash encodes one record (and so how this module does):

1. Keys: HKDF(secret, salt, info, hash) yields ``2 * len(features)`` keys of
   ``keySize`` bytes; feature ``i`` (ignored ones included) gets keys
   ``2i`` and ``2i + 1``.
2. Each non-ignored value: a value equal to the missing-value sentinel becomes
   its replacement (unvalidated); anything else is validated against the
   feature's format and formatted (integers as ``str(int(v))``, dates as
   ``%Y%m%d``).
3. Tokens: n-grams of the value padded with ``n - 1`` spaces each side
   (positional ones are ``"{i} {gram}"``, 1-based), the whole value
   (exact), or numeric neighbourhood tokens. Empty values give no tokens.
4. The strategy gives each token a count ``k``; each token, encoded with the
   feature's encoding, sets ``k`` bits of a filter of ``l * 2**xor_folds`` bits:
   blakeHash takes 16-bit little-endian slices of keyed BLAKE2b digests
   (salt ``str(i)``) modulo the length; doubleHash sets
   ``(HMAC-SHA1 + i * HMAC-MD5) mod length`` (with ``prevent_singularity`` the
   MD5 part is re-hashed with ``chr(j)`` appended while it is 0 mod length).
5. The features' filters are ORed, then XOR-folded ``xor_folds`` times (first
   half XOR second half) and serialised most significant bit first.

Hardened schemas (docs/hardening.md) change three things, and only for them:

* keys: the per-feature keys come from the *epoch secret*, and balance/diffusion from
  the hardening key, both HKDF-derived from the secret and the key epoch
  (:mod:`linkage.encode._hardening`), so ``ClkEncoder`` needs ``key_epoch``;
* salting: a salted feature hashes ``len(salt) (2 bytes, big-endian) || salt || token``
  instead of ``token``, with the salt taken from the record's own value of another
  feature (e.g. the year of birth), so equal tokens of records with different salts
  set unrelated bits;
* after folding, the filters are balanced and/or diffused (vectorised, per batch).

Step 2's checks and formatting and step 3's tokens are :mod:`linkage.encode._values`
(shared with :class:`~linkage.encode.ValueChecker`); this module derives the keys, hashes
the tokens, folds and hardens.

Speed comes from caching: a feature's whole value -> its bit mask (names,
dates and suburbs repeat), and a token -> its bit mask. Masks are Python
integers whose bit ``length - 1 - i`` is filter bit ``i``, so ORing, folding
and ``int.to_bytes(..., "big")`` give clkhash's byte layout directly.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from linkage.encode._hardening import Hardener, derive_epoch_secret
from linkage.encode._schema import (
    BlakeHash,
    Feature,
    IgnoredFeature,
    LinkageSchema,
    SaltRule,
    schema_fingerprint,
)
from linkage.encode._values import (
    InvalidValue,
    RowProblem,
    formatter,
    tokenize,
    validator,
)
from linkage.errors import InvalidInputError, Problem, RowError
from linkage.types import ClkBytes, Int64Array

__all__ = [
    "MIN_SECRET_BYTES",
    "ClkEncoder",
    "EncodedBatch",
    "derive_feature_keys",
]

#: The shortest linkage secret accepted (128 bits).
MIN_SECRET_BYTES: Final = 16
#: Cached values per feature before the cache is cleared (bounds memory on huge inputs).
_VALUE_CACHE_LIMIT: Final = 1 << 17
_TOKEN_CACHE_LIMIT: Final = 1 << 17
_DATE_OUTPUT_FORMAT: Final = "%Y%m%d"
_SHORTS: Final = struct.Struct("<32H")


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """The CLKs of the valid rows of a batch, which rows they are, and the problems of the rest."""

    clks: ClkBytes
    accepted: Int64Array
    problems: tuple[RowProblem, ...]


def derive_feature_keys(schema: LinkageSchema, secret: bytes) -> tuple[tuple[bytes, bytes], ...]:
    """Two HKDF-derived keys per feature (ignored ones included), exactly as clkhash does."""
    kdf = schema.clk_config.kdf
    count = 2 * len(schema.features)
    algorithm: hashes.HashAlgorithm = hashes.SHA512() if kdf.hash == "SHA512" else hashes.SHA256()
    material = HKDF(
        algorithm=algorithm, length=count * kdf.key_size, salt=kdf.salt, info=kdf.info
    ).derive(secret)
    size = kdf.key_size
    keys = [material[i * size : (i + 1) * size] for i in range(count)]
    return tuple((keys[2 * i], keys[2 * i + 1]) for i in range(len(schema.features)))


class _FeatureCodec:
    """Validates, formats, tokenises and hashes the values of one feature, with caches."""

    def __init__(self, feature: Feature, keys: tuple[bytes, bytes], hash_length: int) -> None:
        self.feature = feature
        self.identifier = feature.identifier
        self.encoding: str = feature.encoding
        self.hash_length = hash_length
        self.strategy = feature.hashing.strategy
        missing = feature.hashing.missing_value
        self.sentinel: str | None = None if missing is None else missing.sentinel
        self.replacement: str | None = None if missing is None else missing.replacement
        self._values: dict[str | None, int | InvalidValue] = {}
        self._tokens: dict[tuple[str, int], int] = {}
        self._formatted: dict[str | None, str | InvalidValue] = {}
        self._salted_values: dict[tuple[str | None, str], int | InvalidValue] = {}
        self._salted_tokens: dict[tuple[str, int, str], int] = {}
        self._validate = validator(feature)
        self._format = formatter(feature)
        hash_function = feature.hashing.hash
        self._indices: Callable[[bytes, int], list[int]]
        if isinstance(hash_function, BlakeHash):
            self._blake_bases = [hashlib.blake2b(key=keys[0], salt=b"0")]
            self._blake_key = keys[0]
            self._indices = self._blake_indices
        else:
            self._sha1_key, self._md5_key = keys
            self._indices = (
                self._double_indices_non_singular
                if hash_function.prevent_singularity
                else self._double_indices
            )

    # -- hashing ---------------------------------------------------------------

    def _blake_indices(self, token: bytes, k: int) -> list[int]:
        macs = (k + 31) // 32
        while len(self._blake_bases) < macs:
            salt = str(len(self._blake_bases)).encode()
            self._blake_bases.append(hashlib.blake2b(key=self._blake_key, salt=salt))
        shorts: list[int] = []
        for i in range(macs):
            digest = self._blake_bases[i].copy()
            digest.update(token)
            shorts.extend(_SHORTS.unpack(digest.digest()))
        length = self.hash_length
        return [shorts[i] % length for i in range(k)]

    def _double_pair(self, token: bytes) -> tuple[int, int]:
        length = self.hash_length
        sha1 = int.from_bytes(hmac.digest(self._sha1_key, token, "sha1"), "big") % length
        md5 = int.from_bytes(hmac.digest(self._md5_key, token, "md5"), "big") % length
        return sha1, md5

    def _double_indices(self, token: bytes, k: int) -> list[int]:
        sha1, md5 = self._double_pair(token)
        length = self.hash_length
        return [(sha1 + i * md5) % length for i in range(k)]

    def _double_indices_non_singular(self, token: bytes, k: int) -> list[int]:
        sha1, md5 = self._double_pair(token)
        length = self.hash_length
        attempt = 0
        while md5 == 0:
            salted = token + chr(attempt).encode()
            md5 = int.from_bytes(hmac.digest(self._md5_key, salted, "md5"), "big") % length
            attempt += 1
        return [(sha1 + i * md5) % length for i in range(k)]

    def _salted_token_mask(self, token: str, k: int, salt: str) -> int:
        cache_key = (token, k, salt)
        mask = self._salted_tokens.get(cache_key)
        if mask is None:
            top = self.hash_length - 1
            salt_bytes = salt.encode("utf-8")
            data = len(salt_bytes).to_bytes(2, "big") + salt_bytes + token.encode(self.encoding)
            mask = 0
            for index in self._indices(data, k):
                mask |= 1 << (top - index)
            if len(self._salted_tokens) >= _TOKEN_CACHE_LIMIT:
                self._salted_tokens.clear()
            self._salted_tokens[cache_key] = mask
        return mask

    def _token_mask(self, token: str, k: int) -> int:
        cache_key = (token, k)
        mask = self._tokens.get(cache_key)
        if mask is None:
            top = self.hash_length - 1
            mask = 0
            for index in self._indices(token.encode(self.encoding), k):
                mask |= 1 << (top - index)
            if len(self._tokens) >= _TOKEN_CACHE_LIMIT:
                self._tokens.clear()
            self._tokens[cache_key] = mask
        return mask

    # -- values ----------------------------------------------------------------

    def mask(self, value: str | None) -> int | InvalidValue:
        """The bit mask of one value (cached), or why it cannot be encoded."""
        cached = self._values.get(value)
        if cached is None:
            cached = self._compute(value)
            if len(self._values) >= _VALUE_CACHE_LIMIT:
                self._values.clear()
            self._values[value] = cached
        return cached

    def formatted(self, value: str | None) -> str | InvalidValue:
        """The value as it is tokenised (missing-value replacement, formatting), cached."""
        cached = self._formatted.get(value)
        if cached is None:
            cached = self._format_value(value)
            if len(self._formatted) >= _VALUE_CACHE_LIMIT:
                self._formatted.clear()
            self._formatted[value] = cached
        return cached

    def _format_value(self, value: str | None) -> str | InvalidValue:
        if value is None:
            value = "" if self.sentinel is None else self.sentinel
        if self.sentinel is not None and value == self.sentinel:
            assert self.replacement is not None
            return self.replacement
        reason = self._validate(value)
        if reason is not None:
            return InvalidValue(reason)
        try:
            return self._format(value)
        except ValueError:
            return InvalidValue("cannot be formatted")

    def salted_mask(self, value: str | None, salt: str) -> int | InvalidValue:
        """The bit mask of one value under a per-record salt (cached by value and salt)."""
        cache_key = (value, salt)
        cached = self._salted_values.get(cache_key)
        if cached is None:
            cached = self._compute_salted(value, salt)
            if len(self._salted_values) >= _VALUE_CACHE_LIMIT:
                self._salted_values.clear()
            self._salted_values[cache_key] = cached
        return cached

    def _compute_salted(self, value: str | None, salt: str) -> int | InvalidValue:
        formatted = self.formatted(value)
        if isinstance(formatted, InvalidValue):
            return formatted
        try:
            tokens = tokenize(self.feature, formatted)
        except (ValueError, OverflowError):
            return InvalidValue("not a finite number")
        mask = 0
        try:
            for token, k in zip(tokens, self.strategy.bits_per_token(len(tokens)), strict=True):
                if k:
                    mask |= self._salted_token_mask(token, k, salt)
        except UnicodeEncodeError:
            return InvalidValue(f"cannot be encoded in {self.encoding}")
        return mask

    def _compute(self, value: str | None) -> int | InvalidValue:
        formatted = self._format_value(value)  # the value itself is cached by mask()
        if isinstance(formatted, InvalidValue):
            return formatted
        try:
            tokens = tokenize(self.feature, formatted)
        except (ValueError, OverflowError):
            return InvalidValue("not a finite number")
        mask = 0
        cache = self._tokens
        try:
            for token, k in zip(tokens, self.strategy.bits_per_token(len(tokens)), strict=True):
                if k:
                    # The cache hit is inlined: this loop is the encoder's hot path.
                    part = cache.get((token, k))
                    mask |= self._token_mask(token, k) if part is None else part
        except UnicodeEncodeError:
            return InvalidValue(f"cannot be encoded in {self.encoding}")
        return mask


@dataclass(frozen=True, slots=True)
class _SaltedCodec:
    """A salted feature: its codec, and where its salt comes from."""

    index: int
    codec: _FeatureCodec
    rule: SaltRule
    source_index: int
    source: _FeatureCodec


class ClkEncoder:
    """Encodes rows into CLKs for one schema and secret; keep one warm and reuse it.

    A row holds one value per schema feature, in schema order (ignored
    features included, their values unread). ``None`` means "missing": it is
    treated as the feature's missing-value sentinel, or as ``""`` when the
    feature has none, exactly as clkhash would treat that string.

    ``key_epoch`` is required for a hardened schema (it is part of its key
    derivation) and is metadata only for a plain one (whose CLKs stay clkhash's).

    Not thread-safe (its caches are plain dicts); use one per thread or process.
    """

    def __init__(
        self, schema: LinkageSchema, secret: bytes, *, key_epoch: int | None = None
    ) -> None:
        if not isinstance(secret, bytes):
            raise InvalidInputError("the linkage secret must be bytes")
        if len(secret) < MIN_SECRET_BYTES:
            raise InvalidInputError(
                f"the linkage secret is shorter than {MIN_SECRET_BYTES} bytes (128 bits)"
            )
        self.schema = schema
        self.fingerprint = schema_fingerprint(schema)
        self.key_epoch = key_epoch
        clk = schema.clk_config
        self._length = clk.length
        self._byte_length = clk.length // 8
        self._folds = clk.xor_folds
        self._hardener: Hardener | None = None
        feature_secret = secret
        if schema.hardening is not None:
            if key_epoch is None:
                raise InvalidInputError(
                    "a hardened schema needs the key epoch: it is part of the key derivation"
                )
            feature_secret = derive_epoch_secret(secret, key_epoch)
            hardener = Hardener(schema, secret, key_epoch)
            self._hardener = hardener if hardener.transforms else None
        keys = derive_feature_keys(schema, feature_secret)
        codecs = {
            index: _FeatureCodec(feature, keys[index], clk.hash_length)
            for index, feature in enumerate(schema.features)
            if not isinstance(feature, IgnoredFeature)
        }
        position = {feature.identifier: index for index, feature in enumerate(schema.features)}
        self._salted: list[_SaltedCodec] = []
        for rule in () if schema.hardening is None else schema.hardening.salting:
            index, source_index = position[rule.feature], position[rule.salt_from]
            self._salted.append(
                _SaltedCodec(index, codecs.pop(index), rule, source_index, codecs[source_index])
            )
        self._codecs: list[tuple[int, _FeatureCodec]] = sorted(codecs.items())
        self._width = len(schema.features)

    @property
    def clk_bytes(self) -> int:
        """Bytes per CLK (after any hardening)."""
        return self.schema.length // 8

    def _fold(self, mask: int) -> int:
        length = self._length * 2**self._folds
        for _ in range(self._folds):
            length //= 2
            mask = (mask >> length) ^ (mask & ((1 << length) - 1))
        return mask

    def _row_mask(self, row: Sequence[str | None]) -> int | RowProblem:
        mask = 0
        for index, codec in self._codecs:
            part = codec.mask(row[index])
            if isinstance(part, InvalidValue):
                return RowProblem(-1, codec.identifier, part.reason)
            mask |= part
        for salted in self._salted:
            source = salted.source.formatted(row[salted.source_index])
            if isinstance(source, InvalidValue):
                return RowProblem(-1, salted.source.identifier, source.reason)
            part = salted.codec.salted_mask(row[salted.index], salted.rule.salt_of(source))
            if isinstance(part, InvalidValue):
                return RowProblem(-1, salted.codec.identifier, part.reason)
            mask |= part
        return mask

    def encode_valid(self, rows: Sequence[Sequence[str | None]]) -> EncodedBatch:
        """Encode the rows that are valid; report the others (by index, feature and reason)."""
        width = self._width
        byte_length = self._byte_length
        folds = self._folds
        out = bytearray()
        accepted: list[int] = []
        problems: list[RowProblem] = []
        for row_index, row in enumerate(rows):
            if len(row) != width:
                problems.append(
                    RowProblem(row_index, "", f"has {len(row)} values, the schema has {width}")
                )
                continue
            mask = self._row_mask(row)
            if isinstance(mask, RowProblem):
                problems.append(RowProblem(row_index, mask.feature, mask.reason))
                continue
            if folds:
                mask = self._fold(mask)
            out += mask.to_bytes(byte_length, "big")
            accepted.append(row_index)
        clks = np.frombuffer(bytes(out), dtype=np.uint8).reshape(len(accepted), byte_length)
        if self._hardener is not None:
            clks = self._hardener.apply(clks)
        return EncodedBatch(
            clks=clks, accepted=np.asarray(accepted, dtype=np.int64), problems=tuple(problems)
        )

    def encode(self, rows: Sequence[Sequence[str | None]]) -> ClkBytes:
        """Encode every row, ``uint8[len(rows), l // 8]``.

        :raises RowError: naming each invalid row (``rows[i]``) and feature, never a value.
        """
        batch = self.encode_valid(rows)
        if batch.problems:
            raise RowError(
                f"{len(batch.problems)} of {len(rows)} rows cannot be encoded",
                problems=[
                    Problem(f"rows[{p.row_index}], feature {p.feature or '-'}", p.reason)
                    for p in batch.problems
                ],
            )
        return batch.clks

    def encode_record(self, row: Sequence[str | None]) -> bytes:
        """Encode one record (the responder gateway's warm path)."""
        return bytes(self.encode([row])[0])
