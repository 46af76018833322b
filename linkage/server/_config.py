"""The matcher's configuration file (``server.toml``), validated on load.

Secrets never live in this file: the TLS private key is named by path, and a
PostgreSQL DSN comes from the environment variable the file names. Relative
paths are resolved against the directory of the configuration file.

Example::

    [server]
    listen = "127.0.0.1:50051"
    max_workers = 16
    grace_period_s = 10

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
    blocking = "large"         # the default, up to ~10^6 records; "medium" (10^4-10^5),
                               # "small" (tens of thousands; finds a few more true pairs)
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
    lookup_rate_per_s = 10
    lookup_burst = 50

    [metrics]                  # optional: Prometheus metrics on their own port
    listen = "127.0.0.1:9464"
"""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linkage.distributed import DaskJoinSettings, parse_dask_table
from linkage.encode import (
    SegmentedSchema,
    default_segmented_schema,
    load_segmented_schema,
    segment_layout,
)
from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.match import HammingLsh
from linkage.service import (
    ClusteringSettings,
    LinkageSettings,
    ProbabilisticSettings,
    ServiceLimits,
)
from linkage.service._probabilistic import LOOKUP_REQUIRES_DEFAULT

__all__ = [
    "ServerConfig",
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


def is_loopback_address(listen: str) -> bool:
    """Whether a ``host:port`` address binds to loopback only."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _table(data: Mapping[str, Any], name: str, problems: list[Problem]) -> Mapping[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, Mapping):
        problems.append(Problem(name, "must be a table"))
        return {}
    return value


def _take(
    table: Mapping[str, Any],
    where: str,
    key: str,
    kind: type | tuple[type, ...],
    problems: list[Problem],
    default: Any = None,
) -> Any:
    if key not in table:
        if default is None:
            problems.append(Problem(f"{where}.{key}", "is required"))
        return default
    value = table[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        problems.append(Problem(f"{where}.{key}", "has the wrong type"))
        return default
    if not isinstance(value, kind):
        problems.append(Problem(f"{where}.{key}", "has the wrong type"))
        return default
    return value


_KNOWN = {
    "server": {"listen", "max_workers", "grace_period_s"},
    "tls": {"ca_cert", "cert", "key", "crl", "trust_domain"},
    "store": {"engine", "path", "dsn_env"},
    "linkage": {
        "threshold",
        "clk_bits",
        "key_epoch",
        "schema_fingerprint",
        "blocking",
        "clustering",
        "dask",
        "lookup_threshold",
        "probabilistic",
    },
    "limits": {
        "max_batch_mutations",
        "max_message_bytes",
        "lookup_rate_per_s",
        "lookup_burst",
        "max_links_per_lookup",
    },
    "metrics": {"listen"},
}


def _blocking(value: Any, problems: list[Problem]) -> HammingLsh | None:
    """``[linkage.blocking]``: method (hamming_lsh), bands, bits_per_band, seed."""
    if value is None:
        return None
    where = "linkage.blocking"
    if not isinstance(value, Mapping):
        problems.append(Problem(where, "must be a table"))
        return None
    known = {"method", "bands", "bits_per_band", "seed"}
    for key in value:
        if key not in known:
            problems.append(Problem(f"{where}.{key}", "unknown setting"))
    method = _take(value, where, "method", str, problems)
    if method is not None and method != "hamming_lsh":
        problems.append(Problem(f"{where}.method", "must be hamming_lsh"))
        return None
    bands = _take(value, where, "bands", int, problems, 32)
    bits = _take(value, where, "bits_per_band", int, problems, 16)
    seed = _take(value, where, "seed", int, problems, 0)
    try:
        return HammingLsh(bands=bands, bits_per_band=bits, seed=seed)
    except InvalidInputError as exc:
        problems.append(Problem(where, exc.message))
        return None


def _clustering(value: Any, problems: list[Problem]) -> ClusteringSettings:
    """``[linkage.clustering]``: method, join_threshold, merge_threshold."""
    if value is None:
        return ClusteringSettings()
    where = "linkage.clustering"
    if not isinstance(value, Mapping):
        problems.append(Problem(where, "must be a table"))
        return ClusteringSettings()
    for key in value:
        if key not in {"method", "join_threshold", "merge_threshold"}:
            problems.append(Problem(f"{where}.{key}", "unknown setting"))
    method = _take(value, where, "method", str, problems, "greedy")
    join, merge = (
        _take(value, where, key, (int, float), problems) if key in value else None
        for key in ("join_threshold", "merge_threshold")
    )
    try:
        return ClusteringSettings(
            method=method or "greedy",
            join_threshold=None if join is None else float(join),
            merge_threshold=None if merge is None else float(merge),
        )
    except ConfigError as exc:
        problems.extend(exc.problems)
        return ClusteringSettings()


#: ``[linkage.probabilistic] schema``: the shipped segmented default.
DEFAULT_SEGMENTED_SCHEMA = "default-segmented"


def _segmented_schema(
    source: str, base_dir: Path, problems: list[Problem]
) -> SegmentedSchema | None:
    where = "linkage.probabilistic.schema"
    if source == DEFAULT_SEGMENTED_SCHEMA:
        return default_segmented_schema()
    try:
        text = (base_dir / source).read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(Problem(where, f"cannot read {source}: {exc.strerror}"))
        return None
    try:
        return load_segmented_schema(text)
    except InvalidInputError as exc:
        found = [Problem(f"{where} ({source}) {p.location}", p.reason) for p in exc.problems]
        problems.extend(found or [Problem(where, f"{source}: {exc.message}")])
        return None


def _probabilistic(
    value: Any, base_dir: Path, fingerprint: str | None, problems: list[Problem]
) -> ProbabilisticSettings | None:
    """``[linkage.probabilistic]``: schema, refit_on_rebuild, min_fit_records,
    lookup_candidates, blocking, fit_sample_records, auto_refit, refit_growth,
    background_refit_above, prior_strength, lookup_requires, lookup_scan."""
    if value is None:
        return None
    where = "linkage.probabilistic"
    if not isinstance(value, Mapping):
        problems.append(Problem(where, "must be a table"))
        return None
    known = {
        "schema",
        "refit_on_rebuild",
        "min_fit_records",
        "lookup_candidates",
        "blocking",
        "fit_sample_records",
        "auto_refit",
        "refit_growth",
        "background_refit_above",
        "prior_strength",
        "lookup_requires",
        "lookup_scan",
    }
    for key in value:
        if key not in known:
            problems.append(Problem(f"{where}.{key}", "unknown setting"))
    defaults = {f.name: f.default for f in dataclasses.fields(ProbabilisticSettings)}
    source = _take(value, where, "schema", str, problems)
    refit = _take(value, where, "refit_on_rebuild", bool, problems, defaults["refit_on_rebuild"])
    min_fit = _take(value, where, "min_fit_records", int, problems, defaults["min_fit_records"])
    candidates = _take(
        value, where, "lookup_candidates", int, problems, defaults["lookup_candidates"]
    )
    preset = _take(value, where, "blocking", str, problems, defaults["blocking_preset"])
    sample = _take(
        value, where, "fit_sample_records", int, problems, defaults["fit_sample_records"]
    )
    auto_refit = _take(value, where, "auto_refit", bool, problems, defaults["auto_refit"])
    growth = _take(value, where, "refit_growth", (int, float), problems, defaults["refit_growth"])
    background = _take(
        value, where, "background_refit_above", int, problems, defaults["background_refit_above"]
    )
    strength = _take(
        value, where, "prior_strength", (int, float), problems, defaults["prior_strength"]
    )
    requires = _take(value, where, "lookup_requires", list, problems, list(LOOKUP_REQUIRES_DEFAULT))
    if not all(isinstance(name, str) for name in requires):
        problems.append(Problem(f"{where}.lookup_requires", "must be a list of comparison names"))
        requires = list(LOOKUP_REQUIRES_DEFAULT)
    lookup_scan = _take(value, where, "lookup_scan", bool, problems, defaults["lookup_scan"])
    if source is None:
        return None
    segmented = _segmented_schema(source, base_dir, problems)
    if segmented is None:
        return None
    if fingerprint is not None and segmented.fingerprint != fingerprint:
        problems.append(
            Problem(
                "linkage.schema_fingerprint",
                f"must be the fingerprint of linkage.probabilistic.schema ({source}): "
                f"{segmented.fingerprint}",
            )
        )
    layout = segment_layout(segmented.schema.length, segmented.segmentation)
    try:
        return ProbabilisticSettings(
            layout=layout,
            hardened=segmented.segmentation.diffusion_taps is not None,
            schema_source=source,
            refit_on_rebuild=refit,
            min_fit_records=min_fit,
            lookup_candidates=candidates,
            blocking_preset=preset,
            fit_sample_records=sample,
            auto_refit=auto_refit,
            refit_growth=float(growth),
            background_refit_above=background,
            prior_strength=float(strength),
            lookup_requires=tuple(requires),
            lookup_scan=lookup_scan,
        )
    except ConfigError as exc:
        problems.extend(exc.problems)
        return None


#: With ``threshold = "auto"``: the match probability used until the first fit suggests one.
AUTO_THRESHOLD_START = 0.5


def parse_server_config(
    data: Mapping[str, Any], base_dir: Path, environ: Mapping[str, str]
) -> ServerConfig:
    """Build a :class:`ServerConfig` from parsed TOML, naming every problem."""
    problems: list[Problem] = []
    for name in data:
        if name not in _KNOWN:
            problems.append(Problem(name, "unknown section"))
    tables = {name: _table(data, name, problems) for name in _KNOWN}
    for name, table in tables.items():
        for key in table:
            if key not in _KNOWN[name]:
                problems.append(Problem(f"{name}.{key}", "unknown setting"))

    def path(where: str, key: str, table: Mapping[str, Any], required: bool) -> Path | None:
        if key not in table and not required:
            return None
        value = _take(table, where, key, str, problems)
        return None if value is None else (base_dir / value)

    srv = tables["server"]
    listen = _take(srv, "server", "listen", str, problems)
    max_workers = _take(srv, "server", "max_workers", int, problems, 16)
    grace = _take(srv, "server", "grace_period_s", (int, float), problems, 10.0)

    tls: TlsConfig | None = None
    if "tls" in data:
        t = tables["tls"]
        ca, cert, private_key = (path("tls", k, t, True) for k in ("ca_cert", "cert", "key"))
        crl = path("tls", "crl", t, False)
        trust_domain = _take(t, "tls", "trust_domain", str, problems)
        if ca and cert and private_key and trust_domain:
            tls = TlsConfig(ca, cert, private_key, trust_domain, crl)

    st = tables["store"]
    engine = _take(st, "store", "engine", str, problems, "sqlite")
    store_path = path("store", "path", st, False)
    dsn: str | None = None
    if engine == "postgres":
        var = _take(st, "store", "dsn_env", str, problems)
        if var is not None:
            dsn = environ.get(var)
            if not dsn:
                problems.append(Problem("store.dsn_env", f"environment variable {var} is not set"))

    lk = tables["linkage"]
    threshold = _take(lk, "linkage", "threshold", (int, float, str), problems)
    auto_threshold = threshold == "auto"
    if auto_threshold:
        threshold = AUTO_THRESHOLD_START
    elif isinstance(threshold, str):
        problems.append(Problem("linkage.threshold", 'must be a number or "auto"'))
        threshold = None
    clk_bits = _take(lk, "linkage", "clk_bits", int, problems)
    key_epoch = _take(lk, "linkage", "key_epoch", int, problems)
    fingerprint = _take(lk, "linkage", "schema_fingerprint", str, problems)
    blocking = _blocking(lk.get("blocking"), problems)
    clustering = _clustering(lk.get("clustering"), problems)
    lookup_threshold = (
        _take(lk, "linkage", "lookup_threshold", (int, float), problems)
        if "lookup_threshold" in lk
        else None
    )
    probabilistic = _probabilistic(lk.get("probabilistic"), base_dir, fingerprint, problems)
    dask: DaskJoinSettings | None = None
    if "dask" in lk:
        try:
            dask = parse_dask_table(lk["dask"], base_dir)
        except ConfigError as exc:
            problems.extend(exc.problems)

    lim = tables["limits"]
    defaults = ServiceLimits()
    limit_values = {
        key: _take(lim, "limits", key, kind, problems, getattr(defaults, key))
        for key, kind in (
            ("max_batch_mutations", int),
            ("max_message_bytes", int),
            ("lookup_rate_per_s", (int, float)),
            ("lookup_burst", int),
            ("max_links_per_lookup", int),
        )
    }
    metrics_listen = (
        _take(tables["metrics"], "metrics", "listen", str, problems) if "metrics" in data else None
    )
    if problems:
        raise ConfigError("invalid server configuration", problems=problems)
    try:
        return ServerConfig(
            listen=listen,
            store=StoreConfig(engine=engine, path=store_path, dsn=dsn),
            linkage=LinkageSettings(
                threshold=float(threshold),
                clk_bits=clk_bits,
                key_epoch=key_epoch,
                schema_fingerprint=fingerprint,
                blocking=blocking,
                clustering=clustering,
                dask=dask,
                probabilistic=probabilistic,
                lookup_threshold=None if lookup_threshold is None else float(lookup_threshold),
                auto_threshold=auto_threshold,
            ),
            limits=ServiceLimits(
                max_batch_mutations=limit_values["max_batch_mutations"],
                max_message_bytes=limit_values["max_message_bytes"],
                lookup_rate_per_s=float(limit_values["lookup_rate_per_s"]),
                lookup_burst=limit_values["lookup_burst"],
                max_links_per_lookup=limit_values["max_links_per_lookup"],
            ),
            tls=tls,
            max_workers=max_workers,
            grace_period_s=float(grace),
            metrics_listen=metrics_listen,
        )
    except ConfigError as exc:
        raise ConfigError("invalid server configuration", problems=exc.problems) from None


def load_server_config(path: Path, environ: Mapping[str, str]) -> ServerConfig:
    """Read and validate a ``server.toml``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the server configuration {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_server_config(data, path.resolve().parent, environ)
