"""The root of ``linkage-admin``: lazy subcommand registry and the one error handler.

To add a family of commands (``audit verify``, ``report``, ``review``,
``rebuild``), write a click group in its own module under
:mod:`linkage.admin` and add one line to :data:`SUBCOMMANDS`. Raise
:class:`~linkage.errors.LinkageError` subclasses for domain failures: they
are printed to stderr as ``error: ...`` with exit code 2, here and only here.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from linkage.errors import LinkageError

__all__ = ["EXIT_DOMAIN_ERROR", "SUBCOMMANDS", "AdminGroup", "main"]

#: Exit status for domain errors (bad input, missing PKI, revoked, ...).
EXIT_DOMAIN_ERROR = 2

#: name -> (module, attribute) of a click command or group, imported on first use.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "pki": ("linkage.admin._pki_commands", "pki"),
    "cert": ("linkage.admin._pki_commands", "cert"),
    "agency": ("linkage.admin._operator_commands", "agency"),
    "links": ("linkage.admin._operator_commands", "links"),
    "index": ("linkage.admin._operator_commands", "index"),
    "events": ("linkage.admin._operator_commands", "events"),
    "audit": ("linkage.admin._operator_commands", "audit"),
    "epoch": ("linkage.admin._epoch_commands", "epoch"),
    "report": ("linkage.admin._report_commands", "report"),
    "review": ("linkage.admin._review_commands", "review"),
    "outcomes": ("linkage.admin._outcome_commands", "outcomes"),
}


class AdminGroup(click.Group):
    """A group that loads registered subcommands lazily and maps domain errors to exit 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *SUBCOMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in SUBCOMMANDS:
            return command
        module_name, attribute = SUBCOMMANDS[cmd_name]
        loaded = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        return loaded

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LinkageError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_DOMAIN_ERROR)


@click.group(cls=AdminGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operator administration for the co-responder linkage service."""
