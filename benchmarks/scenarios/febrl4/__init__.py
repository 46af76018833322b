"""FEBRL4 as a scenario folder (benchmarks/scenarios/_febrl.py); ``people`` and ``seed``
are ignored: the data set is fixed."""

from __future__ import annotations

from pathlib import Path

from benchmarks.scenarios._febrl import write_febrl

__all__ = ["generate"]


def generate(people: int, seed: int, out_dir: Path) -> None:
    """Write FEBRL4 into ``out_dir``."""
    del people, seed
    write_febrl("febrl4", out_dir)
