"""Every third-party module the tests import is declared: a main dependency of the
project or in its ``dev`` extra (directly, not only as some other package's dependency).

The modules of ``benchmarks/`` and ``scripts/`` that tests import count as test code.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
_LOCAL = {"linkage", "agency_client", "tests", "benchmarks", "scripts"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(text: str) -> tuple[str, set[str]]:
    match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?", text)
    assert match is not None, text
    extras = {e.strip() for e in (match.group(2) or "").split(",") if e.strip()}
    return _normal(match.group(1)), extras


def _declared() -> set[str]:
    """Distributions the main dependencies and the dev extra name, with those an extra
    they ask for brings (``dask[distributed]`` declares ``distributed``)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names: set[str] = set()
    for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        name, extras = _requirement(text)
        names.add(name)
        for requirement in importlib.metadata.requires(name) or []:
            marker = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
            if marker is not None and marker.group(1) in extras:
                names.add(_requirement(requirement)[0])
    return names


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _repo_module(name: str) -> Path | None:
    parts = name.split(".")
    for stop in range(len(parts), 0, -1):
        for candidate in (
            ROOT.joinpath(*parts[:stop]).with_suffix(".py"),
            ROOT.joinpath(*parts[:stop], "__init__.py"),
        ):
            if candidate.is_file():
                return candidate
    return None


def _test_imports() -> dict[str, set[str]]:
    """Top-level third-party modules imported by the tests and the benchmark and script
    modules they import, with where."""
    pending = sorted((ROOT / "tests").rglob("*.py"))
    seen: set[Path] = set()
    third: dict[str, set[str]] = {}
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            top = name.split(".")[0]
            if top in ("benchmarks", "scripts"):
                module = _repo_module(name)
                if module is not None:
                    pending.append(module)
            elif top not in _LOCAL and top not in sys.stdlib_module_names:
                third.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return third


def test_every_third_party_module_the_tests_import_is_declared() -> None:
    declared = _declared()
    distributions = importlib.metadata.packages_distributions()
    missing = {}
    for module, where in sorted(_test_imports().items()):
        provided_by = {_normal(d) for d in distributions.get(module, [])}
        if provided_by and not provided_by & declared:
            missing[module] = (sorted(provided_by), sorted(where)[:3])
    assert missing == {}, f"declare these in pyproject's dev extra: {missing}"
