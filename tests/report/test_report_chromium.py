"""The report rendered in headless Chromium (Debian's chromium, driven by Playwright), for
a Dice matcher and for a probabilistic one: every chart is present, loaded and not blank,
the page asks for nothing over the network, and a full-page screenshot shows it.

Without Chromium or Playwright the test is skipped, unless LINKAGE_REQUIRE_CHROMIUM=1
(CI sets it) makes that a failure."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from linkage.report import (
    ReportOptions,
    collect_report_data,
    read_truth_csv,
    write_report,
)
from linkage.server import load_server_config, open_store
from tests.report.conftest import MatcherDir, ProbMatcherDir

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("LINKAGE_CHROMIUM", "/usr/bin/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The probabilistic report's charts besides those.
MODEL_CHARTS = {"match-weights", "model"}
ALL_CHARTS = {
    "best-match",
    "agency-overlap",
    "link-sizes",
    "activity",
    "quality-curves",
    "confusion-matrix",
}

# For each chart: loaded, its natural and drawn size, and how much of it is ink
# (pixels far from white) and how many distinct colours it has, read back
# through a canvas.
_INSPECT = """
() => Array.from(document.querySelectorAll('img.chart')).map(img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  let ink = 0, colours = new Set();
  if (img.complete && img.naturalWidth > 0) {
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4 * 7) {
      if (data[i] + data[i + 1] + data[i + 2] < 600) ink++;
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    }
    ink = ink / (data.length / (4 * 7));
  }
  const box = img.getBoundingClientRect();
  return {name: img.dataset.chart, complete: img.complete, naturalWidth: img.naturalWidth,
          naturalHeight: img.naturalHeight, shownWidth: box.width, shownHeight: box.height,
          ink: ink, colours: colours.size};
})
"""


def _playwright() -> Any:
    required = os.environ.get("LINKAGE_REQUIRE_CHROMIUM") == "1"
    missing = None
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        missing = f"no Chromium at {CHROMIUM}"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "playwright is not installed"
    if missing:
        if required:
            pytest.fail(f"LINKAGE_REQUIRE_CHROMIUM=1 but {missing}")
        pytest.skip(missing)
    return sync_playwright


@pytest.fixture
def full_report(matcher_dir: MatcherDir, tmp_path: Path) -> Path:
    """A report with every chart (ground truth included), written in-process."""
    return _write(matcher_dir.config, matcher_dir.truth, 0.78, tmp_path / "report")


@pytest.fixture
def full_probabilistic_report(prob_matcher_dir: ProbMatcherDir, tmp_path: Path) -> Path:
    """A probabilistic matcher's report with every chart (ground truth included)."""
    return _write(prob_matcher_dir.config, prob_matcher_dir.truth, 0.7, tmp_path / "report")


def _write(config_path: Path, truth: Path, override: float, out: Path) -> Path:
    config = load_server_config(config_path, {})
    store = open_store(config.store)
    try:
        data = collect_report_data(
            store,
            config.linkage,
            ReportOptions(chosen_threshold=override),
            truth=read_truth_csv(truth),
        )
    finally:
        store.close()
    return write_report(data, out).html


@dataclass(frozen=True)
class Rendered:
    """What headless Chromium made of a report."""

    title: str
    headings: list[str]
    charts: list[dict[str, Any]]
    requests: list[str]
    errors: list[str]
    screenshot: Path


def _render(html: Path, tmp_path: Path) -> Rendered:
    sync_playwright = _playwright()
    requests: list[str] = []
    errors: list[str] = []
    shot = tmp_path / "report.png"
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, throwaway profile (--user-data-dir).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(html.as_uri(), wait_until="load")
            charts = page.evaluate(_INSPECT)
            title = page.title()
            headings = page.locator("h2").all_inner_texts()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return Rendered(title, headings, charts, requests, errors, shot)


def _check_charts(rendered: Rendered, html: Path, expected: set[str], min_height: int) -> None:
    """Every expected chart is there once, loaded, drawn at a useful size and not blank;
    the page asked for nothing but itself and its data: URIs, and logged no error."""
    charts = rendered.charts
    assert {c["name"] for c in charts} == expected
    assert len(charts) == len(expected)
    for chart in charts:
        name = chart["name"]
        assert chart["complete"], name
        assert chart["naturalWidth"] > 500, name
        assert chart["naturalHeight"] > 300, name
        assert chart["shownWidth"] > 400, name
        assert chart["shownHeight"] > 150, name
        assert 0.01 < chart["ink"] < 0.9, f"{name} is blank or solid: ink {chart['ink']:.3f}"
        assert chart["colours"] > 20, f"{name} has {chart['colours']} colours"
    # Self-contained: the document itself, then only data: URIs (the figures).
    assert rendered.requests[0] == html.as_uri()
    assert all(url.startswith("data:") for url in rendered.requests[1:]), rendered.requests
    assert rendered.errors == []
    with Image.open(rendered.screenshot) as shot:
        assert shot.width == 1280
        assert shot.height > min_height
        pixels = np.asarray(shot.convert("L"))
        assert pixels.std() > 20


def test_every_chart_renders_in_headless_chromium(full_report: Path, tmp_path: Path) -> None:
    rendered = _render(full_report, tmp_path)
    assert rendered.title.startswith("Linkage report")
    assert rendered.headings == [
        "Threshold evidence",
        "Overlap between agencies",
        "Activity over time",
        "Linkage quality",
    ]
    _check_charts(rendered, full_report, ALL_CHARTS, 2500)


def test_every_chart_of_the_probabilistic_report_renders_in_headless_chromium(
    full_probabilistic_report: Path, tmp_path: Path
) -> None:
    rendered = _render(full_probabilistic_report, tmp_path)
    assert rendered.title.startswith("Linkage report")
    assert rendered.headings == [
        "Threshold evidence",
        "The fitted model",
        "Blocking",
        "Overlap between agencies",
        "Activity over time",
        "Linkage quality",
    ]
    _check_charts(rendered, full_probabilistic_report, ALL_CHARTS | MODEL_CHARTS, 5000)
