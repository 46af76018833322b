"""Command line: ``python -m benchmarks.scenarios.geco_admin --people 20000 --seed 1 --out DIR``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.scenarios.geco_admin import generate


def main(argv: list[str] | None = None) -> int:
    """Generate the scenario and print its record counts and true pairs."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scenarios.geco_admin",
        description="Write the geco_admin synthetic multi-agency scenario.",
    )
    parser.add_argument("--people", type=int, default=20000, help="exported people (20000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generate(args.people, args.seed, args.out)
    elapsed = time.perf_counter() - started
    meta = json.loads((args.out / "meta.json").read_text(encoding="utf-8"))
    summary = {
        "out": str(args.out),
        "records": meta["records"],
        "records_total": meta["records_total"],
        "true_pairs": meta["true_pairs"],
        "unidentified_people": meta["unidentified_people"],
        "seconds": round(elapsed, 1),
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
