"""Port files: written whole, waited for by whoever started the server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from linkage.errors import UnavailableError
from linkage.portfile import wait_for_port_file, write_port_file

pytestmark = pytest.mark.unit


def _python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_the_port_a_process_writes_is_returned(tmp_path: Path) -> None:
    path = tmp_path / "port"
    writer = _python(
        "import time; from pathlib import Path; from linkage.portfile import write_port_file; "
        f"time.sleep(0.3); write_port_file(Path({str(path)!r}), 50123); time.sleep(30)"
    )
    try:
        assert wait_for_port_file(path, writer, "server", timeout_s=30) == 50123
        assert path.read_text() == "50123\n"
        assert not path.with_suffix(".tmp").exists()
    finally:
        writer.kill()
        writer.wait()


def test_a_process_that_exits_first_is_named_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("config error: [server] listen must be host:port\n")
    quitter = _python("import sys; sys.exit(3)")
    with pytest.raises(UnavailableError) as info:
        wait_for_port_file(tmp_path / "port", quitter, "matcher", log=log)
    assert info.value.message.startswith("the matcher exited at start (exit code 3)")
    assert info.value.message.endswith("listen must be host:port\n")


def test_a_process_that_does_not_start_in_time_is_killed(tmp_path: Path) -> None:
    sleeper = _python("import time; time.sleep(60)")
    with pytest.raises(UnavailableError, match=r"the gateway did not start in 0\.3 s"):
        wait_for_port_file(tmp_path / "port", sleeper, "gateway", timeout_s=0.3)
    assert sleeper.poll() is not None


def test_a_written_port_file_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "port"
    write_port_file(path, 8765)
    write_port_file(path, 8766)
    assert path.read_text() == "8766\n"
    assert [p.name for p in tmp_path.iterdir()] == ["port"]
