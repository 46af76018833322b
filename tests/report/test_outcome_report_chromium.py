"""The outcome report rendered in headless Chromium (Debian's chromium, driven by
Playwright) like the operator report: the funnel, before/after and trend charts are
present, loaded and not blank, every measure has its table, the rule in force is shown,
and the page asks for nothing over the network.

Without Chromium or Playwright the test is skipped, unless LINKAGE_REQUIRE_CHROMIUM=1
(CI sets it) makes that a failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.cli_helpers import run_cli
from tests.report.outcome_scenario import make_outcome_dir
from tests.report.test_report_chromium import _check_charts, _render

pytestmark = pytest.mark.integration


def test_the_outcome_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    d = make_outcome_dir(tmp_path / "matcher", people=3000)
    out = tmp_path / "out"
    result = run_cli("outcomes", "run", "--config", d.config, "--spec", d.spec, "--out", out)
    assert result.exit_code == 0, result.output
    html = out / "outcomes.html"
    rendered = _render(html, tmp_path)
    assert rendered.title.startswith("Programme outcomes · metro-coresponder")
    assert rendered.headings[:4] == [
        "How to read these figures",
        "From contact to treatment",
        "Before and after the contact",
        "Quarterly trends",
    ]
    assert "Treatment intake within 30 days of the contact" in rendered.headings
    assert "Jail bookings, 180 days before vs after" in rendered.headings
    _check_charts(rendered, html, {"funnel", "before-after", "trends"}, 2000)
    text = html.read_text()
    assert "consent names the purpose" in text
    assert "OpenDP" in text
