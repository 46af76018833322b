"""What a clerk records about a person at one encounter: the GeCo-style error model applied
per attribute with an agency's probabilities (:class:`NoiseProfile`).

An :class:`Observation` holds semantic values (upper-case names, a ``date``, an
:class:`Address`); each agency's export format renders it (see ``_agencies``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Final

from benchmarks.scenarios.geco_admin._corrupt import Corruptor, TextKind
from benchmarks.scenarios.geco_admin._names import NICKNAMES
from benchmarks.scenarios.geco_admin._population import Address, Person

__all__ = [
    "PHONE_PLACEHOLDER",
    "UNKNOWN_DOB",
    "NoiseProfile",
    "Observation",
    "TextNoise",
    "observe",
]

#: The placeholder systems store for an unknown date of birth.
UNKNOWN_DOB: Final = date(1900, 1, 1)
#: Marks an observation whose phone field holds the agency's placeholder text.
PHONE_PLACEHOLDER: Final = "!placeholder"


@dataclass(frozen=True, slots=True)
class TextNoise:
    """Per-record probability of one GeCo corruption of a text attribute, the kinds' weights,
    and the probability of a second corruption when there is a first."""

    p_error: float
    kinds: tuple[tuple[TextKind, float], ...]
    p_second: float = 0.12


@dataclass(frozen=True, slots=True)
class NoiseProfile:
    """An agency's error and missingness rates (all probabilities per record)."""

    given: TextNoise
    middle: TextNoise
    surname: TextNoise
    street: TextNoise
    city: TextNoise
    p_nickname: float  # the given name recorded as a nickname (BILL for WILLIAM)
    p_given_initial: float  # only the initial of the given name ("J")
    p_middle_missing: float  # of people who have a middle name
    p_middle_initial: float  # of recorded middle names, only the initial
    p_swap_names: float  # given name and surname exchanged
    p_old_surname: float  # after a surname change, the previous surname
    p_double_surname_first_only: float  # GARCIA for GARCIA-LOPEZ
    p_suffix_recorded: float  # JR/SR/II/III written when the person has one
    p_dob_missing: float
    p_dob_unknown: float  # 01/01/1900 placeholder
    p_dob_january_first: float  # only the year known: 01/01/<year>
    p_dob_swap_day_month: float
    p_dob_digit_typo: float
    p_dob_year_off_one: float
    p_dob_year_off_ten: float
    p_sex_missing: float
    p_sex_error: float  # m recorded as f or the reverse
    p_phone_missing: float
    p_phone_placeholder: float  # the agency's placeholder (000-000-0000, NONE, ...)
    p_phone_stale: float  # the previous number
    p_phone_typo: float
    p_address_missing: float
    p_address_stale: float  # the previous address
    p_house_number_typo: float
    p_zip_typo: float
    p_city_missing: float
    p_reuse_identity: float  # a repeat encounter copies the identity of the agency's record
    p_refresh_contact: float  # ... but takes the current address and phone
    truncate_given: int | None = None  # an old system's field width
    truncate_surname: int | None = None


@dataclass(slots=True)
class Observation:
    """One recorded encounter, before an agency's formatting. Empty string = missing."""

    given: str
    middle: str
    surname: str
    suffix: str
    dob: date | None
    sex: str  # m, f, x or "" (not recorded)
    transgender: bool
    phone: str  # 10 digits, "", or PHONE_PLACEHOLDER
    address: Address | None
    preferred_name: str  # a nickname the person goes by, when known
    alias: bool = False
    other_phone: str = ""  # an earlier number (a second phone column may hold it)


def _text(corruptor: Corruptor, value: str, noise: TextNoise) -> str:
    rng = corruptor.rng
    if not value or rng.random() >= noise.p_error:
        return value
    value = corruptor.corrupt_text(value, noise.kinds)
    if rng.random() < noise.p_second:
        value = corruptor.corrupt_text(value, noise.kinds)
    return value


def _dob(corruptor: Corruptor, true_dob: date, profile: NoiseProfile) -> date | None:
    rng = corruptor.rng
    draw = rng.random()
    outcomes = (
        (profile.p_dob_missing, "missing"),
        (profile.p_dob_unknown, "unknown"),
        (profile.p_dob_january_first, "january"),
        (profile.p_dob_swap_day_month, "swap"),
        (profile.p_dob_digit_typo, "digit"),
        (profile.p_dob_year_off_one, "one"),
        (profile.p_dob_year_off_ten, "ten"),
    )
    outcome = "none"
    for probability, name in outcomes:
        if draw < probability:
            outcome = name
            break
        draw -= probability
    if outcome == "none":
        return true_dob
    if outcome == "missing":
        return None
    if outcome == "unknown":
        return UNKNOWN_DOB
    if outcome == "january":
        return date(true_dob.year, 1, 1)
    if outcome == "swap":
        swapped = Corruptor.swap_day_month(true_dob)
        return swapped if swapped != true_dob else corruptor.date_digit_typo(true_dob)
    if outcome == "digit":
        return corruptor.date_digit_typo(true_dob)
    return corruptor.year_off(true_dob, 1 if outcome == "one" else 10)


def _phone(corruptor: Corruptor, person: Person, when: date, profile: NoiseProfile) -> str:
    rng = corruptor.rng
    phone = person.phone_at(when)
    if rng.random() < profile.p_phone_stale:
        phone = person.previous_phone(when)
    if phone and rng.random() < profile.p_phone_typo:
        phone = corruptor.digit_typo(phone) if rng.random() < 0.6 else corruptor.transpose(phone)
    if rng.random() < profile.p_phone_missing:
        return ""
    if rng.random() < profile.p_phone_placeholder:
        return PHONE_PLACEHOLDER
    return phone


def _address(
    corruptor: Corruptor, person: Person, when: date, profile: NoiseProfile
) -> Address | None:
    rng = corruptor.rng
    if rng.random() < profile.p_address_missing:
        return None
    address = person.address_at(when)
    if rng.random() < profile.p_address_stale:
        address = person.previous_address(when)
    number, street, zip5 = address.number, address.street, address.zip5
    if address.kind in ("house", "apartment", "mobile", "pobox"):
        if number and rng.random() < profile.p_house_number_typo:
            number = corruptor.corrupt_text(
                number, (("keyboard", 0.5), ("transpose", 0.3), ("delete", 0.2))
            )
        street = _text(corruptor, street, profile.street)
    if zip5 and rng.random() < profile.p_zip_typo:
        zip5 = corruptor.digit_typo(zip5)
    city = (
        ""
        if rng.random() < profile.p_city_missing
        else _text(corruptor, address.city, profile.city)
    )
    return dataclasses.replace(address, number=number, street=street, zip5=zip5, city=city)


def observe(
    person: Person,
    when: date,
    profile: NoiseProfile,
    corruptor: Corruptor,
    *,
    use_alias: bool = False,
) -> Observation:
    """What an agency with ``profile`` records about ``person`` on ``when``."""
    rng = corruptor.rng
    given = person.alias_given if use_alias and person.alias_given else person.given
    nicknames = NICKNAMES.get(given, ())
    preferred = rng.choice(nicknames) if nicknames and rng.random() < 0.3 else ""
    if nicknames and rng.random() < profile.p_nickname:
        given = preferred or rng.choice(nicknames)
    if rng.random() < profile.p_given_initial:
        given = given[0]
    middle = ""
    if person.middle and rng.random() >= profile.p_middle_missing:
        middle = person.middle[0] if rng.random() < profile.p_middle_initial else person.middle
    surname = person.surname_at(when)
    if rng.random() < profile.p_old_surname:
        surname = person.previous_surname(when)
    if "-" in surname and rng.random() < profile.p_double_surname_first_only:
        surname = surname.split("-")[0]
    suffix = person.suffix if rng.random() < profile.p_suffix_recorded else ""

    given = _text(corruptor, given, profile.given)
    middle = _text(corruptor, middle, profile.middle)
    surname = _text(corruptor, surname, profile.surname)
    if rng.random() < profile.p_swap_names:
        given, surname = Corruptor.swap(given, surname)
    if profile.truncate_given is not None:
        given = Corruptor.truncate(given, profile.truncate_given)
    if profile.truncate_surname is not None:
        surname = Corruptor.truncate(surname, profile.truncate_surname)

    true_dob = person.alias_dob if use_alias and person.alias_dob else person.dob
    dob = _dob(corruptor, true_dob, profile)

    sex = person.sex
    if sex in ("m", "f") and rng.random() < profile.p_sex_error:
        sex = "f" if sex == "m" else "m"
    if rng.random() < profile.p_sex_missing:
        sex = ""
    return Observation(
        given=given,
        middle=middle,
        surname=surname,
        suffix=suffix,
        dob=dob,
        sex=sex,
        transgender=person.transgender,
        phone=_phone(corruptor, person, when, profile),
        address=_address(corruptor, person, when, profile),
        preferred_name=preferred,
        alias=use_alias,
        other_phone=person.previous_phone(when),
    )
