"""``linkage-admin outcomes``: run writes the page, the grant form's CSV and the release;
the same query again returns the stored release; the ledger lists the releases; bad
inputs are one clear error each."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from linkage.outcomes import load_standard_spec
from tests.report.cli_helpers import run_cli
from tests.report.outcome_scenario import make_outcome_dir

pytestmark = pytest.mark.integration


def test_run_writes_the_report_and_reuses_the_stored_release(tmp_path: Path) -> None:
    d = make_outcome_dir(tmp_path / "matcher")
    out = tmp_path / "out"
    result = run_cli("outcomes", "run", "--config", d.config, "--spec", d.spec, "--out", out)
    assert result.exit_code == 0, result.output
    assert "a new release" in result.output
    assert "rule: events count only where the record's consent names" in result.output
    assert "spent 1 of 3" in result.output
    html = (out / "outcomes.html").read_text()
    assert "Whose events count" in html
    # 28 histograms at epsilon 1: people counts at scale 28, events (cap 3) at 84
    assert "people (noise scale 28)" in html
    assert "events after (noise scale 84)" in html
    assert "http://" not in html
    assert "https://" not in html
    rows = list(csv.DictReader(io.StringIO((out / "outcomes.csv").read_text())))
    spec = load_standard_spec()
    assert {r["measure"] for r in rows} == {"cohort", *(m.id for m in spec.measures)}
    total = next(r for r in rows if r["measure"] == "cohort" and r["breakdown"] == "all")
    # 5 half widths: off by more with probability below 1e-6
    assert abs(int(total["value"]) - 1500) <= 5 * (int(total["ci_high"]) - int(total["value"]))
    assert float(total["noise_scale"]) > 0
    withheld = [r for r in rows if r["withheld"]]
    assert all(r["value"] == "" for r in withheld)
    release = json.loads((out / "release.json").read_text())
    assert release["programme"] == "metro-coresponder"
    assert release["release"]["noisy"] is True
    again = run_cli("outcomes", "run", "--config", d.config, "--spec", d.spec, "--out", out)
    assert again.exit_code == 0, again.output
    assert "the stored release (nothing spent)" in again.output
    assert json.loads((out / "release.json").read_text()) == release
    ledger = run_cli("outcomes", "ledger", "--config", d.config)
    assert "spent 1 of 3 (left 2)" in ledger.output
    codes = []
    for _ in range(3):  # spends 2 and 3 of 3, then is refused
        fresh = run_cli(
            "outcomes", "run", "--config", d.config, "--spec", d.spec, "--out", out, "--fresh"
        )
        codes.append(fresh.exit_code)
    assert codes == [0, 0, 2]
    assert "past the budget 3" in fresh.output
    lines = run_cli("outcomes", "ledger", "--config", d.config, "--json").output.splitlines()
    assert [json.loads(line)["epsilon"] for line in lines] == [1.0, 1.0, 1.0]


def test_bad_inputs_are_one_clear_error(tmp_path: Path) -> None:
    d = make_outcome_dir(tmp_path / "matcher", people=20)
    bad = tmp_path / "bad.toml"
    bad.write_text(d.spec.read_text().replace("window = [0, 30]", "window = [30, 0]"))
    result = run_cli("outcomes", "run", "--config", d.config, "--spec", bad, "--out", tmp_path)
    assert result.exit_code == 2
    assert "measures[0].window: must be [from, to]" in result.output
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'title = "Caf\xe9"\n')
    result = run_cli("outcomes", "run", "--config", d.config, "--spec", latin, "--out", tmp_path)
    assert result.exit_code == 2
    assert "is not UTF-8 text" in result.output
    result = run_cli(
        "outcomes", "ledger", "--config", d.config, "--programme", tmp_path / "missing.toml"
    )
    assert result.exit_code == 2
    assert "cannot read the programme file" in result.output
    (d.root / "programme.toml").write_text('[programme]\nid = "x"\nbudget = 1\n')
    result = run_cli("outcomes", "run", "--config", d.config, "--spec", d.spec, "--out", tmp_path)
    assert result.exit_code == 2
    assert "programme.budget: unknown key" in result.output
    assert "programme.budget_epsilon: is required" in result.output


def test_standard_spec_prints_the_packaged_set() -> None:
    result = run_cli("outcomes", "standard-spec")
    assert result.exit_code == 0
    assert 'id = "treatment_intake_30"' in result.output


def test_plan_shows_the_noise_before_any_data_is_read() -> None:
    spec = (
        Path(__file__).resolve().parents[2] / "linkage" / "outcomes" / "standard-coresponder.toml"
    )
    result = run_cli("outcomes", "plan", "--spec", spec)
    assert result.exit_code == 0, result.output
    # every measure of the standard set counts the whole cohort: no denominators of their own
    assert "epsilon 1 over 28 histograms" in result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "eligible_0_30.people" not in lines
    assert "scale     28.0  ± 84" in lines["treatment_intake_30.with_event"]
    assert "sensitivity   3  scale     84.0" in lines["er_psych_90.events_before"]
