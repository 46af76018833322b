"""Markdown tables of quality benchmark results (run.py's JSON), as docs/quality.md shows them.

.venv/bin/python benchmarks/quality/table.py build/quality/results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _seconds(result: dict[str, Any]) -> str:
    parts = result["seconds"]
    total = sum(v for v in parts.values() if isinstance(v, int | float))
    detail = ", ".join(f"{k} {v:.1f}" for k, v in parts.items() if isinstance(v, int | float))
    return f"{total:.1f} ({detail})"


def table(path: Path) -> str:
    report = json.loads(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for name, entry in report["datasets"].items():
        out.append(
            f"### {name}: {entry['records']:,} records, {len(entry['sources'])} source(s),"
            f" {entry['mode']}\n"
        )
        out.append(
            "| method | setting | P | R | F1 | cross P | cross R | cross F1 | seconds |\n"
            "|---|---|---|---|---|---|---|---|---|"
        )
        for result in entry["results"]:
            a, c = result["quality"]["all"], result["quality"]["cross"]
            out.append(
                f"| {result['method']} | {result.get('setting', '')} | {a['precision']:.4f} |"
                f" {a['recall']:.4f} | **{a['f1']:.4f}** | {c['precision']:.4f} |"
                f" {c['recall']:.4f} | {c['f1']:.4f} | {_seconds(result)} |"
            )
        for skipped in entry.get("skipped", []):
            out.append(
                f"\n(anchor at Dice >= {skipped['anchor_threshold']} skipped: about"
                f" {skipped['estimated_pairs']:,.0f} pairs would pass the join)"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(table(Path(argument)))
