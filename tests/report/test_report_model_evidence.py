"""The probabilistic report's pure parts: the linker read back from a linkage run, match
weights and their histogram, best candidates, ground truth over scored pairs, and
clerical review on match probabilities; and the HTML page's templates."""

from __future__ import annotations

import dataclasses
import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from linkage.errors import InvalidInputError
from linkage.probabilistic import FitReport
from linkage.report import (
    SCORE_DICE,
    SCORE_PROBABILITY,
    Label,
    ReviewLedger,
    clerical_evidence,
    collect_report_data,
    draw_review_sample,
    load_linker,
)
from linkage.report._evaluate import scored_truth_evidence
from linkage.report._files import render_figures
from linkage.report._html import render_html
from linkage.report._probabilistic import (
    ScoredPairs,
    best_candidate_weights,
    probability_weight,
    weight_histogram,
)
from linkage.service import LinkageSettings, prior_model
from linkage.store import LinkageRunRow, SqliteLinkStore
from tests.report.scenario import FINGERPRINT
from tests.service.prob_factory import LAYOUT, PROB_SETTINGS

pytestmark = pytest.mark.unit


def _run(settings: LinkageSettings, suggested: float | None, run_id: int = 3) -> LinkageRunRow:
    model = prior_model(True, LAYOUT)
    assert model.report is not None
    model = dataclasses.replace(
        model, report=dataclasses.replace(model.report, suggested_threshold=suggested)
    )
    return LinkageRunRow(
        run_id,
        1,
        2,
        900,
        100,
        50,
        5,
        settings.threshold,
        "test",
        settings.linkage_model_json(model),
    )


def test_the_linker_is_read_from_the_latest_run_as_the_matcher_reads_it() -> None:
    # Before any run: the shipped prior at the configured threshold.
    loaded = load_linker(PROB_SETTINGS, [])
    assert loaded.source == "prior"
    assert loaded.run is None
    assert loaded.linker.threshold == PROB_SETTINGS.threshold
    assert loaded.linker.model == prior_model(True, LAYOUT)

    run = _run(PROB_SETTINGS, 0.62)
    loaded = load_linker(PROB_SETTINGS, [run])
    assert loaded.source == "fitted"
    assert loaded.run == run
    assert loaded.linker.threshold == PROB_SETTINGS.threshold  # not "auto"
    assert loaded.linker.model.report is not None
    assert loaded.linker.model.report.suggested_threshold == 0.62

    auto = dataclasses.replace(PROB_SETTINGS, auto_threshold=True)
    assert load_linker(auto, [_run(auto, 0.62)]).linker.threshold == 0.62
    assert load_linker(auto, [_run(auto, 0.95)]).linker.threshold == 0.8  # the matcher's bound
    assert load_linker(auto, [_run(auto, None)]).linker.threshold == auto.threshold


def test_a_run_fitted_for_another_layout_leaves_the_prior_in_force() -> None:
    run = _run(PROB_SETTINGS, 0.62)
    document = json.loads(run.model)
    document["probabilistic"]["layout"]["totalWords"] += 1
    other = dataclasses.replace(run, model=json.dumps(document))
    loaded = load_linker(PROB_SETTINGS, [other])
    assert loaded.source == "prior"
    assert loaded.fitted_records == 0


def test_dice_settings_have_no_linker() -> None:
    dice = LinkageSettings(threshold=0.8, clk_bits=1024, key_epoch=1, schema_fingerprint="ab" * 8)
    with pytest.raises(InvalidInputError, match="Dice"):
        load_linker(dice, [])


def test_probability_weights() -> None:
    assert probability_weight(0.5) == 0.0
    assert probability_weight(0.8) == pytest.approx(2.0)
    assert probability_weight(1 / 3) == pytest.approx(-1.0)
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(InvalidInputError):
            probability_weight(bad)


def test_the_weight_histogram_splits_bins_at_the_threshold() -> None:
    weights = np.array([-50.0, -3.2, -0.4, 0.0, 0.3, 2.5, 2.5, 70.0, np.nan])
    threshold_weight = 0.25
    histogram = weight_histogram(weights, threshold_weight)
    assert histogram.width == pytest.approx(1.0)
    assert np.any(np.isclose(histogram.edges, threshold_weight))  # a bin edge
    assert histogram.total == 8  # NaN left out, the extremes in the outer bins
    assert histogram.above.sum() == 4  # 0.3, 2.5, 2.5 and 70
    assert histogram.below.sum() == 4
    assert histogram.edges[0] >= -40 - 1
    assert histogram.edges[-1] <= 60 + 1
    assert not np.any((histogram.below > 0) & (histogram.above > 0))
    empty = weight_histogram(np.zeros(0), 0.0)
    assert empty.total == 0
    assert empty.edges.shape[0] >= 2


def test_best_candidate_weights_take_the_best_pair_of_each_record() -> None:
    pairs = ScoredPairs(
        np.array([0, 0, 1], dtype=np.int64),
        np.array([1, 2, 2], dtype=np.int64),
        np.array([-3.0, 5.0, 1.0]),
    )
    best = best_candidate_weights(4, pairs)
    assert best[:3].tolist() == [5.0, 1.0, 5.0]
    assert math.isnan(best[3])  # no candidate pair
    assert pairs.probabilities[1] == pytest.approx(32 / 33)
    assert len(pairs.where(np.array([True, False, True]))) == 2


def test_ground_truth_over_scored_pairs_counts_uncandidated_true_pairs_as_missed() -> None:
    # Rows 0-4: agencies 0,0,1,1,2; people A,A,A,B and row 4 unlabelled.
    agency = np.array([0, 0, 1, 1, 2])
    entity = np.array([7, 7, 7, 8, -1])
    link = np.array([1, 1, 1, 2, 3])
    scored = (np.array([0, 0, 2, 1]), np.array([1, 2, 3, 4]), np.array([0.9, 0.7, 0.6, 0.95]))
    grid = np.array([0.5, 0.65, 0.8])
    within, completeness = scored_truth_evidence(
        scored, agency, entity, link, within_agency=True, threshold=0.65,
        chosen_threshold=0.65, thresholds=grid,
    )  # fmt: skip
    # True pairs: (0,1), (0,2), (1,2); (1,2) is no candidate; (2,3) is false; (1,4) unlabelled.
    chosen = within.chosen
    assert (chosen.true_positive, chosen.false_positive, chosen.false_negative) == (2, 0, 1)
    assert chosen.true_negative == 6 - 3
    assert completeness == pytest.approx(2 / 3)
    at_half = within.sweep
    assert at_half.true_positive[0] == 2
    assert at_half.false_positive[0] == 1
    assert within.linked is not None
    assert (within.linked.true_positive, within.linked.false_positive) == (3, 0)

    cross, completeness = scored_truth_evidence(
        scored, agency, entity, link, within_agency=False, threshold=0.65,
        chosen_threshold=0.65, thresholds=grid,
    )  # fmt: skip
    # Cross-agency only: true pairs (0,2), (1,2); the pair (0,1) of one agency is out.
    chosen = cross.chosen
    assert (chosen.true_positive, chosen.false_positive, chosen.false_negative) == (1, 0, 1)
    assert chosen.true_negative == 4 - 2  # 2 x 2 cross pairs among the labelled rows
    assert completeness == pytest.approx(1 / 2)
    with pytest.raises(InvalidInputError):
        scored_truth_evidence(
            scored, agency, entity[:3], link, within_agency=True, threshold=0.5,
            chosen_threshold=0.5, thresholds=grid,
        )  # fmt: skip


def test_clerical_evidence_uses_samples_of_its_own_score_kind() -> None:
    rng = np.random.default_rng(1)
    nodes = {n: ("police" if n % 2 else "er") for n in range(40)}
    a = np.arange(0, 40, 2)
    b = a + 1
    probabilities = np.linspace(0.05, 0.95, a.shape[0])
    ledger, pairs = draw_review_sample(
        ReviewLedger(), (a, b, probabilities), nodes, threshold=0.5, band=0.45, size=10,
        method="model", rng=rng, now_us=1, score_kind=SCORE_PROBABILITY,
    )  # fmt: skip
    assert ledger.samples[-1].score_kind == SCORE_PROBABILITY
    ledger = ledger.with_labels({p.pair_id: Label.MATCH for p in pairs}, 2)
    assert clerical_evidence(ledger, 0.5, SCORE_DICE) is None
    evidence = clerical_evidence(ledger, 0.5, SCORE_PROBABILITY)
    assert evidence is not None
    assert evidence.chosen.precision == 1.0
    assert "with match probabilities 0.05-0.95" in evidence.notes[0]
    # The kind survives the ledger file; a ledger written before kinds existed is Dice.
    again = ReviewLedger.from_json(ledger.to_json(), "ledger")
    assert again.samples[-1].score_kind == SCORE_PROBABILITY
    old = json.loads(ledger.to_json())
    for sample in old["samples"]:
        del sample["score_kind"]
    assert ReviewLedger.from_json(json.dumps(old), "old").samples[-1].score_kind == SCORE_DICE


def test_a_review_sample_may_hold_pairs_of_one_agency_when_the_matcher_links_them() -> None:
    nodes = {0: "er", 1: "er", 2: "police", 3: "police"}
    candidates = (np.array([0, 2]), np.array([1, 3]), np.array([0.6, 0.4]))
    _, cross = draw_review_sample(
        ReviewLedger(), candidates, nodes, threshold=0.5, band=0.2, size=5, method="model",
        rng=np.random.default_rng(0), now_us=1,
    )  # fmt: skip
    assert cross == []
    _, within = draw_review_sample(
        ReviewLedger(), candidates, nodes, threshold=0.5, band=0.2, size=5, method="model",
        rng=np.random.default_rng(0), now_us=1, cross_agency_only=False,
    )  # fmt: skip
    assert len(within) == 2


def test_the_page_comes_from_packaged_templates_and_escapes_every_text(tmp_path: Path) -> None:
    templates = resources.files("linkage.report").joinpath("templates")
    for name in ("report.html", "macros.html", "report.css"):
        assert templates.joinpath(name).is_file(), name
    settings = LinkageSettings(
        threshold=0.8, clk_bits=1024, key_epoch=1, schema_fingerprint=FINGERPRINT
    )
    store = SqliteLinkStore(tmp_path / "index.db")
    try:
        data = collect_report_data(store, settings)
    finally:
        store.close()
    hostile = '<script>alert("x")</script> & <img src=x onerror=y>'
    data = dataclasses.replace(data, notes=(hostile,), timings={"a <b>": 1.0})
    page = render_html(data, render_figures(data))
    assert "<script" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img src=x" in page
    assert "a &lt;b&gt; 1.0 s" in page
    assert page.startswith("<!doctype html>")
    assert page.rstrip().endswith("</html>")


def test_fit_reports_are_what_the_model_section_reads() -> None:
    report = prior_model(True, LAYOUT).report
    assert isinstance(report, FitReport)
    assert report.suggested_threshold is not None
