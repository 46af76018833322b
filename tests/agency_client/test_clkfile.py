"""CLK files and clkhash JSON: streamed round trips, atomic writes, corruption detection."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agency_client import (
    ClkBatch,
    ClkFileHeader,
    ClkFileWriter,
    ClkhashJsonWriter,
    detect_file_kind,
    read_clk_batches,
    read_clk_file_header,
)
from linkage.errors import IntegrityError, InvalidInputError

pytestmark = pytest.mark.unit

FINGERPRINT = "ab" * 32


def batch(start: int, count: int, keys: bool) -> ClkBatch:
    rng = np.random.default_rng(start)
    return ClkBatch(
        row_numbers=np.arange(start, start + count, dtype=np.int64),
        record_keys=tuple(f"key-{i}-ü" for i in range(start, start + count)) if keys else None,
        clks=rng.integers(0, 256, size=(count, 16), dtype=np.uint8),
    )


@pytest.mark.parametrize("keys", [False, True])
def test_round_trip_in_batches(tmp_path: Path, keys: bool) -> None:
    path = tmp_path / "out.clk"
    header = ClkFileHeader(FINGERPRINT, 3, 128, "client_id" if keys else None)
    parts = [batch(1, 5, keys), batch(6, 0, keys), batch(6, 7, keys)]
    with ClkFileWriter(path, header) as writer:
        for part in parts:
            writer.write(part)
    read_header = read_clk_file_header(path)
    assert read_header.count == 12
    assert (read_header.key_epoch, read_header.clk_bits) == (3, 128)
    got = list(read_clk_batches(path, batch_size=4))
    assert [len(b.row_numbers) for b in got] == [4, 4, 4]
    assert np.concatenate([b.row_numbers for b in got]).tolist() == list(range(1, 13))
    assert np.array_equal(
        np.concatenate([b.clks for b in got]), np.concatenate([p.clks for p in parts])
    )
    if keys:
        assert next(k for b in got for k in (b.record_keys or ())) == "key-1-ü"
    assert detect_file_kind(path) == "clk"


def test_nothing_appears_until_commit_and_abort_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "out.clk"
    writer = ClkFileWriter(path, ClkFileHeader(FINGERPRINT, 1, 128))
    writer.write(batch(1, 3, False))
    assert not path.exists()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), ClkFileWriter(path, ClkFileHeader(FINGERPRINT, 1, 128)) as w:
        w.write(batch(1, 3, False))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncate", "flip", "count"])
def test_damage_is_detected(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "out.clk"
    with ClkFileWriter(path, ClkFileHeader(FINGERPRINT, 1, 128, "k")) as writer:
        writer.write(batch(1, 20, True))
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:-60]
    elif damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data[15] += 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        list(read_clk_batches(path))


def test_clkhash_json_streams_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    with ClkhashJsonWriter(path) as writer:
        writer.write(batch(1, 3, False))
        writer.write(batch(4, 0, False))
        writer.write(batch(4, 2, False))
    document = json.loads(path.read_text())
    assert len(document["clks"]) == 5
    assert detect_file_kind(path) == "clkhash-json"
    got = list(read_clk_batches(path, batch_size=2))
    assert np.concatenate([b.row_numbers for b in got]).tolist() == [1, 2, 3, 4, 5]
    assert np.array_equal(
        np.concatenate([b.clks for b in got]),
        np.concatenate([batch(1, 3, False).clks, batch(4, 2, False).clks]),
    )


def test_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        ClkFileHeader("not-hex", 1, 128)
    path = tmp_path / "x.json"
    path.write_text('{"clks": ["!!notbase64"]}')
    with pytest.raises(InvalidInputError, match=r"clks\[0\]"):
        list(read_clk_batches(path))
    writer = ClkFileWriter(tmp_path / "y.clk", ClkFileHeader(FINGERPRINT, 1, 128))
    with pytest.raises(InvalidInputError, match="16 bytes"):
        writer.write(ClkBatch(np.arange(1, dtype=np.int64), None, np.zeros((1, 8), np.uint8)))
    writer.abort()
