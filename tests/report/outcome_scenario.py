"""A matcher folder whose store holds programme events (written straight into it, one link
per person), with its server.toml, programme.toml and the standard spec, for the outcome
report's command-line and browser tests."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from benchmarks.outcome_index import PersonEvents, fill_store
from linkage.events import Disposition, EventCode
from linkage.outcomes import standard_spec_text
from linkage.store import SqliteLinkStore
from tests.report.conftest import write_server_toml

AGENCIES = ["police", "valley-mhc", "county-er", "sud"]


@dataclass(frozen=True)
class OutcomeDir:
    root: Path
    config: Path
    spec: Path


def outcome_people(people: int, seed: int) -> dict[object, PersonEvents]:
    """People with a contact in 2025, some intakes after it, ER visits and bookings."""
    rng = random.Random(seed)
    out: dict[object, PersonEvents] = {}
    for i in range(people):
        contact = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
        disposition = rng.choice(list(Disposition))
        events: list[tuple[str, EventCode, date, Disposition | None]] = [
            (
                rng.choice(["police", "valley-mhc"]),
                EventCode.CORESPONDER_CONTACT,
                contact,
                disposition,
            )
        ]
        if rng.random() < 0.45:
            events.append(
                (
                    "valley-mhc",
                    EventCode.TREATMENT_INTAKE,
                    contact + timedelta(days=rng.randrange(60)),
                    None,
                )
            )
        for _ in range(rng.randrange(3)):
            events.append(
                (
                    "county-er",
                    EventCode.ER_VISIT_PSYCH,
                    contact + timedelta(days=rng.randrange(-170, 170)),
                    None,
                )
            )
        if rng.random() < 0.3:
            events.append(
                (
                    "police",
                    EventCode.JAIL_BOOKING,
                    contact + timedelta(days=rng.randrange(-170, 170)),
                    None,
                )
            )
        if rng.random() < 0.3:
            events.append(
                (
                    "police",
                    EventCode.CRISIS_CALL,
                    contact + timedelta(days=rng.randrange(1, 120)),
                    None,
                )
            )
        out[f"person-{i}"] = events
    return out


def make_outcome_dir(root: Path, *, people: int = 1500, seed: int = 7) -> OutcomeDir:
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    config = write_server_toml(root, 0.8)
    store = SqliteLinkStore(root / "index.db")
    try:
        fill_store(store, outcome_people(people, seed), AGENCIES)
    finally:
        store.close()
    (root / "programme.toml").write_text(
        '[programme]\nid = "metro-coresponder"\nbudget_epsilon = 3.0\n'
    )
    spec = root / "spec.toml"
    spec.write_text(standard_spec_text())
    return OutcomeDir(root, config, spec)
