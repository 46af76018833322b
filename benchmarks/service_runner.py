"""Run a matcher for the service benchmark, optionally without mutual TLS or
without lookup auditing, so their costs can be measured side by side.

    python benchmarks/service_runner.py --config server.toml --port-file F [--insecure] [--no-audit]

Production never runs this: ``linkage-server serve`` always audits, and only
``--insecure-dev`` (loopback only) drops TLS.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from pathlib import Path

from linkage.match import warm_up
from linkage.server import build_server, load_server_config, open_store, server_credentials
from linkage.server._interceptor import GatewayInterceptor
from linkage.server._servicers import registrars
from linkage.service import LinkageService


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    parser.add_argument("--insecure", action="store_true")
    parser.add_argument("--no-audit", action="store_true")
    args = parser.parse_args()
    config = load_server_config(args.config, os.environ)
    warm_up(config.linkage.clk_bits, (config.linkage.threshold,))
    store = open_store(config.store)
    service = LinkageService(store, config.linkage, config.limits, audit_lookups=not args.no_audit)
    credentials = authenticator = None
    if not args.insecure:
        assert config.tls is not None
        credentials, authenticator = server_credentials(config.tls)
    running = build_server(
        config,
        registrars(service),
        interceptors=[GatewayInterceptor(authenticator)],
        credentials=credentials,
        insecure_dev=args.insecure,
        on_stopped=store.close,
    )
    done = threading.Event()

    def stop(_signum: int, _frame: object) -> None:
        running.stop(1)
        done.set()

    signal.signal(signal.SIGTERM, stop)
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(str(running.port))
    tmp.replace(args.port_file)
    done.wait()


if __name__ == "__main__":
    main()
