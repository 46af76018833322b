"""Where the distributed join runs and how it cuts the work, validated on construction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from linkage.errors import ConfigError, Problem

__all__ = ["DaskJoinSettings", "parse_dask_table"]

_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$")
#: Row indices inside a block travel back as ``int32``.
MAX_BLOCK_SIZE = 2**31 - 1


@dataclass(frozen=True, slots=True)
class DaskJoinSettings:
    """The ``[linkage.dask]`` table of ``server.toml``.

    ``scheduler`` is the Dask scheduler's address (``tcp://host:8786``, or ``tls://``
    with the three TLS files: the cluster's CA and this client's certificate and key,
    which keep the CLKs encrypted on the wire). Joins are cut into blocks of
    ``block_size`` records and run as block-pair tasks. A join whose pair space
    (``n * (n - 1) / 2`` within one set, ``n * m`` between two) is below
    ``min_comparisons`` runs in-process: shipping the blocks would cost more than it
    saves (an incremental batch against a small index, for instance). ``timeout_s``
    bounds a whole join, ``connect_timeout_s`` the connection to the scheduler.
    ``max_resubmits`` bounds how often one block pair is sent again after its inputs
    were lost with a worker; beyond it the join fails and nothing is applied.
    """

    scheduler: str
    block_size: int = 250_000
    min_comparisons: int = 10_000_000_000
    timeout_s: float = 3600.0
    connect_timeout_s: float = 30.0
    max_resubmits: int = 3
    tls_ca_file: Path | None = None
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    def __post_init__(self) -> None:
        where = "linkage.dask"
        problems: list[Problem] = []
        match = _ADDRESS.match(self.scheduler)
        if match is None:
            problems.append(
                Problem(f"{where}.scheduler", "must be tcp://host:port or tls://host:port")
            )
        elif not 0 < int(self.scheduler.rsplit(":", 1)[1]) < 65536:
            problems.append(Problem(f"{where}.scheduler", "port must be in [1, 65535]"))
        if not 1 <= self.block_size <= MAX_BLOCK_SIZE:
            problems.append(Problem(f"{where}.block_size", "must be in [1, 2^31 - 1]"))
        if self.min_comparisons < 0:
            problems.append(Problem(f"{where}.min_comparisons", "must not be negative"))
        if not self.timeout_s > 0:
            problems.append(Problem(f"{where}.timeout_s", "must be positive"))
        if not self.connect_timeout_s > 0:
            problems.append(Problem(f"{where}.connect_timeout_s", "must be positive"))
        if not 0 <= self.max_resubmits <= 100:
            problems.append(Problem(f"{where}.max_resubmits", "must be in [0, 100]"))
        tls_files = {
            "tls_ca_file": self.tls_ca_file,
            "tls_cert_file": self.tls_cert_file,
            "tls_key_file": self.tls_key_file,
        }
        if match is not None and match.group(1) == "tls":
            problems.extend(
                Problem(f"{where}.{name}", "is required for a tls:// scheduler")
                for name, value in tls_files.items()
                if value is None
            )
        elif match is not None:
            problems.extend(
                Problem(f"{where}.{name}", "applies to a tls:// scheduler only")
                for name, value in tls_files.items()
                if value is not None
            )
        if problems:
            raise ConfigError("invalid Dask settings", problems=problems)

    @property
    def uses_tls(self) -> bool:
        """Whether the connection to the cluster is TLS."""
        return self.scheduler.startswith("tls://")


_INTEGER_KEYS = ("block_size", "min_comparisons", "max_resubmits")
_NUMBER_KEYS = ("timeout_s", "connect_timeout_s")
_PATH_KEYS = ("tls_ca_file", "tls_cert_file", "tls_key_file")


def parse_dask_table(table: object, base_dir: Path) -> DaskJoinSettings:
    """``[linkage.dask]`` of ``server.toml`` as :class:`DaskJoinSettings`.

    Relative TLS file paths are resolved against ``base_dir`` (the configuration
    file's directory). Raises :class:`~linkage.errors.ConfigError` naming every problem.
    """
    where = "linkage.dask"
    if not isinstance(table, dict):
        raise ConfigError("invalid Dask settings", problems=[Problem(where, "must be a table")])
    problems: list[Problem] = []
    known = {"scheduler", *_INTEGER_KEYS, *_NUMBER_KEYS, *_PATH_KEYS}
    problems.extend(
        Problem(f"{where}.{key}", "unknown setting") for key in table if key not in known
    )
    values: dict[str, object] = {}
    scheduler = table.get("scheduler")
    if not isinstance(scheduler, str):
        problems.append(Problem(f"{where}.scheduler", "is required (tcp://host:port)"))
    for key in _INTEGER_KEYS:
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int):
                problems.append(Problem(f"{where}.{key}", "must be an integer"))
            else:
                values[key] = value
    for key in _NUMBER_KEYS:
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(Problem(f"{where}.{key}", "must be a number"))
            else:
                values[key] = float(value)
    for key in _PATH_KEYS:
        if key in table:
            value = table[key]
            if not isinstance(value, str) or not value:
                problems.append(Problem(f"{where}.{key}", "must be a file path"))
            else:
                values[key] = base_dir / value
    if problems or not isinstance(scheduler, str):
        raise ConfigError("invalid Dask settings", problems=problems)
    return DaskJoinSettings(scheduler, **values)  # type: ignore[arg-type]
