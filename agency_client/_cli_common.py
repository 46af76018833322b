"""What every CLI command shares: domain errors become one stderr line set and exit code 2."""

from __future__ import annotations

from typing import Any

import click

from linkage.errors import LinkageError

__all__ = ["EXIT_DOMAIN_ERROR", "LinkageGroup"]

#: Exit code for every domain error (bad input, config, schema, rows in --strict mode).
EXIT_DOMAIN_ERROR = 2


class LinkageGroup(click.Group):
    """A click group that maps :class:`LinkageError` to stderr and exit code 2, in one place.

    Sub-groups are invoked through their parent's ``invoke``, so the top-level group
    catches errors from every command.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LinkageError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_DOMAIN_ERROR)
