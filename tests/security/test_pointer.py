"""Pointer tokens: AES-256-GCM bound to agency and epoch; key files with strict checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agency_client.pointer import (
    MAX_RECORD_ID_BYTES,
    PointerKey,
    format_pointer_key,
    generate_pointer_key,
    load_pointer_key,
    open_pointer,
    parse_pointer_key,
    pointer_key_from_env,
    seal_pointer,
    token_epoch,
    write_pointer_key,
)
from linkage.errors import AlreadyExistsError, ConfigError, InvalidInputError, NotFoundError

pytestmark = pytest.mark.unit

KEY = generate_pointer_key()
RECORD = "MRN-000123"


@given(
    record=st.text(min_size=1, max_size=60).filter(
        lambda s: len(s.encode("utf-8", "surrogatepass")) <= 256
    ),
    epoch=st.integers(0, 2**32 - 1),
)
def test_round_trip(record: str, epoch: int) -> None:
    try:
        record.encode("utf-8")
    except UnicodeEncodeError:
        with pytest.raises(InvalidInputError):
            seal_pointer(KEY, "valley", epoch, record)
        return
    token = seal_pointer(KEY, "valley", epoch, record)
    assert token_epoch(token) == epoch
    assert open_pointer(KEY, "valley", epoch, token) == record


def test_layout_and_padding_hide_the_id_length() -> None:
    short = seal_pointer(KEY, "valley", 3, "a")
    longer = seal_pointer(KEY, "valley", 3, "a" * 30)
    assert len(short) == len(longer) == 1 + 4 + 12 + 32 + 16
    assert short[0] == 1
    assert short[1:5] == (3).to_bytes(4, "big")
    assert len(seal_pointer(KEY, "valley", 3, "a" * 31)) == len(short) + 32
    assert b"MRN" not in seal_pointer(KEY, "valley", 3, RECORD)


def test_nonces_are_fresh() -> None:
    tokens = {seal_pointer(KEY, "valley", 1, RECORD) for _ in range(50)}
    assert len(tokens) == 50


def test_maximum_length() -> None:
    longest = "x" * MAX_RECORD_ID_BYTES
    assert open_pointer(KEY, "v", 0, seal_pointer(KEY, "v", 0, longest)) == longest
    with pytest.raises(InvalidInputError, match="longer than"):
        seal_pointer(KEY, "v", 0, longest + "x")


def _assert_refused(call: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        call()  # type: ignore[operator]
    assert RECORD not in str(info.value)


def test_wrong_key_agency_or_epoch_is_refused_without_plaintext() -> None:
    token = seal_pointer(KEY, "valley", 5, RECORD)
    other = generate_pointer_key()
    _assert_refused(lambda: open_pointer(other, "valley", 5, token), "cannot be opened")
    _assert_refused(lambda: open_pointer(KEY, "metro", 5, token), "cannot be opened")
    _assert_refused(lambda: open_pointer(KEY, "valley", 6, token), "epoch 5, not 6")


def test_epoch_in_the_header_is_authenticated() -> None:
    token = bytearray(seal_pointer(KEY, "valley", 5, RECORD))
    token[1:5] = (6).to_bytes(4, "big")  # claim another epoch
    _assert_refused(lambda: open_pointer(KEY, "valley", 6, bytes(token)), "cannot be opened")


def test_every_single_bit_flip_is_detected() -> None:
    token = seal_pointer(KEY, "valley", 1, RECORD)
    for i in range(len(token)):
        for bit in (0, 7):
            tampered = bytearray(token)
            tampered[i] ^= 1 << bit
            with pytest.raises(InvalidInputError):
                open_pointer(KEY, "valley", 1, bytes(tampered))


@pytest.mark.parametrize(
    ("token", "match"),
    [
        (b"", "wrong length"),
        (b"\x01" + bytes(20), "wrong length"),
        (b"\x02" + bytes(64), "unsupported version"),
        (b"\x01" + bytes(4) + bytes(12) + bytes(40), "wrong length"),
        ("text", "must be bytes"),
    ],
)
def test_malformed_tokens(token: bytes, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        open_pointer(KEY, "valley", 0, token)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("valley", -1, RECORD), "epoch"),
        (("valley", 2**32, RECORD), "epoch"),
        (("valley", True, RECORD), "epoch"),
        (("bad agency", 0, RECORD), "agency_id"),
        (("valley", 0, ""), "non-empty"),
    ],
)
def test_seal_validates_arguments(args: tuple[str, int, str], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        seal_pointer(KEY, *args)


def test_key_repr_never_shows_material() -> None:
    assert KEY.material.hex() not in repr(KEY)
    assert repr(KEY) == "PointerKey()"
    assert len(KEY.key_id) == 16
    assert KEY.key_id != generate_pointer_key().key_id


@pytest.mark.parametrize("material", [b"", bytes(16), bytes(33)])
def test_key_length_is_enforced(material: bytes) -> None:
    with pytest.raises(InvalidInputError, match="32 bytes"):
        PointerKey(material)


def test_key_file_round_trip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "pointer.key"
    write_pointer_key(path, KEY)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert load_pointer_key(path) == KEY
    with pytest.raises(AlreadyExistsError):
        write_pointer_key(path, generate_pointer_key())
    assert load_pointer_key(path) == KEY


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "pointer.key"
    write_pointer_key(path, KEY)
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match="chmod 600") as info:
        load_pointer_key(path)
    assert format_pointer_key(KEY).decode().strip() not in str(info.value)


def test_key_file_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real.key"
    write_pointer_key(real, KEY)
    link = tmp_path / "link.key"
    link.symlink_to(real)
    with pytest.raises(ConfigError):
        load_pointer_key(link)


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_pointer_key(tmp_path / "none")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "not a pointer key"),
        (b"\xff" * 10, "not ASCII"),
        (b"some-other-secret\n", "not a pointer key"),
        (b"coresponder-pointer-key/v1:!!!!\n", "not valid base64"),
        (b"coresponder-pointer-key/v1:" + b"QUFB" + b"\n", "must decode to 32"),
        (format_pointer_key(KEY) + b"extra\n", "not a pointer key"),
        (b"x" * 1000, "too large"),
    ],
)
def test_malformed_key_files(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "k"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match=match):
        load_pointer_key(path)


def test_key_from_an_injected_environment() -> None:
    env = {"POINTER_KEY": format_pointer_key(KEY).decode()}
    assert pointer_key_from_env(env, "POINTER_KEY") == KEY
    with pytest.raises(ConfigError, match="not set"):
        pointer_key_from_env({}, "POINTER_KEY")
    assert parse_pointer_key(format_pointer_key(KEY).decode().strip()) == KEY
