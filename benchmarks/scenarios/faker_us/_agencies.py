"""The county's four agencies: who they hold, how their systems write a record, and the
column mapping a new operator writes for each export (``faker_us``).

* ``harmon-metro-pd``: a police department's CAD/RMS master-name export. ``NAME`` as
  ``LAST, FIRST MIDDLE`` in upper case, suffixes typed after the surname (``SMITH JR,
  JOHN A``), DOB ``MM/DD/YYYY``, sex ``M``/``F``/``U``, one ``ADDRESS`` column holding
  ``38454 MELVIN LK APT 915, ALANCHESTER, NV 89415`` (geo-verified: USPS street suffixes),
  ``TRANSIENT`` for homeless people, phone ``702-555-0100``. The client can only map
  ``ADDRESS`` whole to ``street_address``.
* ``harmon-cmhc``: a community mental-health centre's EHR. First / middle / last name
  columns in mixed case, a suffix column, DOB ``YYYY-MM-DD``, gender ``Male`` / ``Female``
  / ``Unknown``, street (as the client gave it, flat number included) / city / state /
  ZIP, phone as ten digits.
* ``harmon-general-ed``: a hospital emergency department's registration extract (ADT).
  MRN, upper-case last / first / middle (mostly an initial) / suffix columns, DOB
  ``YYYYMMDD``, sex ``M``/``F``/``U``, address line 1 / line 2 (``APT 915``) / city /
  state / ZIP (sometimes ZIP+4), phone ``(702) 555-0100``.
* ``harmon-recovery``: an outpatient substance-use treatment programme. First / last name
  and middle initial, DOB ``M/D/YYYY`` without leading zeros, gender ``M``/``F``, state and
  ZIP only.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Final

from benchmarks.scenarios.faker_us._errors import Observation, SystemTraits
from benchmarks.scenarios.faker_us._population import HOME_STATE, Propensity

__all__ = ["AGENCIES", "QUERY_TRAITS", "AgencySpec", "RenderContext"]


@dataclass(frozen=True, slots=True)
class RenderContext:
    """What a system needs besides the observation to write a row."""

    local_id: str
    rng: random.Random
    county_seat: str
    county_seat_zip: str


Renderer = Callable[[Observation, RenderContext], list[str]]


@dataclass(frozen=True, slots=True)
class AgencySpec:
    """One agency's system: its export's columns, formats, coverage and mapping."""

    agency_id: str
    display_name: str
    system: str
    columns: tuple[str, ...]
    key_column: str
    traits: SystemTraits
    #: probability that a person of each propensity is held (before the age factor)
    coverage: dict[Propensity, float]
    #: (younger than, factor) steps applied to ``coverage`` by age
    age_factors: tuple[tuple[int, float], ...]
    #: share of held people registered twice (a tenth of those three times)
    duplicate_rate: float
    #: first and last local record number
    id_range: tuple[int, int]
    id_format: str
    quote_all: bool
    formats: dict[str, str]
    mapping_toml: str
    render: Renderer

    def coverage_of(self, propensity: Propensity, age: int) -> float:
        """The probability that this agency holds a person."""
        factor = 1.0
        for younger_than, step_factor in self.age_factors:
            if age < younger_than:
                factor = step_factor
                break
        return min(1.0, self.coverage[propensity] * factor)


def _mmddyyyy(day: date | None) -> str:
    return "" if day is None else day.strftime("%m/%d/%Y")


def _m_d_yyyy(day: date | None) -> str:
    return "" if day is None else f"{day.month}/{day.day}/{day.year}"


def _sex_code(sex: str | None) -> str:
    return {"m": "M", "f": "F"}.get(sex or "", "U")


def _name_with_middle(given: str, middle: str) -> str:
    return f"{given} {middle}" if middle else given


def _police_row(obs: Observation, ctx: RenderContext) -> list[str]:
    address = obs.address
    if address is None:
        where = "TRANSIENT"
    else:
        street = f"{address.line1} {address.line2}" if address.line2 else address.line1
        where = f"{street}, {address.city}, {address.state} {address.zip_code}"
    phone = obs.phone
    return [
        ctx.local_id,
        f"{obs.surname}, {_name_with_middle(obs.given_name, obs.middle_name)}".upper(),
        _mmddyyyy(obs.date_of_birth),
        _sex_code(obs.sex),
        where.upper(),
        "" if phone is None else f"{phone[:3]}-{phone[3:6]}-{phone[6:]}",
        ctx.rng.choice(
            ("ARRESTEE", "SUSPECT", "VICTIM", "WITNESS", "COMPLAINANT", "SUBJECT", "DRIVER")
        ),
        _mmddyyyy(obs.contact_date),
    ]


def _mental_health_row(obs: Observation, ctx: RenderContext) -> list[str]:
    address = obs.address
    if address is None:
        street, city, state, code = "Homeless", ctx.county_seat, HOME_STATE, ""
    else:
        street, city, state, code = address.street, address.city, address.state, address.zip_code
    return [
        ctx.local_id,
        obs.surname,
        obs.given_name,
        obs.middle_name,
        obs.suffix,
        "" if obs.date_of_birth is None else obs.date_of_birth.isoformat(),
        {"m": "Male", "f": "Female"}.get(obs.sex or "", "Unknown"),
        street,
        city,
        state,
        code,
        obs.phone or "",
        obs.contact_date.isoformat(),
    ]


def _emergency_row(obs: Observation, ctx: RenderContext) -> list[str]:
    address = obs.address
    if address is None:
        lines = ("HOMELESS", "", ctx.county_seat, HOME_STATE, ctx.county_seat_zip)
    else:
        lines = (address.line1, address.line2, address.city, address.state, address.zip_code)
    phone = obs.phone
    arrival = f"{obs.contact_date:%Y%m%d}{ctx.rng.randrange(24):02d}{ctx.rng.randrange(60):02d}"
    return [
        ctx.local_id,
        obs.surname.upper(),
        obs.given_name.upper(),
        obs.middle_name.upper(),
        obs.suffix.upper(),
        "" if obs.date_of_birth is None else f"{obs.date_of_birth:%Y%m%d}",
        _sex_code(obs.sex),
        *(part.upper() for part in lines),
        "" if phone is None else f"({phone[:3]}) {phone[3:6]}-{phone[6:]}",
        arrival,
    ]


def _recovery_row(obs: Observation, ctx: RenderContext) -> list[str]:
    address = obs.address
    state, code = (HOME_STATE, "") if address is None else (address.state, address.zip_code)
    return [
        ctx.local_id,
        obs.surname,
        obs.given_name,
        obs.middle_name[:1].upper(),
        _m_d_yyyy(obs.date_of_birth),
        {"m": "M", "f": "F"}.get(obs.sex or "", ""),
        state,
        code,
        _m_d_yyyy(obs.contact_date),
    ]


_POLICE_MAPPING: Final = """\
# Harmon Metropolitan Police Department: RMS master-name index export.
[input]
delimiter = ","
encoding = "utf-8-sig"
record_key = "MNI_NO"

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
date_format = "MM/DD/YYYY"

[features.sex]
column = "SEX"

[features.phone]
column = "PHONE"
keep_last = 10

# ADDRESS holds "street, city, ST zip" in one column; the client cannot split it,
# so the whole of it goes to street_address (suburb, state and postcode stay missing).
[features.street_address]
column = "ADDRESS"
"""

_MENTAL_HEALTH_MAPPING: Final = """\
# Harmon Community Mental Health Center: client demographics export from the EHR.
# The suffix column has no schema feature and is not mapped.
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
date_format = "YYYY-MM-DD"

[features.sex]
column = "gender"

[features.phone]
column = "home_phone"
keep_last = 10

[features.street_address]
column = "street"

[features.suburb]
column = "city"

[features.state]
column = "state"

[features.postcode]
column = "zip"
"""

_EMERGENCY_MAPPING: Final = """\
# Harmon General Hospital emergency department: registration (ADT) extract.
# PAT_SUFFIX has no schema feature and is not mapped.
[input]
delimiter = ","
encoding = "utf-8-sig"
record_key = "MRN"

[features.given_name]
column = "PAT_FIRST_NAME"

[features.middle_name]
column = "PAT_MIDDLE_NAME"

[features.surname]
column = "PAT_LAST_NAME"

[features.date_of_birth]
column = "BIRTH_DATE"
date_format = "YYYYMMDD"

[features.sex]
column = "SEX"

[features.phone]
column = "HOME_PHONE"
keep_last = 10

[features.street_address]
column = "ADDR_LINE1"

[features.address_line_2]
column = "ADDR_LINE2"

[features.suburb]
column = "CITY"

[features.state]
column = "STATE"

[features.postcode]
column = "ZIP"
"""

_RECOVERY_MAPPING: Final = """\
# Harmon Recovery Services (outpatient substance-use treatment): client list.
# DOB is written M/D/YYYY; the MM/DD/YYYY format accepts one-digit months and days.
[input]
delimiter = ","
encoding = "utf-8-sig"
record_key = "ClientNo"

[features.given_name]
column = "FirstName"

[features.middle_name]
column = "MI"

[features.surname]
column = "LastName"

[features.date_of_birth]
column = "DOB"
date_format = "MM/DD/YYYY"

[features.sex]
column = "Gender"

[features.state]
column = "State"

[features.postcode]
column = "Zip"
"""

AGENCIES: Final[tuple[AgencySpec, ...]] = (
    AgencySpec(
        agency_id="harmon-metro-pd",
        display_name="Harmon Metropolitan Police Department",
        system="CAD/RMS master-name index export",
        columns=(
            "MNI_NO",
            "NAME",
            "DOB",
            "SEX",
            "ADDRESS",
            "PHONE",
            "INVOLVEMENT",
            "LAST_CONTACT",
        ),
        key_column="MNI_NO",
        traits=SystemTraits(
            middle_initial_only=0.30,
            suffix_in_surname=0.70,
            suffix_column=False,
            street_abbreviated=0.75,
            secondary_style="usps",
            phone_missing=0.25,
            dob_missing=0.03,
        ),
        coverage={"low": 0.15, "medium": 0.55, "high": 0.80},
        age_factors=((18, 0.6), (70, 1.0), (200, 0.4)),
        duplicate_rate=0.04,
        id_range=(1_000_000, 2_999_999),
        id_format="{:07d}",
        quote_all=True,
        formats={
            "NAME": "LAST, FIRST MIDDLE in upper case; Jr/Sr typed after the surname",
            "DOB": "MM/DD/YYYY, empty when unknown",
            "SEX": "M / F / U",
            "ADDRESS": "one column: '38454 MELVIN LK APT 915, ALANCHESTER, NV 89415'; "
            "'TRANSIENT' for homeless people",
            "PHONE": "702-555-0100",
        },
        mapping_toml=_POLICE_MAPPING,
        render=_police_row,
    ),
    AgencySpec(
        agency_id="harmon-cmhc",
        display_name="Harmon Community Mental Health Center",
        system="behavioural-health EHR client demographics export",
        columns=(
            "client_id",
            "last_name",
            "first_name",
            "middle_name",
            "suffix",
            "date_of_birth",
            "gender",
            "street",
            "city",
            "state",
            "zip",
            "home_phone",
            "intake_date",
        ),
        key_column="client_id",
        traits=SystemTraits(
            middle_initial_only=0.10,
            suffix_in_surname=0.15,
            suffix_column=True,
            street_abbreviated=0.05,
            secondary_style="as_given",
            phone_missing=0.08,
            dob_missing=0.01,
        ),
        coverage={"low": 0.12, "medium": 0.35, "high": 0.65},
        age_factors=((18, 0.8), (75, 1.0), (200, 0.6)),
        duplicate_rate=0.03,
        id_range=(10_000, 999_999),
        id_format="C{:06d}",
        quote_all=False,
        formats={
            "names": "first / middle / last columns in mixed case, a suffix column",
            "date_of_birth": "YYYY-MM-DD",
            "gender": "Male / Female / Unknown",
            "address": "street (flat number included, as the client gave it) / city / state / "
            "zip; street 'Homeless' for homeless clients",
            "home_phone": "ten digits",
        },
        mapping_toml=_MENTAL_HEALTH_MAPPING,
        render=_mental_health_row,
    ),
    AgencySpec(
        agency_id="harmon-general-ed",
        display_name="Harmon General Hospital Emergency Department",
        system="hospital registration (ADT) extract of ED visits, one row per MRN",
        columns=(
            "MRN",
            "PAT_LAST_NAME",
            "PAT_FIRST_NAME",
            "PAT_MIDDLE_NAME",
            "PAT_SUFFIX",
            "BIRTH_DATE",
            "SEX",
            "ADDR_LINE1",
            "ADDR_LINE2",
            "CITY",
            "STATE",
            "ZIP",
            "HOME_PHONE",
            "ARRIVAL_DT",
        ),
        key_column="MRN",
        traits=SystemTraits(
            middle_initial_only=0.55,
            suffix_in_surname=0.25,
            suffix_column=True,
            street_abbreviated=0.40,
            secondary_style="usps",
            phone_missing=0.06,
            dob_missing=0.01,
            zip_plus_four=0.10,
        ),
        coverage={"low": 0.38, "medium": 0.70, "high": 0.85},
        age_factors=((65, 1.0), (200, 1.2)),
        duplicate_rate=0.06,
        id_range=(100_000, 9_999_999),
        id_format="{:08d}",
        quote_all=False,
        formats={
            "names": "upper-case last / first / middle (mostly an initial) / suffix columns",
            "BIRTH_DATE": "YYYYMMDD",
            "SEX": "M / F / U",
            "address": "ADDR_LINE1 ('38454 MELVIN LK') / ADDR_LINE2 ('APT 915') / CITY / STATE"
            " / ZIP (ZIP+4 where address verification supplied it); 'HOMELESS' in line 1",
            "HOME_PHONE": "(702) 555-0100",
        },
        mapping_toml=_EMERGENCY_MAPPING,
        render=_emergency_row,
    ),
    AgencySpec(
        agency_id="harmon-recovery",
        display_name="Harmon Recovery Services (outpatient substance-use treatment)",
        system="treatment-programme client list",
        columns=(
            "ClientNo",
            "LastName",
            "FirstName",
            "MI",
            "DOB",
            "Gender",
            "State",
            "Zip",
            "AdmitDate",
        ),
        key_column="ClientNo",
        traits=SystemTraits(
            middle_initial_only=1.0,
            suffix_in_surname=0.35,
            suffix_column=False,
            street_abbreviated=0.0,
            secondary_style="as_given",
            phone_missing=0.0,
            dob_missing=0.02,
            records_phone=False,
            records_street=False,
        ),
        coverage={"low": 0.02, "medium": 0.15, "high": 0.55},
        age_factors=((18, 0.25), (65, 1.0), (200, 0.3)),
        duplicate_rate=0.02,
        id_range=(1, 99_999),
        id_format="{:05d}",
        quote_all=False,
        formats={
            "names": "first / last in mixed case, middle initial",
            "DOB": "M/D/YYYY (no leading zeros)",
            "Gender": "M / F / empty",
            "address": "State and Zip only (Zip empty for homeless clients)",
        },
        mapping_toml=_RECOVERY_MAPPING,
        render=_recovery_row,
    ),
)

#: How a responder's lookup of a person (known_noisy queries) is taken down.
QUERY_TRAITS: Final = SystemTraits(
    middle_initial_only=0.10,
    suffix_in_surname=0.10,
    suffix_column=False,
    street_abbreviated=0.0,
    secondary_style="as_given",
    phone_missing=0.40,
    dob_missing=0.03,
)
