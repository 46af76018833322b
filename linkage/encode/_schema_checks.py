"""The rules of a linkage schema across its parts (unique identifiers, HKDF key material,
the hardening block against the features, the BLAKE2 and filter-size limits clkhash fails on
at encoding time), run by :class:`linkage.encode.LinkageSchema` on construction; each
problem names its JSON path."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from linkage.encode._schema_parts import (
    BLAKE2B_MAX_KEY,
    HKDF_DIGEST_SIZE,
    SCHEMA_VERSION,
    BitsPerToken,
    BlakeHash,
    ClkConfig,
    DateFormat,
    EnumFormat,
    Feature,
    Hardening,
    IntegerFormat,
    NgramComparison,
    NumericComparison,
    StringFormat,
)
from linkage.errors import Problem

if TYPE_CHECKING:
    from linkage.encode._schema import LinkageSchema

__all__ = ["check_feature", "check_hardening", "check_whole"]


def check_whole(schema: LinkageSchema) -> list[Problem]:
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
            problems.extend(check_feature(feature, schema.clk_config, path))
    if schema.hardening is not None:
        problems.extend(check_hardening(schema, schema.hardening))
    kdf = schema.clk_config.kdf
    key_bytes = 2 * len(schema.features) * kdf.key_size
    limit = 255 * HKDF_DIGEST_SIZE[kdf.hash]
    if schema.features and key_bytes > limit:
        problems.append(
            Problem(
                "$.clkConfig.kdf.keySize",
                f"{len(schema.features)} features need {key_bytes} bytes of key material, "
                f"more than HKDF-{kdf.hash} can derive ({limit})",
            )
        )
    return problems


def check_hardening(schema: LinkageSchema, hardening: Hardening) -> list[Problem]:
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


def check_feature(feature: Feature, clk: ClkConfig, path: str) -> list[Problem]:
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
        if clk.kdf.key_size > BLAKE2B_MAX_KEY:
            problems.append(
                Problem(
                    f"{path}.hashing.hash.type",
                    f"blakeHash takes keys of at most {BLAKE2B_MAX_KEY} bytes; "
                    "$.clkConfig.kdf.keySize is larger",
                )
            )
    return problems
