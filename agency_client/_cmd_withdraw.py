"""``agency-client withdraw ID... | --from-file F | --all``: take records out of the matcher."""

from __future__ import annotations

from pathlib import Path

import click

from agency_client._cli_options import config_option, load_session
from agency_client._cli_send import echo_send_report, send_all_pending
from agency_client._csvlines import bounded_lines
from agency_client._withdraw_consent_plans import plan_withdrawal
from linkage.errors import InvalidInputError

__all__ = ["read_id_file", "withdraw_command"]

#: the longest line of a file of record IDs (one ID a line)
_MAX_ID_LINE_CHARS = 4096


def read_id_file(path: Path) -> list[str]:
    """Local record IDs, one per line (blank lines and ``#`` comments ignored)."""
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            lines = list(bounded_lines(stream, path.name, limit=_MAX_ID_LINE_CHARS))
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path.name}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path.name} is not UTF-8 text") from None
    return [s for line in lines if (s := line.strip()) and not s.startswith("#")]


@click.command("withdraw")
@config_option
@click.argument("record_ids", nargs=-1)
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="A file of local record IDs, one per line.",
)
@click.option("--all", "everything", is_flag=True, help="Withdraw every record of this agency.")
@click.option("--yes", is_flag=True, help="Do not ask before withdrawing everything.")
def withdraw_command(
    config_path: Path,
    record_ids: tuple[str, ...],
    from_file: Path | None,
    everything: bool,
    yes: bool,
) -> None:
    """Withdraw records by local record ID (their CLKs and pointers are deleted at the matcher)."""
    ids = list(record_ids) + (read_id_file(from_file) if from_file is not None else [])
    if everything == bool(ids):
        raise InvalidInputError("name record IDs (or --from-file), or pass --all; not both")
    if everything and not yes:
        try:
            confirmed = click.confirm("Withdraw EVERY record of this agency from the matcher?")
        except click.Abort:  # no answer (end of input): nothing was withdrawn
            confirmed = False
        if not confirmed:
            raise InvalidInputError(
                "nothing withdrawn: --all needs a 'y' at the prompt, or --yes in scripts"
            )
    session = load_session(config_path)
    with session.state() as state:
        if state.pending_summary()[0]:
            click.echo("resuming: sending batches an earlier run left pending")
            echo_send_report(send_all_pending(session, state, "resuming"))
        count = plan_withdrawal(session, state, ids, everything=everything)
        click.echo(f"withdrawing {count} records")
        echo_send_report(send_all_pending(session, state, "withdrawing"))
