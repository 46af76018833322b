"""The ``agency-client`` command line: a thin click group; each command lives in its own module.

Domain errors (:class:`linkage.errors.LinkageError`) are printed to stderr and exit
with their documented code in one place (:class:`agency_client._cli_common.LinkageGroup`;
the table is in docs/agency-client.md).
"""

from __future__ import annotations

import click

from agency_client._cli_common import LinkageGroup
from agency_client._cmd_consent import consent_group
from agency_client._cmd_contact_card import contact_card_group
from agency_client._cmd_deref import deref_command
from agency_client._cmd_disclosures import disclosures_command
from agency_client._cmd_encode import encode_command
from agency_client._cmd_gateway import gateway_command
from agency_client._cmd_init import init_command
from agency_client._cmd_schema import schema_group
from agency_client._cmd_status import audit_heads_command, status_command
from agency_client._cmd_upload import upload_command
from agency_client._cmd_withdraw import withdraw_command

__all__ = ["cli", "main"]


@click.group(cls=LinkageGroup)
@click.version_option(package_name="coresponder-linkage")
def cli() -> None:
    """Agency-side client for privacy-preserving record linkage."""


for _command in (
    init_command,
    encode_command,
    upload_command,
    withdraw_command,
    consent_group,
    status_command,
    audit_heads_command,
    contact_card_group,
    deref_command,
    disclosures_command,
    gateway_command,
    schema_group,
):
    cli.add_command(_command)


def main() -> None:
    """Console-script entry point (``agency-client``)."""
    cli()


if __name__ == "__main__":
    main()
