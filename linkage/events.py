"""Programme events: coded, dated facts an agency attaches to its own records.

An event is a code from the programme-wide vocabulary (:class:`EventCode`), a calendar
date and, for a contact (:data:`CONTACT_CODES`), an optional disposition
(:class:`Disposition`). Nothing else: no free text, no time of day, no place, no
narrative. Both sides use this module: the agency client builds events from its CSV and
from the gateway's "log this contact" form, the matcher validates them and keeps them
with the record they belong to (replaced with it, withdrawn with it).

The events of one record are a multiset (two crisis calls on one day are two events);
:func:`canonical_events` orders them and :func:`events_bytes` is their canonical
serialisation, which the agency client's upload digest and the matcher's content
digest include, so a change of events is a change of the record.

The vocabulary is fixed in code, like consent purposes: an unknown code is refused,
never stored. Extending it is a change of this module (and of docs/outcomes.md).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from linkage.errors import InvalidInputError, Problem
from linkage.field_limits import MAX_EVENTS_PER_RECORD

__all__ = [
    "CONTACT_CODES",
    "EARLIEST_EVENT_DATE",
    "MAX_EVENTS_PER_RECORD",
    "Disposition",
    "EventCode",
    "RecordEvent",
    "canonical_events",
    "day_number",
    "events_bytes",
    "from_day_number",
    "parse_event",
    "too_late_problem",
]

#: Events before this date are refused (a mistyped year, most likely).
EARLIEST_EVENT_DATE: Final = date(1970, 1, 1)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_DATE: Final = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class EventCode(enum.Enum):
    """The programme-wide vocabulary of events (what happened, never how or why)."""

    #: a co-responder team (officer and clinician) met the person
    CORESPONDER_CONTACT = "coresponder_contact"
    #: a mobile crisis team (clinicians only) met the person
    MOBILE_CRISIS = "mobile_crisis"
    #: a 911 / crisis line call about the person
    CRISIS_CALL = "crisis_call"
    #: an emergency department visit for a psychiatric reason
    ER_VISIT_PSYCH = "er_visit_psych"
    #: an inpatient psychiatric admission
    PSYCH_ADMISSION = "psych_admission"
    #: an intake (first appointment, admission) into mental-health or substance-use treatment
    TREATMENT_INTAKE = "treatment_intake"
    #: a treatment appointment attended after intake
    TREATMENT_VISIT = "treatment_visit"
    #: a booking into jail
    JAIL_BOOKING = "jail_booking"


class Disposition(enum.Enum):
    """How a contact ended (one code per contact: the most intensive outcome)."""

    RESOLVED_ON_SCENE = "resolved_on_scene"
    REFERRED = "referred"
    TRANSPORTED_ER = "transported_er"
    EMERGENCY_HOLD = "emergency_hold"
    ARRESTED = "arrested"
    DECLINED_SERVICES = "declined_services"
    OTHER = "other"


#: The codes that are contacts: only these may carry a disposition.
CONTACT_CODES: Final = frozenset({EventCode.CORESPONDER_CONTACT, EventCode.MOBILE_CRISIS})

_CODE_ORDER: Final = {code: i for i, code in enumerate(EventCode)}
_DISPOSITION_ORDER: Final = {d: i + 1 for i, d in enumerate(Disposition)}


def day_number(day: date) -> int:
    """Days since 1970-01-01 (how the store keeps an event's date)."""
    return day.toordinal() - _EPOCH_ORDINAL


def from_day_number(number: int) -> date:
    """The date ``number`` days after 1970-01-01."""
    return date.fromordinal(number + _EPOCH_ORDINAL)


@dataclass(frozen=True, slots=True)
class RecordEvent:
    """One event of one record: a code, a date and (contacts only) a disposition."""

    code: EventCode
    day: date
    disposition: Disposition | None = None

    def __post_init__(self) -> None:
        problems = _problems(self.code, self.day, self.disposition, "event")
        if problems:
            raise InvalidInputError("invalid event", problems=problems)

    def sort_key(self) -> tuple[int, int, int]:
        disposition = 0 if self.disposition is None else _DISPOSITION_ORDER[self.disposition]
        return (day_number(self.day), _CODE_ORDER[self.code], disposition)

    def text(self) -> str:
        """``code|YYYY-MM-DD|disposition`` (disposition empty when none)."""
        disposition = "" if self.disposition is None else self.disposition.value
        return f"{self.code.value}|{self.day.isoformat()}|{disposition}"


def _problems(code: object, day: object, disposition: object, where: str) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(code, EventCode):
        problems.append(Problem(f"{where}.code", "must be an event code"))
    if not isinstance(day, date):
        problems.append(Problem(f"{where}.date", "must be a date"))
    elif day < EARLIEST_EVENT_DATE:
        problems.append(Problem(f"{where}.date", f"must be {EARLIEST_EVENT_DATE} or later"))
    if disposition is not None:
        if not isinstance(disposition, Disposition):
            problems.append(Problem(f"{where}.disposition", "must be a disposition code"))
        elif code not in CONTACT_CODES:
            contacts = ", ".join(sorted(c.value for c in CONTACT_CODES))
            problems.append(Problem(f"{where}.disposition", f"is only for contacts ({contacts})"))
    return problems


def parse_event(code: str, day: str, disposition: str, where: str) -> RecordEvent:
    """An event from its three texts (as the wire and the CSV carry them); every problem is
    named under ``where`` (``.code``, ``.date``, ``.disposition``), never with the value."""
    problems: list[Problem] = []
    parsed_code: EventCode | None = None
    try:
        parsed_code = EventCode(code)
    except ValueError:
        known = ", ".join(c.value for c in EventCode)
        problems.append(Problem(f"{where}.code", f"must be one of {known}"))
    parsed_day: date | None = None
    try:
        if not _DATE.match(day):
            raise ValueError
        parsed_day = date.fromisoformat(day)
    except ValueError:
        problems.append(Problem(f"{where}.date", "must be a date YYYY-MM-DD"))
    parsed_disposition: Disposition | None = None
    if disposition:
        try:
            parsed_disposition = Disposition(disposition)
        except ValueError:
            known = ", ".join(d.value for d in Disposition)
            problems.append(Problem(f"{where}.disposition", f"must be empty or one of {known}"))
    if not problems:
        problems = _problems(parsed_code, parsed_day, parsed_disposition, where)
    if problems or parsed_code is None or parsed_day is None:
        raise InvalidInputError("invalid event", problems=problems)
    return RecordEvent(parsed_code, parsed_day, parsed_disposition)


def too_late_problem(event: RecordEvent, today: date, where: str) -> Problem | None:
    """A problem when the event lies after ``today`` plus a day (time zones): a future
    event is a data error, never a plan."""
    if event.day > today + timedelta(days=1):
        return Problem(f"{where}.date", "lies in the future")
    return None


def canonical_events(events: Iterable[RecordEvent]) -> tuple[RecordEvent, ...]:
    """The events in canonical order (date, code, disposition); duplicates kept."""
    return tuple(sorted(events, key=RecordEvent.sort_key))


def events_bytes(events: Sequence[RecordEvent]) -> bytes:
    """Canonical bytes of a record's events (empty for none): one ``code|date|disposition``
    line each, in canonical order."""
    if not events:
        return b""
    return "".join(e.text() + "\n" for e in canonical_events(events)).encode("ascii")
