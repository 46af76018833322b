"""The report rendered in headless Chromium (Debian's chromium, driven by Playwright):
every chart is present, loaded and not blank, the page asks for nothing over the
network, and a full-page screenshot shows it.

Without Chromium or Playwright the test is skipped, unless LINKAGE_REQUIRE_CHROMIUM=1
(CI sets it) makes that a failure."""

from __future__ import annotations

import os
import shutil
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
from tests.report.conftest import MatcherDir

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
    config = load_server_config(matcher_dir.config, {})
    store = open_store(config.store)
    try:
        data = collect_report_data(
            store,
            config.linkage,
            ReportOptions(chosen_threshold=0.78),
            truth=read_truth_csv(matcher_dir.truth),
        )
    finally:
        store.close()
    return write_report(data, tmp_path / "report").html


def test_every_chart_renders_in_headless_chromium(full_report: Path, tmp_path: Path) -> None:
    sync_playwright = _playwright()
    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, throwaway profile (--user-data-dir).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(full_report.as_uri(), wait_until="load")
            charts = page.evaluate(_INSPECT)
            title = page.title()
            headings = page.locator("h2").all_inner_texts()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()

    assert title.startswith("Linkage report")
    assert headings == [
        "Threshold evidence",
        "Overlap between agencies",
        "Activity over time",
        "Linkage quality",
    ]
    assert {c["name"] for c in charts} == ALL_CHARTS
    assert len(charts) == len(ALL_CHARTS)
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
    assert requests[0] == full_report.as_uri()
    assert all(url.startswith("data:") for url in requests[1:]), requests
    assert errors == []
    with Image.open(tmp_path / "report.png") as shot:
        assert shot.width == 1280
        assert shot.height > 2500
        pixels = np.asarray(shot.convert("L"))
        assert pixels.std() > 20
