"""Shared fixtures: a work folder with the sample export, its agency.toml and a fresh secret."""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import pytest

from agency_client import sample_path


@pytest.fixture
def agency_dir(tmp_path: Path) -> Path:
    for name in ("agency.toml", "valley-mhc-export.csv"):
        shutil.copyfile(sample_path(name), tmp_path / name)
    (tmp_path / "linkage-secret.key").write_text(secrets.token_hex(32) + "\n")
    (tmp_path / "linkage-secret.key").chmod(0o600)
    return tmp_path
