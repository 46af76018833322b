"""Build and write one ``faker_us`` scenario (see the package docstring for the assumptions).

Three independent random streams, all derived from the seed: Faker (``seed_instance``)
for names, places and numbers, one :class:`random.Random` for the population, one for
the agencies' records and one for the queries; so the population does not change when
the record model does.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import faker
from faker import Faker

from benchmarks.scenarios.faker_us import _population as population
from benchmarks.scenarios.faker_us._agencies import (
    AGENCIES,
    QUERY_TRAITS,
    AgencySpec,
    RenderContext,
)
from benchmarks.scenarios.faker_us._errors import (
    DUPLICATE_BOOST,
    ErrorModel,
    ErrorRates,
    Observation,
)
from benchmarks.scenarios.faker_us._names import NICKNAMES
from benchmarks.scenarios.faker_us._population import (
    REFERENCE_DATE,
    AddressBook,
    Person,
    PopulationBuilder,
)

__all__ = ["QUERY_COLUMNS", "QUERY_KINDS", "Scenario", "build_scenario", "write_scenario"]

GENERATOR: Final = "faker_us"
QUERY_KINDS: Final = (
    "known_clean",
    "known_noisy",
    "known_name_dob",
    "stranger_full",
    "stranger_name_dob",
)
QUERY_COLUMNS: Final = (
    "query_id", "kind", "person_id", "given_name", "middle_name", "surname", "date_of_birth",
    "sex", "phone", "street_address", "suburb", "postcode", "state",
)  # fmt: skip
FIRST_CONTACT: Final = date(2016, 1, 1)
MIN_CONTACT_AGE: Final = 12
THIRD_RECORD_SHARE: Final = 0.10  # of duplicated people, those registered three times


@dataclass(frozen=True, slots=True)
class ExportRecord:
    """One row of an agency's export and the person it describes."""

    agency_id: str
    local_id: str
    person_id: str
    row: list[str]


@dataclass(slots=True)
class Scenario:
    """A whole scenario in memory: what :func:`write_scenario` writes, and the people."""

    people: list[Person]
    strangers: list[Person]
    exports: dict[str, list[ExportRecord]]
    queries: list[dict[str, str]]
    meta: dict[str, Any]


def _contact_date(person: Person, rng: random.Random) -> date:
    earliest = max(
        FIRST_CONTACT,
        person.date_of_birth.replace(
            year=person.date_of_birth.year + MIN_CONTACT_AGE,
            day=min(person.date_of_birth.day, 28),
        ),
    )
    return earliest + timedelta(days=rng.randrange((REFERENCE_DATE - earliest).days + 1))


def _agency_records(
    agency: AgencySpec,
    people: list[Person],
    model: ErrorModel,
    rng: random.Random,
    addresses: AddressBook,
) -> tuple[list[ExportRecord], Counter[str]]:
    tally: Counter[str] = Counter()
    observed: list[tuple[Person, Observation]] = []
    for person in people:
        if rng.random() >= agency.coverage_of(person.propensity, person.age):
            continue
        copies = 1
        if rng.random() < agency.duplicate_rate:
            copies = 3 if rng.random() < THIRD_RECORD_SHARE else 2
        for copy in range(copies):
            boost = 1.0 if copy == 0 else DUPLICATE_BOOST
            observation = model.observe(
                person, agency.traits, _contact_date(person, rng), boost=boost, tally=tally
            )
            observed.append((person, observation))
            if copy:
                tally["duplicate_record"] += 1
    rng.shuffle(observed)
    low, high = agency.id_range
    numbers = sorted(rng.sample(range(low, high + 1), len(observed)))
    seat, seat_zip = addresses.county_seat
    records: list[ExportRecord] = []
    for number, (person, observation) in zip(numbers, observed, strict=True):
        local_id = agency.id_format.format(number)
        context = RenderContext(local_id, rng, seat, seat_zip)
        records.append(
            ExportRecord(
                agency.agency_id, local_id, person.person_id, agency.render(observation, context)
            )
        )
    return records, tally


def _query_row(query_id: str, kind: str, person_id: str, **values: str) -> dict[str, str]:
    row = dict.fromkeys(QUERY_COLUMNS, "")
    row.update(query_id=query_id, kind=kind, person_id=person_id, **values)
    return row


def _clean_values(person: Person, *, full: bool) -> dict[str, str]:
    values = {
        "given_name": person.given_name,
        "middle_name": person.middle_name,
        "surname": person.surname,
        "date_of_birth": person.date_of_birth.isoformat(),
    }
    if full:
        values["sex"] = person.sex
        values["phone"] = person.phone
        if not person.homeless:
            address = person.household.address
            values.update(
                street_address=address.street,
                suburb=address.city,
                postcode=address.zip_code,
                state=address.state,
            )
    return values


def _noisy_values(observation: Observation) -> dict[str, str]:
    values = {
        "given_name": observation.given_name,
        "middle_name": observation.middle_name,
        "surname": observation.surname,
        "date_of_birth": (
            "" if observation.date_of_birth is None else observation.date_of_birth.isoformat()
        ),
        "sex": observation.sex or "",
        "phone": observation.phone or "",
    }
    address = observation.address
    if address is not None:
        values.update(
            street_address=address.street,
            suburb=address.city,
            postcode=address.zip_code,
            state=address.state,
        )
    return values


def _queries(
    held: list[Person],
    strangers: list[Person],
    per_kind: int,
    model: ErrorModel,
    rng: random.Random,
) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []

    def add(kind: str, person_id: str, values: dict[str, str]) -> None:
        rows.append(_query_row(f"q{len(rows) + 1:05d}", kind, person_id, **values))

    count = min(per_kind, len(held))
    for person in rng.sample(held, count):
        add("known_clean", person.person_id, _clean_values(person, full=True))
    for person in rng.sample(held, count):
        observation = model.observe(person, QUERY_TRAITS, REFERENCE_DATE)
        add("known_noisy", person.person_id, _noisy_values(observation))
    for person in rng.sample(held, count):
        add("known_name_dob", person.person_id, _clean_values(person, full=False))
    for person in strangers[:per_kind]:
        add("stranger_full", "", _clean_values(person, full=True))
    for person in strangers[per_kind : 2 * per_kind]:
        add("stranger_name_dob", "", _clean_values(person, full=False))
    return rows


def _population_summary(people: list[Person]) -> dict[str, Any]:
    at_address = Counter(p.household.household_id for p in people)
    shared = sum(1 for p in people if at_address[p.household.household_id] > 1)
    ages = [p.age for p in people]
    return {
        "people": len(people),
        "share_address_with_family": round(shared / len(people), 4),
        "twins": round(sum(1 for p in people if p.twin_of) / len(people), 4),
        "married_women_with_maiden_name": sum(1 for p in people if p.maiden_name),
        "two_part_surnames": sum(1 for p in people if len(p.surname_parts) > 1),
        "with_suffix": sum(1 for p in people if p.suffix),
        "with_middle_name": round(sum(1 for p in people if p.middle_name) / len(people), 4),
        "with_nickname_form": round(
            sum(1 for p in people if p.given_name in NICKNAMES) / len(people), 4
        ),
        "with_phone": round(sum(1 for p in people if p.phone) / len(people), 4),
        "homeless": sum(1 for p in people if p.homeless),
        "age_min": min(ages),
        "age_max": max(ages),
        "propensity": dict(sorted(Counter(p.propensity for p in people).items())),
        "distinct_surnames": len({p.surname for p in people}),
        "distinct_given_names": len({p.given_name for p in people}),
    }


def _linkage_summary(exports: dict[str, list[ExportRecord]], people: int) -> dict[str, Any]:
    per_person: Counter[str] = Counter()
    per_person_agency: Counter[tuple[str, str]] = Counter()
    agencies_of: dict[str, set[str]] = {}
    for agency_id, records in exports.items():
        for record in records:
            per_person[record.person_id] += 1
            per_person_agency[(record.person_id, agency_id)] += 1
            agencies_of.setdefault(record.person_id, set()).add(agency_id)
    total_pairs = sum(n * (n - 1) // 2 for n in per_person.values())
    within_pairs = sum(n * (n - 1) // 2 for n in per_person_agency.values())
    by_count = Counter(len(a) for a in agencies_of.values())
    by_count[0] = people - len(agencies_of)
    return {
        "records": {agency_id: len(records) for agency_id, records in exports.items()},
        "records_total": sum(len(records) for records in exports.values()),
        "people_held": len(agencies_of),
        "people_by_number_of_agencies": {str(k): by_count[k] for k in sorted(by_count)},
        "true_pairs": {
            "total": total_pairs,
            "within_agency": within_pairs,
            "across_agencies": total_pairs - within_pairs,
        },
    }


def _assumptions() -> list[str]:
    return [
        "A fictional US county (Harmon County, NV): a dozen towns with Faker en_US names, "
        "NV ZIP codes from Faker, a shared pool of Faker street names; most people live in "
        "the county, earlier addresses are more often out of state.",
        f"People are 14-90 years old on {REFERENCE_DATE.isoformat()}; given names are "
        "sex-appropriate and, like surnames, drawn with Faker's US frequencies.",
        "About 14 % share an address with family: couples with one surname (most wives took "
        "the husband's; some hyphenate; some keep theirs), parents with teenage or adult "
        "children, about 1 % twins (same surname, DOB, address; a third of same-sex twins "
        "have similar names such as Jayden/Jaden). Grown sons named after their father are "
        "Jr with the father Sr.",
        "A person's propensity to use services (low/medium/high) sets which agencies hold "
        "them; agencies are correlated through it. A few high-propensity people are homeless.",
        "Each agency record is an observation made on a contact date between 2016 and the "
        "reference date, with per-record errors at the rates below; a person registered twice "
        "in one agency gets name and DOB errors at DUPLICATE_BOOST times the rate.",
        "The police ADDRESS column holds street, city, state and ZIP in one value; the only "
        "option the client offers is to map it whole to street_address, which the mapping does.",
        "known_noisy queries are fresh observations through the same error model, with a "
        "responder's habits (phone often unknown, no street abbreviations).",
        "Strangers are extra people from the same population process, never exported.",
    ]


def _mapping_notes() -> list[str]:
    return [
        "harmon-metro-pd ADDRESS ('38454 MELVIN LK APT 915, ALANCHESTER, NV 89415') is "
        "mapped whole to street_address: the client cannot split a one-column address into "
        "street, suburb, state and postcode, so those stay missing for police records.",
        "USPS street-suffix abbreviations (LK for Lake) of the police and hospital records, and "
        "'APT 915' for 'Apt. 915', map without rejection but the client has no option to "
        "expand or standardise them.",
        "ZIP+4 codes ('89415-2231') of some hospital records map to postcode as written; the "
        "client has no option to keep only the first five digits.",
        "The hospital and mental-health suffix columns (Jr, Sr, II, III) have no schema "
        "feature and are not mapped.",
        "The substance-use programme writes DOB as M/D/YYYY without leading zeros; the "
        "MM/DD/YYYY format accepts it.",
        "Homeless people's records ('TRANSIENT', 'HOMELESS', 'Homeless') map as street "
        "addresses; the client has no option to treat such words as missing.",
        "No exported row is rejected by its mapping (checked with RowMapper after writing).",
    ]


def _described(rates: ErrorRates) -> dict[str, dict[str, Any]]:
    return {
        f.name: {"rate": getattr(rates, f.name), "description": str(f.metadata.get("doc", ""))}
        for f in dataclasses.fields(rates)
    }


def build_scenario(people: int, seed: int, queries_per_kind: int = 300) -> Scenario:
    """The scenario for ``people`` people and ``seed`` (deterministic)."""
    if people < 1:
        raise ValueError("people must be at least 1")
    fake = Faker("en_US")
    fake.seed_instance(seed)
    population_rng = random.Random(f"{GENERATOR}/{seed}/population")
    addresses = AddressBook(fake, population_rng, people)
    persons = PopulationBuilder(fake, population_rng, addresses, "P").build(people)
    strangers = PopulationBuilder(fake, population_rng, addresses, "S").build(2 * queries_per_kind)

    rates = ErrorRates()
    record_rng = random.Random(f"{GENERATOR}/{seed}/records")
    model = ErrorModel(record_rng, addresses, rates)
    exports: dict[str, list[ExportRecord]] = {}
    tallies: dict[str, Counter[str]] = {}
    for agency in AGENCIES:
        exports[agency.agency_id], tallies[agency.agency_id] = _agency_records(
            agency, persons, model, record_rng, addresses
        )

    held_ids = {r.person_id for records in exports.values() for r in records}
    held = [p for p in persons if p.person_id in held_ids]
    query_rng = random.Random(f"{GENERATOR}/{seed}/queries")
    query_model = ErrorModel(query_rng, addresses, rates)
    queries = _queries(held, strangers, queries_per_kind, query_model, query_rng)

    linkage = _linkage_summary(exports, people)
    realised = {
        agency_id: {
            kind: {"count": n, "per_record": round(n / max(1, len(exports[agency_id])), 4)}
            for kind, n in sorted(tally.items())
        }
        for agency_id, tally in tallies.items()
    }
    meta: dict[str, Any] = {
        "generator": GENERATOR,
        "seed": seed,
        "people": people,
        "faker_version": faker.VERSION,
        "reference_date": REFERENCE_DATE.isoformat(),
        "county": {
            "name": population.COUNTY_NAME,
            "state": population.HOME_STATE,
            "towns": {town: addresses.zips[town] for town in addresses.towns},
            "streets": len(addresses.streets),
        },
        "assumptions": _assumptions(),
        "population": {
            "household_mix": population.HOUSEHOLD_MIX,
            "twin_children_rate": population.TWIN_CHILDREN_RATE,
            "similar_twin_name_rate": population.SIMILAR_TWIN_NAME_RATE,
            "middle_name_rate": population.MIDDLE_NAME_RATE,
            "double_surname_rate": population.DOUBLE_SURNAME_RATE,
            "wife_surname": population.WIFE_SURNAME,
            "junior_son_rate": population.JUNIOR_SON_RATE,
            "other_suffix_rate": population.OTHER_SUFFIX_RATE,
            "has_phone_rate": population.HAS_PHONE_RATE,
            "old_phone_rate": population.OLD_PHONE_RATE,
            "secondary_address_rate": population.SECONDARY_ADDRESS_RATE,
            "in_county_current": population.IN_COUNTY_CURRENT,
            "in_county_previous": population.IN_COUNTY_PREVIOUS,
            "propensity_mix": population.PROPENSITY_MIX,
            "homeless_rate": population.HOMELESS_RATE,
            "realised": _population_summary(persons),
        },
        "error_rates": {
            "per_record": _described(rates),
            "duplicate_boost": DUPLICATE_BOOST,
            "nickname_table_names": len(NICKNAMES),
            "per_system_descriptions": {
                f.name: str(f.metadata.get("doc", "")) for f in dataclasses.fields(QUERY_TRAITS)
            },
        },
        "agencies": [
            {
                "agency_id": a.agency_id,
                "display_name": a.display_name,
                "system": a.system,
                "columns": list(a.columns),
                "record_key": a.key_column,
                "formats": a.formats,
                "coverage_by_propensity": a.coverage,
                "coverage_age_factors": [list(step) for step in a.age_factors],
                "duplicate_rate": a.duplicate_rate,
                "third_record_share_of_duplicated": THIRD_RECORD_SHARE,
                "system_rates": dataclasses.asdict(a.traits),
            }
            for a in AGENCIES
        ],
        "query_traits": dataclasses.asdict(QUERY_TRAITS),
        "queries": dict(sorted(Counter(q["kind"] for q in queries).items())),
        "realised_errors": realised,
        "mapping_notes": _mapping_notes(),
        "unmappable_rows": [],  # none: every exported row maps (see mapping_notes)
        **linkage,
    }
    return Scenario(persons, strangers, exports, queries, meta)


def _write_csv(
    path: Path, header: tuple[str, ...] | list[str], rows: list[list[str]], *, quote_all: bool
) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)


def write_scenario(scenario: Scenario, out_dir: Path) -> None:
    """Write the contract's files into ``out_dir`` (created if needed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = []
    truth: list[list[str]] = []
    for agency in AGENCIES:
        records = scenario.exports[agency.agency_id]
        listing.append(
            {
                "agency_id": agency.agency_id,
                "display_name": agency.display_name,
                "export": f"{agency.agency_id}.csv",
                "mapping": f"{agency.agency_id}.mapping.toml",
            }
        )
        _write_csv(
            out_dir / f"{agency.agency_id}.csv",
            agency.columns,
            [r.row for r in records],
            quote_all=agency.quote_all,
        )
        (out_dir / f"{agency.agency_id}.mapping.toml").write_text(
            agency.mapping_toml, encoding="utf-8"
        )
        truth.extend([r.agency_id, r.local_id, r.person_id] for r in records)
    (out_dir / "agencies.json").write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8")
    _write_csv(
        out_dir / "truth.csv", ["agency_id", "local_id", "person_id"], truth, quote_all=False
    )
    _write_csv(
        out_dir / "queries.csv",
        QUERY_COLUMNS,
        [[q[c] for c in QUERY_COLUMNS] for q in scenario.queries],
        quote_all=False,
    )
    (out_dir / "meta.json").write_text(json.dumps(scenario.meta, indent=2) + "\n", encoding="utf-8")
