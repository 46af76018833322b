"""Tuning harness: encoding, comparisons, blocking and clustering variants on one scenario,
without the service (the pure pipeline the service runs: fit, block, score, cluster).

    .venv/bin/python benchmarks/quality/explore.py --scenario faker_us --variant keys

Prints pairwise P / R / F1 over all and cross-agency pairs and where the missed and false
pairs went. For tuning only: report figures from service_quality.py, on the scenarios you
did not tune on.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks.quality.evaluate import evaluate_clusters  # noqa: E402
from benchmarks.quality.scenarios import Scenario, generate, load_scenario  # noqa: E402
from linkage.encode import default_schema_text  # noqa: E402
from linkage.encode._segments import SegmentedEncoder, load_segmented_schema  # noqa: E402
from linkage.match import CandidateEdges, pack_clks, solve_components  # noqa: E402
from linkage.probabilistic import (  # noqa: E402
    AverageLinkClusterer,
    BlockingRules,
    Comparison,
    FellegiSunterModel,
    ProbabilisticLinker,
    SegmentLayout,
    TermFrequencies,
    default_training_rules,
    fit_model,
)
from linkage.probabilistic._blocking import BlockingRule  # noqa: E402


def encode(scenario: Scenario, document: dict[str, Any]) -> tuple[np.ndarray, SegmentLayout]:
    encoder = SegmentedEncoder(
        load_segmented_schema(document), secrets.token_bytes(32), key_epoch=1
    )
    clks = encoder.encode([list(r) for r in scenario.data.rows])
    return pack_clks(clks), encoder.layout


def true_pairs(entities: Sequence[str]) -> list[tuple[int, int]]:
    by: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(entities):
        by[e].append(i)
    return [(a, b) for m in by.values() for x, a in enumerate(m) for b in m[x + 1 :]]


def run(
    scenario: Scenario,
    packed: np.ndarray,
    layout: SegmentLayout,
    comparisons: Sequence[Comparison],
    blocking: BlockingRules,
    *,
    training: Sequence[BlockingRule],
    threshold: float = 0.5,
    join: float = 0.5,
    merge: float = 0.5,
    use_tf: bool = True,
    score_missing: bool = True,
    start: FellegiSunterModel | None = None,
    start_strength: float = 0.0,
) -> dict[str, Any]:
    data = scenario.data
    t0 = time.perf_counter()
    model = fit_model(
        layout,
        comparisons,
        blocking,
        packed,
        training_rules=training,
        start=start,
        start_strength=start_strength,
    )
    fit_s = time.perf_counter() - t0
    tf_segments = [s for s in model.term_frequency_segments() if s is not None]
    frequencies = TermFrequencies.of(packed, layout, tf_segments) if use_tf else None
    linker = ProbabilisticLinker(layout, model, blocking, threshold)
    t0 = time.perf_counter()
    li, ri = linker.candidate_pairs_within(packed)
    block_s = time.perf_counter() - t0
    scores = linker.score(packed, packed, li, ri, frequencies)
    keep = scores >= threshold
    sources = np.asarray(data.sources)
    a, b = li[keep], ri[keep]
    edges = CandidateEdges(scores[keep], sources[a], a, sources[b], b)
    nodes = sorted({(int(sources[i]), int(i)) for i in np.concatenate([a, b]).tolist()})

    def scorer(left: Sequence[tuple[int, int]], right: Sequence[tuple[int, int]]) -> list[float]:
        x = np.array([n[1] for n in left], dtype=np.int64)
        y = np.array([n[1] for n in right], dtype=np.int64)
        return linker.score(packed, packed, x, y, frequencies).tolist()

    clusterer = AverageLinkClusterer(join, merge, scorer=scorer if score_missing else None)
    t0 = time.perf_counter()
    partition = solve_components(nodes, edges, clusterer)
    cluster_s = time.perf_counter() - t0
    groups = [[r for _d, r in g] for g in partition if len(g) > 1]
    quality = evaluate_clusters(groups, data.entities, data.sources)
    # explain
    group_of: dict[int, int] = {}
    for n, g in enumerate(groups):
        for i in g:
            group_of[i] = n
    candidates = set(zip(li.tolist(), ri.tolist(), strict=True))
    tp = true_pairs(data.entities)
    missed = [(x, y) for x, y in tp if group_of.get(x, -1 - x) != group_of.get(y, -1 - y)]
    explained: dict[str, int] = {"true_pairs": len(tp), "missed": len(missed)}
    if missed:
        ma = np.array([x for x, _ in missed])
        mb = np.array([y for _, y in missed])
        ms = linker.score(packed, packed, ma, mb, frequencies)
        cand = np.array([p in candidates for p in missed])
        explained["not_candidate"] = int((~cand).sum())
        explained["not_candidate_above"] = int(((~cand) & (ms >= threshold)).sum())
        explained["below_threshold"] = int((cand & (ms < threshold)).sum())
        explained["edge_apart"] = int((cand & (ms >= threshold)).sum())
    pc = sum(1 for p in tp if p in candidates) / max(len(tp), 1)
    return {
        "quality": quality.as_dict(),
        "explained": explained,
        "pair_completeness": round(pc, 4),
        "candidates": len(li),
        "edges": int(keep.sum()),
        "seconds": {"fit": fit_s, "block": block_s, "cluster": cluster_s},
        "model": model,
        "missed": missed,
        "linker": linker,
        "frequencies": frequencies,
        "groups": groups,
    }


def line(name: str, result: dict[str, Any]) -> str:
    q = result["quality"]
    a, c = q["all"], q["cross"]
    return (
        f"{name:<28} P {a['precision']:.4f} R {a['recall']:.4f} F1 {a['f1']:.4f} | cross F1 "
        f"{c['f1']:.4f} | PC {result['pair_completeness']} cand {result['candidates']} "
        f"{result['explained']} fit {result['seconds']['fit']:.1f}s"
    )


def base_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(default_schema_text())
    from linkage.encode._segments import DEFAULT_SEGMENTS

    segments = json.loads(json.dumps(DEFAULT_SEGMENTS))
    # the earlier default: the Bloom-filter segments without the derived keys
    segments["fields"] = [f for f in segments["fields"] if f.get("kind", "bloom") == "bloom"]
    document["segments"] = segments
    return document


KEY_SEGMENTS: list[dict[str, Any]] = [
    {
        "name": "given_key",
        "kind": "keys",
        "features": ["given_name"],
        "transform": "nicknames",
        "keys": 4,
    },
    {
        "name": "given_letters",
        "kind": "keys",
        "features": ["given_name"],
        "transform": "sorted-letters",
        "keys": 1,
    },
    {
        "name": "surname_key",
        "kind": "keys",
        "features": ["surname"],
        "transform": "name-parts",
        "keys": 3,
    },
    {
        "name": "surname_letters",
        "kind": "keys",
        "features": ["surname"],
        "transform": "sorted-letters",
        "keys": 1,
    },
    {
        "name": "dob_key",
        "kind": "keys",
        "features": ["date_of_birth"],
        "transform": "day-month-sorted",
        "keys": 1,
    },
]


def v2_document() -> dict[str, Any]:
    document = base_document()
    document["segments"]["fields"] += json.loads(json.dumps(KEY_SEGMENTS))
    return document


def v2_comparisons(tf: bool = True) -> tuple[Comparison, ...]:
    from linkage.probabilistic import LevelRule as R

    return (
        Comparison(
            "given_name",
            rules=(
                R("given_name", 1.0),
                R("given_key", 1.0),
                R("given_letters", 1.0),
                R("given_name", 0.8),
                R("given_name", 0.7),
                R("given_name", 0.6),
            ),
            term_frequency=tf,
        ),
        Comparison("middle_name", (1.0, 0.7)),
        Comparison(
            "surname",
            rules=(
                R("surname", 1.0),
                R("surname_letters", 1.0),
                R("surname_key", 1.0),
                R("surname", 0.8),
                R("surname", 0.7),
                R("surname", 0.6),
            ),
            term_frequency=tf,
        ),
        Comparison(
            "date_of_birth",
            rules=(
                R("date_of_birth", 1.0),
                R("dob_key", 1.0),
                R("date_of_birth", 0.8),
                R("date_of_birth", 0.7),
                R("date_of_birth", 0.6),
            ),
            term_frequency=tf,
        ),
        Comparison("sex", (1.0,)),
        Comparison("phone", (1.0, 0.7), term_frequency=tf),
        Comparison("street", (1.0, 0.75, 0.6), term_frequency=tf),
        Comparison("locality", (1.0, 0.75, 0.6), term_frequency=tf),
    )


def v2_blocking() -> BlockingRules:
    from linkage.match import HammingLsh
    from linkage.probabilistic import ExactRule, LshRule

    return BlockingRules(
        (
            LshRule(("record",), HammingLsh(bands=64, bits_per_band=32, seed=11)),
            ExactRule(("phone",)),
            ExactRule(("date_of_birth", "given_name")),
            ExactRule(("date_of_birth", "surname")),
            ExactRule(("date_of_birth", "street")),
            ExactRule(("date_of_birth", "sex")),
            ExactRule(("surname", "street")),
            ExactRule(("given_name", "street")),
            ExactRule(("given_name", "surname", "date_of_birth"), unordered=True),
            ExactRule(("given_name", "surname", "sex")),
            ExactRule(("given_key", "surname_letters")),
            ExactRule(("given_key", "date_of_birth")),
            ExactRule(("surname_key", "dob_key")),
            ExactRule(("given_letters", "dob_key")),
            ExactRule(("surname_letters", "dob_key")),
            LshRule(
                ("given_name", "surname", "date_of_birth"),
                HammingLsh(bands=96, bits_per_band=56, seed=16),
            ),
            LshRule(("surname", "date_of_birth"), HammingLsh(bands=64, bits_per_band=56, seed=14)),
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="faker_us")
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variants", default="base,v2")
    args = parser.parse_args()
    scenario = load_scenario(generate(args.scenario, args.people, args.seed))
    from linkage.probabilistic import default_blocking, default_comparisons

    if "base" in args.variants:
        packed, layout = encode(scenario, base_document())
        result = run(
            scenario,
            packed,
            layout,
            default_comparisons(),
            default_blocking(scale="large"),
            training=default_training_rules(),
            use_tf=False,
            score_missing=False,
        )
        print(line("base large", result), flush=True)
    packed, layout = encode(scenario, v2_document())
    for tf in (False, True):
        for missing in (False, True):
            result = run(
                scenario,
                packed,
                layout,
                v2_comparisons(tf),
                v2_blocking(),
                training=default_training_rules(),
                use_tf=tf,
                score_missing=missing,
            )
            print(line(f"v2 tf={tf} scored-missing={missing}", result), flush=True)


if __name__ == "__main__":
    main()


def v2_wide_blocking() -> BlockingRules:
    """The medium rule set plus the key rules (for ~10^4-10^5 records)."""
    from linkage.match import HammingLsh
    from linkage.probabilistic import ExactRule, LshRule, default_blocking

    medium = default_blocking()
    return BlockingRules(
        medium.rules
        + v2_blocking().rules
        + (
            ExactRule(("given_key", "surname")),
            ExactRule(("given_name", "surname_key")),
            ExactRule(("given_letters", "surname_letters")),
            ExactRule(("surname_letters", "sex")),
            LshRule(("given_name", "surname"), HammingLsh(bands=40, bits_per_band=20, seed=41)),
        )
    )


def v3_comparisons(tf: bool = True) -> tuple[Comparison, ...]:
    """v2 with one joint 'household' comparison over surname, street, phone, locality:
    their agreements are correlated (families share them), so they are levels of one
    comparison whose u is measured jointly instead of multiplied."""
    from linkage.probabilistic import LevelRule as R

    v2 = {c.segment: c for c in v2_comparisons(tf)}
    surname_close = (
        R("surname_letters", 1.0),
        R("surname_key", 1.0),
        R("surname", 0.7),
    )
    household = Comparison(
        "surname",
        rules=(
            R("surname", 1.0, (("street", 1.0),)),
            R("surname", 1.0, (("phone", 1.0),)),
            R("surname", 1.0, (("locality", 1.0),)),
            R("surname", 1.0),
            *(R(r.segment, r.min_dice, (("street", 0.75),)) for r in surname_close),
            *surname_close,
            R("surname", 0.6),
            R("phone", 1.0),
            R("street", 1.0),
            R("street", 0.75),
            R("locality", 1.0),
        ),
        term_frequency=tf,
    )
    return (
        v2["given_name"],
        v2["middle_name"],
        household,
        v2["date_of_birth"],
        v2["sex"],
    )


def v4_document() -> dict[str, Any]:
    """The default schema plus a given-name initial key."""
    document: dict[str, Any] = json.loads(default_schema_text())
    from linkage.encode._segments import DEFAULT_SEGMENTS

    document["segments"] = json.loads(json.dumps(DEFAULT_SEGMENTS))
    document["segments"]["fields"].append(
        {
            "name": "given_initial",
            "kind": "keys",
            "features": ["given_name"],
            "transform": "initial",
            "keys": 1,
        }
    )
    return document


def v4_comparisons(tf: bool = True) -> tuple[Comparison, ...]:
    from linkage.probabilistic import LevelRule as R

    out = list(v2_comparisons(tf))
    given = out[0]
    out[0] = Comparison(
        "given_name", rules=(*given.rules, R("given_initial", 1.0)), term_frequency=tf
    )
    return tuple(out)
