"""A reusable, isolated clkhash 0.18.3 interpreter (never a dependency of the project).

clkhash pins ``cryptography<41`` and ``bitarray<3``, so it lives in its own virtualenv
under ``build/`` (git-ignored). Other scripts and benchmarks get its interpreter with::

    sys.path.insert(0, str(REPO / "scripts"))
    from clkhash_env import clkhash_python
    python = clkhash_python()          # creates build/clkhash-venv on first use

and then run code in it with ``subprocess`` (see :func:`run_in_clkhash`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VENV = REPO / "build" / "clkhash-venv"
CLKHASH_REQUIREMENT = "clkhash==0.18.3"


def clkhash_python(venv_dir: Path = DEFAULT_VENV) -> Path:
    """The python executable of a virtualenv with clkhash 0.18.3, created if needed."""
    python = venv_dir / "bin" / "python"
    stamp = venv_dir / ".clkhash-installed"
    if stamp.is_file() and stamp.read_text().strip() == CLKHASH_REQUIREMENT and python.exists():
        return python
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", CLKHASH_REQUIREMENT],
        check=True,
    )
    check = subprocess.run(
        [str(python), "-c", "import clkhash; print(clkhash.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    )
    if check.stdout.strip() != CLKHASH_REQUIREMENT.split("==")[1]:
        raise RuntimeError(f"expected {CLKHASH_REQUIREMENT}, got {check.stdout.strip()!r}")
    stamp.write_text(CLKHASH_REQUIREMENT + "\n")
    return python


def run_in_clkhash(
    script: Path,
    payload: Any,
    *,
    script_args: list[str] | None = None,
    venv_dir: Path = DEFAULT_VENV,
) -> Any:
    """Run ``script`` with the clkhash interpreter: JSON ``payload`` in, JSON out."""
    python = clkhash_python(venv_dir)
    done = subprocess.run(
        [str(python), str(script), *(script_args or [])],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise RuntimeError(f"{script.name} failed in the clkhash virtualenv")
    return json.loads(done.stdout)


if __name__ == "__main__":
    print(clkhash_python())
