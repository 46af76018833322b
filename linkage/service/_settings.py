"""Settings of the linkage service, validated on construction."""

from __future__ import annotations

import re
from dataclasses import dataclass

from linkage.distributed import DaskJoinSettings
from linkage.errors import ConfigError, Problem
from linkage.match import HammingLsh

__all__ = ["LinkageSettings", "ServiceLimits"]

_FINGERPRINT = re.compile(r"^[0-9a-f]{16,128}$")


@dataclass(frozen=True, slots=True)
class LinkageSettings:
    """What the matcher links with.

    ``schema_fingerprint`` and ``key_epoch`` name the one linkage space the
    matcher accepts; CLKs of any other space are refused, never compared.
    ``blocking``, when set, restricts candidate pairs to those sharing a
    Hamming-LSH band, for incremental linkage and rebuilds alike (so both
    still give the same partition); after changing it, rebuild the links.
    ``dask``, when set, runs the big joins (rebuilds above all) as block-pair
    tasks on that Dask cluster, with the same results; without it every join
    runs in-process.
    """

    threshold: float
    clk_bits: int
    key_epoch: int
    schema_fingerprint: str
    blocking: HammingLsh | None = None
    dask: DaskJoinSettings | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.threshold <= 1.0:
            problems.append(Problem("linkage.threshold", "must be in (0, 1]"))
        if self.clk_bits <= 0 or self.clk_bits % 64:
            problems.append(Problem("linkage.clk_bits", "must be a positive multiple of 64"))
        if not 0 <= self.key_epoch < 2**32:
            problems.append(Problem("linkage.key_epoch", "must be in [0, 2^32)"))
        if not _FINGERPRINT.match(self.schema_fingerprint):
            problems.append(
                Problem("linkage.schema_fingerprint", "must be 16 to 128 lowercase hex digits")
            )
        if problems:
            raise ConfigError("invalid linkage settings", problems=problems)

    @property
    def clk_bytes(self) -> int:
        """Length of one CLK in bytes."""
        return self.clk_bits // 8


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """Size and rate limits. Requests beyond them get RESOURCE_EXHAUSTED."""

    max_batch_mutations: int = 10_000
    max_message_bytes: int = 64 * 1024 * 1024
    lookup_rate_per_s: float = 10.0
    lookup_burst: int = 50
    max_links_per_lookup: int = 20

    def __post_init__(self) -> None:
        problems = []
        if self.max_batch_mutations < 1:
            problems.append(Problem("limits.max_batch_mutations", "must be at least 1"))
        if self.max_message_bytes < 1024:
            problems.append(Problem("limits.max_message_bytes", "must be at least 1024"))
        if self.lookup_rate_per_s <= 0:
            problems.append(Problem("limits.lookup_rate_per_s", "must be positive"))
        if self.lookup_burst < 1:
            problems.append(Problem("limits.lookup_burst", "must be at least 1"))
        if not 1 <= self.max_links_per_lookup <= 100:
            problems.append(Problem("limits.max_links_per_lookup", "must be in [1, 100]"))
        if problems:
            raise ConfigError("invalid limits", problems=problems)
