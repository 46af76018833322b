"""``agency-client upload EXPORT.csv``: encode and send only what changed, resumably."""

from __future__ import annotations

from pathlib import Path

import click

from agency_client._cli_options import config_option, load_session, progress_bar
from agency_client._cli_send import echo_send_report, send_all_pending
from agency_client._contacts import FieldContactRecord, FieldContactStore, contacts_path
from agency_client._events import EventsFile, read_events_csv
from agency_client._rotation import (
    check_rotation_secret,
    next_epoch_session,
    remember_state_epoch,
)
from agency_client._session import AgencySession
from agency_client._state import UploadState
from agency_client._workflow import plan_upload
from linkage.errors import FailedPreconditionError

__all__ = ["upload_command"]

_SHOWN_PROBLEMS = 20
#: The upload state remembers whether the last upload sent an events file.
_EVENTS_META = "upload_events"


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
    help="Withdraw everything and upload the export afresh (e.g. after a pointer-key "
    "rotation; a key-epoch rotation needs no such thing: see [rotation]).",
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
@click.option(
    "--events",
    "events_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV of the export's programme events (record_id, code, date, disposition): all of "
    "them, every upload; a record whose events changed is sent again.",
)
@click.option(
    "--no-events",
    is_flag=True,
    help="Upload without an events file although the last upload had one (withdraws the "
    "events of the export's records).",
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
    events_path: Path | None,
    no_events: bool,
) -> None:
    """Encode EXPORT and send new, changed and removed records to the matcher.

    Batches are stored locally before they are sent and forgotten only once the
    matcher acknowledges them, so re-running after an interruption sends only
    what was not acknowledged. Contacts logged on the gateway page since the last
    upload are sent too (as field-contact records with their events). During a
    key-epoch rotation ([rotation] in agency.toml) the export is sent in the epoch in
    force and again in the next one, each with its own state.
    """
    if events_path is not None and no_events:
        raise click.UsageError("give --events FILE or --no-events, not both")
    events = read_events_csv(events_path) if events_path is not None else None
    session = load_session(config_path)
    following = next_epoch_session(session)
    for each in (session,) if following is None else (session, following):
        if each is following:
            click.echo(
                f"key-epoch rotation: the same export in key epoch "
                f"{each.config.encoding.key_epoch}, beside key epoch "
                f"{session.config.encoding.key_epoch}"
            )
        _upload_epoch(
            each,
            export,
            events,
            no_events=no_events,
            workers=workers,
            strict=strict,
            dry_run=dry_run,
            replace_all=replace_all,
            allow_mass_withdrawal=allow_mass_withdrawal,
            discard_pending=discard_pending,
            rotating=each is following,
        )


def _upload_epoch(
    session: AgencySession,
    export: Path,
    events: EventsFile | None,
    *,
    no_events: bool,
    workers: int | None,
    strict: bool,
    dry_run: bool,
    replace_all: bool,
    allow_mass_withdrawal: bool,
    discard_pending: bool,
    rotating: bool = False,
) -> None:
    """One key epoch's upload: resume, plan, send (with that epoch's state). The next
    epoch of a rotation (``rotating``) sends no field contacts: those logged in it are
    records the epoch in force does not hold (the matcher refuses them until the finish);
    they wait in the contact file and go with the first upload once that epoch is in
    force. Its state must have been written with its secret."""
    contacts = [] if rotating else _field_contacts(session)
    with session.state() as state:
        if rotating:
            check_rotation_secret(session, state)
        else:
            remember_state_epoch(state, session.config.encoding.key_epoch)
        _check_events_choice(state, events, no_events)
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
                events=events,
                field_contacts=contacts,
            )
        if not dry_run:
            state.set_meta(_EVENTS_META, "yes" if events is not None else "no")
        click.echo(
            f"{'would send' if dry_run else 'planned'} {plan.to_send + plan.field_contacts} "
            f"changes from {plan.rows_read} rows in {plan.seconds:.1f} s: {plan.new} new, "
            f"{plan.changed} changed, {plan.withdrawn} withdrawn, {plan.unchanged} unchanged; "
            f"skipped {plan.skipped_rows} rows"
        )
        if events is not None:
            click.echo(f"events: {plan.events} for the export's records")
        if plan.field_contacts:
            click.echo(f"contacts logged in the field: {plan.field_contacts} records to send")
        for problem in plan.problems[:_SHOWN_PROBLEMS]:
            click.echo(f"  skipped {problem}")
        if len(plan.problems) > _SHOWN_PROBLEMS:
            click.echo(f"  ... {len(plan.problems) - _SHOWN_PROBLEMS} more problems")
        if dry_run:
            return
        echo_send_report(send_all_pending(session, state, "uploading"))


def _field_contacts(session: AgencySession) -> list[FieldContactRecord]:
    """The field-contact records of this linkage space (none without a contact file)."""
    path = contacts_path(session.config.state_file)
    if not path.exists() and not path.is_symlink():
        return []
    encoding = session.config.encoding
    with FieldContactStore(path, create=False) as store:
        records, other = store.records(session.fingerprint, encoding.key_epoch)
    if other:
        click.echo(
            f"note: {other} contacts logged on the gateway were encoded under another schema "
            "or key epoch; they are kept in the field-contact file and not sent",
            err=True,
        )
    return records


def _check_events_choice(state: UploadState, events: EventsFile | None, no_events: bool) -> None:
    """Refuse to drop every event by forgetting --events once an upload has sent them."""
    if events is None and not no_events and state.get_meta(_EVENTS_META) == "yes":
        raise FailedPreconditionError(
            "the last upload sent an events file: pass it again with --events FILE (all of "
            "the export's events), or --no-events to withdraw the events of its records"
        )
