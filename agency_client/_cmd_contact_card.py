"""``agency-client contact-card show|confirm|reject``: the card responders are shown.

The card (the agency's name on it, what to do, the number to call) belongs to the
agency. The operator may propose a change (``linkage-admin agency update``); responders
keep seeing the card in force until the agency confirms the change here, by the digest
``show`` printed, so a proposal replaced in the meantime is never confirmed unseen.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from agency_client._cli_options import config_option, load_session
from linkage.v1 import common_pb2, ingest_pb2

__all__ = ["contact_card_group"]

_DIGEST = re.compile(r"[0-9a-f]{64}")


def _card(card: common_pb2.ContactCard) -> dict[str, str]:
    return {
        "display_name": card.display_name,
        "instructions": card.instructions,
        "phone_number": card.phone_number,
    }


def _shown(answer: ingest_pb2.AgencyContactCard) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "display_name": answer.display_name,
        "contact_card": _card(answer.contact_card),
        "proposal": None,
    }
    if answer.HasField("proposal"):
        proposal = answer.proposal
        shown["proposal"] = {
            "display_name": proposal.display_name,
            "contact_card": _card(proposal.contact_card),
            "proposed_by": proposal.proposed_by,
            "propose_time": proposal.propose_time.ToJsonString(),
            "digest": proposal.digest.hex(),
        }
    return shown


def _echo(title: str, display_name: str, card: dict[str, str]) -> None:
    click.echo(f"{title}: {display_name}")
    click.echo(f"  name on the card: {card['display_name'] or '(the display name)'}")
    click.echo(f"  phone:            {card['phone_number'] or '-'}")
    click.echo(f"  instructions:     {card['instructions'] or '-'}")


@click.group("contact-card")
def contact_card_group() -> None:
    """The contact card responders see for this agency, and changes to confirm."""


@contact_card_group.command("show")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def show_command(config_path: Path, as_json: bool) -> None:
    """Show the card in force and the change the operator proposed, if any."""
    session = load_session(config_path)
    with session.matcher() as client:
        shown = _shown(client.contact_card(session.config.parent))
    if as_json:
        click.echo(json.dumps(shown, sort_keys=True))
        return
    _echo("in force", shown["display_name"], shown["contact_card"])
    proposal = shown["proposal"]
    if proposal is None:
        click.echo("no change proposed")
        return
    _echo(
        f"proposed by {proposal['proposed_by']} at {proposal['propose_time']}",
        proposal["display_name"],
        proposal["contact_card"],
    )
    click.echo(
        f"to put it in force: agency-client contact-card confirm {proposal['digest']}\n"
        f"to discard it:      agency-client contact-card reject {proposal['digest']}"
    )


def _settle(config_path: Path, digest_hex: str, *, reject: bool) -> None:
    if not _DIGEST.fullmatch(digest_hex):
        raise click.BadParameter(
            "must be the 64 hex characters contact-card show printed", param_hint="DIGEST"
        )
    session = load_session(config_path)
    with session.matcher() as client:
        answer = client.settle_contact_card(
            session.config.parent, bytes.fromhex(digest_hex), reject=reject
        )
    if reject:
        click.echo("the proposed change was discarded; the card in force is unchanged")
    else:
        click.echo("confirmed; responders see this card from their next lookup")
    _echo("in force", answer.display_name, _card(answer.contact_card))


@contact_card_group.command("confirm")
@config_option
@click.argument("digest_hex", metavar="DIGEST")
def confirm_command(config_path: Path, digest_hex: str) -> None:
    """Put the proposed change in force (DIGEST: as contact-card show printed it)."""
    _settle(config_path, digest_hex, reject=False)


@contact_card_group.command("reject")
@config_option
@click.argument("digest_hex", metavar="DIGEST")
def reject_command(config_path: Path, digest_hex: str) -> None:
    """Discard the proposed change (DIGEST: as contact-card show printed it)."""
    _settle(config_path, digest_hex, reject=True)
