"""Run one fuzz target under atheris (libFuzzer):

    python tests/fuzz/fuzz_main.py TARGET [libFuzzer options] [CORPUS_DIR ...]

for example ``python tests/fuzz/fuzz_main.py consent_json -runs=2000 -seed=1 NEW_DIR
tests/fuzz/corpus/consent_json``. The project's modules are imported inside atheris's
instrumentation, so libFuzzer's coverage counts their branches (``cov:`` in its output).
An input that raises anything but a named error (:class:`linkage.errors.LinkageError`,
caught inside each target) is a crash: libFuzzer prints the traceback, writes the input
to ``crash-<sha1>`` (or ``-artifact_prefix``) and exits with status 77. The pytest run
(tests/fuzz/test_fuzz.py) and the longer benchmark (benchmarks/fuzz/run_fuzz.py) start
this script in a subprocess.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
# the project's own packages are instrumented, except modules that compile functions with
# numba (numba cannot compile instrumented bytecode) and the generated protobuf code
_INCLUDE = ["linkage", "agency_client", "tests.fuzz"]


def _not_instrumented() -> list[str]:
    """Modules atheris must leave alone (it excludes exact module names only)."""
    names = []
    for path in sorted((ROOT / "linkage").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if "numba" in path.read_text(encoding="utf-8") or module.startswith("linkage.v1."):
            names.append(module.removesuffix(".__init__"))
    return names


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1].startswith("-"):
        raise SystemExit(f"usage: {argv[0]} TARGET [libFuzzer options] [CORPUS_DIR ...]")
    name = argv[1]
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    logging.disable(logging.CRITICAL)  # the gateway logs refusals; the fuzzer's output is enough
    with atheris.instrument_imports(include=_INCLUDE, exclude=_not_instrumented()):
        from tests.fuzz.targets import TARGETS, load_target

        if name not in TARGETS:
            raise SystemExit(f"unknown target {name}; one of {', '.join(TARGETS)}")
        one = load_target(name)
    atheris.Setup([argv[0], *argv[2:]], one)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
