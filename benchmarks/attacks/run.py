"""Run the attack benchmark and the FEBRL4 quality sweep; print and save the results table.

    .venv/bin/python -m benchmarks.attacks.run quality  --out results/quality.json
    .venv/bin/python -m benchmarks.attacks.run attack --dataset febrl --overlap 1.0 \
        --size 10000 --out results/febrl-100.json
    .venv/bin/python -m benchmarks.attacks.run table results/*.json

``quality``: for every setting (benchmarks/attacks/encodings.py), FEBRL4 A vs B encoded
with one random secret, Dice join + greedy 1:1 at every threshold of a grid (pairwise
precision, recall, F1), the best F1 and its threshold, and F1 at 0.8.

``attack``: for every setting, the attacker's plaintext and the encoded set (``--size``
records each, sharing ``--overlap`` of their records) drawn from the data set's pool; the
encoded set is encoded with a fresh random secret the attacker never sees; the graph
attack gets the CLK Dice matrix and popcounts, the frequency attack the CLKs; both get the
attacker's plaintext tokenised under the (public) schema. Re-identified: an encoded record
assigned a plaintext record of its own person, over the encoded records whose person is
in the plaintext at all.

``frequency-table``: the frequency attack's inner figures (patterns, alignment precision
checked with the key, learned positions) per result file.

``known-anchors``: the graph attack's refinement started from ``--known`` pairs the
attacker already knows (random records of the overlap, each with its own plaintext
record; a fresh random secret per setting), for each count given: how many of the other
records the known pairs alone re-identify (one alignment) and how many the refinement
rounds then reach. ``known-table`` prints those results as a Markdown table.

``table``: merges result files into the Markdown table of docs/hardening.md. Files that are
not attack or quality results are skipped; for the same data set, overlap, setting and
attack, the run that started last wins (so a frequency-only rerun, ``--attacks frequency``,
replaces the older frequency figures and keeps the graph ones).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.attacks.data import (
    Dataset,
    SyntheticSpec,
    febrl4_sides,
    febrl_pool,
    overlap_split,
)
from benchmarks.attacks.data import synthetic_pool as _synthetic_pool
from benchmarks.attacks.encodings import SETTINGS, setting
from benchmarks.attacks.frequency_attack import frequency_attack
from benchmarks.attacks.graph_attack import (
    GraphAttackParams,
    centred_pair,
    graph_attack,
    known_anchor_attack,
)
from benchmarks.attacks.key_check import check_alignment, fewest_insertions
from benchmarks.attacks.quality import febrl4_quality
from benchmarks.attacks.similarity import (
    clk_dice_matrix,
    popcounts_of,
    token_table,
)

#: synthetic people: about 1.9 records each, enough for 10,000 + 10,000 at 50 % overlap
SYNTHETIC_PEOPLE = 8200


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):  # pragma: no cover
        return "unknown"


def _meta() -> dict[str, Any]:
    return {
        "commit": _commit(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": "2-core machine shared with other engineers' jobs",
    }


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_quality(names: list[str], size: int | None = None) -> dict[str, Any]:
    """FEBRL4 linkage quality per setting (the first ``size`` rows of each side: smoke runs)."""
    sides = febrl4_sides()
    if size is not None:
        sides = (
            Dataset(sides[0].name, sides[0].rows[:size], sides[0].entities[:size]),
            Dataset(sides[1].name, sides[1].rows[:size], sides[1].entities[:size]),
        )
    out: dict[str, Any] = {"kind": "quality", "meta": _meta(), "settings": {}}
    for name in names:
        started = time.perf_counter()
        best, results = febrl4_quality(setting(name), sides)
        at_08 = [r for r in results if abs(r.threshold - 0.8) < 1e-9]
        out["settings"][name] = {
            "best": vars(best),
            "at_0.8": vars(at_08[0]) if at_08 else None,
            "sweep": [vars(r) for r in results],
            "seconds": round(time.perf_counter() - started, 1),
        }
        _log(
            f"{name:34s} best F1 {best.f1:.4f} at {best.threshold:.2f} "
            f"(P {best.precision:.4f} R {best.recall:.4f})"
            + (f"; F1 at 0.80 {at_08[0].f1:.4f}" if at_08 else "")
        )
    return out


def _save(result: dict[str, Any], path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n")


def _pool(dataset: str) -> Dataset:
    """The record pool of ``dataset`` ("febrl" or "synthetic")."""
    return febrl_pool() if dataset == "febrl" else _synthetic_pool(SyntheticSpec(SYNTHETIC_PEOPLE))


def _run_document(kind: str, pool: Dataset, size: int, overlap: float, seed: int) -> dict[str, Any]:
    """The head of an attack run's result file; ``settings`` is filled per setting."""
    return {
        "kind": kind,
        "meta": _meta(),
        "dataset": pool.name,
        "pool": len(pool),
        "size": size,
        "overlap": overlap,
        "seed": seed,
        "settings": {},
    }


def _frequency_refusal(names: list[str], attacks: list[str]) -> str | None:
    """Why the frequency attack cannot run on these settings, or None if it can."""
    not_bloom = [n for n in names if setting(n).majority_xor is not None]
    if "frequency" in attacks and not_bloom:
        return (
            f"the frequency attack mines Bloom-filter bits, and {not_bloom} are not Bloom "
            "filters; attack them with --attacks graph"
        )
    return None


def run_attack(
    dataset: str,
    size: int,
    overlap: float,
    names: list[str],
    attacks: list[str],
    seed: int,
    path: Path | None = None,
    graph_params: GraphAttackParams | None = None,
    frequency_all_starts: bool = False,
) -> dict[str, Any]:
    """Attack every setting; the results so far are saved to ``path`` after each one.

    Raises ValueError, before any work, for the frequency attack on a setting that is not a
    Bloom filter (it mines filter bits, and its key check reads them).
    """
    refusal = _frequency_refusal(names, attacks)
    if refusal:
        raise ValueError(refusal)
    graph_params = graph_params or GraphAttackParams()
    pool = _pool(dataset)
    plain_set, encoded_set, _ = overlap_split(pool, size, overlap, seed)
    out = _run_document("attack", pool, size, overlap, seed)
    for name in names:
        chosen = setting(name)
        schema = chosen.schema
        secret = secrets.token_bytes(32)
        clks = chosen.encode(encoded_set.rows, secret)
        table = token_table(schema, plain_set.rows)
        entry: dict[str, Any] = {}
        if "graph" in attacks:
            plain_matrix = chosen.expected(table)
            encoded_matrix = clk_dice_matrix(clks)
            result = graph_attack(
                plain_matrix,
                encoded_matrix,
                table.sizes,
                popcounts_of(clks),
                plain_set.entities,
                encoded_set.entities,
                graph_params,
            )
            del plain_matrix, encoded_matrix
            gc.collect()
            entry["graph"] = {
                "correct": result.correct,
                "targets": result.targets,
                "rate": result.rate,
                "rounds": result.rounds,
                "seconds": round(result.seconds, 1),
                "max_anchor_fraction": graph_params.max_anchor_fraction,
                "max_rounds": graph_params.max_rounds,
            }
            _log(
                f"{pool.name} {overlap:.0%} {name:34s} graph     "
                f"{result.correct:6d}/{result.targets} = {result.rate:.2%} "
                f"({result.seconds:.0f} s)"
            )
        if "frequency" in attacks:
            freq = frequency_attack(
                clks,
                table,
                plain_set.entities,
                encoded_set.entities,
                all_starts=frequency_all_starts,
            )
            entry["frequency"] = {
                "correct": freq.correct,
                "targets": freq.targets,
                "rate": freq.rate,
                "patterns": freq.patterns,
                "aligned": len(freq.aligned),
                "learned_qgrams": len(freq.learned),
                "rounds": freq.rounds,
                "starts": freq.starts,
                "seconds": round(freq.seconds, 1),
            }
            check = check_alignment(
                schema,
                secret,
                freq.aligned,
                freq.aligned_patterns,
                freq.learned,
                fewest_insertions(table),
                table,
            )
            if check is not None:
                entry["frequency"]["key_check"] = {
                    **vars(check),
                    "alignment_precision": check.alignment_precision,
                    "position_precision": check.position_precision,
                    "explained_precision": check.explained_precision,
                    "strict_alignment_precision": check.strict_alignment_precision,
                    "strict_position_precision": check.strict_position_precision,
                }
            _log(
                f"{pool.name} {overlap:.0%} {name:34s} frequency "
                f"{freq.correct:6d}/{freq.targets} = {freq.rate:.2%} "
                f"({freq.patterns} patterns, {freq.seconds:.0f} s)"
            )
            for start in freq.starts:
                _log(
                    f"    start {start['start']:.0f}: self-check {start['self_check']:.3f}, "
                    f"{start['aligned']:.0f} aligned, first matching {start['first_correct']:.0f}, "
                    f"last round {start['correct']:.0f} re-identified"
                )
            if check is not None:
                _log(
                    f"    aligned {check.aligned_right}/{check.aligned} right "
                    f"({check.alignment_precision:.1%}; strictly "
                    f"{check.aligned_right_strict}, {check.strict_alignment_precision:.1%}); "
                    f"learned positions strictly right {check.strict_position_precision:.1%}; "
                    "learned positions "
                    f"{check.learned_positions_right}/{check.learned_positions} right "
                    f"({check.position_precision:.1%}; {check.explained_precision:.1%} with "
                    f"companion q-grams) over {check.learned_qgrams} q-grams"
                )
        out["settings"][name] = entry
        _save(out, path)
        gc.collect()
    return out


def run_known_anchors(
    dataset: str,
    size: int,
    overlap: float,
    names: list[str],
    known_counts: list[int],
    seed: int,
    path: Path | None = None,
    params: GraphAttackParams | None = None,
) -> dict[str, Any]:
    """The known-anchor attack for every setting and count; saved after each setting."""
    params = params or GraphAttackParams()
    pool = _pool(dataset)
    plain_set, encoded_set, truth = overlap_split(pool, size, overlap, seed)
    shared = np.array([e for e, p in enumerate(truth) if p >= 0], dtype=np.int64)
    too_many = [k for k in known_counts if not 0 < k < len(shared)]
    if too_many:
        raise ValueError(
            f"known pairs {too_many}: each count must be at least 1 and below the "
            f"{len(shared)} records the two sides share"
        )
    out = _run_document("known anchors", pool, size, overlap, seed)
    rng = np.random.default_rng(seed)
    for name in names:
        chosen = setting(name)
        clks = chosen.encode(encoded_set.rows, secrets.token_bytes(32))
        encoded_z, plain_z = centred_pair(
            chosen.expected(token_table(chosen.schema, plain_set.rows)),
            clk_dice_matrix(clks),
            params.seed,
        )
        entry: dict[str, Any] = {}
        for count in known_counts:
            known = np.sort(rng.choice(shared, count, replace=False))
            result = known_anchor_attack(
                encoded_z,
                plain_z,
                known,
                np.array([truth[e] for e in known.tolist()], dtype=np.int64),
                plain_set.entities,
                encoded_set.entities,
                params,
            )
            entry[str(count)] = {
                "known": result.known,
                "targets": result.targets,
                "one_step": result.one_step,
                "one_step_rate": result.one_step_rate,
                "propagated": result.propagated,
                "propagated_rate": result.propagated_rate,
                "rounds": result.rounds,
                "seconds": round(result.seconds, 1),
            }
            _log(
                f"{pool.name} {overlap:.0%} {name:34s} {count:5d} known: "
                f"one step {result.one_step}/{result.targets} = {result.one_step_rate:.2%}, "
                f"propagated {result.propagated_rate:.2%} ({result.seconds:.0f} s)"
            )
        del encoded_z, plain_z
        gc.collect()
        out["settings"][name] = entry
        _save(out, path)
    return out


def known_anchor_table(paths: list[Path]) -> str:
    """A Markdown table of known-anchor results: re-identified, one step / propagated.

    One row per data set, overlap, size and setting; runs with other counts of known
    pairs fill in its columns (for the same count, the run that started last wins).
    """
    runs = [json.loads(p.read_text()) for p in paths]
    runs = [r for r in runs if r.get("kind") == "known anchors"]
    runs.sort(key=lambda r: str(r.get("meta", {}).get("started", "")))
    rows: dict[tuple[str, float, int, str], dict[str, Any]] = {}
    for run in runs:
        for name, entry in run["settings"].items():
            key = (run["dataset"], float(run["overlap"]), int(run["size"]), name)
            rows.setdefault(key, {}).update(entry)
    counts = sorted({int(k) for cells in rows.values() for k in cells})
    order = {name: i for i, name in enumerate(SETTINGS)}
    header = ["data", "overlap", "records", "setting"] + [f"{k} known" for k in counts]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in sorted(rows, key=lambda k: (k[0], -k[1], -k[2], order.get(k[3], len(order)))):
        dataset, overlap, size, name = key
        row = [dataset, f"{overlap:.0%}", f"{size:,}", name]
        for k in counts:
            r = rows[key].get(str(k))
            row.append(f"{r['one_step_rate']:.1%} / {r['propagated_rate']:.1%}" if r else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


_LOG_LINE = re.compile(
    r"^(?P<dataset>FEBRL 1-4|multi-agency synthetic) (?P<overlap>\d+)% (?P<name>.+?)\s+"
    r"(?P<attack>graph|frequency)\s+(?P<correct>\d+)/(?P<targets>\d+) = [\d.]+% "
    r"\((?:(?P<patterns>\d+) patterns, )?(?P<seconds>\d+) s\)$"
)


def results_from_log(text: str, size: int, seed: int) -> list[dict[str, Any]]:
    """Rebuild attack results from a run's progress lines (for a run stopped early)."""
    runs: dict[tuple[str, float], dict[str, Any]] = {}
    for line in text.splitlines():
        match = _LOG_LINE.match(line.strip())
        if match is None:
            continue
        overlap = int(match["overlap"]) / 100
        run = runs.setdefault(
            (match["dataset"], overlap),
            {
                "kind": "attack",
                "meta": {"note": "rebuilt from the run's progress log", **_meta()},
                "dataset": match["dataset"],
                "size": size,
                "overlap": overlap,
                "seed": seed,
                "settings": {},
            },
        )
        correct, targets = int(match["correct"]), int(match["targets"])
        entry: dict[str, Any] = {
            "correct": correct,
            "targets": targets,
            "rate": correct / targets if targets else 0.0,
            "seconds": float(match["seconds"]),
        }
        if match["patterns"] is not None:
            entry["patterns"] = int(match["patterns"])
        run["settings"].setdefault(match["name"], {})[match["attack"]] = entry
    return list(runs.values())


def _merged_attacks(paths: list[Path], min_size: int) -> list[dict[str, Any]]:
    """Attack results grouped by data set and overlap.

    For the frequency attack a later run (by its start time) replaces an earlier one's
    result for the same setting. For the graph attack, runs with different attacker
    configurations (``--graph-anchor-fraction``) are alternatives an attacker would all
    try, so the highest rate stands (ties: the later run).
    """
    runs: list[dict[str, Any]] = []
    for path in paths:
        data = json.loads(path.read_text())
        if data.get("kind") == "attack" and int(data.get("size", 0)) >= min_size:
            runs.append(data)
    runs.sort(key=lambda a: str(a.get("meta", {}).get("started", "")))
    merged: dict[tuple[str, float], dict[str, Any]] = {}
    for run in runs:
        key = (run["dataset"], float(run["overlap"]))
        target = merged.setdefault(
            key, {"dataset": run["dataset"], "overlap": run["overlap"], "settings": {}}
        )
        for name, entry in run["settings"].items():
            cell = target["settings"].setdefault(name, {})
            for kind, result in entry.items():
                earlier = cell.get(kind)
                if kind == "graph" and earlier is not None and earlier["rate"] > result["rate"]:
                    continue
                cell[kind] = result
    return list(merged.values())


def _threshold(value: float) -> str:
    """A grid threshold as written: two decimals, four on the fine part of the grid."""
    return f"{value:.2f}" if abs(value - round(value, 2)) < 1e-9 else f"{value:.4f}"


def make_table(paths: list[Path], min_size: int = 10_000) -> str:
    """The Markdown table of docs/hardening.md from result files (others are skipped).

    Attack runs on fewer than ``min_size`` records per side are left out.
    """
    quality: dict[str, Any] = {}
    quality_runs = [json.loads(path.read_text()) for path in paths]
    quality_runs = [data for data in quality_runs if data.get("kind") == "quality"]
    # a setting measured again: the run that started last wins
    quality_runs.sort(key=lambda data: str(data.get("meta", {}).get("started", "")))
    for data in quality_runs:
        quality.update(data["settings"])
    attacks = _merged_attacks(paths, min_size)
    attacks.sort(key=lambda a: (a["dataset"], -a["overlap"]))
    header = ["setting", "FEBRL4 best F1 (at Dice)", "F1 at 0.54", "F1 at 0.80"]
    for a in attacks:
        for kind in ("graph", "frequency"):
            header.append(f"{kind}, {a['dataset']}, {a['overlap']:.0%}")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    names = [n for n in SETTINGS if n in quality or any(n in a["settings"] for a in attacks)]
    for name in names:
        row = [name]
        q = quality.get(name)
        row.append(f"{q['best']['f1']:.4f} ({_threshold(q['best']['threshold'])})" if q else "–")
        for threshold in (0.54, 0.8):
            hits = [r for r in q["sweep"] if abs(r["threshold"] - threshold) < 1e-9] if q else []
            row.append(f"{hits[0]['f1']:.4f}" if hits else "–")
        for a in attacks:
            entry = a["settings"].get(name, {})
            for kind in ("graph", "frequency"):
                r = entry.get(kind)
                row.append(f"{r['rate']:.2%} ({r['correct']}/{r['targets']})" if r else "–")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def frequency_details(paths: list[Path]) -> str:
    """A Markdown table of the frequency attack's inner figures in each result file."""
    header = [
        "data",
        "overlap",
        "setting",
        "re-identified",
        "after alignment only",
        "patterns",
        "aligned (right: strict / lenient)",
        "q-grams learned",
        "learned positions right: strict / lenient / with companions",
        "seconds",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for path in paths:
        data = json.loads(path.read_text())
        if data.get("kind") not in ("attack", "segment frequency attack"):
            continue
        for name, entry in data["settings"].items():
            r = entry.get("frequency")
            if r is None or "rounds" not in r:
                continue
            first = r["rounds"][0]["correct"] if r["rounds"] else 0
            check = r.get("key_check")
            aligned = str(r["aligned"])
            positions = "–"
            if check is not None:
                strict = check.get("strict_alignment_precision")
                aligned = (
                    f"{check['aligned']} ("
                    + (f"{strict:.1%} / " if strict is not None else "– / ")
                    + f"{check['alignment_precision']:.1%})"
                )
                explained = check.get("explained_precision")
                strict_positions = check.get("strict_position_precision")
                positions = (
                    (f"{strict_positions:.1%} / " if strict_positions is not None else "– / ")
                    + f"{check['position_precision']:.1%} / "
                    + (f"{explained:.1%}" if explained is not None else "–")
                )
            lines.append(
                "| "
                + " | ".join(
                    [
                        data["dataset"],
                        f"{data['overlap']:.0%}",
                        name,
                        f"{r['rate']:.2%} ({r['correct']}/{r['targets']})",
                        f"{first / r['targets']:.2%}" if r["targets"] else "–",
                        str(r["patterns"]),
                        aligned,
                        str(r.get("learned_qgrams", "–")),
                        positions,
                        f"{r['seconds']:.0f}",
                    ]
                )
                + " |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--settings", nargs="*", default=list(SETTINGS))
    q.add_argument("--out", type=Path)
    q.add_argument("--size", type=int, default=None, help="the first N rows of each side")
    a = sub.add_parser("attack")
    a.add_argument("--dataset", choices=("febrl", "synthetic"), required=True)
    a.add_argument("--size", type=int, default=10_000)
    a.add_argument("--overlap", type=float, default=1.0)
    a.add_argument("--settings", nargs="*", default=list(SETTINGS))
    a.add_argument("--attacks", nargs="*", default=["graph", "frequency"])
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--out", type=Path)
    a.add_argument(
        "--graph-anchor-fraction",
        type=float,
        default=GraphAttackParams().max_anchor_fraction,
        help="graph attack: at most this fraction of the encoded records become anchors "
        "(a smaller cap keeps the anchors cleaner when the overlap is partial)",
    )
    a.add_argument(
        "--graph-rounds",
        type=int,
        default=GraphAttackParams().max_rounds,
        help="graph attack: refinement rounds at most",
    )
    a.add_argument(
        "--frequency-all-starts",
        action="store_true",
        help="frequency attack: run every start (not only until one takes off), to report "
        "how its self-check separates good from bad starts",
    )
    k = sub.add_parser("known-anchors", help="the graph attack from pairs the attacker knows")
    k.add_argument("--dataset", choices=("febrl", "synthetic"), required=True)
    k.add_argument("--size", type=int, default=10_000)
    k.add_argument("--overlap", type=float, default=1.0)
    k.add_argument("--settings", nargs="*", default=["plain", "shipped default"])
    k.add_argument("--known", type=int, nargs="+", default=[25, 50, 100, 250, 500])
    k.add_argument("--seed", type=int, default=1)
    k.add_argument("--rounds", type=int, default=10, help="refinement rounds at most")
    k.add_argument("--out", type=Path)
    kt = sub.add_parser("known-table", help="known-anchor results as a Markdown table")
    kt.add_argument("paths", nargs="+", type=Path)
    t = sub.add_parser("table")
    t.add_argument("paths", nargs="+", type=Path)
    t.add_argument(
        "--min-size", type=int, default=10_000, help="leave out attack runs on fewer records"
    )
    d = sub.add_parser("frequency-table", help="the frequency attack's inner figures")
    d.add_argument("paths", nargs="+", type=Path)
    g = sub.add_parser("from-log", help="rebuild a stopped attack run's results from its log")
    g.add_argument("log", type=Path)
    g.add_argument("--size", type=int, default=10_000)
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "from-log":
        runs = results_from_log(args.log.read_text(), args.size, args.seed)
        if len(runs) != 1:
            parser.error(f"the log holds {len(runs)} runs; expected one")
        _save(runs[0], args.out)
        return 0
    unknown = [n for n in getattr(args, "settings", []) if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; choose from {list(SETTINGS)}")
    if args.command == "table":
        print(make_table(args.paths, args.min_size))
        return 0
    if args.command == "frequency-table":
        print(frequency_details(args.paths))
        return 0
    if args.command == "known-table":
        print(known_anchor_table(args.paths))
        return 0
    if args.command == "known-anchors":
        try:
            result = run_known_anchors(
                args.dataset,
                args.size,
                args.overlap,
                args.settings,
                args.known,
                args.seed,
                args.out,
                GraphAttackParams(max_rounds=args.rounds),
            )
        except ValueError as error:
            parser.error(str(error))
        if not args.out:
            print(json.dumps(result, indent=1))
        return 0
    if args.command == "quality":
        result = run_quality(args.settings, args.size)
    else:
        refusal = _frequency_refusal(args.settings, args.attacks)
        if refusal:
            parser.error(refusal)
        result = run_attack(
            args.dataset,
            args.size,
            args.overlap,
            args.settings,
            args.attacks,
            args.seed,
            args.out,
            GraphAttackParams(
                max_anchor_fraction=args.graph_anchor_fraction, max_rounds=args.graph_rounds
            ),
            args.frequency_all_starts,
        )
    if args.out:
        _save(result, args.out)
    else:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
