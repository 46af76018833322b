"""Start a throwaway PostgreSQL server for the tests, and stop it afterwards.

Nothing here assumes a server the machine did not start. The server lives in
a fresh temporary directory, listens on 127.0.0.1 at a free port and on a
unix socket in that directory, and accepts only the superuser ``postgres``
with a password generated for this run (scram-sha-256). It is stopped and its
directory deleted at the end, also when the command fails or is interrupted.

    python scripts/ci_postgres.py run -- pytest -q     # start, run, stop
    python scripts/ci_postgres.py install              # apt-get install postgresql if missing

``LINKAGE_PG_BINDIR`` names the binaries' directory explicitly (nothing else
is then searched or installed); by default the newest /usr/lib/postgresql/*/bin
is used, then pg_ctl on PATH. ``run`` exports ``LINKAGE_TEST_PG_DSN`` (a
superuser DSN of a fresh database ``linkage_test``) to the command. When the
PostgreSQL binaries are missing it installs Debian's ``postgresql`` package
(only as root, with apt-get); when that is impossible it runs the command
without a server, so the tests that need one are skipped, unless
``LINKAGE_REQUIRE_POSTGRES=1``, which makes it fail instead (CI sets it).

initdb and postgres refuse to run as root. As root the server therefore runs
as the unprivileged system user ``postgres`` (created by Debian's package; if
it is missing, ``linkage-pg`` is created with useradd) through ``runuser``,
and the temporary directory is handed to that user. The tests' pytest fixture
(tests/store/conftest.py) uses :class:`TempPostgres` directly when no DSN is
given, so ``pytest tests/store`` works without this wrapper too.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from urllib.parse import quote

__all__ = ["PostgresUnavailableError", "TempPostgres", "find_bindir", "install_postgres", "main"]

DSN_VARIABLE = "LINKAGE_TEST_PG_DSN"
REQUIRE_VARIABLE = "LINKAGE_REQUIRE_POSTGRES"
BINDIR_VARIABLE = "LINKAGE_PG_BINDIR"
DATABASE = "linkage_test"
SUPERUSER = "postgres"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server can be started on this machine."""


def _log(message: str) -> None:
    print(f"[ci_postgres] {message}", file=sys.stderr, flush=True)


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, newest version first."""
    explicit = os.environ.get(BINDIR_VARIABLE)
    if explicit:  # an explicit choice is the only candidate
        bindir = Path(explicit)
        has_all = all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))
        return bindir if has_all else None
    candidates: list[Path] = []

    def version(path: str) -> tuple[int, ...]:
        name = Path(path).parent.name
        return tuple(int(p) for p in name.split(".") if p.isdigit())

    candidates += [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    ]
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def install_postgres() -> Path:
    """Install Debian's ``postgresql`` package when the binaries are missing."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    if os.environ.get(BINDIR_VARIABLE):
        raise PostgresUnavailableError(f"{BINDIR_VARIABLE} names no PostgreSQL binaries")
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresUnavailableError(
            "PostgreSQL binaries are missing and cannot be installed here "
            "(installing needs root and apt-get); install Debian's postgresql package"
        )
    _log("PostgreSQL binaries are missing: installing Debian's postgresql package")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    # First postgresql-common, then tell it not to create (and start) the
    # default "main" cluster on port 5432, as the official Docker image does:
    # the tests use only the server this script starts.
    subprocess.run([*install, "postgresql-common"], check=True, env=env)
    _no_main_cluster(Path("/etc/postgresql-common/createcluster.conf"))
    subprocess.run([*install, "postgresql"], check=True, env=env)
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailableError("installed postgresql but found no initdb under /usr/lib")
    return bindir


def _no_main_cluster(conf: Path) -> None:
    if not conf.is_file():
        return
    text = conf.read_text()
    setting = "create_main_cluster = false"
    updated = re.sub(r"(?m)^#?\s*create_main_cluster\s*=.*$", setting, text)
    if setting not in updated:
        updated = updated.rstrip("\n") + "\n" + setting + "\n"
    conf.write_text(updated)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _service_user() -> str | None:
    """The unprivileged user the server runs as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "linkage-pg"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "linkage-pg"],
        check=True,
    )
    return "linkage-pg"


class TempPostgres:
    """One throwaway PostgreSQL server: :meth:`start`, use :attr:`dsn`, :meth:`stop`."""

    def __init__(self, bindir: Path) -> None:
        self._bindir = bindir
        self._user = _service_user()
        self._root: Path | None = None
        self._password = secrets.token_urlsafe(24)
        self.port = 0
        self.dsn = ""

    def _as_server_user(self, argv: Sequence[str]) -> list[str]:
        if self._user is None:
            return list(argv)
        return ["runuser", "-u", self._user, "--", *argv]

    def _run(self, argv: Sequence[str]) -> None:
        result = subprocess.run(
            self._as_server_user(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
            cwd="/",
        )
        if result.returncode != 0:
            raise PostgresUnavailableError(
                f"{Path(argv[0]).name} failed with exit code {result.returncode}:\n"
                + result.stdout[-4000:]
            )

    @property
    def data_dir(self) -> Path:
        assert self._root is not None
        return self._root / "data"

    def start(self) -> str:
        """Create a cluster and a database, start the server; returns the DSN."""
        root = Path(tempfile.mkdtemp(prefix="linkage-pg-"))
        self._root = root
        try:
            if self._user is not None:
                shutil.chown(root, self._user)
            pwfile = root / "pwfile"
            pwfile.write_text(self._password + "\n")
            pwfile.chmod(0o600)
            if self._user is not None:
                shutil.chown(pwfile, self._user)
            self._run(
                [
                    str(self._bindir / "initdb"),
                    "--pgdata",
                    str(self.data_dir),
                    "--username",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                    "--no-instructions",
                    "--no-sync",  # a throwaway cluster; the server itself still fsyncs
                ]
            )
            pwfile.unlink()
            self._start_server()
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self.dsn

    def _start_server(self) -> None:
        assert self._root is not None
        last_error: PostgresUnavailableError | None = None
        for _ in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self._root} -c max_connections=200 "
                "-c shared_buffers=128MB"
            )
            try:
                self._run(
                    [
                        str(self._bindir / "pg_ctl"),
                        "start",
                        "--pgdata",
                        str(self.data_dir),
                        "--log",
                        str(self._root / "server.log"),
                        "--wait",
                        "--timeout",
                        "60",
                        "-o",
                        options,
                    ]
                )
            except PostgresUnavailableError as exc:
                last_error = exc
                continue
            self.dsn = (
                f"postgresql://{SUPERUSER}:{quote(self._password, safe='')}"
                f"@127.0.0.1:{self.port}/{DATABASE}"
            )
            return
        assert last_error is not None
        raise last_error

    def _create_database(self) -> None:
        # psql ships with every server package; avoids needing psycopg here.
        env = {**os.environ, "PGPASSWORD": self._password}
        psql = self._bindir / "psql"
        command = [
            str(psql) if psql.is_file() else "psql",
            "--no-psqlrc",
            "--quiet",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--username",
            SUPERUSER,
            "--dbname",
            "postgres",
            "--set",
            "ON_ERROR_STOP=1",
            "--command",
            f"CREATE DATABASE {DATABASE}",
        ]
        deadline = time.monotonic() + 30
        while True:
            result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if result.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PostgresUnavailableError(f"cannot create the test database: {result.stderr}")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory."""
        root, self._root = self._root, None
        if root is None:
            return
        try:
            if (root / "data" / "postmaster.pid").exists():
                subprocess.run(
                    self._as_server_user(
                        [
                            str(self._bindir / "pg_ctl"),
                            "stop",
                            "--pgdata",
                            str(root / "data"),
                            "--mode",
                            "fast",
                            "--wait",
                            "--timeout",
                            "60",
                        ]
                    ),
                    capture_output=True,
                    check=False,
                    cwd="/",
                )
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def server_log(self) -> str:
        """The server's log so far (for diagnosing a failed start)."""
        if self._root is None:
            return ""
        with contextlib.suppress(OSError):
            return (self._root / "server.log").read_text(errors="replace")
        return ""


@contextlib.contextmanager
def temp_postgres(bindir: Path) -> Iterator[TempPostgres]:
    """A started server that is stopped however the block ends."""
    server = TempPostgres(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _run(command: Sequence[str]) -> int:
    required = os.environ.get(REQUIRE_VARIABLE) == "1"
    if os.environ.get(DSN_VARIABLE):
        _log(f"{DSN_VARIABLE} is already set: using that server")
        return subprocess.call(list(command))
    try:
        bindir = install_postgres()
    except (PostgresUnavailableError, subprocess.CalledProcessError) as exc:
        if required:
            _log(f"{REQUIRE_VARIABLE}=1 but PostgreSQL is unavailable: {exc}")
            return 3
        _log(f"PostgreSQL is unavailable ({exc}); its tests will be skipped")
        return subprocess.call(list(command))

    child: subprocess.Popen[bytes] | None = None
    signals_seen = 0

    def forward(signum: int, frame: FrameType | None) -> None:
        # First signal: let the command finish its own cleanup (a terminal's
        # Ctrl-C reaches it directly; SIGTERM is passed on). A second one
        # gives up waiting. Either way the server is stopped below.
        nonlocal signals_seen
        del frame
        signals_seen += 1
        if signals_seen > 1 or child is None:
            raise SystemExit(128 + signum)
        if signum == signal.SIGTERM and child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with temp_postgres(bindir) as server:
            _log(f"PostgreSQL from {bindir} is up on 127.0.0.1:{server.port}")
            env = {**os.environ, DSN_VARIABLE: server.dsn}
            child = subprocess.Popen(list(command), env=env)
            code = child.wait()
        _log("PostgreSQL stopped")
        return code if code >= 0 else 128 - code  # killed by a signal: the shell's 128+N
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["install"]:
        print(install_postgres())
        return 0
    if args[:1] == ["run"]:
        command = args[1:]
        if command[:1] == ["--"]:
            command = command[1:]
        if not command:
            print("usage: ci_postgres.py run -- COMMAND [ARGS...]", file=sys.stderr)
            return 2
        return _run(command)
    print("usage: ci_postgres.py install | run -- COMMAND [ARGS...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
