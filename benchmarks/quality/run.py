"""The quality benchmark: Splink 5 (plaintext) vs the record-level CLK anchor vs ours.

On each data set (FEBRL4 two-party, FEBRL3 deduplication, the synthetic multi-agency
scenario) it runs, on the same normalised rows:

1. **Splink 5** (plaintext, DuckDB) in its own virtualenv under build/ (splink_env.py,
   splink_worker.py), connected components at each ``--splink-thresholds``;
2. **the anchor**: the shipped (hardened) default schema's record-level CLK, anonlink's
   Dice join at each ``--anchor-thresholds`` (0.47 is the default schema's calibrated
   threshold, docs/hardening.md) and greedy solving (one record per agency per group);
3. **ours**: segmented encodings (``--variants``: ``hardened`` = every segment diffused
   like the default schema (:func:`linkage.encode.default_segmented_schema`),
   ``hardened-wide`` = the same with wider blocking (data sets up to
   ``--wide-max-records``), ``hardened-salted`` = name and street segments also salted by
   the year of birth, ``plain`` = unhardened Bloom-filter segments), union blocking,
   a Fellegi-Sunter model fitted without labels and the average-link clusterer, at each
   ``--edge-thresholds`` (join = merge = the threshold).

Prints one line per result and writes every figure (pairwise precision / recall / F1 over
all pairs and over cross-agency pairs, seconds, fitted models) to ``--out`` as JSON::

    .venv/bin/python benchmarks/quality/run.py --datasets febrl4,febrl3,multi --people 20000
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.quality.data import LinkageData, febrl3, febrl4, multi_agency  # noqa: E402
from benchmarks.quality.evaluate import evaluate_clusters, groups_from_labels  # noqa: E402
from benchmarks.quality.pprl import (  # noqa: E402
    encode,
    new_secret,
    run_anchor,
    run_ours,
    segmented_schema_document,
)
from benchmarks.quality.splink_env import splink_python  # noqa: E402
from linkage.encode import DEFAULT_FEATURES  # noqa: E402
from linkage.match import ComponentClusterer  # noqa: E402
from linkage.probabilistic import (  # noqa: E402
    AverageLinkClusterer,
    default_blocking,
    default_comparisons,
    greedy_one_per_agency,
)


def _line(dataset: str, method: str, setting: str, result: dict[str, Any]) -> str:
    q = result["quality"]
    a, c = q["all"], q["cross"]
    seconds = sum(v for v in result["seconds"].values() if isinstance(v, int | float))
    return (
        f"{dataset:<24} {method:<32} {setting:<24} "
        f"all P {a['precision']:.4f} R {a['recall']:.4f} F1 {a['f1']:.4f} | "
        f"cross P {c['precision']:.4f} R {c['recall']:.4f} F1 {c['f1']:.4f} | {seconds:7.1f} s"
    )


def estimated_join_pairs(data: LinkageData, packed: Any, layout: Any, threshold: float) -> float:
    """Pairs a record-CLK Dice join at ``threshold`` would return, from 200,000 random pairs
    (diffused CLKs of non-matches sit near Dice 0.5, so low thresholds return most pairs)."""
    import numpy as np

    record = layout.record
    clks = packed[:, record.start_word : record.stop_word]
    rng = np.random.default_rng(0)
    sources = np.asarray(data.sources)
    if data.mode == "link":
        left, right = np.nonzero(sources == 0)[0], np.nonzero(sources == 1)[0]
        total = float(len(left) * len(right))
        a, b = rng.choice(left, 200_000), rng.choice(right, 200_000)
    else:
        total = len(data) * (len(data) - 1) / 2.0
        a, b = rng.integers(0, len(data), 200_000), rng.integers(0, len(data), 200_000)
    pa = np.bitwise_count(clks[a]).sum(axis=1)
    pb = np.bitwise_count(clks[b]).sum(axis=1)
    both = np.bitwise_count(clks[a] & clks[b]).sum(axis=1)
    dice = 2.0 * both / np.maximum(pa + pb, 1)
    return float((dice >= threshold).mean()) * total


def run_splink(
    data: LinkageData, thresholds: list[float], work: Path, *, quiet: bool = False
) -> list[dict[str, Any]]:
    python = splink_python()
    work.mkdir(parents=True, exist_ok=True)
    source = work / "splink-input.csv"
    target = work / "splink-output.json"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["unique_id", "source", *DEFAULT_FEATURES])
        for index, row in enumerate(data.rows):
            writer.writerow([index, data.sources[index], *("" if v is None else v for v in row)])
    started = time.perf_counter()
    subprocess.run(
        [
            str(python),
            str(Path(__file__).with_name("splink_worker.py")),
            str(source),
            str(target),
            "--mode",
            data.mode,
            "--thresholds",
            ",".join(str(t) for t in thresholds),
        ],
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
        stderr=subprocess.DEVNULL if quiet else None,
    )
    wall = time.perf_counter() - started
    output = json.loads(target.read_text(encoding="utf-8"))
    source.unlink()
    results = []
    for threshold in thresholds:
        labels = output["labels"][str(threshold)]
        quality = evaluate_clusters(groups_from_labels(labels), data.entities, data.sources)
        results.append(
            {
                "method": "Splink 5 (plaintext, DuckDB)",
                "setting": f"p >= {threshold}",
                "quality": quality.as_dict(),
                "seconds": {"wall (train+predict+all clusterings)": wall},
                "splink_seconds": output["seconds"],
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Pairwise linkage quality: Splink 5 vs record-CLK anchor vs ours.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("--datasets", default="febrl4,febrl3,multi")
    parser.add_argument("--people", type=int, default=20_000, help="multi-agency people")
    parser.add_argument("--seed", type=int, default=2025, help="multi-agency generator seed")
    parser.add_argument("--variants", default="hardened,hardened-wide,plain")
    parser.add_argument("--anchor-thresholds", default="0.47,0.52,0.6,0.7")
    parser.add_argument(
        "--max-join-pairs",
        type=int,
        default=30_000_000,
        help="skip anchor thresholds whose Dice join would return more pairs",
    )
    parser.add_argument("--edge-thresholds", default="0.5,0.9,0.99")
    parser.add_argument(
        "--greedy-thresholds", default="0.05,0.5", help="ours + greedy 1:1 (two-party data)"
    )
    parser.add_argument("--wide-max-records", type=int, default=15_000)
    parser.add_argument("--splink-thresholds", default="0.5,0.9,0.99")
    parser.add_argument("--no-splink", action="store_true", help="skip the Splink reference")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "quality" / "results.json")
    args = parser.parse_args()

    loaders = {
        "febrl4": febrl4,
        "febrl3": febrl3,
        "multi": lambda: multi_agency(args.people, args.seed),
    }
    secret = new_secret()
    report: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "machine": f"{platform.machine()} {platform.python_version()}",
        "datasets": {},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for key in args.datasets.split(","):
        data = loaders[key]()
        entry: dict[str, Any] = {
            "records": len(data),
            "sources": list(data.source_names),
            "mode": data.mode,
            "results": [],
        }
        report["datasets"][data.name] = entry
        results: list[dict[str, Any]] = entry["results"]
        if not args.no_splink:
            thresholds = [float(t) for t in args.splink_thresholds.split(",")]
            for result in run_splink(data, thresholds, args.out.parent / key):
                results.append(result)
                print(_line(data.name, result["method"], result["setting"], result), flush=True)
        for variant in args.variants.split(","):
            hardened = variant.startswith("hardened")
            wide = variant == "hardened-wide"
            if wide and len(data) > args.wide_max_records:
                print(f"{data.name}: {variant} skipped (over {args.wide_max_records} records)")
                continue
            document = segmented_schema_document(
                taps=10 if hardened else None, salt_names=variant == "hardened-salted"
            )
            packed, layout, seconds = encode(data, document, secret)
            if variant == "hardened":
                for threshold in (float(t) for t in args.anchor_thresholds.split(",")):
                    expected = estimated_join_pairs(data, packed, layout, threshold)
                    if expected > args.max_join_pairs:
                        print(
                            f"{data.name}: anchor at Dice >= {threshold} skipped: about"
                            f" {expected:,.0f} pairs pass (limit {args.max_join_pairs:,})"
                        )
                        entry.setdefault("skipped", []).append(
                            {"anchor_threshold": threshold, "estimated_pairs": expected}
                        )
                        continue
                    anchor = run_anchor(data, packed, layout, threshold, seconds).as_dict()
                    anchor["setting"] = f"Dice >= {threshold}"
                    results.append(anchor)
                    print(
                        _line(data.name, "anchor: record CLK + greedy", anchor["setting"], anchor)
                    )
            model = None
            runs: list[tuple[float, str, ComponentClusterer]] = [
                (t, "average-link", AverageLinkClusterer(t, t))
                for t in (float(t) for t in args.edge_thresholds.split(","))
            ]
            if data.mode == "link":  # two deduplicated sides: 1:1 greedy is the right model
                runs += [
                    (float(t), "greedy 1:1", greedy_one_per_agency)
                    for t in args.greedy_thresholds.split(",")
                ]
            for threshold, clustering, clusterer in runs:
                ours = run_ours(
                    data,
                    packed,
                    layout,
                    default_comparisons(hardened),
                    seconds,
                    blocking=default_blocking(hardened, wide=wide),
                    edge_threshold=threshold,
                    clusterer=clusterer,
                    model=model,
                )
                if model is None:
                    from linkage.probabilistic import FellegiSunterModel

                    model = FellegiSunterModel.from_dict(ours.extra["model"])
                else:
                    ours.seconds["fit"] = results[-1]["seconds"]["fit"]
                result = ours.as_dict()
                result["method"] = f"ours, {variant} segments"
                result["setting"] = f"p >= {threshold}, {clustering}"
                results.append(result)
                print(_line(data.name, result["method"], result["setting"], result), flush=True)
        args.out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
