"""Code and documents cite only documents that are in the repository (a citation of a
design document that was never checked in sent readers nowhere)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
_SOURCES = ("linkage", "agency_client", "benchmarks", "scripts", "tests")
_CITED = re.compile(r"docs/([A-Za-z0-9_.-]+\.md)")
_LINK = re.compile(r"\]\(([A-Za-z0-9_./-]+\.md)(?:#[^)]*)?\)")
_ABSENT = "DESIGN" + ".md"


def _texts() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in _SOURCES:
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts]


def test_every_cited_document_exists() -> None:
    missing = []
    for path in _texts():
        text = path.read_text(encoding="utf-8")
        for name in _CITED.findall(text):
            if not (ROOT / "docs" / name).is_file():
                missing.append(f"{path.relative_to(ROOT)}: docs/{name}")
        if path.suffix == ".md":
            for target in _LINK.findall(text):
                if not (path.parent / target).is_file():
                    missing.append(f"{path.relative_to(ROOT)}: {target}")
        if _ABSENT in text:
            missing.append(f"{path.relative_to(ROOT)}: {_ABSENT}")
    assert missing == []


def test_the_architecture_document_covers_layers_boundaries_and_the_data_flow() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for heading in ("## 1. Layers", "## 2. Trust boundaries", "## 3. One record, from CSV"):
        assert heading in text
