"""How a system observes a person on a given day: the error model of this generator.

Each agency (and the responders' noisy queries) has a :class:`Style`: the rates at which
its staff and software record an English alias instead of the official given name, a
nickname, another transliteration, a typing or hearing error, the family name first
(East Asian names), one of the forms of a two-part Hispanic or Sikh surname, a date of
birth known only to the year or month, day and month swapped, a stale address or phone,
and so on. The observation is the record's content before the agency's export format
(column layout, case, date and phone format) is applied.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from typing import Final

from benchmarks.scenarios.diverse_households._names import EAST_ASIAN, ascii_fold
from benchmarks.scenarios.diverse_households._population import Metro, Person

__all__ = [
    "Observation",
    "ObservedAddress",
    "Style",
    "observe",
    "phonetic_misspelling",
    "typo",
]


@dataclass(frozen=True, slots=True)
class Style:
    """One system's recording habits (probabilities per record unless noted)."""

    unicode: bool = False  # keeps diacritics (Nguyễn) rather than ASCII (Nguyen)
    alias: float = 0.35  # the English name is recorded, when the person has one
    alias_keeps_native_as_middle: float = 0.3
    nickname: float = 0.05
    given_variant: float = 0.1  # another transliteration / spelling of the given name
    surname_variant: float = 0.05
    typo: float = 0.02  # per name field: keyboard slip
    phonetic: float = 0.0  # per name field: written as heard
    order_swap: float = 0.05  # East Asian: family name recorded as the given name
    vietnamese_middle_in_given: float = 0.05
    #: both surnames, paternal only, hyphenated, swapped, maternal in the middle-name field
    hispanic: tuple[float, float, float, float, float] = (0.35, 0.4, 0.15, 0.05, 0.05)
    hispanic_person_form: float = 0.5  # writes it as the person does
    #: Singh/Kaur only, family name only (Singh/Kaur as middle), both
    sikh: tuple[float, float, float] = (0.4, 0.35, 0.25)
    #: father's name as surname, given name repeated, surname left empty
    patronymic: tuple[float, float, float] = (0.7, 0.3, 0.0)
    #: all middle names, the first initial only, none
    middle: tuple[float, float, float] = (0.8, 0.1, 0.1)
    masculine_surname_for_women: float = 0.05
    maiden_name_after_marriage: float = 0.1  # the record keeps the old surname
    dob_missing: float = 0.01
    dob_age_derived: float = 0.0  # the year from a stated or estimated age
    dob_year_only: float = 0.01
    year_only_mid_year: float = 0.0  # share of year-only dates recorded as 1 July
    dob_month_year: float = 0.005
    dob_swap: float = 0.01  # day and month swapped (when the day is 12 or less)
    dob_typo: float = 0.01
    sex_missing: float = 0.01
    sex_flip: float = 0.003
    records_x: bool = True  # records a non-binary gender as X
    phone_missing: float = 0.1
    phone_landline: float = 0.15  # records the landline even when there is a mobile
    phone_stale: float = 0.08
    phone_other_member: float = 0.02
    phone_typo: float = 0.015
    addr_missing: float = 0.01
    addr_stale: float = 0.08
    unit_dropped: float = 0.08
    number_typo: float = 0.01
    suburb_wrong: float = 0.02  # a neighbouring suburb
    suburb_typo: float = 0.01
    postcode_missing: float = 0.02
    postcode_typo: float = 0.01
    nfa: float = 0.05  # no fixed address, for people at risk (x3 for high risk)


@dataclass(frozen=True, slots=True)
class ObservedAddress:
    """An address as recorded: the agency's format decides how the parts are written."""

    number: str
    unit: str
    street: str
    street_type: str
    suburb: str
    postcode: str
    #: a place with no house number (a station, a park): ``street`` holds its name
    landmark: bool = False


@dataclass(slots=True)
class Observation:
    """What a system recorded about a person on one day."""

    given: str
    middles: list[str]
    surname: str
    #: (year, month, day), or None when not recorded
    dob: tuple[int, int, int] | None
    sex: str  # m, f, x or "" (not recorded)
    mobile: str  # digits or ""
    landline: str  # digits or ""
    address: ObservedAddress | None
    no_fixed_address: bool
    alias_used: bool
    nickname: str


_KEYBOARD: Final = {
    "a": "qwsz",
    "b": "vghn",
    "c": "xdfv",
    "d": "serfcx",
    "e": "wsdr",
    "f": "drtgvc",
    "g": "ftyhbv",
    "h": "gyujnb",
    "i": "ujko",
    "j": "huikmn",
    "k": "jiolm",
    "l": "kop",
    "m": "njk",
    "n": "bhjm",
    "o": "iklp",
    "p": "ol",
    "q": "wa",
    "r": "edft",
    "s": "awedxz",
    "t": "rfgy",
    "u": "yhji",
    "v": "cfgb",
    "w": "qase",
    "x": "zsdc",
    "y": "tghu",
    "z": "asx",
}
_PHONETIC_RULES: Final = (
    ("ph", "f"),
    ("f", "ph"),
    ("ck", "k"),
    ("c", "k"),
    ("k", "c"),
    ("ie", "y"),
    ("y", "ie"),
    ("ee", "i"),
    ("ou", "u"),
    ("th", "t"),
    ("gh", "g"),
    ("mm", "m"),
    ("nn", "n"),
    ("ll", "l"),
    ("ss", "s"),
    ("tt", "t"),
    ("l", "ll"),
    ("ei", "ie"),
    ("ai", "ay"),
    ("z", "s"),
    ("s", "z"),
    ("v", "w"),
    ("x", "ks"),
    ("qu", "kw"),
    ("oo", "u"),
    ("ae", "a"),
    ("kh", "k"),
    ("sh", "ch"),
    ("j", "g"),
    ("ya", "ia"),
    ("i", "ee"),
    ("a", "e"),
    ("o", "a"),
)
#: How staff who only heard a name tend to write it.
_HEARD: Final[dict[str, tuple[str, ...]]] = {
    "nguyen": ("Nguyn", "Ngyuen", "Nguen", "Win", "Nuyen", "Ngyen"),
    "huynh": ("Huyn", "Hyunh", "Win"),
    "tran": ("Trann", "Tranh"),
    "pham": ("Fam", "Phan"),
    "trinh": ("Chin", "Trin"),
    "xiaoming": ("Shaoming", "Siaoming"),
    "zhang": ("Jang", "Chang"),
    "xu": ("Shu", "Su"),
    "zhou": ("Joe", "Jo"),
    "qian": ("Chian", "Chen"),
    "siobhan": ("Shivawn",),
    "mohammed": ("Mohamed", "Muhamad", "Mohammad"),
    "muhammad": ("Mohamed", "Mohammad"),
    "kaur": ("Kor", "Kour"),
    "singh": ("Sing",),
    "hussein": ("Husain", "Husein"),
    "aleksandr": ("Alexander", "Alex"),
    "ekaterina": ("Katarina", "Catherine"),
    "yevgeny": ("Eugene", "Evgeni"),
    "oksana": ("Oxana",),
}


def typo(rng: random.Random, text: str) -> str:
    """One keyboard slip: a neighbouring key, a dropped, doubled or swapped letter."""
    positions = [i for i, ch in enumerate(text) if ch.isalpha()]
    if len(positions) < 3:
        return text
    i = rng.choice(positions[1:])  # the first letter is rarely mistyped
    ch = text[i]
    kind = rng.random()
    if kind < 0.35 and ch.lower() in _KEYBOARD:
        new = rng.choice(_KEYBOARD[ch.lower()])
        return text[:i] + (new.upper() if ch.isupper() else new) + text[i + 1 :]
    if kind < 0.6:
        return text[:i] + text[i + 1 :]
    if kind < 0.8:
        return text[:i] + ch + text[i:]
    if i + 1 < len(text) and text[i + 1].isalpha():
        return text[:i] + text[i + 1] + ch + text[i + 2 :]
    return text[:i] + text[i + 1 :]


def phonetic_misspelling(rng: random.Random, text: str) -> str:
    """The name written as heard (Nguyen -> Win, Stephen -> Steven, Kaur -> Kor)."""
    heard = _HEARD.get(text.lower())
    if heard and rng.random() < 0.7:
        return rng.choice(heard)
    lower = text.lower()
    rules = list(_PHONETIC_RULES)
    rng.shuffle(rules)
    for old, new in rules:
        at = lower.find(old, 1)
        if at > 0:
            changed = lower[:at] + new + lower[at + len(old) :]
            return changed[:1].upper() + changed[1:] if text[:1].isupper() else changed
    return typo(rng, text)


def _initial(name: str) -> str:
    return name[:1]


def _choose(rng: random.Random, weights: tuple[float, ...]) -> int:
    point = rng.random() * sum(weights)
    for index, weight in enumerate(weights):
        if point < weight:
            return index
        point -= weight
    return len(weights) - 1


def _observe_surname(
    person: Person, day: int, style: Style, rng: random.Random, middles: list[str], given: str
) -> str:
    surname = person.surname_on(day)
    if (
        person.previous_surname is not None
        and day >= person.surname_changed
        and rng.random() < style.maiden_name_after_marriage
    ):
        surname = person.previous_surname
    if surname.kind == "hispanic":
        paternal, maternal = surname.forms[0], surname.maternal
        if not maternal:
            return paternal
        form = (
            (0, 1, 2)[surname.style]
            if rng.random() < style.hispanic_person_form
            else _choose(rng, style.hispanic)
        )
        if form == 0:
            return f"{paternal} {maternal}"
        if form == 1:
            return paternal
        if form == 2:
            return f"{paternal}-{maternal}"
        if form == 3:
            return f"{maternal} {paternal}"
        middles.append(maternal)
        return paternal
    if surname.kind == "sikh":
        marker, family = surname.forms[0], surname.family
        if not family:
            return marker
        form = surname.style if rng.random() < 0.4 else _choose(rng, style.sikh)
        if form == 1:
            middles.insert(0, marker)
            return family
        if form == 2:
            return f"{marker} {family}"
        return marker
    if surname.kind == "patronymic":
        form = _choose(rng, style.patronymic)
        if form == 0:
            return surname.forms[0]
        if form == 1:
            return given
        return ""
    forms = surname.forms
    # Arabic prefixes (Al-, El, Abdul, Bin) are spelled three times as freely as other names
    variant_rate = style.surname_variant * (3 if person.tradition == "arabic" else 1)
    if len(forms) > 1 and rng.random() < variant_rate:
        return rng.choice(forms[1:])
    if (
        len(forms) > 1
        and person.sex == "f"
        and forms[-1] == surname.family
        and forms[0] != surname.family
        and rng.random() < style.masculine_surname_for_women
    ):
        return forms[-1]
    return forms[0]


def _observe_names(
    person: Person, day: int, style: Style, rng: random.Random
) -> tuple[str, list[str], str, bool, str]:
    given_name = person.given
    middles = list(person.middles)
    alias_used = bool(given_name.alias) and rng.random() < style.alias
    nickname = ""
    if given_name.nicknames:
        nickname = rng.choice(given_name.nicknames)
    if alias_used:
        given = given_name.alias
        if rng.random() < style.alias_keeps_native_as_middle:
            middles.insert(0, given_name.own)
    elif given_name.nicknames and rng.random() < style.nickname:
        given = nickname
    elif len(given_name.forms) > 1 and rng.random() < style.given_variant:
        given = rng.choice(given_name.forms[1:])
    else:
        given = given_name.own
    surname = _observe_surname(person, day, style, rng, middles, given)
    if (
        person.tradition == "vietnamese"
        and middles
        and not alias_used
        and rng.random() < style.vietnamese_middle_in_given
    ):
        given = f"{middles.pop(0)} {given}"
    if person.tradition in EAST_ASIAN and not alias_used and rng.random() < style.order_swap:
        given, surname = surname, given
    which = _choose(rng, style.middle)
    if which == 1:
        middles = [_initial(middles[0])] if middles else []
    elif which == 2:
        middles = []
    if not style.unicode:
        given, surname = ascii_fold(given), ascii_fold(surname)
        middles = [ascii_fold(m) for m in middles]
    if rng.random() < style.typo:
        given = typo(rng, given)
    if surname and rng.random() < style.typo:
        surname = typo(rng, surname)
    if rng.random() < style.phonetic:
        given = phonetic_misspelling(rng, given)
    if surname and rng.random() < style.phonetic:
        surname = phonetic_misspelling(rng, surname)
    return given, middles, surname, alias_used, nickname


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return year >= 1850


def _dob_typo(rng: random.Random, year: int, month: int, day: int) -> tuple[int, int, int]:
    for _ in range(10):
        part = rng.random()
        y, m, d = year, month, day
        if part < 0.4:
            d = (d // 10) * 10 + rng.randrange(10) if rng.random() < 0.7 else rng.randint(1, 28)
        elif part < 0.6:
            m = rng.randint(1, 12)
        elif part < 0.8:
            y = year + rng.choice((-1, 1, -10, 10))
        else:
            digits = f"{year:04d}"
            y = int(digits[:2] + digits[3] + digits[2])
        if (y, m, d) != (year, month, day) and _valid(y, m, d) and y <= 2024:
            return y, m, d
    return year, month, day


def _observe_dob(
    person: Person, day: int, style: Style, rng: random.Random
) -> tuple[int, int, int] | None:
    if rng.random() < style.dob_missing:
        return None
    year, month, dom = person.dob.year, person.dob.month, person.dob.day
    mid_year = rng.random() < style.year_only_mid_year
    if rng.random() < style.dob_age_derived:
        age = person.age_on(day)
        if rng.random() < 0.3:  # estimated rather than stated
            age = max(0, age + rng.choice((-5, -3, -2, -1, 1, 2, 3, 5)))
        return (date.fromordinal(day).year - age, 7 if mid_year else 1, 1)
    if rng.random() < style.dob_year_only:
        return (year, 7 if mid_year else 1, 1)
    if rng.random() < style.dob_month_year:
        return (year, month, 1)
    if dom <= 12 and dom != month and rng.random() < style.dob_swap:
        month, dom = dom, month
    if rng.random() < style.dob_typo:
        year, month, dom = _dob_typo(rng, year, month, dom)
    return (year, month, dom)


def _observe_sex(person: Person, style: Style, rng: random.Random) -> str:
    if rng.random() < style.sex_missing:
        return ""
    if person.gender_x and style.records_x:
        return "x"
    if rng.random() < style.sex_flip:
        return "f" if person.sex == "m" else "m"
    return person.sex


def _digit_typo(rng: random.Random, number: str) -> str:
    i = rng.randrange(2, len(number))
    if rng.random() < 0.6 or i + 1 >= len(number):
        replacement = str((int(number[i]) + rng.randint(1, 9)) % 10)
        return number[:i] + replacement + number[i + 1 :]
    return number[:i] + number[i + 1] + number[i] + number[i + 2 :]


def _observe_phones(
    person: Person, household: list[Person], day: int, style: Style, rng: random.Random
) -> tuple[str, str]:
    owner = person
    if person.age_on(day) < 14 or not person.mobile_on(day):
        adults = [p for p in household if p.age_on(day) >= 18 and p.mobile_on(day)]
        if adults and (person.age_on(day) < 14 or rng.random() < 0.3):
            owner = adults[0] if rng.random() < 0.8 else rng.choice(adults)
    mobile = owner.mobile_on(day)
    if mobile and rng.random() < style.phone_stale:
        mobile = owner.previous_mobile(day) or mobile
    if mobile and rng.random() < style.phone_other_member:
        others = [p.mobile_on(day) for p in household if p is not owner and p.mobile_on(day)]
        if others:
            mobile = rng.choice(others)
    landline = person.residence_on(day).landline
    if rng.random() < style.phone_missing:
        mobile = ""
    if rng.random() < style.phone_missing:
        landline = ""
    if mobile and rng.random() < style.phone_typo:
        mobile = _digit_typo(rng, mobile)
    if landline and rng.random() < style.phone_typo:
        landline = _digit_typo(rng, landline)
    return mobile, landline


def _observe_address(
    person: Person, day: int, style: Style, rng: random.Random, metro: Metro
) -> tuple[ObservedAddress | None, bool]:
    homeless = style.nfa * (1 if person.risk == 1 else 3)
    if person.risk and person.age_on(day) >= 16 and rng.random() < homeless:
        return None, True
    if rng.random() < style.addr_missing:
        return None, False
    index = person.residence_index_on(day)
    if index > 0 and rng.random() < style.addr_stale:
        index -= 1
    address = person.residences[index].address
    street = metro.streets[address.street]
    number = str(address.number)
    unit = str(address.unit) if address.unit else ""
    if unit and rng.random() < style.unit_dropped:
        unit = ""
    if rng.random() < style.number_typo:
        number = _number_typo(rng, number)
    suburb_index = address.suburb
    if rng.random() < style.suburb_wrong:
        suburb_index = min(max(suburb_index + rng.choice((-1, 1)), 0), len(metro.suburbs) - 1)
    suburb = metro.suburbs[suburb_index]
    suburb_name = suburb.name
    if rng.random() < style.suburb_typo:
        suburb_name = typo(rng, suburb_name)
    postcode = suburb.postcode
    if rng.random() < style.postcode_missing:
        postcode = ""
    elif rng.random() < style.postcode_typo:
        postcode = postcode[:3] + str((int(postcode[3]) + rng.randint(1, 9)) % 10)
    street_name = street.name
    if rng.random() < style.typo / 2:
        street_name = typo(rng, street_name)
    observed = ObservedAddress(number, unit, street_name, street.kind, suburb_name, postcode)
    return observed, False


def _number_typo(rng: random.Random, number: str) -> str:
    if len(number) >= 2 and rng.random() < 0.5:
        return number[::-1] if number[::-1][0] != "0" else number + "A"
    return str(max(1, int(number) + rng.choice((-2, -1, 1, 2, 10))))


def observe(
    person: Person,
    household: list[Person],
    day: int,
    style: Style,
    rng: random.Random,
    metro: Metro,
) -> Observation:
    """Everything one system records about ``person`` on ``day`` (a date ordinal)."""
    given, middles, surname, alias_used, nickname = _observe_names(person, day, style, rng)
    dob = _observe_dob(person, day, style, rng)
    sex = _observe_sex(person, style, rng)
    mobile, landline = _observe_phones(person, household, day, style, rng)
    address, nfa = _observe_address(person, day, style, rng, metro)
    return Observation(
        given=given,
        middles=middles,
        surname=surname,
        dob=dob,
        sex=sex,
        mobile=mobile,
        landline=landline,
        address=address,
        no_fixed_address=nfa,
        alias_used=alias_used,
        nickname=nickname,
    )
