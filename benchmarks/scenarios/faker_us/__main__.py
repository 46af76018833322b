"""``python -m benchmarks.scenarios.faker_us --people 20000 --seed 1 --out DIR``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks.scenarios.faker_us import generate


def main(argv: list[str] | None = None) -> int:
    """Generate one scenario and print its record counts."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scenarios.faker_us",
        description="Write a faker_us record-linkage scenario (four US county agencies).",
    )
    parser.add_argument("--people", type=int, default=20000, help="people in the population")
    parser.add_argument("--seed", type=int, default=1, help="random seed (deterministic)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generate(args.people, args.seed, args.out)
    meta = json.loads((args.out / "meta.json").read_text(encoding="utf-8"))
    print(
        json.dumps(
            {
                "out": str(args.out),
                "records": meta["records"],
                "records_total": meta["records_total"],
                "true_pairs": meta["true_pairs"],
                "seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
