"""Draw the population, its encounters with the agencies, the exports, truth, queries and
meta, and check that every exported row maps through its agency's mapping.

Encounter model (rates in :data:`ENCOUNTER_RATES`):

* Every exported person has at least one record. Most have one (78 %), some two or three;
  2.5 % are frequent flyers with 6-40 records, two thirds of them in one agency.
* An encounter's agency is drawn by the person's service profile: justice involvement
  draws the jail, serious mental illness the crisis unit and the ED, substance use the
  detox programme and the ED, unstable housing the ED and EMS.
* Encounter dates are uniform over 2019-2024, after the person's 18th birthday.
* A repeat encounter with an agency copies the agency's earlier identity record with
  the agency's ``p_reuse_identity`` (jail 75 %, ED 80 %: the same misspelling recurs),
  and refreshes address and phone with ``p_refresh_contact``. A jail booking under an
  alias makes a new jail person (a new SO number).
* Unidentified patients (``DOE,JOHN``; ``UNKNOWN,MALE``; ``TRAUMA,ZULU`` with DOB
  19000101) are extra records of people of their own (person IDs ``U...``), in the ED
  (0.8 % of its records), EMS (1.5 %) and the jail (0.2 %). They are not among
  ``people``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import secrets
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

from benchmarks.scenarios.geco_admin._agencies import (
    AGENCIES,
    RESPONDER,
    AgencySpec,
    RecordContext,
    format_phone,
    street_line,
    title_name,
)
from benchmarks.scenarios.geco_admin._corrupt import Corruptor
from benchmarks.scenarios.geco_admin._observe import Observation, observe
from benchmarks.scenarios.geco_admin._population import (
    NOW,
    POPULATION_RATES,
    WINDOW_END,
    WINDOW_START,
    Address,
    Person,
    make_population,
    random_date,
)

__all__ = [
    "ENCOUNTER_RATES",
    "GENERATOR_NAME",
    "QUERIES_PER_KIND",
    "QUERY_COLUMNS",
    "generate",
    "verify_exports",
]

GENERATOR_NAME: Final = "geco_admin"
QUERIES_PER_KIND: Final = 300
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
ENCOUNTER_RATES: Final[dict[str, Any]] = {
    "records_per_person": {"1": 0.78, "2": 0.15, "3": 0.045, "4-6": 0.025},
    "frequent_flyers": 0.025,
    "frequent_flyer_records": "6 + exponential(mean 5), at most 40",
    "frequent_flyer_share_in_primary_agency": 0.65,
    "alias_used_at_booking": 0.35,
    "agency_weight": {
        "sheriff-jail": "0.3 + 2.5 * justice_involved",
        "crisis-unit": "0.35 + 1.5 * serious_mental_illness",
        "valley-general-ed": "0.85 + 0.4 * smi + 0.4 * substance_use + 0.3 * unstable_housing",
        "cascade-detox": "0.1 + 1.3 * substance_use",
        "county-ems": "0.35 + 0.3 * substance_use + 0.3 * unstable_housing",
    },
}
_AGENCY_INDEX: Final = {spec.agency_id: i for i, spec in enumerate(AGENCIES)}


@dataclass(frozen=True, slots=True)
class _Encounter:
    person: Person
    agency: int
    when: date
    order: int


@dataclass(slots=True)
class _Master:
    """An agency's identity record of a person, copied at repeat encounters."""

    observation: Observation
    number: str


def _agency_weights(person: Person) -> list[float]:
    smi, sud = float(person.serious_mental_illness), float(person.substance_use)
    unstable, justice = float(person.unstable_housing), float(person.justice_involved)
    return [
        0.3 + 2.5 * justice,
        0.35 + 1.5 * smi,
        0.85 + 0.4 * smi + 0.4 * sud + 0.3 * unstable,
        0.1 + 1.3 * sud,
        0.35 + 0.3 * sud + 0.3 * unstable,
    ]


def _adult_from(person: Person) -> date:
    dob = person.dob
    try:
        adult = dob.replace(year=dob.year + 18)
    except ValueError:  # 29 February
        adult = date(dob.year + 18, 3, 1)
    return max(WINDOW_START, min(adult, WINDOW_END))


def _encounters(rng: random.Random, people: list[Person]) -> list[_Encounter]:
    out: list[_Encounter] = []
    order = 0
    agencies = range(len(AGENCIES))
    for person in people:
        weights = _agency_weights(person)
        if rng.random() < ENCOUNTER_RATES["frequent_flyers"]:
            count = 6 + min(34, int(rng.expovariate(1 / 5)))
            primary = rng.choices(range(4), weights[:4])[0]
        else:
            draw = rng.random()
            count = (
                1 if draw < 0.78 else 2 if draw < 0.93 else 3 if draw < 0.975 else rng.randint(4, 6)
            )
            primary = -1
        first = _adult_from(person)
        for _ in range(count):
            if (
                primary >= 0
                and rng.random() < ENCOUNTER_RATES["frequent_flyer_share_in_primary_agency"]
            ):
                agency = primary
            else:
                agency = rng.choices(agencies, weights)[0]
            out.append(_Encounter(person, agency, random_date(rng, first, WINDOW_END), order))
            order += 1
    return out


@dataclass(slots=True)
class _Export:
    spec: AgencySpec
    rows: list[list[str]]
    truth: list[tuple[str, str]]  # (local_id, person_id)


def _age(dob: date, when: date) -> int:
    return when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))


def _build_exports(rng: random.Random, encounters: list[_Encounter]) -> tuple[list[_Export], int]:
    corruptor = Corruptor(rng)
    by_agency: list[list[_Encounter]] = [[] for _ in AGENCIES]
    for encounter in encounters:
        by_agency[encounter.agency].append(encounter)
    exports: list[_Export] = []
    unidentified = 0
    for index, spec in enumerate(AGENCIES):
        items: list[_Encounter | date] = [*by_agency[index]]
        if spec.render_unidentified is not None:
            extra = round(len(by_agency[index]) * spec.share_unidentified)
            items.extend(random_date(rng, WINDOW_START, WINDOW_END) for _ in range(extra))
        items.sort(
            key=lambda item: (item, -1) if isinstance(item, date) else (item.when, item.order)
        )
        masters: dict[str, _Master] = {}
        person_numbers = 0
        per_year: Counter[int] = Counter()
        export = _Export(spec, [], [])
        for item in items:
            when = item if isinstance(item, date) else item.when
            local_id = spec.local_id(when, per_year[when.year])
            per_year[when.year] += 1
            if isinstance(item, date):
                assert spec.render_unidentified is not None
                unidentified += 1
                person_id = f"U{unidentified:06d}"
                context = RecordContext(when, local_id, spec.person_number(person_numbers), 0, "U")
                person_numbers += 1
                export.rows.append(spec.render_unidentified(context, rng))
                export.truth.append((local_id, person_id))
                continue
            person = item.person
            use_alias = (
                spec.agency_id == "sheriff-jail"
                and bool(person.alias_given or person.alias_dob)
                and rng.random() < ENCOUNTER_RATES["alias_used_at_booking"]
            )
            fresh = observe(person, when, spec.noise, corruptor, use_alias=use_alias)
            key = f"{person.person_id}|{use_alias}"
            master = masters.get(key)
            if master is not None and rng.random() < spec.noise.p_reuse_identity:
                recorded = dataclasses.replace(master.observation)
                if rng.random() < spec.noise.p_refresh_contact:
                    recorded.address, recorded.phone = fresh.address, fresh.phone
                number = master.number
            else:
                recorded = fresh
                number = master.number if master is not None else spec.person_number(person_numbers)
                if master is None:
                    person_numbers += 1
            masters[key] = _Master(recorded, number)
            context = RecordContext(when, local_id, number, _age(person.dob, when), person.race)
            export.rows.append(spec.render(recorded, context, rng))
            export.truth.append((local_id, person.person_id))
        exports.append(export)
    return exports, unidentified


# --- queries -------------------------------------------------------------------------------


def _query_address(address: Address | None) -> tuple[str, str, str, str]:
    """(street, suburb, postcode, state) as a responder would type them."""
    if address is None:
        return "", "", "", ""
    city = title_name(address.city)
    if address.kind == "homeless":
        return "", city, "", "OR" if city else ""
    line = street_line(address, unit_inline=True)
    parts = line.split(" ")
    street = " ".join(
        p if p.isdigit() or p == address.direction or p in ("PO", "SPC") else title_name(p)
        for p in parts
    )
    return street, city, address.zip5, "OR"


def _query_row(
    query_id: str, kind: str, person_id: str, obs: Observation, *, name_dob_only: bool
) -> list[str]:
    dob = obs.dob.isoformat() if obs.dob else ""
    sex = obs.sex if obs.sex in ("m", "f") else ""
    names = [title_name(obs.given), title_name(obs.middle), title_name(obs.surname)]
    if name_dob_only:
        return [query_id, kind, person_id, *names, dob, "", "", "", "", "", ""]
    phone = format_phone(obs.phone, "dash") if obs.phone and obs.phone.isdigit() else ""
    return [query_id, kind, person_id, *names, dob, sex, phone, *_query_address(obs.address)]


def _clean(person: Person) -> Observation:
    """The person as they are now."""
    return Observation(
        given=person.given,
        middle=person.middle,
        surname=person.surname_at(NOW),
        suffix=person.suffix,
        dob=person.dob,
        sex=person.sex,
        transgender=person.transgender,
        phone=person.phone_at(NOW),
        address=person.address_at(NOW),
        preferred_name="",
    )


def _queries(rng: random.Random, known: list[Person], strangers: list[Person]) -> list[list[str]]:
    corruptor = Corruptor(rng)
    rows: list[list[str]] = []

    def add(kind: str, person: Person, obs: Observation, *, stranger: bool, name_dob: bool) -> None:
        query_id = f"Q{len(rows) + 1:05d}"
        person_id = "" if stranger else person.person_id
        rows.append(_query_row(query_id, kind, person_id, obs, name_dob_only=name_dob))

    n = QUERIES_PER_KIND
    for person in rng.sample(known, min(n, len(known))):
        add("known_clean", person, _clean(person), stranger=False, name_dob=False)
    for person in rng.sample(known, min(n, len(known))):
        add(
            "known_noisy",
            person,
            observe(person, NOW, RESPONDER, corruptor),
            stranger=False,
            name_dob=False,
        )
    for person in rng.sample(known, min(n, len(known))):
        add("known_name_dob", person, _clean(person), stranger=False, name_dob=True)
    for person in strangers[:n]:
        add("stranger_full", person, _clean(person), stranger=True, name_dob=False)
    for person in strangers[n : 2 * n]:
        add("stranger_name_dob", person, _clean(person), stranger=True, name_dob=True)
    return rows


# --- verification ------------------------------------------------------------------------


def verify_exports(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Map every exported row through its agency's mapping with the agency client's
    ``RowMapper``. Returns, per agency, the rows, rejected rows (with the first problems)
    and the values the mapping treated as missing (``on_invalid = "missing"``), by column."""
    from agency_client._config import load_agency_config
    from agency_client._mapping import RowMapper

    agencies = json.loads((out_dir / "agencies.json").read_text(encoding="utf-8"))
    environ = {"GECO_ADMIN_SECRET": secrets.token_hex(32)}
    report: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for agency in agencies:
            config_path = Path(folder) / f"{agency['agency_id']}.toml"
            mapping = (out_dir / agency["mapping"]).read_text(encoding="utf-8")
            config_path.write_text(
                f"[agency]\nname = {json.dumps(agency['display_name'])}\nkey_epoch = 1\n\n"
                '[secret]\nenv = "GECO_ADMIN_SECRET"\n\n[schema]\nfile = "default"\n\n' + mapping,
                encoding="utf-8",
            )
            config = load_agency_config(config_path, environ)
            with (out_dir / agency["export"]).open(encoding=config.encoding, newline="") as handle:
                reader = csv.reader(handle, delimiter=config.delimiter)
                header = next(reader)
                mapper = RowMapper(config, header)
                rows = rejected = 0
                problems: list[str] = []
                substituted: Counter[str] = Counter()
                for number, row in enumerate(reader, start=1):
                    rows += 1
                    mapped = mapper.map_row(number, row)
                    if isinstance(mapped, list):
                        rejected += 1
                        if len(problems) < 10:
                            problems.extend(f"{p.location}: {p.reason}" for p in mapped)
                        continue
                    for substitution in mapped.substitutions:
                        column = substitution.location.split("column ", 1)[1]
                        substituted[column] += 1
            report[agency["agency_id"]] = {
                "rows": rows,
                "rejected": rejected,
                "problems": problems,
                "treated_as_missing": dict(sorted(substituted.items())),
            }
    return report


# --- outputs -------------------------------------------------------------------------------


def _write_csv(path: Path, header: tuple[str, ...] | list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _true_pairs(exports: list[_Export]) -> dict[str, int]:
    per_person: Counter[str] = Counter()
    per_person_agency: Counter[tuple[str, str]] = Counter()
    for export in exports:
        for _, person_id in export.truth:
            per_person[person_id] += 1
            per_person_agency[(person_id, export.spec.agency_id)] += 1
    total = sum(n * (n - 1) // 2 for n in per_person.values())
    within = sum(n * (n - 1) // 2 for n in per_person_agency.values())
    return {"total": total, "within_agency": within, "across_agencies": total - within}


_ASSUMPTIONS: Final = (
    "Administrative records of a crisis-services population in the mid-Willamette Valley, "
    "Oregon (US), 2019-2024; queries are asked on 2025-01-31 ('now').",
    "Errors follow the corruption kinds of Christen's GeCo (CIKM 2013), applied per "
    "attribute with per-agency probabilities: QWERTY/keypad typos, OCR confusions, "
    "phonetic variations, insert/delete/substitute/transpose edits, missing values, "
    "given name <-> surname swaps and truncation (the detox system cuts surnames at 12 "
    "and given names at 10 characters).",
    "Dates of birth: day/month swapped, one digit mistyped, year off by one or ten, "
    "placeholders 01/01/1900 (unknown) and 01/01/<year> (only the age known).",
    "Names: US census-like given names by sex and decade of birth, census-like surname "
    "skew plus a tail of rare surnames; nicknames (BILL for WILLIAM), initials, middle "
    "initials, suffixes (JR, SR, II, III), Spanish-language double surnames, surnames "
    "changed by marriage, aliases at jail bookings.",
    "Housing instability: 15 % of people have periods in shelters (one street address "
    "shared by hundreds of people), on the street (HOMELESS, NFA, NO FIXED ADDRESS, the "
    "hospital's own address) or with a PO box; people move and change phone numbers.",
    "Families: siblings, twins (same surname and date of birth), father and son (same "
    "given name and surname, JR/SR) and spouses sharing an address and phone.",
    "Unidentified emergency patients (DOE,JOHN; UNKNOWN,MALE; TRAUMA,ZULU; DOB 19000101) "
    "are people of their own, not linkable to anyone (person IDs U...).",
    "Repeat encounters copy the agency's earlier identity record (the same misspelling "
    "recurs within an agency); frequent flyers appear many times, mostly in one agency.",
    "Strangers are drawn from the same population (same name and age distributions, "
    "relatives of exported people included) and never exported.",
)

_MAPPING_LIMITS: Final = (
    "No rows are rejected. Row kinds the mapping options could express only lossily:",
    "sheriff-jail and valley-general-ed: a suffix inside the 'LAST, FIRST MIDDLE' field "
    "lands in the middle name (jail: 'SMITH, JOHN A JR') or in the surname (ED: "
    "'SMITH JR,JOHN A'); no option splits a suffix off.",
    "valley-general-ed: ZIP+4 ('97301-1234') stays 10 characters with the postcode "
    "normaliser; no option keeps the first five digits, so it differs from '97301'.",
    "valley-general-ed: the placeholder phone 000-000-0000 is a valid phone number and "
    "is encoded as 0000000000, shared by many patients (on_invalid cannot catch it).",
    "crisis-unit: gender identity 'Transgender Female', 'Transgender Male' and 'Declined "
    'to answer\' are no sex code; mapped with on_invalid = "missing" (lost).',
    "crisis-unit: phone text NONE / declined / No phone / N/A; cascade-detox N/A / NONE: "
    'mapped with on_invalid = "missing". cascade-detox\'s 0000000000 placeholder is '
    "valid and encoded.",
    "crisis-unit: two phone columns; a feature maps only one (the primary).",
    "crisis-unit: state 'Oregon' against 'OR' elsewhere; no option maps state names to codes.",
    "county-ems: 'Unknown (Unable to Determine)' sex: on_invalid = \"missing\"; "
    "seven-digit phone numbers (no area code) are valid and encoded as seven digits.",
    "Placeholder dates of birth (01/01/1900, 19000101, 01/01/<year> estimated from an "
    "age) are real dates and are encoded; no option marks a placeholder as missing. "
    "county-ems's age column has no schema feature.",
    "Free-text address placeholders (HOMELESS, TRANSIENT, NFA, NO FIXED ADDRESS, the "
    "hospital's own address) are encoded as street addresses; no option marks a value "
    "as missing.",
)


def generate(people: int, seed: int, out_dir: Path) -> None:
    """Write the geco_admin scenario for ``people`` people into ``out_dir`` (deterministic
    for ``seed``). Raises ``RuntimeError`` if any exported row fails its mapping."""
    if people < 1:
        raise ValueError("people must be >= 1")
    rng = random.Random(seed)
    stranger_count = 2 * QUERIES_PER_KIND
    pool = make_population(rng, people + stranger_count)
    stranger_positions = set(rng.sample(range(len(pool)), stranger_count))
    strangers = [p for i, p in enumerate(pool) if i in stranger_positions]
    rng.shuffle(strangers)
    known = [p for i, p in enumerate(pool) if i not in stranger_positions]

    exports, unidentified = _build_exports(rng, _encounters(rng, known))
    queries = _queries(rng, known, strangers)

    out_dir.mkdir(parents=True, exist_ok=True)
    listing = []
    for export in exports:
        spec = export.spec
        _write_csv(out_dir / f"{spec.agency_id}.csv", spec.header, export.rows)
        (out_dir / f"{spec.agency_id}.mapping.toml").write_text(spec.mapping_toml, encoding="utf-8")
        listing.append(
            {
                "agency_id": spec.agency_id,
                "display_name": spec.display_name,
                "export": f"{spec.agency_id}.csv",
                "mapping": f"{spec.agency_id}.mapping.toml",
            }
        )
    (out_dir / "agencies.json").write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8")
    _write_csv(
        out_dir / "truth.csv",
        ("agency_id", "local_id", "person_id"),
        [[e.spec.agency_id, local, person] for e in exports for local, person in e.truth],
    )
    _write_csv(out_dir / "queries.csv", QUERY_COLUMNS, queries)

    verification = verify_exports(out_dir)
    bad = {k: v for k, v in verification.items() if v["rejected"]}
    if bad:
        raise RuntimeError(f"exported rows fail their mapping: {json.dumps(bad, indent=2)}")

    meta = {
        "generator": GENERATOR_NAME,
        "seed": seed,
        "people": people,
        "strangers": stranger_count,
        "unidentified_people": unidentified,
        "records": {e.spec.agency_id: len(e.rows) for e in exports},
        "records_total": sum(len(e.rows) for e in exports),
        "true_pairs": _true_pairs(exports),
        "window": {"first": WINDOW_START.isoformat(), "last": WINDOW_END.isoformat()},
        "now": NOW.isoformat(),
        "assumptions": list(_ASSUMPTIONS),
        "population_rates": POPULATION_RATES,
        "encounter_rates": ENCOUNTER_RATES,
        "agencies": {
            spec.agency_id: {
                "display_name": spec.display_name,
                "role": spec.role,
                "formats": spec.formats,
                "unidentified_share": spec.share_unidentified,
                "error_rates": dataclasses.asdict(spec.noise),
            }
            for spec in AGENCIES
        },
        "responder_error_rates": dataclasses.asdict(RESPONDER),
        "mapping": {
            "rejected_rows": {k: v["rejected"] for k, v in verification.items()},
            "values_treated_as_missing": {
                k: v["treated_as_missing"] for k, v in verification.items()
            },
            "limits": list(_MAPPING_LIMITS),
        },
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
