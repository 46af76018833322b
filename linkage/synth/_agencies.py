"""The agencies of the synthetic scenario: each one's export format (header and how it
renders a person's record), contact card, local IDs, coverage and the ``[input]`` and
``[features.*]`` tables of its agency.toml (:data:`DEFAULT_AGENCIES`: police, mental-health
centre, hospital ER and a substance-use programme)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from linkage.synth._people import Variant

__all__ = ["DEFAULT_AGENCIES", "AgencyFormat", "ContactInfo"]


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


def _dmy(variant: Variant) -> tuple[int, int, int] | None:
    dob = variant.date_of_birth
    if dob is None:
        return None
    if variant.swap_day_month:
        return dob.month, dob.day, dob.year
    return dob.day, dob.month, dob.year


def _s(value: str | None) -> str:
    return value or ""


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
