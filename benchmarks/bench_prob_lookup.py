"""A probabilistic lookup against a million segmented CLKs: the matcher's search path alone.

    python benchmarks/bench_prob_lookup.py [--data build/prob-blocking] [--records 1000000]
        [--queries 300]

The records are the cached realistic multi-agency segmented CLKs that
``benchmarks/bench_prob_blocking.py`` generates (``chunk-*.npz`` with ``packed``, ``person``
and ``agency``). One record of each of ``--queries`` people with several records is held
out as the query; the rest go into a :class:`linkage.match.ClkIndex` of segmented CLKs.
Each query runs ``search_index``, what ``LinkageService`` runs for a probabilistic lookup:
the nearest ``lookup_candidates`` records by whole-CLK Dice, then their segment
similarities scored by the shipped prior model, kept at probability 0.5 or more.
Reported: median and p99 latency of that path (no store reads or audit; the service
benchmark measures those), of the scan alone (timed again right after, on a warm index)
and of the rest, and how often the query's own person came first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from linkage.encode import default_segmented_schema, segment_layout  # noqa: E402
from linkage.match import ClkIndex  # noqa: E402
from linkage.probabilistic import ProbabilisticLinker, default_blocking  # noqa: E402
from linkage.service import prior_model  # noqa: E402
from linkage.service._probabilistic import LOOKUP_PREFILTER_DICE, search_index  # noqa: E402

CANDIDATES = 200  # the service's default lookup_candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO / "build" / "prob-blocking")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench-prob-lookup.json")
    args = parser.parse_args()
    packed_parts, person_parts = [], []
    held = 0
    for path in sorted(args.data.glob("chunk-*.npz")):
        with np.load(path) as chunk:
            packed_parts.append(chunk["packed"])
            person_parts.append(chunk["person"])
        held += len(person_parts[-1])
        if held >= args.records + args.queries:
            break
    packed = np.concatenate(packed_parts)[: args.records + args.queries]
    person = np.concatenate(person_parts)[: args.records + args.queries]
    segmented = default_segmented_schema()
    layout = segment_layout(segmented.schema.length, segmented.segmentation)
    if packed.shape[1] != layout.total_words:
        raise SystemExit(f"{args.data} does not hold default segmented CLKs")
    rng = np.random.default_rng(7)
    _, first, counts = np.unique(person, return_index=True, return_counts=True)
    several = first[counts >= 2]
    query_rows = np.sort(rng.choice(several, size=min(args.queries, len(several)), replace=False))
    in_index = np.ones(len(person), dtype=bool)
    in_index[query_rows] = False
    index_rows = np.nonzero(in_index)[0][: args.records]
    index = ClkIndex(layout.total_words * 64)
    started = time.perf_counter()
    index.add(index_rows.astype(np.int64), np.ascontiguousarray(packed[index_rows]))
    load_seconds = time.perf_counter() - started
    linker = ProbabilisticLinker(layout, prior_model(True), default_blocking(True), 0.5)
    search_ms: list[float] = []
    score_ms: list[float] = []
    total_ms: list[float] = []
    first_right = 0
    for row in query_rows.tolist():
        query = np.ascontiguousarray(packed[row : row + 1])
        t0 = time.perf_counter()
        best = search_index(index, linker, query, candidates=CANDIDATES, threshold=0.5, k=1)
        t1 = time.perf_counter()
        index.search(query, LOOKUP_PREFILTER_DICE, CANDIDATES)  # the scan alone, for its share
        t2 = time.perf_counter()
        total_ms.append(1000 * (t1 - t0))
        search_ms.append(1000 * (t2 - t1))
        score_ms.append(max(0.0, total_ms[-1] - search_ms[-1]))
        first_right += bool(best and person[best[0][0]] == person[row])

    def stats(values: list[float]) -> dict[str, float]:
        return {
            "median_ms": round(statistics.median(values), 2),
            "p99_ms": round(float(np.quantile(values, 0.99)), 2),
        }

    result = {
        "records": len(index_rows),
        "queries": len(query_rows),
        "index_mib": round(len(index_rows) * layout.total_words * 8 / 2**20, 1),
        "index_load_seconds": round(load_seconds, 1),
        "total": stats(total_ms),
        "search": stats(search_ms),
        "score": stats(score_ms),
        "own_person_first": first_right,
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
