"""``python -m linkage.demo`` (``./dev.sh demo``): the demo's command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from linkage.demo._scenario import DEFAULT_THRESHOLD, LINKAGE_MODES
from linkage.demo._story import run_demo

__all__ = ["main"]


@click.command()
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-run"),
    show_default=True,
    help="A fresh folder for the demo's files (emptied first).",
)
@click.option("--people", type=click.IntRange(10, 5000), default=300, show_default=True)
@click.option(
    "--linkage",
    type=click.Choice(LINKAGE_MODES),
    default="probabilistic",
    show_default=True,
    help="probabilistic: per-field segments and a Fellegi-Sunter model; dice: one Dice "
    "score per record-level CLK (for comparison).",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0.01, 0.99),
    default=None,
    help="The matcher's threshold: a match probability for probabilistic linkage (default: "
    f'"auto", the fitted model\'s suggestion), a Dice score for dice (default '
    f"{DEFAULT_THRESHOLD}).",
)
def main(work_dir: Path, people: int, linkage: str, threshold: float | None) -> None:
    """Run the co-responder scenario end to end on the embedded defaults."""
    sys.exit(run_demo(work_dir, people=people, threshold=threshold, linkage=linkage))
