"""``linkage-admin report``: the operator's quality report, read from the matcher's store."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from linkage.errors import ConfigError
from linkage.server import ServerConfig, load_server_config, open_store
from linkage.store import LinkStore

__all__ = ["ledger_option", "open_existing_store", "report", "server_config_option"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The review ledger's file name, next to server.toml unless --ledger says otherwise.
LEDGER_NAME = "clerical-review.json"


def server_config_option(func: _F) -> _F:
    """``--config``: the matcher's server.toml (its store is read, never written)."""
    return click.option(
        "--config",
        "config_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The matcher's server.toml (its store is read, never written).",
    )(func)


def ledger_option(func: _F) -> _F:
    """``--ledger``: the clerical-review ledger (default: clerical-review.json beside --config)."""
    return click.option(
        "--ledger",
        "ledger_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"The clerical-review ledger (default: {LEDGER_NAME} next to the server.toml).",
    )(func)


def ledger_path_for(config_path: Path, ledger_path: Path | None) -> Path:
    return ledger_path if ledger_path is not None else config_path.resolve().parent / LEDGER_NAME


def open_existing_store(config_path: Path) -> tuple[ServerConfig, LinkStore]:
    """The configuration and its store; an SQLite store must exist already."""
    config = load_server_config(config_path, os.environ)
    if config.store.engine == "sqlite" and (
        config.store.path is None or not config.store.path.exists()
    ):
        raise ConfigError(f"no store at {config.store.path}; check [store] in {config_path}")
    return config, open_store(config.store)


@click.command()
@server_config_option
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for report.html, the PNG figures and summary.json.",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Ground truth for test data: CSV with agency_id, record_key (hex), entity_id.",
)
@click.option(
    "--threshold-override",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=None,
    help="Evaluate this threshold (marked on the charts; quality at it) instead of the "
    "one in force (a match probability below 1 for a probabilistic matcher). Nothing on "
    "the matcher changes.",
)
@click.option(
    "--floor",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.5,
    show_default=True,
    help="Lowest best-match Dice score the histogram shows (Dice mode).",
)
@click.option(
    "--max-comparisons",
    type=click.IntRange(min=1),
    default=2_000_000_000,
    show_default=True,
    help="CLK comparisons the report may spend (Dice mode); beyond it, best matches below the "
    "threshold are computed for a random sample of records.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@ledger_option
def report(
    config_path: Path,
    out_dir: Path,
    truth_path: Path | None,
    threshold_override: float | None,
    floor: float,
    max_comparisons: int,
    seed: int,
    ledger_path: Path | None,
) -> None:
    """Write the linkage quality report: threshold evidence (and, for a probabilistic
    matcher, its fitted model and blocking), overlap between agencies, weekly activity
    and (with labels) precision and recall. Counts and scores only."""
    from linkage.report import (
        ReportOptions,
        collect_report_data,
        load_ledger,
        read_truth_csv,
        write_report,
    )

    started = time.perf_counter()
    options = ReportOptions(
        chosen_threshold=threshold_override,
        floor=floor,
        max_comparisons=max_comparisons,
        seed=seed,
    )
    truth = read_truth_csv(truth_path) if truth_path is not None else None
    ledger_file = ledger_path_for(config_path, ledger_path)
    ledger = load_ledger(ledger_file) if ledger_file.exists() else None
    config, store = open_existing_store(config_path)
    try:
        data = collect_report_data(store, config.linkage, options, truth=truth, ledger=ledger)
    finally:
        store.close()
    files = write_report(data, out_dir)
    seconds = time.perf_counter() - started
    suggested = data.suggested_threshold
    none = "none (no clear valley)" if data.model is None else "none (the model suggests none)"
    scores = "match probability " if data.model is not None else ""
    click.echo(f"report: {files.html}")
    click.echo(f"figures: {', '.join(str(p) for p in files.figures.values())}")
    click.echo(
        f"{int(data.overlap.records.sum()):,} records, {data.overlap.link_count:,} links; "
        f"{scores}threshold {data.threshold:.3f}, suggested "
        + (none if suggested is None else f"{suggested:.3f}")
    )
    if data.quality is not None:
        chosen = data.quality.chosen
        click.echo(
            f"{data.quality.source} at {chosen.threshold:.3f}: precision {chosen.precision:.3f}, "
            f"recall {chosen.recall:.3f}, F1 {chosen.f1:.3f}"
        )
    click.echo(f"written in {seconds:.1f} s ({files.total_bytes / 1e6:.2f} MB)")
