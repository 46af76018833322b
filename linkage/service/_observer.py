"""What the service reports about its own work, for metrics. No PII: only
agency IDs, counts, durations and outcomes."""

from __future__ import annotations

import enum
from typing import Protocol

__all__ = ["LookupOutcome", "NullObserver", "ServiceObserver"]


class LookupOutcome(enum.Enum):
    """How a lookup ended."""

    DISCLOSED = "disclosed"  # at least one record was disclosed
    NOTHING = "nothing"  # no match, or nothing the caller may see (indistinguishable to it)
    RATE_LIMITED = "rate_limited"
    REFUSED = "refused"  # an implausible or invalid query


class ServiceObserver(Protocol):
    """Receives measurements from :class:`~linkage.service.LinkageService`."""

    def batch_committed(self, agency_id: str, records: int, seconds: float) -> None:
        """A batch was committed (and linked) in ``seconds``."""

    def links_rebuilt(self, records: int, seconds: float) -> None:
        """A full rebuild finished."""

    def lookup_finished(self, outcome: LookupOutcome, seconds: float) -> None:
        """A lookup ended with ``outcome``."""

    def index_size(self, records: int, links: int) -> None:
        """The index now holds ``records`` linkable records in ``links`` links."""


class NullObserver:
    """Observes nothing."""

    def batch_committed(self, agency_id: str, records: int, seconds: float) -> None:
        """Ignored."""

    def links_rebuilt(self, records: int, seconds: float) -> None:
        """Ignored."""

    def lookup_finished(self, outcome: LookupOutcome, seconds: float) -> None:
        """Ignored."""

    def index_size(self, records: int, links: int) -> None:
        """Ignored."""
