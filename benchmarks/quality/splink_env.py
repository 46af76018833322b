"""An isolated Splink 5 interpreter for the quality benchmark (never a dependency of the project).

Splink (plaintext probabilistic linkage on DuckDB) is the reference the benchmark compares
with. It lives in its own virtualenv under ``build/splink-venv`` (git-ignored), created on
first use, so it never touches the project's ``.venv``::

    python benchmarks/quality/splink_env.py        # creates it and prints its interpreter
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO / "build" / "splink-venv"
REQUIREMENTS = ("splink==5.0.0", "duckdb", "pandas", "pyarrow")


def splink_python(venv_dir: Path = DEFAULT_VENV) -> Path:
    """The python executable of a virtualenv with Splink 5, created if needed."""
    python = venv_dir / "bin" / "python"
    stamp = venv_dir / ".splink-installed"
    wanted = " ".join(REQUIREMENTS)
    if stamp.is_file() and stamp.read_text().strip() == wanted and python.exists():
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *REQUIREMENTS],
        check=True,
    )
    check = subprocess.run(
        [str(python), "-c", "import splink; print(splink.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    if not check.stdout.strip().startswith("5."):
        raise RuntimeError(f"expected Splink 5, got {check.stdout.strip()!r}")
    stamp.write_text(wanted + "\n")
    return python


if __name__ == "__main__":
    print(splink_python())
    sys.exit(0)
