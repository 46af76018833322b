"""Settings of the linkage service, validated on construction."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from linkage.distributed import DaskJoinSettings
from linkage.errors import ConfigError, Problem
from linkage.match import ComponentClusterer, HammingLsh
from linkage.probabilistic import AverageLinkClusterer, FellegiSunterModel, greedy_one_per_agency
from linkage.service._probabilistic import LOOKUP_THRESHOLD_DEFAULT, ProbabilisticSettings

__all__ = [
    "CLUSTERING_METHODS",
    "ClusteringSettings",
    "LinkageSettings",
    "ProbabilisticSettings",
    "ServiceLimits",
]

#: ``greedy``: anonlink's greedy solving, at most one record per agency in a link.
#: ``average_link``: duplicate-aware average-linkage clustering (several records of one
#: agency may share a link; a weak edge never merges two established links).
CLUSTERING_METHODS = ("greedy", "average_link")

_FINGERPRINT = re.compile(r"^[0-9a-f]{16,128}$")


@dataclass(frozen=True, slots=True)
class ClusteringSettings:
    """How each connected component of the candidate graph becomes links.

    ``method`` is one of :data:`CLUSTERING_METHODS`, or ``auto`` (the default):
    ``average_link`` in probabilistic mode, ``greedy`` in Dice mode (resolved by
    :class:`LinkageSettings`). For ``average_link`` the
    linkage of two clusters is the mean Dice score over all their cross pairs,
    a pair below the linkage threshold counting as 0: a record joins a link (or
    another record) at ``join_threshold`` or above, and two links of two or more
    records merge only at ``merge_threshold`` or above. Unset, both default to
    the linkage threshold (a record joins a link only when it matches its members
    on average as well as a pair must match). After changing any of this,
    rebuild the links.
    """

    method: str = "auto"
    join_threshold: float | None = None
    merge_threshold: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.method not in (*CLUSTERING_METHODS, "auto"):
            allowed = ", ".join((*CLUSTERING_METHODS, "auto"))
            problems.append(Problem("linkage.clustering.method", f"must be one of {allowed}"))
        for name in ("join_threshold", "merge_threshold"):
            value = getattr(self, name)
            if value is not None and self.method == "greedy":
                problems.append(
                    Problem(f"linkage.clustering.{name}", "applies to average_link only")
                )
            elif value is not None and not 0.0 < value <= 1.0:
                problems.append(Problem(f"linkage.clustering.{name}", "must be in (0, 1]"))
        if (
            self.join_threshold is not None
            and self.merge_threshold is not None
            and self.merge_threshold < self.join_threshold
        ):
            problems.append(
                Problem("linkage.clustering.merge_threshold", "must be at least join_threshold")
            )
        if problems:
            raise ConfigError("invalid clustering settings", problems=problems)


@dataclass(frozen=True, slots=True)
class LinkageSettings:
    """What the matcher links with.

    ``schema_fingerprint`` and ``key_epoch`` name the one linkage space the
    matcher accepts; CLKs of any other space are refused, never compared.
    ``blocking``, when set, restricts candidate pairs to those sharing a
    Hamming-LSH band, for incremental linkage and rebuilds alike (so both
    still give the same partition); after changing it, rebuild the links.
    ``dask``, when set, runs the big joins (rebuilds above all) as block-pair
    tasks on that Dask cluster (in probabilistic mode: the rebuild's blocking rules
    and scoring as tasks), with the same results; without it every join runs
    in-process. ``clustering`` says how components become links
    (:class:`ClusteringSettings`; anonlink's greedy by default).

    ``probabilistic``, when set, links segmented CLKs with a Fellegi-Sunter model
    (:class:`ProbabilisticSettings`); scores are then match probabilities, and
    ``threshold`` (and the clustering thresholds) are probabilities, below 1.
    ``lookup_threshold`` is the score a responder's query must reach against a
    record for the lookup to report that record's link (default: ``threshold``); set
    it higher than ``threshold`` to make lookups stricter than linkage, since a
    lookup discloses on the strength of one query alone.
    """

    threshold: float
    clk_bits: int
    key_epoch: int
    schema_fingerprint: str
    blocking: HammingLsh | None = None
    dask: DaskJoinSettings | None = None
    clustering: ClusteringSettings = ClusteringSettings()
    probabilistic: ProbabilisticSettings | None = None
    lookup_threshold: float | None = None
    #: probabilistic mode: the model chooses the threshold (``threshold = "auto"``);
    #: ``threshold`` is then the one used before any fit suggested one
    auto_threshold: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.clustering.method == "auto":
            resolved = "average_link" if self.probabilistic is not None else "greedy"
            if resolved == "greedy" and (
                self.clustering.join_threshold is not None
                or self.clustering.merge_threshold is not None
            ):
                problems.append(
                    Problem("linkage.clustering", "join and merge thresholds apply to average_link")
                )
                resolved = "average_link"
            object.__setattr__(
                self, "clustering", dataclasses.replace(self.clustering, method=resolved)
            )
        if self.auto_threshold and self.probabilistic is None:
            problems.append(
                Problem("linkage.threshold", '"auto" needs linkage.probabilistic (a model)')
            )
        if not 0.0 < self.threshold <= 1.0:
            problems.append(Problem("linkage.threshold", "must be in (0, 1]"))
        if self.lookup_threshold is not None and not 0.0 < self.lookup_threshold <= 1.0:
            problems.append(Problem("linkage.lookup_threshold", "must be in (0, 1]"))
        probabilistic = self.probabilistic
        if probabilistic is not None:
            if self.threshold >= 1.0:
                problems.append(
                    Problem("linkage.threshold", "is a match probability here: must be below 1")
                )
            if self.lookup_threshold is not None and self.lookup_threshold >= 1.0:
                problems.append(
                    Problem(
                        "linkage.lookup_threshold", "is a match probability here: must be below 1"
                    )
                )
            layout_bits = probabilistic.layout.total_words * 64
            if self.clk_bits != layout_bits:
                problems.append(
                    Problem(
                        "linkage.clk_bits",
                        f"must be {layout_bits}, the length of the segmented CLKs "
                        f"(record CLK and segments) of linkage.probabilistic.schema",
                    )
                )
            if self.blocking is not None:
                problems.append(
                    Problem(
                        "linkage.blocking",
                        "does not apply with linkage.probabilistic (it has its own blocking rules)",
                    )
                )
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

    @property
    def effective_lookup_threshold(self) -> float:
        """The score a lookup needs: ``lookup_threshold``; when unset, ``threshold`` in
        Dice mode and :data:`LOOKUP_THRESHOLD_DEFAULT` (or the linkage threshold if that
        is higher) in probabilistic mode."""
        if self.lookup_threshold is None and self.probabilistic is not None:
            return max(LOOKUP_THRESHOLD_DEFAULT, self.threshold)
        if self.lookup_threshold is None:
            return self.threshold
        return self.lookup_threshold

    def linkage_model_json(
        self,
        model: FellegiSunterModel | None = None,
        *,
        fitted_records: int | None = None,
        blocking_plan: Mapping[str, object] | None = None,
        threshold: float | None = None,
    ) -> str:
        """What decides the links, as canonical JSON (stored with every linkage run so
        its result can be reproduced): threshold, linkage space, blocking, clustering,
        the lookup threshold and, for probabilistic linkage, its settings, ``model`` and
        the linkable records it was fitted on."""
        blocking = self.blocking
        clustering = self.clustering
        clustering_json: dict[str, object] = {"method": clustering.method}
        if clustering.method == "average_link":
            join, merge = self._average_link_thresholds()
            clustering_json.update(join_threshold=join, merge_threshold=merge)
        document: dict[str, object] = {
            "threshold": self.threshold if threshold is None else threshold,
            "auto_threshold": self.auto_threshold,
            "clk_bits": self.clk_bits,
            "key_epoch": self.key_epoch,
            "schema_fingerprint": self.schema_fingerprint,
            "blocking": None
            if blocking is None
            else {
                "method": "hamming_lsh",
                "bands": blocking.bands,
                "bits_per_band": blocking.bits_per_band,
                "seed": blocking.seed,
            },
            "clustering": clustering_json,
            "lookup_threshold": self.effective_lookup_threshold,
        }
        if self.probabilistic is not None:
            recorded = self.probabilistic.to_json_dict()
            if model is not None:
                recorded["model"] = model.to_dict()
            if fitted_records:
                recorded["fitted_records"] = int(fitted_records)
            if blocking_plan is not None:
                recorded["blocking_plan"] = dict(blocking_plan)
            document["probabilistic"] = recorded
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    def clusterer(self) -> ComponentClusterer:
        """The component clusterer these settings name."""
        clustering = self.clustering
        if clustering.method == "average_link":
            join, merge = self._average_link_thresholds()
            return AverageLinkClusterer(join_threshold=join, merge_threshold=merge)
        return greedy_one_per_agency

    def _average_link_thresholds(self) -> tuple[float, float]:
        """average_link's join and merge thresholds with their defaults filled in."""
        clustering = self.clustering
        join = clustering.join_threshold or self.threshold
        return join, max(join, clustering.merge_threshold or self.threshold)


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """Size and rate limits. Requests beyond them get RESOURCE_EXHAUSTED."""

    max_batch_mutations: int = 10_000
    max_message_bytes: int = 64 * 1024 * 1024
    #: per client certificate
    lookup_rate_per_s: float = 10.0
    lookup_burst: int = 50
    max_links_per_lookup: int = 20
    #: per agency and role, over all of the agency's certificates of that role (None: the
    #: per-certificate value, so a second certificate adds nothing)
    lookup_agency_rate_per_s: float | None = None
    lookup_agency_burst: int | None = None

    @property
    def agency_rate_per_s(self) -> float:
        """The sustained lookup rate of one agency's principals of one role together."""
        rate = self.lookup_agency_rate_per_s
        return self.lookup_rate_per_s if rate is None else rate

    @property
    def agency_burst(self) -> int:
        """The lookup burst of one agency's principals of one role together."""
        burst = self.lookup_agency_burst
        return self.lookup_burst if burst is None else burst

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
        if self.lookup_agency_rate_per_s is not None and self.lookup_agency_rate_per_s <= 0:
            problems.append(Problem("limits.lookup_agency_rate_per_s", "must be positive"))
        if self.lookup_agency_burst is not None and self.lookup_agency_burst < 1:
            problems.append(Problem("limits.lookup_agency_burst", "must be at least 1"))
        if not 1 <= self.max_links_per_lookup <= 100:
            problems.append(Problem("limits.max_links_per_lookup", "must be in [1, 100]"))
        if problems:
            raise ConfigError("invalid limits", problems=problems)
