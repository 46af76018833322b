"""``agency-client encode --config agency.toml INPUT.csv -o OUT``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from tqdm import tqdm

from agency_client._config import load_agency_config
from agency_client._pipeline import encode_export
from linkage.errors import InvalidInputError

__all__ = ["encode_command"]

_SHOWN_PROBLEMS = 20


@click.command("encode")
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The agency's agency.toml (column mapping, schema, where the secret is).",
)
@click.argument("input_path", metavar="INPUT.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the CLKs (written to a temporary file, then renamed).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["clk", "clkhash-json"]),
    default=None,
    help="Output format (default: the config's output.format, else clk).",
)
@click.option("--strict", is_flag=True, help="Fail on the first bad row and write nothing.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: all cores).",
)
def encode_command(
    config_path: Path,
    input_path: Path,
    output_path: Path,
    output_format: str | None,
    strict: bool,
    workers: int | None,
) -> None:
    """Encode an agency export (CSV) into CLKs with the linkage secret named by the config."""
    config = load_agency_config(config_path, os.environ)
    if output_path.resolve() == input_path.resolve():
        raise InvalidInputError("the output must not overwrite the input")
    show_progress = sys.stderr.isatty()
    with tqdm(
        desc="encoding", unit="row", unit_scale=True, disable=not show_progress, file=sys.stderr
    ) as bar:
        report = encode_export(
            config,
            input_path,
            output_path,
            strict=strict,
            workers=workers,
            output_format="clkhash-json"
            if output_format == "clkhash-json"
            else None
            if output_format is None
            else "clk",
            progress=lambda rows: bar.update(rows),
        )
    for problem in report.problems[:_SHOWN_PROBLEMS]:
        click.echo(f"skipped {problem}", err=True)
    if len(report.problems) > _SHOWN_PROBLEMS or report.rows_skipped > _SHOWN_PROBLEMS:
        click.echo(f"... and more; {report.rows_skipped} bad rows in all", err=True)
    for substitution in report.substitutions[:_SHOWN_PROBLEMS]:
        click.echo(f"missing {substitution}", err=True)
    rate = report.rows_read / report.seconds if report.seconds > 0 else 0.0
    click.echo(
        f"encoded {report.rows_encoded} of {report.rows_read} rows into {report.output} "
        f"({report.output_format}; schema {report.schema_fingerprint[:16]}, "
        f"key epoch {report.key_epoch}) in {report.seconds:.2f} s ({rate:,.0f} rows/s); "
        f"skipped {report.rows_skipped} bad rows; "
        f"{report.values_treated_as_missing} invalid values treated as missing"
    )
