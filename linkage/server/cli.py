"""``linkage-server``: run the central matcher."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from linkage.errors import ConfigError, LinkageError
from linkage.portfile import write_port_file
from linkage.server._config import load_server_config
from linkage.server._serve import open_store, start_matcher

__all__ = ["main"]


@click.group()
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines as text or as JSON lines.",
)
@click.option("--verbose", "-v", is_flag=True, help="Log at debug level.")
def cli(log_format: str, verbose: bool) -> None:
    """The central matcher of the co-responder linkage service."""
    from linkage.logs import configure_logging

    configure_logging(json_lines=log_format == "json", verbose=verbose)


@cli.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The server.toml to run with.",
)
@click.option(
    "--insecure-dev",
    is_flag=True,
    help="Serve without TLS, on loopback only, for development. Never with real data.",
)
@click.option(
    "--port-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the bound port here once serving (useful with port 0).",
)
def serve(config_path: Path, insecure_dev: bool, port_file: Path | None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    config = load_server_config(config_path, os.environ)
    log = logging.getLogger("linkage.server")
    metrics = None
    if config.metrics_listen is not None:
        from linkage.metrics import MatcherMetrics, start_metrics_server

        metrics = MatcherMetrics()
    running, _ = start_matcher(
        config,
        insecure_dev=insecure_dev,
        observer=metrics.observe_call if metrics is not None else None,
        service_observer=metrics,
    )
    metrics_server = None
    if metrics is not None and config.metrics_listen is not None:
        try:
            metrics_server = start_metrics_server(metrics, config.metrics_listen)
        except BaseException:
            running.stop(0)
            raise
        log.info("metrics on http://%s:%d/metrics", metrics_server.host, metrics_server.port)
    running.stop_on_signals()
    log.info("serving on port %d (%s)", running.port, ", ".join(running.service_names))
    if port_file is not None:
        write_port_file(port_file, running.port)
    try:
        running.wait_for_termination()
    finally:
        if metrics_server is not None:
            metrics_server.stop()


@cli.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The server.toml whose [store] to migrate.",
)
def migrate(config_path: Path) -> None:
    """Apply the store's pending schema migrations, then exit.

    The server applies them on start too; this runs them ahead of a rollout.
    """
    config = load_server_config(config_path, os.environ)
    open_store(config.store).close()
    click.echo(f"the {config.store.engine} store's schema is up to date")


@cli.command("init-config")
@click.option(
    "--linkage",
    type=click.Choice(["probabilistic", "dice"]),
    default="probabilistic",
    show_default=True,
    help="probabilistic: per-field segments and a Fellegi-Sunter model (recommended); "
    "dice: one Dice score per record-level CLK.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("server.toml"),
    show_default=True,
    help="Where to write it (refused if it exists, unless --force).",
)
@click.option("--trust-domain", default="coresponder.example", show_default=True)
@click.option(
    "--pki",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("pki"),
    show_default=True,
    help="The folder `linkage-admin pki init` wrote (paths are written relative to it).",
)
@click.option("--listen", default="127.0.0.1:50051", show_default=True)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init_config(
    linkage: str, out: Path, trust_domain: str, pki: Path, listen: str, force: bool
) -> None:
    """Write the shipped, commented server.toml for a linkage mode, with the built-in
    schema's CLK length and fingerprint filled in."""
    from linkage.server._sample_config import SampleSettings, sample_server_config

    if out.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    text = sample_server_config(
        linkage,
        SampleSettings(
            listen=listen,
            trust_domain=trust_domain,
            ca_cert=f"{pki.as_posix()}/ca.cert.pem",
            cert=f"{pki.as_posix()}/server/matcher.cert.pem",
            key=f"{pki.as_posix()}/server/matcher.key.pem",
            crl=f"{pki.as_posix()}/crl.pem",
        ),
    )
    out.write_text(text, encoding="utf-8")
    click.echo(
        f"wrote {out} ({linkage} linkage); check its [tls] paths, then: "
        f"linkage-server serve --config {out}"
    )


def main() -> None:
    """Entry point: domain errors go to stderr with exit code 2."""
    try:
        cli(standalone_mode=False)
    except LinkageError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)


if __name__ == "__main__":
    main()
