"""The model is fitted on the candidate pairs of the strict rules, whatever rules link
(``fitting_blocking``): loose rules' pairs of different people who share correlated fields
inflate the fitted prior."""

from __future__ import annotations

from typing import Any

import pytest

import linkage.service._probabilistic as probabilistic_module
from linkage.errors import InvalidInputError
from linkage.match import pack_clk_bytes
from linkage.probabilistic import BlockingRules, applicable_rules, default_blocking
from linkage.service._probabilistic import fit_linker, fitting_blocking
from tests.service.prob_factory import LAYOUT, SEGMENTED_BITS, segmented_records, with_probabilistic

pytestmark = pytest.mark.unit

STRICT = applicable_rules(default_blocking(True, scale="xlarge").rules, LAYOUT)


@pytest.mark.parametrize("preset", ["auto", "large", "medium", "small"])
def test_every_preset_fits_on_the_strict_rules_and_links_with_its_own(
    preset: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = with_probabilistic(blocking_preset=preset, min_fit_records=200).probabilistic
    assert settings is not None
    packed = pack_clk_bytes([r.clk for r in segmented_records(300, 3)], SEGMENTED_BITS)
    fitted_on: list[BlockingRules] = []
    fit_model = probabilistic_module.fit_model

    def spy(layout: Any, comparisons: Any, blocking: BlockingRules, *args: Any, **kw: Any) -> Any:
        fitted_on.append(blocking)
        return fit_model(layout, comparisons, blocking, *args, **kw)

    monkeypatch.setattr(probabilistic_module, "fit_model", spy)
    result = fit_linker(settings, packed, 0.5, auto_threshold=True)
    assert fitted_on == [STRICT]
    links_with = result.linker.blocking
    if preset == "auto":
        assert result.plan is not None
        assert links_with == result.plan.rules
    else:
        assert links_with == settings.blocking()
    assert links_with != STRICT, "the linking rules are the preset's, not the strict ones"
    assert result.linker.model.report is not None
    assert result.linker.model.report.candidate_pairs > 0


def test_the_strict_rules_are_the_xlarge_set_the_layout_has() -> None:
    settings = with_probabilistic()
    assert settings.probabilistic is not None
    linking = settings.probabilistic.blocking()
    assert fitting_blocking(settings.probabilistic, linking) == STRICT


def test_when_the_strict_rules_find_no_pair_the_fit_takes_the_linking_rules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first fit on records without duplicates may find no strict candidate pair: the
    model is fitted on the linking rules' pairs instead of failing (a failed fit would be
    tried again after every batch)."""
    settings = with_probabilistic(blocking_preset="large", min_fit_records=200).probabilistic
    assert settings is not None
    packed = pack_clk_bytes([r.clk for r in segmented_records(300, 3)], SEGMENTED_BITS)
    fitted_on: list[BlockingRules] = []
    fit_model = probabilistic_module.fit_model

    def no_strict_pairs(
        layout: Any, comparisons: Any, blocking: BlockingRules, *args: Any, **kw: Any
    ) -> Any:
        fitted_on.append(blocking)
        if blocking == STRICT:
            raise InvalidInputError("fitting needs at least one candidate pair")
        return fit_model(layout, comparisons, blocking, *args, **kw)

    monkeypatch.setattr(probabilistic_module, "fit_model", no_strict_pairs)
    result = fit_linker(settings, packed, 0.5, auto_threshold=True)
    assert fitted_on == [STRICT, settings.blocking()]
    assert result.linker.model.report is not None
