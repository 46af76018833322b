"""``python -m benchmarks.scenarios.diverse_households --people 20000 --seed 1 --out DIR``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.scenarios.diverse_households import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scenarios.diverse_households",
        description="Write the diverse-households multi-agency scenario.",
    )
    parser.add_argument("--people", type=int, default=20000, help="exported population size")
    parser.add_argument("--seed", type=int, default=1, help="random seed (deterministic)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    generate(args.people, args.seed, args.out)
    print(
        f"wrote {args.out} ({args.people} people, seed {args.seed}) "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
