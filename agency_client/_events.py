"""Programme events of an agency's records, from a CSV file, for ``agency-client upload``.

The file has a header and one row per event::

    record_id,code,date,disposition
    MPD-104233,coresponder_contact,2024-03-05,referred
    MPD-104233,crisis_call,2024-02-27,

* ``record_id``: the local record ID, as in the export's record ID column (``[input]
  record_key``); every event must name a record of the export. ``record_key`` is
  accepted as the column's name too.
* ``code``: a code of the programme's vocabulary (:class:`linkage.events.EventCode`).
* ``date``: ``YYYY-MM-DD``, not in the future.
* ``disposition`` (optional column; empty for none): contacts only, a code of
  :class:`linkage.events.Disposition`.

No other column is read, and a file with another column is refused: events carry no
free text. Problems name the row and column and say why, never the value; a file with
problems sends nothing (a skipped event would bias every outcome measure silently).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from agency_client._csvlines import bounded_lines
from linkage.errors import InvalidInputError, Problem
from linkage.events import (
    MAX_EVENTS_PER_RECORD,
    RecordEvent,
    canonical_events,
    events_bytes,
    parse_event,
    too_late_problem,
)

__all__ = ["EventsFile", "events_digest_cell", "read_events_csv"]

_ID_NAMES: Final = ("record_id", "record_key")
_COLUMNS: Final = ("code", "date", "disposition")
_MAX_LISTED: Final = 50


@dataclass(frozen=True, slots=True)
class EventsFile:
    """The events of an events file, by local record ID (canonical order), and the row of
    each ID's first event (to name it in a problem)."""

    events: Mapping[str, tuple[RecordEvent, ...]]
    first_row: Mapping[str, int]
    rows: int

    def missing_from(self, seen_ids: set[str], name: str) -> list[Problem]:
        """A problem for every record ID with events that the export does not hold."""
        return [
            Problem(
                f"{name} row {self.first_row[local_id]}, column record_id",
                "no such record ID in the export",
            )
            for local_id in sorted(self.events, key=self.first_row.__getitem__)
            if local_id not in seen_ids
        ]


def events_digest_cell(events: Sequence[RecordEvent]) -> list[str]:
    """What a record's events add to its upload digest: nothing without events (so a record
    without events keeps its digest), else one cell with their canonical text."""
    return ["events:" + events_bytes(events).decode("ascii")] if events else []


def read_events_csv(path: Path, *, today: datetime | None = None) -> EventsFile:
    """Read and check an events file (see the module docstring); raise
    :class:`InvalidInputError` listing every problem (the first 50) if it has any."""
    name = path.name
    now = (today or datetime.now(UTC)).date()
    try:
        stream = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read the events file {name}: {exc.strerror}") from None
    problems: list[Problem] = []
    found: dict[str, list[RecordEvent]] = {}
    first_row: dict[str, int] = {}
    rows = 0
    with stream:
        reader = csv.reader(bounded_lines(stream, name))
        try:
            header = [cell.strip() for cell in next(reader)]
        except StopIteration:
            raise InvalidInputError(f"the events file {name} is empty (no header row)") from None
        except (csv.Error, UnicodeDecodeError):
            raise InvalidInputError(f"the events file {name}: the header cannot be read") from None
        positions = _positions(header, name)
        id_at, code_at, date_at = positions["record_id"], positions["code"], positions["date"]
        disposition_at = positions.get("disposition")
        try:
            for number, row in enumerate(reader, start=1):
                rows = number
                if not any(cell.strip() for cell in row):
                    continue
                where = f"{name} row {number}"
                if len(row) != len(header):
                    problems.append(
                        Problem(where, f"has {len(row)} cells; the header has {len(header)}")
                    )
                    continue
                local_id = row[id_at].strip()
                if not local_id:
                    problems.append(Problem(f"{where}, column record_id", "is empty"))
                    continue
                disposition = "" if disposition_at is None else row[disposition_at].strip()
                try:
                    event = parse_event(
                        row[code_at].strip(), row[date_at].strip(), disposition, where
                    )
                except InvalidInputError as exc:
                    problems.extend(_columns(exc.problems, where))
                    continue
                late = too_late_problem(event, now, where)
                if late is not None:
                    problems.extend(_columns([late], where))
                    continue
                found.setdefault(local_id, []).append(event)
                first_row.setdefault(local_id, number)
        except csv.Error as exc:
            raise InvalidInputError(
                f"the events file {name} cannot be parsed near row {rows + 1}: {exc}"
            ) from None
        except UnicodeDecodeError:
            raise InvalidInputError(f"the events file {name} is not UTF-8 text") from None
    for local_id, events in found.items():
        if len(events) > MAX_EVENTS_PER_RECORD:
            problems.append(
                Problem(
                    f"{name} row {first_row[local_id]}, column record_id",
                    f"this record has more than {MAX_EVENTS_PER_RECORD} events",
                )
            )
    if problems:
        raise InvalidInputError(
            f"the events file {name} has {len(problems)} problems (nothing was sent); "
            f"the first {min(len(problems), _MAX_LISTED)} are listed",
            problems=problems[:_MAX_LISTED],
        )
    return EventsFile(
        events={k: canonical_events(v) for k, v in found.items()},
        first_row=first_row,
        rows=rows,
    )


def _positions(header: list[str], name: str) -> dict[str, int]:
    problems: list[Problem] = []
    positions: dict[str, int] = {}
    for index, column in enumerate(header):
        key = "record_id" if column in _ID_NAMES else column
        if key not in ("record_id", *_COLUMNS):
            problems.append(
                Problem(
                    f"{name} header, column {index + 1}",
                    "is not record_id, code, date or disposition: events carry no other data",
                )
            )
        elif key in positions:
            problems.append(Problem(f"{name} header, column {index + 1}", f"repeats {key}"))
        else:
            positions[key] = index
    for required in ("record_id", "code", "date"):
        if required not in positions:
            problems.append(Problem(f"{name} header", f"needs a {required} column"))
    if problems:
        raise InvalidInputError(f"the events file {name} has a bad header", problems=problems)
    return positions


def _columns(problems: Sequence[Problem], where: str) -> list[Problem]:
    """``row 3.code`` (as parse_event names it) -> ``row 3, column code``."""
    out = []
    for problem in problems:
        location = problem.location
        if location.startswith(where + "."):
            location = f"{where}, column {location[len(where) + 1 :]}"
        out.append(Problem(location, problem.reason))
    return out
