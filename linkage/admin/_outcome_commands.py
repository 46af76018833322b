"""``linkage-admin outcomes``: programme outcome measures, released safely (docs/outcomes.md).

``run`` reads the matcher's store (as ``report`` does), computes a spec's measures over
the link index, releases them with differential privacy and small-cell suppression under
the programme's privacy budget (recorded in the store's ledger, with an audit entry) and
writes the release; ``standard-spec`` prints the packaged standard measure set; ``ledger``
lists a programme's releases and the budget left."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from linkage.admin._report_commands import open_existing_store
from linkage.errors import ConfigError, InvalidInputError
from linkage.outcomes import (
    PROGRAMME_FILE,
    Programme,
    load_programme,
    load_spec,
    standard_spec_text,
)

__all__ = ["outcomes"]


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{what} {path} is not UTF-8 text") from None


def _programme(config_path: Path, programme_path: Path | None) -> Programme:
    path = programme_path or config_path.resolve().parent / PROGRAMME_FILE
    where = f"the programme file (--programme, or {PROGRAMME_FILE} beside the server.toml)"
    return load_programme(_read_text(path, where), str(path))


def _config_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--config",
        "config_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The matcher's server.toml: its store is read, and a release is recorded in "
        "its privacy-budget ledger.",
    )(func)


def _programme_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--programme",
        "programme_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=f"The programme file (default: {PROGRAMME_FILE} next to the server.toml).",
    )(func)


@click.group()
def outcomes() -> None:
    """Programme outcome measures over the link index, released with differential
    privacy and small-cell suppression (aggregates only)."""


@outcomes.command("standard-spec")
def standard_spec() -> None:
    """Print the packaged standard co-responder measure set (TOML) to copy and edit."""
    click.echo(standard_spec_text(), nl=False)


@outcomes.command("plan")
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The outcome spec (TOML).",
)
def plan(spec_path: Path) -> None:
    """Show the noise a spec's release would add to each count (scale and interval),
    before any data is read or budget spent."""
    from linkage.outcomes import plan_noise

    spec = load_spec(_read_text(spec_path, "the outcome spec"), str(spec_path))
    share, plans = plan_noise(spec)
    histograms = sum(len(p.dimensions) for p in plans)
    click.echo(
        f"epsilon {spec.release.epsilon:g} over {histograms} histograms "
        f"({share:.4g} each); intervals at {spec.release.confidence:.0%}"
    )
    for p in plans:
        click.echo(
            f"{p.query:40} by {', '.join(p.dimensions):32} sensitivity {p.sensitivity:>3}  "
            f"scale {p.scale:8.1f}  ± {p.half_width}"
        )


@outcomes.command("run")
@_config_option
@click.option(
    "--spec",
    "spec_path",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The outcome spec (TOML).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for outcomes.html, outcomes.csv and release.json.",
)
@_programme_option
@click.option(
    "--fresh",
    is_flag=True,
    help="Draw new noise and spend the epsilon again even when this query was released "
    "before (by default the stored release is returned and nothing is spent).",
)
def run(
    config_path: Path, spec_path: Path, out_dir: Path, programme_path: Path | None, fresh: bool
) -> None:
    """Compute the spec's measures and release them (counts, noise scale and interval)."""
    from linkage.outcomes import release_outcomes
    from linkage.report import write_outcome_report

    spec = load_spec(_read_text(spec_path, "the outcome spec"), str(spec_path))
    programme = _programme(config_path, programme_path)
    _, store = open_existing_store(config_path)
    try:
        outcome = release_outcomes(
            store,
            spec,
            programme,
            actor=f"admin:{getpass.getuser()}",
            now=datetime.now(UTC),
            fresh=fresh,
        )
    finally:
        store.close()
    files = write_outcome_report(outcome, out_dir)
    entry = outcome.entry
    how = "the stored release (nothing spent)" if outcome.reused else "a new release"
    click.echo(f"release {entry.release_id} of programme {programme.id}: {how}")
    click.echo(f"rule: {programme.rule}")
    gathered = outcome.gathered
    click.echo(
        f"records with events: {gathered.records_used:,} counted, "
        f"{gathered.records_left_out:,} left out by the rule (for the operator: not released)"
    )
    click.echo(
        f"epsilon {entry.epsilon:g}; spent {outcome.spent_epsilon:g} of "
        f"{outcome.budget_epsilon:g}; {outcome.release.withheld} cells withheld"
    )
    for path in files:
        click.echo(f"wrote {path}")


@outcomes.command("ledger")
@_config_option
@_programme_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per release.")
def ledger(config_path: Path, programme_path: Path | None, as_json: bool) -> None:
    """List the programme's releases and the privacy budget left."""
    programme = _programme(config_path, programme_path)
    _, store = open_existing_store(config_path)
    try:
        rows = store.list_outcome_releases(programme.id)
    finally:
        store.close()
    spent = 0.0
    for row in rows:
        spent += row.epsilon
        when = datetime.fromtimestamp(row.create_time_us / 1e6, UTC).isoformat()
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "release_id": row.release_id,
                        "epsilon": row.epsilon,
                        "created_at": when,
                        "actor": row.actor,
                        "audit_sequence": row.audit_sequence,
                        "query_digest": row.query_digest.hex(),
                    }
                )
            )
        else:
            click.echo(f"{row.release_id:>6}  {when}  epsilon {row.epsilon:g}  {row.actor}")
    if not as_json:
        left = programme.budget_epsilon - spent
        click.echo(
            f"programme {programme.id}: spent {spent:g} of {programme.budget_epsilon:g} "
            f"(left {max(0.0, left):g})"
        )
