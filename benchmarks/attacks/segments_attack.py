"""The attack run against the per-field segment layout (issue 10), next to the quality gained.

Field-level filters give a frequency attacker more to work with than one record-level CLK:
a segment encodes one feature group, deterministically, so equal values give bit-identical
segments *whatever the diffusion* (diffusion is a keyed function of the filter). The attack
here is the one that layout invites:

1. **Value-frequency alignment, per segment.** The attacker holds plaintext records of the
   same population (here the very same records: overlap 100 %, the strongest case). For
   each segment it counts the distinct encoded segment values and the distinct plaintext
   values of the group, sorts both by frequency and aligns them rank by rank (values seen
   at least ``min_count`` times). No key, no similarities, no schema beyond the groups.
2. **Re-identification.** Each encoded record is decoded to the values of its aligned
   segments; it is re-identified when the plaintext records that agree on every decoded
   value (at least ``min_fields`` of them) are exactly one, and that one is its own person.

Compared settings (same data, same secret handling as the quality benchmark):
``plain segments`` (Bloom filters), ``hardened segments`` (diffused like the default
schema), ``hardened + salted`` (name and street segments salted by the year of birth, so
equal names of people born in different years give different segments), each next to the
record-level shipped default run by the hardening engineer's harness (graph and pattern
attacks; benchmarks/attacks/run.py) for reference. Uses that harness's data split
read-only (:func:`benchmarks.attacks.data.overlap_split`).

    .venv/bin/python -m benchmarks.attacks.segments_attack --dataset febrl --size 10000 \\
        --out benchmarks/attacks/results/segments-febrl.json
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.attacks.data import Dataset, febrl_pool, overlap_split, synthetic_pool
from benchmarks.quality.pprl import segmented_schema_document
from linkage.encode import DEFAULT_FEATURES
from linkage.encode._segments import SegmentedEncoder, load_segmented_schema

KEY_EPOCH = 1
SETTINGS = ("plain segments", "hardened segments", "hardened + salted", "shipped default")


@dataclass(frozen=True)
class SegmentAttackResult:
    setting: str
    #: per segment: distinct encoded values, values aligned, records whose value was
    #: decoded, and how many of those decodings were right
    per_segment: dict[str, dict[str, int]]
    reidentified: int
    wrong: int
    targets: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.reidentified / self.targets if self.targets else 0.0


def shipped_segmented_document() -> dict[str, Any]:
    """The default segmented schema as shipped: the diffused segments and the derived key
    segments (nicknames, sorted letters, name parts, initial, day-month-sorted)."""
    from linkage.encode import DEFAULT_SEGMENTS, default_schema_text

    document: dict[str, Any] = json.loads(default_schema_text())
    document["segments"] = json.loads(json.dumps(DEFAULT_SEGMENTS))
    return document


def _document(setting: str) -> dict[str, Any]:
    if setting == "shipped default":
        return shipped_segmented_document()
    if setting == "plain segments":
        return segmented_schema_document(taps=None)
    if setting == "hardened segments":
        return segmented_schema_document(taps=10)
    if setting == "hardened + salted":
        # given name, middle name, surname and street salted by the year of birth
        return segmented_schema_document(taps=10, salt_names=True)
    raise ValueError(f"unknown setting {setting!r}")


def _plain_values(
    rows: Sequence[Sequence[str | None]], features: tuple[str, ...], transform: str | None = None
) -> list[object]:
    """The plaintext value of a feature group per row (None when every feature is missing);
    for a derived key segment, the key set its transform gives (the attacker knows the
    public schema, so it computes the same keys from its plaintext)."""
    from linkage.encode._derived import derived_keys

    columns = [DEFAULT_FEATURES.index(f) for f in features]
    out: list[object] = []
    for row in rows:
        value = tuple(row[c] or "" for c in columns)
        if transform is not None:
            text = value[0].replace("-", "") if features == ("date_of_birth",) else value[0]
            keys = derived_keys(transform, text, 8) if text else ()
            out.append(tuple(sorted(keys)) or None)
            continue
        out.append(None if not any(value) else value)
    return out


def _groups(document: dict[str, Any]) -> list[tuple[str, tuple[str, ...], str | None]]:
    """(segment, features, transform or None) of every segment of a schema document."""
    return [
        (item["name"], tuple(item["features"]), item.get("transform"))
        for item in document["segments"]["fields"]
    ]


def segment_attack(
    setting: str,
    plain: Dataset,
    encoded: Dataset,
    *,
    min_count: int = 3,
    min_fields: int = 2,
) -> SegmentAttackResult:
    """Run the value-frequency attack on one setting (entities score the outcome only)."""
    started = time.perf_counter()
    document = _document(setting)
    encoder = SegmentedEncoder(
        load_segmented_schema(document), secrets.token_bytes(32), key_epoch=KEY_EPOCH
    )
    clks = encoder.encode(list(encoded.rows))
    n = clks.shape[0]
    decoded: list[list[object]] = [[] for _ in range(n)]  # per record: (segment, value)
    per_segment: dict[str, dict[str, int]] = {}
    plain_keys: list[list[object]] = [[] for _ in range(len(plain))]
    for name, features, transform in _groups(document):
        part = encoder.layout.part(name)
        raw = clks[:, part.start_word * 8 : part.stop_word * 8]
        encoded_values = [bytes(r) if r.any() else None for r in raw]
        plain_values = _plain_values(plain.rows, features, transform)
        true_values = _plain_values(encoded.rows, features, transform)
        enc_counts = Counter(v for v in encoded_values if v is not None)
        pla_counts = Counter(v for v in plain_values if v is not None)
        enc_ranked = [v for v, c in enc_counts.most_common() if c >= min_count]
        pla_ranked = [v for v, c in pla_counts.most_common() if c >= min_count]
        guess = dict(zip(enc_ranked, pla_ranked, strict=False))
        decoded_here = right = 0
        for i, value in enumerate(encoded_values):
            if value is not None and value in guess:
                decoded[i].append((name, guess[value]))
                decoded_here += 1
                right += guess[value] == true_values[i]
        for j, value in enumerate(plain_values):
            plain_keys[j].append((name, value))
        per_segment[name] = {
            "distinct_encoded": len(enc_counts),
            "aligned": len(guess),
            "records_decoded": decoded_here,
            "decoded_right": right,
        }
    # index plaintext records by each (segment, value)
    holders: dict[object, set[int]] = {}
    for j, keys in enumerate(plain_keys):
        for key in keys:
            holders.setdefault(key, set()).add(j)
    reidentified = wrong = 0
    for i, keys in enumerate(decoded):
        if len(keys) < min_fields:
            continue
        candidates = set.intersection(*(holders.get(k, set()) for k in keys))
        if len(candidates) == 1:
            (j,) = candidates
            if plain.entities[j] == encoded.entities[i]:
                reidentified += 1
            else:
                wrong += 1
    return SegmentAttackResult(
        setting, per_segment, reidentified, wrong, n, time.perf_counter() - started
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Value-frequency attack on per-field segments (issue 10).",
        epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dataset", choices=("febrl", "synthetic"), default="febrl")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--overlap", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    pool = febrl_pool() if args.dataset == "febrl" else synthetic_pool()
    plain, encoded, _ = overlap_split(pool, args.size, args.overlap, args.seed)
    out: dict[str, Any] = {
        "kind": "segment attack",
        "dataset": pool.name,
        "size": args.size,
        "overlap": args.overlap,
        "settings": {},
    }
    for setting in args.settings:
        result = segment_attack(setting, plain, encoded)
        out["settings"][setting] = {
            "reidentified": result.reidentified,
            "wrong": result.wrong,
            "targets": result.targets,
            "rate": result.rate,
            "per_segment": result.per_segment,
            "seconds": round(result.seconds, 1),
        }
        print(
            f"{pool.name} {args.overlap:.0%} {setting:20s} re-identified "
            f"{result.reidentified}/{result.targets} = {result.rate:.2%} "
            f"(wrong {result.wrong}; {result.seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        for name, stats in result.per_segment.items():
            print(f"    {name:14s} {stats}", file=sys.stderr)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
