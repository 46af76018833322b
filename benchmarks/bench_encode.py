"""Encoder benchmark: our throughput / clkhash 0.18.3's, identical output, and 1M-row peak RSS.

    .venv/bin/python benchmarks/bench_encode.py [--rows-1m 1000000] [--skip-1m]
    .venv/bin/python benchmarks/bench_encode.py --febrl-rows 300 --synthetic-rows 300 \
        --warmup-rows 100 --rows-1m 2000        # smoke run (tests)

Datasets (the same rows and random secret on both sides):

* FEBRL4, both sides (10,000 rows, or the first ``--febrl-rows``), mapped and normalised by
  benchmarks/encode_febrl4.toml;
* a synthetic export of 100,000 rows (``--synthetic-rows``) with every default feature.

The comparison with clkhash uses the plain, clkhash-compatible schema (``plain_schema()``,
schema v3): clkhash 0.18.3 cannot read the shipped default, which is hardened
(``3-hardened-1``). Our hardened encoder (the shipped default schema) is then timed on the
same rows on its own, one process and all cores, with no clkhash figure to compare.

Rows are normalised once, up front; the timings are of encoding only. Each side is
*warm*: its process has imported everything and encoded 2,000 other warm-up rows with
the same schema and secret. clkhash runs in its isolated virtualenv (scripts/clkhash_env.py),
one fresh process per dataset, with ``max_workers=1`` and with its default (all cores);
we run ``ClkEncoder.encode`` in one process and ``map_ordered`` on all cores (fresh
worker processes, cold caches: conservative for us). Outputs are compared by SHA-256.

Then a 1,000,000-row CSV export is encoded by the real CLI (``agency-client encode``,
all cores) while the summed RSS of its process tree is sampled every 50 ms.
Results: printed, and written to build/bench_encode.json; see docs/benchmarks-encode.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(BENCH))

from clkhash_env import run_in_clkhash  # noqa: E402
from encode_febrl import febrl_config, write_febrl4_csvs  # noqa: E402

from agency_client import RowMapper  # noqa: E402
from linkage.encode import (  # noqa: E402
    ClkEncoder,
    default_schema,
    map_ordered,
    plain_schema,
    plain_schema_text,
)

WORKER = BENCH / "encode_clkhash_worker.py"
CHUNK = 4096

GIVEN = [
    "james",
    "mary",
    "john",
    "patricia",
    "robert",
    "jennifer",
    "michael",
    "linda",
    "william",
    "elizabeth",
    "david",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "chloe",
    "zoe",
    "mateo",
    "aroha",
    "priya",
    "ngoc anh",
    "siobhan",
    "bjorn",
    "wiremu",
    "lea",
    "tomas",
    "ahmed",
    "mia",
    "noah",
]
SURNAMES = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "nguyen",
    "obrien",
    "muller",
    "kowalski",
    "te awa",
    "patel",
    "dubois",
    "rossi",
    "kim",
    "macdonald",
    "papadopoulos",
    "taylor",
    "ng",
    "walker",
    "brown wilson",
]
STREETS = [
    "high st",
    "church rd",
    "elm ave",
    "station st",
    "bay rd",
    "queens pde",
    "mill ln",
    "king st",
    "george st",
    "victoria rd",
    "park ave",
    "main st",
]
SUBURBS = [
    (f"suburb{i:03d}", f"{2000 + i * 7 % 7000:04d}", s)
    for i, s in zip(
        range(300), ["nsw", "vic", "qld", "wa", "sa", "tas", "act", "nt"] * 40, strict=False
    )
]


def synthetic_rows(count: int, seed: int) -> list[list[str | None]]:
    """Default-schema feature rows (already normalised), with missing values and typos."""
    rng = random.Random(seed)
    rows: list[list[str | None]] = []
    for _ in range(count):
        given = rng.choice(GIVEN)
        if rng.random() < 0.05:
            position = rng.randrange(len(given))
            given = given[:position] + rng.choice("aeioun") + given[position + 1 :]
        suburb, postcode, state = rng.choice(SUBURBS)
        rows.append(
            [
                given,
                rng.choice(["", "", "", "a", "j", "marie", "lee"]) or None,
                rng.choice(SURNAMES),
                f"{rng.randint(1930, 2010)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                rng.choice(["m", "f", "m", "f", "x", None]),
                f"04{rng.randint(0, 99_999_999):08d}" if rng.random() < 0.7 else None,
                f"{rng.randint(1, 300)} {rng.choice(STREETS)}",
                f"unit {rng.randint(1, 40)}" if rng.random() < 0.2 else None,
                suburb,
                postcode,
                state,
            ]
        )
    return rows


def febrl_rows(folder: Path, secret: str, limit: int | None = None) -> list[list[str | None]]:
    """Both FEBRL4 sides (the first ``limit`` rows), mapped and normalised by the FEBRL
    config (bad dates -> missing)."""
    config = febrl_config(secret)
    rows: list[list[str | None]] = []
    for path in write_febrl4_csvs(folder):
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            mapper = RowMapper(config, next(reader))
            for number, row in enumerate(reader, start=1):
                if limit is not None and len(rows) >= limit:
                    break
                mapped = mapper.map_row(number, row)
                assert not isinstance(mapped, list), mapped
                rows.append(mapped.values)
    return rows


class _Encode:
    """Picklable worker factory: a ClkEncoder per worker process (plain or hardened)."""

    def __init__(self, secret: bytes, hardened: bool) -> None:
        self.secret = secret
        self.hardened = hardened

    def __call__(self) -> Any:
        return _encoder(self.hardened, self.secret).encode


#: The key epoch of the hardened runs (hardening derives its keys from the secret and it).
KEY_EPOCH = 1


def _encoder(hardened: bool, secret: bytes) -> ClkEncoder:
    """An encoder of the shipped default (hardened) or of the plain, clkhash-compatible
    schema."""
    if hardened:
        return ClkEncoder(default_schema(), secret, key_epoch=KEY_EPOCH)
    return ClkEncoder(plain_schema(), secret)


def _chunks(rows: list[list[str | None]]) -> Iterator[list[list[str | None]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def ours(
    rows: list[list[str | None]],
    warmup: list[list[str | None]],
    secret: bytes,
    hardened: bool = False,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    started = time.perf_counter()
    parts = list(map_ordered(_Encode(secret, hardened), _chunks(rows), workers=os.cpu_count()))
    seconds = time.perf_counter() - started
    result["all_cores"] = {
        "seconds": seconds,
        "sha256": hashlib.sha256(np.concatenate(parts).tobytes()).hexdigest(),
    }
    encoder = _encoder(hardened, secret)
    encoder.encode(warmup)
    started = time.perf_counter()
    clks = encoder.encode(rows)
    seconds = time.perf_counter() - started
    result["one_process"] = {
        "seconds": seconds,
        "sha256": hashlib.sha256(clks.tobytes()).hexdigest(),
    }
    return result


def theirs(
    rows: list[list[str | None]], warmup: list[list[str | None]], secret: bytes, folder: Path
) -> dict[str, Any]:
    def as_strings(table: list[list[str | None]]) -> list[list[str]]:
        return [["" if v is None else v for v in row] for row in table]

    rows_path, warm_path, job_path = folder / "rows.json", folder / "warm.json", folder / "job.json"
    rows_path.write_text(json.dumps(as_strings(rows)))
    warm_path.write_text(json.dumps(as_strings(warmup)))
    job_path.write_text(
        json.dumps(
            {
                # clkhash reads plain v3 schemas only: never the hardened default
                "schema": json.loads(plain_schema_text()),
                "secret_hex": secret.hex(),
                "warmup": str(warm_path),
                "datasets": {"data": str(rows_path)},
            }
        )
    )
    python_result = run_in_clkhash(WORKER, None, script_args=[str(job_path)])
    return dict(python_result["data"])


def write_big_export(path: Path, count: int) -> None:
    rng = random.Random(99)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["id", "last_first", "dob", "sex", "phone", "street", "city", "zip", "state"]
        )
        batch = 50_000
        for start in range(0, count, batch):
            for index, row in enumerate(
                synthetic_rows(min(batch, count - start), rng.randrange(1 << 30))
            ):
                given, middle, surname, dob, sex, phone, street, _, suburb, postcode, state = row
                y, m, d = str(dob).split("-")
                writer.writerow(
                    [
                        f"R{start + index}",
                        f"{str(surname).upper()}, {given} {middle or ''}".strip(),
                        f"{m}/{d}/{y}",
                        {"m": "Male", "f": "F", "x": "X", None: ""}[sex],
                        phone or "",
                        street,
                        suburb,
                        postcode,
                        state,
                    ]
                )


BIG_CONFIG = """
[agency]
name = "synthetic"
key_epoch = 1
[secret]
env = "BENCH_LINKAGE_SECRET"
[input]
record_key = "id"
[features.given_name]
column = "last_first"
name_part = "first"
[features.middle_name]
column = "last_first"
name_part = "middle"
[features.surname]
column = "last_first"
name_part = "last"
[features.date_of_birth]
column = "dob"
date_format = "MM/DD/YYYY"
[features.sex]
column = "sex"
[features.phone]
column = "phone"
[features.street_address]
column = "street"
[features.suburb]
column = "city"
[features.postcode]
column = "zip"
[features.state]
column = "state"
"""


def _tree_rss(root: int) -> int:
    """Summed VmRSS (bytes) of a process and all its descendants, from /proc."""
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{pid}/task").iterdir():
                children = (task / "children").read_text().split()
                stack.extend(int(c) for c in children)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def peak_rss_of_cli(folder: Path, count: int) -> dict[str, Any]:
    export = folder / f"export-{count}.csv"
    write_big_export(export, count)
    config = folder / "agency.toml"
    config.write_text(BIG_CONFIG)
    env = dict(os.environ, BENCH_LINKAGE_SECRET=secrets.token_hex(32))
    command = [
        str(Path(sys.executable).with_name("agency-client")),
        "encode",
        "--config",
        str(config),
        str(export),
        "-o",
        str(folder / "out.clk"),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.05)
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(stderr)
    return {
        "rows": count,
        "seconds": seconds,
        "peak_tree_rss_mib": peak / 2**20,
        "csv_mib": export.stat().st_size / 2**20,
        "cli": stdout.strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--synthetic-rows", type=int, default=100_000)
    parser.add_argument(
        "--febrl-rows", type=int, default=None, help="the first N FEBRL4 rows (default all)"
    )
    parser.add_argument("--warmup-rows", type=int, default=2000)
    parser.add_argument("--rows-1m", type=int, default=1_000_000)
    parser.add_argument("--skip-1m", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench_encode.json")
    args = parser.parse_args()
    secret_text = secrets.token_hex(32)
    secret = secret_text.encode()
    report: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "note": "shared 2-core machine; ratios are side by side",
    }
    warmup = synthetic_rows(args.warmup_rows, seed=12345)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        datasets = {
            "febrl4_both_sides": febrl_rows(folder, secret_text, args.febrl_rows),
            "synthetic": synthetic_rows(args.synthetic_rows, seed=7),
        }
        for name, rows in datasets.items():
            mine = ours(rows, warmup, secret)
            reference = theirs(rows, warmup, secret, folder)
            hardened = ours(rows, warmup, secret, hardened=True)
            digests = {m["sha256"] for m in (*mine.values(), *reference.values())}
            entry = {
                "rows": len(rows),
                "identical_output": len(digests) == 1,
                "ours_one_process_rows_per_s": len(rows) / mine["one_process"]["seconds"],
                "ours_all_cores_rows_per_s": len(rows) / mine["all_cores"]["seconds"],
                "clkhash_one_process_rows_per_s": len(rows) / reference["one_process"]["seconds"],
                "clkhash_default_rows_per_s": len(rows) / reference["default_workers"]["seconds"],
            }
            entry["speedup_one_process"] = (
                entry["ours_one_process_rows_per_s"] / entry["clkhash_one_process_rows_per_s"]
            )
            entry["speedup_all_cores_vs_clkhash_default"] = (
                entry["ours_all_cores_rows_per_s"] / entry["clkhash_default_rows_per_s"]
            )
            entry["speedup_best_vs_best"] = max(
                entry["ours_one_process_rows_per_s"], entry["ours_all_cores_rows_per_s"]
            ) / max(entry["clkhash_one_process_rows_per_s"], entry["clkhash_default_rows_per_s"])
            # The shipped default (hardened: salting, balancing, keyed diffusion), ours only.
            entry["hardened_identical_one_process_all_cores"] = (
                hardened["one_process"]["sha256"] == hardened["all_cores"]["sha256"]
            )
            entry["ours_hardened_one_process_rows_per_s"] = (
                len(rows) / hardened["one_process"]["seconds"]
            )
            entry["ours_hardened_all_cores_rows_per_s"] = (
                len(rows) / hardened["all_cores"]["seconds"]
            )
            report[name] = entry
            print(json.dumps({name: entry}, indent=2), flush=True)
            if not (
                entry["identical_output"] and entry["hardened_identical_one_process_all_cores"]
            ):
                raise SystemExit(f"{name}: the outputs differ")
        if not args.skip_1m:
            report["stream_1m"] = peak_rss_of_cli(folder, args.rows_1m)
            print(json.dumps({"stream_1m": report["stream_1m"]}, indent=2), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)  # build/ is git-ignored
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
