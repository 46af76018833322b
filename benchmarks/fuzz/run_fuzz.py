"""The longer fuzz run: every target of tests/fuzz/targets.py under atheris for N seconds.

    python benchmarks/fuzz/run_fuzz.py --seconds 300 [--targets grpc_requests,export_csv]

Each target starts from its committed seeds (tests/fuzz/corpus/<target>/) and from the
corpus that earlier runs grew (build/fuzz/corpus/<target>/, kept between runs, never
committed); inputs that fail are written to build/fuzz/findings/<target>/crash-<sha1>.
Prints, per target, the executions, executions per second, the coverage libFuzzer counts
(``cov``: instrumented branches reached; ``ft``: features) and the corpus size, then the
findings; the same as JSON in build/fuzz/results.json. Exits 1 when anything was found.
A finding becomes a regression test and a ``finding-<what>`` file beside the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FUZZ_MAIN = REPO / "tests" / "fuzz" / "fuzz_main.py"
SEEDS = REPO / "tests" / "fuzz" / "corpus"
_STATUS = re.compile(
    r"#(\d+)\s+(?:DONE|NEW|REDUCE|pulse|INITED)\s+cov: (\d+) ft: (\d+) corp: (\d+)/"
)
_RATE = re.compile(r"exec/s: (\d+)")


def _targets() -> list[str]:
    sys.path.insert(0, str(REPO))
    from tests.fuzz.targets import TARGETS

    return [name for name in TARGETS if name != "canary"]


def run_target(name: str, seconds: int, build: Path) -> dict[str, object]:
    corpus = build / "corpus" / name
    findings = build / "findings" / name
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(FUZZ_MAIN),
        name,
        f"-max_total_time={seconds}",
        "-max_len=8192",
        "-print_final_stats=1",
        f"-artifact_prefix={findings}/",
        str(corpus),
        str(SEEDS / name),
    ]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=seconds + 300,
        cwd=build,
    )
    wall = time.perf_counter() - started
    statuses = _STATUS.findall(done.stdout)
    executions, cov, ft, corp = (int(x) for x in statuses[-1]) if statuses else (0, 0, 0, 0)
    initial_cov = int(statuses[0][1]) if statuses else 0
    crashes = sorted(p.name for p in findings.glob("crash-*"))
    return {
        "target": name,
        "seconds": round(wall, 1),
        "executions": executions,
        "exec_per_s": round(executions / max(wall, 1e-9)),
        "coverage_seeds": initial_cov,
        "coverage": cov,
        "features": ft,
        "corpus": corp,
        "exit": done.returncode,
        "findings": crashes,
        "report": "" if done.returncode == 0 else done.stdout[-6000:],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="per target (default 60)")
    parser.add_argument("--targets", default="", help="comma-separated (default: all)")
    parser.add_argument("--build", type=Path, default=REPO / "build" / "fuzz")
    args = parser.parse_args()
    names = [t for t in args.targets.split(",") if t] or _targets()
    args.build.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {load:.2f}")
    print(f"{'target':<15} {'s':>6} {'executions':>11} {'exec/s':>7} {'cov seeds':>9} "
          f"{'cov':>5} {'ft':>6} {'corpus':>6}  findings")  # fmt: skip
    results = []
    for name in names:
        result = run_target(name, args.seconds, args.build)
        results.append(result)
        found = result["findings"] or ("exit " + str(result["exit"]) if result["exit"] else "0")
        print(
            f"{name:<15} {result['seconds']:>6} {result['executions']:>11,} "
            f"{result['exec_per_s']:>7,} {result['coverage_seeds']:>9} {result['coverage']:>5} "
            f"{result['features']:>6} {result['corpus']:>6}  {found}",
            flush=True,
        )
    total = sum(int(str(r["executions"])) for r in results)
    bad = [r for r in results if r["exit"] or r["findings"]]
    print(f"total: {total:,} executions over {len(results)} targets; {len(bad)} with findings")
    for result in bad:
        print(f"\n--- {result['target']} ---\n{result['report']}")
    (args.build / "results.json").write_text(json.dumps(results, indent=2))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
