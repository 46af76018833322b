"""How one agency's record of a person comes to differ from the person (``faker_us``).

An :class:`Observation` is what a clerk or officer took down at one contact: the person
as they were then (an earlier address, a maiden name, an old phone number) seen through
the errors of people and systems. Each error has its own per-record rate; the ones that
differ between systems are in :class:`SystemTraits`, the others in :class:`ErrorRates`.
Records that are a second registration of the same person in one agency (duplicates)
get the name and date-of-birth errors at :data:`DUPLICATE_BOOST` times the rate: a
duplicate is made when the search for the existing record fails.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Final, Literal, TypeAlias

from benchmarks.scenarios.faker_us._names import NICKNAMES, USPS_SUFFIXES, keyboard_typo
from benchmarks.scenarios.faker_us._population import Address, AddressBook, Person

__all__ = ["DUPLICATE_BOOST", "ErrorModel", "ErrorRates", "Observation", "SystemTraits"]

DUPLICATE_BOOST: Final = 2.0
SecondaryStyle: TypeAlias = Literal["as_given", "usps"]


def _rate(value: float, doc: str) -> float:
    """A rate field whose description goes to meta.json."""
    return field(default=value, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """Per-record rates of the errors every system makes alike (each applies only to
    records where it can: a nickname needs a given name with one, and so on)."""

    nickname: float = _rate(
        0.10, "given name written as a nickname (William -> Bill), of records whose name has one"
    )
    given_name_typo: float = _rate(0.02, "one keyboard slip in the given name")
    surname_typo: float = _rate(0.025, "one keyboard slip in the surname")
    middle_dropped: float = _rate(
        0.15, "middle name left out, of records of people with one (systems with a middle field)"
    )
    double_surname_one_part: float = _rate(
        0.35, "a two-part or hyphenated surname written with one part only, of such records"
    )
    maiden_name: float = _rate(
        0.30,
        "a married woman who took her husband's name recorded under her maiden name (the record predates the marriage), of records of such women",
    )
    names_transposed: float = _rate(0.005, "given name and surname written in each other's place")
    dob_day_month_swap: float = _rate(
        0.010, "day and month swapped (only where the swap is still a real date)"
    )
    dob_digit_typo: float = _rate(0.010, "one digit of the date of birth wrong (still a real date)")
    dob_year_off_by_one: float = _rate(0.007, "year of birth off by one")
    sex_missing: float = _rate(0.02, "sex not recorded")
    phone_different: float = _rate(
        0.08, "a different phone number (an old one, the family's landline, or a new one)"
    )
    moved: float = _rate(
        0.20,
        "an earlier address of the person (moved between the agencies' contacts); the most common difference",
    )
    secondary_dropped: float = _rate(
        0.20, "the 'Apt.' / 'Suite' part of the address left out, of records of addresses with one"
    )
    street_typo: float = _rate(0.015, "one keyboard slip in the street name")
    zip_typo: float = _rate(0.005, "one digit of the ZIP code wrong")
    homeless_recorded: float = _rate(
        0.60,
        "a person who is homeless recorded as such (no address), of records of such people; the other records hold their last address",
    )


@dataclass(frozen=True, slots=True)
class SystemTraits:
    """Rates and habits that belong to one system (or to responders' queries)."""

    middle_initial_only: float = field(
        metadata={"doc": "the middle name written as its initial, of records of people with one"}
    )
    suffix_in_surname: float = field(
        metadata={
            "doc": "a Jr / Sr / II / III typed into the surname field, of records of people with one"
        }
    )
    suffix_column: bool = field(
        metadata={
            "doc": "the system has a suffix column of its own (otherwise an unappended suffix is lost)"
        }
    )
    street_abbreviated: float = field(
        metadata={"doc": "the street suffix written as its USPS abbreviation (Lake -> LK)"}
    )
    secondary_style: SecondaryStyle = field(
        metadata={
            "doc": "how 'Apt. 915' is written: as the person gave it, or USPS style ('APT 915')"
        }
    )
    phone_missing: float = field(
        metadata={"doc": "phone not recorded (of records of people with a phone)"}
    )
    dob_missing: float = field(metadata={"doc": "date of birth not recorded"})
    zip_plus_four: float = field(
        default=0.0,
        metadata={
            "doc": "a ZIP+4 code ('89415-2231') from address verification instead of the 5-digit ZIP"
        },
    )
    records_phone: bool = field(
        default=True,
        metadata={
            "doc": "the system records a phone number (errors in it are counted only where it does)"
        },
    )
    records_street: bool = field(
        default=True,
        metadata={
            "doc": "the system records a street line (errors in it are counted only where it does)"
        },
    )


@dataclass(frozen=True, slots=True)
class Observation:
    """One record's view of a person, before the system formats it."""

    given_name: str
    middle_name: str
    surname: str
    suffix: str  # for the system's suffix column; "" when typed into the surname or lost
    date_of_birth: date | None
    sex: str | None  # "m", "f" or None
    phone: str | None  # ten digits
    address: Address | None  # None: recorded as homeless
    contact_date: date


def _swap_day_month(born: date) -> date | None:
    if born.day > 12 or born.day == born.month:
        return None
    return born.replace(month=born.day, day=born.month)


def _year_off(born: date, rng: random.Random) -> date:
    year = born.year + rng.choice((-1, 1))
    day = 28 if (born.month, born.day) == (2, 29) else born.day
    return born.replace(year=year, day=day)


def _digit_typo(born: date, rng: random.Random, latest: date) -> date | None:
    """One digit of YYYYMMDD changed, keeping a real date between 1900 and ``latest``."""
    text = born.strftime("%Y%m%d")
    for _ in range(20):
        position = rng.randrange(2, 8)  # a slip in the century digits is implausible
        digit = rng.choice([d for d in "0123456789" if d != text[position]])
        typed = text[:position] + digit + text[position + 1 :]
        try:
            candidate = date(int(typed[:4]), int(typed[4:6]), int(typed[6:]))
        except ValueError:
            continue
        if date(1900, 1, 1) <= candidate <= latest:
            return candidate
    return None


def _abbreviate_street(line1: str) -> str:
    number, _, rest = line1.partition(" ")
    words = rest.split(" ")
    if words and words[-1] in USPS_SUFFIXES:
        words[-1] = USPS_SUFFIXES[words[-1]].capitalize()  # upper-case systems upper it all
    return " ".join([number, *words])


def _usps_secondary(line2: str) -> str:
    kind, _, number = line2.partition(" ")
    return f"{'Ste' if kind.startswith('Suite') else 'Apt'} {number}"


def _plus_four(address: Address) -> str:
    """A fixed ZIP+4 extension for an address (the same address always gets the same)."""
    return f"{zlib.crc32(address.street.encode()) % 10000:04d}"


def _zip_typo(code: str, rng: random.Random) -> str:
    position = rng.randrange(2, 5)  # the first digits locate the state and rarely slip
    digit = rng.choice([d for d in "0123456789" if d != code[position]])
    return code[:position] + digit + code[position + 1 :]


class ErrorModel:
    """Makes observations of people; counts each error it makes in ``tally``."""

    def __init__(self, rng: random.Random, addresses: AddressBook, rates: ErrorRates) -> None:
        self._rng = rng
        self._addresses = addresses
        self.rates = rates
        self.tally: Counter[str] = Counter()

    def _other_phone(self, person: Person) -> str:
        rng = self._rng
        if person.old_phone and rng.random() < 0.6:
            return person.old_phone
        home = person.household.home_phone
        if home and home != person.phone and rng.random() < 0.5:
            return home
        digits = person.phone[:3] + f"{rng.randrange(2, 10)}{rng.randrange(10**6):06d}"
        return digits if digits != person.phone else person.phone[:3] + "5550100"

    def _address(self, person: Person, traits: SystemTraits, tally: Counter[str]) -> Address | None:
        rng, rates = self._rng, self.rates
        if person.homeless and rng.random() < rates.homeless_recorded:
            tally["homeless_recorded"] += 1
            return None
        address = person.household.address
        if rng.random() < rates.moved:
            previous = person.household.previous
            if not previous or rng.random() < 0.15:
                previous.append(self._addresses.previous())
            address = rng.choice(previous)
            tally["moved"] += 1
        line1, line2, code = address.line1, address.line2, address.zip_code
        if not traits.records_street:
            line1 = line2 = ""
        if line2 and rng.random() < rates.secondary_dropped:
            line2 = ""
            tally["secondary_dropped"] += 1
        if line1 and rng.random() < rates.street_typo:
            number, _, street = line1.partition(" ")
            line1 = f"{number} {keyboard_typo(street, rng)}"
            tally["street_typo"] += 1
        if line1 and rng.random() < traits.street_abbreviated:
            line1 = _abbreviate_street(line1)
            tally["street_abbreviated"] += 1
        if line2 and traits.secondary_style == "usps":
            line2 = _usps_secondary(line2)
        if rng.random() < rates.zip_typo:
            code = _zip_typo(code, rng)
            tally["zip_typo"] += 1
        if rng.random() < traits.zip_plus_four:
            code = f"{code}-{_plus_four(address)}"
            tally["zip_plus_four"] += 1
        return replace(address, line1=line1, line2=line2, zip_code=code)

    def _date_of_birth(
        self, person: Person, traits: SystemTraits, boost: float, tally: Counter[str], today: date
    ) -> date | None:
        rng, rates = self._rng, self.rates
        born = person.date_of_birth
        if rng.random() < traits.dob_missing:
            tally["dob_missing"] += 1
            return None
        if rng.random() < rates.dob_day_month_swap * boost:
            swapped = _swap_day_month(born)
            if swapped is not None:
                tally["dob_day_month_swap"] += 1
                return swapped
        if rng.random() < rates.dob_digit_typo * boost:
            typed = _digit_typo(born, rng, today)
            if typed is not None:
                tally["dob_digit_typo"] += 1
                return typed
        if rng.random() < rates.dob_year_off_by_one * boost:
            tally["dob_year_off_by_one"] += 1
            return _year_off(born, rng)
        return born

    def observe(
        self,
        person: Person,
        traits: SystemTraits,
        contact_date: date,
        *,
        boost: float = 1.0,
        tally: Counter[str] | None = None,
    ) -> Observation:
        """One record of ``person`` made on ``contact_date`` by a system with ``traits``."""
        rng, rates = self._rng, self.rates
        counts = self.tally if tally is None else tally
        surname = person.surname
        if person.maiden_name and rng.random() < rates.maiden_name:
            surname = person.maiden_name
            counts["maiden_name"] += 1
        elif len(person.surname_parts) > 1 and rng.random() < rates.double_surname_one_part:
            hyphenated = "-" in person.surname
            first_share = 0.4 if hyphenated else 0.75
            surname = person.surname_parts[0 if rng.random() < first_share else 1]
            counts["double_surname_one_part"] += 1
        given = person.given_name
        nicknames = NICKNAMES.get(given)
        if nicknames and rng.random() < rates.nickname * boost:
            given = rng.choice(nicknames)
            counts["nickname"] += 1
        middle = person.middle_name
        if middle:
            if rng.random() < rates.middle_dropped * boost:
                middle = ""
                counts["middle_dropped"] += 1
            elif rng.random() < traits.middle_initial_only:
                middle = middle[0]
                counts["middle_initial_only"] += 1
        suffix = ""
        if person.suffix:
            if rng.random() < traits.suffix_in_surname:
                surname = f"{surname} {person.suffix}"
                counts["suffix_in_surname"] += 1
            elif traits.suffix_column and rng.random() < 0.8:
                suffix = person.suffix
        if rng.random() < rates.given_name_typo * boost:
            given = keyboard_typo(given, rng)
            counts["given_name_typo"] += 1
        if rng.random() < rates.surname_typo * boost:
            surname = keyboard_typo(surname, rng)
            counts["surname_typo"] += 1
        if rng.random() < rates.names_transposed * boost:
            given, surname = surname, given
            counts["names_transposed"] += 1
        sex: str | None = person.sex
        if rng.random() < rates.sex_missing:
            sex = None
            counts["sex_missing"] += 1
        phone: str | None = person.phone if traits.records_phone and person.phone else None
        if phone is not None:
            if rng.random() < traits.phone_missing:
                phone = None
                counts["phone_missing"] += 1
            elif rng.random() < rates.phone_different:
                phone = self._other_phone(person)
                counts["phone_different"] += 1
        return Observation(
            given_name=given,
            middle_name=middle,
            surname=surname,
            suffix=suffix,
            date_of_birth=self._date_of_birth(person, traits, boost, counts, contact_date),
            sex=sex,
            phone=phone,
            address=self._address(person, traits, counts),
            contact_date=contact_date,
        )
