"""Refused calls in the audit log, without the audit log becoming a flood.

Every refusal is audited: a lookup refused for its rate, its shape (key epoch, schema,
purpose, ``max_links``, CLK length) or an implausible CLK, and a call the caller's role
may not make. Before, each rate-limited lookup wrote its own fsync'd entry (2,000 entries
in 2 s: the audit log was itself a lever for a denial of service) while refusals of a bad
shape wrote none.

Refusals are grouped by **principal, action, reason, fields and minute**:

* the first refusal of a group is written at once, ``count`` 1;
* the repeats of that minute are only counted, and written as **one** entry with their
  ``count`` (``"repeats": true``) once the minute is over: by the next refusal after it,
  by a timer a few seconds after the minute ends, or when the service closes.

So a principal refused 2,000 times in a minute for one reason costs two entries, and
the log still says how often. Entries name the principal, the reason and the fields at
fault (``key_epoch``, ``query.clk.surname``), never a value of the request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from linkage.pki import Principal
from linkage.service._state import ServiceState

__all__ = ["RefusalAudit"]

_log = logging.getLogger("linkage.service")

_MINUTE_US = 60_000_000
#: How long after a minute ends its repeats are written (when no refusal comes first).
_FLUSH_DELAY_S = 2.0


@dataclass(frozen=True, slots=True)
class _Group:
    actor: str
    action: str
    reason: str
    fields: tuple[str, ...]
    minute: int


class RefusalAudit:
    """The refusals of one service (see the module docstring). Thread-safe."""

    def __init__(self, state: ServiceState, *, timer: bool = True) -> None:
        self._state = state
        self._lock = threading.Lock()
        #: groups of the current minutes: repeats counted but not yet written
        self._repeats: dict[_Group, int] = {}
        self._timer_enabled = timer
        self._timer: threading.Timer | None = None
        self._closed = False

    def refused(
        self, actor: Principal | str, action: str, reason: str, fields: Sequence[str] = ()
    ) -> None:
        """Record one refusal: the first of its group this minute is written now."""
        now = self._state.clock()
        name = actor if isinstance(actor, str) else actor.actor
        group = _Group(name, action, reason, tuple(sorted(set(fields))), now // _MINUTE_US)
        with self._lock:
            first = group not in self._repeats
            if first:
                self._repeats[group] = 0
            else:
                self._repeats[group] += 1
            due = self._take_due(now // _MINUTE_US)
        if first:
            due.insert(0, (group, 1, False))
        try:
            self._write(due, now)
        except BaseException:
            # nothing is lost: this refusal and the repeats it was to write are counted
            # again (as repeats) for the next refusal, the timer or the close
            self._keep(due)
            raise
        finally:
            self._arm_timer()

    def flush(self, *, everything: bool = False) -> int:
        """Write the repeats of the minutes that are over (``everything``: of the current
        minute too); returns the entries written."""
        now = self._state.clock()
        with self._lock:
            due = self._take_due(None if everything else now // _MINUTE_US)
        try:
            self._write(due, now)
        except BaseException:
            self._keep(due)  # for the next try
            raise
        return len(due)

    def close(self) -> None:
        """Stop the timer and write every count still held."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush(everything=True)

    # -------------------------------------------------------------------- inside
    def _take_due(self, current_minute: int | None) -> list[tuple[_Group, int, bool]]:
        """Remove the groups of minutes before ``current_minute`` (None: all); the caller
        holds the lock. Groups without repeats need no entry of their own."""
        done = [g for g in self._repeats if current_minute is None or g.minute < current_minute]
        due = [(g, self._repeats[g], True) for g in done if self._repeats[g]]
        for group in done:
            del self._repeats[group]
        return due

    def _keep(self, entries: list[tuple[_Group, int, bool]]) -> None:
        """Count entries that could not be written again, to be written as repeats."""
        with self._lock:
            for group, count, _ in entries:
                self._repeats[group] = self._repeats.get(group, 0) + count

    def _write(self, entries: list[tuple[_Group, int, bool]], now: int) -> None:
        if not entries:
            return
        state = self._state
        with state.store.write() as tx:
            for group, count, repeats in entries:
                state.audit(
                    tx,
                    group.actor,
                    group.action,
                    [],
                    {
                        "reason": group.reason,
                        "fields": list(group.fields),
                        "minute": datetime.fromtimestamp(group.minute * 60, tz=UTC).strftime(
                            "%Y-%m-%dT%H:%MZ"
                        ),
                        "count": count,
                        "repeats": repeats,
                    },
                    now,
                )

    def _arm_timer(self) -> None:
        """Write the repeats a little after their minute ends, when no refusal comes."""
        if not self._timer_enabled:
            return
        with self._lock:
            if self._closed or self._timer is not None or not any(self._repeats.values()):
                return
            now = self._state.clock()
            wait = ((now // _MINUTE_US + 1) * _MINUTE_US - now) / 1e6 + _FLUSH_DELAY_S
            timer = threading.Timer(wait, self._on_timer)
            timer.daemon = True
            self._timer = timer
        timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
        try:
            self.flush()
        except Exception as exc:  # a timer thread has no caller to raise to
            _log.warning(
                "could not write the counted refusals (%s); they are kept for the next "
                "refusal or the server's stop",
                type(exc).__name__,
            )
            return
        self._arm_timer()
