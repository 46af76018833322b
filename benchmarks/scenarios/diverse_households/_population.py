"""The synthetic metro: neighbourhoods, streets and households, and how people's details
change over the ten years the agencies' records span.

Assumptions (the numbers are in :data:`POPULATION_RATES`):

* The metro has a few dozen suburbs (about one per 600 people) and a few hundred streets
  (about one per 65 people). Street lengths are Zipf-like: a few long arterial roads hold
  hundreds of households and run through two or three suburbs, many short courts hold a
  dozen. Apartment buildings (units 1-60) sit mostly on the long roads. Duplicate street
  names occur in different suburbs, as in real cities.
* Households are built whole: single people, couples, parents with children, single
  parents, multigenerational households (grandparents, parents, children; more common in
  migrant families) and shared housing of unrelated young adults; 1-6 people at one
  address. Each household has a naming tradition; 12 % of couples are mixed. Traditions
  cluster by suburb (each suburb has its own mix).
* Children take the family surname (Hispanic children: father's first surname + mother's
  first surname). About 1.5 % of births are multiple (97 % twins, 3 % triplets).
* Over the record window (2015-2024) households move (renters and young people more often),
  young adults and new couples join a household part-way, women who marry in the window
  mostly take the husband's surname (some hyphenate), mobile numbers change, and each
  address of a household may have its own landline shared by everyone living there.
* Some migrants (Vietnamese, Arabic speakers born before 1985) hold an official date of
  birth of 1 January, so that date is truly shared by many people.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from typing import Final

from benchmarks.scenarios.diverse_households._names import (
    TRADITION_SHARE,
    TRADITIONS,
    Given,
    NameBank,
    Surname,
    plain_forms,
)

__all__ = [
    "NOW",
    "POPULATION_RATES",
    "WINDOW_END",
    "WINDOW_START",
    "Address",
    "Metro",
    "Person",
    "Population",
    "Residence",
    "Street",
    "Suburb",
    "build_population",
]

#: The records span 2015-01-01 .. 2024-12-31; queries describe people as of 2025-01-01.
WINDOW_START: Final = date(2015, 1, 1).toordinal()
WINDOW_END: Final = date(2024, 12, 31).toordinal()
NOW: Final = date(2025, 1, 1).toordinal()
_YEAR: Final = 365.25
_EARLIEST: Final = date(1900, 1, 1).toordinal()

POPULATION_RATES: Final[dict[str, float]] = {
    "people_per_street": 65.0,
    "people_per_suburb": 600.0,
    "multiple_birth_share": 0.03,  # per confinement; capped families make ~1.5 % realised
    "triplet_share_of_multiples": 0.03,
    "mixed_couple_share": 0.12,
    "same_sex_couple_share": 0.03,
    "wife_takes_husband_surname": 0.8,
    "hyphenated_married_surname": 0.07,
    "landline_household_head_under_35": 0.15,
    "landline_household_head_35_59": 0.4,
    "landline_household_head_60_plus": 0.75,
    "mobile_changes_per_person_in_window": 0.5,
    "official_1_january_dob_share": 0.06,
}

_HOUSEHOLD_KINDS: Final = ("single", "couple", "family", "single_parent", "multigen", "shared")
_HOUSEHOLD_WEIGHTS: Final = (0.25, 0.22, 0.29, 0.09, 0.08, 0.07)
_MULTIGEN_TRADITIONS: Final = frozenset(
    {
        "vietnamese",
        "chinese_mandarin",
        "chinese_cantonese",
        "korean",
        "indian_gujarati",
        "indian_punjabi",
        "indian_north",
        "indian_south",
        "arabic",
        "hispanic",
        "filipino",
        "lebanese_christian",
    }
)
#: Traditions in which a wife commonly takes the husband's surname.
_TAKES_HUSBANDS_NAME: Final = frozenset(
    {
        "anglo",
        "filipino",
        "russian_ukrainian",
        "polish",
        "balkan",
        "greek",
        "italian",
        "lebanese_christian",
        "indian_gujarati",
        "indian_north",
        "indian_south",
    }
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_SUBURB_ROOTS: Final = _words(
    "Riverton Ashgrove Bellfield Carrington Dunmore Eastwood Fairlight Glenhaven Harcourt "
    "Ironbark Kellerman Lindfield Merrivale Northbridge Oakleigh Parkhurst Queensmead "
    "Rosebank Sandhurst Thornleigh Underwood Valley Wattle Westmead Yarralong Wirrinda "
    "Marrabool Kooranga Bimbadeen Carlingford Dulwich Enfield Granville Homebush Ingleburn "
    "Jamisontown Kingswood Lalor Minto Narwee Oatlands Padstow Quakers Regents Seaforth "
    "Tarrawood Urunga Villawood Waratah Yagoona Zetland Brookvale Cabarita Denham Edgecliff "
    "Fernhill Greystanes Hillview Kenwick Lakeside Moorebank Newtown"
)
_STREET_ROOTS: Final = _words(
    "Albert Victoria Railway Station Church Park High King Queen George Bridge Mill "
    "Princes Elizabeth William Market Harbour River Hill Forest Wattle Acacia Banksia "
    "Jacaranda Waratah Bottlebrush Grevillea Ironbark Myrtle Cedar Laurel Oak Elm Willow "
    "Poplar Maple Cypress Cook Phillip Macquarie Bligh Hunter Lachlan Murray Darling Hume "
    "Stuart Flinders Bass Sturt Mitchell Kennedy Leichhardt Oxley Wentworth Blaxland "
    "Lawson Parkes Barton Deakin Lyons Curtin Chifley Menzies Holt Gorton Whitlam Fraser "
    "Hawke Keating Howard Rudd Gillard Abbott Turnbull Morrison Albany Bendigo Ballarat "
    "Bathurst Orange Dubbo Mudgee Goulburn Yass Cowra Young Wagga Albury Tamworth Armidale "
    "Grafton Lismore Ballina Casino Kempsey Taree Gloucester Dungog Maitland Cessnock "
    "Singleton Muswellbrook Scone Murrurundi Quirindi Gunnedah Narrabri Moree Inverell "
    "Glen Innes Tenterfield Stanthorpe Warwick Toowoomba Dalby Roma Emerald Clermont "
    "Charters Towers Cairns Mossman Cooktown Weipa Karumba Normanton Burketown Camooweal "
    "Bedford Cambridge Oxford Durham Exeter Windsor Stirling Nelson Wellington Raglan "
    "Sandringham Balmoral Osborne Kensington Chelsea Richmond Hampton Brighton Lancaster "
    "York Carlisle Pembroke Arundel Salisbury Norwich Derby Chester Warwick Coventry"
)
_LONG_TYPES: Final = ("Road", "Highway", "Parade", "Road", "Boulevard", "Street")
_SHORT_TYPES: Final = (
    "Street",
    "Street",
    "Street",
    "Avenue",
    "Avenue",
    "Crescent",
    "Court",
    "Place",
    "Close",
    "Lane",
    "Drive",
    "Way",
    "Terrace",
    "Grove",
    "Road",
)


@dataclass(frozen=True, slots=True)
class Suburb:
    """A suburb (locality) with its four-digit postcode."""

    name: str
    postcode: str


@dataclass(frozen=True, slots=True)
class Street:
    """A street: its house numbers run 1..length; long ones pass through several suburbs."""

    name: str
    kind: str
    length: int
    #: (last house number, suburb index) per segment, ascending
    segments: tuple[tuple[int, int], ...]
    #: house numbers that are apartment buildings, with their number of units
    buildings: tuple[tuple[int, int], ...]
    #: share of the street's households that live in units
    unit_share: float
    weight: float

    def suburb_of(self, number: int) -> int:
        for last, suburb in self.segments:
            if number <= last:
                return suburb
        return self.segments[-1][1]


@dataclass(frozen=True, slots=True)
class Address:
    """A dwelling: ``unit`` is 0 for a house."""

    street: int
    number: int
    unit: int
    suburb: int


@dataclass(frozen=True, slots=True)
class Residence:
    """Where a person lived from ``start`` (a day ordinal), and the landline there ("")."""

    start: int
    address: Address
    landline: str


@dataclass(slots=True)
class Person:
    """One synthetic person and the history of their details over the record window."""

    index: int
    household: int
    role: str
    tradition: str
    sex: str
    dob: date
    given: Given
    middles: tuple[str, ...]
    surname: Surname
    #: the surname held before ``surname_changed`` (maiden name), if it changed in the window
    previous_surname: Surname | None = None
    surname_changed: int = 0
    residences: list[Residence] = field(default_factory=list)
    #: (start day, number) of each mobile phone the person has had; empty: none
    mobiles: list[tuple[int, str]] = field(default_factory=list)
    #: 0 low, 1 medium, 2 high contact with police, health and welfare services
    risk: int = 0
    #: identifier of the set of twins / triplets, 0 if single birth
    multiple_birth: int = 0
    #: identifies as neither male nor female (recorded X by some systems)
    gender_x: bool = False
    local_born: bool = True
    person_id: str = ""

    def age_on(self, day: int) -> int:
        on = date.fromordinal(day)
        years = on.year - self.dob.year
        if (on.month, on.day) < (self.dob.month, self.dob.day):
            years -= 1
        return years

    def surname_on(self, day: int) -> Surname:
        if self.previous_surname is not None and day < self.surname_changed:
            return self.previous_surname
        return self.surname

    def residence_index_on(self, day: int) -> int:
        starts = [r.start for r in self.residences]
        return max(0, bisect_right(starts, day) - 1)

    def residence_on(self, day: int) -> Residence:
        return self.residences[self.residence_index_on(day)]

    def mobile_on(self, day: int) -> str:
        number = ""
        for start, value in self.mobiles:
            if start <= day:
                number = value
            else:
                break
        return number

    def previous_mobile(self, day: int) -> str:
        before = [value for start, value in self.mobiles if start <= day]
        return before[-2] if len(before) >= 2 else ""


@dataclass(slots=True)
class Metro:
    """The metro's suburbs and streets, and samplers for addresses."""

    suburbs: list[Suburb]
    streets: list[Street]
    state: str
    #: per tradition: cumulative street weights (suburb affinity x street size)
    tradition_cumulative: dict[str, list[float]]
    #: per suburb: street indices touching it and their cumulative weights
    local_streets: list[tuple[list[int], list[float]]]

    def address(self, rng: random.Random, street_index: int) -> Address:
        street = self.streets[street_index]
        if street.buildings and rng.random() < street.unit_share:
            number, units = street.buildings[rng.randrange(len(street.buildings))]
            unit = rng.randint(1, units)
        else:
            taken = {n for n, _ in street.buildings}
            number = rng.randint(1, street.length)
            while number in taken:
                number = rng.randint(1, street.length)
            unit = 0
        return Address(street_index, number, unit, street.suburb_of(number))

    def address_for(self, rng: random.Random, tradition: str) -> Address:
        """An address anywhere, drawn with the tradition's neighbourhood preferences."""
        cumulative = self.tradition_cumulative[tradition]
        index = bisect_right(cumulative, rng.random() * cumulative[-1])
        return self.address(rng, min(index, len(self.streets) - 1))

    def address_near(self, rng: random.Random, suburb: int) -> Address:
        """An address in the same or a neighbouring suburb."""
        target = min(max(suburb + rng.randint(-2, 2), 0), len(self.suburbs) - 1)
        streets, cumulative = self.local_streets[target]
        if not streets:
            return self.address(rng, rng.randrange(len(self.streets)))
        index = bisect_right(cumulative, rng.random() * cumulative[-1])
        return self.address(rng, streets[min(index, len(streets) - 1)])


@dataclass(slots=True)
class Population:
    """Everyone in the metro, household by household."""

    metro: Metro
    people: list[Person]
    households: list[list[int]]
    household_kinds: list[str]
    multiple_births: int


def _build_metro(rng: random.Random, people: int) -> Metro:
    n_suburbs = max(5, round(people / POPULATION_RATES["people_per_suburb"]))
    n_streets = max(25, round(people / POPULATION_RATES["people_per_street"]))
    roots = list(_SUBURB_ROOTS)
    rng.shuffle(roots)
    suburbs: list[Suburb] = []
    postcode = 2140 + rng.randrange(40)
    for i in range(n_suburbs):
        root = roots[i % len(roots)]
        name = root if i < len(roots) else f"{('North', 'South', 'East', 'West')[i % 4]} {root}"
        if suburbs and rng.random() < 0.3:
            code = suburbs[-1].postcode  # neighbouring suburbs often share a postcode
        else:
            postcode += rng.randint(1, 6)
            code = str(postcode)
        suburbs.append(Suburb(name, code))
    street_roots = list(_STREET_ROOTS)
    rng.shuffle(street_roots)
    weights = [1.0 / (rank + 1) ** 0.85 for rank in range(n_streets)]
    households_estimate = people / 2.6
    total_weight = sum(weights)
    streets: list[Street] = []
    used: set[tuple[str, str]] = set()
    for rank, weight in enumerate(weights):
        long_road = rank < max(3, n_streets // 20)
        share = households_estimate * weight / total_weight
        kind = rng.choice(_LONG_TYPES if long_road else _SHORT_TYPES)
        root = street_roots[rank % len(street_roots)]
        if rank >= len(street_roots) or (rng.random() < 0.08 and streets):
            root = rng.choice(street_roots[: min(rank, len(street_roots)) or 1])
        if (root, kind) in used and rng.random() < 0.5:
            kind = rng.choice(_SHORT_TYPES)
        used.add((root, kind))
        unit_share = 0.45 if long_road else (0.2 if kind in ("Street", "Road", "Avenue") else 0.0)
        houses = max(8, round(share * (1 - unit_share) * 1.6))
        length = min(houses * 2, 1200) if long_road else min(houses, 400)
        first = rng.randrange(n_suburbs)
        if long_road:
            spans = rng.randint(2, 3)
            cut = sorted(rng.sample(range(10, length - 10), spans - 1)) if length > 40 else []
            segment_suburbs = [min(max(first + k, 0), n_suburbs - 1) for k in range(spans)]
            segments = tuple(
                (last, suburb)
                for last, suburb in zip([*cut, length], segment_suburbs, strict=False)
            )
        else:
            segments = ((length, first),)
        buildings: list[tuple[int, int]] = []
        if unit_share > 0:
            unit_households = share * unit_share
            while unit_households > 0:
                units = rng.randint(6, 60) if long_road else rng.randint(4, 20)
                buildings.append((rng.randint(1, length), units))
                unit_households -= units * 0.8
            buildings = list(dict(buildings).items())
        streets.append(
            Street(
                name=root,
                kind=kind,
                length=length,
                segments=segments,
                buildings=tuple(buildings),
                unit_share=unit_share if buildings else 0.0,
                weight=weight,
            )
        )
    affinity = [
        {t: rng.gammavariate(0.8, 1.0) + 0.05 for t in TRADITIONS} for _ in range(n_suburbs)
    ]
    tradition_cumulative = {
        t: list(
            accumulate(
                s.weight * sum(affinity[sub][t] for _, sub in s.segments) / len(s.segments)
                for s in streets
            )
        )
        for t in TRADITIONS
    }
    local: list[tuple[list[int], list[float]]] = []
    for suburb in range(n_suburbs):
        indices = [i for i, s in enumerate(streets) if any(sub == suburb for _, sub in s.segments)]
        local.append((indices, list(accumulate(streets[i].weight for i in indices))))
    return Metro(suburbs, streets, "NSW", tradition_cumulative, local)


class _Builder:
    """Builds households one at a time (kept in one object so the rng order is fixed)."""

    def __init__(self, rng: random.Random, metro: Metro) -> None:
        self.rng = rng
        self.metro = metro
        self.names = NameBank(rng)
        self.people: list[Person] = []
        self.households: list[list[int]] = []
        self.kinds: list[str] = []
        self.multiple_births = 0
        self._numbers: set[str] = set()
        self._traditions = list(TRADITION_SHARE)
        self._tradition_cumulative = list(accumulate(TRADITION_SHARE.values()))

    # -- small samplers -----------------------------------------------------------------

    def tradition(self) -> str:
        point = self.rng.random() * self._tradition_cumulative[-1]
        index = bisect_right(self._tradition_cumulative, point)
        return self._traditions[min(index, len(self._traditions) - 1)]

    def dob(self, age: int, tradition: str, *, local_born: bool) -> date:
        year = date.fromordinal(NOW).year - 1 - age
        born = date(year, 1, 1) + timedelta(days=self.rng.randrange(365))
        if (
            not local_born
            and tradition in ("vietnamese", "arabic")
            and year < 1985
            and self.rng.random() < POPULATION_RATES["official_1_january_dob_share"]
        ):
            born = date(year, 1, 1)
        return born

    def phone(self, mobile: bool) -> str:
        rng = self.rng
        while True:
            if mobile:
                number = "04" + "".join(str(rng.randrange(10)) for _ in range(8))
            else:
                number = (
                    "02" + rng.choice("9874") + "".join(str(rng.randrange(10)) for _ in range(7))
                )
            if number not in self._numbers:
                self._numbers.add(number)
                return number

    # -- timelines ----------------------------------------------------------------------

    def periods(
        self, start: int, rate: float, tradition: str, landline_share: float
    ) -> list[Residence]:
        """Residences from ``start`` (or before the window) to now, moving at ``rate``/year."""
        rng = self.rng
        has_landline = rng.random() < landline_share
        address = self.metro.address_for(rng, tradition)
        out: list[Residence] = []
        moved = NOW - int(rng.expovariate(max(rate, 1e-6)) * _YEAR)
        while True:
            begin = max(moved, start)
            out.append(Residence(begin, address, self.phone(False) if has_landline else ""))
            if begin <= start or begin < WINDOW_START:
                break
            moved = begin - max(30, int(rng.expovariate(max(rate, 1e-6)) * _YEAR))
            if rng.random() < 0.55:
                address = self.metro.address_near(rng, address.suburb)
            else:
                address = self.metro.address_for(rng, tradition)
        out.reverse()
        first = out[0]
        out[0] = Residence(min(first.start, start), first.address, first.landline)
        return out

    def mobiles(self, person: Person) -> list[tuple[int, str]]:
        rng = self.rng
        age = person.age_on(NOW)
        share = 0.0
        if age >= 12:
            share = 0.8 if age < 18 else 0.95 if age < 70 else 0.8 if age < 80 else 0.55
        if rng.random() >= share:
            return []
        first_day = (person.dob + timedelta(days=int(_YEAR * rng.uniform(12, 16)))).toordinal()
        first_day = max(first_day, _EARLIEST)
        out = [(first_day, self.phone(True))]
        changes = _poisson(rng, POPULATION_RATES["mobile_changes_per_person_in_window"])
        days = sorted(rng.randint(WINDOW_START, WINDOW_END) for _ in range(changes))
        for day in days:
            if day > out[-1][0] + 60:
                out.append((day, self.phone(True)))
        return out

    # -- people -------------------------------------------------------------------------

    def person(
        self,
        household: int,
        role: str,
        tradition: str,
        sex: str,
        age: int,
        surname: Surname,
        *,
        local_born: bool,
        given_tradition: str | None = None,
        father_given: str = "",
        mother_maiden: str = "",
        dob: date | None = None,
    ) -> Person:
        rng = self.rng
        born = dob or self.dob(age, tradition, local_born=local_born)
        given = self.names.given(
            given_tradition or tradition, sex, born.year, local_born=local_born
        )
        middles = self.names.middles(
            given_tradition or tradition,
            sex,
            born.year,
            given,
            father_given=father_given or self.names.any_given(tradition, "m", born.year - 30),
            mother_maiden=mother_maiden,
        )
        risk = rng.choices((0, 1, 2), weights=(0.8, 0.15, 0.05))[0]
        person = Person(
            index=len(self.people),
            household=household,
            role=role,
            tradition=tradition,
            sex=sex,
            dob=born,
            given=given,
            middles=middles,
            surname=surname,
            risk=risk,
            local_born=local_born,
            gender_x=15 <= age <= 45 and rng.random() < 0.004,
        )
        self.people.append(person)
        return person

    def adult_surname(self, tradition: str, sex: str, family: str | None = None) -> Surname:
        names = self.names
        family = names.family_name(tradition) if family is None else family
        maternal = names.hispanic_surname() if tradition == "hispanic" else ""
        return names.surname(
            tradition,
            sex,
            family,
            maternal=maternal,
            father_given=names.any_given(tradition, "m", 1950),
        )

    def child_surname(self, father: Person | None, mother: Person | None, sex: str) -> Surname:
        """A child's surname: the father's family name (or the mother's, if no father)."""
        parent = father or mother
        assert parent is not None
        base = parent.surname
        tradition = parent.tradition
        if base.kind == "hispanic":
            if father is None:  # registered with the mother's two surnames
                maternal = base.maternal
            elif mother is None:
                maternal = ""
            elif mother.surname.kind == "hispanic":
                maternal = mother.surname.forms[0]
            else:
                maternal = (mother.previous_surname or mother.surname).usual()
            return self.names.surname("hispanic", sex, base.forms[0], maternal=maternal)
        if base.kind == "sikh":
            return self.names.surname("indian_punjabi", sex, base.family)
        if base.kind == "patronymic":
            father_given = father.given.own if father is not None else base.forms[0]
            return Surname(kind="patronymic", forms=(father_given,))
        family = base.family or base.forms[0]
        return Surname(kind="plain", forms=plain_forms(family, tradition, sex), family=family)

    # -- households ---------------------------------------------------------------------

    def household(self, limit: int) -> None:
        rng = self.rng
        tradition = self.tradition()
        weights = list(_HOUSEHOLD_WEIGHTS)
        if tradition in _MULTIGEN_TRADITIONS:
            weights[4] *= 2.5
        if tradition == "anglo":
            weights[5] *= 1.4
        kind = rng.choices(_HOUSEHOLD_KINDS, weights=weights)[0]
        index = len(self.households)
        start = len(self.people)
        builders = {
            "single": self._single,
            "couple": self._couple_household,
            "family": self._family,
            "single_parent": self._single_parent,
            "multigen": self._multigen,
            "shared": self._shared,
        }
        rate, formed = builders[kind](index, tradition)
        members = list(range(start, len(self.people)))
        if len(members) > limit:
            del self.people[start + limit :]
            members = members[:limit]
        self.households.append(members)
        self.kinds.append(kind)
        self._settle(members, kind, tradition, rate, formed)

    def _settle(
        self, members: list[int], kind: str, tradition: str, rate: float, formed: int
    ) -> None:
        """Give the household its address history and each member their own before it."""
        rng = self.rng
        people = [self.people[i] for i in members]
        head_age = max(p.age_on(NOW) for p in people)
        landline = (
            POPULATION_RATES["landline_household_head_under_35"]
            if head_age < 35
            else POPULATION_RATES["landline_household_head_35_59"]
            if head_age < 60
            else POPULATION_RATES["landline_household_head_60_plus"]
        )
        if kind == "shared":
            landline *= 0.3
        shared = self.periods(formed, rate, tradition, landline)
        mother_before: list[Residence] | None = None
        for person in people:
            joined = formed
            if person.role == "grandparent" and rng.random() < 0.6:
                joined = NOW - int(rng.uniform(0.2, 12) * _YEAR)
            if person.surname_changed:
                joined = min(joined, person.surname_changed - int(rng.uniform(0, 1.5) * _YEAR))
            if person.role == "child" and mother_before is not None:
                before = [r for r in mother_before if r.start < joined]
            elif joined > _EARLIEST:
                young = person.age_on(joined) < 30
                before = self.periods(_EARLIEST, 0.25 if young else 0.1, person.tradition, 0.3)
                before = [r for r in before if r.start < joined] or before[:1]
            else:
                before = []
            if person.role in ("head", "parent") and mother_before is None:
                mother_before = before
            current = _last_before(shared, joined)
            person.residences = before + [
                r if r.start >= joined else Residence(joined, r.address, r.landline)
                for r in shared
                if r.start >= joined or r is current
            ]
            person.residences.sort(key=lambda r: r.start)
            person.mobiles = self.mobiles(person)

    def _single(self, index: int, tradition: str) -> tuple[float, int]:
        rng = self.rng
        age = _mixture_age(rng, ((0.42, 19, 35), (0.36, 36, 64), (0.22, 65, 95)))
        sex = rng.choice("mf") if age < 75 else rng.choices("mf", weights=(0.35, 0.65))[0]
        local = self._local_born(tradition, age)
        self.person(
            index, "head", tradition, sex, age, self.adult_surname(tradition, sex), local_born=local
        )
        formed = self._formed(age)
        return (0.18 if age < 35 else 0.065 if age < 65 else 0.03), formed

    def _couple(
        self, index: int, tradition: str, woman_age: int, *, role: str = "head"
    ) -> tuple[Person, Person]:
        """A couple; the woman takes the husband's surname per tradition, maybe in the window."""
        rng = self.rng
        names = self.names
        if rng.random() < POPULATION_RATES["same_sex_couple_share"]:
            sex = rng.choice("mf")
            first_age = woman_age
            first = self.person(
                index,
                role,
                tradition,
                sex,
                first_age,
                self.adult_surname(tradition, sex),
                local_born=self._local_born(tradition, first_age),
            )
            other_tradition = (
                self.tradition()
                if rng.random() < POPULATION_RATES["mixed_couple_share"]
                else tradition
            )
            second_age = max(19, first_age + round(rng.gauss(0, 4)))
            second = self.person(
                index,
                "partner",
                other_tradition,
                sex,
                second_age,
                self.adult_surname(other_tradition, sex),
                local_born=self._local_born(other_tradition, second_age),
            )
            return first, second
        man_age = max(19, woman_age + round(rng.gauss(2, 3.5)))
        man = self.person(
            index,
            role,
            tradition,
            "m",
            man_age,
            self.adult_surname(tradition, "m"),
            local_born=self._local_born(tradition, man_age),
        )
        wife_tradition = (
            self.tradition() if rng.random() < POPULATION_RATES["mixed_couple_share"] else tradition
        )
        maiden = self.adult_surname(wife_tradition, "f")
        wife = self.person(
            index,
            "partner",
            wife_tradition,
            "f",
            woman_age,
            maiden,
            local_born=self._local_born(wife_tradition, woman_age),
        )
        takes = (
            tradition in _TAKES_HUSBANDS_NAME or wife_tradition == "anglo"
        ) and rng.random() < POPULATION_RATES["wife_takes_husband_surname"]
        if man.surname.kind == "sikh" and wife_tradition == "indian_punjabi":
            married = names.surname("indian_punjabi", "f", man.surname.family)
            takes = True
        elif man.surname.kind == "patronymic":
            married = Surname(kind="patronymic", forms=(man.given.own,))
            takes = takes or rng.random() < 0.7
        elif man.surname.kind == "hispanic":
            married = Surname(kind="plain", forms=(man.surname.forms[0],))
            takes = wife_tradition != "hispanic" and takes
        else:
            family = man.surname.family or man.surname.forms[0]
            inflect = tradition if wife_tradition == tradition else "anglo"
            married = Surname(kind="plain", forms=plain_forms(family, inflect, "f"), family=family)
            if rng.random() < POPULATION_RATES["hyphenated_married_surname"]:
                own = f"{maiden.usual()}-{married.forms[0]}"
                married = Surname(
                    kind="plain", forms=(own, married.forms[0], maiden.usual()), family=own
                )
        if takes:
            wife.surname = married
            youngest_marriage = (wife.dob + timedelta(days=int(20 * _YEAR))).toordinal()
            low = max(WINDOW_START + 30, youngest_marriage)
            if woman_age < 40 and low < NOW - 120 and rng.random() < 0.45:
                wife.previous_surname = maiden
                wife.surname_changed = rng.randint(low, NOW - 120)
        return man, wife

    def _couple_household(self, index: int, tradition: str) -> tuple[float, int]:
        rng = self.rng
        age = _mixture_age(rng, ((0.42, 22, 35), (0.33, 36, 64), (0.25, 65, 90)))
        _, second = self._couple(index, tradition, age)
        formed = self._formed(age)
        if second.surname_changed:
            formed = second.surname_changed - int(rng.uniform(0, 1.5) * _YEAR)
        return (0.15 if age < 35 else 0.055 if age < 65 else 0.03), formed

    def _children(
        self, index: int, father: Person | None, mother: Person | None, count: int
    ) -> None:
        """Children born to the mother (or father) with single, twin or triplet births."""
        rng = self.rng
        parent = mother or father
        assert parent is not None
        parent_age = parent.age_on(NOW)
        at_first_birth = min(max(round(rng.gauss(30, 5)), 18), 42)
        age = parent_age - at_first_birth
        if age < 0:
            age = rng.randint(0, 2)
        born = 0
        while born < count and age >= 0:
            size = 1
            if rng.random() < POPULATION_RATES["multiple_birth_share"]:
                size = 3 if rng.random() < POPULATION_RATES["triplet_share_of_multiples"] else 2
            size = min(size, count - born)
            group = 0
            if size > 1:
                self.multiple_births += 1
                group = self.multiple_births
            first_dob: date | None = None
            for _ in range(size):
                sex = rng.choice("mf")
                surname = self.child_surname(father, mother, sex)
                given_tradition = parent.tradition
                if father is not None and mother is not None and rng.random() < 0.5:
                    given_tradition = mother.tradition
                child = self.person(
                    index,
                    "child",
                    (father or parent).tradition,
                    sex,
                    age,
                    surname,
                    local_born=True,
                    given_tradition=given_tradition,
                    father_given=father.given.own if father is not None else "",
                    mother_maiden=(mother.previous_surname or mother.surname).usual()
                    if mother is not None
                    else "",
                    dob=first_dob,
                )
                first_dob = child.dob
                child.multiple_birth = group
                born += 1
            age -= rng.randint(1, 6)

    def _family(self, index: int, tradition: str) -> tuple[float, int]:
        rng = self.rng
        mother_age = _mixture_age(rng, ((0.3, 24, 32), (0.45, 33, 45), (0.25, 46, 56)))
        father, mother = self._couple(index, tradition, mother_age)
        if father.sex == mother.sex:
            father, mother = (father, mother) if rng.random() < 0.5 else (mother, father)
        count = rng.choices((1, 2, 3, 4), weights=(0.35, 0.4, 0.18, 0.07))[0]
        self._children(index, father if father.sex == "m" else None, mother, count)
        formed = self._formed(mother_age)
        if mother.surname_changed:
            formed = mother.surname_changed - int(rng.uniform(0, 1.5) * _YEAR)
        return (0.1 if mother_age < 35 else 0.055), formed

    def _single_parent(self, index: int, tradition: str) -> tuple[float, int]:
        rng = self.rng
        age = rng.randint(22, 55)
        sex = "f" if rng.random() < 0.85 else "m"
        local = self._local_born(tradition, age)
        parent = self.person(
            index,
            "parent",
            tradition,
            sex,
            age,
            self.adult_surname(tradition, sex),
            local_born=local,
        )
        count = rng.choices((1, 2, 3), weights=(0.5, 0.35, 0.15))[0]
        if sex == "f":
            self._children(index, None, parent, count)
        else:
            self._children(index, parent, None, count)
        return 0.12, self._formed(age)

    def _multigen(self, index: int, tradition: str) -> tuple[float, int]:
        rng = self.rng
        mother_age = rng.randint(28, 55)
        father, mother = self._couple(index, tradition, mother_age)
        grand_age = max(mother_age + rng.randint(22, 35), 56)
        grand_age = min(grand_age, 95)
        paternal = rng.random() < 0.7 and father.sex == "m"
        elder = father if paternal else mother
        family_surname = elder.previous_surname or elder.surname
        grand_tradition = elder.tradition
        grandparents = 1 if rng.random() < 0.55 else 2
        for k in range(grandparents):
            if grandparents == 2:
                sex = "m" if k == 0 else "f"
            else:
                sex = "f" if rng.random() < 0.7 else "m"
            surname = self.child_surname_for_grandparent(family_surname, grand_tradition, sex)
            self.person(
                index,
                "grandparent",
                grand_tradition,
                sex,
                min(95, grand_age + (k * rng.randint(-3, 4))),
                surname,
                local_born=False,
            )
        count = rng.choices((0, 1, 2, 3), weights=(0.15, 0.35, 0.35, 0.15))[0]
        count = min(count, 6 - 2 - grandparents)
        if count:
            self._children(index, father if father.sex == "m" else None, mother, count)
        return 0.05, self._formed(mother_age)

    def child_surname_for_grandparent(self, base: Surname, tradition: str, sex: str) -> Surname:
        """The surname of the parent of someone whose surname is ``base``."""
        if base.kind == "hispanic":
            if sex == "m":
                return self.names.surname(
                    "hispanic", sex, base.forms[0], maternal=self.names.hispanic_surname()
                )
            return self.names.surname(
                "hispanic",
                sex,
                base.maternal or base.forms[0],
                maternal=self.names.hispanic_surname(),
            )
        if base.kind == "sikh":
            return self.names.surname("indian_punjabi", sex, base.family)
        if base.kind == "patronymic":
            return Surname(kind="patronymic", forms=(self.names.any_given(tradition, "m", 1930),))
        family = base.family or base.forms[0]
        return Surname(kind="plain", forms=plain_forms(family, tradition, sex), family=family)

    def _shared(self, index: int, tradition: str) -> tuple[float, int]:
        rng = self.rng
        count = rng.choices((2, 3, 4), weights=(0.5, 0.35, 0.15))[0]
        for k in range(count):
            member_tradition = tradition if k == 0 else self.tradition()
            age = rng.randint(19, 38)
            sex = rng.choice("mf")
            self.person(
                index,
                "head" if k == 0 else "housemate",
                member_tradition,
                sex,
                age,
                self.adult_surname(member_tradition, sex),
                local_born=self._local_born(member_tradition, age),
            )
        return 0.25, NOW - int(rng.uniform(0.2, 6) * _YEAR)

    def _formed(self, age: int) -> int:
        """When the household formed: recently for young adults, long ago for others."""
        rng = self.rng
        if age < 32:
            return NOW - int(rng.uniform(0.2, max(0.5, min(12.0, age - 18))) * _YEAR)
        if age < 45 and rng.random() < 0.3:
            return NOW - int(rng.uniform(0.5, 10) * _YEAR)
        return _EARLIEST

    def _local_born(self, tradition: str, age: int) -> bool:
        if tradition == "anglo":
            return True
        return self.rng.random() < (0.7 if age < 25 else 0.35 if age < 45 else 0.1)


def _last_before(periods: list[Residence], day: int) -> Residence:
    before = [r for r in periods if r.start < day]
    return before[-1] if before else periods[0]


def _mixture_age(rng: random.Random, parts: tuple[tuple[float, int, int], ...]) -> int:
    point = rng.random() * sum(p[0] for p in parts)
    for weight, low, high in parts:
        if point < weight:
            return rng.randint(low, high)
        point -= weight
    return rng.randint(parts[-1][1], parts[-1][2])


def _poisson(rng: random.Random, mean: float) -> int:
    limit = math.exp(-mean)
    count, product = 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def build_population(people: int, seed: int) -> Population:
    """``people`` persons in households, deterministic for ``seed``."""
    rng = random.Random(seed)
    metro = _build_metro(rng, people)
    builder = _Builder(rng, metro)
    while len(builder.people) < people:
        builder.household(people - len(builder.people))
    for person in builder.people:
        person.person_id = f"P{person.index:07d}"
    multiple = len({p.multiple_birth for p in builder.people if p.multiple_birth})
    return Population(metro, builder.people, builder.households, builder.kinds, multiple)
