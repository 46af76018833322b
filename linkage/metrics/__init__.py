"""Prometheus metrics of the matcher, served on their own port.

``linkage-server serve`` starts them when ``server.toml`` has a ``[metrics]``
section (``listen = "127.0.0.1:9464"``). One :class:`MatcherMetrics` is both
the interceptor's :data:`~linkage.server.CallObserver` (``observe_call``) and
the service's :class:`~linkage.service.ServiceObserver`; it keeps its own
registry, so several matchers in one process (tests) never share counters.

Labels carry no PII: gRPC service and method names, status code names,
agency IDs and lookup outcomes only.

=========================================  =========  ==============================
metric                                     type       labels
=========================================  =========  ==============================
``linkage_rpc_requests_total``             counter    service, method, code
``linkage_rpc_duration_seconds``           histogram  service, method, code
``linkage_ingest_batches_total``           counter    agency
``linkage_ingest_records_total``           counter    agency
``linkage_ingest_batch_duration_seconds``  histogram  (none): commit + incremental linkage
``linkage_rebuild_duration_seconds``       histogram  (none): a full rebuild of the links
``linkage_rebuild_records``                gauge      records in the last rebuild
``linkage_index_records``                  gauge      linkable records in the index
``linkage_index_links``                    gauge      links of two or more records
``linkage_lookups_total``                  counter    outcome
``linkage_lookup_duration_seconds``        histogram  outcome
``linkage_lookup_rate_limited_total``      counter    (none): rate-limit refusals
=========================================  =========  ==============================
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from linkage.errors import ConfigError
from linkage.service import LookupOutcome

__all__ = ["MatcherMetrics", "MetricsServer", "split_method", "start_metrics_server"]

#: Latency buckets for RPCs and lookups: 1 ms to 30 s.
_FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Buckets for batches and rebuilds: 10 ms to 1 h.
_SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


def split_method(full_method: str) -> tuple[str, str]:
    """``/linkage.v1.IngestService/WriteBatch`` -> ``(linkage.v1.IngestService, WriteBatch)``."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return (service or "unknown"), (method or "unknown")


class MatcherMetrics:
    """Counters, gauges and histograms of one matcher, in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._rpc_total = Counter(
            "linkage_rpc_requests",
            "Finished RPCs by gRPC service, method and status code.",
            ("service", "method", "code"),
            registry=r,
        )
        self._rpc_seconds = Histogram(
            "linkage_rpc_duration_seconds",
            "Time from the call's arrival to its end, by service, method and status code.",
            ("service", "method", "code"),
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self._batches = Counter(
            "linkage_ingest_batches", "Committed batches by agency.", ("agency",), registry=r
        )
        self._batch_records = Counter(
            "linkage_ingest_records",
            "Mutations in committed batches by agency.",
            ("agency",),
            registry=r,
        )
        self._batch_seconds = Histogram(
            "linkage_ingest_batch_duration_seconds",
            "Time to validate, link incrementally and commit one batch.",
            buckets=_SLOW_BUCKETS,
            registry=r,
        )
        self._rebuild_seconds = Histogram(
            "linkage_rebuild_duration_seconds",
            "Time of a full rebuild of the links.",
            buckets=_SLOW_BUCKETS,
            registry=r,
        )
        self._rebuild_records = Gauge(
            "linkage_rebuild_records", "Records linked by the last full rebuild.", registry=r
        )
        self._index_records = Gauge(
            "linkage_index_records", "Linkable records in the in-memory index.", registry=r
        )
        self._index_links = Gauge(
            "linkage_index_links", "Links of two or more records.", registry=r
        )
        self._lookups = Counter("linkage_lookups", "Lookups by outcome.", ("outcome",), registry=r)
        self._lookup_seconds = Histogram(
            "linkage_lookup_duration_seconds",
            "Time of a lookup in the service, by outcome.",
            ("outcome",),
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self._rate_limited = Counter(
            "linkage_lookup_rate_limited",
            "Lookups refused by the per-principal rate limit.",
            registry=r,
        )
        # Every outcome is exported from the start (at zero), so dashboards and
        # alerts on rate(...) work before the first lookup of each kind.
        for outcome in LookupOutcome:
            self._lookups.labels(outcome.value)
            self._lookup_seconds.labels(outcome.value)

    # -- the interceptor's CallObserver ------------------------------------------
    def observe_call(self, method: str, code: str, seconds: float) -> None:
        """One finished RPC (``method`` is gRPC's full method name)."""
        service, name = split_method(method)
        self._rpc_total.labels(service, name, code).inc()
        self._rpc_seconds.labels(service, name, code).observe(seconds)

    # -- ServiceObserver -----------------------------------------------------------
    def batch_committed(self, agency_id: str, records: int, seconds: float) -> None:
        """A batch was committed and linked."""
        self._batches.labels(agency_id).inc()
        self._batch_records.labels(agency_id).inc(records)
        self._batch_seconds.observe(seconds)

    def links_rebuilt(self, records: int, seconds: float) -> None:
        """A full rebuild finished."""
        self._rebuild_seconds.observe(seconds)
        self._rebuild_records.set(records)

    def lookup_finished(self, outcome: LookupOutcome, seconds: float) -> None:
        """A lookup ended."""
        self._lookups.labels(outcome.value).inc()
        self._lookup_seconds.labels(outcome.value).observe(seconds)
        if outcome is LookupOutcome.RATE_LIMITED:
            self._rate_limited.inc()

    def index_size(self, records: int, links: int) -> None:
        """The index's current size."""
        self._index_records.set(records)
        self._index_links.set(links)


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """The HTTP endpoint serving ``/metrics``; :meth:`stop` shuts it down."""

    host: str
    port: int
    _httpd: WSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(metrics: MatcherMetrics, listen: str) -> MetricsServer:
    """Serve ``metrics`` over HTTP on ``host:port`` (port 0 picks a free one)."""
    host, sep, port_text = listen.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"metrics.listen {listen!r}: must be host:port")
    try:
        httpd, thread = start_http_server(int(port_text), addr=host, registry=metrics.registry)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {listen}: {exc.strerror}") from None
    return MetricsServer(host, int(httpd.server_address[1]), httpd, thread)
