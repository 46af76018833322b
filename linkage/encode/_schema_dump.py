"""A linkage schema back to clkhash-compatible JSON, every default written out (with or
without descriptions: the canonical form, which the schema's fingerprint hashes, has none)."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

from linkage.encode._schema_parts import (
    BitsPerToken,
    DateFormat,
    DoubleHash,
    ExactComparison,
    FeatureFormat,
    Hardening,
    Hashing,
    IgnoredFeature,
    IntegerFormat,
    NgramComparison,
    PatternFormat,
    StringFormat,
)

if TYPE_CHECKING:
    from linkage.encode._schema import LinkageSchema

__all__ = ["dump_schema"]


def dump_schema(schema: LinkageSchema, *, with_descriptions: bool) -> dict[str, Any]:
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
            item["format"] = dump_format(feature.format)
            item["hashing"] = dump_hashing(feature.hashing)
        features.append(item)
    document: dict[str, Any] = {
        "version": schema.version_marker,
        "clkConfig": {"l": clk.length, "xor_folds": clk.xor_folds, "kdf": kdf},
        "features": features,
    }
    if schema.hardening is not None:
        document["hardening"] = dump_hardening(schema.hardening)
    return document


def dump_hardening(hardening: Hardening) -> dict[str, Any]:
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


def dump_format(fmt: FeatureFormat) -> dict[str, Any]:
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


def dump_hashing(hashing: Hashing) -> dict[str, Any]:
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
