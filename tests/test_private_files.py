"""The one rule for files that hold secrets (linkage.private_files)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linkage.errors import ConfigError, NotFoundError
from linkage.private_files import mode_problem, private_file_problem, read_private_file

pytestmark = [
    pytest.mark.unit,
    pytest.mark.skipif(os.name == "nt", reason="modes say nothing on Windows"),
]


def _secret(tmp_path: Path, mode: int = 0o600, data: bytes = b"s3cr3t-value") -> Path:
    path = tmp_path / "secret.key"
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_files_are_read(tmp_path: Path, mode: int) -> None:
    path = _secret(tmp_path, mode)
    assert read_private_file(path, "key") == b"s3cr3t-value"
    assert read_private_file(path, "key", root_group=True) == b"s3cr3t-value"
    assert private_file_problem(path, "key") is None


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660, 0o620, 0o602])
def test_files_open_to_others_are_refused_naming_the_fix(tmp_path: Path, mode: int) -> None:
    path = _secret(tmp_path, mode)
    for root_group in (False, True):
        with pytest.raises(ConfigError) as info:
            read_private_file(path, "key", root_group=root_group)
        assert str(info.value).startswith(
            f"the key at {path} is open to other users (mode {mode:04o}); run chmod 600 on it"
        )
        assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("mode", [0o640, 0o440])
def test_group_read_is_accepted_only_for_root_owned_files_and_only_when_asked(
    tmp_path: Path, mode: int
) -> None:
    info = _secret(tmp_path, mode).stat()
    as_root = os.stat_result((info.st_mode, *info[1:4], 0, *info[5:]))
    as_user = os.stat_result((info.st_mode, *info[1:4], 1000, *info[5:]))
    path = tmp_path / "secret.key"
    assert mode_problem(path, "key", as_root, root_group=True) is None
    assert mode_problem(path, "key", as_root, root_group=False) is not None
    problem = mode_problem(path, "key", as_user, root_group=True)
    assert problem is not None
    assert problem.endswith(
        "(no access for group or others; 0640 is accepted for a file owned by root and read "
        "through its group)"
    )


def test_a_link_is_refused_even_to_a_private_file(tmp_path: Path) -> None:
    target = _secret(tmp_path)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    with pytest.raises(ConfigError, match="is a symbolic link; name the file itself, not a link"):
        read_private_file(link, "key")
    assert private_file_problem(link, "key") == (
        f"the key at {link} is a symbolic link; name the file itself, not a link"
    )


def test_only_regular_files_are_read(tmp_path: Path) -> None:
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="is not a regular file"):
        read_private_file(directory, "key")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    with pytest.raises(ConfigError, match="is not a regular file"):  # never blocks
        read_private_file(fifo, "key")


def test_a_missing_file_is_not_found_and_a_large_one_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"cannot read the key at .*: it does not exist"):
        read_private_file(tmp_path / "none", "key")
    assert "does not exist" in (private_file_problem(tmp_path / "none", "key") or "")
    path = _secret(tmp_path, data=b"x" * 300)
    with pytest.raises(ConfigError, match=r"too large \(300 bytes; at most 256\)"):
        read_private_file(path, "key", max_bytes=256)
    assert read_private_file(path, "key", max_bytes=300) == b"x" * 300
