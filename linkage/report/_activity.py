"""Activity per agency and per week, from the event log, the audit log and the
accounting of disclosures: what a programme shows its funders. Pure, no I/O.

* records received: upserts in committed batches (mutations minus withdrawals);
* links formed: links that reached two or more records, credited to the agency
  whose batch completed them (``(rebuild)`` for full rebuilds), replayed from
  the link events;
* lookups answered: audited lookups, by the responder's agency;
* disclosures made: disclosed records, by the agency that holds the record.

Weeks start on Monday, 00:00 UTC.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from linkage.store import EventKind, EventRow

__all__ = ["METRICS", "REBUILD", "Activity", "ActivityCounter", "week_of"]

#: The four weekly series, in display order: (key, title).
METRICS: tuple[tuple[str, str], ...] = (
    ("records", "Records received"),
    ("links", "Links formed"),
    ("lookups", "Lookups answered"),
    ("disclosures", "Disclosures made"),
)
#: The agency label of links formed by a full rebuild.
REBUILD = "(rebuild)"
_NO_AGENCY = "(no agency)"


@functools.lru_cache(maxsize=8192)  # the events of one batch share their time
def week_of(time_us: int) -> date:
    """The Monday (UTC) of the week holding ``time_us``."""
    day = datetime.fromtimestamp(time_us / 1e6, tz=UTC).date()
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True, slots=True)
class Activity:
    """Weekly counts: ``counts[metric][agency][i]`` is the count in ``weeks[i]``.

    ``weeks`` runs without gaps from the first to the last active week;
    ``agencies`` lists every agency with any count, sorted (labels in
    parentheses last).
    """

    weeks: tuple[date, ...]
    agencies: tuple[str, ...]
    counts: dict[str, dict[str, tuple[int, ...]]]

    def total(self, metric: str, agency: str | None = None) -> int:
        """The count over all weeks, for one agency or all."""
        series = self.counts[metric]
        names = series if agency is None else [agency] if agency in series else []
        return sum(sum(series[name]) for name in names)


def _agency_of_actor(actor: str) -> str:
    """``role:agency/name#serial`` -> ``agency``; never the person's name."""
    _, _, rest = actor.partition(":")
    agency, slash, _ = rest.partition("/")
    return agency if slash and agency else _NO_AGENCY


class ActivityCounter:
    """Accumulates activity; feed events in sequence order, then call :meth:`result`."""

    def __init__(self) -> None:
        self._counts: dict[str, dict[tuple[str, date], int]] = {
            key: defaultdict(int) for key, _ in METRICS
        }
        self._sizes: dict[int, int | None] = {}

    def _add(self, metric: str, agency: str, week: date, n: int) -> None:
        if n:
            self._counts[metric][(agency, week)] += n

    def _formed(
        self, agency: str | None, week: date, before: int | None, after: int | None
    ) -> None:
        if before is not None and after is not None and before < 2 <= after:
            self._add("links", agency or REBUILD, week, 1)

    def add_event(self, event: EventRow) -> None:
        """One event-log entry."""
        week = week_of(event.event_time_us)
        agency = event.agency_id
        sizes = self._sizes
        match event.kind:
            case EventKind.BATCH_COMMITTED:
                self._add("records", agency or _NO_AGENCY, week, event.record_count)
            case EventKind.RECORD_WITHDRAWN:
                self._add("records", agency or _NO_AGENCY, week, -event.record_count)
            case EventKind.LINK_CREATED:
                for link in event.target_links:
                    sizes[link] = event.record_count
                    self._formed(agency, week, 0, event.record_count)
            case EventKind.LINK_JOINED:
                for link in event.target_links:
                    before = sizes.get(link)
                    after = None if before is None else before + event.record_count
                    sizes[link] = after
                    self._formed(agency, week, before, after)
            case EventKind.LINK_LEFT:
                for link in event.target_links:
                    before = sizes.get(link)
                    sizes[link] = None if before is None else max(0, before - event.record_count)
            case EventKind.LINK_MERGED:
                parts = [
                    sizes.pop(link, None)
                    for link in event.source_links
                    if link not in event.target_links
                ]
                for link in event.target_links:
                    before = sizes.get(link)
                    known = [before, *parts]
                    after = sum(p for p in known if p is not None)
                    sizes[link] = None if None in known else after
                    largest = max((p for p in known if p is not None), default=0)
                    self._formed(agency, week, None if None in known else largest, sizes[link])
            case EventKind.LINK_SPLIT:
                for link in (*event.source_links, *event.target_links):
                    sizes[link] = None  # the event does not say how the records spread
            case EventKind.LINK_DISSOLVED:
                for link in event.source_links:
                    sizes.pop(link, None)
            case _:
                pass

    def add_events(self, events: Iterable[EventRow]) -> None:
        """Several events, in sequence order."""
        for event in events:
            self.add_event(event)

    def add_lookup(self, time_us: int, actor: str) -> None:
        """One answered lookup by ``actor`` (an audit actor label)."""
        self._add("lookups", _agency_of_actor(actor), week_of(time_us), 1)

    def add_disclosures(self, time_us: int, agency_id: str, count: int = 1) -> None:
        """``count`` records of ``agency_id`` disclosed at ``time_us``."""
        self._add("disclosures", agency_id, week_of(time_us), count)

    def result(self) -> Activity:
        """The weekly series so far."""
        keys = [key for series in self._counts.values() for key in series]
        if not keys:
            return Activity((), (), {metric: {} for metric, _ in METRICS})
        first = min(week for _, week in keys)
        last = max(week for _, week in keys)
        weeks = tuple(first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1))
        agencies = tuple(sorted({a for a, _ in keys}, key=lambda a: (a.startswith("("), a)))
        position = {week: i for i, week in enumerate(weeks)}
        counts: dict[str, dict[str, tuple[int, ...]]] = {}
        for metric, series in self._counts.items():
            table: dict[str, list[int]] = {}
            for (agency, week), n in series.items():
                table.setdefault(agency, [0] * len(weeks))[position[week]] += n
            counts[metric] = {
                agency: tuple(max(0, n) for n in table[agency]) for agency in sorted(table)
            }
        return Activity(weeks, agencies, counts)
