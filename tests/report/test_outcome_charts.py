"""The outcome report's charts draw whatever the noise gives: tiny cohorts whose noisy
counts are 0, withheld or far below their intervals, and large ones (matplotlib's
warnings are errors here, as everywhere in the tests)."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from PIL import Image

from linkage.events import Disposition, EventCode
from linkage.outcomes import EventTable, compute_counts, load_standard_spec, release_counts
from linkage.report._outcome_report import before_after_chart, funnel_chart, trend_chart

pytestmark = pytest.mark.unit

SPEC = load_standard_spec()


def _counts(people: int):  # type: ignore[no-untyped-def]
    rows = []
    for i in range(people):
        day = date(2025, 1, 1) + timedelta(days=(i * 37) % 365)
        rows.append((i, "police", EventCode.CORESPONDER_CONTACT, day, Disposition.REFERRED))
        if i % 3 == 0:
            rows.append((i, "mhc", EventCode.TREATMENT_INTAKE, day + timedelta(days=4), None))
        if i % 2 == 0:
            rows.append((i, "er", EventCode.ER_VISIT_PSYCH, day - timedelta(days=20), None))
    return compute_counts(SPEC, EventTable.from_events(rows, ["police", "mhc", "er"]))


@pytest.mark.parametrize("people", [0, 3, 16, 400])
def test_every_chart_draws_for_any_noisy_release(people: int) -> None:
    counts = _counts(people)
    document = {"spec": SPEC.canonical()}
    for _ in range(10):
        release = release_counts(SPEC, counts, noisy=True)
        for chart in (funnel_chart, before_after_chart, trend_chart):
            png = chart(release, document)
            with Image.open(io.BytesIO(png)) as image:
                assert image.width > 600
                assert image.height > 200
