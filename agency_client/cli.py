"""The ``agency-client`` command line: a thin click group; each command lives in its own module.

Domain errors (:class:`linkage.errors.LinkageError`) are printed to stderr and exit
with code 2 in one place (:class:`agency_client._cli_common.LinkageGroup`). Later
commands (init, upload, withdraw, consent, status, deref, gateway) register here too.
"""

from __future__ import annotations

import click

from agency_client._cli_common import LinkageGroup
from agency_client._cmd_encode import encode_command
from agency_client._cmd_schema import schema_group

__all__ = ["cli", "main"]


@click.group(cls=LinkageGroup)
@click.version_option(package_name="coresponder-linkage")
def cli() -> None:
    """Agency-side client for privacy-preserving record linkage."""


cli.add_command(encode_command)
cli.add_command(schema_group)


def main() -> None:
    """Console-script entry point (``agency-client``)."""
    cli()


if __name__ == "__main__":
    main()
