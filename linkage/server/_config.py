"""The matcher's configuration file (``server.toml``), validated on load.

One pydantic model per table (:class:`ServerToml` and the tables it holds) checks the
file's shape and types, naming every problem by its dotted path; the domain objects
built from it (:class:`ServerConfig`, :class:`~linkage.service.LinkageSettings`, ...)
check the values.

Secrets never live in this file: the TLS private key is named by path, and a
PostgreSQL DSN comes from the environment variable the file names. Relative
paths are resolved against the directory of the configuration file.

Example::

    [server]
    listen = "127.0.0.1:50051"
    max_workers = 16
    grace_period_s = 10
    max_streams = 1024            # open streaming calls, all callers together
    max_streams_per_principal = 8 # ... per client certificate
    stream_idle_timeout_s = 60    # a stream silent this long is closed (DEADLINE_EXCEEDED)

    [tls]
    trust_domain = "coresponder.example"
    ca_cert = "pki/ca.pem"
    cert = "pki/server/cert.pem"
    key = "pki/server/key.pem"
    crl = "pki/crl.pem"

    [store]
    engine = "sqlite"          # or "postgres"
    path = "linkage.db"        # sqlite
    # dsn_env = "LINKAGE_PG_DSN"  # postgres: the variable holding the DSN

    [linkage]
    threshold = 0.8
    clk_bits = 1024
    key_epoch = 1
    schema_fingerprint = "0123abcd..."

    [linkage.blocking]         # optional: Hamming-LSH blocking for large indexes
    method = "hamming_lsh"
    bands = 32
    bits_per_band = 16
    seed = 0

    # lookup_threshold = 0.9  # optional: what a responder's query must score against a
                               # record for the lookup to report its link (default: threshold)

    [linkage.probabilistic]    # optional: segmented CLKs scored by a Fellegi-Sunter model;
    schema = "default-segmented"   # or the path of the segmented schema the agencies use
    refit_on_rebuild = true    # refit the model on the held records at every rebuild
    min_fit_records = 1000     # ... once this many are held
    fit_sample_records = 200000  # ... on a seeded random sample of at most this many
    lookup_candidates = 200    # records (nearest by whole-CLK Dice) scored per lookup
    blocking = "auto"          # the default: planned at every fit; or "large" (up to
                               # ~10^6 records), "xlarge" (~10^7, fewer true pairs),
                               # "medium" (10^4-10^5), "small" (tens of thousands)
                               # threshold, lookup_threshold and the clustering thresholds
                               # are then match probabilities (e.g. 0.5), not Dice scores

    [linkage.clustering]       # optional: how components become links
    method = "average_link"    # or "greedy" (default: anonlink's, one record per agency)
    join_threshold = 0.8       # average_link: a record joins a link (default: threshold)
    merge_threshold = 0.85     # average_link: two links merge (default: the larger of
                               # join_threshold and threshold)

    [linkage.dask]             # optional: big joins on a Dask cluster (the dask extra)
    scheduler = "tcp://10.0.0.5:8786"   # or tls:// with tls_ca_file, tls_cert_file, tls_key_file
    block_size = 250000
    min_comparisons = 10000000000       # smaller joins run in-process

    [limits]
    max_batch_mutations = 10000
    max_message_bytes = 67108864
    lookup_rate_per_s = 10     # per client certificate
    lookup_burst = 50
    lookup_agency_rate_per_s = 10   # per agency and role, all its certificates together
    lookup_agency_burst = 50        # (default: the per-certificate values)

    [metrics]                  # optional: Prometheus metrics on their own port
    listen = "127.0.0.1:9464"
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import Field, PlainValidator, StringConstraints

from linkage.addresses import is_loopback as is_loopback_address
from linkage.distributed import DaskJoinSettings, DaskTable
from linkage.encode import (
    SegmentedSchema,
    default_segmented_schema,
    load_segmented_schema,
    segment_layout,
)
from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.limited_read import MAX_CONFIG_BYTES, MAX_SCHEMA_BYTES, read_limited
from linkage.match import HammingLsh
from linkage.server._calls import StreamLimits
from linkage.service import (
    ClusteringSettings,
    LinkageSettings,
    ProbabilisticSettings,
    ServiceLimits,
)
from linkage.service._probabilistic import LOOKUP_REQUIRES_DEFAULT
from linkage.validation import Findings, Table, check, dataclass_default

__all__ = [
    "ServerConfig",
    "ServerToml",
    "StoreConfig",
    "TlsConfig",
    "is_loopback_address",
    "load_server_config",
    "parse_server_config",
]


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Mutual TLS material. The key file holds the server's private key."""

    ca_cert: Path
    cert: Path
    key: Path
    trust_domain: str
    crl: Path | None = None


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Where the link index lives."""

    engine: str
    path: Path | None = None
    dsn: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in ("sqlite", "postgres"):
            raise ConfigError(
                "invalid store", problems=[Problem("store.engine", "must be sqlite or postgres")]
            )
        if self.engine == "sqlite" and self.path is None:
            raise ConfigError("invalid store", problems=[Problem("store.path", "is required")])
        if self.engine == "postgres" and not self.dsn:
            raise ConfigError(
                "invalid store",
                problems=[Problem("store.dsn_env", "must name a set environment variable")],
            )


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything ``linkage-server serve`` needs."""

    listen: str
    store: StoreConfig
    linkage: LinkageSettings
    limits: ServiceLimits
    tls: TlsConfig | None = None
    max_workers: int = 16
    grace_period_s: float = 10.0
    #: ``host:port`` of the Prometheus metrics endpoint, or None for no metrics.
    metrics_listen: str | None = None
    #: Caps on open streaming calls and their idle timeout.
    streams: StreamLimits = field(default_factory=StreamLimits)

    def __post_init__(self) -> None:
        problems = []
        for where, address in (
            ("server.listen", self.listen),
            ("metrics.listen", self.metrics_listen),
        ):
            if address is None:
                continue
            host, sep, port = address.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
                problems.append(Problem(where, "must be host:port"))
        if self.max_workers < 2:
            problems.append(Problem("server.max_workers", "must be at least 2"))
        if self.grace_period_s < 0:
            problems.append(Problem("server.grace_period_s", "must not be negative"))
        if problems:
            raise ConfigError("invalid server settings", problems=problems)


# -- the tables of server.toml -----------------------------------------------------------

#: A file path as written (relative paths are resolved against the file's folder).
FilePath: TypeAlias = Annotated[str, StringConstraints(min_length=1)]

#: ``[linkage.probabilistic] schema``: the shipped segmented default.
DEFAULT_SEGMENTED_SCHEMA = "default-segmented"

#: With ``threshold = "auto"``: the match probability used until the first fit suggests one.
AUTO_THRESHOLD_START = 0.5


def _threshold(value: object) -> float | Literal["auto"]:
    if value == "auto":
        return "auto"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError('must be a number or "auto"')


#: ``[linkage] threshold``: a number, or ``"auto"`` (the model chooses it).
Threshold: TypeAlias = Annotated[float | Literal["auto"], PlainValidator(_threshold)]


class ServerTable(Table):
    """``[server]``."""

    listen: str = Field(description="host:port")
    max_workers: int = dataclass_default(ServerConfig, "max_workers")
    grace_period_s: float = dataclass_default(ServerConfig, "grace_period_s")
    max_streams: int = dataclass_default(StreamLimits, "max_streams")
    max_streams_per_principal: int = dataclass_default(StreamLimits, "max_streams_per_principal")
    stream_idle_timeout_s: float = dataclass_default(StreamLimits, "idle_timeout_s")


class TlsTable(Table):
    """``[tls]``: the server's mTLS material, by path."""

    ca_cert: FilePath
    cert: FilePath
    key: FilePath
    crl: FilePath | None = None
    trust_domain: str


class StoreTable(Table):
    """``[store]``."""

    engine: Literal["sqlite", "postgres"] = "sqlite"
    path: FilePath | None = None
    dsn_env: str | None = Field(default=None, description="the name of an environment variable")


class BlockingTable(Table):
    """``[linkage.blocking]``: Hamming-LSH blocking."""

    method: Literal["hamming_lsh"]
    bands: int = dataclass_default(HammingLsh, "bands")
    bits_per_band: int = dataclass_default(HammingLsh, "bits_per_band")
    seed: int = dataclass_default(HammingLsh, "seed")


class ClusteringTable(Table):
    """``[linkage.clustering]``."""

    method: str = dataclass_default(ClusteringSettings, "method")
    join_threshold: float | None = None
    merge_threshold: float | None = None


def _probabilistic_default(name: str) -> Any:
    return dataclass_default(ProbabilisticSettings, name)


class ProbabilisticTable(Table):
    """``[linkage.probabilistic]``: segmented CLKs scored by a Fellegi-Sunter model."""

    schema_: str = Field(
        alias="schema",
        description=f'"{DEFAULT_SEGMENTED_SCHEMA}" or the path of a segmented schema file',
    )
    refit_on_rebuild: bool = _probabilistic_default("refit_on_rebuild")
    min_fit_records: int = _probabilistic_default("min_fit_records")
    lookup_candidates: int = _probabilistic_default("lookup_candidates")
    blocking: str = _probabilistic_default("blocking_preset")
    fit_sample_records: int = _probabilistic_default("fit_sample_records")
    auto_refit: bool = _probabilistic_default("auto_refit")
    refit_growth: float = _probabilistic_default("refit_growth")
    background_refit_above: int = _probabilistic_default("background_refit_above")
    prior_strength: float = _probabilistic_default("prior_strength")
    lookup_requires: list[str] = Field(
        default_factory=lambda: list(LOOKUP_REQUIRES_DEFAULT),
        description="a list of comparison names",
    )
    lookup_scan: bool = _probabilistic_default("lookup_scan")


class LinkageTable(Table):
    """``[linkage]`` and its sub-tables."""

    threshold: Threshold = Field(description='a number or "auto"')
    clk_bits: int
    key_epoch: int
    schema_fingerprint: str
    lookup_threshold: float | None = None
    blocking: BlockingTable | None = None
    clustering: ClusteringTable = ClusteringTable()
    dask: DaskTable | None = None
    probabilistic: ProbabilisticTable | None = None


_LIMITS = ServiceLimits()


class LimitsTable(Table):
    """``[limits]``."""

    max_batch_mutations: int = _LIMITS.max_batch_mutations
    max_message_bytes: int = _LIMITS.max_message_bytes
    lookup_rate_per_s: float = _LIMITS.lookup_rate_per_s
    lookup_burst: int = _LIMITS.lookup_burst
    max_links_per_lookup: int = _LIMITS.max_links_per_lookup
    lookup_agency_rate_per_s: float | None = _LIMITS.lookup_agency_rate_per_s
    lookup_agency_burst: int | None = _LIMITS.lookup_agency_burst


class MetricsTable(Table):
    """``[metrics]``: Prometheus metrics on their own port."""

    listen: str = Field(description="host:port")


class ServerToml(Table):
    """The whole of ``server.toml``. A table left out is read as empty, so its required
    keys are named one by one (``server.listen: is required``)."""

    model_config = Table.model_config | {"title": "server.toml"}

    server: ServerTable = Field(default_factory=dict, validate_default=True)
    tls: TlsTable | None = None
    store: StoreTable = StoreTable()
    linkage: LinkageTable = Field(default_factory=dict, validate_default=True)
    limits: LimitsTable = LimitsTable()
    metrics: MetricsTable | None = None


# -- from the tables to the domain objects ----------------------------------------------


def _segmented_schema(source: str, base_dir: Path, findings: Findings) -> SegmentedSchema | None:
    where = "linkage.probabilistic.schema"
    if source == DEFAULT_SEGMENTED_SCHEMA:
        return default_segmented_schema()
    try:
        text = read_limited(base_dir / source, MAX_SCHEMA_BYTES, "the schema").decode("utf-8")
    except OSError as exc:
        findings.add(Problem(where, f"cannot read {source}: {exc.strerror}"))
        return None
    except UnicodeDecodeError:
        findings.add(Problem(where, f"{source} is not UTF-8 text"))
        return None
    except ConfigError as exc:
        findings.add(Problem(where, exc.message))
        return None
    try:
        return load_segmented_schema(text)
    except InvalidInputError as exc:
        found = [Problem(f"{where} ({source}) {p.location}", p.reason) for p in exc.problems]
        findings.extend(found or [Problem(where, f"{source}: {exc.message}")])
        return None


def _probabilistic(
    table: ProbabilisticTable, base_dir: Path, fingerprint: str, findings: Findings
) -> ProbabilisticSettings | None:
    source = table.schema_
    segmented = _segmented_schema(source, base_dir, findings)
    if segmented is None:
        return None
    if segmented.fingerprint != fingerprint:
        findings.add(
            Problem(
                "linkage.schema_fingerprint",
                f"must be the fingerprint of linkage.probabilistic.schema ({source}): "
                f"{segmented.fingerprint}",
            )
        )
    layout = segment_layout(segmented.schema.length, segmented.segmentation)
    return findings.build(
        lambda: ProbabilisticSettings(
            layout=layout,
            hardened=segmented.segmentation.diffusion_taps is not None,
            schema_source=source,
            refit_on_rebuild=table.refit_on_rebuild,
            min_fit_records=table.min_fit_records,
            lookup_candidates=table.lookup_candidates,
            blocking_preset=table.blocking,
            fit_sample_records=table.fit_sample_records,
            auto_refit=table.auto_refit,
            refit_growth=table.refit_growth,
            background_refit_above=table.background_refit_above,
            prior_strength=table.prior_strength,
            lookup_requires=tuple(table.lookup_requires),
            lookup_scan=table.lookup_scan,
        )
    )


def _linkage(table: LinkageTable, base_dir: Path, findings: Findings) -> LinkageSettings | None:
    """The linkage settings; ``None`` when they or a sub-table's settings are invalid."""
    blocking: HammingLsh | None = None
    if table.blocking is not None:
        lsh = table.blocking
        blocking = findings.build(
            lambda: HammingLsh(bands=lsh.bands, bits_per_band=lsh.bits_per_band, seed=lsh.seed),
            "linkage.blocking",
        )
    cluster = table.clustering
    clustering = findings.build(
        lambda: ClusteringSettings(cluster.method, cluster.join_threshold, cluster.merge_threshold)
    )
    dask: DaskJoinSettings | None = None
    if table.dask is not None:
        dask_table = table.dask
        dask = findings.build(lambda: dask_table.settings(base_dir))
    probabilistic: ProbabilisticSettings | None = None
    if table.probabilistic is not None:
        probabilistic = _probabilistic(
            table.probabilistic, base_dir, table.schema_fingerprint, findings
        )
    configured = (
        (table.blocking, blocking),
        (table.dask, dask),
        (table.probabilistic, probabilistic),
        (cluster, clustering),
    )
    if clustering is None or any(
        given is not None and built is None for given, built in configured
    ):
        return None
    threshold = table.threshold
    auto = threshold == "auto"
    return findings.build(
        lambda: LinkageSettings(
            threshold=AUTO_THRESHOLD_START if threshold == "auto" else threshold,
            clk_bits=table.clk_bits,
            key_epoch=table.key_epoch,
            schema_fingerprint=table.schema_fingerprint,
            blocking=blocking,
            clustering=clustering,
            dask=dask,
            probabilistic=probabilistic,
            lookup_threshold=table.lookup_threshold,
            auto_threshold=auto,
        )
    )


def _store(
    table: StoreTable, base_dir: Path, environ: Mapping[str, str], findings: Findings
) -> StoreConfig | None:
    dsn: str | None = None
    if table.engine == "postgres" and table.dsn_env is not None:
        dsn = environ.get(table.dsn_env)
        if not dsn:
            findings.add(
                Problem("store.dsn_env", f"environment variable {table.dsn_env} is not set")
            )
            return None
    path = None if table.path is None else base_dir / table.path
    return findings.build(lambda: StoreConfig(engine=table.engine, path=path, dsn=dsn))


def _server_config(
    document: ServerToml, base_dir: Path, environ: Mapping[str, str], findings: Findings
) -> ServerConfig | None:
    tls: TlsConfig | None = None
    if document.tls is not None:
        t = document.tls
        tls = TlsConfig(
            ca_cert=base_dir / t.ca_cert,
            cert=base_dir / t.cert,
            key=base_dir / t.key,
            trust_domain=t.trust_domain,
            crl=None if t.crl is None else base_dir / t.crl,
        )
    store = _store(document.store, base_dir, environ, findings)
    linkage = _linkage(document.linkage, base_dir, findings)
    lim = document.limits
    limits = findings.build(
        lambda: ServiceLimits(
            max_batch_mutations=lim.max_batch_mutations,
            max_message_bytes=lim.max_message_bytes,
            lookup_rate_per_s=lim.lookup_rate_per_s,
            lookup_burst=lim.lookup_burst,
            max_links_per_lookup=lim.max_links_per_lookup,
            lookup_agency_rate_per_s=lim.lookup_agency_rate_per_s,
            lookup_agency_burst=lim.lookup_agency_burst,
        )
    )
    server = document.server
    streams = findings.build(
        lambda: StreamLimits(
            max_streams=server.max_streams,
            max_streams_per_principal=server.max_streams_per_principal,
            idle_timeout_s=server.stream_idle_timeout_s,
        )
    )
    if store is None or linkage is None or limits is None or streams is None:
        return None
    return findings.build(
        lambda: ServerConfig(
            listen=server.listen,
            store=store,
            linkage=linkage,
            limits=limits,
            tls=tls,
            max_workers=server.max_workers,
            grace_period_s=server.grace_period_s,
            metrics_listen=None if document.metrics is None else document.metrics.listen,
            streams=streams,
        )
    )


def parse_server_config(
    data: Mapping[str, Any], base_dir: Path, environ: Mapping[str, str]
) -> ServerConfig:
    """Build a :class:`ServerConfig` from parsed TOML, naming every problem."""
    document, problems = check(ServerToml, data)
    findings = Findings(problems)
    config = None if document is None else _server_config(document, base_dir, environ, findings)
    if findings or config is None:
        raise ConfigError("invalid server configuration", problems=findings.problems)
    return config


def load_server_config(path: Path, environ: Mapping[str, str]) -> ServerConfig:
    """Read and validate a ``server.toml``."""
    try:
        raw = read_limited(path, MAX_CONFIG_BYTES, "the server configuration")
    except OSError as exc:
        raise ConfigError(f"cannot read the server configuration {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_server_config(data, path.resolve().parent, environ)
