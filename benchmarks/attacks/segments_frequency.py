"""The frequency / pattern-mining attack (:mod:`benchmarks.attacks.frequency_attack`) run on
the per-field segment layout (issue 10), next to the value-frequency attack of
:mod:`benchmarks.attacks.segments_attack`.

The layout is public, so the attacker mines each segment's bits separately (a segment is
its own Bloom filter) and tokenises its plaintext with the default schema's features (the
segments tokenise the same features the same way; only which bits a token sets differs).
Everything after mining (alignment, matching, learning positions) runs on the whole record.
The plain segments' filters set a fixed ``bitsPerToken`` (10) positions per token, which
the attacker knows, so patterns of 8 or more positions are kept (collisions can hide a few).

    .venv/bin/python -m benchmarks.attacks.segments_frequency --dataset febrl --size 10000 \\
        --out benchmarks/attacks/results/frequency-segments-febrl.json
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.attacks.data import febrl_pool, overlap_split, synthetic_pool
from benchmarks.attacks.encodings import KEY_EPOCH, setting
from benchmarks.attacks.frequency_attack import FrequencyAttackParams, frequency_attack
from benchmarks.attacks.segments_attack import shipped_segmented_document
from benchmarks.attacks.similarity import token_table
from benchmarks.quality.pprl import segmented_schema_document
from linkage.encode._segments import SegmentedEncoder, load_segmented_schema

SETTINGS = ("plain segments", "hardened segments", "shipped default")
#: the plain segments' filters give every token this many positions (public schema); the
#: token table carries the record-level schema's k, so the pattern-size term is off here
SEGMENT_PARAMS = FrequencyAttackParams(
    min_pattern=8, seed_support=0.02, min_association=0.25, size_weight=0.0
)


def _document(name: str) -> dict[str, Any]:
    if name == "shipped default":  # with the derived key segments of issue 17
        return shipped_segmented_document()
    return segmented_schema_document(taps=None if name == "plain segments" else 10)


def run(dataset: str, size: int, overlap: float, seed: int, names: list[str]) -> dict[str, Any]:
    pool = febrl_pool() if dataset == "febrl" else synthetic_pool()
    plain, encoded, _ = overlap_split(pool, size, overlap, seed)
    table = token_table(setting("shipped default").schema, plain.rows)
    out: dict[str, Any] = {
        "kind": "segment frequency attack",
        "meta": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "note": "2-core machine shared with other engineers' jobs",
        },
        "dataset": pool.name,
        "size": size,
        "overlap": overlap,
        "seed": seed,
        "settings": {},
    }
    for name in names:
        encoder = SegmentedEncoder(
            load_segmented_schema(_document(name)), secrets.token_bytes(32), key_epoch=KEY_EPOCH
        )
        clks = encoder.encode(list(encoded.rows))
        parts = [encoder.layout.part(segment) for segment in encoder.layout.names]
        blocks = [(part.start_word * 64, part.stop_word * 64) for part in parts]
        result = frequency_attack(
            clks, table, plain.entities, encoded.entities, SEGMENT_PARAMS, blocks=blocks
        )
        out["settings"][name] = {
            "frequency": {
                "correct": result.correct,
                "targets": result.targets,
                "rate": result.rate,
                "patterns": result.patterns,
                "aligned": len(result.aligned),
                "learned_qgrams": len(result.learned),
                "rounds": result.rounds,
                "seconds": round(result.seconds, 1),
            }
        }
        print(
            f"{pool.name} {overlap:.0%} {name:20s} frequency {result.correct}/{result.targets}"
            f" = {result.rate:.2%} ({result.patterns} patterns, {len(result.aligned)} aligned,"
            f" {result.seconds:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=("febrl", "synthetic"), default="febrl")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--overlap", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settings", nargs="*", default=list(SETTINGS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    unknown = [n for n in args.settings if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {list(SETTINGS)}")
    out = run(args.dataset, args.size, args.overlap, args.seed, args.settings)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
