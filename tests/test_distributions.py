"""The two distributions built from this repository, and the import contracts between layers.

* ``coresponder-linkage`` (``pyproject.toml``): the matcher, the admin tools and the agency
  client.
* ``coresponder-agency-client`` (``packaging/agency-client/pyproject.toml``): only what an
  agency site runs: ``agency_client``, the encoder, the protos and the shared core (the
  top-level modules of ``linkage``).

The import contracts (``[tool.importlinter]`` in pyproject.toml, also run by
``./dev.sh test``) must hold and must catch an indirect import; the agency distribution
must import nothing it does not ship or declare; and its wheel, built here, must run
``agency-client`` and encode byte-identical CLKs (clkhash's golden vectors included) with
no other ``linkage`` package present.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
AGENCY_PROJECT = ROOT / "packaging" / "agency-client"
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
_BIN = Path(sys.executable).parent

#: Packages of linkage that only the matcher and the operator's tools use.
SERVER_PACKAGES = (
    "linkage.admin",
    "linkage.demo",
    "linkage.distributed",
    "linkage.match",
    "linkage.metrics",
    "linkage.pki",
    "linkage.probabilistic",
    "linkage.report",
    "linkage.security",
    "linkage.server",
    "linkage.service",
    "linkage.store",
    "linkage.synth",
)


def _agency_project() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((AGENCY_PROJECT / "pyproject.toml").read_text())
    return project


def _agency_packages() -> list[str]:
    setuptools = _agency_project()["tool"]["setuptools"]  # type: ignore[index]
    packages: list[str] = setuptools["packages"]
    return packages


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(text: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9_.-]+)", text)
    assert match is not None, text
    return _normal(match.group(1))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(_BIN / "lint-imports"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "PYTHONPATH": str(cwd)},
    )


@pytest.mark.integration
def test_import_contracts_are_kept() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    ids = {c["id"] for c in contracts["contracts"]}
    assert {"agency-client-no-server", "pure-cores-no-io"} <= ids


@pytest.mark.integration
def test_import_contracts_catch_an_indirect_import_of_the_server(tmp_path: Path) -> None:
    """A shared module that imports the demo (which imports the server) breaks the agency
    client's contract, through the chain, and so does a pure core importing grpc."""
    for name in ("linkage", "agency_client"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "linkage" / "consent.py").open("a") as stream:
        stream.write("\n\ndef _demo() -> object:\n    from linkage.demo import DemoRun\n\n")
        stream.write("    return DemoRun\n")
    with (tmp_path / "linkage" / "match" / "_greedy.py").open("a") as stream:
        stream.write("\nimport grpc  # noqa\n")
    done = _lint_imports(tmp_path)
    assert done.returncode != 0
    assert "The agency client never imports the matcher's server side BROKEN" in done.stdout
    assert "The pure cores (encode, match, probabilistic) import no I/O layer BROKEN" in (
        done.stdout
    )
    assert "linkage.consent -> linkage.demo" in done.stdout


@pytest.mark.unit
def test_the_agency_distribution_imports_only_what_it_ships_or_declares() -> None:
    """Every module the agency distribution ships imports only modules it ships, the
    standard library, and distributions it declares."""
    graph = grimp.build_graph("linkage", "agency_client", include_external_packages=True)
    packages = _agency_packages()
    # The package "linkage" ships its own modules (linkage/*.py), not its subpackages.
    top_level = {f"linkage.{p.stem}" for p in (ROOT / "linkage").glob("*.py")} | {"linkage"}
    assert "linkage" in packages

    def shipped(module: str) -> bool:
        if module in top_level or module == "linkage.__init__":
            return True
        return any(module == p or module.startswith(p + ".") for p in packages if p != "linkage")

    ours = {m for m in graph.modules if m.split(".")[0] in {"linkage", "agency_client"}}
    ships = {m for m in ours if shipped(m)}
    assert "agency_client.cli" in ships
    assert "linkage.encode._encoder" in ships
    assert "linkage.consent" in ships
    assert not any(m == p or m.startswith(p + ".") for m in ships for p in SERVER_PACKAGES)

    declared = {
        _requirement_name(r)
        for r in _agency_project()["project"]["dependencies"]  # type: ignore[index]
    }
    # An import name's distributions; the packages some declared ones bring with them count
    # (grpcio-status brings googleapis-common-protos, pydantic brings pydantic-core).
    brought = {"googleapis-common-protos", "pydantic-core", "typing-extensions"}
    distributions = importlib.metadata.packages_distributions()
    problems: list[str] = []
    for module in sorted(ships):
        for imported in graph.find_modules_directly_imported_by(module):
            top = imported.split(".")[0]
            if top in {"linkage", "agency_client"}:
                if not shipped(imported):
                    problems.append(f"{module} imports {imported}, which it does not ship")
            elif top in sys.stdlib_module_names or top == "__future__":
                continue
            else:
                names = {_normal(d) for d in distributions.get(top, [])}
                if not names & (declared | brought):
                    problems.append(f"{module} imports {top}, from {names or 'nowhere'}")
    assert problems == []


@pytest.mark.unit
def test_the_agency_distribution_requires_what_the_full_one_does() -> None:
    """The same requirement strings as pyproject.toml (a subset), so the two cannot drift."""
    full = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    agency = set(_agency_project()["project"]["dependencies"])  # type: ignore[index]
    assert agency <= full
    names = {_requirement_name(r) for r in agency}
    assert not names & {
        "prometheus-client",
        "grpcio-health-checking",
        "grpcio-reflection",
        "dask",
        "psycopg",
        "matplotlib",
    }
    scripts = _agency_project()["project"]["scripts"]  # type: ignore[index]
    assert scripts == {"agency-client": "agency_client.cli:main"}


_ENCODE = """
import base64, json, sys
from pathlib import Path
from linkage.encode import (
    ClkEncoder, SegmentedEncoder, default_schema, default_segmented_schema, load_schema,
    plain_schema,
)
rows = [
    ["jordan", "avery", "whitfield-okoro", "1987-03-14", "f", "0412555019",
     "27 lyrebird lane", "", "brunswick", "3056", "vic"],
    ["quillon", "", "zzyzx", "1931-07-02", "m", "", "", "", "oodnadatta", "5734", "sa"],
]
secret = bytes(range(32))
out = {
    "plain": ClkEncoder(plain_schema(), secret).encode(rows).tobytes().hex(),
    "hardened": ClkEncoder(default_schema(), secret, key_epoch=3).encode(rows).tobytes().hex(),
    "segmented": SegmentedEncoder(default_segmented_schema(), secret, key_epoch=3)
    .encode(rows).tobytes().hex(),
}
# clkhash 0.18.3's golden vectors (tests/encode/test_golden.py), every valid row.
golden = 0
for path in sorted(Path(sys.argv[1]).glob("golden-*.json")):
    for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
        encoder = ClkEncoder(load_schema(case["schema"]), bytes.fromhex(case["secret_hex"]))
        batch = encoder.encode_valid(case["rows"])
        wanted = [item["clk"] for item in case["expected"] if "clk" in item]
        assert [base64.b64encode(c.tobytes()).decode() for c in batch.clks] == wanted, case["name"]
        golden += len(wanted)
out["golden"] = golden
json.dump(out, sys.stdout)
"""

_RUN_ALONE = """
import contextlib, importlib, io, sys
import agency_client.cli as cli
assert "site-packages" not in cli.__file__ and sys.argv[1] in cli.__file__, cli.__file__
for package in sys.argv[2:]:
    try:
        importlib.import_module(package)
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit(f"{package} is importable from the agency distribution")
commands = ["consent", "deref", "disclosures", "encode", "gateway", "init", "schema",
            "status", "upload", "withdraw"]
for args in [["--help"], *([c, "--help"] for c in commands)]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        try:
            cli.cli.main(args, prog_name="agency-client")
        except SystemExit as exc:
            assert exc.code in (0, None), (args, exc.code)
    assert "Usage:" in stdout.getvalue(), args
# (grpc itself imports grpc_health and grpc_reflection when they are installed, as here.)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {
    "prometheus_client", "dask", "distributed", "psycopg", "matplotlib"})
assert loaded == [], loaded
print("ok")
"""


@pytest.mark.integration
def test_the_agency_wheel_runs_and_encodes_alone(tmp_path: Path) -> None:
    """Build the agency wheel, unpack it, and run it with only third-party packages beside
    it (no site hooks, so not the editable install of this checkout): every command's help
    works, no server package is importable or loaded, and its CLKs equal this checkout's."""
    source = tmp_path / "src"
    for name in ("linkage", "agency_client"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        AGENCY_PROJECT,
        source / "packaging" / "agency-client",
        ignore=shutil.ignore_patterns("build", "*.egg-info"),
    )
    wheels = tmp_path / "wheels"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(source / "packaging" / "agency-client"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("coresponder_agency_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(tmp_path / "unpacked")
    top = {n.split("/")[0] for n in names}
    assert top == {"agency_client", "linkage", next(t for t in top if t.endswith(".dist-info"))}
    server_folders = tuple(p.replace(".", "/") + "/" for p in SERVER_PACKAGES)
    assert [n for n in names if n.startswith(server_folders)] == []
    assert "linkage/encode/nicknames.csv" in names
    assert "agency_client/templates/gateway.html" in names

    # Third-party packages from this environment, without its .pth files (the editable
    # install of this checkout is one): python -S, and site-packages on PYTHONPATH.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(tmp_path / "unpacked"), sysconfig.get_paths()["purelib"]]
        ),
        "PYTHONSAFEPATH": "1",
    }
    alone = subprocess.run(
        [sys.executable, "-S", "-c", _RUN_ALONE, str(tmp_path / "unpacked"), *SERVER_PACKAGES],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert alone.stdout.strip() == "ok"

    thin = subprocess.run(
        [sys.executable, "-S", "-c", _ENCODE, str(GOLDEN)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert thin.returncode == 0, thin.stderr
    full = subprocess.run(
        [sys.executable, "-c", _ENCODE, str(GOLDEN)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert full.returncode == 0, full.stderr
    encoded = json.loads(thin.stdout)
    assert encoded == json.loads(full.stdout)
    assert encoded["golden"] >= 300
