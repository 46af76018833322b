"""``linkage-admin epoch begin|status|finish``: move the programme to a new key epoch
(docs/key-rotation.md).

The commands work on the matcher's store directly (``--config server.toml``, as
``audit verify`` does) while the matcher keeps serving: each is one audited transaction,
and the matchers follow a begin or a finish on their next call. The sequence:

1. ``epoch begin --to N+1``: the matcher accepts batches and lookups of epoch N+1 beside N;
2. every agency adds ``[rotation]`` to agency.toml and uploads (both epochs are sent);
3. ``epoch status`` until no agency has records only on epoch N; gateways switch their
   lookups to N+1 (``[rotation] lookups = "next"``);
4. ``epoch finish``: the records take their N+1 CLKs and pointer tokens, N's are deleted.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from linkage.errors import ConfigError
from linkage.server import ServerConfig, load_server_config, open_store
from linkage.service._clock import system_clock_us
from linkage.service._rotation import (
    DropRelinker,
    abort_rotation,
    begin_rotation,
    finish_rotation,
    rotation_status,
)
from linkage.store import LinkStore

__all__ = ["epoch"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _config_option(help_text: str) -> Callable[[_F], _F]:
    return click.option(
        "--config",
        "config_path",
        required=True,
        type=click.Path(dir_okay=False, path_type=Path),
        help=help_text,
    )


def _open(config_path: Path) -> tuple[LinkStore, int]:
    """The matcher's store and server.toml's key epoch."""
    store, config = _open_config(config_path)
    return store, config.linkage.key_epoch


def _open_config(config_path: Path) -> tuple[LinkStore, ServerConfig]:
    """The matcher's store and its server.toml."""
    config = load_server_config(config_path, os.environ)
    if config.store.engine == "sqlite" and (
        config.store.path is None or not config.store.path.exists()
    ):
        raise ConfigError(f"no store at {config.store.path}; check [store] in {config_path}")
    return open_store(config.store), config


def _actor() -> str:
    """Who ran the command, for the audit log (the local operator account)."""
    try:
        return f"linkage-admin:{getpass.getuser()}"
    except (KeyError, OSError):
        return "linkage-admin"


@click.group()
def epoch() -> None:
    """Rotate the key epoch: begin, status, finish (or abort) (docs/key-rotation.md)."""


@epoch.command("begin")
@_config_option("The matcher's server.toml (its store is changed; the matcher may run).")
@click.option(
    "--to",
    "to_epoch",
    required=True,
    type=click.IntRange(min=0),
    help="The new key epoch (above the one in force).",
)
def epoch_begin(config_path: Path, to_epoch: int) -> None:
    """Begin moving to key epoch TO: agencies may upload it beside the one in force."""
    store, configured = _open(config_path)
    try:
        row = begin_rotation(store, configured, to_epoch, _actor(), system_clock_us())
    finally:
        store.close()
    click.echo(
        f"rotation begun: key epoch {row.current_epoch} -> {row.next_epoch}; agencies add "
        f"[rotation] key_epoch = {row.next_epoch} (and the new secret) to agency.toml and "
        "upload; follow with linkage-admin epoch status"
    )


@epoch.command("status")
@_config_option("The matcher's server.toml (its store is read, never written).")
def epoch_status(config_path: Path) -> None:
    """The key epoch in force, the next one, and each agency's records on each."""
    store, configured = _open(config_path)
    try:
        status = rotation_status(store, configured)
    finally:
        store.close()
    click.echo(
        json.dumps(
            {
                "current_epoch": status.current_epoch,
                "next_epoch": status.next_epoch,
                "ready_to_finish": status.next_epoch is not None and not status.blocking,
                "agencies": {
                    a.agency_id: {
                        "records": a.current_records,
                        "on_next_epoch": a.next_records,
                        "only_on_current_epoch": a.old_only,
                    }
                    for a in status.agencies
                },
            },
            indent=2,
            sort_keys=True,
        )
    )


@epoch.command("finish")
@_config_option("The matcher's server.toml (its store is changed; the matcher may run).")
@click.option(
    "--drop-old-only",
    "drop_old_only",
    multiple=True,
    metavar="AGENCY",
    help="Withdraw this agency's records that are only on the old epoch instead of "
    "refusing: deleted, the links they were in linked again (repeat for each agency; never "
    "implied).",
)
def epoch_finish(config_path: Path, drop_old_only: tuple[str, ...]) -> None:
    """Make the next epoch the one in force and delete the old epoch's CLKs and pointer
    tokens, all or nothing. Refused while an agency has records only on the old epoch."""
    store, config = _open_config(config_path)
    try:
        # records dropped leave their links as withdrawn ones do: re-clustered with the
        # matcher's clusterer (server.toml's [linkage])
        relinker = DropRelinker(store, config.linkage, config.limits) if drop_old_only else None
        done = finish_rotation(
            store,
            config.linkage.key_epoch,
            _actor(),
            system_clock_us(),
            drop_old_only=drop_old_only,
            relinker=relinker,
        )
    finally:
        store.close()
    for agency_id, count in done.dropped:
        click.echo(f"dropped {count} records of {agency_id} that were only on the old epoch")
    click.echo(
        f"rotation finished: key epoch {done.to_epoch} is in force; {done.records_moved} "
        f"records moved, the CLKs and pointer tokens of epoch {done.from_epoch} deleted "
        f"(audit entry {done.audit_sequence}); set [linkage] key_epoch = {done.to_epoch} in "
        "server.toml, and agencies move [rotation] into [agency] and [secret]"
    )


@epoch.command("abort")
@_config_option("The matcher's server.toml (its store is changed; the matcher may run).")
def epoch_abort(config_path: Path) -> None:
    """Abandon the rotation in progress: the next epoch's CLKs and pointer tokens are
    deleted and the epoch in force stays."""
    store, configured = _open(config_path)
    try:
        dropped = abort_rotation(store, configured, _actor(), system_clock_us())
    finally:
        store.close()
    click.echo(
        f"rotation abandoned: the next epoch's CLKs of {dropped} records deleted; agencies "
        "remove [rotation] from agency.toml (and the next epoch's state file beside the state)"
    )
