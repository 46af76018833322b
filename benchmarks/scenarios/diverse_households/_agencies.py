"""The five agencies of the diverse-households scenario: who they see, how their systems
record people, how they export, and the column mapping a new operator writes for each.

* ``police`` (Metro Police Service): one ``NAME`` column "SURNAME, GIVEN MIDDLE" in capitals,
  dates DD/MM/YYYY, local phone format, the unit folded into the street ("4/12 SMITH ST").
* ``mental-health`` (Harbourside Community Mental Health Service): intake forms typed with
  Unicode (diacritics kept), separate first / middle / last name, ISO dates, a mobile and a
  home phone column, the state spelled out, a UTF-8 byte-order mark.
* ``hospital-ed`` (St Brigid's Hospital Emergency Department): patient administration
  system, family name in capitals, dates YYYYMMDD, international phone format, address
  line 2 for the unit, legacy records with day and month swapped, a few "UNKNOWN"
  placeholder registrations of unconscious or unidentified patients.
* ``aod-programme`` (Pathways Alcohol & Other Drug Service): semicolon-delimited, one
  ``GivenNames`` column, dates DD.MM.YYYY, national minimum data set sex codes 1/2/3/9,
  a statistical linkage key (SLK-581) column.
* ``ambulance`` (Metro Ambulance Service): one record per patient contact, US-built
  software with MM/DD/YYYY dates; the patient's name as the paramedic heard it, often no
  date of birth (or only a year derived from the age), a call-back phone that may be a
  relative's or annotated, and the scene address (often not the patient's home).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final

from benchmarks.scenarios.diverse_households._names import ascii_fold
from benchmarks.scenarios.diverse_households._population import Metro, Person
from benchmarks.scenarios.diverse_households._render import Observation, ObservedAddress, Style

__all__ = ["AGENCIES", "STREET_ABBREVIATIONS", "Agency", "RowContext", "format_street"]

STREET_ABBREVIATIONS: Final[dict[str, str]] = {
    "Street": "St",
    "Road": "Rd",
    "Avenue": "Ave",
    "Parade": "Pde",
    "Drive": "Dr",
    "Crescent": "Cres",
    "Court": "Ct",
    "Place": "Pl",
    "Close": "Cl",
    "Lane": "La",
    "Highway": "Hwy",
    "Way": "Way",
    "Terrace": "Tce",
    "Grove": "Gr",
    "Boulevard": "Bvd",
}


@dataclass(frozen=True, slots=True)
class RowContext:
    """Everything an agency's row writer needs for one record."""

    observation: Observation
    person: Person
    household: list[Person]
    day: int
    local_id: str
    rng: random.Random
    metro: Metro


@dataclass(frozen=True, slots=True)
class Agency:
    """One agency: its population coverage, recording style, export format and mapping."""

    agency_id: str
    display_name: str
    style: Style
    header: tuple[str, ...]
    delimiter: str
    byte_order_mark: bool
    line_end: str
    mapping: str
    #: youngest age at which the agency records someone
    min_age: int
    #: chance that a later contact creates a second record for the same person
    duplicate: float
    coverage: Callable[[int, int], float]
    write_row: Callable[[RowContext], list[str]]
    local_ids: Callable[[list[int], random.Random], list[str]]


def format_street(address: ObservedAddress, *, abbreviate: bool, unit_style: str) -> str:
    """The street line: ``unit_style`` is ``slash`` (4/12 ...), ``unit`` (Unit 4, 12 ...),
    ``u`` (U4 12 ...) or ``none`` (the unit goes elsewhere)."""
    if address.landmark:
        return address.street
    kind = STREET_ABBREVIATIONS.get(address.street_type, address.street_type)
    street = f"{address.street} {kind if abbreviate else address.street_type}"
    if not address.unit or unit_style == "none":
        return f"{address.number} {street}"
    if unit_style == "slash":
        return f"{address.unit}/{address.number} {street}"
    if unit_style == "unit":
        return f"Unit {address.unit}, {address.number} {street}"
    return f"U{address.unit} {address.number} {street}"


def _phone_local(number: str, *, dashes: bool = False) -> str:
    if not number:
        return ""
    sep = "-" if dashes else " "
    if number.startswith("04"):
        return f"{number[:4]}{sep}{number[4:7]}{sep}{number[7:]}"
    return f"({number[:2]}) {number[2:6]}{sep}{number[6:]}"


def _phone_international(number: str) -> str:
    if not number:
        return ""
    rest = number[1:]
    if number.startswith("04"):
        return f"+61 {rest[:3]} {rest[3:6]} {rest[6:]}"
    return f"+61 {rest[0]} {rest[1:5]} {rest[5:]}"


def _dmy(dob: tuple[int, int, int] | None, sep: str) -> str:
    if dob is None:
        return ""
    year, month, day = dob
    return f"{day:02d}{sep}{month:02d}{sep}{year:04d}"


def _day_text(day: int, fmt: str) -> str:
    on = date.fromordinal(day)
    return on.strftime(fmt)


def _one_phone(obs: Observation, style: Style, rng: random.Random) -> str:
    """The single phone a one-column system keeps: the mobile, or the landline."""
    if obs.landline and (not obs.mobile or rng.random() < style.phone_landline):
        return obs.landline
    return obs.mobile


def _sequential(
    prefix: str, width: int, start: tuple[int, int], gap: int
) -> Callable[[list[int], random.Random], list[str]]:
    """Local IDs that grow with the registration day, with random gaps."""

    def make(days: list[int], rng: random.Random) -> list[str]:
        value = rng.randint(*start)
        out: list[str] = []
        for _ in days:
            value += rng.randint(1, gap)
            out.append(f"{prefix}{value:0{width}d}")
        return out

    return make


# -- coverage: probability that the agency holds a person, by age now and risk tier ------


def _police_cover(age: int, risk: int) -> float:
    base = (
        0.03
        if age < 8
        else 0.12
        if age < 14
        else 0.3
        if age < 18
        else 0.45
        if age < 35
        else (0.3 if age < 65 else 0.12)
    )
    return min(0.95, base * (0.7, 2.0, 3.2)[risk])


def _mental_health_cover(age: int, risk: int) -> float:
    base = 0.015 if age < 8 else 0.15 if age < 18 else 0.17 if age < 65 else 0.1
    return min(0.95, base * (0.6, 2.5, 5.0)[risk])


def _hospital_cover(age: int, risk: int) -> float:
    base = (
        0.75
        if age < 5
        else 0.55
        if age < 15
        else 0.65
        if age < 25
        else (0.58 if age < 65 else 0.8 if age < 80 else 0.9)
    )
    return min(0.95, base * (1.0, 1.35, 1.6)[risk])


def _aod_cover(age: int, risk: int) -> float:
    base = 0.0 if age < 13 else 0.05 if age < 18 else 0.09 if age < 65 else 0.03
    return min(0.95, base * (0.4, 3.0, 8.0)[risk])


def _ambulance_cover(age: int, risk: int) -> float:
    base = 0.12 if age < 15 else 0.21 if age < 65 else 0.45 if age < 80 else 0.75
    return min(0.95, base * (0.8, 1.8, 3.0)[risk])


# -- police -------------------------------------------------------------------------------

_POLICE_STYLE: Final = Style(
    alias=0.45,
    nickname=0.08,
    given_variant=0.15,
    surname_variant=0.06,
    typo=0.02,
    order_swap=0.1,
    hispanic=(0.35, 0.4, 0.15, 0.05, 0.05),
    patronymic=(0.7, 0.3, 0.0),
    middle=(0.85, 0.0, 0.15),
    masculine_surname_for_women=0.12,
    dob_missing=0.0,
    dob_year_only=0.01,
    dob_month_year=0.005,
    dob_swap=0.01,
    dob_typo=0.01,
    sex_missing=0.005,
    records_x=False,
    phone_missing=0.15,
    phone_landline=0.15,
    phone_stale=0.1,
    addr_stale=0.08,
    unit_dropped=0.1,
    nfa=0.04,
)
_POLICE_ROLES: Final = (
    ("VICTIM", 0.3),
    ("WITNESS", 0.2),
    ("OFFENDER", 0.25),
    ("PERSON OF INTEREST", 0.15),
    ("MISSING PERSON", 0.03),
    ("INFORMANT", 0.07),
)


def _police_row(ctx: RowContext) -> list[str]:
    obs, rng = ctx.observation, ctx.rng
    style = _POLICE_STYLE
    given = " ".join([obs.given, *obs.middles]).upper()
    name = f"{obs.surname.upper()}, {given}"
    address = ""
    suburb = postcode = state = ""
    if obs.no_fixed_address:
        address = "NO FIXED ADDRESS"
    elif obs.address is not None:
        address = format_street(obs.address, abbreviate=True, unit_style="slash").upper()
        suburb, postcode, state = obs.address.suburb.upper(), obs.address.postcode, "NSW"
    sex = {"m": "M", "f": "F", "x": "X"}.get(obs.sex, "U")
    roles, weights = zip(*_POLICE_ROLES, strict=True)
    return [
        ctx.local_id,
        name,
        _dmy(obs.dob, "/"),
        sex,
        _phone_local(_one_phone(obs, style, rng)),
        address,
        suburb,
        postcode,
        state,
        _day_text(ctx.day, "%d/%m/%Y"),
        rng.choices(roles, weights=weights)[0],
    ]


_POLICE_MAPPING: Final = """\
# Metro Police Service: person extract from the records management system (COPS export).
# NAME holds "SURNAME, GIVEN MIDDLE" in capitals; dates are day first.
[input]
delimiter = ","
encoding = "utf-8"
record_key = "PERSON_ID"

[features.given_name]
column = "NAME"
name_part = "first"

[features.middle_name]
column = "NAME"
name_part = "middle"

[features.surname]
column = "NAME"
name_part = "last"

[features.date_of_birth]
column = "DOB"
date_format = "DD/MM/YYYY"

[features.sex]
column = "SEX"

[features.phone]
column = "PHONE"
keep_last = 9                       # 04xx / (02) local numbers and +61 agree on the last 9

[features.street_address]
column = "ADDRESS"                  # unit and street together, e.g. 4/12 SMITH ST

[features.suburb]
column = "SUBURB"

[features.postcode]
column = "POSTCODE"

[features.state]
column = "STATE"
"""

# -- mental health ---------------------------------------------------------------------

_MENTAL_HEALTH_STYLE: Final = Style(
    unicode=True,
    alias=0.35,
    alias_keeps_native_as_middle=0.2,
    nickname=0.03,
    given_variant=0.06,
    surname_variant=0.04,
    typo=0.015,
    order_swap=0.04,
    hispanic=(0.55, 0.25, 0.1, 0.05, 0.05),
    hispanic_person_form=0.7,
    patronymic=(0.55, 0.0, 0.45),
    middle=(0.85, 0.05, 0.1),
    dob_missing=0.005,
    dob_year_only=0.005,
    dob_month_year=0.003,
    dob_swap=0.005,
    dob_typo=0.01,
    sex_missing=0.02,
    phone_missing=0.08,
    phone_stale=0.06,
    addr_stale=0.05,
    unit_dropped=0.05,
    nfa=0.04,
)


def _mental_health_row(ctx: RowContext) -> list[str]:
    obs, person = ctx.observation, ctx.person
    line1 = line2 = suburb = postcode = state = ""
    if obs.no_fixed_address:
        line1 = "No fixed address"
    elif obs.address is not None:
        # typed by intake staff: some abbreviate the street type, most write it in full
        abbreviate = ctx.rng.random() < 0.4
        line1 = format_street(obs.address, abbreviate=abbreviate, unit_style="none")
        line2 = f"Unit {obs.address.unit}" if obs.address.unit else ""
        suburb, postcode, state = obs.address.suburb, obs.address.postcode, "New South Wales"
    gender = {"m": "Male", "f": "Female", "x": "Non-binary"}.get(obs.sex, "Not stated")
    preferred = ""
    if person.given.alias and not obs.alias_used:
        preferred = person.given.alias
    elif obs.nickname and ctx.rng.random() < 0.3:
        preferred = obs.nickname
    landline = obs.landline
    return [
        ctx.local_id,
        obs.given,
        " ".join(obs.middles),
        obs.surname,
        preferred,
        "" if obs.dob is None else f"{obs.dob[0]:04d}-{obs.dob[1]:02d}-{obs.dob[2]:02d}",
        gender,
        obs.mobile,
        "" if not landline else f"{landline[:2]} {landline[2:6]} {landline[6:]}",
        line1,
        line2,
        suburb,
        postcode,
        state,
        _day_text(ctx.day, "%Y-%m-%d"),
    ]


_MENTAL_HEALTH_MAPPING: Final = """\
# Harbourside Community Mental Health Service: client register export (CSV from the
# client management system; Excel adds a byte-order mark).
[input]
delimiter = ","
encoding = "utf-8-sig"
record_key = "client_id"

[features.given_name]
column = "first_name"

[features.middle_name]
column = "middle_name"

[features.surname]
column = "last_name"

[features.date_of_birth]
column = "date_of_birth"
date_format = "ISO"

[features.sex]
column = "gender"

[features.phone]
column = "mobile"                   # home_phone is only used when there is no mobile
keep_last = 9

[features.street_address]
column = "address_line_1"

[features.address_line_2]
column = "address_line_2"

[features.suburb]
column = "suburb"

[features.postcode]
column = "postcode"

[features.state]
column = "state"
"""

# -- hospital emergency department -----------------------------------------------------

_HOSPITAL_STYLE: Final = Style(
    alias=0.3,
    alias_keeps_native_as_middle=0.4,
    nickname=0.03,
    given_variant=0.12,
    surname_variant=0.05,
    typo=0.02,
    order_swap=0.2,
    hispanic=(0.3, 0.45, 0.15, 0.05, 0.05),
    patronymic=(0.5, 0.5, 0.0),
    middle=(0.6, 0.3, 0.1),
    dob_missing=0.002,
    dob_year_only=0.005,
    dob_month_year=0.002,
    dob_swap=0.0,  # legacy swaps are applied by the row writer (records before 2018)
    dob_typo=0.01,
    sex_missing=0.005,
    phone_missing=0.05,
    phone_stale=0.12,
    addr_stale=0.12,
    unit_dropped=0.06,
    nfa=0.02,
)
_HOSPITAL_LEGACY_SWAP: Final = 0.05  # records migrated from the pre-2018 system
_HOSPITAL_UNKNOWN_PATIENT: Final = 0.003


def _hospital_row(ctx: RowContext) -> list[str]:
    obs, rng, person = ctx.observation, ctx.rng, ctx.person
    dob = obs.dob
    if (
        dob is not None
        and ctx.day < date(2018, 1, 1).toordinal()
        and dob[2] <= 12
        and dob[1] != dob[2]
        and rng.random() < _HOSPITAL_LEGACY_SWAP
    ):
        dob = (dob[0], dob[2], dob[1])
    family, given, other = obs.surname.upper(), obs.given, " ".join(obs.middles)
    line1 = line2 = suburb = postcode = state = ""
    mobile, home = obs.mobile, obs.landline
    if rng.random() < _HOSPITAL_UNKNOWN_PATIENT:
        # an unidentified arrival: placeholder name, a year estimated from appearance
        family, given, other = "UNKNOWN", "UNKNOWN", ""
        age = max(0, person.age_on(ctx.day) + rng.randint(-8, 8))
        dob = (date.fromordinal(ctx.day).year - age, 1, 1)
        mobile = home = ""
    elif obs.no_fixed_address:
        line1 = "NFA"
    elif obs.address is not None:
        line1 = format_street(obs.address, abbreviate=True, unit_style="none")
        line2 = f"Unit {obs.address.unit}" if obs.address.unit else ""
        suburb, postcode, state = obs.address.suburb.upper(), obs.address.postcode, "NSW"
    sex = {"m": "M", "f": "F", "x": "X"}.get(obs.sex, "U")
    kin = [p for p in ctx.household if p is not person and p.age_on(ctx.day) >= 18]
    next_of_kin = ""
    if kin and family != "UNKNOWN":
        relative = rng.choice(kin)
        next_of_kin = f"{ascii_fold(relative.given.own)} {ascii_fold(relative.surname.usual())}"
    return [
        ctx.local_id,
        family,
        given,
        other,
        "" if dob is None else f"{dob[0]:04d}{dob[1]:02d}{dob[2]:02d}",
        sex,
        _phone_international(mobile),
        _phone_international(home),
        line1,
        line2,
        suburb,
        postcode,
        state,
        next_of_kin,
        _day_text(ctx.day, "%Y%m%d"),
    ]


_HOSPITAL_MAPPING: Final = """\
# St Brigid's Hospital Emergency Department: patient master index extract from the PAS.
[input]
delimiter = ","
encoding = "utf-8"
record_key = "MRN"

[features.given_name]
column = "GIVEN_NAME"

[features.middle_name]
column = "OTHER_GIVEN_NAMES"

[features.surname]
column = "FAMILY_NAME"

[features.date_of_birth]
column = "BIRTH_DATE"
date_format = "YYYYMMDD"

[features.sex]
column = "SEX"

[features.phone]
column = "PHONE_MOBILE"             # +61 4xx xxx xxx
keep_last = 9

[features.street_address]
column = "ADDR_LINE1"

[features.address_line_2]
column = "ADDR_LINE2"

[features.suburb]
column = "SUBURB"

[features.postcode]
column = "POSTCODE"

[features.state]
column = "STATE"
"""

# -- alcohol and other drugs programme -------------------------------------------------

_AOD_STYLE: Final = Style(
    alias=0.5,
    nickname=0.12,
    given_variant=0.12,
    surname_variant=0.06,
    typo=0.025,
    order_swap=0.06,
    hispanic=(0.35, 0.45, 0.1, 0.05, 0.05),
    patronymic=(0.7, 0.3, 0.0),
    middle=(1.0, 0.0, 0.0),
    dob_missing=0.01,
    dob_year_only=0.04,
    dob_month_year=0.02,
    dob_swap=0.01,
    dob_typo=0.015,
    sex_missing=0.02,
    phone_missing=0.2,
    phone_stale=0.12,
    addr_stale=0.06,
    unit_dropped=0.12,
    nfa=0.06,
)
_AOD_DRUGS: Final = (
    "Alcohol",
    "Methamphetamine",
    "Cannabis",
    "Heroin",
    "Opioids (pharmaceutical)",
    "Benzodiazepines",
    "Cocaine",
)


def _slk581(surname: str, given: str, dob: tuple[int, int, int] | None, sex_code: str) -> str:
    """The AIHW statistical linkage key: letters 2, 3, 5 of the surname, 2, 3 of the
    given name, the date of birth DDMMYYYY and the sex code."""
    letters = "".join(ch for ch in ascii_fold(surname).upper() if ch.isalpha())
    first = "".join(ch for ch in ascii_fold(given).upper() if ch.isalpha())
    part1 = (
        "999"
        if not letters
        else "".join(letters[i] if i < len(letters) else "2" for i in (1, 2, 4))
    )
    part2 = "99" if not first else "".join(first[i] if i < len(first) else "2" for i in (1, 2))
    born = "" if dob is None else f"{dob[2]:02d}{dob[1]:02d}{dob[0]:04d}"
    return f"{part1}{part2}{born}{sex_code}"


def _aod_row(ctx: RowContext) -> list[str]:
    obs, rng = ctx.observation, ctx.rng
    given_names = obs.given
    if obs.middles and rng.random() < 0.4:  # the worker types every given name they hear
        given_names = " ".join([obs.given, *obs.middles])
    street = suburb = postcode = state = ""
    if obs.no_fixed_address:
        street = "No fixed abode"
    elif obs.address is not None:
        unit_style = "slash" if rng.random() < 0.6 else "unit"
        street = format_street(obs.address, abbreviate=rng.random() < 0.5, unit_style=unit_style)
        suburb, postcode, state = obs.address.suburb, obs.address.postcode, "NSW"
    sex_code = {"m": "1", "f": "2", "x": "3"}.get(obs.sex, "9")
    return [
        ctx.local_id,
        _slk581(obs.surname, obs.given, obs.dob, sex_code),
        obs.surname,
        given_names,
        _dmy(obs.dob, "."),
        sex_code,
        _phone_local(_one_phone(obs, _AOD_STYLE, rng), dashes=True),
        street,
        suburb,
        postcode,
        state,
        _day_text(ctx.day, "%d.%m.%Y"),
        rng.choice(_AOD_DRUGS),
    ]


_AOD_MAPPING: Final = """\
# Pathways Alcohol & Other Drug Service: client extract (semicolon separated).
# Sex is coded 1/2/3/9 (AODTS NMDS); the client has no option to map those codes,
# so sex is left unmapped. GivenNames may hold middle names too.
[input]
delimiter = ";"
encoding = "utf-8"
record_key = "ClientCode"

[features.given_name]
column = "GivenNames"

[features.surname]
column = "Surname"

[features.date_of_birth]
column = "DOB"
date_format = "DD.MM.YYYY"

[features.phone]
column = "Phone"
keep_last = 9

[features.street_address]
column = "StreetAddress"

[features.suburb]
column = "Suburb"

[features.postcode]
column = "Postcode"

[features.state]
column = "State"
"""

# -- ambulance ---------------------------------------------------------------------------

_AMBULANCE_STYLE: Final = Style(
    alias=0.6,
    alias_keeps_native_as_middle=0.0,
    nickname=0.25,
    given_variant=0.3,
    surname_variant=0.12,
    typo=0.05,
    phonetic=0.12,
    order_swap=0.12,
    hispanic=(0.1, 0.8, 0.05, 0.05, 0.0),
    hispanic_person_form=0.3,
    sikh=(0.7, 0.2, 0.1),
    patronymic=(0.4, 0.0, 0.6),
    middle=(0.0, 0.0, 1.0),
    masculine_surname_for_women=0.1,
    maiden_name_after_marriage=0.0,
    dob_missing=0.35,
    dob_age_derived=0.46,  # of those with something recorded: 30 % of all records
    year_only_mid_year=0.7,
    dob_year_only=0.0,
    dob_month_year=0.0,
    dob_swap=0.1,  # DD/MM typed into an MM/DD field (accepted when the day is 12 or less)
    dob_typo=0.03,
    sex_missing=0.02,
    sex_flip=0.01,
    records_x=False,
    phone_missing=0.3,
    phone_landline=0.25,
    phone_stale=0.0,
    phone_other_member=0.2,
    phone_typo=0.03,
    addr_missing=0.0,
    addr_stale=0.0,
    unit_dropped=0.25,
    number_typo=0.03,
    suburb_wrong=0.03,
    suburb_typo=0.02,
    postcode_missing=1.0,
    nfa=0.05,
)
_AMBULANCE_AT_HOME: Final = 0.7
_AMBULANCE_JUNK_PHONE: Final = 0.04
_LANDMARKS: Final = ("Station", "Shopping Centre", "Park", "Oval", "Library", "Medical Centre")


def _scene(ctx: RowContext) -> tuple[str, str]:
    """The scene address and suburb: home, or a public place or another house."""
    obs, rng, metro = ctx.observation, ctx.rng, ctx.metro
    if obs.address is not None and not obs.no_fixed_address and rng.random() < _AMBULANCE_AT_HOME:
        address = obs.address
        unit_style = "u" if rng.random() < 0.5 else "slash"
        return format_street(address, abbreviate=True, unit_style=unit_style).upper(), (
            address.suburb.upper()
        )
    suburb = metro.suburbs[rng.randrange(len(metro.suburbs))].name
    draw = rng.random()
    if draw < 0.4:
        return f"{suburb} {rng.choice(_LANDMARKS)}".upper(), suburb.upper()
    if draw < 0.6:
        first, second = rng.sample(metro.streets, 2)
        corner = (
            f"CNR {first.name} {STREET_ABBREVIATIONS.get(first.kind, first.kind)} & "
            f"{second.name} {STREET_ABBREVIATIONS.get(second.kind, second.kind)}"
        )
        return corner.upper(), metro.suburbs[first.suburb_of(1)].name.upper()
    other = metro.address_for(rng, ctx.person.tradition)
    street = metro.streets[other.street]
    line = f"{other.number} {street.name} {STREET_ABBREVIATIONS.get(street.kind, street.kind)}"
    return line.upper(), metro.suburbs[other.suburb].name.upper()


def _ambulance_phone(ctx: RowContext) -> str:
    obs, rng = ctx.observation, ctx.rng
    number = _one_phone(obs, _AMBULANCE_STYLE, rng)
    draw = rng.random()
    if draw < _AMBULANCE_JUNK_PHONE / 2:
        return rng.choice(("NIL", "DECLINED", "N/A", "UNK"))
    if not number:
        return ""
    if draw < _AMBULANCE_JUNK_PHONE:
        return f"{_phone_local(number)} ({rng.choice(('daughter', 'son', 'wife', 'neighbour'))})"
    if number.startswith("02"):
        return f"{number[2:6]} {number[6:]}"  # local landline without the area code
    return number if rng.random() < 0.6 else _phone_local(number)


def _ambulance_row(ctx: RowContext) -> list[str]:
    obs, rng, person = ctx.observation, ctx.rng, ctx.person
    surname = obs.surname.upper()
    given = obs.given.upper()
    if rng.random() < 0.06:
        surname = ""  # only a first name was obtained
    dob = obs.dob
    dob_text = "" if dob is None else f"{dob[1]:02d}/{dob[2]:02d}/{dob[0]:04d}"
    age = person.age_on(ctx.day)
    age_text = f"{age}" if age >= 2 else f"{max(1, age * 12 + rng.randint(0, 11))}mo"
    sex = {"m": "Male", "f": "Female"}.get(obs.sex, "Unknown")
    scene, scene_suburb = _scene(ctx)
    when = date.fromordinal(ctx.day).strftime("%m/%d/%Y")
    return [
        ctx.local_id,
        f"{when} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        surname,
        given,
        dob_text,
        age_text,
        sex,
        _ambulance_phone(ctx),
        scene,
        scene_suburb,
        rng.choice(("1A", "2B", "3C", "4D", "5E", "9E", "17A", "26C", "32B")),
    ]


def _pcr_numbers(days: list[int], rng: random.Random) -> list[str]:
    out: list[str] = []
    sequence = rng.randint(100_000, 900_000)
    for day in days:
        sequence += rng.randint(5, 120)
        out.append(f"PCR-{date.fromordinal(day).year}-{sequence:07d}")
    return out


_AMBULANCE_MAPPING: Final = """\
# Metro Ambulance Service: patient care records (ePCR vendor export, US date order).
[input]
delimiter = ","
encoding = "utf-8"
record_key = "PCR_NUMBER"

[features.given_name]
column = "PT_FIRST"

[features.surname]
column = "PT_LAST"

[features.date_of_birth]
column = "PT_DOB"
date_format = "MM/DD/YYYY"

[features.sex]
column = "PT_SEX"

[features.phone]
column = "CALLBACK_PHONE"
keep_last = 9
on_invalid = "missing"              # free text: "NIL", "0412 345 678 (daughter)"

[features.street_address]
column = "SCENE_ADDRESS"

[features.suburb]
column = "SCENE_SUBURB"
"""

AGENCIES: Final[tuple[Agency, ...]] = (
    Agency(
        agency_id="police",
        display_name="Metro Police Service",
        style=_POLICE_STYLE,
        header=(
            "PERSON_ID",
            "NAME",
            "DOB",
            "SEX",
            "PHONE",
            "ADDRESS",
            "SUBURB",
            "POSTCODE",
            "STATE",
            "ENTERED",
            "ROLE",
        ),
        delimiter=",",
        byte_order_mark=False,
        line_end="\r\n",
        mapping=_POLICE_MAPPING,
        min_age=5,
        duplicate=0.035,
        coverage=_police_cover,
        write_row=_police_row,
        local_ids=_sequential("P", 7, (1_000_000, 2_000_000), 40),
    ),
    Agency(
        agency_id="mental-health",
        display_name="Harbourside Community Mental Health Service",
        style=_MENTAL_HEALTH_STYLE,
        header=(
            "client_id",
            "first_name",
            "middle_name",
            "last_name",
            "preferred_name",
            "date_of_birth",
            "gender",
            "mobile",
            "home_phone",
            "address_line_1",
            "address_line_2",
            "suburb",
            "postcode",
            "state",
            "referral_date",
        ),
        delimiter=",",
        byte_order_mark=True,
        line_end="\r\n",
        mapping=_MENTAL_HEALTH_MAPPING,
        min_age=6,
        duplicate=0.03,
        coverage=_mental_health_cover,
        write_row=_mental_health_row,
        local_ids=_sequential("MH", 6, (100_000, 200_000), 9),
    ),
    Agency(
        agency_id="hospital-ed",
        display_name="St Brigid's Hospital Emergency Department",
        style=_HOSPITAL_STYLE,
        header=(
            "MRN",
            "FAMILY_NAME",
            "GIVEN_NAME",
            "OTHER_GIVEN_NAMES",
            "BIRTH_DATE",
            "SEX",
            "PHONE_MOBILE",
            "PHONE_HOME",
            "ADDR_LINE1",
            "ADDR_LINE2",
            "SUBURB",
            "POSTCODE",
            "STATE",
            "NOK_NAME",
            "LAST_ATTENDANCE",
        ),
        delimiter=",",
        byte_order_mark=False,
        line_end="\n",
        mapping=_HOSPITAL_MAPPING,
        min_age=0,
        duplicate=0.04,
        coverage=_hospital_cover,
        write_row=_hospital_row,
        local_ids=_sequential("", 8, (10_000_000, 30_000_000), 25),
    ),
    Agency(
        agency_id="aod-programme",
        display_name="Pathways Alcohol & Other Drug Service",
        style=_AOD_STYLE,
        header=(
            "ClientCode",
            "SLK581",
            "Surname",
            "GivenNames",
            "DOB",
            "Sex",
            "Phone",
            "StreetAddress",
            "Suburb",
            "Postcode",
            "State",
            "EpisodeStart",
            "PrincipalDrug",
        ),
        delimiter=";",
        byte_order_mark=False,
        line_end="\n",
        mapping=_AOD_MAPPING,
        min_age=13,
        duplicate=0.025,
        coverage=_aod_cover,
        write_row=_aod_row,
        local_ids=_sequential("AOD", 5, (10_000, 20_000), 6),
    ),
    Agency(
        agency_id="ambulance",
        display_name="Metro Ambulance Service",
        style=_AMBULANCE_STYLE,
        header=(
            "PCR_NUMBER",
            "INCIDENT_DATE",
            "PT_LAST",
            "PT_FIRST",
            "PT_DOB",
            "PT_AGE",
            "PT_SEX",
            "CALLBACK_PHONE",
            "SCENE_ADDRESS",
            "SCENE_SUBURB",
            "DISPATCH_CODE",
        ),
        delimiter=",",
        byte_order_mark=False,
        line_end="\n",
        mapping=_AMBULANCE_MAPPING,
        min_age=0,
        duplicate=0.045,
        coverage=_ambulance_cover,
        write_row=_ambulance_row,
        local_ids=_pcr_numbers,
    ),
)
