"""The ``[server]`` and ``[tls]`` tables of a test matcher's server.toml, written once for
the tests that start a real matcher with a demo PKI (each adds its own ``[store]``,
``[linkage]`` and ``[limits]``)."""

from __future__ import annotations

from linkage.pki import DemoPki


def server_and_tls_tables(pki: DemoPki, *, grace_period_s: int = 2) -> str:
    """A matcher on 127.0.0.1:0 (the bound port goes to its port file) with the demo PKI's
    server certificate, CA and revocation list."""
    server = pki.server.paths
    return f"""[server]
listen = "127.0.0.1:0"
grace_period_s = {grace_period_s}
[tls]
trust_domain = "coresponder.test"
ca_cert = "{server.ca_certificate}"
cert = "{server.certificate}"
key = "{server.private_key}"
crl = "{pki.directory.crl_path}"
"""
