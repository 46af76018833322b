#!/usr/bin/env bash
# The project's two entry points, as shown at the top of the README:
#   ./dev.sh demo   set up a virtualenv and run the main job on the embedded defaults
#   ./dev.sh test   set up a virtualenv and run ruff, mypy --strict, the import contracts
#                   and the test suite
# Both need only Python 3.11+ with pip and venv. Extra arguments go to the job.
set -euo pipefail
cd "$(dirname "$0")"
here=$(pwd)
venv="${LINKAGE_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

ensure_venv() {
    local extras="$1"
    if [ ! -x "$venv/bin/python" ]; then
        "$python" -m venv "$venv"
    fi
    # Reinstall only when the project's metadata changed since the last install.
    local stamp="$venv/.installed-$extras"
    local digest
    digest=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ]; then
        "$venv/bin/python" -m pip install --quiet --upgrade pip
        "$venv/bin/python" -m pip install --quiet -e ".[$extras]"
        echo "$digest" > "$stamp"
    fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
    demo)
        ensure_venv "demo"
        exec "$venv/bin/python" -m linkage.demo "$@"
        ;;
    test)
        ensure_venv "dev"
        export PATH="$venv/bin:$PATH"
        echo "== ruff"
        ruff check .
        ruff format --check .
        echo "== mypy (strict)"
        mypy linkage agency_client
        echo "== import contracts (pyproject.toml [tool.importlinter])"
        lint-imports --no-cache
        echo "== pytest"
        # A throwaway PostgreSQL server (installed from Debian's packages if
        # missing) runs for the store tests; it is stopped however pytest ends.
        exec "$venv/bin/python" scripts/ci_postgres.py run -- pytest "$@"
        ;;
    *)
        echo "usage: ./dev.sh demo|test [args...]" >&2
        exit 2
        ;;
esac
