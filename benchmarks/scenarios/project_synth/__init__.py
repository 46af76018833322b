"""This project's own generator (:mod:`linkage.synth`, the demo's data) in the scenario
folder format of benchmarks/scenarios/README.md.

It is the generator the shipped prior model was first fitted on and the one every earlier
quality figure came from, so figures measured on it are the optimistic ones. Queries: a
known person's clean details, a fresh noisy observation from the generator's own error
model, names and date of birth only; strangers are extra people of the same lists who
were never exported.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import replace
from pathlib import Path

from linkage.synth import Messiness, generate_people, generate_scenario, write_scenario
from linkage.synth._people import Variant, exact_variant, messy_variant

__all__ = ["generate"]

_KINDS = ("known_clean", "known_noisy", "known_name_dob", "stranger_full", "stranger_name_dob")
_QUERY_COLUMNS = (
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


def _fields(person_id: str, v: Variant, *, name_dob_only: bool) -> dict[str, str]:
    dob = v.date_of_birth
    if dob is not None and v.swap_day_month and dob.day <= 12:
        dob = dob.replace(month=dob.day, day=dob.month)
    out = {
        "person_id": person_id,
        "given_name": v.given_name or "",
        "middle_name": "" if name_dob_only else (v.middle_name or ""),
        "surname": v.surname or "",
        "date_of_birth": "" if dob is None else dob.isoformat(),
    }
    if not name_dob_only:
        out.update(
            sex=v.sex or "",
            phone=f"0{v.mobile}" if v.mobile else "",
            street_address=f"{v.street_no} {v.street}" if v.street_no and v.street else "",
            suburb=v.suburb or "",
            postcode=v.postcode or "",
            state=v.state or "",
        )
    return out


def generate(people: int, seed: int, out_dir: Path, queries_per_kind: int = 300) -> None:
    """Write the scenario folder (agencies, exports, mappings, truth, queries, meta)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rates = Messiness()
    scenario = generate_scenario(people=people, seed=seed, messiness=rates)
    write_scenario(scenario, out_dir)
    agencies = []
    for export in scenario.exports:
        agency = export.agency
        (out_dir / f"{agency.agency_id}.mapping.toml").write_text(
            agency.mapping_toml, encoding="utf-8"
        )
        agencies.append(
            {
                "agency_id": agency.agency_id,
                "display_name": agency.display_name,
                "export": f"{agency.agency_id}.csv",
                "mapping": f"{agency.agency_id}.mapping.toml",
            }
        )
    (out_dir / "agencies.json").write_text(json.dumps(agencies, indent=2) + "\n", "utf-8")
    rng = random.Random(seed + 7919)
    known_ids = sorted({t.person_id for t in scenario.truth})
    by_id = {p.person_id: p for p in scenario.people}
    strangers = generate_people(2 * queries_per_kind, random.Random(seed + 104729))
    rows: list[dict[str, str]] = []
    for kind in _KINDS:
        for number in range(queries_per_kind):
            if kind.startswith("known"):
                person = by_id[rng.choice(known_ids)]
            else:
                offset = 0 if kind == "stranger_full" else queries_per_kind
                stranger = strangers[offset + number]
                person = replace(stranger, person_id=f"S{offset + number:06d}")
            variant = (
                messy_variant(person, rates, rng)
                if kind == "known_noisy"
                else exact_variant(person)
            )
            fields = _fields(
                "" if kind.startswith("stranger") else person.person_id,
                variant,
                name_dob_only=kind.endswith("name_dob"),
            )
            rows.append({"query_id": f"{kind}-{number:04d}", "kind": kind, **fields})
    with (out_dir / "queries.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=_QUERY_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    meta = {
        "generator": "project_synth (linkage.synth)",
        "seed": seed,
        "people": people,
        "records": len(scenario.truth),
        "assumptions": (
            "Australian-style lists of the project's own generator: four agencies with "
            "their own formats; nicknames, typos, swapped day and month, moves, missing "
            "fields, twins and duplicates within an agency at the rates below."
        ),
        "rates": {name: getattr(rates, name) for name in rates.__dataclass_fields__},
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
