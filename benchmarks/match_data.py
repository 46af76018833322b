"""FEBRL4-derived benchmark data for the matcher: scrambled copies, encoded with the encoder.

FEBRL4 has 5,000 records per side, each A record ``rec-N-org`` matching the B record
``rec-N-dup-0``. To get 20k, 50k and 100k per side we stack copies; copy ``c >= 1`` applies a
deterministic substitution, drawn from seed ``1000 + c``, to BOTH sides:

* a permutation of the 26 letters and of the 10 digits to every text field, so each copy is
  a new population whose names, streets and suburbs share no n-grams with the original in a
  predictable way, while every A/B typo, deletion or swap of FEBRL is kept exactly;
* dates of birth (``YYYYMMDD``) only have their two year digits ``YY`` permuted, so valid
  dates stay valid (a date error of FEBRL stays the same error) and copies differ in year.

Copy 0 is FEBRL4 itself. The copies are encoded with the encoder's shipped default schema
(or another schema the agency config names) through the real agency pipeline
(``benchmarks/encode_febrl4.toml``), with a random secret
generated once into ``build/match-bench/secret`` (never in the repository), and cached as
``.npz`` under ``build/match-bench/`` keyed by copies and schema fingerprint.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR.parent / "build" / "match-bench"
FEBRL_SIDE = 5000

sys.path.insert(0, str(BENCH_DIR))
import encode_febrl  # noqa: E402  (the encoder's FEBRL helpers, beside this file)

from linkage.encode import schema_fingerprint  # noqa: E402
from linkage.match import pack_clks  # noqa: E402
from linkage.types import Int64Array, PackedClks  # noqa: E402


@dataclass(frozen=True)
class FebrlData:
    """Packed CLKs of both sides and the ground-truth pairs (row indices)."""

    left: PackedClks
    right: PackedClks
    left_keys: list[str]
    right_keys: list[str]
    true_left: Int64Array
    true_right: Int64Array

    def head(self, copies: int) -> FebrlData:
        """The first ``copies`` copies (rows are stored copy by copy)."""
        n = copies * FEBRL_SIDE
        keep = (self.true_left < n) & (self.true_right < n)
        return FebrlData(
            self.left[:n],
            self.right[:n],
            self.left_keys[:n],
            self.right_keys[:n],
            self.true_left[keep],
            self.true_right[keep],
        )


def _translation(copy: int) -> tuple[dict[int, int], dict[int, int]]:
    rng = np.random.default_rng(1000 + copy)
    letters = "abcdefghijklmnopqrstuvwxyz"
    digits = "0123456789"
    letter_map = "".join(letters[i] for i in rng.permutation(26))
    digit_map = "".join(digits[i] for i in rng.permutation(10))
    full = str.maketrans(letters + digits, letter_map + digit_map)
    year_only = str.maketrans(digits, digit_map)
    return full, year_only


def _scramble_row(row: list[str], copy: int, columns: tuple[str, ...]) -> list[str]:
    if copy == 0:
        return [f"c0-{row[0]}", *row[1:]]
    full, year_only = _translation(copy)
    out = [f"c{copy}-{row[0]}"]
    for name, value in zip(columns[1:], row[1:], strict=True):
        if name == "date_of_birth" and len(value) == 8 and value.isdigit():
            out.append(value[:2] + value[2:4].translate(year_only) + value[4:])
        else:
            out.append(value.translate(full))
    return out


def write_scrambled_csvs(folder: Path, copies: int) -> tuple[Path, Path]:
    """Write ``copies`` scrambled copies of each FEBRL4 side as agency CSV exports."""
    a_csv, b_csv = encode_febrl.write_febrl4_csvs(folder)
    columns = encode_febrl.FEBRL_COLUMNS
    paths = []
    for source in (a_csv, b_csv):
        with source.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            rows = list(reader)
        target = folder / f"scrambled-{source.name}"
        with target.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for copy in range(copies):
                writer.writerows(_scramble_row(row, copy, columns) for row in rows)
        paths.append(target)
    return paths[0], paths[1]


def _secret() -> str:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / "secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _truth(left_keys: list[str], right_keys: list[str]) -> tuple[Int64Array, Int64Array]:
    right_row = {key: i for i, key in enumerate(right_keys)}
    pairs = [
        (i, right_row[match])
        for i, key in enumerate(left_keys)
        if (match := key.replace("-org", "-dup-0")) in right_row
    ]
    true_left = np.array([p[0] for p in pairs], dtype=np.int64)
    true_right = np.array([p[1] for p in pairs], dtype=np.int64)
    return true_left, true_right


def febrl_config(schema: str, secret: str) -> Any:
    """The encoder's FEBRL4 agency config (``benchmarks/encode_febrl4.toml``) with its
    ``[schema] file`` set to ``schema`` ("default", or another name or path the agency
    config accepts)."""
    from agency_client import load_agency_config

    text = encode_febrl.FEBRL_CONFIG.read_text(encoding="utf-8")
    text = re.sub(r'(?m)^file = ".*"$', f"file = {json.dumps(schema)}", text)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "febrl4.toml"
        path.write_text(text, encoding="utf-8")
        return load_agency_config(path, {encode_febrl.SECRET_VARIABLE: secret})


def load(
    copies: int, *, schema: str = "default", workers: int | None = None, verbose: bool = True
) -> FebrlData:
    """FEBRL4 x ``copies`` per side, encoded with the named schema (cached)."""
    secret = _secret()
    config = febrl_config(schema, secret)
    fingerprint = schema_fingerprint(config.schema)
    tag = hashlib.sha256(f"{fingerprint}:{secret}".encode()).hexdigest()[:12]
    cache = CACHE_DIR / f"febrl4-x{copies}-{tag}.npz"
    if cache.exists():
        stored = np.load(cache, allow_pickle=False)
        left_keys = stored["left_keys"].tolist()
        right_keys = stored["right_keys"].tolist()
        true_left, true_right = _truth(left_keys, right_keys)
        return FebrlData(
            stored["left"], stored["right"], left_keys, right_keys, true_left, true_right
        )
    from agency_client import encode_export, read_clk_batches

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        a_csv, b_csv = write_scrambled_csvs(folder, copies)
        sides = []
        for path in (a_csv, b_csv):
            if verbose:
                print(f"  encoding {path.name} ({copies * FEBRL_SIDE} rows) ...", flush=True)
            target = folder / f"{path.stem}.clk"
            encode_export(config, path, target, workers=workers)
            clks: list[np.ndarray] = []
            keys: list[str] = []
            for batch in read_clk_batches(target):
                clks.append(batch.clks)
                keys.extend(str(k) for k in (batch.record_keys or ()))
            sides.append((pack_clks(np.concatenate(clks)), keys))
    (left, left_keys), (right, right_keys) = sides
    np.savez(
        cache,
        left=left,
        right=right,
        left_keys=np.array(left_keys),
        right_keys=np.array(right_keys),
    )
    true_left, true_right = _truth(left_keys, right_keys)
    return FebrlData(left, right, left_keys, right_keys, true_left, true_right)
