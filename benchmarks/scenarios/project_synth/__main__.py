"""``python -m benchmarks.scenarios.project_synth --people N --seed S --out DIR``."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.scenarios.project_synth import generate

parser = argparse.ArgumentParser(description="this project's own generator as a scenario folder")
parser.add_argument("--people", type=int, default=20_000)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--out", type=Path, required=True)
args = parser.parse_args()
generate(args.people, args.seed, args.out)
