"""Pointer tokens: an agency's local record ID, encrypted so only that agency can read it.

Token layout (bytes)::

    version (1 = 0x01) | key epoch (u32, big-endian) | nonce (12, random) | ciphertext | tag (16)

* AES-256-GCM under the agency's own pointer key, which never leaves the agency.
* Associated data: ``b"coresponder-pointer/v1" | u16 len(agency_id) | agency_id | version | epoch``,
  so a token opens only for the agency and key epoch it was sealed for, and any
  change to the header or body is detected.
* Plaintext: ``u16 len(id) | id (UTF-8) | zero padding`` to a multiple of 32
  bytes, so tokens do not reveal the exact length of local record IDs.
* Nonces are random (96 bits): rotate to a new epoch well before 2**32 tokens
  under one key (NIST SP 800-38D's bound for random nonces).

Key file: one line ``coresponder-pointer-key/v1:<base64 of 32 bytes>``, mode
0600. Loading refuses a file that group or others can access, or of any
other shape. Errors never contain the key, the token or the record ID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linkage.errors import AlreadyExistsError, ConfigError, InvalidInputError
from linkage.identity import validate_identifier
from linkage.private_files import read_private_file

__all__ = [
    "MAX_RECORD_ID_BYTES",
    "POINTER_KEY_BYTES",
    "TOKEN_VERSION",
    "PointerKey",
    "format_pointer_key",
    "generate_pointer_key",
    "load_pointer_key",
    "open_pointer",
    "parse_pointer_key",
    "pointer_key_from_env",
    "seal_pointer",
    "token_epoch",
    "write_pointer_key",
]

POINTER_KEY_BYTES = 32
TOKEN_VERSION = 1
MAX_RECORD_ID_BYTES = 256
_DOMAIN = b"coresponder-pointer/v1"
_KEY_PREFIX = "coresponder-pointer-key/v1:"
_HEADER = struct.Struct(">BI")
_NONCE_BYTES = 12
_TAG_BYTES = 16
_PAD_TO = 32
_MIN_TOKEN = _HEADER.size + _NONCE_BYTES + _PAD_TO + _TAG_BYTES
_MAX_TOKEN = _HEADER.size + _NONCE_BYTES + MAX_RECORD_ID_BYTES + _PAD_TO + _TAG_BYTES
_MAX_EPOCH = (1 << 32) - 1
_MAX_KEY_FILE = 256


@dataclass(frozen=True, slots=True)
class PointerKey:
    """A 256-bit AES-GCM key. Its repr never shows the material."""

    material: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.material, bytes) or len(self.material) != POINTER_KEY_BYTES:
            raise InvalidInputError(f"pointer key: must be exactly {POINTER_KEY_BYTES} bytes")

    @property
    def key_id(self) -> str:
        """A short, non-secret identifier (to tell keys apart in status output)."""
        return hashlib.sha256(b"coresponder-pointer-key-id\x00" + self.material).hexdigest()[:16]


def generate_pointer_key() -> PointerKey:
    """A fresh random pointer key."""
    return PointerKey(secrets.token_bytes(POINTER_KEY_BYTES))


def _check_epoch(epoch: int) -> None:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= _MAX_EPOCH:
        raise InvalidInputError("key epoch: must be an integer in 0..2**32-1")


def _associated_data(agency_id: str, header: bytes) -> bytes:
    agency = validate_identifier(agency_id, "agency_id").encode("ascii")
    return _DOMAIN + struct.pack(">H", len(agency)) + agency + header


def seal_pointer(key: PointerKey, agency_id: str, epoch: int, local_record_id: str) -> bytes:
    """Encrypt ``local_record_id`` into a token only ``agency_id``'s key at ``epoch`` opens."""
    _check_epoch(epoch)
    if not isinstance(local_record_id, str) or not local_record_id:
        raise InvalidInputError("local record ID: must be a non-empty string")
    try:
        raw = local_record_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("local record ID: must be valid Unicode text") from None
    if len(raw) > MAX_RECORD_ID_BYTES:
        raise InvalidInputError(f"local record ID: longer than {MAX_RECORD_ID_BYTES} bytes")
    body = struct.pack(">H", len(raw)) + raw
    body += bytes(-len(body) % _PAD_TO)
    header = _HEADER.pack(TOKEN_VERSION, epoch)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(key.material).encrypt(nonce, body, _associated_data(agency_id, header))
    return header + nonce + sealed


def token_epoch(token: bytes) -> int:
    """The key epoch a token was sealed under (to pick the key to open it with)."""
    return _parse_header(token)


def _parse_header(token: bytes) -> int:
    if not isinstance(token, bytes | bytearray):
        raise InvalidInputError("pointer token: must be bytes")
    if not _MIN_TOKEN <= len(token) <= _MAX_TOKEN:
        raise InvalidInputError("pointer token: malformed (wrong length)")
    version, epoch = _HEADER.unpack_from(token)
    if version != TOKEN_VERSION:
        raise InvalidInputError("pointer token: unsupported version")
    return int(epoch)


def open_pointer(key: PointerKey, agency_id: str, epoch: int, token: bytes) -> str:
    """Decrypt a token sealed by :func:`seal_pointer` with the same key, agency and epoch.

    Any mismatch or alteration raises InvalidInputError; nothing is returned
    unless the token authenticates.
    """
    _check_epoch(epoch)
    token_epoch_value = _parse_header(token)
    token = bytes(token)
    if token_epoch_value != epoch:
        raise InvalidInputError(
            f"pointer token: sealed under key epoch {token_epoch_value}, not {epoch}"
        )
    header = token[: _HEADER.size]
    nonce = token[_HEADER.size : _HEADER.size + _NONCE_BYTES]
    sealed = token[_HEADER.size + _NONCE_BYTES :]
    if (len(sealed) - _TAG_BYTES) % _PAD_TO:
        raise InvalidInputError("pointer token: malformed (wrong length)")
    try:
        body = AESGCM(key.material).decrypt(nonce, sealed, _associated_data(agency_id, header))
    except InvalidTag:
        raise InvalidInputError(
            "pointer token: cannot be opened (wrong key or agency, or the token was altered)"
        ) from None
    (length,) = struct.unpack_from(">H", body)
    end = 2 + length
    if length == 0 or end > len(body) or any(body[end:]):
        raise InvalidInputError("pointer token: malformed plaintext")
    try:
        return body[2:end].decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("pointer token: malformed plaintext") from None


def format_pointer_key(key: PointerKey) -> bytes:
    """The key file's content."""
    return (_KEY_PREFIX + base64.b64encode(key.material).decode("ascii") + "\n").encode("ascii")


def parse_pointer_key(text: str | bytes, where: str = "pointer key") -> PointerKey:
    """Parse the key file format (also accepted from an environment variable)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigError(f"{where}: not a pointer key (not ASCII)") from None
    line = text[:-1] if text.endswith("\n") else text
    if not line.startswith(_KEY_PREFIX) or "\n" in line:
        raise ConfigError(f"{where}: not a pointer key (expected one '{_KEY_PREFIX}...' line)")
    try:
        material = base64.b64decode(line[len(_KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: pointer key is not valid base64") from None
    if len(material) != POINTER_KEY_BYTES:
        raise ConfigError(f"{where}: pointer key must decode to {POINTER_KEY_BYTES} bytes")
    return PointerKey(material)


def write_pointer_key(path: Path, key: PointerKey) -> None:
    """Create ``path`` (mode 0600) holding ``key``; refuses to overwrite an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AlreadyExistsError(f"{path}: already exists; refusing to overwrite a key") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create ({exc.strerror})") from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, format_pointer_key(key))
        os.fsync(fd)
    finally:
        os.close(fd)


def load_pointer_key(path: Path) -> PointerKey:
    """Load a key file, refusing it if group or others can access it, if it is a link or
    not a regular file (the project's one rule, :mod:`linkage.private_files`), or if it is
    malformed."""
    data = read_private_file(path, "pointer key file", max_bytes=_MAX_KEY_FILE)
    return parse_pointer_key(data, str(path))


def pointer_key_from_env(env: Mapping[str, str], variable: str) -> PointerKey:
    """Read the key from ``env[variable]`` (the environment is passed in, never read here)."""
    value = env.get(variable)
    if value is None:
        raise ConfigError(f"environment variable {variable} is not set")
    return parse_pointer_key(value, f"environment variable {variable}")
