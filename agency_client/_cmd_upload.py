"""``agency-client upload EXPORT.csv``: encode and send only what changed, resumably."""

from __future__ import annotations

from pathlib import Path

import click

from agency_client._cli_options import config_option, load_session, progress_bar
from agency_client._cli_send import echo_send_report, send_all_pending
from agency_client._workflow import plan_upload

__all__ = ["upload_command"]

_SHOWN_PROBLEMS = 20


@click.command("upload")
@config_option
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Encoding processes (default: all cores).",
)
@click.option("--strict", is_flag=True, help="Send nothing if any row is invalid.")
@click.option("--dry-run", is_flag=True, help="Only count what would be sent.")
@click.option(
    "--replace-all",
    is_flag=True,
    help="Withdraw everything and upload the export afresh (e.g. after a key rotation).",
)
@click.option(
    "--allow-mass-withdrawal",
    is_flag=True,
    help="Allow an export that withdraws more than half of the held records.",
)
@click.option(
    "--discard-pending",
    is_flag=True,
    help="Forget batches an earlier run could not send, instead of sending them.",
)
def upload_command(
    config_path: Path,
    export: Path,
    workers: int | None,
    strict: bool,
    dry_run: bool,
    replace_all: bool,
    allow_mass_withdrawal: bool,
    discard_pending: bool,
) -> None:
    """Encode EXPORT and send new, changed and removed records to the matcher.

    Batches are stored locally before they are sent and forgotten only once the
    matcher acknowledges them, so re-running after an interruption sends only
    what was not acknowledged.
    """
    session = load_session(config_path)
    with session.state() as state:
        if discard_pending:
            dropped = state.discard_pending()
            click.echo(
                f"discarded {dropped} pending batches (the state keeps what was acknowledged)"
            )
        pending, _ = state.pending_summary()
        if pending and not dry_run:
            click.echo(f"resuming: {pending} batches from an earlier run were not acknowledged")
            echo_send_report(send_all_pending(session, state, "resuming"))
        with progress_bar("encoding") as bar:
            plan = plan_upload(
                session,
                state,
                export,
                workers=workers,
                strict=strict,
                replace_all=replace_all,
                allow_mass_withdrawal=allow_mass_withdrawal,
                dry_run=dry_run,
                progress=bar.update,
            )
        click.echo(
            f"{'would send' if dry_run else 'planned'} {plan.to_send} changes from "
            f"{plan.rows_read} rows in {plan.seconds:.1f} s: {plan.new} new, {plan.changed} "
            f"changed, {plan.withdrawn} withdrawn, {plan.unchanged} unchanged; "
            f"skipped {plan.skipped_rows} rows"
        )
        for problem in plan.problems[:_SHOWN_PROBLEMS]:
            click.echo(f"  skipped {problem}")
        if len(plan.problems) > _SHOWN_PROBLEMS:
            click.echo(f"  ... {len(plan.problems) - _SHOWN_PROBLEMS} more problems")
        if dry_run:
            return
        echo_send_report(send_all_pending(session, state, "uploading"))
