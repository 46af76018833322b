"""Paths of the bundled sample files (synthetic data only)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

__all__ = ["SAMPLE_CONFIG", "SAMPLE_EXPORT", "sample_path"]

SAMPLE_EXPORT: Final = "valley-mhc-export.csv"
SAMPLE_CONFIG: Final = "agency.toml"


def sample_path(name: str) -> Path:
    """The path of a bundled sample file, e.g. ``sample_path("agency.toml")``."""
    path = Path(str(resources.files("agency_client.samples").joinpath(name)))
    if not path.is_file():
        raise FileNotFoundError(name)
    return path
