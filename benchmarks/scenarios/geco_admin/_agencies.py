"""The five agencies of the geco_admin scenario: their export formats, error rates and the
column mappings a new operator would write for them.

* ``sheriff-jail``: the county sheriff's jail booking system. ``LAST, FIRST MIDDLE SUFFIX``
  upper case in one field (apostrophes and spaces squeezed out of surnames), DOB
  ``MM/DD/YYYY``, sex ``M``/``F``/``X``/``U``, one address field, a booking number per
  booking and an SO number per person (which a booking under an alias does not share).
  The same person is booked many times; later bookings copy the person's jail record.
* ``crisis-unit``: a mobile mental-health crisis unit. Title case with diacritics, full
  middle names, a preferred-name column, DOB ``M/D/YYYY`` without leading zeros, gender
  identity as words (``Transgender Female``, ``Declined to answer``), state spelled out
  (``Oregon``), ``NONE`` or ``declined`` in the phone field, two phone columns.
* ``valley-general-ed``: a hospital emergency department (Epic-like). ``LAST SUFFIX,FIRST
  M`` upper case with no space after the comma, middle initial only, DOB ``YYYYMMDD``
  (``19000101`` when unknown), ZIP+4, the placeholder phone ``000-000-0000``, the
  hospital's own address for patients without one, and unidentified patients (``DOE,JOHN``,
  ``UNKNOWN,MALE``, ``TRAUMA,ZULU``) who are persons of their own.
* ``cascade-detox``: a substance-use withdrawal-management programme on a legacy system,
  transcribing scanned paper intake forms (OCR errors). Upper case, surname cut at 12 and
  given name at 10 characters, middle initial column, DOB ``YYYY-MM-DD``, ``MALE``/
  ``FEMALE``, house number and street in separate columns, ``NFA`` for no fixed address.
* ``county-ems``: the county ambulance service's patient care reports (sparse). Case as
  typed, no middle name, DOB often missing or estimated from age (``01/01/<year>``),
  home address often missing, seven-digit phone numbers, ``Unknown (Unable to
  Determine)`` for sex, unidentified patients.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final

from benchmarks.scenarios.geco_admin._corrupt import TextKind
from benchmarks.scenarios.geco_admin._names import ACCENTED
from benchmarks.scenarios.geco_admin._observe import (
    PHONE_PLACEHOLDER,
    UNKNOWN_DOB,
    NoiseProfile,
    Observation,
    TextNoise,
)
from benchmarks.scenarios.geco_admin._places import (
    CITIES,
    HOSPITAL_ADDRESS,
    STREET_TYPES,
    STREETS,
)
from benchmarks.scenarios.geco_admin._population import Address

__all__ = [
    "AGENCIES",
    "RESPONDER",
    "AgencySpec",
    "RecordContext",
    "format_phone",
    "street_line",
    "title_name",
]

_FULL_TYPE: Final = dict(STREET_TYPES)


@dataclass(frozen=True, slots=True)
class RecordContext:
    """What an export row needs besides the observation."""

    when: date
    local_id: str
    person_number: str  # the agency's own person number (SO number, MRN), "" if none
    age: int  # true age at the encounter (EMS records an age)
    race: str  # the jail's race code for the person


@dataclass(frozen=True, slots=True)
class AgencySpec:
    """One agency: identity, export format, error rates, mapping and record numbering."""

    agency_id: str
    display_name: str
    role: str
    header: tuple[str, ...]
    record_key: str
    mapping_toml: str
    noise: NoiseProfile
    share_unidentified: float  # extra records of unidentified people, per record
    render: Callable[[Observation, RecordContext, random.Random], list[str]]
    render_unidentified: Callable[[RecordContext, random.Random], list[str]] | None
    local_id: Callable[[date, int], str]  # (date, running number in its year) -> ID
    person_number: Callable[[int], str]  # running number -> the agency's person number
    formats: dict[str, str]


# --- shared formatting -------------------------------------------------------------------


def title_name(value: str) -> str:
    """``O'BRIEN-SMITH`` -> ``O'Brien-Smith``, ``MCDONALD`` -> ``McDonald``."""
    out: list[str] = []
    capital = True
    for char in value.lower():
        out.append(char.upper() if capital else char)
        capital = not char.isalnum()
    text = "".join(out)
    words = text.split(" ")
    fixed = [
        word[:2] + word[2:3].upper() + word[3:] if word.startswith("Mc") and len(word) > 3 else word
        for word in words
    ]
    return " ".join(fixed)


def _accented(value: str, rng: random.Random, probability: float) -> str:
    if value in ACCENTED and rng.random() < probability:
        return ACCENTED[value]
    return value


def format_phone(digits: str, style: str) -> str:
    """A 10-digit number as ``(503) 555-1234`` (paren), ``503-555-1234`` (dash),
    ``(503)555-1234`` (tight), ``503.555.1234`` (dot), ``5035551234`` (plain),
    ``555-1234`` (local)."""
    if len(digits) != 10:
        return digits
    area, exchange, line = digits[:3], digits[3:6], digits[6:]
    if style == "paren":
        return f"({area}) {exchange}-{line}"
    if style == "tight":
        return f"({area}){exchange}-{line}"
    if style == "dot":
        return f"{area}.{exchange}.{line}"
    if style == "plain":
        return digits
    if style == "local":
        return f"{exchange}-{line}"
    return f"{area}-{exchange}-{line}"


def street_line(address: Address, *, full_type: bool = False, unit_inline: bool = False) -> str:
    """``1234 LANCASTER DR NE`` (``DRIVE`` with ``full_type``; ``APT 5`` appended with
    ``unit_inline``). Shelters give their street address; PO boxes ``PO BOX 123``."""
    if address.kind == "pobox":
        return f"PO BOX {address.number}"
    if address.kind == "homeless":
        return ""
    street_type = (
        _FULL_TYPE.get(address.street_type, address.street_type)
        if full_type
        else address.street_type
    )
    parts = [address.number, address.street, street_type, address.direction]
    line = " ".join(p for p in parts if p)
    if unit_inline and address.unit:
        line += (
            f" {address.unit_kind} {address.unit}"
            if address.unit_kind != "#"
            else f" #{address.unit}"
        )
    return line


def _unit(address: Address | None, rng: random.Random) -> str:
    if address is None or not address.unit:
        return ""
    if address.unit_kind == "SPC":
        return f"SPC {address.unit}"
    return f"#{address.unit}" if rng.random() < 0.3 else f"{address.unit_kind} {address.unit}"


def _date_mdy(day: date | None, *, pad: bool = True) -> str:
    if day is None:
        return ""
    if pad:
        return day.strftime("%m/%d/%Y")
    return f"{day.month}/{day.day}/{day.year}"


def _phone_or_placeholder(phone: str, placeholder: str, style: str) -> str:
    if phone == PHONE_PLACEHOLDER:
        return placeholder
    return format_phone(phone, style) if phone else ""


# --- error rates -------------------------------------------------------------------------

_TYPED: Final[tuple[tuple[TextKind, float], ...]] = (
    ("keyboard", 0.35),
    ("phonetic", 0.25),
    ("insert", 0.1),
    ("delete", 0.1),
    ("substitute", 0.1),
    ("transpose", 0.1),
)
_SPOKEN: Final[tuple[tuple[TextKind, float], ...]] = (
    ("phonetic", 0.4),
    ("keyboard", 0.25),
    ("insert", 0.08),
    ("delete", 0.1),
    ("substitute", 0.07),
    ("transpose", 0.1),
)
_SCANNED: Final[tuple[tuple[TextKind, float], ...]] = (
    ("ocr", 0.35),
    ("phonetic", 0.2),
    ("keyboard", 0.15),
    ("insert", 0.07),
    ("delete", 0.08),
    ("substitute", 0.08),
    ("transpose", 0.07),
)


def _noise(p: float, kinds: tuple[tuple[TextKind, float], ...]) -> TextNoise:
    return TextNoise(p_error=p, kinds=kinds)


JAIL_NOISE: Final = NoiseProfile(
    given=_noise(0.03, _TYPED),
    middle=_noise(0.03, _TYPED),
    surname=_noise(0.03, _TYPED),
    street=_noise(0.04, _TYPED),
    city=_noise(0.01, _TYPED),
    p_nickname=0.04,
    p_given_initial=0.01,
    p_middle_missing=0.15,
    p_middle_initial=0.35,
    p_swap_names=0.003,
    p_old_surname=0.3,
    p_double_surname_first_only=0.3,
    p_suffix_recorded=0.9,
    p_dob_missing=0.0,
    p_dob_unknown=0.0,
    p_dob_january_first=0.002,
    p_dob_swap_day_month=0.006,
    p_dob_digit_typo=0.008,
    p_dob_year_off_one=0.004,
    p_dob_year_off_ten=0.002,
    p_sex_missing=0.002,
    p_sex_error=0.003,
    p_phone_missing=0.45,
    p_phone_placeholder=0.0,
    p_phone_stale=0.2,
    p_phone_typo=0.02,
    p_address_missing=0.03,
    p_address_stale=0.15,
    p_house_number_typo=0.02,
    p_zip_typo=0.01,
    p_city_missing=0.005,
    p_reuse_identity=0.75,
    p_refresh_contact=0.7,
)
CRISIS_NOISE: Final = NoiseProfile(
    given=_noise(0.04, _SPOKEN),
    middle=_noise(0.05, _SPOKEN),
    surname=_noise(0.05, _SPOKEN),
    street=_noise(0.06, _TYPED),
    city=_noise(0.02, _TYPED),
    p_nickname=0.12,
    p_given_initial=0.0,
    p_middle_missing=0.45,
    p_middle_initial=0.1,
    p_swap_names=0.01,
    p_old_surname=0.2,
    p_double_surname_first_only=0.2,
    p_suffix_recorded=0.3,
    p_dob_missing=0.01,
    p_dob_unknown=0.015,
    p_dob_january_first=0.01,
    p_dob_swap_day_month=0.01,
    p_dob_digit_typo=0.015,
    p_dob_year_off_one=0.008,
    p_dob_year_off_ten=0.003,
    p_sex_missing=0.02,
    p_sex_error=0.005,
    p_phone_missing=0.25,
    p_phone_placeholder=0.06,
    p_phone_stale=0.15,
    p_phone_typo=0.03,
    p_address_missing=0.08,
    p_address_stale=0.1,
    p_house_number_typo=0.03,
    p_zip_typo=0.02,
    p_city_missing=0.02,
    p_reuse_identity=0.6,
    p_refresh_contact=0.6,
)
ED_NOISE: Final = NoiseProfile(
    given=_noise(0.05, _SPOKEN),
    middle=_noise(0.05, _SPOKEN),
    surname=_noise(0.06, _SPOKEN),
    street=_noise(0.07, _TYPED),
    city=_noise(0.02, _TYPED),
    p_nickname=0.05,
    p_given_initial=0.01,
    p_middle_missing=0.4,
    p_middle_initial=1.0,
    p_swap_names=0.01,
    p_old_surname=0.25,
    p_double_surname_first_only=0.25,
    p_suffix_recorded=0.7,
    p_dob_missing=0.0,
    p_dob_unknown=0.01,
    p_dob_january_first=0.005,
    p_dob_swap_day_month=0.01,
    p_dob_digit_typo=0.015,
    p_dob_year_off_one=0.006,
    p_dob_year_off_ten=0.003,
    p_sex_missing=0.03,
    p_sex_error=0.005,
    p_phone_missing=0.35,
    p_phone_placeholder=0.06,
    p_phone_stale=0.25,
    p_phone_typo=0.03,
    p_address_missing=0.12,
    p_address_stale=0.25,
    p_house_number_typo=0.03,
    p_zip_typo=0.02,
    p_city_missing=0.04,
    p_reuse_identity=0.8,
    p_refresh_contact=0.6,
)
DETOX_NOISE: Final = NoiseProfile(
    given=_noise(0.08, _SCANNED),
    middle=_noise(0.05, _SCANNED),
    surname=_noise(0.09, _SCANNED),
    street=_noise(0.08, _SCANNED),
    city=_noise(0.03, _SCANNED),
    p_nickname=0.08,
    p_given_initial=0.03,
    p_middle_missing=0.35,
    p_middle_initial=1.0,
    p_swap_names=0.015,
    p_old_surname=0.2,
    p_double_surname_first_only=0.5,
    p_suffix_recorded=0.2,
    p_dob_missing=0.02,
    p_dob_unknown=0.005,
    p_dob_january_first=0.01,
    p_dob_swap_day_month=0.015,
    p_dob_digit_typo=0.02,
    p_dob_year_off_one=0.01,
    p_dob_year_off_ten=0.004,
    p_sex_missing=0.03,
    p_sex_error=0.01,
    p_phone_missing=0.3,
    p_phone_placeholder=0.04,
    p_phone_stale=0.2,
    p_phone_typo=0.04,
    p_address_missing=0.08,
    p_address_stale=0.15,
    p_house_number_typo=0.04,
    p_zip_typo=0.03,
    p_city_missing=0.03,
    p_reuse_identity=0.4,
    p_refresh_contact=0.9,
    truncate_given=10,
    truncate_surname=12,
)
EMS_NOISE: Final = NoiseProfile(
    given=_noise(0.10, _SPOKEN),
    middle=_noise(0.08, _SPOKEN),
    surname=_noise(0.12, _SPOKEN),
    street=_noise(0.10, _SPOKEN),
    city=_noise(0.05, _SPOKEN),
    p_nickname=0.15,
    p_given_initial=0.03,
    p_middle_missing=1.0,
    p_middle_initial=0.0,
    p_swap_names=0.02,
    p_old_surname=0.1,
    p_double_surname_first_only=0.5,
    p_suffix_recorded=0.1,
    p_dob_missing=0.35,
    p_dob_unknown=0.0,
    p_dob_january_first=0.12,
    p_dob_swap_day_month=0.02,
    p_dob_digit_typo=0.02,
    p_dob_year_off_one=0.02,
    p_dob_year_off_ten=0.005,
    p_sex_missing=0.08,
    p_sex_error=0.02,
    p_phone_missing=0.7,
    p_phone_placeholder=0.0,
    p_phone_stale=0.1,
    p_phone_typo=0.05,
    p_address_missing=0.45,
    p_address_stale=0.1,
    p_house_number_typo=0.05,
    p_zip_typo=0.03,
    p_city_missing=0.1,
    p_reuse_identity=0.1,
    p_refresh_contact=1.0,
)
#: A responder asking a person in the field (the known_noisy queries).
RESPONDER: Final = NoiseProfile(
    given=_noise(0.06, _SPOKEN),
    middle=_noise(0.05, _SPOKEN),
    surname=_noise(0.07, _SPOKEN),
    street=_noise(0.06, _SPOKEN),
    city=_noise(0.02, _SPOKEN),
    p_nickname=0.12,
    p_given_initial=0.0,
    p_middle_missing=0.5,
    p_middle_initial=0.5,
    p_swap_names=0.005,
    p_old_surname=0.05,
    p_double_surname_first_only=0.4,
    p_suffix_recorded=0.3,
    p_dob_missing=0.05,
    p_dob_unknown=0.0,
    p_dob_january_first=0.02,
    p_dob_swap_day_month=0.01,
    p_dob_digit_typo=0.02,
    p_dob_year_off_one=0.01,
    p_dob_year_off_ten=0.005,
    p_sex_missing=0.05,
    p_sex_error=0.005,
    p_phone_missing=0.5,
    p_phone_placeholder=0.0,
    p_phone_stale=0.1,
    p_phone_typo=0.03,
    p_address_missing=0.4,
    p_address_stale=0.15,
    p_house_number_typo=0.03,
    p_zip_typo=0.02,
    p_city_missing=0.05,
    p_reuse_identity=0.0,
    p_refresh_contact=1.0,
)

# --- extra (unmapped) columns ------------------------------------------------------------

_CHARGES: Final = (
    "TRESPASS II",
    "THEFT III",
    "DISORDERLY CONDUCT II",
    "POSS METHAMPHETAMINE",
    "DUII",
    "FAILURE TO APPEAR",
    "PROBATION VIOLATION",
    "ASSAULT IV",
    "CRIMINAL MISCHIEF II",
    "HARASSMENT",
    "RESISTING ARREST",
    "UNLAWFUL ENTRY MOTOR VEH",
    "BURGLARY II",
    "MENACING",
    "WARRANT",
)
_REFERRALS: Final = ("Police", "Self", "Family", "ED", "Shelter staff", "988 Lifeline", "Outreach")
_CRISIS_OUTCOMES: Final = (
    "Stabilized in community",
    "Transported to ED",
    "Crisis respite",
    "Referred to outpatient",
    "Police hold",
    "Declined services",
)
_COMPLAINTS: Final = (
    "SUICIDAL IDEATION",
    "ANXIETY",
    "INTOXICATION",
    "OVERDOSE",
    "CHEST PAIN",
    "ABDOMINAL PAIN",
    "PSYCHOSIS",
    "WOUND CHECK",
    "FALL",
    "ASSAULT",
    "WITHDRAWAL",
    "MED REFILL",
    "COUGH",
    "BACK PAIN",
)
_ED_OUTCOMES: Final = ("DISCHARGED", "ADMITTED", "LWBS", "AMA", "TRANSFER", "PSYCH HOLD")
_SUBSTANCES: Final = (
    "METHAMPHETAMINE",
    "ALCOHOL",
    "HEROIN",
    "FENTANYL",
    "OTHER OPIOIDS",
    "CANNABIS",
    "COCAINE",
    "BENZODIAZEPINES",
)
_PAYERS: Final = ("OHP", "OHP", "OHP", "MEDICARE", "SELF-PAY", "PRIVATE", "NONE")
_EMS_COMPLAINTS: Final = (
    "Overdose",
    "Intoxicated",
    "Behavioral/Psychiatric",
    "Fall",
    "Unconscious",
    "Seizure",
    "Assault",
    "Breathing problem",
    "Sick person",
    "Welfare check",
)
_DESTINATIONS: Final = (
    "Valley General Hospital",
    "Valley General Hospital",
    "Valley General Hospital",
    "Santiam Memorial",
    "Refused transport",
    "Treated, released",
)
_TRAUMA_NAMES: Final = (
    "ALPHA",
    "BRAVO",
    "CHARLIE",
    "DELTA",
    "ECHO",
    "FOXTROT",
    "GOLF",
    "HOTEL",
    "JULIET",
    "KILO",
    "LIMA",
    "OSCAR",
    "ROMEO",
    "SIERRA",
    "TANGO",
    "VICTOR",
    "ZULU",
)


# --- sheriff's jail ------------------------------------------------------------------------

_JAIL_HEADER: Final = (
    "booking_number",
    "so_number",
    "booking_date",
    "inmate_name",
    "dob",
    "sex",
    "race",
    "address",
    "city",
    "state",
    "zip",
    "phone",
    "top_charge",
)
_JAIL_MAPPING: Final = """\
[input]
delimiter = ","
encoding = "utf-8"
record_key = "booking_number"

[features.given_name]
column = "inmate_name"
name_part = "first"

[features.middle_name]
column = "inmate_name"
name_part = "middle"

[features.surname]
column = "inmate_name"
name_part = "last"

[features.date_of_birth]
column = "dob"
date_format = "MM/DD/YYYY"

[features.sex]
column = "sex"

[features.phone]
column = "phone"
keep_last = 10
on_invalid = "missing"

[features.street_address]
column = "address"

[features.suburb]
column = "city"

[features.postcode]
column = "zip"

[features.state]
column = "state"
"""


def _jail_surname(surname: str) -> str:
    return surname.replace("'", "").replace(" ", "")


def _jail_sex(sex: str) -> str:
    return {"m": "M", "f": "F", "x": "X"}.get(sex, "U")


def _jail_address(address: Address | None, rng: random.Random) -> tuple[str, str, str]:
    """(address, city, zip) as the booking officer types them."""
    if address is None:
        return "", "", ""
    if address.kind == "homeless":
        text = rng.choices(["HOMELESS", "TRANSIENT", "NONE", ""], [0.5, 0.3, 0.1, 0.1])[0]
        return text, address.city if rng.random() < 0.7 else "", ""
    return street_line(address, unit_inline=True), address.city, address.zip5


def _render_jail(obs: Observation, ctx: RecordContext, rng: random.Random) -> list[str]:
    surname = _jail_surname(obs.surname).upper() or "UNKNOWN"
    given = obs.given.upper() or "UNKNOWN"
    rest = " ".join(p for p in (obs.middle.upper(), obs.suffix) if p)
    name = f"{surname}, {given}" + (f" {rest}" if rest else "")
    address, city, zip5 = _jail_address(obs.address, rng)
    return [
        ctx.local_id,
        ctx.person_number,
        ctx.when.strftime("%m/%d/%Y"),
        name,
        _date_mdy(obs.dob),
        _jail_sex(obs.sex),
        ctx.race,
        address,
        city,
        "OR" if address or city else "",
        zip5,
        _phone_or_placeholder(obs.phone, "", "paren"),
        rng.choice(_CHARGES),
    ]


def _render_jail_unidentified(ctx: RecordContext, rng: random.Random) -> list[str]:
    sex = rng.choice("MF")
    name = f"DOE, {'JOHN' if sex == 'M' else 'JANE'}"
    number = rng.randrange(1, 20)
    return [
        ctx.local_id,
        ctx.person_number,
        ctx.when.strftime("%m/%d/%Y"),
        name + (f" {number}" if rng.random() < 0.5 else ""),
        "",
        sex,
        "U",
        "",
        "",
        "",
        "",
        "",
        rng.choice(_CHARGES),
    ]


# --- crisis unit -------------------------------------------------------------------------

_CRISIS_HEADER: Final = (
    "episode_id",
    "episode_date",
    "client_last_name",
    "client_first_name",
    "client_middle_name",
    "preferred_name",
    "date_of_birth",
    "gender_identity",
    "street_address",
    "apt_unit",
    "city",
    "state",
    "zip_code",
    "primary_phone",
    "secondary_phone",
    "referral_source",
    "disposition",
)
_CRISIS_MAPPING: Final = """\
[input]
delimiter = ","
encoding = "utf-8-sig"
record_key = "episode_id"

[features.given_name]
column = "client_first_name"

[features.middle_name]
column = "client_middle_name"

[features.surname]
column = "client_last_name"

[features.date_of_birth]
column = "date_of_birth"
date_format = "MM/DD/YYYY"

[features.sex]
column = "gender_identity"
on_invalid = "missing"

[features.phone]
column = "primary_phone"
keep_last = 10
on_invalid = "missing"

[features.street_address]
column = "street_address"

[features.address_line_2]
column = "apt_unit"

[features.suburb]
column = "city"

[features.postcode]
column = "zip_code"

[features.state]
column = "state"
"""


def _crisis_gender(obs: Observation, rng: random.Random) -> str:
    if not obs.sex:
        return rng.choice(("Unknown", "Declined to answer", ""))
    if obs.transgender and obs.sex in ("m", "f"):
        return "Transgender Female" if obs.sex == "m" else "Transgender Male"
    return {"m": "Male", "f": "Female", "x": "Non-binary"}[obs.sex]


def _title_street(address: Address) -> str:
    line = street_line(address)
    parts = line.split(" ")
    return " ".join(
        part if part == address.direction or part.isdigit() else title_name(part) for part in parts
    )


def _crisis_address(address: Address | None, rng: random.Random) -> tuple[str, str, str, str]:
    """(street, unit, city, zip) in the crisis unit's style."""
    if address is None:
        return "", "", "", ""
    city = title_name(address.city)
    if address.kind == "homeless":
        street = rng.choices(
            ["Homeless", "Unhoused", "Houseless - camping", ""], [0.5, 0.2, 0.1, 0.2]
        )[0]
        return street, "", city, address.zip5 if rng.random() < 0.3 else ""
    if address.kind == "pobox":
        return f"PO Box {address.number}", "", city, address.zip5
    unit = title_name(_unit(address, rng))
    if address.kind == "shelter" and rng.random() < 0.4:
        unit = title_name(address.shelter)
    return _title_street(address), unit, city, address.zip5


def _render_crisis(obs: Observation, ctx: RecordContext, rng: random.Random) -> list[str]:
    street, unit, city, zip5 = _crisis_address(obs.address, rng)
    accent = 0.5
    surname = title_name(_accented(obs.surname, rng, accent))
    if obs.suffix:
        surname = (
            f"{surname} {title_name(obs.suffix) if obs.suffix in ('JR', 'SR') else obs.suffix}"
        )
    primary = _phone_or_placeholder(
        obs.phone, rng.choice(("NONE", "none", "declined", "No phone", "N/A")), "dash"
    )
    secondary = ""
    if obs.other_phone and obs.other_phone != obs.phone and rng.random() < 0.4:
        secondary = format_phone(obs.other_phone, "dash")
    return [
        ctx.local_id,
        f"{ctx.when.month}/{ctx.when.day}/{ctx.when.year}",
        surname,
        title_name(_accented(obs.given, rng, accent)),
        title_name(obs.middle),
        title_name(obs.preferred_name),
        _date_mdy(obs.dob, pad=False),
        _crisis_gender(obs, rng),
        street,
        unit,
        city,
        "Oregon" if city or street else "",
        zip5,
        primary,
        secondary,
        rng.choice(_REFERRALS),
        rng.choice(_CRISIS_OUTCOMES),
    ]


# --- hospital emergency department -----------------------------------------------------

_ED_HEADER: Final = (
    "csn",
    "mrn",
    "arrival_datetime",
    "patient_name",
    "sex",
    "dob",
    "addr_line1",
    "addr_line2",
    "city",
    "state",
    "zip",
    "home_phone",
    "acuity",
    "chief_complaint",
    "disposition",
)
_ED_MAPPING: Final = """\
[input]
delimiter = ","
encoding = "utf-8"
record_key = "csn"

[features.given_name]
column = "patient_name"
name_part = "first"

[features.middle_name]
column = "patient_name"
name_part = "middle"

[features.surname]
column = "patient_name"
name_part = "last"

[features.date_of_birth]
column = "dob"
date_format = "YYYYMMDD"

[features.sex]
column = "sex"

[features.phone]
column = "home_phone"
keep_last = 10
on_invalid = "missing"

[features.street_address]
column = "addr_line1"

[features.address_line_2]
column = "addr_line2"

[features.suburb]
column = "city"

[features.postcode]
column = "zip"

[features.state]
column = "state"
"""


def _ed_address(address: Address | None, rng: random.Random) -> tuple[str, str, str, str]:
    """(line 1, line 2, city, zip) as ED registration enters them."""
    if address is None:
        return "", "", "", ""
    if address.kind == "homeless":
        draw = rng.random()
        hospital = HOSPITAL_ADDRESS
        if draw < 0.4:
            line = (
                f"{hospital.number} {hospital.street} {hospital.street_type} {hospital.direction}"
            )
            return line, "", hospital.city, hospital.zip5
        if draw < 0.8:
            return "HOMELESS", "", address.city, address.zip5
        return "NO FIXED ADDRESS", "", address.city, ""
    zip_code = address.zip5
    if address.zip4 and rng.random() < 0.55:
        zip_code = f"{address.zip5}-{address.zip4}"
    line2 = _unit(address, rng)
    if address.kind == "shelter" and rng.random() < 0.6:
        line2 = address.shelter
    return street_line(address), line2, address.city, zip_code


def _render_ed(obs: Observation, ctx: RecordContext, rng: random.Random) -> list[str]:
    surname = obs.surname.replace("'", "") if rng.random() < 0.5 else obs.surname
    if obs.suffix:
        surname = f"{surname} {obs.suffix}"
    given = obs.given or "UNKNOWN"
    middle = obs.middle + ("." if obs.middle and rng.random() < 0.2 else "")
    name = f"{surname or 'UNKNOWN'},{given}" + (f" {middle}" if middle else "")
    line1, line2, city, zip_code = _ed_address(obs.address, rng)
    phone_style = rng.choice(("dash", "tight", "dash", "plain"))
    dob = obs.dob.strftime("%Y%m%d") if obs.dob else UNKNOWN_DOB.strftime("%Y%m%d")
    return [
        ctx.local_id,
        ctx.person_number,
        f"{ctx.when.isoformat()} {rng.randrange(24):02d}:{rng.randrange(60):02d}",
        name,
        {"m": "M", "f": "F", "x": "X"}.get(obs.sex, "U"),
        dob,
        line1,
        line2,
        city,
        "OR" if city or line1 else "",
        zip_code,
        _phone_or_placeholder(obs.phone, "000-000-0000", phone_style),
        str(rng.choices([1, 2, 3, 4, 5], [0.02, 0.2, 0.45, 0.25, 0.08])[0]),
        rng.choice(_COMPLAINTS),
        rng.choice(_ED_OUTCOMES),
    ]


def _render_ed_unidentified(ctx: RecordContext, rng: random.Random) -> list[str]:
    sex = rng.choice("MF")
    draw = rng.random()
    if draw < 0.45:
        name = f"DOE,{'JOHN' if sex == 'M' else 'JANE'}"
    elif draw < 0.75:
        name = f"UNKNOWN,{'MALE' if sex == 'M' else 'FEMALE'}"
    else:
        name = f"TRAUMA,{rng.choice(_TRAUMA_NAMES)}"
    return [
        ctx.local_id,
        ctx.person_number,
        f"{ctx.when.isoformat()} {rng.randrange(24):02d}:{rng.randrange(60):02d}",
        name,
        sex,
        UNKNOWN_DOB.strftime("%Y%m%d"),
        "",
        "",
        "",
        "",
        "",
        "",
        str(rng.choice([1, 1, 2])),
        rng.choice(("UNRESPONSIVE", "TRAUMA", "OVERDOSE", "ALTERED MENTAL STATUS")),
        rng.choice(_ED_OUTCOMES),
    ]


# --- detox programme ---------------------------------------------------------------------

_DETOX_HEADER: Final = (
    "admission_no",
    "admit_date",
    "last_name",
    "first_name",
    "mi",
    "dob",
    "gender",
    "house_no",
    "street_name",
    "apt",
    "city",
    "st",
    "zip",
    "phone",
    "primary_substance",
    "payer",
)
_DETOX_MAPPING: Final = """\
[input]
delimiter = ","
encoding = "utf-8"
record_key = "admission_no"

[features.given_name]
column = "first_name"

[features.middle_name]
column = "mi"

[features.surname]
column = "last_name"

[features.date_of_birth]
column = "dob"
date_format = "YYYY-MM-DD"

[features.sex]
column = "gender"

[features.phone]
column = "phone"
keep_last = 10
on_invalid = "missing"

[features.street_address]
columns = ["house_no", "street_name"]

[features.address_line_2]
column = "apt"

[features.suburb]
column = "city"

[features.postcode]
column = "zip"

[features.state]
column = "st"
"""


def _detox_address(address: Address | None, rng: random.Random) -> tuple[str, str, str, str, str]:
    """(house number, street, apartment, city, zip) on the legacy screen."""
    if address is None:
        return "", "", "", "", ""
    if address.kind == "homeless":
        text = rng.choices(["NFA", "NO FIXED ADDRESS", "HOMELESS"], [0.5, 0.25, 0.25])[0]
        return "", text, "", address.city, ""
    if address.kind == "pobox":
        return "", f"PO BOX {address.number}", "", address.city, address.zip5
    street = " ".join(p for p in (address.street, address.street_type, address.direction) if p)
    unit = address.unit if address.unit else ""
    return address.number, street, unit, address.city, address.zip5


def _render_detox(obs: Observation, ctx: RecordContext, rng: random.Random) -> list[str]:
    house, street, apt, city, zip5 = _detox_address(obs.address, rng)
    phone = _phone_or_placeholder(obs.phone, rng.choice(("0000000000", "N/A", "NONE")), "plain")
    gender = {"m": "MALE", "f": "FEMALE", "x": "OTHER"}.get(obs.sex, "")
    return [
        ctx.local_id,
        ctx.when.strftime("%m/%d/%Y"),
        obs.surname.upper(),
        obs.given.upper(),
        obs.middle[:1].upper(),
        obs.dob.isoformat() if obs.dob else "",
        gender,
        house,
        street,
        apt,
        city,
        "OR" if city or street else "",
        zip5,
        phone,
        rng.choice(_SUBSTANCES),
        rng.choice(_PAYERS),
    ]


# --- EMS -----------------------------------------------------------------------------------

_EMS_HEADER: Final = (
    "pcr_id",
    "incident_date",
    "incident_address",
    "incident_city",
    "pt_last_name",
    "pt_first_name",
    "pt_dob",
    "pt_age",
    "pt_age_units",
    "pt_gender",
    "pt_home_address",
    "pt_home_city",
    "pt_home_state",
    "pt_home_zip",
    "pt_phone",
    "chief_complaint",
    "destination",
)
_EMS_MAPPING: Final = """\
[input]
delimiter = ","
encoding = "utf-8"
record_key = "pcr_id"

[features.given_name]
column = "pt_first_name"

[features.surname]
column = "pt_last_name"

[features.date_of_birth]
column = "pt_dob"
date_format = "MM/DD/YYYY"

[features.sex]
column = "pt_gender"
on_invalid = "missing"

[features.phone]
column = "pt_phone"
keep_last = 10
on_invalid = "missing"

[features.street_address]
column = "pt_home_address"

[features.suburb]
column = "pt_home_city"

[features.postcode]
column = "pt_home_zip"

[features.state]
column = "pt_home_state"
"""


def _typed_case(value: str, style: str) -> str:
    if style == "upper":
        return value.upper()
    if style == "lower":
        return value.lower()
    return title_name(value)


def _ems_incident(rng: random.Random) -> tuple[str, str]:
    city = CITIES[0] if rng.random() < 0.6 else rng.choice(CITIES)
    if rng.random() < 0.3:
        place = rng.choice(
            ("Bus stop", "Transit center", "Riverfront park", "Parking lot", "Hwy 22")
        )
        return f"{place} near {title_name(rng.choice(STREETS))} St", title_name(city.name)
    quadrant = f" {rng.choice(city.quadrants)}" if city.quadrants else ""
    street = f"{rng.randrange(100, 5000)} {title_name(rng.choice(STREETS))} St{quadrant}"
    return street, title_name(city.name)


def _render_ems(obs: Observation, ctx: RecordContext, rng: random.Random) -> list[str]:
    style = rng.choices(("title", "upper", "lower"), (0.6, 0.3, 0.1))[0]
    address = obs.address
    home = city = state = zip5 = ""
    if address is not None and address.kind not in ("homeless",):
        home = _typed_case(street_line(address, unit_inline=True), style)
        city = _typed_case(address.city, style)
        state = "OR"
        zip5 = address.zip5 if rng.random() < 0.8 else ""
    elif address is not None:
        home = _typed_case(rng.choice(("homeless", "unknown", "none")), style)
        city = _typed_case(address.city, style)
        state = "OR" if city else ""
    if address is not None and address.kind != "homeless" and rng.random() < 0.4:
        incident, incident_city = home, city
    else:
        incident, incident_city = _ems_incident(rng)
    phone = ""
    if obs.phone and obs.phone != PHONE_PLACEHOLDER:
        phone = format_phone(
            obs.phone, "local" if rng.random() < 0.2 else rng.choice(("plain", "dash"))
        )
    age = ctx.age + (rng.choice((-2, -1, 1, 2, 5, -5)) if rng.random() < 0.15 else 0)
    dob = obs.dob
    if dob is not None and dob.month == 1 and dob.day == 1 and rng.random() < 0.7:
        dob = date(ctx.when.year - age, 1, 1)  # the PCR's DOB estimated from the stated age
    gender = {"m": "Male", "f": "Female", "x": "Other"}.get(
        obs.sex, "Unknown (Unable to Determine)"
    )
    return [
        ctx.local_id,
        ctx.when.strftime("%m/%d/%Y"),
        incident,
        incident_city,
        _typed_case(obs.surname, style),
        _typed_case(obs.given, style),
        _date_mdy(dob),
        str(age),
        "Years",
        gender,
        home,
        city,
        state,
        zip5,
        phone,
        rng.choice(_EMS_COMPLAINTS),
        rng.choice(_DESTINATIONS),
    ]


def _render_ems_unidentified(ctx: RecordContext, rng: random.Random) -> list[str]:
    incident, incident_city = _ems_incident(rng)
    sex = rng.choice(("Male", "Female"))
    first = rng.choice(("", "John" if sex == "Male" else "Jane", "Unknown"))
    return [
        ctx.local_id,
        ctx.when.strftime("%m/%d/%Y"),
        incident,
        incident_city,
        rng.choice(("Unknown", "Doe", "UNKNOWN")),
        first,
        "",
        str(rng.randrange(20, 70)),
        "Years",
        sex,
        "",
        "",
        "",
        "",
        "",
        rng.choice(("Unconscious", "Overdose", "Unresponsive")),
        "Valley General Hospital",
    ]


# --- the agencies ------------------------------------------------------------------------


def _running(prefix: str, width: int, start: int) -> Callable[[int], str]:
    def number(index: int) -> str:
        return f"{prefix}{start + index:0{width}d}"

    return number


AGENCIES: Final[tuple[AgencySpec, ...]] = (
    AgencySpec(
        agency_id="sheriff-jail",
        display_name="Willamette County Sheriff's Office - Jail Booking",
        role="police (sheriff's jail booking)",
        header=_JAIL_HEADER,
        record_key="booking_number",
        mapping_toml=_JAIL_MAPPING,
        noise=JAIL_NOISE,
        share_unidentified=0.002,
        render=_render_jail,
        render_unidentified=_render_jail_unidentified,
        local_id=lambda day, index: f"B{day.year % 100:02d}-{index + 101:05d}",
        person_number=_running("SO", 6, 204117),
        formats={
            "name": "LAST, FIRST MIDDLE SUFFIX (upper case, one column)",
            "date_of_birth": "MM/DD/YYYY",
            "sex": "M, F, X, U",
            "phone": "(503) 555-0123",
            "address": "one column, unit inline; HOMELESS / TRANSIENT / NONE",
        },
    ),
    AgencySpec(
        agency_id="crisis-unit",
        display_name="Willamette Valley Mobile Crisis Unit",
        role="mental-health crisis services",
        header=_CRISIS_HEADER,
        record_key="episode_id",
        mapping_toml=_CRISIS_MAPPING,
        noise=CRISIS_NOISE,
        share_unidentified=0.0,
        render=_render_crisis,
        render_unidentified=None,
        local_id=lambda day, index: f"{day.year}{index + 1:05d}",
        person_number=_running("", 0, 0),
        formats={
            "name": "separate columns, title case with diacritics, suffix after surname",
            "date_of_birth": "M/D/YYYY (no leading zeros); 1/1/1900 when unknown",
            "sex": "gender identity words: Male, Female, Non-binary, Transgender Female/Male, "
            "Declined to answer, Unknown",
            "phone": "503-555-0123; NONE, declined, No phone, N/A",
            "state": "Oregon",
        },
    ),
    AgencySpec(
        agency_id="valley-general-ed",
        display_name="Valley General Hospital - Emergency Department",
        role="hospital emergency department",
        header=_ED_HEADER,
        record_key="csn",
        mapping_toml=_ED_MAPPING,
        noise=ED_NOISE,
        share_unidentified=0.008,
        render=_render_ed,
        render_unidentified=_render_ed_unidentified,
        local_id=lambda day, index: f"{1034000000 + (day.year - 2019) * 900000 + index * 7:010d}",
        person_number=_running("", 8, 1200377),
        formats={
            "name": "LAST SUFFIX,FIRST M (upper case, one column, no space after the comma)",
            "date_of_birth": "YYYYMMDD; 19000101 when unknown",
            "sex": "M, F, X, U",
            "phone": "503-555-0123, (503)555-0123, 5035550123; 000-000-0000 placeholder",
            "postcode": "ZIP or ZIP+4 (97301-1234)",
            "address": "hospital's own address or HOMELESS for patients without one",
        },
    ),
    AgencySpec(
        agency_id="cascade-detox",
        display_name="Cascade Recovery Center - Withdrawal Management",
        role="substance-use programme (detox)",
        header=_DETOX_HEADER,
        record_key="admission_no",
        mapping_toml=_DETOX_MAPPING,
        noise=DETOX_NOISE,
        share_unidentified=0.0,
        render=_render_detox,
        render_unidentified=None,
        local_id=lambda day, index: f"DTX{day.year % 100:02d}{index + 1:04d}",
        person_number=_running("", 0, 0),
        formats={
            "name": "separate upper-case columns; surname cut at 12, given name at 10 "
            "characters; middle initial",
            "date_of_birth": "YYYY-MM-DD",
            "sex": "MALE, FEMALE, OTHER, blank",
            "phone": "5035550123; 0000000000, N/A, NONE",
            "address": "house number and street in two columns; NFA / NO FIXED ADDRESS",
        },
    ),
    AgencySpec(
        agency_id="county-ems",
        display_name="Willamette County EMS - Patient Care Reports",
        role="emergency medical services (ambulance)",
        header=_EMS_HEADER,
        record_key="pcr_id",
        mapping_toml=_EMS_MAPPING,
        noise=EMS_NOISE,
        share_unidentified=0.015,
        render=_render_ems,
        render_unidentified=_render_ems_unidentified,
        local_id=lambda day, index: f"PCR{day.year}-{index + 1:06d}",
        person_number=_running("", 0, 0),
        formats={
            "name": "first and last name columns as typed (title, upper or lower case); no "
            "middle name",
            "date_of_birth": "MM/DD/YYYY, often blank or 01/01/<year> estimated from age",
            "sex": "Male, Female, Other, Unknown (Unable to Determine)",
            "phone": "5035550123, 503-555-0123 or 555-0123 (seven digits)",
            "address": "home address often blank; incident address in its own columns",
        },
    ),
)
