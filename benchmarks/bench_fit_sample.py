"""Fitting the Fellegi-Sunter model on a sample: time and linkage quality at a million records.

    python benchmarks/bench_fit_sample.py [--records 1000000] [--sample 200000]

A matcher's rebuild refits the model on at most ``fit_sample_records`` records (a seeded
random sample, ``linkage.service._probabilistic.fit_linker``). This benchmark takes the
cached realistic records of ``benchmarks/bench_prob_blocking.py generate``, fits the
model exactly as the matcher does (sampled), links all ``--records`` records with it
(the large blocking rules, probability 0.5, average-link clusters, as
``bench_prob_blocking.py run --f1-up-to`` does with a model fitted on every record) and
reports the fit time and pairwise quality (``bench_prob_blocking._linkage_quality``
with the sampled model), to compare with that run's full fit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


from benchmarks.bench_prob_blocking import _layout, _linkage_quality, load  # noqa: E402
from linkage.service import ProbabilisticSettings  # noqa: E402
from linkage.service._probabilistic import fit_linker  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench-fit-sample.json")
    args = parser.parse_args()
    packed, person, agency = load(args.records)
    settings = ProbabilisticSettings(
        layout=_layout(),
        hardened=True,
        schema_source="default-segmented",
        fit_sample_records=args.sample,
        blocking_preset="large",  # the rule set this benchmark's docstring names
    )
    started = time.perf_counter()
    linker = fit_linker(settings, packed, 0.5, auto_threshold=False).linker
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    left, right = linker.candidate_pairs_within(packed)
    blocking_seconds = time.perf_counter() - started
    linked = _linkage_quality(
        packed, person, agency, linker.layout, linker.blocking, left, right, model=linker.model
    )
    result = {
        "records": args.records,
        "sample": args.sample,
        "fit_seconds": round(fit_seconds, 1),
        "blocking_seconds": round(blocking_seconds, 1),
        "score_and_cluster_seconds": round(linked["score_seconds"] + linked["cluster_seconds"], 1),
        "candidate_pairs": len(left),
        "fit": linker.model.to_dict().get("fit"),
        "precision": linked["precision"],
        "recall": linked["recall"],
        "f1": linked["f1"],
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
