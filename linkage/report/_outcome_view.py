"""The outcome release as the report shows it: per measure, the released counts and the
shares derived from them, each with its interval (post-processing of released figures
only: nothing here reads an exact count).

A share's interval combines its two counts' intervals conservatively: from the lowest
numerator over the highest denominator to the highest numerator over the lowest one
(clipped to 0..1), so it holds whenever both counts' intervals do."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from linkage.outcomes import ALL, Figure, Release

__all__ = ["Cell", "Share", "cells", "share"]


@dataclass(frozen=True, slots=True)
class Share:
    """A released share (None when either count is withheld) and its interval."""

    value: float | None
    low: float | None
    high: float | None


def share(numerator: Figure, denominator: Figure) -> Share:
    num, den = numerator.value, denominator.value
    if num is None or den is None or den <= 0:
        return Share(None, None, None)
    num_low, num_high = numerator.low, numerator.high
    den_low, den_high = denominator.low, denominator.high
    if num_low is None or num_high is None or den_low is None or den_high is None:
        return Share(None, None, None)
    value = min(1.0, num / den)
    low = min(1.0, num_low / den_high) if den_high > 0 else 0.0
    high = 1.0 if den_low <= 0 else min(1.0, num_high / den_low)
    return Share(value, low, high)


@dataclass(frozen=True, slots=True)
class Cell:
    """One row of the grant form: a measure's statistic in one category."""

    measure: str
    title: str
    statistic: str
    dimension: str
    category: str
    figure: Figure | None
    share: Share | None = None


def cells(release: Release, spec: dict[str, object]) -> Iterator[Cell]:
    """Every released figure by measure (the cohort first), with the shares."""
    measures = spec["measures"]
    assert isinstance(measures, list)
    for figure in release.figures:
        if figure.query == "cohort.people":
            yield Cell(
                "cohort",
                "People in the cohort",
                "people",
                figure.dimension,
                figure.category,
                figure,
            )
    for measure in measures:
        measure_id = str(measure["id"])
        title = str(measure["title"])
        denominator = release.denominators[measure_id]
        dims = [ALL, *measure["breakdowns"]]
        for dim in dims:
            for category in release.categories[dim]:
                den = release.figure(denominator, dim, category)
                yield Cell(measure_id, title, "people", dim, category, den)
                for figure in release.figures:
                    if (
                        figure.query.startswith(f"{measure_id}.")
                        and figure.dimension == dim
                        and figure.category == category
                    ):
                        statistic = figure.query.split(".", 1)[1]
                        yield Cell(measure_id, title, statistic, dim, category, figure)
                        if not statistic.startswith("events_"):
                            rate = share(figure, den)
                            yield Cell(
                                measure_id, title, f"share_{statistic}", dim, category, None, rate
                            )
