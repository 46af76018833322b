"""``agency-client schema validate FILE`` and ``agency-client schema describe FILE``;
``agency-client schema validate --config agency.toml [--input EXPORT.csv]`` checks an
agency's column mapping and dry-runs it (:mod:`agency_client._dryrun`).

FILE is a schema JSON file (record-level, plain or hardened, or with a ``segments``
block), a CLK file or clkhash JSON (describe only), or the name of a built-in schema
(``default``, ``plain``, ``default-segmented``) when no file of that name exists.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import numpy as np

from agency_client._clkfile import detect_file_kind, read_clk_batches, read_clk_file_header
from agency_client._config import load_agency_config
from agency_client._dryrun import DEFAULT_SHOWN_ROWS, describe_mapping, dry_run, render_dry_run
from agency_client._encoding import (
    BUILTIN_SCHEMA_NAMES,
    EncodingSchema,
    builtin_encoding_schema,
    load_encoding_schema_file,
)
from linkage.encode import (
    RECOMMENDED_MIN_TAPS,
    DateFormat,
    DoubleHash,
    EnumFormat,
    ExactComparison,
    Feature,
    IntegerFormat,
    LinkageSchema,
    NgramComparison,
    PatternFormat,
    SegmentedSchema,
    schema_fingerprint,
)
from linkage.errors import InvalidInputError, NotFoundError

__all__ = ["describe_encoding_schema", "describe_schema", "popcount_histogram", "schema_group"]

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
_BAR_WIDTH = 50
_BINS = 16


@click.group("schema")
def schema_group() -> None:
    """Validate or describe a linkage schema, or describe an encoded output file."""


def _schema_argument(file: Path) -> EncodingSchema | None:
    """The built-in schema FILE names when no such file exists, else ``None`` (read FILE)."""
    if file.exists():
        if file.is_dir():
            raise InvalidInputError(f"{file.name} is a folder, not a schema or CLK file")
        return None
    builtin = builtin_encoding_schema(str(file))
    if builtin is None:
        raise NotFoundError(
            f"no file {file}; give a schema or CLK file, or a built-in schema name ("
            + ", ".join(BUILTIN_SCHEMA_NAMES)
            + ")"
        )
    return builtin


@schema_group.command("validate")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option(
    "--config",
    "config_path",
    envvar="AGENCY_CLIENT_CONFIG",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check an agency.toml instead: its schema and its column mapping (transforms, "
    "missing values) with every problem by path. Default when FILE is not given: "
    "$AGENCY_CLIENT_CONFIG, else ./agency.toml.",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --config: dry-run the mapping over this export (nothing is encoded or "
    "sent): the first rows side by side with their source values (PERSONAL DATA: run it "
    "at the agency), and counts of rows that would be skipped per column and reason.",
)
@click.option(
    "--rows",
    "shown_rows",
    type=click.IntRange(min=0),
    default=DEFAULT_SHOWN_ROWS,
    show_default=True,
    help="With --input: how many rows to show side by side; 0 prints counts only (no "
    "personal data).",
)
@click.pass_context
def validate_command(
    ctx: click.Context,
    file: Path | None,
    config_path: Path | None,
    input_path: Path | None,
    shown_rows: int,
) -> None:
    """Check that FILE is a valid linkage schema v3: plain, hardened or with a segments block
    (problems by JSON path). A built-in name (default, plain, default-segmented) also works.

    Without FILE, check the agency's agency.toml (--config): its schema and column mapping,
    and with --input EXPORT.csv dry-run the mapping over the export."""
    from_command_line = (
        ctx.get_parameter_source("config_path") == click.core.ParameterSource.COMMANDLINE
    )
    if file is not None:
        if from_command_line or input_path is not None:
            raise click.UsageError(
                "give either a schema FILE or --config agency.toml [--input EXPORT.csv], not both"
            )
        _validate_schema_file(file)
        return
    config = load_agency_config(config_path or Path("agency.toml"), os.environ)
    click.echo("\n".join(describe_mapping(config, suggest_dry_run=input_path is None)))
    if input_path is not None:
        report = dry_run(config, input_path, shown_rows=shown_rows)
        click.echo("\n".join(render_dry_run(report)))


def _validate_schema_file(file: Path) -> None:
    encoding = _schema_argument(file) or load_encoding_schema_file(file)
    schema = encoding.schema
    kind = (
        "hardened linkage schema v3 (" + _hardening_summary(schema) + ")"
        if schema.hardening is not None
        else "linkage schema v3 (plain, not hardened)"
    )
    if encoding.segmented is not None:
        segments = encoding.segmented.segmentation
        kind += (
            f" with {len(segments.fields)} per-field segments "
            f"({encoding.record_bits}-bit record CLK + {64 * segments.words} segment bits)"
        )
    click.echo(
        f"{file.name}: valid {kind}, {len(schema.features)} features, "
        f"{encoding.clk_bits}-bit CLKs ({encoding.clk_bytes} bytes), "
        f"fingerprint {encoding.fingerprint}"
    )


@schema_group.command("describe")
@click.argument("file", type=click.Path(path_type=Path))
def describe_command(file: Path) -> None:
    """Summarise a schema (its segment layout too), or histogram the bits set per CLK of an
    encoded file. A built-in schema name (default, plain, default-segmented) also works."""
    builtin = _schema_argument(file)
    if builtin is not None:
        click.echo(describe_encoding_schema(builtin))
        return
    kind = detect_file_kind(file)
    if kind == "schema":
        click.echo(describe_encoding_schema(load_encoding_schema_file(file)))
        return
    if kind == "unknown":
        raise InvalidInputError(f"{file.name} is neither a schema, a CLK file nor clkhash JSON")
    lines: list[str] = []
    if kind == "clk":
        header = read_clk_file_header(file)
        lines.append(
            f"{file.name}: CLK file v1, {header.count} records of {header.clk_bits} bits, "
            f"schema {header.schema_fingerprint}, key epoch {header.key_epoch}, "
            f"record keys: {header.record_key_column or 'none'}"
        )
    else:
        lines.append(f"{file.name}: clkhash JSON")
    counts: np.ndarray | None = None
    bits = 0
    for batch in read_clk_batches(file):
        bits = batch.clks.shape[1] * 8
        popcounts = _POPCOUNT[batch.clks].sum(axis=1)
        found = np.bincount(popcounts, minlength=bits + 1)
        counts = found if counts is None else counts + found
    if counts is None or not counts.sum():
        lines.append("no records")
    else:
        lines.extend(popcount_histogram(counts, bits))
    click.echo("\n".join(lines))


def popcount_histogram(counts: np.ndarray, bits: int) -> list[str]:
    """Text lines: popcount statistics and a histogram of bits set per CLK."""
    values = np.arange(counts.size)
    total = int(counts.sum())
    mean = float((values * counts).sum() / total)
    std = float(np.sqrt(((values - mean) ** 2 * counts).sum() / total))
    present = np.nonzero(counts)[0]
    low, high = int(present[0]), int(present[-1])
    lines = [
        f"bits set per CLK: n={total} min={low} max={high} mean={mean:.1f} std={std:.1f} "
        f"(fill {mean / bits:.1%} of {bits})"
    ]
    width = max(1, -(-(high - low + 1) // _BINS))
    bins = [(start, min(start + width - 1, high)) for start in range(low, high + 1, width)]
    sizes = [int(counts[a : b + 1].sum()) for a, b in bins]
    biggest = max(sizes)
    for (a, b), size in zip(bins, sizes, strict=True):
        bar = "#" * max(1 if size else 0, round(_BAR_WIDTH * size / biggest))
        label = f"{a}" if a == b else f"{a}-{b}"
        lines.append(f"  {label:>11} | {bar:<{_BAR_WIDTH}} {size}")
    if low == 0:
        lines.append(f"warning: {int(counts[0])} CLKs have no bit set (all features missing?)")
    if mean / bits > 0.75:
        lines.append("warning: the filters are over 75% full; similarities will be inflated")
    return lines


def describe_encoding_schema(encoding: EncodingSchema) -> str:
    """A readable summary of either kind of schema; a segmented one with its layout."""
    if encoding.segmented is None:
        return describe_schema(encoding.schema)
    record = describe_schema(encoding.schema).splitlines()
    record = [
        "record part: " + record[0],
        *(
            f"record-part {line} (not for the matcher: it takes the segmented fingerprint)"
            if line.startswith("fingerprint ")
            else line
            for line in record[1:]
        ),
    ]
    return "\n".join([*_describe_segments(encoding, encoding.segmented), *record])


def _describe_segments(encoding: EncodingSchema, segmented: SegmentedSchema) -> list[str]:
    segmentation = segmented.segmentation
    layout = encoding.layout
    assert layout is not None
    specs = {spec.name: spec for spec in segmentation.fields}
    lines = [
        f"linkage schema v{encoding.schema.version} with per-field segments: "
        f"{encoding.clk_bits}-bit CLKs ({encoding.clk_bytes} bytes) = "
        f"{encoding.record_bits}-bit record CLK + {len(segmentation.fields)} segments "
        f"({64 * segmentation.words} bits)",
        f"fingerprint {encoding.fingerprint} (matcher [linkage] schema_fingerprint; "
        f"clk_bits = {encoding.clk_bits})",
        "segment diffusion: "
        + (
            "none"
            if segmentation.diffusion_taps is None
            else f"t = {segmentation.diffusion_taps} filter bits per output bit"
        ),
        f"layout ({len(layout.fields) + 1} parts, {layout.total_words} 64-bit words):",
    ]
    parts = ([] if layout.record is None else [layout.record]) + list(layout.fields)
    for part in parts:
        where = f"words {part.start_word:>3}-{part.stop_word - 1:<3} {part.bits:>5} bits"
        spec = specs.get(part.name)
        if spec is None:
            lines.append(f"  {part.name:<16} {where}  the record-level CLK (below)")
            continue
        if spec.kind == "keys":
            detail = (
                ", ".join(spec.features)
                + f"; derived keys ({spec.transform}), up to {spec.keys} keyed 64-bit words"
            )
        else:
            detail = (
                ", ".join(spec.features)
                + f"; {spec.filter_bits}-bit filter, {spec.bits_per_token} bits per token"
            )
        if spec.salt is not None:
            end = "" if spec.salt.end is None else str(spec.salt.end)
            detail += f", salted by {spec.salt.salt_from}[{spec.salt.start}:{end}]"
        if spec.key_group is not None:
            detail += f", key group {spec.key_group}"
        lines.append(f"  {part.name:<16} {where}  {detail}")
    if layout.swaps:
        lines.append(
            "compared crosswise (transposed names): "
            + ", ".join(f"{a} <-> {b}" for a, b in layout.swaps)
        )
    if segmentation.diffusion_taps is None:
        lines.append(
            "warning: the segments are not diffused; per-field Bloom filters give a "
            "frequency attack more to work with (docs/quality.md)"
        )
    elif segmentation.diffusion_taps < RECOMMENDED_MIN_TAPS:
        lines.append(
            f"warning: segment diffusion with t = {segmentation.diffusion_taps} is below the "
            f"recommended minimum of {RECOMMENDED_MIN_TAPS}"
        )
    return lines


def describe_schema(schema: LinkageSchema) -> str:
    """A readable summary of a schema (no secret is involved)."""
    clk = schema.clk_config
    kdf = clk.kdf
    hardening = schema.hardening
    lines = [
        f"linkage schema v{schema.version}"
        + (" (hardened)" if hardening is not None else "")
        + f": {schema.length}-bit CLKs"
        + (f" from a {clk.length}-bit Bloom filter" if schema.length != clk.length else "")
        + (
            f" (hashed into {clk.hash_length} bits, {clk.xor_folds} XOR folds)"
            if clk.xor_folds
            else ""
        ),
        f"fingerprint {schema_fingerprint(schema)}",
        f"key derivation: HKDF-{kdf.hash}, {kdf.key_size}-byte keys, "
        f"salt {_size(kdf.salt)}, info {_size(kdf.info)}"
        + ("; keys bound to the key epoch" if hardening is not None else ""),
    ]
    if hardening is None:
        lines.append("hardening: none (plain CLKs are open to re-identification by the matcher)")
    else:
        lines.append(f"hardening: {_hardening_summary(schema)}")
        if hardening.diffusion is not None and hardening.diffusion.taps < RECOMMENDED_MIN_TAPS:
            lines.append(
                f"warning: diffusion with t = {hardening.diffusion.taps} is below the "
                f"recommended minimum of {RECOMMENDED_MIN_TAPS}"
            )
    lines.append(f"{len(schema.features)} features:")
    for index, feature in enumerate(schema.features):
        if not isinstance(feature, Feature):
            lines.append(f"  [{index}] {feature.identifier}: ignored")
            continue
        lines.append(f"  [{index}] {feature.identifier}: {_describe_feature(feature)}")
    return "\n".join(lines)


def _hardening_summary(schema: LinkageSchema) -> str:
    hardening = schema.hardening
    if hardening is None:
        return "none"
    parts = []
    for rule in hardening.salting:
        end = "" if rule.end is None else str(rule.end)
        parts.append(f"{rule.feature} salted by {rule.salt_from}[{rule.start}:{end}]")
    if hardening.balance:
        parts.append(f"balanced to {2 * schema.bloom_length} bits")
    if hardening.diffusion is not None:
        parts.append(
            f"diffusion to {hardening.diffusion.output_bits} bits, "
            f"t = {hardening.diffusion.taps} inputs per bit"
        )
    return "; ".join(parts)


def _size(data: bytes | None) -> str:
    return "none" if data is None else f"{len(data)} bytes"


def _describe_feature(feature: Feature) -> str:
    fmt = feature.format
    if isinstance(fmt, PatternFormat):
        format_text = f"string matching {fmt.pattern!r} ({fmt.encoding})"
    elif isinstance(fmt, IntegerFormat):
        format_text = f"integer in [{fmt.minimum}, {fmt.maximum}]"
    elif isinstance(fmt, DateFormat):
        format_text = f"date {fmt.format!r}"
    elif isinstance(fmt, EnumFormat):
        format_text = "one of " + ", ".join(repr(v) for v in fmt.values)
    else:
        bounds = []
        if fmt.min_length is not None:
            bounds.append(f">= {fmt.min_length}")
        if fmt.max_length is not None:
            bounds.append(f"<= {fmt.max_length}")
        length = f", length {' and '.join(bounds)}" if bounds else ""
        format_text = f"string ({fmt.encoding}, {fmt.case} case{length})"
    hashing = feature.hashing
    comparison = hashing.comparison
    if isinstance(comparison, NgramComparison):
        compare_text = f"{'positional ' if comparison.positional else ''}{comparison.n}-grams"
    elif isinstance(comparison, ExactComparison):
        compare_text = "exact"
    else:
        compare_text = (
            f"numeric (distance {comparison.threshold_distance}, "
            f"resolution {comparison.resolution}, precision {comparison.fractional_precision})"
        )
    strategy = hashing.strategy
    strategy_text = (
        f"{strategy.bits} bits per token"
        if type(strategy).__name__ == "BitsPerToken"
        else f"{strategy.bits} bits per feature"
    )
    hash_text = (
        f"doubleHash{' (prevent singularity)' if hashing.hash.prevent_singularity else ''}"
        if isinstance(hashing.hash, DoubleHash)
        else "blakeHash"
    )
    missing = hashing.missing_value
    missing_text = (
        f", missing {missing.sentinel!r} -> {missing.replacement!r}" if missing is not None else ""
    )
    return f"{format_text}; {compare_text}, {strategy_text}, {hash_text}{missing_text}"
