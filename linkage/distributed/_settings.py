"""Where the distributed join runs and how it cuts the work, validated on construction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeAlias

from pydantic import Field, StringConstraints

from linkage.errors import ConfigError, Problem
from linkage.validation import Findings, Table, check, dataclass_default

__all__ = ["DaskJoinSettings", "DaskTable", "parse_dask_table"]

_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}$")
#: A file path as written in the TOML file (relative to the file's folder).
FilePath: TypeAlias = Annotated[str, StringConstraints(min_length=1)]
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


class DaskTable(Table):
    """``[linkage.dask]`` as written: the shapes and types of its keys (their values are
    checked by :class:`DaskJoinSettings`)."""

    scheduler: str = Field(description="tcp://host:port or tls://host:port")
    block_size: int = dataclass_default(DaskJoinSettings, "block_size")
    min_comparisons: int = dataclass_default(DaskJoinSettings, "min_comparisons")
    timeout_s: float = dataclass_default(DaskJoinSettings, "timeout_s")
    connect_timeout_s: float = dataclass_default(DaskJoinSettings, "connect_timeout_s")
    max_resubmits: int = dataclass_default(DaskJoinSettings, "max_resubmits")
    tls_ca_file: FilePath | None = None
    tls_cert_file: FilePath | None = None
    tls_key_file: FilePath | None = None

    def settings(self, base_dir: Path) -> DaskJoinSettings:
        """The settings, relative TLS file paths resolved against ``base_dir``."""

        def resolve(name: str | None) -> Path | None:
            return None if name is None else base_dir / name

        return DaskJoinSettings(
            self.scheduler,
            block_size=self.block_size,
            min_comparisons=self.min_comparisons,
            timeout_s=self.timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            max_resubmits=self.max_resubmits,
            tls_ca_file=resolve(self.tls_ca_file),
            tls_cert_file=resolve(self.tls_cert_file),
            tls_key_file=resolve(self.tls_key_file),
        )


_WHERE = ("linkage", "dask")


def parse_dask_table(table: object, base_dir: Path) -> DaskJoinSettings:
    """``[linkage.dask]`` of ``server.toml`` as :class:`DaskJoinSettings`.

    Relative TLS file paths are resolved against ``base_dir`` (the configuration
    file's directory). Raises :class:`~linkage.errors.ConfigError` naming every problem.
    """
    parsed, problems = check(DaskTable, table, prefix=_WHERE)
    findings = Findings(problems)
    settings = None if parsed is None else findings.build(lambda: parsed.settings(base_dir))
    if findings or settings is None:
        raise ConfigError("invalid Dask settings", problems=findings.problems)
    return settings
