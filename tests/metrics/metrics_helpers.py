"""Shared pieces of the metrics and logging tests: a server.toml, a free port, a scrape."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from linkage.pki import DemoPki
from tests.matcher_tables import server_and_tls_tables
from tests.service.factory import BITS, FINGERPRINT

AGENCIES = ("police", "valley-mhc")


def write_server_toml(
    root: Path, pki: DemoPki, *, metrics_listen: str | None, lookup_burst: int = 1000
) -> Path:
    """A TLS matcher config on 127.0.0.1:0 with an SQLite store in ``root``."""
    metrics = f'\n[metrics]\nlisten = "{metrics_listen}"\n' if metrics_listen else ""
    text = f"""
{server_and_tls_tables(pki, grace_period_s=5)}
[store]
engine = "sqlite"
path = "index.db"

[linkage]
threshold = 0.8
clk_bits = {BITS}
key_epoch = 1
schema_fingerprint = "{FINGERPRINT}"

[limits]
max_batch_mutations = 1000
max_message_bytes = 1048576
lookup_rate_per_s = 0.001
lookup_burst = {lookup_burst}
{metrics}"""
    path = root / "server.toml"
    path.write_text(text)
    return path


def free_port() -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> str:
    """The text of ``http://127.0.0.1:port/metrics``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        body: bytes = response.read()
    return body.decode("utf-8")


def samples(text: str) -> list[Sample]:
    """Every sample of a scrape, parsed with prometheus_client's own parser."""
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(found: Iterable[Sample], name: str, **labels: str) -> float:
    """The value of the one sample called ``name`` whose labels include ``labels``."""
    matching = [
        s for s in found if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, f"{name} {labels}: {len(matching)} samples"
    return float(matching[0].value)
