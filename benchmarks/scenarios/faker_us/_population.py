"""The synthetic county's people, households and addresses (``faker_us``).

Assumptions (all numbers are in :data:`HOUSEHOLD_MIX` and the constants below, and go to
``meta.json``):

* One US county (Harmon County, Nevada, fictional) with a dozen towns whose names, ZIP
  codes and streets come from Faker ``en_US``; most people live in the county, some
  addresses (mainly earlier ones) are out of state.
* People are 14-90 years old on :data:`REFERENCE_DATE`. About 86 % live alone (as far as
  the agencies can tell); the rest share an address with family: married couples (most
  wives take the husband's surname, some hyphenate, some keep their own), couples or
  single parents with teenage or adult children, and twins (same surname, date of birth
  and address, different and sometimes similar given names: Jayden / Jaden).
* Given names are sex-appropriate and, like surnames, drawn by Faker with US
  frequencies, so common names recur. Most people have a middle name; a few men are Jr,
  Sr, II or III (fathers and sons of one household among them); a few families have a
  Hispanic two-part surname.
* Each person has a propensity to use the county's services (low / medium / high),
  which drives which agencies hold them; a few high-propensity people are homeless.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final, Literal, TypeAlias

from faker import Faker

from benchmarks.scenarios.faker_us._names import HISPANIC_SURNAMES, SIMILAR_TWIN_NAMES

__all__ = [
    "HOME_STATE",
    "HOUSEHOLD_MIX",
    "REFERENCE_DATE",
    "Address",
    "AddressBook",
    "Household",
    "Person",
    "PopulationBuilder",
    "Propensity",
    "Sex",
]

Sex: TypeAlias = Literal["m", "f"]
Propensity: TypeAlias = Literal["low", "medium", "high"]

REFERENCE_DATE: Final = date(2025, 6, 30)
COUNTY_NAME: Final = "Harmon County"
HOME_STATE: Final = "NV"
HOME_AREA_CODES: Final = ("702", "702", "702", "725")  # Las Vegas area; 702 is the older one
#: Area codes of cell numbers that people brought with them from elsewhere.
OTHER_AREA_CODES: Final = (
    "213", "310", "415", "480", "503", "602", "619", "775", "801", "909", "916", "208",
    "303", "312", "404", "512", "617", "713", "206", "305",
)  # fmt: skip
TOWNS: Final = 12
ZIPS_PER_TOWN: Final = (1, 4)
#: Streets in the county per resident (neighbours share street names).
STREETS_PER_PERSON: Final = 1 / 12
SECONDARY_ADDRESS_RATE: Final = 0.35  # flats: "Apt. 915" / "Suite 158" (Faker's words)
IN_COUNTY_CURRENT: Final = 0.95
IN_COUNTY_PREVIOUS: Final = 0.65

#: Household kinds and their probabilities (per household, not per person).
HOUSEHOLD_MIX: Final[dict[str, float]] = {
    "single": 0.9405,
    "couple": 0.028,
    "couple_with_children": 0.018,
    "single_parent_with_children": 0.012,
    "adult_twins": 0.0015,
}
TWIN_CHILDREN_RATE: Final = 0.15  # share of families with children whose first two are twins
SIMILAR_TWIN_NAME_RATE: Final = 0.35  # same-sex twins with similar given names
MIDDLE_NAME_RATE: Final = 0.82
DOUBLE_SURNAME_RATE: Final = 0.025  # household founders with a Hispanic two-part surname
WIFE_SURNAME: Final[dict[str, float]] = {"took": 0.75, "hyphenated": 0.10, "kept": 0.15}
JUNIOR_SON_RATE: Final = 0.20  # a grown son named after his father (father Sr, son Jr)
OTHER_SUFFIX_RATE: Final = 0.015  # other men with Jr / II / III
HAS_PHONE_RATE: Final = 0.93
OUT_OF_AREA_PHONE_RATE: Final = 0.15
OLD_PHONE_RATE: Final = 0.45  # people with an earlier number that some record may hold
SHARED_HOME_PHONE_RATE: Final = 0.35  # family households with a landline some give
PROPENSITY_MIX: Final[dict[Propensity, float]] = {"low": 0.45, "medium": 0.35, "high": 0.20}
HOMELESS_RATE: Final[dict[Propensity, float]] = {"low": 0.0, "medium": 0.01, "high": 0.07}


@dataclass(frozen=True, slots=True)
class Address:
    """A postal address; ``line2`` is the secondary part ("Apt. 915") or empty."""

    line1: str
    line2: str
    city: str
    state: str
    zip_code: str

    @property
    def street(self) -> str:
        """Both lines as one street line, as people write it."""
        return f"{self.line1} {self.line2}" if self.line2 else self.line1


@dataclass(slots=True)
class Household:
    """People at one address; ``previous`` are the household's earlier addresses."""

    household_id: str
    address: Address
    previous: list[Address] = field(default_factory=list)
    home_phone: str = ""


@dataclass(slots=True)
class Person:
    """One synthetic person as they are on :data:`REFERENCE_DATE`."""

    person_id: str
    sex: Sex
    given_name: str
    middle_name: str  # "" for none
    surname: str  # legal surname now; "Garcia Lopez" or "Smith-Jones" for two-part ones
    surname_parts: tuple[str, ...]
    maiden_name: str  # a married woman's birth surname when she changed it, else ""
    suffix: str  # "", "Jr", "Sr", "II", "III"
    date_of_birth: date
    household: Household
    phone: str  # ten digits, "" for none
    old_phone: str
    propensity: Propensity
    homeless: bool = False
    twin_of: str = ""

    @property
    def age(self) -> int:
        """Age in whole years on :data:`REFERENCE_DATE`."""
        born = self.date_of_birth
        before_birthday = (REFERENCE_DATE.month, REFERENCE_DATE.day) < (born.month, born.day)
        return REFERENCE_DATE.year - born.year - int(before_birthday)


class AddressBook:
    """The county's towns, ZIP codes and streets, and the addresses built from them."""

    def __init__(self, fake: Faker, rng: random.Random, people: int) -> None:
        self._fake = fake
        self._rng = rng
        towns: list[str] = []
        while len(towns) < TOWNS:
            town = fake.city()
            if town not in towns:
                towns.append(town)
        self.towns = towns
        self.zips: dict[str, list[str]] = {}
        used: set[str] = set()
        for town in towns:
            codes: list[str] = []
            for _ in range(rng.randint(*ZIPS_PER_TOWN)):
                code = fake.zipcode_in_state(HOME_STATE)
                while code in used:
                    code = fake.zipcode_in_state(HOME_STATE)
                used.add(code)
                codes.append(code)
            self.zips[town] = codes
        # the county seat is the first and largest town
        self._town_weights = [3.0] + [rng.uniform(0.3, 1.5) for _ in towns[1:]]
        self.streets: list[tuple[str, str, str]] = []  # (street name, town, zip)
        for _ in range(max(30, round(people * STREETS_PER_PERSON))):
            town = rng.choices(towns, self._town_weights)[0]
            self.streets.append((fake.street_name(), town, rng.choice(self.zips[town])))

    @property
    def county_seat(self) -> tuple[str, str]:
        """The county seat and its first ZIP code (where homeless people are recorded)."""
        seat = self.towns[0]
        return seat, self.zips[seat][0]

    def _secondary(self) -> str:
        return self._fake.secondary_address() if self._rng.random() < SECONDARY_ADDRESS_RATE else ""

    def in_county(self) -> Address:
        """A residential address in the county."""
        street, town, code = self._rng.choice(self.streets)
        return Address(
            f"{self._fake.building_number()} {street}", self._secondary(), town, HOME_STATE, code
        )

    def elsewhere(self) -> Address:
        """An address out of state (people who moved here, or live elsewhere now)."""
        state = self._fake.state_abbr(include_territories=False)
        while state == HOME_STATE:
            state = self._fake.state_abbr(include_territories=False)
        return Address(
            f"{self._fake.building_number()} {self._fake.street_name()}",
            self._secondary(),
            self._fake.city(),
            state,
            self._fake.zipcode_in_state(state),
        )

    def current(self) -> Address:
        """Where a household lives now."""
        return self.in_county() if self._rng.random() < IN_COUNTY_CURRENT else self.elsewhere()

    def previous(self) -> Address:
        """An earlier address of a household."""
        return self.in_county() if self._rng.random() < IN_COUNTY_PREVIOUS else self.elsewhere()


def _age_weight(age: int) -> float:
    if age < 65:
        return 1.0
    if age < 75:
        return 0.8
    if age < 85:
        return 0.5
    return 0.25


_ADULT_AGES: Final = tuple(range(18, 91))
_ADULT_WEIGHTS: Final = tuple(_age_weight(a) for a in _ADULT_AGES)


class PopulationBuilder:
    """Builds people household by household (deterministic for its Faker and RNG)."""

    def __init__(
        self, fake: Faker, rng: random.Random, addresses: AddressBook, id_prefix: str
    ) -> None:
        self._fake = fake
        self._rng = rng
        self._addresses = addresses
        self._prefix = id_prefix
        self._people: list[Person] = []
        self._households = 0

    # -- small draws -------------------------------------------------------------------

    def _given(self, sex: Sex) -> str:
        return self._fake.first_name_male() if sex == "m" else self._fake.first_name_female()

    def _middle(self, sex: Sex, given: str) -> str:
        if self._rng.random() >= MIDDLE_NAME_RATE:
            return ""
        middle = self._given(sex)
        while middle == given:
            middle = self._given(sex)
        return middle

    def _birth_date(self, age: int) -> date:
        """A date of birth giving ``age`` on the reference date."""
        latest = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age)
        earliest = REFERENCE_DATE.replace(year=REFERENCE_DATE.year - age - 1) + timedelta(days=1)
        return earliest + timedelta(days=self._rng.randrange((latest - earliest).days + 1))

    def _phone(self) -> str:
        rng = self._rng
        area = (
            rng.choice(OTHER_AREA_CODES)
            if rng.random() < OUT_OF_AREA_PHONE_RATE
            else rng.choice(HOME_AREA_CODES)
        )
        exchange = str(self._rng.randint(2, 9)) + self._fake.numerify("##")
        while exchange[1:] == "11":  # N11 codes are service codes, never exchanges
            exchange = str(self._rng.randint(2, 9)) + self._fake.numerify("##")
        return area + exchange + self._fake.numerify("####")

    def _family_surname(self) -> tuple[str, tuple[str, ...]]:
        if self._rng.random() < DOUBLE_SURNAME_RATE:
            first, second = self._rng.sample(HISPANIC_SURNAMES, 2)
            return f"{first} {second}", (first, second)
        surname = self._fake.last_name()
        return surname, (surname,)

    def _propensity(self) -> Propensity:
        kinds = list(PROPENSITY_MIX)
        return self._rng.choices(kinds, [PROPENSITY_MIX[k] for k in kinds])[0]

    def _household(self) -> Household:
        self._households += 1
        household = Household(f"H{self._households:06d}", self._addresses.current())
        roll = self._rng.random()
        if roll < 0.45:
            household.previous.append(self._addresses.previous())
            if roll < 0.15:
                household.previous.append(self._addresses.previous())
        return household

    def _person(
        self,
        household: Household,
        sex: Sex,
        age: int,
        surname: tuple[str, tuple[str, ...]],
        *,
        given: str | None = None,
        middle: str | None = None,
        date_of_birth: date | None = None,
        maiden_name: str = "",
        suffix: str = "",
    ) -> Person:
        rng = self._rng
        given = given or self._given(sex)
        if middle is None:
            middle = self._middle(sex, given)
        if not suffix and sex == "m" and rng.random() < OTHER_SUFFIX_RATE:
            suffix = rng.choice(("Jr", "Jr", "Jr", "II", "III"))
        phone = self._phone() if rng.random() < HAS_PHONE_RATE else ""
        if household.home_phone and (not phone or age < 18 or rng.random() < 0.3):
            phone = household.home_phone
        old_phone = self._phone() if phone and rng.random() < OLD_PHONE_RATE else ""
        person = Person(
            person_id=f"{self._prefix}{len(self._people) + 1:06d}",
            sex=sex,
            given_name=given,
            middle_name=middle,
            surname=surname[0],
            surname_parts=surname[1],
            maiden_name=maiden_name,
            suffix=suffix,
            date_of_birth=date_of_birth or self._birth_date(age),
            household=household,
            phone=phone,
            old_phone=old_phone,
            propensity=self._propensity(),
        )
        self._people.append(person)
        return person

    # -- households --------------------------------------------------------------------

    def _single(self) -> None:
        rng = self._rng
        age = rng.choices(_ADULT_AGES, _ADULT_WEIGHTS)[0]
        sex: Sex = rng.choice(("m", "f"))
        person = self._person(self._household(), sex, age, self._family_surname())
        person.homeless = rng.random() < HOMELESS_RATE[person.propensity]

    def _couple(self, husband_age: int) -> tuple[Household, Person, Person]:
        rng = self._rng
        household = self._household()
        if rng.random() < SHARED_HOME_PHONE_RATE:
            household.home_phone = self._phone()
        family = self._family_surname()
        husband = self._person(household, "m", husband_age, family)
        wife_age = min(90, max(18, husband_age + round(rng.gauss(-2.0, 3.0))))
        birth_name = self._fake.last_name()
        choice = rng.choices(list(WIFE_SURNAME), list(WIFE_SURNAME.values()))[0]
        if choice == "took":
            self._person(household, "f", wife_age, family, maiden_name=birth_name)
        elif choice == "hyphenated":
            parts = (birth_name, family[1][0])
            self._person(household, "f", wife_age, ("-".join(parts), parts), maiden_name=birth_name)
        else:
            self._person(household, "f", wife_age, (birth_name, (birth_name,)))
        return household, husband, self._people[-1]

    def _children(
        self,
        household: Household,
        parent_age: int,
        family: tuple[str, tuple[str, ...]],
        father: Person | None,
    ) -> None:
        rng = self._rng
        low = max(14, parent_age - 42)
        high = max(low, min(30, parent_age - 20))
        count = rng.choices((1, 2, 3), (0.5, 0.35, 0.15))[0]
        start = 0
        if rng.random() < TWIN_CHILDREN_RATE:
            self._twins(household, rng.randint(low, high), family)
            start = 2
        for index in range(start, count):
            sex: Sex = rng.choice(("m", "f"))
            age = rng.randint(low, high)
            if (
                index == 0
                and father is not None
                and sex == "m"
                and age >= 18
                and not father.suffix
                and rng.random() < JUNIOR_SON_RATE
            ):
                father.suffix = "Sr"
                self._person(
                    household,
                    sex,
                    age,
                    family,
                    given=father.given_name,
                    middle=father.middle_name or None,
                    suffix="Jr",
                )
            else:
                self._person(household, sex, age, family)

    def _twins(self, household: Household, age: int, family: tuple[str, tuple[str, ...]]) -> None:
        rng = self._rng
        sexes: tuple[Sex, Sex] = rng.choice((("m", "m"), ("f", "f"), ("m", "f")))
        names: tuple[str | None, str | None] = (None, None)
        if sexes[0] == sexes[1] and rng.random() < SIMILAR_TWIN_NAME_RATE:
            pair = rng.choice(SIMILAR_TWIN_NAMES[sexes[0]])
            names = (pair[0], pair[1]) if rng.random() < 0.5 else (pair[1], pair[0])
        first = self._person(household, sexes[0], age, family, given=names[0])
        second_given = names[1]
        if second_given is None:
            second_given = self._given(sexes[1])
            while second_given == first.given_name:
                second_given = self._given(sexes[1])
        second = self._person(
            household,
            sexes[1],
            age,
            family,
            given=second_given,
            date_of_birth=first.date_of_birth,
        )
        first.twin_of, second.twin_of = second.person_id, first.person_id

    def _add_household(self) -> None:
        rng = self._rng
        kind = rng.choices(list(HOUSEHOLD_MIX), list(HOUSEHOLD_MIX.values()))[0]
        if kind == "single":
            self._single()
        elif kind == "couple":
            self._couple(rng.choices(_ADULT_AGES[2:], _ADULT_WEIGHTS[2:])[0])
        elif kind == "couple_with_children":
            household, husband, wife = self._couple(rng.randint(36, 68))
            self._children(
                household,
                min(husband.age, wife.age),
                (husband.surname, husband.surname_parts),
                husband,
            )
        elif kind == "single_parent_with_children":
            household = self._household()
            if rng.random() < SHARED_HOME_PHONE_RATE:
                household.home_phone = self._phone()
            sex: Sex = "f" if rng.random() < 0.75 else "m"
            family = self._family_surname()
            parent = self._person(household, sex, rng.randint(35, 62), family)
            self._children(household, parent.age, family, parent if sex == "m" else None)
        else:
            self._twins(self._household(), rng.randint(18, 40), self._family_surname())

    def build(self, count: int) -> list[Person]:
        """``count`` people (the last household is cut short to fit)."""
        while len(self._people) < count:
            self._add_household()
        people = self._people[:count]
        kept = {p.person_id for p in people}
        for person in people:
            if person.twin_of and person.twin_of not in kept:
                person.twin_of = ""
        return people
