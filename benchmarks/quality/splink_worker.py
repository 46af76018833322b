"""Splink 5 (plaintext, DuckDB) on one data set: the quality benchmark's reference.

Runs inside the benchmark's own virtualenv (``build/splink-venv``, see splink_env.py),
never in the project's. Reads the normalised plaintext rows the PPRL methods encode (a CSV
with ``unique_id``, ``source`` and the default schema's features), trains a Splink model
the way its documentation recommends (the random-match probability from deterministic
rules, u by random sampling, m by EM on two blocking passes; no labels), predicts over a
union of blocking rules and clusters by connected components at each threshold asked for.
Writes JSON: ``{"labels": {threshold: [cluster id per row]}, "seconds": {...}}``.

    build/splink-venv/bin/python benchmarks/quality/splink_worker.py IN.csv OUT.json \\
        --mode dedupe --thresholds 0.5,0.9
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

FEATURES = (
    "given_name",
    "middle_name",
    "surname",
    "date_of_birth",
    "sex",
    "phone",
    "street_address",
    "address_line_2",
    "suburb",
    "postcode",
    "state",
)


def _settings(link_type: str) -> SettingsCreator:
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=[
            cl.ForenameSurnameComparison(
                "given_name", "surname", forename_surname_concat_col_name="full_name"
            ),
            cl.NameComparison("middle_name"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.ExactMatch("sex"),
            cl.LevenshteinAtThresholds("phone", [1, 2]),
            cl.LevenshteinAtThresholds("street_address", [2, 5]),
            cl.LevenshteinAtThresholds("address_line_2", [2, 5]),
            cl.LevenshteinAtThresholds("suburb", [1, 3]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"),
            "l.given_name = r.surname and l.surname = r.given_name",
            block_on("date_of_birth"),
            block_on("surname"),
            block_on("given_name", "postcode"),
            block_on("street_address"),
            block_on("phone"),
        ],
        retain_intermediate_calculation_columns=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input_csv")
    parser.add_argument("output_json")
    parser.add_argument("--mode", choices=("link", "dedupe"), required=True)
    parser.add_argument("--thresholds", default="0.5")
    parser.add_argument("--u-pairs", type=float, default=2e6)
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]

    frame = pd.read_csv(args.input_csv, dtype=str, keep_default_na=False)
    frame = frame.replace({"": None})
    frame["full_name"] = frame["given_name"].fillna("") + " " + frame["surname"].fillna("")
    frame.loc[frame["given_name"].isna() & frame["surname"].isna(), "full_name"] = None
    started = time.perf_counter()
    db_api = DuckDBAPI()
    if args.mode == "link":
        tables = [
            db_api.register(part.drop(columns=["source"]), table_name=f"source_{source}")
            for source, part in frame.groupby("source", sort=True)
        ]
        linker = Linker(tables, _settings("link_only"))
    else:
        linker = Linker(db_api.register(frame, table_name="records"), _settings("dedupe_only"))
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("given_name", "surname", "date_of_birth"),
            block_on("given_name", "surname", "postcode"),
        ],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=args.u_pairs, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("given_name", "surname")
    )
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=min(thresholds))
    predicted = time.perf_counter()
    labels: dict[str, list[str]] = {}
    cluster_seconds: dict[str, float] = {}
    for threshold in thresholds:
        start = time.perf_counter()
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        ).as_pandas_dataframe()
        cluster_of = dict(
            zip(clusters["unique_id"].astype(str), clusters["cluster_id"].astype(str), strict=True)
        )
        labels[str(threshold)] = [
            cluster_of.get(uid, f"single-{uid}") for uid in frame["unique_id"]
        ]
        cluster_seconds[str(threshold)] = time.perf_counter() - start
    with open(args.output_json, "w", encoding="utf-8") as out:
        json.dump(
            {
                "labels": labels,
                "seconds": {
                    "train": trained - started,
                    "predict": predicted - trained,
                    "cluster": cluster_seconds,
                },
                "pairs_scored_above_lowest_threshold": len(predictions.as_pandas_dataframe()),
            },
            out,
        )


if __name__ == "__main__":
    main()
