"""The outcome spec: a declarative TOML file saying who the cohort is, which measures to
compute over which windows, how to break them down and how to release them.

Parsing is in two steps, like the project's other TOML inputs (:mod:`linkage.validation`):
the pydantic tables check shapes and types (unknown keys, wrong types, each named by its
path), then :class:`OutcomeSpec` and its parts check values and the rules across keys
(a window that ends before it starts, a measure ID used twice, a funnel step that is no
share measure), every problem named by its path (``measures[2].window``). Values never
appear in a reason.

Pure: no file is read here; :func:`load_spec` takes the text.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any, Final, Literal

from pydantic import Field

from linkage.errors import InvalidInputError, Problem
from linkage.events import EventCode
from linkage.validation import Findings, Table, check

__all__ = [
    "DEFAULT_MIN_CELL",
    "STANDARD_SPEC",
    "Breakdown",
    "Cohort",
    "Measure",
    "MeasureKind",
    "OutcomeSpec",
    "ReleaseSettings",
    "SuppressOn",
    "load_spec",
    "load_standard_spec",
    "parse_spec",
    "spec_digest",
    "standard_spec_text",
]

#: Counts below this are suppressed unless the spec asks for more (the common rule in
#: health data: no cell of 1 to 10 people is published).
DEFAULT_MIN_CELL: Final = 11
#: The packaged standard co-responder measure set (docs/outcomes.md).
STANDARD_SPEC: Final = "standard-coresponder.toml"
_ID: Final = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_MAX_MEASURES: Final = 32
_MAX_DAYS: Final = 3660


class MeasureKind(enum.Enum):
    """What a measure counts."""

    #: cohort people with at least one of ``events`` in ``window`` days after the index day
    SHARE = "share"
    #: cohort people with, and events of, ``events`` in the ``days`` before vs after it
    BEFORE_AFTER = "before_after"


class Breakdown(enum.Enum):
    """How a measure's people are split (by their index contact)."""

    QUARTER = "quarter"
    AGENCY = "agency"
    DISPOSITION = "disposition"


class SuppressOn(enum.Enum):
    """Which value the small-cell rule reads."""

    #: the exact count (the rule as data-sharing agreements state it)
    TRUE = "true"
    #: the noisy count (post-processing: the suppression pattern is differentially private)
    NOISY = "noisy"


# -- the tables ---------------------------------------------------------------------------

_Code = Literal[
    "coresponder_contact",
    "mobile_crisis",
    "crisis_call",
    "er_visit_psych",
    "psych_admission",
    "treatment_intake",
    "treatment_visit",
    "jail_booking",
]
_BreakdownName = Literal["quarter", "agency", "disposition"]


class CohortTable(Table):
    """``[cohort]``."""

    events: list[_Code] = Field(min_length=1)
    from_: date = Field(alias="from")
    to: date
    follow_up_until: date
    history_from: date | None = None


class ReleaseTable(Table):
    """``[release]``."""

    epsilon: float = 1.0
    min_cell: int = DEFAULT_MIN_CELL
    confidence: float = 0.95
    suppress_on: Literal["true", "noisy"] = "true"


class MeasureTable(Table):
    """``[[measures]]``."""

    model_config = Table.model_config | {"title": "a measure"}

    id: str
    title: str
    kind: Literal["share", "before_after"]
    events: list[_Code] = Field(min_length=1)
    window: list[int] | None = None
    days: int | None = None
    cap: int = 3
    breakdowns: list[_BreakdownName] | None = None
    reference: str = ""


class ReportTable(Table):
    """``[report]``."""

    funnel: list[str] = Field(default_factory=list)


class SpecToml(Table):
    """The whole outcome spec."""

    model_config = Table.model_config | {"title": "the outcome spec"}

    title: str
    breakdowns: list[_BreakdownName] = Field(default_factory=list)
    cohort: CohortTable
    release: ReleaseTable = ReleaseTable()
    measures: list[MeasureTable] = Field(min_length=1)
    report: ReportTable = ReportTable()


# -- the domain objects ------------------------------------------------------------------


def _codes(names: Sequence[str]) -> tuple[EventCode, ...]:
    return tuple(sorted({EventCode(n) for n in names}, key=lambda c: c.value))


@dataclass(frozen=True, slots=True)
class Cohort:
    """People with one of ``events`` from ``start`` to ``end`` (inclusive); their first such
    event is their index contact. Events are complete up to ``follow_up_until``; a before
    window must not reach before ``history_from`` (when given)."""

    events: tuple[EventCode, ...]
    start: date
    end: date
    follow_up_until: date
    history_from: date | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.end < self.start:
            problems.append(Problem("cohort.to", "must not be before cohort.from"))
        if self.follow_up_until < self.end:
            problems.append(Problem("cohort.follow_up_until", "must not be before cohort.to"))
        if self.history_from is not None and self.history_from > self.start:
            problems.append(Problem("cohort.history_from", "must not be after cohort.from"))
        if problems:
            raise InvalidInputError("invalid cohort", problems=problems)


@dataclass(frozen=True, slots=True)
class ReleaseSettings:
    """How a run is released: its epsilon, the small-cell threshold, the confidence of the
    intervals shown and which value the small-cell rule reads."""

    epsilon: float = 1.0
    min_cell: int = DEFAULT_MIN_CELL
    confidence: float = 0.95
    suppress_on: SuppressOn = SuppressOn.TRUE

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.epsilon <= 10.0:
            problems.append(Problem("release.epsilon", "must be > 0 and <= 10"))
        if not 1 <= self.min_cell <= 1000:
            problems.append(Problem("release.min_cell", "must be between 1 and 1000"))
        if not 0.5 <= self.confidence < 1.0:
            problems.append(Problem("release.confidence", "must be >= 0.5 and < 1"))
        if problems:
            raise InvalidInputError("invalid release settings", problems=problems)


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure. A share counts cohort people with at least one of ``events`` whose day
    is ``window[0]`` to ``window[1]`` days after the index day (both inclusive); a
    before/after measure counts, among people with ``days`` of history and follow-up,
    those with one of ``events`` in the ``days`` before the index day (days -days..-1) and
    after it (1..days), and those events, at most ``cap`` per person and window."""

    id: str
    title: str
    kind: MeasureKind
    events: tuple[EventCode, ...]
    breakdowns: tuple[Breakdown, ...]
    window: tuple[int, int] = (0, 0)
    days: int = 0
    cap: int = 3
    reference: str = ""
    where: str = "measures[0]"

    def __post_init__(self) -> None:
        at = self.where
        problems = []
        if not _ID.match(self.id):
            problems.append(Problem(f"{at}.id", "must be 1-48 of a-z, 0-9 and _, from a letter"))
        elif self.id == "cohort" or self.id.startswith("eligible_"):
            problems.append(Problem(f"{at}.id", "is reserved (cohort, eligible_*)"))
        if not self.title.strip() or len(self.title) > 200:
            problems.append(Problem(f"{at}.title", "must be 1-200 characters"))
        if self.kind is MeasureKind.SHARE:
            low, high = self.window
            if not 0 <= low <= high <= _MAX_DAYS:
                problems.append(
                    Problem(f"{at}.window", f"must be [from, to], 0 <= from <= to <= {_MAX_DAYS}")
                )
        elif not 1 <= self.days <= _MAX_DAYS:
            problems.append(Problem(f"{at}.days", f"must be 1 to {_MAX_DAYS}"))
        if not 1 <= self.cap <= 100:
            problems.append(Problem(f"{at}.cap", "must be 1 to 100"))
        if len(self.reference) > 200:
            problems.append(Problem(f"{at}.reference", "must be at most 200 characters"))
        if problems:
            raise InvalidInputError("invalid measure", problems=problems)

    @property
    def horizon_after(self) -> int:
        """Days of follow-up a person needs to count."""
        return self.window[1] if self.kind is MeasureKind.SHARE else self.days

    @property
    def horizon_before(self) -> int:
        """Days of history a person needs to count."""
        return 0 if self.kind is MeasureKind.SHARE else self.days

    @property
    def statistics(self) -> tuple[str, ...]:
        """The counts this measure releases (besides its denominator, ``people``)."""
        if self.kind is MeasureKind.SHARE:
            return ("with_event",)
        return ("people_before", "people_after", "events_before", "events_after")

    def sensitivity(self, statistic: str) -> int:
        """How much one person can change one count of ``statistic``."""
        return self.cap if statistic.startswith("events_") else 1


@dataclass(frozen=True, slots=True)
class OutcomeSpec:
    """A whole spec: its title, cohort, measures, release settings and the report's funnel
    (share measures, in order, after the cohort)."""

    title: str
    cohort: Cohort
    measures: tuple[Measure, ...]
    release: ReleaseSettings = field(default_factory=ReleaseSettings)
    funnel: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        if len(self.measures) > _MAX_MEASURES:
            problems.append(Problem("measures", f"must be at most {_MAX_MEASURES}"))
        seen: set[str] = set()
        for i, measure in enumerate(self.measures):
            if measure.id in seen:
                problems.append(Problem(f"measures[{i}].id", "is used by an earlier measure"))
            seen.add(measure.id)
            cohort_codes = set(measure.events) & set(self.cohort.events)
            if measure.kind is MeasureKind.SHARE and cohort_codes and measure.window[0] < 1:
                problems.append(
                    Problem(
                        f"measures[{i}].window",
                        "must start at day 1 or later: its events include the cohort's "
                        "(the index contact itself would count)",
                    )
                )
        shares = {m.id for m in self.measures if m.kind is MeasureKind.SHARE}
        for i, step in enumerate(self.funnel):
            if step not in shares:
                problems.append(Problem(f"report.funnel[{i}]", "must name a share measure"))
        if problems:
            raise InvalidInputError("invalid outcome spec", problems=problems)

    def measure(self, measure_id: str) -> Measure:
        for measure in self.measures:
            if measure.id == measure_id:
                return measure
        raise KeyError(measure_id)

    def canonical(self) -> dict[str, Any]:
        """Everything that decides the figures, as plain JSON values (titles included)."""
        return {
            "title": self.title,
            "cohort": {
                "events": [c.value for c in self.cohort.events],
                "from": self.cohort.start.isoformat(),
                "to": self.cohort.end.isoformat(),
                "follow_up_until": self.cohort.follow_up_until.isoformat(),
                "history_from": None
                if self.cohort.history_from is None
                else self.cohort.history_from.isoformat(),
            },
            "release": {
                "epsilon": self.release.epsilon,
                "min_cell": self.release.min_cell,
                "confidence": self.release.confidence,
                "suppress_on": self.release.suppress_on.value,
            },
            "measures": [
                {
                    "id": m.id,
                    "title": m.title,
                    "kind": m.kind.value,
                    "events": [c.value for c in m.events],
                    "breakdowns": [b.value for b in m.breakdowns],
                    "window": list(m.window),
                    "days": m.days,
                    "cap": m.cap,
                    "reference": m.reference,
                }
                for m in self.measures
            ],
            "funnel": list(self.funnel),
        }


def spec_digest(spec: OutcomeSpec) -> bytes:
    """SHA-256 of the spec's canonical JSON."""
    text = json.dumps(spec.canonical(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).digest()


def _measure(table: MeasureTable, i: int, default: list[str], findings: Findings) -> Measure | None:
    where = f"measures[{i}]"
    kind = MeasureKind(table.kind)
    if kind is MeasureKind.SHARE:
        if table.window is None:
            findings.add(Problem(f"{where}.window", "is required for a share measure"))
            return None
        if len(table.window) != 2:
            findings.add(Problem(f"{where}.window", "must be [from, to] (two day offsets)"))
            return None
        if table.days is not None:
            findings.add(
                Problem(f"{where}.days", "is for before_after measures (a share has a window)")
            )
    else:
        if table.days is None:
            findings.add(Problem(f"{where}.days", "is required for a before_after measure"))
            return None
        if table.window is not None:
            findings.add(
                Problem(f"{where}.window", "is for share measures (before_after has days)")
            )
    names = default if table.breakdowns is None else table.breakdowns
    return findings.build(
        lambda: Measure(
            id=table.id,
            title=table.title,
            kind=kind,
            events=_codes(table.events),
            breakdowns=tuple(dict.fromkeys(Breakdown(b) for b in names)),
            window=(table.window[0], table.window[1]) if table.window else (0, 0),
            days=table.days or 0,
            cap=table.cap,
            reference=table.reference,
            where=where,
        )
    )


def parse_spec(data: dict[str, Any]) -> OutcomeSpec:
    """A spec from parsed TOML; every problem is named by its path."""
    document, problems = check(SpecToml, data)
    findings = Findings(problems)
    if document is None:
        raise InvalidInputError("invalid outcome spec", problems=findings.problems)
    c = document.cohort
    cohort = findings.build(
        lambda: Cohort(_codes(c.events), c.from_, c.to, c.follow_up_until, c.history_from)
    )
    r = document.release
    release = findings.build(
        lambda: ReleaseSettings(r.epsilon, r.min_cell, r.confidence, SuppressOn(r.suppress_on))
    )
    measures = [
        _measure(m, i, list(document.breakdowns), findings) for i, m in enumerate(document.measures)
    ]
    spec = None
    if cohort is not None and release is not None and all(m is not None for m in measures):
        spec = findings.build(
            lambda: OutcomeSpec(
                title=document.title,
                cohort=cohort,
                measures=tuple(m for m in measures if m is not None),
                release=release,
                funnel=tuple(document.report.funnel),
            )
        )
    if findings or spec is None:
        raise InvalidInputError("invalid outcome spec", problems=findings.problems)
    return spec


def load_spec(text: str, source: str = "the outcome spec") -> OutcomeSpec:
    """Parse and validate a spec's TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(f"{source} is not valid TOML: {exc}") from None
    return parse_spec(data)


def standard_spec_text() -> str:
    """The packaged standard co-responder measure set's TOML."""
    return resources.files("linkage.outcomes").joinpath(STANDARD_SPEC).read_text("utf-8")


def load_standard_spec() -> OutcomeSpec:
    """The packaged standard co-responder measure set."""
    return load_spec(standard_spec_text(), STANDARD_SPEC)
