"""The synthetic population of the geco_admin scenario: adults who use crisis services in
the mid-Willamette Valley, with their histories over the records window (2019-2024).

Assumptions (rates in :data:`POPULATION_RATES`):

* Sex: 60 % male, 39.5 % female, 0.5 % non-binary (``x``); 0.5 % are transgender (their
  gender identity, which the crisis unit records, differs from the sex other agencies
  record).
* Age: adults 18-78 in mid-2022, most between 20 and 50.
* About a fifth have a Spanish-language surname; 10 % of them a double surname
  (``GARCIA-LOPEZ``). 80 % have a middle name; 4.5 % of men a suffix (JR, SR, II, III).
* Families: 8 % of people are relatives of an earlier person: siblings (same surname,
  a shared address), twins (also the same date of birth), a junior (same given name and
  surname, father and son), or a spouse (shared address and phone, some wives took the
  husband's surname).
* Housing: 15 % have unstable housing and spend periods in shelters, on the street
  (``HOMELESS``) or with a PO box; a third of them (5 % of all) are chronically homeless.
  People move: about 1.2 moves in the window when housed, 3 when unstable.
* Phones: 18 % never have one; others change number about once in the window (twice
  when housing is unstable, prepaid phones); some periods without a phone.
* Surname changes: 6 % of women change surname (marriage or divorce) during the window.
* Service profiles: serious mental illness 35 %, substance use 45 %, justice involvement
  40 % (independent draws, raised for unstable housing); 8 % of the justice-involved use
  an alias given name or date of birth at some bookings.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate
from typing import Final, Literal, TypeAlias

from benchmarks.scenarios.geco_admin._names import FEMALE, MALE, NICKNAMES, SURNAMES
from benchmarks.scenarios.geco_admin._places import (
    CITIES,
    SHELTERS,
    STREET_TYPES,
    STREETS,
    City,
    Shelter,
)

__all__ = [
    "NOW",
    "POPULATION_RATES",
    "WINDOW_END",
    "WINDOW_START",
    "Address",
    "AddressKind",
    "Person",
    "make_population",
    "random_date",
]

#: First and last day of the records window, and the day queries are asked ("now").
WINDOW_START: Final = date(2019, 1, 1)
WINDOW_END: Final = date(2024, 12, 31)
NOW: Final = date(2025, 1, 31)
_REFERENCE: Final = date(2022, 7, 1)

POPULATION_RATES: Final[dict[str, float]] = {
    "male": 0.60,
    "female": 0.395,
    "nonbinary": 0.005,
    "transgender": 0.005,
    "spanish_surname": 0.20,
    "double_surname_of_spanish": 0.10,
    "middle_name": 0.80,
    "suffix_of_men": 0.045,
    "relative_of_earlier_person": 0.08,
    "unstable_housing": 0.15,
    "chronically_homeless": 0.05,
    "never_a_phone": 0.18,
    "surname_change_of_women": 0.06,
    "serious_mental_illness": 0.35,
    "substance_use": 0.45,
    "justice_involved": 0.40,
    "alias_of_justice_involved": 0.08,
}

# (lowest age, highest age, share) in mid-2022
_AGE_BANDS: Final = (
    (18, 25, 0.20),
    (26, 35, 0.28),
    (36, 45, 0.22),
    (46, 55, 0.15),
    (56, 65, 0.11),
    (66, 78, 0.04),
)
_STREET_TYPE_WEIGHTS: Final = (35, 20, 12, 12, 6, 6, 4, 2, 1, 1, 1)
_RACE_CODES: Final = (("W", 0.74), ("B", 0.06), ("A", 0.04), ("I", 0.05), ("P", 0.01), ("U", 0.10))

AddressKind: TypeAlias = Literal["house", "apartment", "mobile", "shelter", "homeless", "pobox"]


@dataclass(frozen=True, slots=True)
class Address:
    """Where a person lives (or is reached) in one period. Upper case, unformatted."""

    kind: AddressKind
    city: str
    zip5: str
    number: str = ""
    street: str = ""
    street_type: str = ""  # abbreviation, e.g. "ST"
    direction: str = ""  # Salem/Keizer quadrant, e.g. "NE"
    unit: str = ""
    unit_kind: str = ""  # APT, UNIT, SPC
    zip4: str = ""
    shelter: str = ""  # the shelter's name when kind == "shelter"
    shelter_phone: str = ""


@dataclass(slots=True)
class Person:
    """One synthetic person and their history. Names upper case, ASCII (plus apostrophes,
    hyphens and spaces)."""

    person_id: str
    sex: str  # m, f or x
    transgender: bool
    given: str
    middle: str
    suffix: str
    dob: date
    spanish: bool
    race: str
    surnames: list[tuple[date, str]]  # (since, surname), oldest first
    addresses: list[tuple[date, Address]]  # (since, address), oldest first
    phones: list[tuple[date, str]]  # (since, 10 digits or "" for none), oldest first
    serious_mental_illness: bool
    substance_use: bool
    justice_involved: bool
    unstable_housing: bool
    alias_given: str = ""
    alias_dob: date | None = None
    relation: str = ""  # sibling, twin, junior, spouse (of related_to)
    related_to: str = ""

    @staticmethod
    def _at(history: list[tuple[date, str]] | list[tuple[date, Address]], when: date) -> int:
        starts = [since for since, _ in history]
        return max(0, bisect_right(starts, when) - 1)

    def surname_at(self, when: date) -> str:
        return self.surnames[self._at(self.surnames, when)][1]

    def previous_surname(self, when: date) -> str:
        """The surname before the one at ``when`` (itself when it never changed)."""
        index = self._at(self.surnames, when)
        return self.surnames[max(0, index - 1)][1]

    def address_at(self, when: date) -> Address:
        return self.addresses[self._at(self.addresses, when)][1]

    def previous_address(self, when: date) -> Address:
        index = self._at(self.addresses, when)
        return self.addresses[max(0, index - 1)][1]

    def phone_at(self, when: date) -> str:
        return self.phones[self._at(self.phones, when)][1]

    def previous_phone(self, when: date) -> str:
        index = self._at(self.phones, when)
        return self.phones[max(0, index - 1)][1]


def random_date(rng: random.Random, first: date, last: date) -> date:
    """A uniformly drawn day from ``first`` to ``last`` inclusive."""
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _weighted(rng: random.Random, items: list[tuple[str, float]]) -> str:
    return rng.choices([i for i, _ in items], [w for _, w in items])[0]


class _Builder:
    """Draws people one at a time; relatives refer to people drawn before."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._city_cumulative = list(accumulate(c.weight for c in CITIES))
        self._shelter_cumulative = list(accumulate(s.weight for s in SHELTERS))
        self._numbered = tuple(
            f"{n}{'ST' if n % 10 == 1 and n != 11 else 'ND' if n % 10 == 2 and n != 12 else 'RD' if n % 10 == 3 and n != 13 else 'TH'}"
            for n in range(1, 60)
        )

    # --- places -------------------------------------------------------------------------

    def city(self) -> City:
        index = bisect_right(self._city_cumulative, self.rng.random() * self._city_cumulative[-1])
        return CITIES[min(index, len(CITIES) - 1)]

    def shelter(self) -> Shelter:
        cumulative = self._shelter_cumulative
        index = bisect_right(cumulative, self.rng.random() * cumulative[-1])
        return SHELTERS[min(index, len(SHELTERS) - 1)]

    def housed_address(self, city: City, kind: AddressKind) -> Address:
        rng = self.rng
        street = rng.choice(self._numbered) if rng.random() < 0.15 else rng.choice(STREETS)
        street_type = rng.choices([t for t, _ in STREET_TYPES], _STREET_TYPE_WEIGHTS)[0]
        direction = rng.choice(city.quadrants) if city.quadrants else ""
        unit = unit_kind = ""
        if kind == "apartment":
            unit_kind = "APT" if rng.random() < 0.8 else "UNIT"
            unit = (
                str(rng.randrange(1, 320))
                if rng.random() < 0.8
                else rng.choice("ABCDEFGH")
                + (str(rng.randrange(1, 20)) if rng.random() < 0.3 else "")
            )
        elif kind == "mobile":
            unit_kind, unit = "SPC", str(rng.randrange(1, 90))
        number = str(rng.randrange(100, 1000) if rng.random() < 0.4 else rng.randrange(1000, 9999))
        return Address(
            kind=kind,
            city=city.name,
            zip5=rng.choice(city.zips),
            number=number,
            street=street,
            street_type=street_type,
            direction=direction,
            unit=unit,
            unit_kind=unit_kind,
            zip4=f"{rng.randrange(1, 10000):04d}",
        )

    def unstable_address(self, city: City) -> Address:
        rng = self.rng
        draw = rng.random()
        if draw < 0.42:
            s = self.shelter()
            return Address(
                kind="shelter",
                city=s.city,
                zip5=s.zip5,
                number=s.number,
                street=s.street,
                street_type=s.street_type,
                direction=s.direction,
                zip4="",
                shelter=s.name,
                shelter_phone=s.phone,
            )
        if draw < 0.85:
            return Address(kind="homeless", city=city.name, zip5=city.zips[0])
        return Address(
            kind="pobox", city=city.name, zip5=city.zips[0], number=str(rng.randrange(1, 20000))
        )

    def addresses(self, city: City, unstable: bool, chronic: bool) -> list[tuple[date, Address]]:
        rng = self.rng
        moves = _poisson(rng, 3.0 if unstable else 1.2)
        starts = sorted(random_date(rng, WINDOW_START, WINDOW_END) for _ in range(moves))
        first_start = WINDOW_START - timedelta(days=rng.randrange(30, 3000))
        history: list[tuple[date, Address]] = []
        for since in [first_start, *starts]:
            if rng.random() < 0.15:
                city = self.city()
            if chronic or (unstable and rng.random() < 0.55):
                address = self.unstable_address(city)
            else:
                kinds: list[AddressKind] = ["house", "apartment", "mobile"]
                kind = rng.choices(
                    kinds,
                    [0.45, 0.45, 0.10] if not unstable else [0.2, 0.65, 0.15],
                )[0]
                address = self.housed_address(city, kind)
            history.append((since, address))
        return history

    def phone_number(self, area_codes: tuple[str, ...]) -> str:
        rng = self.rng
        exchange = rng.randrange(200, 1000)
        while exchange % 100 == 11 or exchange == 555:
            exchange = rng.randrange(200, 1000)
        return f"{rng.choice(area_codes)}{exchange}{rng.randrange(10000):04d}"

    def phones(self, city: City, unstable: bool) -> list[tuple[date, str]]:
        rng = self.rng
        first_start = WINDOW_START - timedelta(days=rng.randrange(30, 2000))
        if rng.random() < POPULATION_RATES["never_a_phone"]:
            return [(first_start, "")]
        changes = _poisson(rng, 2.0 if unstable else 0.8)
        starts = sorted(random_date(rng, WINDOW_START, WINDOW_END) for _ in range(changes))
        history = []
        for since in [first_start, *starts]:
            none = rng.random() < (0.15 if unstable else 0.04)
            history.append((since, "" if none else self.phone_number(city.area_codes)))
        return history

    # --- people -------------------------------------------------------------------------

    def birth_date(self) -> date:
        rng = self.rng
        low, high, _ = rng.choices(_AGE_BANDS, [share for _, _, share in _AGE_BANDS])[0]
        age = rng.randint(low, high)
        latest = _REFERENCE.replace(year=_REFERENCE.year - age)
        return latest - timedelta(days=rng.randrange(365))

    def given_name(self, sex: str, birth_year: int, spanish: bool, avoid: str = "") -> str:
        rng = self.rng
        table = MALE if sex == "m" or (sex == "x" and rng.random() < 0.5) else FEMALE
        for _ in range(20):
            name = table.draw(rng, birth_year, spanish=spanish and rng.random() < 0.65)
            if name != avoid:
                return name
        return name

    def person(self, person_id: str) -> Person:
        rng = self.rng
        draw = rng.random()
        sex = "m" if draw < POPULATION_RATES["male"] else "f" if draw < 0.995 else "x"
        dob = self.birth_date()
        spanish = rng.random() < POPULATION_RATES["spanish_surname"]
        surname = SURNAMES.draw(rng, spanish=spanish)
        if spanish and rng.random() < POPULATION_RATES["double_surname_of_spanish"]:
            second = SURNAMES.draw(rng, spanish=True)
            if second != surname:
                surname = f"{surname}-{second}"
        given = self.given_name(sex, dob.year, spanish)
        middle = ""
        if rng.random() < POPULATION_RATES["middle_name"]:
            middle = self.given_name(sex, dob.year, spanish, avoid=given)
        suffix = ""
        if sex == "m" and rng.random() < POPULATION_RATES["suffix_of_men"]:
            suffix = rng.choices(["JR", "SR", "II", "III"], [0.6, 0.15, 0.1, 0.15])[0]
        unstable = rng.random() < POPULATION_RATES["unstable_housing"]
        chronic = unstable and rng.random() < POPULATION_RATES["chronically_homeless"] / 0.15
        city = self.city()
        race = "H" if spanish else _weighted(rng, list(_RACE_CODES))
        surnames = [(date(1900, 1, 1), surname)]
        if sex == "f" and rng.random() < POPULATION_RATES["surname_change_of_women"]:
            other = SURNAMES.draw(rng)
            if other != surname:
                surnames.append((random_date(rng, WINDOW_START, WINDOW_END), other))
        boost = 0.15 if unstable else 0.0
        justice = rng.random() < POPULATION_RATES["justice_involved"] + boost
        person = Person(
            person_id=person_id,
            sex=sex,
            transgender=sex != "x" and rng.random() < POPULATION_RATES["transgender"],
            given=given,
            middle=middle,
            suffix=suffix,
            dob=dob,
            spanish=spanish,
            race=race,
            surnames=surnames,
            addresses=self.addresses(city, unstable, chronic),
            phones=self.phones(city, unstable),
            serious_mental_illness=rng.random()
            < POPULATION_RATES["serious_mental_illness"] + boost,
            substance_use=rng.random() < POPULATION_RATES["substance_use"] + boost,
            justice_involved=justice,
            unstable_housing=unstable,
        )
        if justice and rng.random() < POPULATION_RATES["alias_of_justice_involved"]:
            if rng.random() < 0.6:
                pool = NICKNAMES.get(given, ())
                person.alias_given = (
                    rng.choice(pool)
                    if pool and rng.random() < 0.5
                    else self.given_name(sex, dob.year, spanish, given)
                )
            if rng.random() < 0.5:
                alias = dob.replace(
                    year=dob.year + rng.choice((-2, -1, 1, 2)), day=min(dob.day, 28)
                )
                person.alias_dob = alias
        return person

    def relate(self, person: Person, base: Person) -> None:
        """Make ``person`` a relative of ``base`` (mutates both: a father becomes SR)."""
        rng = self.rng
        base_surname = base.surnames[0][1]
        kind = rng.choices(["sibling", "twin", "junior", "spouse"], [0.5, 0.12, 0.18, 0.2])[0]
        if kind == "junior" and (base.sex != "m" or base.dob.year > 1982):
            kind = "sibling"
        person.relation, person.related_to = kind, base.person_id
        shared_since, shared_address = base.addresses[0]
        if kind in ("sibling", "twin", "junior"):
            person.surnames = [(date(1900, 1, 1), base_surname), *person.surnames[1:]]
            person.spanish = base.spanish
            person.race = base.race
            person.addresses[0] = (shared_since, shared_address)
        if kind == "sibling":
            years = rng.choice((-1, 1)) * rng.randint(1, 9)
            person.dob = _shift_years(base.dob, years, rng)
        elif kind == "twin":
            person.dob = base.dob
        elif kind == "junior":
            person.sex = "m"
            person.transgender = False
            person.given = base.given
            person.dob = _shift_years(base.dob, rng.randint(20, 30), rng)
            person.suffix = "JR"
            if not base.suffix and rng.random() < 0.5:
                base.suffix = "SR"
        else:  # spouse
            person.sex = "f" if base.sex == "m" else "m"
            person.given = self.given_name(person.sex, person.dob.year, base.spanish)
            person.middle = (
                self.given_name(person.sex, person.dob.year, base.spanish, person.given)
                if person.middle
                else ""
            )
            since = max(shared_since, base.addresses[-1][0])
            person.addresses = [
                *[(d, a) for d, a in person.addresses if d < since],
                (since, base.addresses[-1][1]),
            ]
            if base.phones[-1][1] and rng.random() < 0.4:
                person.phones = [
                    *[(d, p) for d, p in person.phones if d < since],
                    (since, base.phones[-1][1]),
                ]
            if person.sex == "f" and rng.random() < 0.5:
                marriage = random_date(rng, WINDOW_START - timedelta(days=3000), WINDOW_END)
                person.surnames = [person.surnames[0], (marriage, base_surname)]
        if person.sex != "m":
            person.suffix = ""


def _shift_years(day: date, years: int, rng: random.Random) -> date:
    year = min(max(day.year + years, 1944), 2006)
    shifted = date(year, day.month, min(day.day, 28))
    return shifted + timedelta(days=rng.randrange(-150, 150)) if years else shifted


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method; the means here are small)."""
    limit = pow(2.718281828459045, -mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def make_population(rng: random.Random, count: int, *, prefix: str = "P") -> list[Person]:
    """``count`` people with IDs ``P000001``...; 8 % are relatives of an earlier person."""
    builder = _Builder(rng)
    people: list[Person] = []
    width = max(6, len(str(count)))
    for index in range(count):
        person = builder.person(f"{prefix}{index + 1:0{width}d}")
        if people and rng.random() < POPULATION_RATES["relative_of_earlier_person"]:
            builder.relate(person, people[rng.randrange(len(people))])
        people.append(person)
    return people
