"""Outcome measures: exact vs the generator's truth, released error, and time at scale.

``--people N`` (synthetic scenario with events, true links): every standard measure
computed by the core vs the truth from the generator's own person-level events; with
noise at the spec's epsilon, the median relative error of the released figures and the
cells withheld (over ``--draws`` releases).

``--report DIR`` (with ``--people``): the scenario's events written into a store with
one link per true person, released and reported into DIR (outcomes.html, outcomes.csv,
release.json), as ``linkage-admin outcomes run`` would.

``--records N``: time to gather and compute the standard set from a store of N records
written straight into SQLite (one link per person, about 2.5 records per person).

    python benchmarks/bench_outcomes.py --people 20000
    python benchmarks/bench_outcomes.py --records 1000000
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.outcome_index import PersonEvents, fill_store  # noqa: E402
from linkage.events import Disposition, EventCode  # noqa: E402
from linkage.outcomes import (  # noqa: E402
    EventTable,
    Programme,
    compute_counts,
    gather_events,
    load_standard_spec,
    relative_errors,
    release_counts,
)
from linkage.store import SqliteLinkStore  # noqa: E402
from linkage.synth import generate_events, generate_scenario  # noqa: E402


def write_report(
    scenario_events: dict[object, PersonEvents], agencies: list[str], out: Path
) -> None:
    from linkage.outcomes import release_outcomes
    from linkage.report import write_outcome_report

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "store"
        folder.mkdir(mode=0o700)
        store = SqliteLinkStore(folder / "index.sqlite")
        try:
            fill_store(store, scenario_events, agencies)
            outcome = release_outcomes(
                store,
                load_standard_spec(),
                Programme("synthetic-programme", 10.0),
                actor="benchmark",
                now=datetime.now(UTC),
            )
        finally:
            store.close()
    for path in write_outcome_report(outcome, out):
        print(f"wrote {path}")


def truth_run(people: int, seed: int, draws: int, report: Path | None = None) -> None:
    spec = load_standard_spec()
    scenario = generate_scenario(people=people, seed=seed)
    events = generate_events(scenario, seed=seed)
    agencies = [e.agency.agency_id for e in scenario.exports]
    rows = [
        (person, agency, e.code, e.day, e.disposition)
        for person, evs in events.by_person.items()
        for agency, e in evs
    ]
    if report is not None:
        by_person: dict[object, PersonEvents] = {
            person: [(agency, e.code, e.day, e.disposition) for agency, e in evs]
            for person, evs in events.by_person.items()
        }
        write_report(by_person, agencies, report)
    started = time.perf_counter()
    counts = compute_counts(spec, EventTable.from_events(rows, agencies))
    seconds = time.perf_counter() - started
    print(f"{people} people, {len(rows)} events; core {seconds:.2f} s")
    cohort = counts.value("cohort.people")
    print(f"cohort {cohort}")
    for m in spec.measures:
        den = counts.value(counts.denominators[m.id])
        stats = ", ".join(f"{s} {counts.value(f'{m.id}.{s}')}" for s in m.statistics)
        print(f"  {m.id}: people {den}; {stats}")
    errors: list[float] = []
    withheld = []
    per_figure: dict[tuple[str, str, str], list[float]] = {}
    for _ in range(draws):
        release = release_counts(spec, counts, noisy=True)
        errors.extend(relative_errors(release, counts))
        withheld.append(release.withheld)
        for f in release.figures:
            exact = counts.value(f.query, f.dimension, f.category)
            if f.value is not None and exact > 0:
                error = abs(f.value - exact) / exact
                per_figure.setdefault((f.query, f.dimension, f.category), []).append(error)
    print("median relative error of each overall figure (its interval half width / exact):")
    for (query, dim, category), found in per_figure.items():
        if dim == "all":
            f = release.figure(query, dim, category)
            exact = counts.value(query, dim, category)
            print(
                f"  {query:36} exact {exact:>6}  median {statistics.median(found):.3f}  "
                f"±{f.half_width} ({f.half_width / exact:.3f})"
            )
    by_dim: dict[str, list[float]] = {}
    for (_, dim, _), found in per_figure.items():
        by_dim.setdefault(dim, []).append(statistics.median(found))
    for dim, medians in by_dim.items():
        print(f"  by {dim}: median over {len(medians)} figures {statistics.median(medians):.3f}")
    print(
        f"epsilon {spec.release.epsilon}: median relative error {statistics.median(errors):.3f} "
        f"over {len(errors)} released figures in {draws} releases; withheld per release "
        f"{statistics.mean(withheld):.1f} of {len(release.figures)}"
    )


def scale_run(records: int, seed: int) -> None:
    rng = random.Random(seed)
    agencies = ["police", "mhc", "er", "sud"]
    people: dict[object, PersonEvents] = {}
    n = 0
    while n < records:
        person = len(people)
        contact = date(2025, 1, 1) + timedelta(days=rng.randrange(365))
        evs: list[tuple[str, EventCode, date, Disposition | None]] = []
        for agency in rng.sample(agencies, rng.choice((1, 2, 3, 4))):
            code = {
                "police": EventCode.CORESPONDER_CONTACT,
                "mhc": EventCode.TREATMENT_INTAKE,
                "er": EventCode.ER_VISIT_PSYCH,
                "sud": EventCode.TREATMENT_INTAKE,
            }[agency]
            day = contact + timedelta(days=rng.randrange(-150, 150))
            disp = rng.choice(list(Disposition)) if code is EventCode.CORESPONDER_CONTACT else None
            evs.append((agency, code, day, disp))
            n += 1
        people[person] = evs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "store"
        folder.mkdir(mode=0o700)
        store = SqliteLinkStore(folder / "index.sqlite")
        started = time.perf_counter()
        fill_store(store, people, agencies)
        print(f"wrote {n} records of {len(people)} people in {time.perf_counter() - started:.1f} s")
        spec = load_standard_spec()
        programme = Programme("bench", 10.0, agreement_allows_evaluation=False)
        started = time.perf_counter()
        gathered = gather_events(store, programme, datetime.now(UTC))
        gathered_s = time.perf_counter() - started
        counts = compute_counts(spec, gathered.table)
        computed_s = time.perf_counter() - started - gathered_s
        release = release_counts(spec, counts, noisy=True)
        released_s = time.perf_counter() - started - gathered_s - computed_s
        store.close()
    print(
        f"{n} records, {len(gathered.table.person)} events: gather {gathered_s:.1f} s, "
        f"compute {computed_s:.2f} s, release {released_s:.2f} s "
        f"({len(release.figures)} figures, {release.withheld} withheld); cohort "
        f"{counts.value('cohort.people')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=0)
    parser.add_argument("--records", type=int, default=0)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--draws", type=int, default=20)
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args()
    if args.people:
        truth_run(args.people, args.seed, args.draws, args.report)
    if args.records:
        scale_run(args.records, args.seed)


if __name__ == "__main__":
    main()
