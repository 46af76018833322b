"""The fuzz targets (tests/fuzz/targets.py) in the test suite: each runs under atheris for
a bounded number of executions from its committed seeds (and the inputs of past findings,
which the corpus keeps), with a fixed seed, in a subprocess, and fails on any exception
that is not a named error, showing libFuzzer's report with the traceback. The longer run
is ``benchmarks/fuzz/run_fuzz.py --seconds N``; figures in docs/security.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from tests.fuzz.targets import CANARY, TARGETS

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
FUZZ_MAIN = HERE / "fuzz_main.py"
CORPUS = HERE / "corpus"
#: executions per target in the suite (each target runs in 3-6 s on a 2-vCPU machine); a
#: run also stops after MAX_SECONDS, whichever comes first
RUNS: Final = {
    "grpc_requests": 1500,
    "consent_json": 3000,
    "schema_json": 1500,
    "server_toml": 1000,
    "agency_toml": 1500,
    "export_csv": 300,
    "gateway_api": 2000,
    "agency_files": 2000,
}
MAX_SECONDS: Final = 6
_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")


def fuzz(target: str, work: Path, *corpus: Path, runs: int) -> subprocess.CompletedProcess[str]:
    new = work / "new"
    new.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        str(FUZZ_MAIN),
        target,
        f"-runs={runs}",
        "-seed=1",
        f"-max_total_time={MAX_SECONDS}",
        "-max_len=8192",
        f"-artifact_prefix={work}/",
        str(new),
        *(str(c) for c in corpus),
    ]
    return subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # atheris prints the traceback to stdout, libFuzzer to stderr
        text=True,
        timeout=120,
        cwd=work,
    )


def _report(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stdout.splitlines() if not line.startswith("INFO: Instr")]
    return "\n".join(lines[-60:])


def test_every_target_has_a_bounded_run_and_seeds() -> None:
    assert set(RUNS) == set(TARGETS) - {"canary"}
    for target in RUNS:
        assert any((CORPUS / target).iterdir()), f"no seeds for {target}"


@pytest.mark.parametrize("target", sorted(RUNS))
def test_a_bounded_fuzz_run_ends_in_named_errors_only(target: str, tmp_path: Path) -> None:
    result = fuzz(target, tmp_path, CORPUS / target, runs=RUNS[target])
    assert result.returncode == 0, f"{target} found an unexpected exception:\n{_report(result)}"
    done = _DONE.search(result.stdout)
    assert done is not None, _report(result)
    executions, coverage = int(done.group(1)), int(done.group(2))
    # the seeds reach well past the first parse: the run exercised the target's code
    assert executions >= min(RUNS[target], 50), _report(result)
    assert coverage >= 50, _report(result)


def test_a_finding_fails_the_run_with_its_traceback_and_input(tmp_path: Path) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "planted").write_bytes(CANARY + b"!")
    result = fuzz("canary", tmp_path / "run", seeds, runs=10)
    assert result.returncode == 77, _report(result)
    assert 'KeyError: "the canary target\'s planted failure"' in result.stdout
    crashes = list((tmp_path / "run").glob("crash-*"))
    assert [c.read_bytes() for c in crashes] == [CANARY + b"!"]
