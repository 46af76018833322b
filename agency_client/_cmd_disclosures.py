"""``agency-client disclosures``: the accounting of disclosures of this agency's records.

HIPAA and 42 CFR Part 2 give a person the right to an accounting of who was shown
their record. The matcher keeps one entry per record disclosed by a lookup (who,
which agency, purpose, when, the audit entry); it knows records only by their
opaque keys. This command lists them newest first and turns each key back into
the local record ID by keying the IDs of the agency's own export (``--export``,
default the last uploaded one), which only this agency can do.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import click

from agency_client._cli_options import config_option, load_session
from agency_client._export import iter_local_ids

__all__ = ["disclosures_command"]


def _record_key(name: str) -> bytes:
    """The record key of ``agencies/{agency}/records/{key}`` (unpadded base64url)."""
    encoded = name.rsplit("/", 1)[-1]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))


@click.command("disclosures")
@config_option
@click.option(
    "--export",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The export whose record IDs resolve the keys (default: the last uploaded one).",
)
@click.option("--record", "record_id", default=None, help="Only this local record ID.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
def disclosures_command(
    config_path: Path, export: Path | None, record_id: str | None, limit: int | None, as_json: bool
) -> None:
    """List who was shown this agency's records, newest first (an accounting of disclosures)."""
    session = load_session(config_path)
    if export is None:
        with session.state() as state:
            last = state.get_meta("last_export")
        export = Path(last) if last is not None and Path(last).is_file() else None
    local_ids: dict[bytes, str] = {}
    if export is not None:
        local_ids = {session.keys.record_key(i): i for i in iter_local_ids(session.config, export)}
    wanted = None if record_id is None else session.keys.record_key(record_id)
    shown = 0
    with session.matcher() as client:
        for disclosure in client.list_disclosures(session.config.parent):
            key = _record_key(disclosure.record)
            if wanted is not None and key != wanted:
                continue
            entry = {
                "record_id": local_ids.get(key),
                "record_key": disclosure.record.rsplit("/", 1)[-1],
                "link": disclosure.link,
                "recipient": disclosure.recipient,
                "recipient_agency": disclosure.recipient_agency,
                "purpose": disclosure.purpose,
                "disclose_time": disclosure.disclose_time.ToJsonString(),
                "audit_sequence": disclosure.audit_sequence,
            }
            if as_json:
                click.echo(json.dumps(entry, sort_keys=True))
            else:
                who = entry["record_id"] or f"(key {entry['record_key']}, not in the export)"
                click.echo(
                    f"{entry['disclose_time']}  record {who} shown to {entry['recipient']} "
                    f"({entry['recipient_agency']}) for {entry['purpose']} via {entry['link']} "
                    f"[audit #{entry['audit_sequence']}]"
                )
            shown += 1
            if limit is not None and shown >= limit:
                break
    if not as_json:
        click.echo(f"{shown} disclosure{'s' if shown != 1 else ''}", err=True)
