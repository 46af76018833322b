"""``agency-client deref TOKEN``: open a pointer token with this agency's key and show the record.

The token (base64url, as the gateway returns it) is decrypted with the agency's
pointer key, which authenticates it: a token of another agency, or an altered
one, does not open. The local record ID is then looked up in the agency's own
export (``--export``, default the last uploaded one); see agency_client._export
for why the export rather than a separate index.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

import click

from agency_client._cli_options import config_option, load_session
from agency_client._export import find_record
from agency_client.pointer import open_pointer, token_epoch
from linkage.errors import InvalidInputError, NotFoundError

__all__ = ["decode_token", "deref_command"]


def decode_token(text: str) -> bytes:
    """Decode a base64url (or standard base64) token, padding optional."""
    cleaned = text.strip()
    try:
        return base64.urlsafe_b64decode(
            cleaned.replace("+", "-").replace("/", "_") + "=" * (-len(cleaned) % 4)
        )
    except (binascii.Error, ValueError):
        raise InvalidInputError(
            "the pointer token is not base64url; copy it exactly as the gateway showed it"
        ) from None


@click.command("deref")
@config_option
@click.argument("token")
@click.option(
    "--export",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The export to look the record up in (default: the last uploaded one).",
)
@click.option("--id-only", is_flag=True, help="Print only the local record ID.")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def deref_command(
    config_path: Path, token: str, export: Path | None, id_only: bool, as_json: bool
) -> None:
    """Turn a pointer token into this agency's local record."""
    session = load_session(config_path)
    raw = decode_token(token)
    epoch = token_epoch(raw)
    local_id = open_pointer(session.pointer_key, session.agency_id, epoch, raw)
    if id_only:
        click.echo(local_id)
        return
    if export is None:
        with session.state() as state:
            last = state.get_meta("last_export")
        if last is None:
            raise NotFoundError("no export was uploaded from here; pass --export EXPORT.csv")
        export = Path(last)
    record = find_record(session.config, export, local_id)
    if record is None:
        raise NotFoundError(
            f"the token opened, but its record is not in {export.name}; "
            "it may have been removed since: check a newer export with --export"
        )
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, sort_keys=True))
        return
    for column, value in record.items():
        click.echo(f"{column}: {value}")
