"""Markdown tables from a ``service_quality.py`` result file (docs/quality.md's tables).

    .venv/bin/python benchmarks/quality/service_table.py build/quality/final-all.json \\
        [--baseline build/quality/base-faker.json ...] [--tuned geco_admin]

One row per scenario: pairwise F1 over all pairs and over cross-agency pairs after the
agencies' uploads and after the rebuild, Splink 5's best F1 on the same mapped plaintext,
then the responder lookups. ``--baseline`` files add a "before" column (the same benchmark
run on an earlier commit); ``--tuned`` marks the scenario that settings were tuned on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _f1(quality: dict[str, Any], part: str) -> str:
    return f"{quality[part]['f1']:.4f}"


def _splink_best(splink: dict[str, Any], part: str) -> str:
    if not splink:
        return "–"
    setting, best = max(splink.items(), key=lambda item: item[1][part]["f1"])
    return f"{best[part]['f1']:.4f} ({setting})"


def _found(lookups: dict[str, Any], kind: str) -> str:
    counts = lookups.get(kind)
    if not counts:
        return "–"
    key = "found" if kind.startswith("known") else "answered"
    return f"{counts.get(key, 0)} / {counts['queries']}"


def quality_rows(
    results: dict[str, Any], baselines: dict[str, Any], tuned: str | None
) -> list[str]:
    head = (
        "| scenario | records | after uploads: all / cross | after rebuild: all / cross "
        "| Splink 5 best: all / cross | before this work: uploads / rebuild |"
    )
    rows = [head, "|---|---:|---|---|---|---|"]
    for name, result in results["scenarios"].items():
        label = f"{name} (tuned on)" if name == tuned else f"{name} (held out)"
        before = baselines.get(name)
        before_text = (
            f"{_f1(before['incremental'], 'all')} / {_f1(before['rebuild'], 'all')}"
            if before
            else "–"
        )
        splink = result.get("splink", {})
        rows.append(
            f"| {label} | {result['records']:,} "
            f"| {_f1(result['incremental'], 'all')} / {_f1(result['incremental'], 'cross')} "
            f"| {_f1(result['rebuild'], 'all')} / {_f1(result['rebuild'], 'cross')} "
            f"| {_splink_best(splink, 'all')} / {_splink_best(splink, 'cross')} "
            f"| {before_text} |"
        )
    return rows


def lookup_rows(results: dict[str, Any]) -> list[str]:
    rows = [
        "| scenario | known, clean details | known, fresh noisy details | known, name + date "
        "of birth | strangers, full details | strangers, name + date of birth "
        "| median / p99 ms (in-process) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results["scenarios"].items():
        lookups = result.get("lookups") or {}
        if not lookups:
            continue
        kinds = ("known_clean", "known_noisy", "known_name_dob", "stranger_full")
        cells = " | ".join(_found(lookups, kind) for kind in kinds)
        rows.append(
            f"| {name} | {cells} | {_found(lookups, 'stranger_name_dob')} "
            f"| {lookups.get('median_ms', '–')} / {lookups.get('p99_ms', '–')} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--baseline", type=Path, action="append", default=[])
    parser.add_argument("--tuned", default=None)
    args = parser.parse_args()
    results = json.loads(args.results.read_text(encoding="utf-8"))
    baselines: dict[str, Any] = {}
    for path in args.baseline:
        baselines.update(json.loads(path.read_text(encoding="utf-8"))["scenarios"])
    machine = results.get("machine", {})
    print(f"machine: {machine}\n")
    print("\n".join(quality_rows(results, baselines, args.tuned)))
    print()
    print("\n".join(lookup_rows(results)))


if __name__ == "__main__":
    main()
