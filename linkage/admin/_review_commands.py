"""``linkage-admin review``: clerical review of pairs near the threshold.

``review sample`` writes pairs of pointer tokens (with agency IDs and a pair
ID; no scores, no PII) for the agencies to dereference and label;
``review import`` reads the labels back (pair ID and match / non-match /
unsure) into the review ledger, where ``linkage-admin report`` finds them.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np

from linkage.admin._report_commands import (
    ledger_option,
    ledger_path_for,
    open_existing_store,
    server_config_option,
)
from linkage.errors import InvalidInputError

__all__ = ["review"]


def _token_text(token: bytes) -> str:
    """Pointer tokens travel as unpadded base64url, as the gateway shows them."""
    return base64.urlsafe_b64encode(token).decode("ascii").rstrip("=")


@click.group()
def review() -> None:
    """Clerical review: sample pairs near the threshold, import the agencies' labels."""


@review.command("sample")
@server_config_option
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The CSV to send to the agencies (pair IDs, agency IDs, pointer tokens).",
)
@click.option("--n", "size", type=click.IntRange(1, 100_000), default=200, show_default=True)
@click.option(
    "--band",
    type=click.FloatRange(0.0, 0.5, min_open=True),
    default=0.05,
    show_default=True,
    help="Sample pairs scoring within this distance of the threshold, on both sides "
    "(Dice score, or match probability for a probabilistic matcher).",
)
@click.option(
    "--max-comparisons",
    type=click.IntRange(min=1),
    default=2_000_000_000,
    show_default=True,
    help="Dice mode: above this many comparisons, candidate pairs are found with LSH "
    "blocking (a probabilistic matcher's candidates come from its own blocking).",
)
@click.option("--seed", type=click.IntRange(min=0), default=None, help="For a repeatable draw.")
@ledger_option
def review_sample(
    config_path: Path,
    out_path: Path,
    size: int,
    band: float,
    max_comparisons: int,
    seed: int | None,
    ledger_path: Path | None,
) -> None:
    """Sample up to N pairs near the threshold (Dice score, or match probability for a
    probabilistic matcher), half on each side, shuffled, as pointer tokens each agency
    opens with 'agency-client deref'."""
    from linkage.report import (
        SCORE_DICE,
        SCORE_PROBABILITY,
        band_candidates,
        draw_review_sample,
        links_within_agency,
        load_index,
        load_ledger,
        load_linker,
        model_band_candidates,
        pointer_tokens,
        save_ledger,
        write_review_csv,
    )

    ledger_file = ledger_path_for(config_path, ledger_path)
    ledger = load_ledger(ledger_file)
    config, store = open_existing_store(config_path)
    settings = config.linkage
    try:
        snapshot = load_index(store, settings)
        within = links_within_agency(settings)
        if settings.probabilistic is None:
            threshold, kind = settings.threshold, SCORE_DICE
            candidates, method = band_candidates(
                snapshot, max(0.0, threshold - band), min(1.0, threshold + band), max_comparisons
            )
        else:
            linker = load_linker(settings, store.list_linkage_runs(1)).linker
            threshold, kind, method = linker.threshold, SCORE_PROBABILITY, "model"
            candidates = model_band_candidates(
                snapshot,
                linker,
                max(0.0, threshold - band),
                min(1.0, threshold + band),
                within_agency=within,
            )
        node_agency = {
            int(node): snapshot.agencies[int(a)]
            for node, a in zip(snapshot.node_ids, snapshot.agency, strict=True)
        }
        grown, pairs = draw_review_sample(
            ledger,
            candidates,
            node_agency,
            threshold=threshold,
            band=band,
            size=size,
            method=method,
            rng=np.random.default_rng(seed),
            now_us=int(time.time() * 1e6),
            score_kind=kind,
            cross_agency_only=not within,
        )
        tokens = pointer_tokens(store, [n for p in pairs for n in (p.node_a, p.node_b)])
    finally:
        store.close()
    if not pairs:
        scope = "pairs" if within else "cross-agency pairs"
        raise InvalidInputError(
            f"no unsampled {scope} score within {band} of the threshold {threshold:.3f}"
            f"{' (a match probability)' if kind == SCORE_PROBABILITY else ''}; widen --band"
        )
    missing = [p.pair_id for p in pairs if p.node_a not in tokens or p.node_b not in tokens]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} sampled records were withdrawn while sampling; run it again"
        )
    write_review_csv(
        out_path,
        (
            (
                p.pair_id,
                p.agency_a,
                _token_text(tokens[p.node_a][1]),
                p.agency_b,
                _token_text(tokens[p.node_b][1]),
            )
            for p in pairs
        ),
    )
    save_ledger(ledger_file, grown)
    above = sum(1 for p in pairs if p.score >= threshold)
    sample = grown.samples[-1]
    click.echo(
        f"wrote {len(pairs)} pairs to {out_path} (sample S{sample.sample_id}: {above} at or above "
        f"{threshold:.3f}, {len(pairs) - above} below"
        + (
            f"; {method} candidate search)"
            if kind == SCORE_DICE
            else "; match probabilities of the blocking's candidate pairs)"
        )
    )
    click.echo(
        "send each agency the file: it opens its own pointer tokens with 'agency-client deref' "
        "and fills the label column with match, non-match or unsure"
    )
    click.echo(f"ledger: {ledger_file}")


@review.command("import")
@click.argument(
    "labels_path",
    metavar="LABELS.csv",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The matcher's server.toml (locates the ledger next to it).",
)
@ledger_option
def review_import(labels_path: Path, config_path: Path | None, ledger_path: Path | None) -> None:
    """Import labels (columns pair_id and label: match, non-match or unsure) into the
    ledger; a pair labelled again keeps its newest label. All or nothing."""
    from linkage.report import load_ledger, read_label_csv, save_ledger

    if config_path is None and ledger_path is None:
        raise click.UsageError("pass --config (the ledger lies next to it) or --ledger")
    ledger_file = ledger_path_for(config_path or Path("."), ledger_path)
    ledger = load_ledger(ledger_file)
    if not ledger.pairs:
        raise InvalidInputError(f"{ledger_file} holds no sampled pairs; run 'review sample' first")
    labels = read_label_csv(labels_path, ledger)
    relabelled = sum(1 for pair_id in labels if pair_id in ledger.labels)
    now_us = int(datetime.now(UTC).timestamp() * 1e6)
    save_ledger(ledger_file, ledger.with_labels(labels, now_us))
    counts = {label.value: 0 for label in {*labels.values()}}
    for label in labels.values():
        counts[label.value] += 1
    summary = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
    click.echo(
        f"imported {len(labels)} labels ({summary}); {relabelled} replaced earlier ones; "
        f"{len(ledger.pairs) - len(ledger.labels) - (len(labels) - relabelled)} pairs unlabelled"
    )
