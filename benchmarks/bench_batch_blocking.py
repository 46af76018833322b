"""Blocking one incoming batch against a large index, this implementation against the previous.

    python benchmarks/bench_batch_blocking.py [--index 984000] [--batch 10000] [--scale large]
        [--out build/bench-batch-blocking.json]

The service links every uploaded batch against the whole index before it acknowledges it
(probabilistic mode: :meth:`BlockingRules.candidate_pairs` of the batch against the index).
This times that step rule by rule on the realistic multi-agency records that
``benchmarks/bench_prob_blocking.py generate`` caches (the first ``--index`` records are the
index, the next ``--batch`` the batch), side by side in one process:

* **now**: ``rule.pairs(batch, index)`` as shipped (LSH: the smaller side's keys sorted per
  band, the larger side screened against a bitmap of them; exact rules: one 64-bit hash per
  row sorted, equal hashes checked word for word);
* **before**: the previous algorithms on the same data, kept here as the baseline (LSH: both
  sides' keys sorted per band, :func:`linkage.match.blocked_dice_join` at threshold 0, which
  is what ``lsh_candidates`` ran; exact rules: ``np.unique(axis=0)`` over the rows).

Every rule's pairs must be identical both ways (checked). Then, once, the library's whole
linking step for the batch (:meth:`ProbabilisticLinker.link`: blocking, segment Dice and
match probabilities under the service's prior model; not the store writes or clustering). Seconds are wall time of this
process on a shared machine: compare the two columns of one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.bench_prob_blocking import _layout, load  # noqa: E402
from linkage.match import blocked_dice_join  # noqa: E402
from linkage.probabilistic import (  # noqa: E402
    ExactRule,
    LshRule,
    ProbabilisticLinker,
    default_blocking,
)
from linkage.probabilistic import _blocking as blocking_module  # noqa: E402
from linkage.service._probabilistic import prior_model  # noqa: E402


def _sorted_pairs(pairs: np.ndarray) -> np.ndarray:
    order = np.lexsort((pairs[1], pairs[0]))
    return pairs[:, order]


def _before(rule: LshRule | ExactRule, batch: np.ndarray, index: np.ndarray, layout: Any) -> Any:
    if isinstance(rule, LshRule):
        words = blocking_module._words(layout, rule.parts)
        joined = blocked_dice_join(
            np.ascontiguousarray(batch[:, words]), np.ascontiguousarray(index[:, words]), 0.0,
            rule.lsh,
        )  # fmt: skip
        return np.stack([joined.pairs.left, joined.pairs.right])
    exact_groups = blocking_module._row_groups

    def row_sort_groups(rows: np.ndarray) -> np.ndarray:
        _, inverse = np.unique(rows, axis=0, return_inverse=True)
        return inverse.reshape(-1).astype(np.int64)

    blocking_module._row_groups = row_sort_groups  # type: ignore[assignment]
    try:
        return rule.pairs(batch, index, layout)
    finally:
        blocking_module._row_groups = exact_groups  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=984_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--scale", choices=("default", "large"), default="large")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench-batch-blocking.json")
    args = parser.parse_args()
    layout = _layout()
    packed, _, _ = load(args.index + args.batch)
    index, batch = packed[: args.index], packed[args.index :]
    rules = default_blocking(True, scale=args.scale)
    rows: list[dict[str, Any]] = []
    for rule in rules.rules:
        started = time.perf_counter()
        now = _sorted_pairs(rule.pairs(batch, index, layout))
        now_s = time.perf_counter() - started
        started = time.perf_counter()
        before = _sorted_pairs(_before(rule, batch, index, layout))
        before_s = time.perf_counter() - started
        if not np.array_equal(now, before):
            raise SystemExit(f"{rule}: the two implementations disagree")
        name = (
            f"LSH {'+'.join(rule.parts)} ({rule.lsh.bands} bands)"
            if isinstance(rule, LshRule)
            else f"exact {'+'.join(rule.segments)}"
        )
        rows.append(
            {"rule": name, "pairs": int(now.shape[1]), "now_s": now_s, "before_s": before_s}
        )
        print(f"{name:48s} {now.shape[1]:>9,d} pairs  now {now_s:6.2f} s  before {before_s:6.2f} s",
              flush=True)  # fmt: skip
    started = time.perf_counter()
    left, _ = rules.candidate_pairs(batch, index, layout)
    union_s = time.perf_counter() - started
    # the whole of a batch's linking step in the library: blocking, segment Dice and match
    # probabilities under the service's prior model (not the store writes or clustering)
    linker = ProbabilisticLinker(layout, prior_model(True), rules, 0.5)
    started = time.perf_counter()
    edges = linker.link(batch, index)
    link_s = time.perf_counter() - started
    print(f"ProbabilisticLinker.link (blocking + scoring): {len(edges):,} edges in {link_s:.1f} s")
    now_total = sum(r["now_s"] for r in rows)
    before_total = sum(r["before_s"] for r in rows)
    print(
        f"all rules: now {now_total:.1f} s, before {before_total:.1f} s "
        f"({before_total / now_total:.1f}x); candidate_pairs (union) {len(left):,} pairs in "
        f"{union_s:.1f} s"
    )
    result = {
        "index": args.index,
        "batch": args.batch,
        "scale": args.scale,
        "load_average": os.getloadavg()[0],
        "rules": rows,
        "now_s": now_total,
        "before_s": before_total,
        "union_pairs": len(left),
        "union_s": union_s,
        "link_edges": len(edges),
        "link_s": link_s,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
