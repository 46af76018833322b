"""The real ``linkage-admin report`` and ``linkage-admin review`` commands on a store
filled through the service: files, numbers that agree with the store, labels that
flow from a review sample into the report, and no secret in anything written."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from linkage.report import load_ledger
from linkage.service import LinkageService, LinkageSettings, ServiceLimits
from linkage.store import SqliteLinkStore
from tests.report.cli_helpers import assert_no_secret, dump, run_cli
from tests.report.conftest import MatcherDir, write_server_toml
from tests.report.scenario import FINGERPRINT, OPERATOR

SETTINGS = LinkageSettings(
    threshold=0.8, clk_bits=1024, key_epoch=1, schema_fingerprint=FINGERPRINT
)

pytestmark = pytest.mark.integration

BASE_FIGURES = {"best-match", "agency-overlap", "link-sizes", "activity"}
QUALITY_FIGURES = {"quality-curves", "confusion-matrix"}


def _store_counts(path: Path) -> tuple[int, int]:
    store = SqliteLinkStore(path)
    try:
        disclosed = sum(
            len(store.list_disclosures(a.agency_id, None, 100_000))
            for a in store.list_agencies("", 100)
        )
        return store.link_count(), disclosed
    finally:
        store.close()


def test_report_writes_a_self_contained_page_figures_and_true_numbers(
    matcher_dir: MatcherDir, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    before = dump(matcher_dir.root / "index.db")
    result = run_cli("report", "--config", matcher_dir.config, "--out", out)
    assert result.exit_code == 0, result.output
    assert dump(matcher_dir.root / "index.db") == before  # read, never written
    assert "report: " in result.output
    assert "suggested" in result.output
    pngs = {p.stem for p in out.glob("*.png")}
    assert pngs == BASE_FIGURES
    for name in pngs:
        with Image.open(out / f"{name}.png") as image:
            assert image.width > 600
            assert image.height > 300
            pixels = np.asarray(image.convert("L"))
            assert pixels.std() > 10, f"{name}.png looks blank"
    summary = json.loads((out / "summary.json").read_text())
    links, disclosed = _store_counts(matcher_dir.root / "index.db")
    built = matcher_dir.built
    assert summary["records"] == built.records
    assert summary["links"] == links
    assert summary["lookups_answered"] == built.lookups
    assert summary["disclosures_made"] == disclosed > 0
    assert summary["agencies"] == ["er", "police", "sud", "valley-mhc"]
    assert 0.6 < summary["suggested_threshold"] < 0.9  # the valley of this generator
    assert summary["quality"] is None
    page = (out / "report.html").read_text()
    assert page.count('class="chart"') == len(BASE_FIGURES)
    for name in BASE_FIGURES:
        assert f'data-chart="{name}"' in page
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert "No labels yet" in page
    for written in [page, (out / "summary.json").read_text()]:
        assert_no_secret(written, built.secrets)
    for png in out.glob("*.png"):
        assert_no_secret(png.read_bytes().decode("latin-1"), built.secrets)


def test_ground_truth_adds_quality_curves_and_a_confusion_matrix(
    matcher_dir: MatcherDir, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "report", "--config", matcher_dir.config, "--out", out, "--truth", matcher_dir.truth,
        "--threshold-override", "0.76",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert {p.stem for p in out.glob("*.png")} == BASE_FIGURES | QUALITY_FIGURES
    summary = json.loads((out / "summary.json").read_text())
    quality = summary["quality"]
    assert quality["source"] == "ground truth"
    assert quality["threshold"] == pytest.approx(0.76)
    assert summary["evaluated_threshold"] == pytest.approx(0.76)
    assert 0.8 < quality["precision"] <= 1.0
    assert 0.6 < quality["recall"] <= 1.0
    assert "ground truth at 0.760" in result.output
    page = (out / "report.html").read_text()
    assert page.count('class="chart"') == len(BASE_FIGURES | QUALITY_FIGURES)
    assert "evaluated" in page or "0.76" in page
    assert_no_secret(page, matcher_dir.built.secrets)


def test_a_review_sample_goes_out_as_pointer_tokens_and_its_labels_come_back(
    matcher_dir: MatcherDir, tmp_path: Path
) -> None:
    sample_csv = tmp_path / "review.csv"
    before = dump(matcher_dir.root / "index.db")
    sampled = run_cli(
        "review", "sample", "--config", matcher_dir.config, "--out", sample_csv,
        "--n", "40", "--band", "0.05", "--seed", "7",
    )  # fmt: skip
    assert sampled.exit_code == 0, sampled.output
    assert "wrote 40 pairs" in sampled.output
    assert dump(matcher_dir.root / "index.db") == before
    assert sample_csv.stat().st_mode & 0o777 == 0o600
    rows = list(csv.DictReader(io.StringIO(sample_csv.read_text())))
    assert len(rows) == 40
    assert list(rows[0]) == [
        "pair_id", "agency_a", "pointer_token_a", "agency_b", "pointer_token_b", "label",
    ]  # fmt: skip
    owners = matcher_dir.built.token_owner
    labels = []
    for row in rows:
        tokens = [row["pointer_token_a"], row["pointer_token_b"]]
        raw = [base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)) for t in tokens]
        # Each side is a real pointer token of a record of the agency named beside it.
        assert owners[raw[0]][0] == row["agency_a"] != row["agency_b"] == owners[raw[1]][0]
        same = owners[raw[0]][1] == owners[raw[1]][1]
        labels.append((row["pair_id"], "match" if same else "non-match"))
    ledger_path = matcher_dir.root / "clerical-review.json"
    ledger = load_ledger(ledger_path)
    assert len(ledger.pairs) == 40
    assert all(0.75 <= p.score <= 0.85 for p in ledger.pairs)
    assert_no_secret(ledger_path.read_text(), matcher_dir.built.secrets)

    labels_csv = tmp_path / "labels.csv"
    labels_csv.write_text("pair_id,label\n" + "".join(f"{p},{lab}\n" for p, lab in labels))
    imported = run_cli("review", "import", labels_csv, "--config", matcher_dir.config)
    assert imported.exit_code == 0, imported.output
    assert "imported 40 labels" in imported.output
    assert len(load_ledger(ledger_path).labels) == 40

    out = tmp_path / "out"
    reported = run_cli("report", "--config", matcher_dir.config, "--out", out)
    assert reported.exit_code == 0, reported.output
    quality = json.loads((out / "summary.json").read_text())["quality"]
    assert quality["source"] == "clerical review"
    matches_above = sum(
        1 for p in load_ledger(ledger_path).pairs
        if p.score >= 0.8 and dict(labels)[p.pair_id] == "match"
    )  # fmt: skip
    above = sum(1 for p in load_ledger(ledger_path).pairs if p.score >= 0.8)
    assert quality["precision"] == pytest.approx(matches_above / above)
    assert "clerical review" in (out / "report.html").read_text()

    # A second sample leaves out the pairs of the first.
    again = run_cli(
        "review", "sample", "--config", matcher_dir.config, "--out", tmp_path / "r2.csv",
        "--n", "10", "--seed", "8",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    ledger = load_ledger(ledger_path)
    first, second = ledger.samples
    # The band holds few pairs here: the second draw gets what the first left.
    left_over = first.population_above + first.population_below - first.size
    assert second.population_above + second.population_below == left_over
    assert second.size == min(10, left_over) > 0
    assert len({(min(p.node_a, p.node_b), max(p.node_a, p.node_b)) for p in ledger.pairs}) == (
        first.size + second.size
    )


def test_domain_errors_exit_2_and_change_nothing(matcher_dir: MatcherDir, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere"
    missing.mkdir()
    (missing / "server.toml").write_text(matcher_dir.config.read_text())
    result = run_cli("report", "--config", missing / "server.toml", "--out", tmp_path / "o")
    assert result.exit_code == 2
    assert "no store at" in result.output

    empty = run_cli("review", "import", matcher_dir.truth, "--config", matcher_dir.config)
    assert empty.exit_code == 2
    assert "run 'review sample' first" in empty.output

    neither = run_cli("review", "import", matcher_dir.truth)  # no --config, no --ledger
    assert neither.exit_code == 2

    sampled = run_cli(
        "review", "sample", "--config", matcher_dir.config, "--out", tmp_path / "s.csv", "--n", "5"
    )
    assert sampled.exit_code == 0, sampled.output
    ledger_path = matcher_dir.root / "clerical-review.json"
    before = ledger_path.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("pair_id,label\nS1-0001,match\nS7-0001,match\n")
    refused = run_cli("review", "import", bad, "--ledger", ledger_path)
    assert refused.exit_code == 2
    assert "bad.csv:3.pair_id: was never sampled" in refused.output
    assert ledger_path.read_bytes() == before

    stranger = tmp_path / "stranger.csv"
    stranger.write_text("agency_id,record_key,entity_id\npolice,00ff00ff,x\n")
    unknown = run_cli(
        "report", "--config", matcher_dir.config, "--out", tmp_path / "o2", "--truth", stranger
    )
    assert unknown.exit_code == 2
    assert "no record in the ground truth file is in the index" in unknown.output


def test_a_fresh_matcher_gets_a_complete_report(tmp_path: Path) -> None:
    """No agency, then one agency without records: every figure is drawn, nothing fails."""
    config = write_server_toml(tmp_path, 0.8)
    store = SqliteLinkStore(tmp_path / "index.db")
    store.close()
    for step in ("empty", "one agency"):
        if step == "one agency":
            store = SqliteLinkStore(tmp_path / "index.db")
            LinkageService(store, SETTINGS, ServiceLimits()).create_agency(
                OPERATOR, "police", "Police", b""
            )
            store.close()
        out = tmp_path / step
        result = run_cli("report", "--config", config, "--out", out)
        assert result.exit_code == 0, result.output
        assert {p.stem for p in out.glob("*.png")} == BASE_FIGURES
        summary = json.loads((out / "summary.json").read_text())
        assert summary["records"] == 0
        assert summary["links"] == 0
        assert summary["suggested_threshold"] is None
        page = (out / "report.html").read_text()
        assert "no clear valley" in page
        assert "No activity recorded yet." in page
