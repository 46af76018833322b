"""A reusable synthetic multi-agency generator: messy exports in each agency's own format,
with the ground truth (which local record is which synthetic person).

Pure: a seed in, rows out (:func:`generate_scenario`); writing files is
:func:`write_scenario`'s job. Every person is invented from the lists in
:mod:`linkage.synth._names`.

What makes the exports messy, each with a configurable rate (:class:`Messiness`):
nicknames (Robert -> Bob), typos (substitution, transposition, deletion,
insertion), day and month swapped, moved addresses, missing fields, twins (same
surname, date of birth and address, another given name) and duplicates within
one agency (the same person registered twice under two local IDs).

The people and their messy records are :mod:`linkage.synth._people`, the agencies' formats
:mod:`linkage.synth._agencies`; this module draws a scenario and writes it.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from linkage.synth._agencies import DEFAULT_AGENCIES, AgencyFormat
from linkage.synth._people import (
    Messiness,
    Person,
    exact_variant,
    generate_people,
    messy_variant,
)

__all__ = [
    "AgencyExport",
    "Scenario",
    "TruthRow",
    "generate_scenario",
    "true_pairs",
    "write_scenario",
]


@dataclass(frozen=True, slots=True)
class TruthRow:
    """Local record ``local_id`` of ``agency_id`` describes ``person_id``."""

    agency_id: str
    local_id: str
    person_id: str


@dataclass(frozen=True, slots=True)
class AgencyExport:
    """One agency's export: its header and rows (the local ID is the first column)."""

    agency: AgencyFormat
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True)
class Scenario:
    """Exports of every agency plus the ground truth."""

    people: tuple[Person, ...]
    exports: tuple[AgencyExport, ...]
    truth: tuple[TruthRow, ...]

    def export(self, agency_id: str) -> AgencyExport:
        for export in self.exports:
            if export.agency.agency_id == agency_id:
                return export
        raise KeyError(agency_id)


def generate_scenario(
    *,
    people: int = 400,
    seed: int = 2025,
    agencies: Sequence[AgencyFormat] = DEFAULT_AGENCIES,
    messiness: Messiness | None = None,
    always_present: Sequence[tuple[Person, Sequence[str]]] = (),
) -> Scenario:
    """Generate ``people`` people and each agency's export of the ones it knows.

    ``always_present`` adds fixed people (e.g. the demo's protagonist) to the named
    agencies, recorded exactly (no errors), in addition to the random population.
    Deterministic for a given seed.
    """
    if people < 0:
        raise ValueError("people must be >= 0")
    rates = messiness or Messiness()
    rng = random.Random(seed)
    population = generate_people(people, rng, rates.twins)
    fixed = {p.person_id: set(ids) for p, ids in always_present}
    everyone = [p for p, _ in always_present] + population
    truth: list[TruthRow] = []
    exports: list[AgencyExport] = []
    for agency in agencies:
        used: set[str] = set()

        def local_id(agency: AgencyFormat = agency, used: set[str] = used) -> str:
            while True:
                number = rng.randrange(10 ** (agency.id_digits - 1), 10**agency.id_digits)
                candidate = f"{agency.id_prefix}{number}"
                if candidate not in used:
                    used.add(candidate)
                    return candidate

        rows: list[tuple[str, ...]] = []
        for person in everyone:
            if person.person_id in fixed:
                if agency.agency_id not in fixed[person.person_id]:
                    continue
                copies = [exact_variant(person)]
            elif rng.random() < agency.coverage:
                copies = [messy_variant(person, rates, rng)]
                if rng.random() < rates.duplicates:
                    copies.append(messy_variant(person, rates, rng))
            else:
                continue
            for variant in copies:
                identifier = local_id()
                rows.append((identifier, *agency.render(variant)))
                truth.append(TruthRow(agency.agency_id, identifier, person.person_id))
        order = list(range(len(rows)))
        rng.shuffle(order)
        exports.append(AgencyExport(agency, tuple(rows[i] for i in order)))
    return Scenario(tuple(everyone), tuple(exports), tuple(truth))


def true_pairs(truth: Sequence[TruthRow], agency_a: str, agency_b: str) -> set[tuple[str, str]]:
    """Every ``(local ID in a, local ID in b)`` that describes the same person."""
    by_person: dict[str, list[str]] = {}
    for row in truth:
        if row.agency_id == agency_b:
            by_person.setdefault(row.person_id, []).append(row.local_id)
    return {
        (row.local_id, other)
        for row in truth
        if row.agency_id == agency_a
        for other in by_person.get(row.person_id, ())
    }


def write_scenario(scenario: Scenario, directory: Path) -> dict[str, Path]:
    """Write ``<agency>.csv`` per agency and ``truth.csv``; returns the paths by agency ID
    (``"truth"`` for the truth file). The truth file is for evaluation only."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for export in scenario.exports:
        path = directory / f"{export.agency.agency_id}.csv"
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(export.agency.header)
            writer.writerows(export.rows)
        paths[export.agency.agency_id] = path
    truth_path = directory / "truth.csv"
    with truth_path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(("agency_id", "local_id", "person_id"))
        writer.writerows((t.agency_id, t.local_id, t.person_id) for t in scenario.truth)
    paths["truth"] = truth_path
    return paths
