"""Synthetic people and the messy ways an agency records them.

:func:`generate_people` invents people from the lists in :mod:`linkage.synth._names`
(twins at a rate: same surname, date of birth and address, another given name);
:func:`messy_variant` is one agency's record of a person with the errors of
:class:`Messiness` (nicknames, typos, swapped day and month, moves, missing fields);
:func:`exact_variant` records a person without errors.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, replace
from datetime import date, timedelta

from linkage.synth._names import GIVEN_NAMES, NICKNAMES, PLACES, STREETS, SURNAMES

__all__ = [
    "Messiness",
    "Person",
    "Variant",
    "exact_variant",
    "generate_people",
    "messy_variant",
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


def messy_variant(person: Person, rates: Messiness, rng: random.Random) -> Variant:
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


def exact_variant(person: Person) -> Variant:
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
