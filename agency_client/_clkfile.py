"""Encoded output files: the agency CLK file format (``.clk``) and clkhash's JSON, both streamed.

CLK file format, version 1 (all integers big-endian)
====================================================

::

    offset  size  field
    0       8     magic  b"LKCLK\\x00\\x00\\x01"  (the last byte is the format version)
    8       8     record count, u64
    16      4     header length H, u32
    20      H     header: UTF-8 JSON object, keys sorted:
                    "format": "linkage-clk", "version": 1,
                    "schema_fingerprint": hex SHA-256 of the canonical schema,
                    "key_epoch": int, "clk_bits": int (multiple of 8),
                    "record_keys": bool, "record_key_column": str | null
    20+H    ...   records, one after another:
                    source row number, u64 (data row, 1-based, header not counted)
                    if record_keys: key length K, u16; K bytes of UTF-8 local record key
                    CLK, clk_bits / 8 bytes (clkhash's MSB-first bit layout)
    end-48  48    trailer: b"LKCLKEND", record count u64,
                  SHA-256 over the header bytes and every record byte

The file holds no names, dates of birth or other PII: only row numbers, the
agency-local record key (the file stays at the agency) and CLKs. Writers write to
a temporary file beside the target and rename it only after the trailer is written
and synced, so a reader never sees a half-written file; readers verify the count
and digest when they reach the end and raise :class:`IntegrityError` otherwise.

clkhash JSON (``--format clkhash-json``) is ``{"clks": ["<base64>", ...]}``, which
carries no row numbers or keys; it is for interoperability with clkhash tools.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import struct
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Literal, Self

import numpy as np

from linkage.errors import IntegrityError, InvalidInputError
from linkage.types import ClkBytes, Int64Array

__all__ = [
    "CLK_FILE_MAGIC",
    "ClkBatch",
    "ClkFileHeader",
    "ClkFileWriter",
    "ClkWriter",
    "ClkhashJsonWriter",
    "detect_file_kind",
    "open_writer",
    "read_clk_batches",
    "read_clk_file_header",
]

CLK_FILE_MAGIC: Final = b"LKCLK\x00\x00\x01"
_TRAILER_MAGIC: Final = b"LKCLKEND"
_PREFIX: Final = struct.Struct(">8sQI")
_TRAILER: Final = struct.Struct(">8sQ32s")
_ROW: Final = struct.Struct(">Q")
_KEY_LENGTH: Final = struct.Struct(">H")
#: row numbers are written from int64 (the writer never exceeds it); a larger one is damage
_MAX_ROW: Final = 2**63 - 1
_ROW_OUT_OF_RANGE: Final = "a record's row number is out of range (the CLK file is damaged)"
_MAX_HEADER: Final = 1 << 20
FORMAT_NAME: Final = "linkage-clk"


@dataclass(frozen=True, slots=True)
class ClkFileHeader:
    """What a CLK file says about its CLKs."""

    schema_fingerprint: str
    key_epoch: int
    clk_bits: int
    record_key_column: str | None = None
    count: int = 0

    def __post_init__(self) -> None:
        if self.clk_bits < 8 or self.clk_bits % 8:
            raise InvalidInputError("clk_bits must be a positive multiple of 8")
        if not re.fullmatch(r"[0-9a-f]{64}", self.schema_fingerprint):
            raise InvalidInputError("schema_fingerprint must be 64 lower-case hex digits")
        if self.key_epoch < 0:
            raise InvalidInputError("key_epoch must be >= 0")

    @property
    def record_keys(self) -> bool:
        return self.record_key_column is not None

    def to_json_bytes(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT_NAME,
                "version": 1,
                "schema_fingerprint": self.schema_fingerprint,
                "key_epoch": self.key_epoch,
                "clk_bits": self.clk_bits,
                "record_keys": self.record_keys,
                "record_key_column": self.record_key_column,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")


@dataclass(frozen=True, slots=True)
class ClkBatch:
    """A run of records: source row numbers, optional local keys and CLK bytes."""

    row_numbers: Int64Array
    record_keys: tuple[str, ...] | None
    clks: ClkBytes


class _AtomicFile:
    """A temporary file beside ``target`` that becomes ``target`` only on commit."""

    def __init__(self, target: Path) -> None:
        self.target = target
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        self.temp = Path(name)
        self.stream: IO[bytes] = os.fdopen(handle, "w+b")

    def commit(self) -> None:
        self.stream.flush()
        os.fsync(self.stream.fileno())
        self.stream.close()
        os.replace(self.temp, self.target)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()


class ClkWriter:
    """Common shape of the writers: ``write(batch)``, then ``commit()`` (or ``abort()``)."""

    count: int

    def write(self, batch: ClkBatch) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class ClkFileWriter(ClkWriter):
    """Streams records into a CLK file; nothing appears at ``path`` before :meth:`commit`."""

    def __init__(self, path: Path, header: ClkFileHeader) -> None:
        self.header = header
        self.count = 0
        self._clk_bytes = header.clk_bits // 8
        self._file = _AtomicFile(path)
        self._digest = hashlib.sha256()
        header_bytes = header.to_json_bytes()
        self._file.stream.write(_PREFIX.pack(CLK_FILE_MAGIC, 0, len(header_bytes)))
        self._put(header_bytes)
        self._done = False

    def _put(self, data: bytes) -> None:
        self._digest.update(data)
        self._file.stream.write(data)

    def write(self, batch: ClkBatch) -> None:
        clks = np.ascontiguousarray(batch.clks, dtype=np.uint8)
        if clks.ndim != 2 or clks.shape[1] != self._clk_bytes:
            raise InvalidInputError(f"CLKs must be {self._clk_bytes} bytes each")
        rows = batch.row_numbers.tolist()
        if len(rows) != clks.shape[0]:
            raise InvalidInputError("row numbers and CLKs differ in count")
        keys = batch.record_keys
        if self.header.record_keys != (keys is not None):
            raise InvalidInputError("record keys must be given exactly when the header says so")
        out = bytearray()
        for index, row in enumerate(rows):
            out += _ROW.pack(row)
            if keys is not None:
                encoded = keys[index].encode("utf-8")
                if len(encoded) > 0xFFFF:
                    raise InvalidInputError(f"record {index}: the record key is too long")
                out += _KEY_LENGTH.pack(len(encoded))
                out += encoded
            out += clks[index].tobytes()
        self._put(bytes(out))
        self.count += len(rows)

    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        stream = self._file.stream
        stream.write(_TRAILER.pack(_TRAILER_MAGIC, self.count, self._digest.digest()))
        stream.seek(8)
        stream.write(struct.pack(">Q", self.count))
        self._file.commit()

    def abort(self) -> None:
        self._done = True
        self._file.abort()


class ClkhashJsonWriter(ClkWriter):
    """Streams ``{"clks": [base64, ...]}`` (clkhash's output) atomically."""

    def __init__(self, path: Path) -> None:
        self.count = 0
        self._file = _AtomicFile(path)
        self._file.stream.write(b'{"clks": [')
        self._done = False

    def write(self, batch: ClkBatch) -> None:
        parts = [base64.b64encode(clk.tobytes()) for clk in batch.clks]
        if not parts:
            return
        joined = b", ".join(b'"' + part + b'"' for part in parts)
        self._file.stream.write((b", " if self.count else b"") + joined)
        self.count += len(parts)

    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.stream.write(b"]}\n")
        self._file.commit()

    def abort(self) -> None:
        self._done = True
        self._file.abort()


def open_writer(
    path: Path, output_format: Literal["clk", "clkhash-json"], header: ClkFileHeader
) -> ClkWriter:
    """A writer for ``path`` in the given format."""
    if output_format == "clkhash-json":
        return ClkhashJsonWriter(path)
    return ClkFileWriter(path, header)


# --------------------------------------------------------------------------- reading


def detect_file_kind(path: Path) -> Literal["clk", "clkhash-json", "schema", "unknown"]:
    """Guess what a file is from its first bytes (CLK file, clkhash JSON or a schema)."""
    with path.open("rb") as stream:
        start = stream.read(4096)
    if start.startswith(CLK_FILE_MAGIC):
        return "clk"
    text = start.decode("utf-8", errors="replace").lstrip()
    if text.startswith("{"):
        if re.match(r'\{\s*"clks"\s*:', text):
            return "clkhash-json"
        return "schema"
    return "unknown"


def _read_exact(stream: IO[bytes], size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise IntegrityError(f"the CLK file is truncated (in the {what})")
    return data


def _read_header(stream: IO[bytes]) -> tuple[ClkFileHeader, bytes]:
    magic, count, length = _PREFIX.unpack(_read_exact(stream, _PREFIX.size, "prefix"))
    if magic != CLK_FILE_MAGIC:
        raise InvalidInputError("not a CLK file (bad magic bytes or unsupported version)")
    if length > _MAX_HEADER:
        raise IntegrityError("the CLK file header is implausibly long")
    raw = _read_exact(stream, length, "header")
    try:
        fields = json.loads(raw)
        if fields.get("format") != FORMAT_NAME or fields.get("version") != 1:
            raise InvalidInputError("not a version 1 linkage CLK file")
        header = ClkFileHeader(
            schema_fingerprint=str(fields["schema_fingerprint"]),
            key_epoch=int(fields["key_epoch"]),
            clk_bits=int(fields["clk_bits"]),
            record_key_column=fields.get("record_key_column"),
            count=count,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise IntegrityError("the CLK file header is malformed") from None
    if header.record_keys != bool(fields.get("record_keys")):
        raise IntegrityError("the CLK file header is inconsistent about record keys")
    return header, raw


def read_clk_file_header(path: Path) -> ClkFileHeader:
    """The header (with the record count) of a CLK file, without reading its records."""
    with path.open("rb") as stream:
        return _read_header(stream)[0]


def read_clk_batches(path: Path, *, batch_size: int = 65536) -> Iterator[ClkBatch]:
    """Stream the records of a CLK file or a clkhash JSON file in batches.

    A CLK file's count and digest are verified at the end (``IntegrityError`` if they
    do not match). clkhash JSON records are numbered 1, 2, ... in file order.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if detect_file_kind(path) == "clkhash-json":
        yield from _read_clkhash_json(path, batch_size)
        return
    with path.open("rb") as stream:
        header, raw_header = _read_header(stream)
        digest = hashlib.sha256(raw_header)
        size = header.clk_bits // 8
        end = path.stat().st_size - _TRAILER.size
        seen = 0
        if not header.record_keys:
            record = np.dtype([("row", ">u8"), ("clk", np.uint8, (size,))])
            while stream.tell() < end:
                want = min(batch_size, (end - stream.tell()) // record.itemsize)
                if want == 0:
                    break
                raw = _read_exact(stream, want * record.itemsize, "records")
                digest.update(raw)
                table = np.frombuffer(raw, dtype=record)
                if (table["row"] > _MAX_ROW).any():
                    raise IntegrityError(_ROW_OUT_OF_RANGE)
                seen += want
                yield ClkBatch(
                    row_numbers=table["row"].astype(np.int64),
                    record_keys=None,
                    clks=np.ascontiguousarray(table["clk"]),
                )
        while header.record_keys:
            numbers: list[int] = []
            keys: list[str] = []
            blob = bytearray()
            while len(numbers) < batch_size and stream.tell() < end:
                raw_row = _read_exact(stream, _ROW.size, "records")
                digest.update(raw_row)
                numbers.append(_ROW.unpack(raw_row)[0])
                if numbers[-1] > _MAX_ROW:
                    raise IntegrityError(_ROW_OUT_OF_RANGE)
                if header.record_keys:
                    raw_len = _read_exact(stream, _KEY_LENGTH.size, "records")
                    raw_key = _read_exact(stream, _KEY_LENGTH.unpack(raw_len)[0], "records")
                    digest.update(raw_len)
                    digest.update(raw_key)
                    try:
                        keys.append(raw_key.decode("utf-8"))
                    except UnicodeDecodeError:
                        raise IntegrityError("a record key is not UTF-8") from None
                clk = _read_exact(stream, size, "records")
                digest.update(clk)
                blob += clk
            if numbers:
                seen += len(numbers)
                yield ClkBatch(
                    row_numbers=np.asarray(numbers, dtype=np.int64),
                    record_keys=tuple(keys) if header.record_keys else None,
                    clks=np.frombuffer(bytes(blob), dtype=np.uint8).reshape(len(numbers), size),
                )
            if stream.tell() >= end:
                break
        if stream.tell() != end:
            raise IntegrityError("the CLK file is truncated or has trailing bytes")
        magic, count, expected = _TRAILER.unpack(_read_exact(stream, _TRAILER.size, "trailer"))
        if magic != _TRAILER_MAGIC or count != seen or count != header.count:
            raise IntegrityError("the CLK file's record count does not match its trailer")
        if expected != digest.digest():
            raise IntegrityError("the CLK file's digest does not match (corrupted)")


_JSON_STRING: Final = re.compile(rb'"([^"\\]*)"')


def _read_clkhash_json(path: Path, batch_size: int) -> Iterator[ClkBatch]:
    """Incremental scan of ``{"clks": [...]}`` without loading the whole file."""
    with path.open("rb") as stream:
        buffer = b""
        while b"[" not in buffer:
            more = stream.read(1 << 16)
            if not more:
                raise InvalidInputError("not a clkhash JSON file (no clks array)")
            buffer += more
        if not re.match(rb'\s*\{\s*"clks"\s*:\s*\[', buffer):
            raise InvalidInputError('not a clkhash JSON file (expected {"clks": [...]})')
        buffer = buffer[buffer.index(b"[") + 1 :]
        number = 0
        pending: list[bytes] = []
        size: int | None = None
        finished = False
        while True:
            position = 0
            while True:
                stripped = buffer[position:].lstrip(b" \t\r\n,")
                position = len(buffer) - len(stripped)
                if stripped.startswith(b"]"):
                    finished = True
                    break
                match = _JSON_STRING.match(buffer, position)
                if match is None:
                    break
                try:
                    clk = base64.b64decode(match.group(1), validate=True)
                except (binascii.Error, ValueError):
                    raise InvalidInputError(f"clks[{number}] is not base64") from None
                if size is None:
                    size = len(clk)
                if len(clk) != size or not clk:
                    raise InvalidInputError(f"clks[{number}] differs in length from clks[0]")
                pending.append(clk)
                number += 1
                position = match.end()
                if len(pending) >= batch_size:
                    yield _json_batch(pending, number)
                    pending = []
            buffer = buffer[position:]
            if finished:
                break
            more = stream.read(1 << 16)
            if not more:
                raise InvalidInputError("the clkhash JSON file is truncated")
            buffer += more
        if pending:
            yield _json_batch(pending, number)


def _json_batch(pending: Sequence[bytes], last_number: int) -> ClkBatch:
    first = last_number - len(pending) + 1
    size = len(pending[0])
    return ClkBatch(
        row_numbers=np.arange(first, last_number + 1, dtype=np.int64),
        record_keys=None,
        clks=np.frombuffer(b"".join(pending), dtype=np.uint8).reshape(len(pending), size),
    )
