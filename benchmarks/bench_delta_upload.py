"""Delta upload vs full upload on a 100,000-record agency, through the real CLI and matcher.

    .venv/bin/python benchmarks/bench_delta_upload.py [--records 100000] [--changed 0.01]

Steps (all through ``agency-client upload`` subprocesses against ``linkage-server`` over
mutual TLS, SQLite store, as the demo sets them up):

1. full upload of a synthetic police export of N records to an empty matcher;
2. the same export with a share of records changed (a moved address each): a delta upload;
3. the same export again, unchanged (the floor: encode and compare only).

Each upload's wall time is measured around the subprocess; the client's own "planned ...
in X s" line gives the encode-and-compare part. The matcher compiles its kernels before
the first step, outside the timings.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from linkage.demo import DemoRun
from linkage.synth import DEFAULT_AGENCIES, Messiness, generate_scenario


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)


def _timed_upload(demo: DemoRun, export: Path) -> tuple[float, float, str]:
    started = time.perf_counter()
    result = demo.upload("metro-police", export)
    seconds = time.perf_counter() - started
    planned = re.search(r"in ([0-9.]+) s", result.stdout)
    sent = next((line for line in result.stdout.splitlines() if line.startswith("sent")), "")
    return seconds, float(planned.group(1)) if planned else float("nan"), sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    police = dataclasses.replace(DEFAULT_AGENCIES[0], coverage=1.0)
    with tempfile.TemporaryDirectory(prefix="bench-delta-") as tmp:
        demo = DemoRun(work_dir=Path(tmp) / "run", people=10, echo=print)
        try:
            demo.prepare()
            started = time.perf_counter()
            demo.start_matcher()
            print(f"matcher ready in {time.perf_counter() - started:.1f} s (kernel warm-up)")
            demo.enrol_agencies()
            demo.init_agency("metro-police")
            scenario = generate_scenario(
                people=args.records,
                seed=args.seed,
                agencies=[police],
                messiness=Messiness(duplicates=0.0),
            )
            header = list(police.header)
            rows = [list(r) for r in scenario.exports[0].rows]
            full = demo.data_dir / "full.csv"
            _write(full, header, rows)
            rng = random.Random(args.seed)
            address = header.index("address")
            changed = rng.sample(range(len(rows)), round(len(rows) * args.changed))
            delta_rows = [list(r) for r in rows]
            for index in changed:
                delta_rows[index][address] = f"{rng.randint(1, 300)} Delta Parade"
            delta = demo.data_dir / "delta.csv"
            _write(delta, header, delta_rows)
            print(f"{len(rows)} records; {len(changed)} changed ({args.changed:.1%})")
            results = []
            for label, export in (
                ("full upload (empty matcher)", full),
                (f"delta upload ({len(changed)} changed)", delta),
                ("unchanged re-upload", delta),
            ):
                wall, plan, sent = _timed_upload(demo, export)
                results.append((label, wall, plan, sent))
                print(f"{label:32s} {wall:7.1f} s wall; encode+compare {plan:5.1f} s; {sent}")
            full_s, delta_s = results[0][1], results[1][1]
            print(f"delta / full: {delta_s / full_s:.3f} ({full_s / delta_s:.1f}x faster)")
        finally:
            demo.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
