"""Responder look-ups (``queries.csv``): people some agency holds, and strangers.

``known_clean`` and ``stranger_full`` describe the person as they are now (their own
spelling, every middle name, the surname as they state it, current phone and address).
``known_noisy`` is a fresh observation through :data:`RESPONDER_STYLE`: a responder
taking details over the phone or at a scene (nicknames and English names, another
transliteration, misheard names, the family name first, a date known only to the year
or with day and month swapped, an old address or phone, details not given).
"""

from __future__ import annotations

import random
from typing import Final

from benchmarks.scenarios.diverse_households._agencies import format_street
from benchmarks.scenarios.diverse_households._names import ascii_fold
from benchmarks.scenarios.diverse_households._population import WINDOW_END, Metro, Person
from benchmarks.scenarios.diverse_households._render import ObservedAddress, Style, observe

__all__ = ["QUERY_COLUMNS", "QUERY_KINDS", "RESPONDER_STYLE", "query_rows"]

QUERY_COLUMNS: Final = (
    "query_id",
    "kind",
    "person_id",
    "given_name",
    "middle_name",
    "surname",
    "date_of_birth",
    "sex",
    "phone",
    "street_address",
    "suburb",
    "postcode",
    "state",
)
QUERY_KINDS: Final = (
    "known_clean",
    "known_noisy",
    "known_name_dob",
    "stranger_full",
    "stranger_name_dob",
)

RESPONDER_STYLE: Final = Style(
    alias=0.4,
    alias_keeps_native_as_middle=0.0,
    nickname=0.15,
    given_variant=0.2,
    surname_variant=0.08,
    typo=0.05,
    phonetic=0.06,
    order_swap=0.08,
    hispanic=(0.3, 0.5, 0.1, 0.05, 0.05),
    patronymic=(0.6, 0.2, 0.2),
    middle=(0.3, 0.1, 0.6),
    maiden_name_after_marriage=0.05,
    dob_missing=0.05,
    dob_year_only=0.04,
    year_only_mid_year=0.3,
    dob_month_year=0.02,
    dob_swap=0.04,
    dob_typo=0.03,
    sex_missing=0.05,
    records_x=False,
    phone_missing=0.35,
    phone_landline=0.2,
    phone_stale=0.12,
    phone_other_member=0.05,
    phone_typo=0.03,
    addr_missing=0.15,
    addr_stale=0.15,
    unit_dropped=0.2,
    number_typo=0.02,
    suburb_wrong=0.03,
    suburb_typo=0.02,
    postcode_missing=0.3,
    postcode_typo=0.02,
    nfa=0.05,
)


def _iso(dob: tuple[int, int, int] | None) -> str:
    return "" if dob is None else f"{dob[0]:04d}-{dob[1]:02d}-{dob[2]:02d}"


def _sex(code: str) -> str:
    return code if code in ("m", "f") else ""


def _clean(person: Person, metro: Metro, *, full: bool) -> list[str]:
    """The person as they are now, in their own words."""
    born = person.dob
    names = [
        ascii_fold(person.given.own),
        ascii_fold(" ".join(person.middles)),
        ascii_fold(person.surname.usual()),
        f"{born.year:04d}-{born.month:02d}-{born.day:02d}",
    ]
    if not full:
        return [*names, "", "", "", "", "", ""]
    residence = person.residence_on(WINDOW_END)
    address = residence.address
    street = metro.streets[address.street]
    suburb = metro.suburbs[address.suburb]
    observed = ObservedAddress(
        str(address.number),
        str(address.unit) if address.unit else "",
        street.name,
        street.kind,
        suburb.name,
        suburb.postcode,
    )
    return [
        *names,
        "x" if person.gender_x else person.sex,
        person.mobile_on(WINDOW_END) or residence.landline,
        format_street(observed, abbreviate=False, unit_style="slash"),
        suburb.name,
        suburb.postcode,
        metro.state,
    ]


def _noisy(person: Person, household: list[Person], metro: Metro, rng: random.Random) -> list[str]:
    obs = observe(person, household, WINDOW_END, RESPONDER_STYLE, rng, metro)
    phone = obs.mobile or obs.landline
    street = suburb = postcode = state = ""
    if obs.address is not None and not obs.no_fixed_address:
        street = format_street(obs.address, abbreviate=rng.random() < 0.5, unit_style="slash")
        suburb, postcode, state = obs.address.suburb, obs.address.postcode, metro.state
    return [
        obs.given,
        " ".join(obs.middles),
        obs.surname,
        _iso(obs.dob),
        _sex(obs.sex),
        phone,
        street,
        suburb,
        postcode,
        state,
    ]


def query_rows(
    known: list[Person],
    strangers: list[Person],
    households: dict[int, list[Person]],
    metro: Metro,
    rng: random.Random,
    per_kind: int,
) -> list[list[str]]:
    """``per_kind`` queries of each kind (known people drawn without replacement where
    there are enough; ``strangers`` holds ``2 * per_kind`` people no agency holds)."""
    rows: list[list[str]] = []

    def sample(pool: list[Person]) -> list[Person]:
        if len(pool) >= per_kind:
            return rng.sample(pool, per_kind)
        return [rng.choice(pool) for _ in range(per_kind)] if pool else []

    def add(kind: str, person: Person, values: list[str]) -> None:
        person_id = person.person_id if kind.startswith("known") else ""
        values[4] = _sex(values[4])
        rows.append([f"q{len(rows) + 1:05d}", kind, person_id, *values])

    for person in sample(known):
        add("known_clean", person, _clean(person, metro, full=True))
    for person in sample(known):
        add("known_noisy", person, _noisy(person, households[person.household], metro, rng))
    for person in sample(known):
        add("known_name_dob", person, _clean(person, metro, full=False))
    for person in strangers[:per_kind]:
        add("stranger_full", person, _clean(person, metro, full=True))
    for person in strangers[per_kind : 2 * per_kind]:
        add("stranger_name_dob", person, _clean(person, metro, full=False))
    return rows
