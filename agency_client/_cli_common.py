"""What every CLI command shares: domain errors become one stderr message and a documented
exit code (docs/agency-client.md), in one place.

==== ======================================================================
code meaning
==== ======================================================================
0    done
1    unexpected internal error (a bug: please report it with the command)
2    usage, configuration or input error; or the matcher refused the content
     (wrong schema or key epoch, invalid batch). Fix what the message names.
3    the matcher is unreachable, busy or rate-limiting. Run the same command
     again later: acknowledged work is kept and the rest resumes.
4    the matcher refused this certificate (expired, revoked, wrong role).
5    something named does not exist: a record ID that was never uploaded, a
     pointer token's record missing from the export, a missing key file.
130  interrupted (Ctrl-C); pending batches are kept, run the command again.
==== ======================================================================
"""

from __future__ import annotations

from typing import Any, Final

import click

from linkage.errors import LinkageError, StatusHint

__all__ = [
    "EXIT_CREDENTIALS",
    "EXIT_DOMAIN_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "LinkageGroup",
    "exit_code_for",
]

EXIT_OK: Final = 0
#: Exit code for usage, config and input errors and refused content.
EXIT_DOMAIN_ERROR: Final = 2
EXIT_UNAVAILABLE: Final = 3
EXIT_CREDENTIALS: Final = 4
EXIT_NOT_FOUND: Final = 5
EXIT_INTERRUPTED: Final = 130

_BY_HINT: Final = {
    StatusHint.UNAVAILABLE: EXIT_UNAVAILABLE,
    StatusHint.RESOURCE_EXHAUSTED: EXIT_UNAVAILABLE,
    StatusHint.ABORTED: EXIT_UNAVAILABLE,
    StatusHint.UNAUTHENTICATED: EXIT_CREDENTIALS,
    StatusHint.PERMISSION_DENIED: EXIT_CREDENTIALS,
    StatusHint.NOT_FOUND: EXIT_NOT_FOUND,
}


def exit_code_for(error: LinkageError) -> int:
    """The documented exit code of a domain error."""
    return _BY_HINT.get(error.status_hint, EXIT_DOMAIN_ERROR)


class LinkageGroup(click.Group):
    """A click group that maps :class:`LinkageError` to stderr and its exit code, in one place.

    Sub-groups are invoked through their parent's ``invoke``, so the top-level group
    catches errors from every command.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LinkageError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exit_code_for(exc))
        except KeyboardInterrupt:
            click.echo(
                "interrupted: acknowledged work is kept; run the same command again to resume",
                err=True,
            )
            ctx.exit(EXIT_INTERRUPTED)
