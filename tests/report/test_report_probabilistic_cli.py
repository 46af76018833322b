"""``linkage-admin report`` and ``linkage-admin review`` on a probabilistic matcher (the
default mode): a store filled through the service with segmented CLKs and a fitted
Fellegi-Sunter model. The report rebuilds the matcher's linker from the stored run and
scores exactly the pairs, with exactly the probabilities, the matcher linked with."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from linkage.probabilistic import FellegiSunterModel
from linkage.report import (
    SCORE_PROBABILITY,
    load_index,
    load_ledger,
    load_linker,
    model_band_candidates,
)
from linkage.report._probabilistic import score_candidate_pairs, term_frequencies
from linkage.server import load_server_config, open_store
from linkage.service import LinkageService, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.report.cli_helpers import assert_no_secret, dump, run_cli
from tests.report.conftest import ProbMatcherDir
from tests.report.prob_scenario import prob_server_toml
from tests.report.scenario import OPERATOR

pytestmark = pytest.mark.integration

BASE_FIGURES = {"best-match", "match-weights", "model", "agency-overlap", "link-sizes", "activity"}
QUALITY_FIGURES = {"quality-curves", "confusion-matrix"}


def _stored_model(root: Path) -> tuple[FellegiSunterModel, dict[str, object]]:
    store = SqliteLinkStore(root / "index.db")
    try:
        (run,) = store.list_linkage_runs(1)
    finally:
        store.close()
    document = json.loads(run.model)["probabilistic"]
    return FellegiSunterModel.from_dict(document["model"]), document


def _scored(matcher: ProbMatcherDir) -> tuple[dict[tuple[int, int], float], float, dict[int, str]]:
    """Every candidate pair of the matcher's blocking by node IDs with its match
    probability (the report's scoring), the threshold in force, and each node's person."""
    config = load_server_config(matcher.config, {})
    store = open_store(config.store)
    try:
        snapshot = load_index(store, config.linkage)
        linker = load_linker(config.linkage, store.list_linkage_runs(1)).linker
        pairs = score_candidate_pairs(
            linker,
            snapshot.packed,
            snapshot.agency,
            within_agency=True,
            frequencies=term_frequencies(linker, snapshot.packed),
        )
        members = store.link_members(sorted({link for _, link in store.iter_node_links()}))
    finally:
        store.close()
    person = {(r.agency_id, r.key.encode()): r.person_id for r in matcher.built.records}
    node_person = {m.node_id: person[(m.agency_id, m.record_key)] for m in members}
    nodes = snapshot.node_ids
    scored = {
        (int(nodes[a]), int(nodes[b])): float(p)
        for a, b, p in zip(
            pairs.left.tolist(), pairs.right.tolist(), pairs.probabilities.tolist(), strict=True
        )
    }
    return scored, linker.threshold, node_person


def test_the_report_shows_the_fitted_model_its_blocking_and_the_threshold_evidence(
    prob_matcher_dir: ProbMatcherDir, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    before = dump(prob_matcher_dir.root / "index.db")
    result = run_cli("report", "--config", prob_matcher_dir.config, "--out", out)
    assert result.exit_code == 0, result.output
    assert dump(prob_matcher_dir.root / "index.db") == before  # read, never written
    assert "match probability threshold 0.500" in result.output
    assert {p.stem for p in out.glob("*.png")} == BASE_FIGURES
    for png in out.glob("*.png"):
        with Image.open(png) as image:
            assert image.width > 600
            assert image.height > 300
            assert np.asarray(image.convert("L")).std() > 10, f"{png.name} looks blank"

    summary = json.loads((out / "summary.json").read_text())
    built = prob_matcher_dir.built
    assert summary["score"] == SCORE_PROBABILITY
    assert summary["records"] == len(built.records)
    assert summary["threshold"] == pytest.approx(0.5)
    assert summary["lookups_answered"] == built.lookups
    assert summary["quality"] is None
    model, recorded = _stored_model(prob_matcher_dir.root)
    shown = summary["model"]
    assert shown["source"] == "fitted"
    assert shown["fitted_records"] == len(built.records)
    assert shown["pairs_linked_within_agency"] is True  # average-link clustering
    # The model as stored with the run: every level's m, u and weight.
    assert [c["comparison"] for c in shown["comparisons"]] == list(model.segments)
    for comparison, m_row, u_row, w_row in zip(
        shown["comparisons"], model.m, model.u, model.level_weights(), strict=True
    ):
        assert [level["m"] for level in comparison["levels"]] == list(m_row)
        assert [level["u"] for level in comparison["levels"]] == list(u_row)
        assert [level["weight"] for level in comparison["levels"]] == pytest.approx(list(w_row))
    assert shown["prior"] == model.prior
    assert model.report is not None
    assert summary["suggested_threshold"] == model.report.suggested_threshold
    plan = recorded["blocking_plan"]
    assert isinstance(plan, dict)
    assert shown["pair_completeness_estimate"] == plan["pairCompleteness"]
    assert len(shown["blocking_rules"]) == len(plan["rules"])
    scored, threshold, _ = _scored(prob_matcher_dir)
    assert shown["candidate_pairs"] == len(scored)
    assert shown["pairs_at_threshold"] == sum(p >= threshold for p in scored.values())

    page = (out / "report.html").read_text()
    assert page.count('class="chart"') == len(BASE_FIGURES)
    for heading in ("The fitted model", "Blocking", "Threshold evidence", "Linkage quality"):
        assert f"<h2>{heading}</h2>" in page
    levels = sum(len(c["levels"]) for c in shown["comparisons"])
    table = page.split('id="model-table"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr") == 1 + 1 + levels  # header, prior, one row per level
    assert 'id="blocking-table"' in page
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    for written in [page, (out / "summary.json").read_text()]:
        assert_no_secret(written, built.secrets)
    for png in out.glob("*.png"):
        assert_no_secret(png.read_bytes().decode("latin-1"), built.secrets)


def test_the_report_scores_exactly_the_edges_the_matcher_stored(
    prob_matcher_dir: ProbMatcherDir,
) -> None:
    """The linker rebuilt from the stored run (model, planned blocking, term frequencies,
    threshold in force) finds every stored edge with the matcher's own probability."""
    scored, threshold, _ = _scored(prob_matcher_dir)
    store = SqliteLinkStore(prob_matcher_dir.root / "index.db")
    try:
        stored = {
            (min(e.node_a, e.node_b), max(e.node_a, e.node_b)): e.score for e in store.iter_edges()
        }
    finally:
        store.close()
    assert stored
    above = {pair: p for pair, p in scored.items() if p >= threshold}
    assert above.keys() == stored.keys()
    for pair, probability in stored.items():
        assert above[pair] == pytest.approx(probability, rel=1e-12, abs=1e-15)


def test_ground_truth_judges_every_pair_against_the_threshold(
    prob_matcher_dir: ProbMatcherDir, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "report", "--config", prob_matcher_dir.config, "--out", out,
        "--truth", prob_matcher_dir.truth, "--threshold-override", "0.8",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {p.stem for p in out.glob("*.png")} == BASE_FIGURES | QUALITY_FIGURES
    summary = json.loads((out / "summary.json").read_text())
    quality = summary["quality"]
    assert quality["source"] == "ground truth"
    assert quality["threshold"] == pytest.approx(0.8)
    assert "ground truth at 0.800" in result.output

    # The same figures computed here from the scored pairs and the people behind them:
    # every pair of one person's records is a true pair (average-link links an agency's
    # duplicates too), and a true pair that is no candidate is missed.
    scored, _, node_person = _scored(prob_matcher_dir)
    by_person: dict[str, list[int]] = defaultdict(list)
    for node, person in node_person.items():
        by_person[person].append(node)
    true_pairs = {
        (min(a, b), max(a, b))
        for nodes in by_person.values()
        for a, b in itertools.combinations(nodes, 2)
    }
    linked = {pair for pair, p in scored.items() if p >= 0.8}
    right = len(linked & true_pairs)
    assert quality["precision"] == pytest.approx(right / len(linked))
    assert quality["recall"] == pytest.approx(right / len(true_pairs))
    measured = summary["model"]["pair_completeness_measured"]
    assert measured == pytest.approx(len(true_pairs & scored.keys()) / len(true_pairs))
    assert 0.9 < quality["precision"] <= 1.0
    assert 0.9 < quality["recall"] <= 1.0

    page = (out / "report.html").read_text()
    assert "Pair completeness (ground truth)" in page
    assert "match probability is t or more" in page
    assert_no_secret(page, prob_matcher_dir.built.secrets)


def test_a_review_sample_is_drawn_by_match_probability_and_its_labels_come_back(
    prob_matcher_dir: ProbMatcherDir, tmp_path: Path
) -> None:
    sample_csv = tmp_path / "review.csv"
    before = dump(prob_matcher_dir.root / "index.db")
    sampled = run_cli(
        "review", "sample", "--config", prob_matcher_dir.config, "--out", sample_csv,
        "--n", "30", "--band", "0.49", "--seed", "3",
    )  # fmt: skip
    assert sampled.exit_code == 0, sampled.output
    assert dump(prob_matcher_dir.root / "index.db") == before
    assert "match probabilities" in sampled.output
    ledger_path = prob_matcher_dir.root / "clerical-review.json"
    ledger = load_ledger(ledger_path)
    (sample,) = ledger.samples
    assert sample.score_kind == SCORE_PROBABILITY
    assert sample.method == "model"
    assert sample.threshold == pytest.approx(0.5)
    assert 0 < sample.size <= 30
    # Every sampled pair is a candidate pair scored at its recorded probability, in the band.
    scored, _, node_person = _scored(prob_matcher_dir)
    in_band = [pair for pair, p in scored.items() if 0.01 <= p <= 0.99]
    assert sample.population_above + sample.population_below == len(in_band)
    for pair in ledger.pairs:
        key = (min(pair.node_a, pair.node_b), max(pair.node_a, pair.node_b))
        assert pair.score == pytest.approx(scored[key], rel=1e-12)
        assert 0.01 <= pair.score <= 0.99

    rows = list(csv.DictReader(io.StringIO(sample_csv.read_text())))
    assert len(rows) == sample.size
    tokens = {token: key for key, token in prob_matcher_dir.built.pointer_tokens.items()}
    person = {(r.agency_id, r.key): r.person_id for r in prob_matcher_dir.built.records}
    labels = []
    for row in rows:
        sides = []
        for side in ("a", "b"):
            text = row[f"pointer_token_{side}"]
            agency_id, local = tokens[base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))]
            assert agency_id == row[f"agency_{side}"]
            sides.append(person[(agency_id, local)])
        labels.append((row["pair_id"], "match" if sides[0] == sides[1] else "non-match"))
    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text("pair_id,label\n" + "".join(f"{p},{lab}\n" for p, lab in labels))
    imported = run_cli("review", "import", labels_csv, "--config", prob_matcher_dir.config)
    assert imported.exit_code == 0, imported.output

    out = tmp_path / "out"
    reported = run_cli("report", "--config", prob_matcher_dir.config, "--out", out)
    assert reported.exit_code == 0, reported.output
    quality = json.loads((out / "summary.json").read_text())["quality"]
    assert quality["source"] == "clerical review"
    label_of = dict(labels)
    above = [p for p in load_ledger(ledger_path).pairs if p.score >= 0.5]
    assert above  # both sides of the threshold were sampled
    right = sum(1 for p in above if label_of[p.pair_id] == "match")
    assert quality["precision"] == pytest.approx(right / len(above))
    assert node_person  # the helper found every node's person


def test_model_band_candidates_are_the_scored_pairs_in_the_band(
    prob_matcher_dir: ProbMatcherDir,
) -> None:
    config = load_server_config(prob_matcher_dir.config, {})
    store = open_store(config.store)
    try:
        snapshot = load_index(store, config.linkage)
        linker = load_linker(config.linkage, store.list_linkage_runs(1)).linker
    finally:
        store.close()
    a, b, p = model_band_candidates(snapshot, linker, 0.9, 1.0, within_agency=True)
    scored, _, _ = _scored(prob_matcher_dir)
    expected = {pair for pair, q in scored.items() if 0.9 <= q <= 1.0}
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == expected
    assert np.all((p >= 0.9) & (p <= 1.0))
    cross_a, cross_b, _ = model_band_candidates(snapshot, linker, 0.9, 1.0, within_agency=False)
    agency_of = dict(zip(snapshot.node_ids.tolist(), snapshot.agency.tolist(), strict=True))
    assert all(
        agency_of[x] != agency_of[y]
        for x, y in zip(cross_a.tolist(), cross_b.tolist(), strict=True)
    )
    assert 0 < cross_a.size < a.size


def test_a_fresh_probabilistic_matcher_gets_a_report_on_the_shipped_prior(tmp_path: Path) -> None:
    """No record and no linkage run: the report says the prior model is in force, every
    figure is drawn, and a review sample finds nothing to sample (exit 2)."""
    config = prob_server_toml(tmp_path)
    settings = load_server_config(config, {}).linkage
    store = SqliteLinkStore(tmp_path / "index.db")
    LinkageService(store, settings, ServiceLimits()).create_agency(
        OPERATOR, "metro-police", "Metro", b""
    )
    store.close()
    out = tmp_path / "out"
    result = run_cli("report", "--config", config, "--out", out)
    assert result.exit_code == 0, result.output
    assert {p.stem for p in out.glob("*.png")} == BASE_FIGURES
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records"] == 0
    assert summary["model"]["source"] == "prior"
    assert summary["model"]["candidate_pairs"] == 0
    page = (out / "report.html").read_text()
    assert "No linkage run has fitted a model" in page
    assert "The shipped prior model" in page
    assert "No activity recorded yet." in page

    sampled = run_cli(
        "review", "sample", "--config", config, "--out", tmp_path / "s.csv", "--n", "5"
    )
    assert sampled.exit_code == 2
    assert "(a match probability); widen --band" in sampled.output
    assert not (tmp_path / "s.csv").exists()


def test_a_threshold_override_must_be_a_probability(
    prob_matcher_dir: ProbMatcherDir, tmp_path: Path
) -> None:
    result = run_cli(
        "report", "--config", prob_matcher_dir.config, "--out", tmp_path / "o",
        "--threshold-override", "1.0",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "must be below 1" in result.output
    assert not (tmp_path / "o").exists()


def test_greedy_clustering_judges_cross_agency_pairs_only(
    prob_matcher_dir: ProbMatcherDir, tmp_path: Path
) -> None:
    """With greedy clustering the matcher never links two records of one agency, so the
    report's candidates, best matches and review pairs are cross-agency pairs."""
    config = prob_server_toml(prob_matcher_dir.root, clustering="greedy")
    out = tmp_path / "out"
    result = run_cli("report", "--config", config, "--out", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["pairs_linked_within_agency"] is False
    scored, _, _ = _scored(prob_matcher_dir)
    store = SqliteLinkStore(prob_matcher_dir.root / "index.db")
    try:
        agency_of = {
            m.node_id: m.agency_id
            for m in store.link_members(sorted({link for _, link in store.iter_node_links()}))
        }
    finally:
        store.close()
    cross = [pair for pair in scored if agency_of[pair[0]] != agency_of[pair[1]]]
    assert summary["model"]["candidate_pairs"] == len(cross) < len(scored)
    sampled = run_cli(
        "review", "sample", "--config", config, "--out", tmp_path / "s.csv",
        "--n", "20", "--band", "0.49", "--seed", "1",
    )  # fmt: skip
    assert sampled.exit_code == 0, sampled.output
    for pair in load_ledger(prob_matcher_dir.root / "clerical-review.json").pairs:
        assert pair.agency_a != pair.agency_b


def test_a_threshold_changed_since_the_last_run_is_pointed_out(
    prob_matcher_dir: ProbMatcherDir, tmp_path: Path
) -> None:
    config = prob_server_toml(prob_matcher_dir.root, threshold="0.6")
    out = tmp_path / "out"
    result = run_cli("report", "--config", config, "--out", out)
    assert result.exit_code == 0, result.output
    page = (out / "report.html").read_text()
    assert "The last rebuild used threshold 0.500, in force now: 0.600" in page
    assert json.loads((out / "summary.json").read_text())["threshold"] == pytest.approx(0.6)
