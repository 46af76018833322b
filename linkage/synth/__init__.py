"""Synthetic multi-agency data with ground truth, for the demo, tests and benchmarks.

Public API:

* :func:`generate_scenario` ``(*, people, seed, agencies, messiness, always_present)
  -> Scenario``: each agency's messy export in its own column format, plus the truth.
* :func:`write_scenario` ``(scenario, directory) -> dict[str, Path]``: ``<agency>.csv``
  files and ``truth.csv``.
* :func:`true_pairs` ``(truth, agency_a, agency_b) -> set[tuple[str, str]]``.
* :data:`DEFAULT_AGENCIES`: police, mental-health centre, hospital ER and a substance-use
  programme, each an :class:`AgencyFormat` with its export header, renderer and the
  ``[input]``/``[features.*]`` tables of its agency.toml.
* :func:`generate_events` ``(scenario, *, seed, effects) -> ScenarioEvents``: programme
  events with known effects (:class:`EventEffects`), from a random stream of their own.
* :class:`Messiness`: rates of nicknames, typos, swapped day/month, moves, missing
  fields, duplicates within an agency and twins.
"""

from linkage.synth._agencies import DEFAULT_AGENCIES, AgencyFormat, ContactInfo
from linkage.synth._events import EventEffects, ScenarioEvents, generate_events
from linkage.synth._generator import (
    AgencyExport,
    Scenario,
    TruthRow,
    generate_scenario,
    true_pairs,
    write_scenario,
)
from linkage.synth._people import Messiness, Person, Variant, generate_people

__all__ = [
    "DEFAULT_AGENCIES",
    "AgencyExport",
    "AgencyFormat",
    "ContactInfo",
    "EventEffects",
    "Messiness",
    "Person",
    "Scenario",
    "ScenarioEvents",
    "TruthRow",
    "Variant",
    "generate_events",
    "generate_people",
    "generate_scenario",
    "true_pairs",
    "write_scenario",
]
