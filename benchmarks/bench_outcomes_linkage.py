"""The standard outcome measures: the generator's truth vs the true links vs the
matcher's links (issue 19, docs/outcomes.md "Measured").

    python benchmarks/bench_outcomes_linkage.py --people 300     # the demo's scenario
    python benchmarks/bench_outcomes_linkage.py --people 20000

1. A synthetic scenario (``generate_scenario(people, seed)``, the demo's generator) and its
   programme events (``generate_events``, a random stream of its own).
2. Every mappable row encoded with the shipped segmented schema and uploaded with its
   record's events through an in-process :class:`LinkageService` in probabilistic mode
   (match probability 0.5, average-link), batch by batch, then a rebuild; every record
   carries an evaluation consent.
3. The standard measure set computed exactly (no noise) three ways: from the generator's
   person-level events (truth); from the uploaded records grouped by their true person
   (true links: differs from truth only by the events of rows the client cannot map);
   from the store grouped by the matcher's links (what ``linkage-admin outcomes run``
   computes before noise). Then, at the spec's epsilon, the median relative error of the
   released figures and the cells withheld (``--draws`` releases of the matcher's counts).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.bench_probabilistic_service import (  # noqa: E402
    OPERATOR,
    _encode,
    _quality,
    _settings,
)
from benchmarks.outcome_index import EVALUATION_CONSENT  # noqa: E402
from benchmarks.scenario_rows import mapped_rows  # noqa: E402
from linkage.events import canonical_events  # noqa: E402
from linkage.outcomes import (  # noqa: E402
    EventTable,
    Programme,
    compute_counts,
    gather_events,
    load_standard_spec,
    relative_errors,
    release_counts,
)
from linkage.pki import Principal, Role  # noqa: E402
from linkage.service import (  # noqa: E402
    LinkageService,
    RecordUpsert,
    ServiceLimits,
    WriteBatch,
)
from linkage.store import SqliteLinkStore  # noqa: E402
from linkage.synth import generate_events, generate_scenario  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--draws", type=int, default=20)
    args = parser.parse_args()
    spec = load_standard_spec()
    started = time.perf_counter()
    scenario = generate_scenario(people=args.people, seed=args.seed)
    events = generate_events(scenario, seed=args.seed)
    agencies = [e.agency.agency_id for e in scenario.exports]
    rows = mapped_rows(args.people, args.seed)
    encoded, encode_s = _encode(rows)
    print(f"{args.people} people, {len(encoded)} records encoded in {encode_s:.1f} s")
    truth = compute_counts(
        spec,
        EventTable.from_events(
            [
                (p, a, e.code, e.day, e.disposition)
                for p, evs in events.by_person.items()
                for a, e in evs
            ],
            agencies,
        ),
    )
    true_links = compute_counts(
        spec,
        EventTable.from_events(
            [
                (r.row.person_id, r.row.agency_id, e.code, e.day, e.disposition)
                for r in encoded
                for e in events.by_record.get((r.row.agency_id, r.row.local_id), [])
            ],
            agencies,
        ),
    )
    settings = _settings("probabilistic")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "store"
        work.mkdir(mode=0o700)
        store = SqliteLinkStore(work / "index.sqlite")
        service = LinkageService(
            store,
            settings,
            ServiceLimits(
                max_batch_mutations=args.batch, lookup_burst=10**9, lookup_rate_per_s=1e9
            ),
        )
        by_agency = defaultdict(list)
        for record in encoded:
            by_agency[record.row.agency_id].append(record)
        for agency_id in sorted(by_agency):
            service.create_agency(OPERATOR, agency_id, agency_id, b"")
        t0 = time.perf_counter()
        number = 0
        queues = {a: list(rs) for a, rs in by_agency.items()}
        while any(queues.values()):
            for agency_id in sorted(queues):
                chunk, queues[agency_id] = (
                    queues[agency_id][: args.batch],
                    queues[agency_id][args.batch :],
                )
                if not chunk:
                    continue
                number += 1
                service.write_batch(
                    Principal(Role.AGENCY, agency_id, "bench-it", 3),
                    WriteBatch(
                        agency_id=agency_id,
                        batch_id=f"b{number}",
                        key_epoch=1,
                        schema_fingerprint=settings.schema_fingerprint,
                        mutations=tuple(
                            RecordUpsert(
                                record_key=r.row.local_id.encode(),
                                clk=r.segmented,
                                pointer_token=b"ptr",
                                consent=EVALUATION_CONSENT,
                                linkable=True,
                                events=canonical_events(
                                    events.by_record.get((agency_id, r.row.local_id), [])
                                ),
                            )
                            for r in chunk
                        ),
                    ),
                )
        service.rebuild(OPERATOR, "benchmark")
        link_s = time.perf_counter() - t0
        person_of = {(r.row.agency_id, r.row.local_id.encode()): r.row.person_id for r in encoded}
        quality = _quality(store, person_of)
        t0 = time.perf_counter()
        gathered = gather_events(store, Programme("bench", 10.0), datetime.now(UTC))
        matcher = compute_counts(spec, gathered.table)
        compute_s = time.perf_counter() - t0
        store.close()
    print(
        f"linked in {link_s:.1f} s: pairwise precision {quality['precision']:.4f}, recall "
        f"{quality['recall']:.4f}, F1 {quality['f1']:.4f}; measures computed in {compute_s:.2f} s"
    )
    print(f"{'query':38} {'truth':>7} {'true links':>10} {'matcher':>8} {'matcher vs truth':>17}")
    queries = ["cohort.people"]
    for m in spec.measures:
        queries.append(matcher.denominators[m.id])
        queries += [f"{m.id}.{s}" for s in m.statistics]
    for q in dict.fromkeys(queries):
        t, tl, mt = truth.value(q), true_links.value(q), matcher.value(q)
        diff = f"{(mt - t) / t:+.2%}" if t else "-"
        print(f"{q:38} {t:>7} {tl:>10} {mt:>8} {diff:>17}")
    for m in spec.measures:
        if m.kind.value != "share":
            continue
        den = matcher.denominators[m.id]
        shares = [
            c.value(f"{m.id}.with_event") / max(1, c.value(den))
            for c in (truth, true_links, matcher)
        ]
        print(
            f"share {m.id}: truth {shares[0]:.4f}, true links {shares[1]:.4f}, matcher {shares[2]:.4f}"
        )
    errors: list[float] = []
    withheld = []
    figures = 0
    for _ in range(args.draws):
        release = release_counts(spec, matcher, noisy=True)
        errors.extend(relative_errors(release, matcher))
        withheld.append(release.withheld)
        figures = len(release.figures)
    print(
        f"noise at epsilon {spec.release.epsilon}: median relative error "
        f"{statistics.median(errors):.3f} over {len(errors)} released figures "
        f"({args.draws} releases); withheld {statistics.mean(withheld):.1f} of {figures} per "
        f"release; total {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
