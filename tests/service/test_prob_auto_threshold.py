"""``threshold = "auto"``: server.toml parses it (linkage/server/_config.py) and the
service's linkage threshold follows the suggestion of the model in force, kept within
AUTO_THRESHOLD_BOUNDS, after every refit (linkage/service/_probabilistic.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from linkage.errors import ConfigError
from linkage.probabilistic import Comparison, FellegiSunterModel, FitReport
from linkage.server import load_server_config
from linkage.server._config import AUTO_THRESHOLD_START
from linkage.service import LinkageService, prior_model
from linkage.service._probabilistic import AUTO_THRESHOLD_BOUNDS, effective_threshold
from tests.service.factory import OPERATOR
from tests.service.prob_factory import LAYOUT, SEGMENTED, SEGMENTED_BITS, with_probabilistic
from tests.service.prob_queries import encoded_rows, open_service, upload_by_agency

pytestmark = pytest.mark.unit

LOW, HIGH = AUTO_THRESHOLD_BOUNDS


def _toml(threshold: str, *, probabilistic: bool = True) -> str:
    text = f"""
[server]
listen = "127.0.0.1:0"

[store]
engine = "sqlite"
path = "index.db"

[linkage]
threshold = {threshold}
clk_bits = {SEGMENTED_BITS if probabilistic else 1024}
key_epoch = 1
schema_fingerprint = "{SEGMENTED.fingerprint if probabilistic else "ab" * 16}"
"""
    if probabilistic:
        text += '\n[linkage.probabilistic]\nschema = "default-segmented"\n'
    return text


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "server.toml"
    path.write_text(text, encoding="utf-8")
    return load_server_config(path, {})


# -- server.toml ---------------------------------------------------------------------------------


def test_threshold_auto_parses_and_starts_at_the_documented_probability(tmp_path: Path) -> None:
    config = _load(tmp_path, _toml('"auto"'))
    linkage = config.linkage  # type: ignore[attr-defined]
    assert linkage.auto_threshold is True
    assert linkage.threshold == AUTO_THRESHOLD_START == 0.5
    assert linkage.probabilistic is not None
    assert json.loads(linkage.linkage_model_json(None))["auto_threshold"] is True


def test_a_numeric_threshold_is_not_auto(tmp_path: Path) -> None:
    linkage = _load(tmp_path, _toml("0.65")).linkage  # type: ignore[attr-defined]
    assert linkage.auto_threshold is False
    assert linkage.threshold == 0.65


@pytest.mark.parametrize("value", ['"high"', '"AUTO"', '"0.5"', '""'])
def test_a_threshold_string_other_than_auto_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, _toml(value))
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        ("linkage.threshold", 'must be a number or "auto"')
    ]


def test_threshold_auto_needs_probabilistic_linkage(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, _toml('"auto"', probabilistic=False))
    assert [p.location for p in caught.value.problems] == ["linkage.threshold"]
    assert "linkage.probabilistic" in caught.value.problems[0].reason


# -- the threshold in force ------------------------------------------------------------------------


def _suggesting(suggested: float | None, *, report: bool = True) -> FellegiSunterModel:
    model = FellegiSunterModel((Comparison("x", (1.0,)),), ((0.9, 0.1),), ((0.1, 0.9),), 0.01)
    if not report:
        return model
    return dataclasses.replace(
        model,
        report=FitReport(
            candidate_pairs=10,
            random_pairs=10,
            total_pairs=100,
            iterations=1,
            converged=True,
            candidate_match_rate=0.5,
            suggested_threshold=suggested,
        ),
    )


@pytest.mark.parametrize(
    ("suggested", "expected"),
    [(0.05, LOW), (0.29, LOW), (0.3, 0.3), (0.47, 0.47), (0.8, 0.8), (0.81, HIGH), (0.99, HIGH)],
)
def test_auto_takes_the_suggestion_within_the_bounds(suggested: float, expected: float) -> None:
    assert AUTO_THRESHOLD_BOUNDS == (0.3, 0.8)
    assert effective_threshold(_suggesting(suggested), 0.5, True) == expected
    # a fixed threshold ignores the model
    assert effective_threshold(_suggesting(suggested), 0.65, False) == 0.65


def test_auto_keeps_the_configured_threshold_until_a_fit_suggests_one() -> None:
    assert effective_threshold(_suggesting(None), 0.5, True) == 0.5
    assert effective_threshold(_suggesting(None, report=False), 0.55, True) == 0.55


# -- in the service ----------------------------------------------------------------------------


def _clamped(service: LinkageService) -> float:
    linker = service.linker
    assert linker is not None
    report = linker.model.report
    suggested = None if report is None else report.suggested_threshold
    if suggested is None:
        return service.settings.threshold
    return min(max(suggested, LOW), HIGH)


def test_the_threshold_follows_the_model_after_a_refit(tmp_path: Path) -> None:
    settings = dataclasses.replace(with_probabilistic(auto_refit=False), auto_threshold=True)
    service, store = open_service(tmp_path / "auto.db", settings, [])
    records = list(encoded_rows(150, 5))
    for agency_id in sorted({r.row.agency_id for r in records}):
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    assert service.linker is not None
    # before the matcher's own fit: the configured threshold (the shipped prior's own
    # suggestion is about the data it was fitted on, not this matcher's)
    prior = prior_model(True, LAYOUT)
    assert service.linker.model == prior
    assert service.linker.threshold == settings.threshold
    upload_by_agency(service, records, "all")
    run = service.rebuild(OPERATOR, "refit")
    linker = service.linker
    assert linker is not None
    assert linker.model != prior
    assert linker.model.report is not None
    suggested = linker.model.report.suggested_threshold
    assert suggested is not None
    assert linker.threshold == min(max(suggested, LOW), HIGH)
    assert LOW <= linker.threshold <= HIGH
    # the run records the model, so another matcher on the store takes the same threshold
    recorded = json.loads(run.model)["probabilistic"]["model"]["fit"]["suggestedThreshold"]
    assert recorded == suggested
    other = LinkageService(store, settings, service.limits)
    assert other.linker is not None
    assert other.linker.threshold == linker.threshold
    # the same refit with a fixed threshold keeps it
    fixed = LinkageService(
        store, dataclasses.replace(settings, auto_threshold=False), service.limits
    )
    assert fixed.linker is not None
    assert fixed.linker.model == linker.model
    assert fixed.linker.threshold == settings.threshold
    store.close()


def test_an_automatic_refit_moves_the_threshold_with_the_model(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        with_probabilistic(min_fit_records=120, refit_growth=100), auto_threshold=True
    )
    service, store = open_service(tmp_path / "grow.db", settings, [])
    records = list(encoded_rows(150, 5))
    agencies = sorted({r.row.agency_id for r in records})
    for agency_id in agencies:
        service.create_agency(OPERATOR, agency_id, agency_id, b"")
    upload_by_agency(service, records, "all")
    runs = store.list_linkage_runs(10)
    assert [run.reason.startswith("automatic refit") for run in runs] == [True]
    linker = service.linker
    assert linker is not None
    assert linker.model != prior_model(True, LAYOUT)
    assert linker.model.report is not None
    suggested = linker.model.report.suggested_threshold
    assert suggested is not None
    assert linker.threshold == min(max(suggested, LOW), HIGH)
    store.close()
