"""The outcome spec: the packaged standard set loads, and every problem of a bad spec is
named by its path (never with its value)."""

from __future__ import annotations

import pytest

from linkage.errors import InvalidInputError
from linkage.outcomes import (
    Breakdown,
    MeasureKind,
    load_spec,
    load_standard_spec,
    spec_digest,
)

pytestmark = pytest.mark.unit

GOOD = """
title = "Pilot"
breakdowns = ["quarter"]
[cohort]
events = ["coresponder_contact"]
from = 2025-01-01
to = 2025-06-30
follow_up_until = 2025-12-31
[[measures]]
id = "intake_30"
title = "Intake in 30 days"
kind = "share"
events = ["treatment_intake"]
window = [0, 30]
"""


def _problems(text: str) -> dict[str, str]:
    with pytest.raises(InvalidInputError) as caught:
        load_spec(text)
    return {p.location: p.reason for p in caught.value.problems}


def test_the_standard_set_loads_with_the_measures_the_docs_name() -> None:
    spec = load_standard_spec()
    assert [m.id for m in spec.measures] == [
        "treatment_intake_30",
        "treatment_intake_90",
        "repeat_crisis_90",
        "er_psych_90",
        "er_psych_180",
        "jail_booking_90",
        "jail_booking_180",
    ]
    assert spec.measure("treatment_intake_30").breakdowns == (
        Breakdown.QUARTER,
        Breakdown.AGENCY,
        Breakdown.DISPOSITION,
    )
    assert spec.measure("er_psych_90").kind is MeasureKind.BEFORE_AFTER
    assert spec.measure("er_psych_90").breakdowns == ()
    assert spec.measure("treatment_intake_90").breakdowns == (Breakdown.QUARTER,)
    assert spec.funnel == ("treatment_intake_30", "treatment_intake_90")
    assert spec.release.epsilon == 1.0
    assert spec.release.min_cell == 11


def test_a_good_spec_parses_and_its_digest_follows_what_decides_the_figures() -> None:
    spec = load_spec(GOOD)
    assert spec.measures[0].window == (0, 30)
    assert spec_digest(spec) == spec_digest(load_spec(GOOD))
    assert spec_digest(spec) != spec_digest(load_spec(GOOD.replace("[0, 30]", "[0, 31]")))


def test_shape_problems_are_named_by_path() -> None:
    problems = _problems(GOOD.replace('kind = "share"', 'kind = "shares"\ncolour = 1'))
    assert problems["measures[0].kind"].startswith("must be share or before_after")
    assert "unknown key" in problems["measures[0].colour"]
    problems = _problems(GOOD.replace('["treatment_intake"]', '["treatment_intake", "visit"]'))
    assert "measures[0].events" in problems
    problems = _problems(GOOD.replace("from = 2025-01-01", 'from = "2025-01-01"'))
    assert "cohort.from" in problems


def test_value_problems_are_named_by_path_all_at_once() -> None:
    text = GOOD.replace("to = 2025-06-30", "to = 2024-06-30").replace("[0, 30]", "[40, 30]")
    text += """
[[measures]]
id = "intake_30"
title = "Again"
kind = "before_after"
events = ["jail_booking"]
[[measures]]
id = "Bad-ID"
title = "Repeat"
kind = "share"
events = ["coresponder_contact"]
window = [0, 90]
[release]
epsilon = 0.0
min_cell = 0
[report]
funnel = ["nothing"]
"""
    problems = _problems(text)
    assert problems["cohort.to"] == "must not be before cohort.from"
    assert problems["measures[0].window"].startswith("must be [from, to]")
    assert problems["measures[1].days"] == "is required for a before_after measure"
    assert "measures[2].id" in problems
    assert problems["release.epsilon"] == "must be > 0 and <= 10"
    assert problems["release.min_cell"] == "must be between 1 and 1000"
    problems = _problems(GOOD.replace('id = "intake_30"', 'id = "cohort"'))
    assert problems["measures[0].id"] == "is reserved (cohort, eligible_*)"


def test_rules_across_measures() -> None:
    text = (
        GOOD
        + """
[[measures]]
id = "intake_30"
title = "Again"
kind = "share"
events = ["treatment_intake"]
window = [0, 90]
[[measures]]
id = "repeat"
title = "Repeat"
kind = "share"
events = ["coresponder_contact"]
window = [0, 90]
[report]
funnel = ["repeat", "nothing"]
"""
    )
    problems = _problems(text)
    assert problems["measures[1].id"] == "is used by an earlier measure"
    assert problems["measures[2].window"].startswith("must start at day 1 or later")
    assert problems["report.funnel[1]"] == "must name a share measure"
    assert "report.funnel[0]" not in problems


def test_not_toml_is_one_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        load_spec("title = ", "spec.toml")
