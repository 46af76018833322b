"""Options shared by the workflow commands, defined once."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from tqdm import tqdm

from agency_client._rotation import adopt_next_epoch_state
from agency_client._session import AgencySession, open_session

__all__ = ["config_option", "load_session", "progress_bar"]

_F = TypeVar("_F", bound=Callable[..., Any])


def config_option(func: _F) -> _F:
    """``--config agency.toml`` (env ``AGENCY_CLIENT_CONFIG``; default ``./agency.toml``)."""
    return click.option(
        "--config",
        "config_path",
        envvar="AGENCY_CLIENT_CONFIG",
        default="agency.toml",
        show_default=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help="The agency's agency.toml (written by agency-client init).",
    )(func)


def load_session(config_path: Path) -> AgencySession:
    """The config, secret and pointer key (the environment is read here, at the edge).
    After a finished key-epoch rotation, the next epoch's upload state is adopted."""
    session = open_session(config_path, os.environ)
    note = adopt_next_epoch_state(session.config)
    if note is not None:
        click.echo(f"note: {note}", err=True)
    return session


def progress_bar(description: str, total: int | None = None, unit: str = "row") -> tqdm[Any]:
    """A progress bar on stderr, shown only when stderr is a terminal."""
    return tqdm(
        desc=description,
        total=total,
        unit=unit,
        unit_scale=True,
        disable=not sys.stderr.isatty(),
        file=sys.stderr,
    )
