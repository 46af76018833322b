"""``agency-client gateway``: serve the responder lookup page and JSON endpoint.

Loopback by default; beyond loopback only with ``--allow-remote`` and HTTPS
(``[gateway] https_cert`` and ``https_key``). A bearer token is required everywhere
(``[gateway] token_file`` or ``token_env``). The web stack is in
:mod:`agency_client._gateway_server`. Contacts logged on the page ("log this contact") are
kept in ``field-contacts.sqlite`` beside the upload state, for the next upload.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from types import FrameType

import click

from agency_client._cli_options import config_option
from agency_client._client_config import load_client_config
from agency_client._contacts import contacts_path
from agency_client._gateway import GatewayApp, load_gateway_token, write_port_file
from agency_client._gateway_contacts import ContactLog
from agency_client._gateway_server import start_gateway
from agency_client._matcher import MatcherClient
from agency_client._query import QueryEncoder
from linkage.errors import ConfigError
from linkage.logs import configure_logging

__all__ = ["gateway_command"]


@click.command("gateway")
@config_option
@click.option("--listen", default=None, help="host:port (default: [gateway] listen, loopback).")
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a non-loopback address (requires HTTPS: [gateway] https_cert and https_key).",
)
@click.option(
    "--port-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the bound port here once serving (useful with port 0).",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--verbose", "-v", is_flag=True, help="Log at debug level.")
def gateway_command(
    config_path: Path,
    listen: str | None,
    allow_remote: bool,
    port_file: Path | None,
    log_format: str,
    verbose: bool,
) -> None:
    """Serve lookups for responders: a page for field devices and JSON for CAD systems."""
    configure_logging(json_lines=log_format == "json", verbose=verbose)
    config = load_client_config(config_path, os.environ)
    settings = config.gateway
    if settings.tls is None:
        raise ConfigError(
            "the gateway needs its responder certificate: set [gateway] cert and key "
            "(agency-client init --gateway-cert/--gateway-key)"
        )
    token = load_gateway_token(settings, os.environ)
    # during a key-epoch rotation, [rotation] lookups = "next" encodes in the next epoch
    rotation = config.rotation
    encoding = rotation.encoding if rotation is not None and rotation.lookups_next else None
    encoding = config.encoding if encoding is None else encoding
    fingerprint = encoding.encoding_schema.fingerprint
    contacts = ContactLog(contacts_path(config.state_file), fingerprint, encoding.key_epoch)
    client = MatcherClient(config.matcher_address, settings.tls)
    try:
        app = GatewayApp(
            agency_name=encoding.agency_name,
            encoder=QueryEncoder(encoding),
            lookup=client.lookup,
            key_epoch=encoding.key_epoch,
            fingerprint=fingerprint,
            purpose=settings.purpose,
            max_links=settings.max_links,
            token=token,
            contacts=contacts,
        )
        listen_at = listen or settings.listen
        with start_gateway(
            app, listen_at, allow_non_loopback=allow_remote, https=settings.https
        ) as server:
            stop = threading.Event()

            def on_signal(signum: int, frame: FrameType | None) -> None:
                stop.set()

            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            if port_file is not None:
                write_port_file(port_file, server.port)
            host = listen_at.rpartition(":")[0]
            click.echo(
                f"gateway for {config.agency_id} serving on "
                f"{server.scheme}://{host}:{server.port}/ (key epoch {encoding.key_epoch})",
                err=True,
            )
            stop.wait()
    finally:
        client.close()
