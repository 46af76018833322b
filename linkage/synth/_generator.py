"""A reusable synthetic multi-agency generator: messy exports in each agency's own format,
with the ground truth (which local record is which synthetic person).

Pure: a seed in, rows out (:func:`generate_scenario`); writing files is
:func:`write_scenario`'s job. Every person is invented from the lists in
:mod:`linkage.synth._names`.

What makes the exports messy, each with a configurable rate (:class:`Messiness`):
nicknames (Robert -> Bob), typos (substitution, transposition, deletion,
insertion), day and month swapped, moved addresses, missing fields, twins (same
surname, date of birth and address, another given name) and duplicates within
one agency (the same person registered twice under two local IDs).
"""

from __future__ import annotations

import csv
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Final

from linkage.synth._names import GIVEN_NAMES, NICKNAMES, PLACES, STREETS, SURNAMES

__all__ = [
    "DEFAULT_AGENCIES",
    "AgencyExport",
    "AgencyFormat",
    "ContactInfo",
    "Messiness",
    "Person",
    "Scenario",
    "TruthRow",
    "Variant",
    "generate_people",
    "generate_scenario",
    "true_pairs",
    "write_scenario",
]


@dataclass(frozen=True, slots=True)
class Person:
    """One synthetic person, as the truth knows them."""

    person_id: str
    given_name: str
    middle_name: str
    surname: str
    date_of_birth: date
    sex: str  # "m" or "f"
    mobile: str  # nine digits after the leading 0, e.g. "412345678"
    street_no: str
    street: str
    suburb: str
    postcode: str
    state: str


@dataclass(frozen=True, slots=True)
class Variant:
    """How one agency recorded a person: any field may be missing (``None``)."""

    given_name: str | None
    middle_name: str | None
    surname: str | None
    date_of_birth: date | None
    swap_day_month: bool
    sex: str | None
    mobile: str | None
    street_no: str | None
    street: str | None
    suburb: str | None
    postcode: str | None
    state: str | None


@dataclass(frozen=True, slots=True)
class Messiness:
    """Rates of each kind of error, per recorded variant (``twins`` per person)."""

    nickname: float = 0.10
    given_typo: float = 0.05
    surname_typo: float = 0.06
    swap_day_month: float = 0.04
    moved: float = 0.12
    missing_phone: float = 0.25
    missing_middle: float = 0.40
    missing_sex: float = 0.04
    missing_address: float = 0.04
    duplicates: float = 0.03
    twins: float = 0.02

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Messiness.{name} must be in [0, 1]")


@dataclass(frozen=True, slots=True)
class ContactInfo:
    """The provider's contact card (about the provider, never the person)."""

    display_name: str
    instructions: str
    phone_number: str


@dataclass(frozen=True, slots=True)
class AgencyFormat:
    """One agency: who it is, how its export looks and how to map it (agency.toml tables)."""

    agency_id: str
    display_name: str
    contact: ContactInfo
    id_column: str
    id_prefix: str
    id_digits: int
    header: tuple[str, ...]
    coverage: float
    render: Callable[[Variant], list[str]] = field(repr=False)
    mapping_toml: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TruthRow:
    """Local record ``local_id`` of ``agency_id`` describes ``person_id``."""

    agency_id: str
    local_id: str
    person_id: str


@dataclass(frozen=True, slots=True)
class AgencyExport:
    """One agency's export: its header and rows (the local ID is the first column)."""

    agency: AgencyFormat
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Scenario:
    """Exports of every agency plus the ground truth."""

    people: tuple[Person, ...]
    exports: tuple[AgencyExport, ...]
    truth: tuple[TruthRow, ...]

    def export(self, agency_id: str) -> AgencyExport:
        for export in self.exports:
            if export.agency.agency_id == agency_id:
                return export
        raise KeyError(agency_id)


# --------------------------------------------------------------------------- people


def _phone(rng: random.Random) -> str:
    return f"4{rng.randrange(10**8):08d}"


def generate_people(count: int, rng: random.Random, twin_rate: float = 0.0) -> list[Person]:
    """``count`` distinct people; a share ``twin_rate`` of them are twins of the one before."""
    people: list[Person] = []
    today = date(2025, 1, 1)
    while len(people) < count:
        number = len(people) + 1
        if people and rng.random() < twin_rate:
            sibling = people[-1]
            given = rng.choice([g for g in GIVEN_NAMES if g != sibling.given_name])
            people.append(
                replace(
                    sibling,
                    person_id=f"P{number:06d}",
                    given_name=given,
                    middle_name=rng.choice(GIVEN_NAMES) if rng.random() < 0.6 else "",
                    sex=rng.choice("mf"),
                    mobile=_phone(rng),
                )
            )
            continue
        suburb, postcode, state = rng.choice(PLACES)
        people.append(
            Person(
                person_id=f"P{number:06d}",
                given_name=rng.choice(GIVEN_NAMES),
                middle_name=rng.choice(GIVEN_NAMES) if rng.random() < 0.6 else "",
                surname=rng.choice(SURNAMES),
                date_of_birth=today - timedelta(days=rng.randint(18 * 365, 85 * 365)),
                sex=rng.choice("mf"),
                mobile=_phone(rng),
                street_no=str(rng.randint(1, 240)),
                street=rng.choice(STREETS),
                suburb=suburb,
                postcode=postcode,
                state=state,
            )
        )
    return people


# --------------------------------------------------------------------------- errors


def _typo(text: str, rng: random.Random) -> str:
    letters = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(letters) < 3:
        return text
    i = rng.choice(letters[1:])
    kind = rng.randrange(4)
    if kind == 0:  # substitution
        return text[:i] + rng.choice(string.ascii_lowercase) + text[i + 1 :]
    if kind == 1 and i + 1 < len(text):  # transposition
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if kind == 2:  # deletion
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]  # insertion (doubled letter)


def _variant(person: Person, rates: Messiness, rng: random.Random) -> Variant:
    given: str | None = person.given_name
    if given in NICKNAMES and rng.random() < rates.nickname:
        given = rng.choice(NICKNAMES[given])
    elif rng.random() < rates.given_typo:
        given = _typo(person.given_name, rng)
    surname = _typo(person.surname, rng) if rng.random() < rates.surname_typo else person.surname
    middle = person.middle_name or None
    if middle is not None and rng.random() < rates.missing_middle:
        middle = None
    swap = person.date_of_birth.day <= 12 and rng.random() < rates.swap_day_month
    street_no: str | None = person.street_no
    street: str | None = person.street
    suburb: str | None = person.suburb
    postcode: str | None = person.postcode
    state: str | None = person.state
    if rng.random() < rates.moved:
        street_no, street = str(rng.randint(1, 240)), rng.choice(STREETS)
        suburb, postcode, state = rng.choice(PLACES)
    if rng.random() < rates.missing_address:
        street_no = street = None
    return Variant(
        given_name=given,
        middle_name=middle,
        surname=surname,
        date_of_birth=person.date_of_birth,
        swap_day_month=swap,
        sex=None if rng.random() < rates.missing_sex else person.sex,
        mobile=None if rng.random() < rates.missing_phone else person.mobile,
        street_no=street_no,
        street=street,
        suburb=suburb,
        postcode=postcode,
        state=state,
    )


def _dmy(variant: Variant) -> tuple[int, int, int] | None:
    dob = variant.date_of_birth
    if dob is None:
        return None
    if variant.swap_day_month:
        return dob.month, dob.day, dob.year
    return dob.day, dob.month, dob.year


def _s(value: str | None) -> str:
    return value or ""


# --------------------------------------------------------------------------- agency formats


def _render_police(v: Variant) -> list[str]:
    names = " ".join(p for p in (v.given_name, v.middle_name) if p)
    full = f"{_s(v.surname).upper()}, {names}" if v.surname and names else ""
    dmy = _dmy(v)
    phone = f"+61 {v.mobile[:3]} {v.mobile[3:6]} {v.mobile[6:]}" if v.mobile else ""
    address = f"{v.street_no} {v.street}" if v.street_no and v.street else ""
    return [
        full,
        f"{dmy[1]:02d}/{dmy[0]:02d}/{dmy[2]}" if dmy else "",
        {"m": "M", "f": "F"}.get(_s(v.sex), ""),
        phone,
        address,
        _s(v.suburb),
        _s(v.postcode),
        _s(v.state),
    ]


def _render_mhc(v: Variant) -> list[str]:
    dmy = _dmy(v)
    return [
        _s(v.given_name),
        _s(v.middle_name),
        _s(v.surname),
        f"{dmy[2]}-{dmy[1]:02d}-{dmy[0]:02d}" if dmy else "",
        {"m": "Male", "f": "Female"}.get(_s(v.sex), ""),
        f"0{v.mobile[:3]} {v.mobile[3:6]} {v.mobile[6:]}" if v.mobile else "",
        _s(v.street_no),
        _s(v.street),
        _s(v.suburb),
        _s(v.postcode),
        _s(v.state),
    ]


def _render_er(v: Variant) -> list[str]:
    dmy = _dmy(v)
    return [
        _s(v.surname),
        " ".join(p for p in (v.given_name, v.middle_name) if p),
        f"{dmy[2]}{dmy[1]:02d}{dmy[0]:02d}" if dmy else "",
        {"m": "M", "f": "F"}.get(_s(v.sex), "U"),
        f"(0{v.mobile[0]}) {v.mobile[1:5]} {v.mobile[5:]}" if v.mobile else "",
        f"{v.street_no} {v.street}" if v.street_no and v.street else "",
        _s(v.suburb),
        _s(v.postcode),
    ]


def _render_sud(v: Variant) -> list[str]:
    dmy = _dmy(v)
    return [
        _s(v.surname),
        _s(v.given_name),
        f"{dmy[0]:02d}.{dmy[1]:02d}.{dmy[2]}" if dmy else "",
        {"m": "m", "f": "f"}.get(_s(v.sex), ""),
        f"0{v.mobile}" if v.mobile else "",
        f"{v.street_no} {v.street}" if v.street_no and v.street else "",
        _s(v.suburb),
        _s(v.postcode),
        _s(v.state),
    ]


_POLICE_TOML: Final = """\
[input]
record_key = "person_id"

[features.given_name]
column = "full_name"
name_part = "first"

[features.middle_name]
column = "full_name"
name_part = "middle"

[features.surname]
column = "full_name"
name_part = "last"

[features.date_of_birth]
column = "dob"
date_format = "MM/DD/YYYY"

[features.sex]
column = "sex"

[features.phone]
column = "contact_phone"
keep_last = 9

[features.street_address]
column = "address"

[features.suburb]
column = "suburb"

[features.postcode]
column = "postcode"

[features.state]
column = "state"
"""

_MHC_TOML: Final = """\
[input]
record_key = "client_id"

[features.given_name]
column = "given_name"

[features.middle_name]
column = "middle_name"

[features.surname]
column = "family_name"

[features.date_of_birth]
column = "date_of_birth"
date_format = "ISO"

[features.sex]
column = "gender"

[features.phone]
column = "mobile"
keep_last = 9

[features.street_address]
columns = ["street_no", "street"]

[features.suburb]
column = "city"

[features.postcode]
column = "zip"

[features.state]
column = "state"
"""

_ER_TOML: Final = """\
[input]
record_key = "mrn"

[features.given_name]
column = "patient_first"

[features.surname]
column = "patient_last"

[features.date_of_birth]
column = "birth_date"
date_format = "YYYYMMDD"

[features.sex]
column = "sex_code"

[features.phone]
column = "phone"
keep_last = 9

[features.street_address]
column = "addr_line1"

[features.suburb]
column = "addr_city"

[features.postcode]
column = "addr_postcode"
"""

_SUD_TOML: Final = """\
[input]
record_key = "participant_no"

[features.given_name]
column = "first_name"

[features.surname]
column = "surname"

[features.date_of_birth]
column = "dob"
date_format = "DD.MM.YYYY"

[features.sex]
column = "sex"

[features.phone]
column = "phone"
keep_last = 9

[features.street_address]
column = "address"

[features.suburb]
column = "suburb"

[features.postcode]
column = "postcode"

[features.state]
column = "state"
"""

#: The demo's four agencies: police, a mental-health centre, a hospital ER and a
#: substance-use programme, each with its own export format.
DEFAULT_AGENCIES: Final[tuple[AgencyFormat, ...]] = (
    AgencyFormat(
        agency_id="metro-police",
        display_name="Metro Police",
        contact=ContactInfo(
            "Metro Police co-responder desk", "Ask for the duty sergeant", "555 0111"
        ),
        id_column="person_id",
        id_prefix="MPD-",
        id_digits=6,
        header=(
            "person_id",
            "full_name",
            "dob",
            "sex",
            "contact_phone",
            "address",
            "suburb",
            "postcode",
            "state",
        ),
        coverage=0.60,
        render=_render_police,
        mapping_toml=_POLICE_TOML,
    ),
    AgencyFormat(
        agency_id="valley-mhc",
        display_name="Valley Mental Health",
        contact=ContactInfo("Valley Mental Health", "crisis line, 24/7", "555 0100"),
        id_column="client_id",
        id_prefix="VMHC-",
        id_digits=5,
        header=(
            "client_id",
            "given_name",
            "middle_name",
            "family_name",
            "date_of_birth",
            "gender",
            "mobile",
            "street_no",
            "street",
            "city",
            "zip",
            "state",
        ),
        coverage=0.45,
        render=_render_mhc,
        mapping_toml=_MHC_TOML,
    ),
    AgencyFormat(
        agency_id="riverside-er",
        display_name="Riverside Hospital Emergency",
        contact=ContactInfo(
            "Riverside Hospital Emergency", "Ask for the ED social worker", "555 0122"
        ),
        id_column="mrn",
        id_prefix="MRN",
        id_digits=7,
        header=(
            "mrn",
            "patient_last",
            "patient_first",
            "birth_date",
            "sex_code",
            "phone",
            "addr_line1",
            "addr_city",
            "addr_postcode",
        ),
        coverage=0.45,
        render=_render_er,
        mapping_toml=_ER_TOML,
    ),
    AgencyFormat(
        agency_id="harbour-sud",
        display_name="Harbour Recovery Programme",
        contact=ContactInfo("Harbour Recovery Programme", "Ask for the intake worker", "555 0133"),
        id_column="participant_no",
        id_prefix="HRP-",
        id_digits=5,
        header=(
            "participant_no",
            "surname",
            "first_name",
            "dob",
            "sex",
            "phone",
            "address",
            "suburb",
            "postcode",
            "state",
        ),
        coverage=0.30,
        render=_render_sud,
        mapping_toml=_SUD_TOML,
    ),
)


# --------------------------------------------------------------------------- scenario


def generate_scenario(
    *,
    people: int = 400,
    seed: int = 2025,
    agencies: Sequence[AgencyFormat] = DEFAULT_AGENCIES,
    messiness: Messiness | None = None,
    always_present: Sequence[tuple[Person, Sequence[str]]] = (),
) -> Scenario:
    """Generate ``people`` people and each agency's export of the ones it knows.

    ``always_present`` adds fixed people (e.g. the demo's protagonist) to the named
    agencies, recorded exactly (no errors), in addition to the random population.
    Deterministic for a given seed.
    """
    if people < 0:
        raise ValueError("people must be >= 0")
    rates = messiness or Messiness()
    rng = random.Random(seed)
    population = generate_people(people, rng, rates.twins)
    fixed = {p.person_id: set(ids) for p, ids in always_present}
    everyone = [p for p, _ in always_present] + population
    truth: list[TruthRow] = []
    exports: list[AgencyExport] = []
    for agency in agencies:
        used: set[str] = set()

        def local_id(agency: AgencyFormat = agency, used: set[str] = used) -> str:
            while True:
                number = rng.randrange(10 ** (agency.id_digits - 1), 10**agency.id_digits)
                candidate = f"{agency.id_prefix}{number}"
                if candidate not in used:
                    used.add(candidate)
                    return candidate

        rows: list[tuple[str, ...]] = []
        for person in everyone:
            if person.person_id in fixed:
                if agency.agency_id not in fixed[person.person_id]:
                    continue
                copies = [_exact(person)]
            elif rng.random() < agency.coverage:
                copies = [_variant(person, rates, rng)]
                if rng.random() < rates.duplicates:
                    copies.append(_variant(person, rates, rng))
            else:
                continue
            for variant in copies:
                identifier = local_id()
                rows.append((identifier, *agency.render(variant)))
                truth.append(TruthRow(agency.agency_id, identifier, person.person_id))
        order = list(range(len(rows)))
        rng.shuffle(order)
        exports.append(AgencyExport(agency, tuple(rows[i] for i in order)))
    return Scenario(tuple(everyone), tuple(exports), tuple(truth))


def _exact(person: Person) -> Variant:
    return Variant(
        given_name=person.given_name,
        middle_name=person.middle_name or None,
        surname=person.surname,
        date_of_birth=person.date_of_birth,
        swap_day_month=False,
        sex=person.sex,
        mobile=person.mobile,
        street_no=person.street_no,
        street=person.street,
        suburb=person.suburb,
        postcode=person.postcode,
        state=person.state,
    )


def true_pairs(truth: Sequence[TruthRow], agency_a: str, agency_b: str) -> set[tuple[str, str]]:
    """Every ``(local ID in a, local ID in b)`` that describes the same person."""
    by_person: dict[str, list[str]] = {}
    for row in truth:
        if row.agency_id == agency_b:
            by_person.setdefault(row.person_id, []).append(row.local_id)
    return {
        (row.local_id, other)
        for row in truth
        if row.agency_id == agency_a
        for other in by_person.get(row.person_id, ())
    }


def write_scenario(scenario: Scenario, directory: Path) -> dict[str, Path]:
    """Write ``<agency>.csv`` per agency and ``truth.csv``; returns the paths by agency ID
    (``"truth"`` for the truth file). The truth file is for evaluation only."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for export in scenario.exports:
        path = directory / f"{export.agency.agency_id}.csv"
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(export.agency.header)
            writer.writerows(export.rows)
        paths[export.agency.agency_id] = path
    truth_path = directory / "truth.csv"
    with truth_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(("agency_id", "local_id", "person_id"))
        writer.writerows((t.agency_id, t.local_id, t.person_id) for t in scenario.truth)
    paths["truth"] = truth_path
    return paths
