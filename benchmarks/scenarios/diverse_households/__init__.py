"""Diverse households: a synthetic multi-agency scenario of a diverse metropolitan population.

Written independently of ``linkage.synth``, of the linkage model and of the other
scenario generators. Its own assumptions:

* **Population.** A metro of a few dozen suburbs and a few hundred streets (some long roads
  with hundreds of households and apartment buildings with unit numbers), built household
  by household: single people, couples, parents with children, single parents,
  multigenerational households and shared housing, 1-6 people at one address, often
  sharing a landline. Children share the family surname; about 1.5 % of confinements are
  twins or triplets. Ages 0-95.
* **Names** from frequency-weighted lists written for this generator (Zipf-like: Nguyen,
  Smith, Kim, Lee, Singh, Patel are very common; a long tail of a few thousand surnames)
  in eighteen traditions: Anglo (middle names, nicknames), Vietnamese, Mandarin and
  Cantonese Chinese, Korean (family name recorded first by some systems; English names),
  Gujarati, Punjabi Sikh (Singh / Kaur and family name), North and South Indian (no family
  name: the father's given name serves), Hispanic (two surnames recorded both, first only,
  hyphenated or swapped), Filipino (mother's maiden name as middle name), Arabic (Al- / El /
  Abdul prefixes spelled with hyphen, space or joined), Lebanese Christian, Russian /
  Ukrainian, Polish and Balkan (transliterations, gendered surnames), Greek and Italian.
* **Dates** of birth: some systems know only the year (01/01/YYYY or 1 July), some the month;
  day and month swapped by systems that assume the other order; ambulance records often
  have no date of birth or only a year derived from the age.
* **Change over time** (2015-2024): households move, young adults and new couples form
  households, women who marry mostly take the husband's surname, phones change; 2-5 %
  duplicate records within an agency.
* **Five agencies** (police, mental-health centre, hospital emergency department,
  alcohol-and-other-drug programme, ambulance), each with its own export format and a
  mapping written with the options the agency client offers.

``generate(people, seed, out_dir)`` writes the files of ``benchmarks/scenarios/README.md``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

from benchmarks.scenarios.diverse_households._agencies import AGENCIES, Agency, RowContext
from benchmarks.scenarios.diverse_households._checks import MappingCheck, check_export
from benchmarks.scenarios.diverse_households._names import TRADITION_SHARE
from benchmarks.scenarios.diverse_households._population import (
    NOW,
    POPULATION_RATES,
    WINDOW_END,
    WINDOW_START,
    Person,
    Population,
    build_population,
)
from benchmarks.scenarios.diverse_households._queries import (
    QUERY_COLUMNS,
    RESPONDER_STYLE,
    query_rows,
)
from benchmarks.scenarios.diverse_households._render import observe

__all__ = ["GENERATOR_NAME", "QUERIES_PER_KIND", "build_population", "generate"]

GENERATOR_NAME: Final = "diverse_households"
QUERIES_PER_KIND: Final = 300
#: scales every agency's coverage so that 20,000 people give about 31,000 records
COVERAGE_SCALE: Final = 1.05

#: Row kinds that real exports of this scenario hold and the mapping options cannot express.
UNEXPRESSIBLE: Final = (
    "aod-programme: sex is coded 1/2/3/9 (AODTS NMDS); the client has no value map for "
    "sex codes, so the mapping leaves sex unmapped (missing for every row)",
    "aod-programme: GivenNames holds the given name and, in about 40 % of rows, the middle "
    "names, space separated; name_part splits only 'LAST, FIRST MIDDLE', so given_name "
    "carries the middle names and middle_name is unmapped",
    "mental-health and hospital-ed: a mobile column and a home-phone column; a feature maps "
    "one column (or joins several), so the home phone is lost when there is no mobile",
    "mental-health: the state is spelled out (New South Wales) where the others write NSW; "
    "there is no value map, so state never agrees across those agencies",
    "all: street types abbreviated by some systems (St, Rd, Cres) and written in full by "
    "others; units written 4/12, 'Unit 4, 12', U4 12 or in address_line_2; the name "
    "normaliser does not expand abbreviations",
    "ambulance: free-text call-back phones ('NIL', '0412 345 678 (daughter)') are invalid "
    'phones; the mapping sets on_invalid = "missing", so annotated numbers are lost',
    "ambulance: landlines recorded without the area code (8 digits) do not match the "
    "9 digits keep_last = 9 leaves elsewhere",
    "ambulance: no postcode or state column",
)


def _seeds(seed: int) -> tuple[int, int, int, int]:
    master = random.Random(seed)
    return (
        master.getrandbits(63),
        master.getrandbits(63),
        master.getrandbits(63),
        master.getrandbits(63),
    )


def _record_days(person: Person, agency: Agency, rng: random.Random, scale: float) -> list[int]:
    """The days on which ``agency`` recorded ``person`` (empty if it never did)."""
    age = person.age_on(NOW)
    if rng.random() >= min(0.97, agency.coverage(age, person.risk) * scale):
        return []
    earliest = person.dob + timedelta(days=round(agency.min_age * 365.25))
    low = max(WINDOW_START, earliest.toordinal())
    if low > WINDOW_END:
        return []
    count = 1
    while rng.random() < agency.duplicate and count < 6:
        count += 1
    return [rng.randint(low, WINDOW_END) for _ in range(count)]


def _write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]], agency: Agency) -> None:
    encoding = "utf-8-sig" if agency.byte_order_mark else "utf-8"
    with path.open("w", newline="", encoding=encoding) as stream:
        writer = csv.writer(stream, delimiter=agency.delimiter, lineterminator=agency.line_end)
        writer.writerow(header)
        writer.writerows(rows)


def _pair_stats(
    records: dict[str, list[tuple[str, int]]], people: dict[str, Person]
) -> dict[str, Any]:
    """True pairs, and how often two records of one person in different agencies differ
    in the person's true address, surname or mobile at the two record dates."""
    within = across = moved = renamed = rephoned = 0
    for person_id, items in records.items():
        person = people[person_id]
        per_agency = Counter(agency for agency, _ in items)
        within += sum(n * (n - 1) // 2 for n in per_agency.values())
        for i, (agency_a, day_a) in enumerate(items):
            for agency_b, day_b in items[i + 1 :]:
                if agency_a == agency_b:
                    continue
                across += 1
                if person.residence_on(day_a).address != person.residence_on(day_b).address:
                    moved += 1
                if person.surname_on(day_a) != person.surname_on(day_b):
                    renamed += 1
                if person.mobile_on(day_a) != person.mobile_on(day_b):
                    rephoned += 1
    return {
        "true_pairs": within + across,
        "true_pairs_within_agency": within,
        "true_pairs_across_agencies": across,
        "cross_agency_pairs_moved_share": round(moved / across, 4) if across else 0.0,
        "cross_agency_pairs_surname_changed_share": round(renamed / across, 4) if across else 0.0,
        "cross_agency_pairs_mobile_changed_share": round(rephoned / across, 4) if across else 0.0,
    }


def _population_stats(population: Population, exported: set[int]) -> dict[str, Any]:
    sizes = Counter(len(h) for h in population.households)
    children = [p for p in population.people if p.role == "child"]
    multiple_children = [p for p in children if p.multiple_birth]
    confinements = len({(p.household, p.dob) for p in children})
    return {
        "households": len(population.households),
        "household_sizes": {str(k): sizes[k] for k in sorted(sizes)},
        "household_kinds": dict(sorted(Counter(population.household_kinds).items())),
        "multiple_birth_sets": population.multiple_births,
        "people_in_multiple_births": len(multiple_children),
        "multiple_birth_share_of_confinements": round(population.multiple_births / confinements, 4)
        if confinements
        else 0.0,
        "streets": len(population.metro.streets),
        "suburbs": len(population.metro.suburbs),
        "distinct_surnames": len({p.surname.usual() for p in population.people}),
        "surname_changed_in_window": sum(1 for p in population.people if p.previous_surname),
        "people_with_records": len(exported),
        "top_surnames": dict(Counter(p.surname.usual() for p in population.people).most_common(12)),
        "traditions": dict(sorted(Counter(p.tradition for p in population.people).items())),
    }


def generate(
    people: int, seed: int, out_dir: Path, *, queries_per_kind: int = QUERIES_PER_KIND
) -> None:
    """Write the scenario for ``people`` exported-population persons (plus
    ``2 * queries_per_kind`` strangers) into ``out_dir``; deterministic for ``seed``.

    :raises RuntimeError: if any exported row is rejected by its own mapping.
    """
    if people < 1:
        raise ValueError("people must be at least 1")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    population_seed, stranger_seed, record_seed, query_seed = _seeds(seed)
    stranger_count = 2 * queries_per_kind
    population = build_population(people + stranger_count, population_seed)
    everyone = population.people
    stranger_indices = sorted(
        random.Random(stranger_seed).sample(range(len(everyone)), stranger_count)
    )
    strangers = [everyone[i] for i in stranger_indices]
    stranger_set = set(stranger_indices)
    cohort = [p for p in everyone if p.index not in stranger_set]
    for number, person in enumerate(cohort, start=1):
        person.person_id = f"P{number:07d}"
    for person in strangers:
        person.person_id = ""
    households = {
        index: [everyone[i] for i in members] for index, members in enumerate(population.households)
    }

    rng = random.Random(record_seed)
    truth: list[tuple[str, str, str]] = []
    records_of: dict[str, list[tuple[str, int]]] = {}
    counts: dict[str, dict[str, int]] = {}
    for agency in AGENCIES:
        events: list[tuple[int, int]] = []
        for person in cohort:
            events.extend(
                (day, person.index) for day in _record_days(person, agency, rng, COVERAGE_SCALE)
            )
        events.sort()
        local_ids = agency.local_ids([day for day, _ in events], rng)
        rows: list[list[str]] = []
        for (day, index), local_id in zip(events, local_ids, strict=True):
            person = everyone[index]
            household = households[person.household]
            observation = observe(person, household, day, agency.style, rng, population.metro)
            context = RowContext(
                observation, person, household, day, local_id, rng, population.metro
            )
            rows.append(agency.write_row(context))
            truth.append((agency.agency_id, local_id, person.person_id))
            records_of.setdefault(person.person_id, []).append((agency.agency_id, day))
        _write_csv(out_dir / f"{agency.agency_id}.csv", agency.header, rows, agency)
        (out_dir / f"{agency.agency_id}.mapping.toml").write_text(agency.mapping, encoding="utf-8")
        counts[agency.agency_id] = {
            "records": len(rows),
            "people": len({index for _, index in events}),
        }

    listing = [
        {
            "agency_id": a.agency_id,
            "display_name": a.display_name,
            "export": f"{a.agency_id}.csv",
            "mapping": f"{a.agency_id}.mapping.toml",
        }
        for a in AGENCIES
    ]
    (out_dir / "agencies.json").write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8")
    with (out_dir / "truth.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(("agency_id", "local_id", "person_id"))
        writer.writerows(truth)

    known_people = [p for p in cohort if p.person_id in records_of]
    queries = query_rows(
        known_people,
        strangers,
        households,
        population.metro,
        random.Random(query_seed),
        queries_per_kind,
    )
    with (out_dir / "queries.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(QUERY_COLUMNS)
        writer.writerows(queries)

    checks: dict[str, MappingCheck] = {
        a.agency_id: check_export(
            out_dir / f"{a.agency_id}.csv", out_dir / f"{a.agency_id}.mapping.toml", a.display_name
        )
        for a in AGENCIES
    }
    bad = {k: c for k, c in checks.items() if c.rejected}
    if bad:
        details = "; ".join(
            f"{k}: {c.rejected} rows, e.g. {c.problems[:3]}" for k, c in bad.items()
        )
        raise RuntimeError(f"exported rows rejected by their own mapping: {details}")

    people_by_id = {p.person_id: p for p in cohort}
    meta = {
        "generator": GENERATOR_NAME,
        "seed": seed,
        "people": people,
        "strangers": stranger_count,
        "queries_per_kind": queries_per_kind,
        "record_window": [
            date.fromordinal(WINDOW_START).isoformat(),
            date.fromordinal(WINDOW_END).isoformat(),
        ],
        "queries_describe_people_as_of": date.fromordinal(NOW).isoformat(),
        "assumptions": [line.strip() for line in _ASSUMPTIONS],
        "unexpressible_by_the_mapping_options": list(UNEXPRESSIBLE),
        "rates": {
            "population": POPULATION_RATES,
            "tradition_share_of_households": TRADITION_SHARE,
            "agencies": {
                a.agency_id: {
                    "duplicate_record_chance": a.duplicate,
                    "min_age": a.min_age,
                    "recording_style": dataclasses.asdict(a.style),
                }
                for a in AGENCIES
            },
            "known_noisy_query_style": dataclasses.asdict(RESPONDER_STYLE),
        },
        "counts": {
            "records": sum(c["records"] for c in counts.values()),
            "per_agency": counts,
            **_pair_stats(records_of, people_by_id),
            **_population_stats(population, {p.index for p in known_people}),
        },
        "mapping_check": {
            k: {"rows": c.rows, "rejected": c.rejected, "substituted_values": c.substitutions}
            for k, c in checks.items()
        },
    }
    (out_dir / "meta.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


_ASSUMPTIONS: Final = (
    "A diverse metro built household by household (1-6 people at one address): singles, "
    "couples, parents with children, single parents, multigenerational and shared households.",
    "Suburbs about one per 600 people, streets about one per 65; Zipf-like street sizes, long "
    "roads through 2-3 suburbs with apartment buildings (units), duplicate street names.",
    "Naming traditions clustered by suburb; 12 % of couples mixed; children take the family "
    "surname (Hispanic: father's first + mother's first surname).",
    "Twins and triplets: 3 % of confinements drawn, about 1.5 % realised once families are "
    "capped at six people (meta counts give the realised share).",
    "Given names: own spelling, transliteration variants, nicknames, English names of East "
    "Asian people; Vietnamese diacritics kept by the mental-health centre only.",
    "Dates: year-only (01/01 or 1 July), month-year (day 01), day/month swaps, typed digits; "
    "ambulance: 35 % no date of birth, about 30 % a year derived from a stated or estimated age.",
    "Moves, landlines per address, mobile changes and marriages over 2015-2024; records reflect "
    "the person on the record date, some with a stale address or phone.",
    "Coverage by age and a risk tier (80 % low, 15 % medium, 5 % high) that raises police, "
    "mental-health, drug-programme and ambulance contact together.",
)
