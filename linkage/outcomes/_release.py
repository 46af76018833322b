"""From exact counts to a release: differential privacy with OpenDP, then small cells
suppressed with complementary suppression. Pure (no I/O): the noise comes from OpenDP's
own sampler; nothing here reads or writes a file or the store.

**Noise.** A release spends ``epsilon``. It is split evenly over its *histograms* (one
query by one breakdown: ``treatment_intake_30.with_event`` by quarter is one), so each
gets ``epsilon / histograms``. Adding or removing one person changes one cell of a
histogram by at most the query's sensitivity (1 for counts of people, ``cap`` for capped
event counts), so each histogram's L1 sensitivity is that. Each histogram is released
through OpenDP's Laplace measurement on integers (the discrete Laplace), at the scale
``sensitivity / epsilon_histogram``; OpenDP's privacy map confirms each spends no more
than its share, and the shares add up to ``epsilon`` (sequential composition). The
interval next to each figure is OpenDP's accuracy of that scale at the spec's confidence:
the true count lies in ``value ± half_width`` with that probability (the noise only; it
says nothing about sampling or linkage error).

**Suppression.** A cell is withheld when its count (the exact one by default, the noisy
one with ``suppress_on = "noisy"``) is 1 to ``min_cell - 1``; a share's count is withheld
too when its denominator is, or when the people *without* the event number 1 to
``min_cell - 1``. Then complementary suppression: in each breakdown of a query whose
total is shown, a lone withheld category is joined by the next smallest one (or, when
none is left, the total is withheld), until no released total minus released categories
gives away a withheld cell. Rules are applied to every query at once, repeated until
nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from linkage.errors import InvalidInputError
from linkage.outcomes._compute import ALL, OutcomeCounts, Query, spec_queries
from linkage.outcomes._spec import OutcomeSpec, SuppressOn

__all__ = [
    "NOISE_MECHANISM",
    "Figure",
    "NoisePlan",
    "Release",
    "add_noise",
    "plan_noise",
    "relative_errors",
    "release_counts",
    "suppress",
]

NOISE_MECHANISM: Final = "OpenDP 0.16 make_laplace on integers (discrete Laplace)"
_SMALL: Final = "small"
_COMPLEMENT: Final = "complementary"
_DEPENDENT: Final = "dependent"

Cell = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class Figure:
    """One released cell: its value (None when withheld), the noise scale and the
    interval's half width (both 0 without noise), and why it was withheld."""

    query: str
    dimension: str
    category: str
    value: int | None
    scale: float
    half_width: int
    withheld: str = ""

    @property
    def low(self) -> int | None:
        return None if self.value is None else max(0, self.value - self.half_width)

    @property
    def high(self) -> int | None:
        return None if self.value is None else self.value + self.half_width


@dataclass(frozen=True, slots=True)
class Release:
    """Every figure of a run, with what decides how to read them."""

    epsilon: float
    epsilon_per_histogram: float
    confidence: float
    min_cell: int
    suppress_on: SuppressOn
    noisy: bool
    figures: tuple[Figure, ...]
    categories: dict[str, tuple[str, ...]]
    denominators: dict[str, str]

    def figure(self, query: str, dimension: str = ALL, category: str = ALL) -> Figure:
        for figure in self.figures:
            if (figure.query, figure.dimension, figure.category) == (query, dimension, category):
                return figure
        raise KeyError((query, dimension, category))

    @property
    def withheld(self) -> int:
        return sum(1 for f in self.figures if f.value is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "epsilon_per_histogram": self.epsilon_per_histogram,
            "confidence": self.confidence,
            "min_cell": self.min_cell,
            "suppress_on": self.suppress_on.value,
            "noisy": self.noisy,
            "mechanism": NOISE_MECHANISM if self.noisy else "none (exact)",
            "categories": {k: list(v) for k, v in self.categories.items()},
            "denominators": dict(self.denominators),
            "figures": [
                [f.query, f.dimension, f.category, f.value, f.scale, f.half_width, f.withheld]
                for f in self.figures
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Release:
        try:
            return cls(
                epsilon=float(data["epsilon"]),
                epsilon_per_histogram=float(data["epsilon_per_histogram"]),
                confidence=float(data["confidence"]),
                min_cell=int(data["min_cell"]),
                suppress_on=SuppressOn(data["suppress_on"]),
                noisy=bool(data["noisy"]),
                categories={k: tuple(v) for k, v in data["categories"].items()},
                denominators=dict(data["denominators"]),
                figures=tuple(
                    Figure(q, d, c, None if v is None else int(v), float(s), int(h), str(w))
                    for q, d, c, v, s, h, w in data["figures"]
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"a stored release is not readable ({exc})") from None


# -- noise ----------------------------------------------------------------------------


def _opendp() -> Any:
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def _half_width(dp: Any, scale: float, confidence: float) -> int:
    accuracy = float(dp.discrete_laplacian_scale_to_accuracy(scale, 1.0 - confidence))
    # P[|noise| >= accuracy] = alpha: the integer noise is below it, so at most ceil - 1
    return max(0, math.ceil(accuracy) - 1)


def add_noise(
    counts: OutcomeCounts, epsilon: float, confidence: float
) -> tuple[dict[Cell, int], dict[Cell, tuple[float, int]], float]:
    """Noisy counts of every cell, each cell's (scale, half width) and the epsilon each
    histogram spent; ``epsilon`` is spent in all (OpenDP's privacy maps checked)."""
    dp = _opendp()
    histograms = [(q, d) for q in counts.queries for d in q.dimensions]
    share = epsilon / len(histograms)
    noisy: dict[Cell, int] = {}
    accuracy: dict[Cell, tuple[float, int]] = {}
    domain = dp.vector_domain(dp.atom_domain(T=int))
    metric = dp.l1_distance(T=int)
    for query, dim in histograms:
        scale = query.sensitivity / share
        measurement = dp.m.make_laplace(domain, metric, scale=scale)
        while measurement.map(query.sensitivity) > share:  # float rounding: never overspend
            scale *= 1.0 + 1e-9
            measurement = dp.m.make_laplace(domain, metric, scale=scale)
        exact = [int(v) for v in counts.values[query.id][dim]]
        released = measurement(exact)
        width = _half_width(dp, scale, confidence)
        for category, value in zip(counts.categories[dim], released, strict=True):
            noisy[(query.id, dim, category)] = int(value)
            accuracy[(query.id, dim, category)] = (scale, width)
    return noisy, accuracy, share


@dataclass(frozen=True, slots=True)
class NoisePlan:
    """What a spec's release will add to one query's counts, known before any data is read:
    its breakdowns, sensitivity, noise scale and interval half width."""

    query: str
    dimensions: tuple[str, ...]
    sensitivity: int
    scale: float
    half_width: int


def plan_noise(spec: OutcomeSpec) -> tuple[float, list[NoisePlan]]:
    """The epsilon each histogram will get and every query's noise, from the spec alone
    (the same split and scales as :func:`add_noise`)."""
    dp = _opendp()
    queries, _ = spec_queries(spec)
    histograms = sum(len(q.dimensions) for q in queries)
    share = spec.release.epsilon / histograms
    plans = []
    for query in queries:
        scale = query.sensitivity / share
        plans.append(
            NoisePlan(
                query.id,
                query.dimensions,
                query.sensitivity,
                scale,
                _half_width(dp, scale, spec.release.confidence),
            )
        )
    return share, plans


# -- suppression --------------------------------------------------------------------------


def _dependents(counts: OutcomeCounts) -> list[tuple[str, str, bool]]:
    """(statistic query, its denominator query, whether its complement matters)."""
    out = []
    for measure_id, denominator in counts.denominators.items():
        for query in counts.queries:
            if query.id.startswith(f"{measure_id}."):
                complement = not query.id.split(".", 1)[1].startswith("events_")
                out.append((query.id, denominator, complement))
    return out


def suppress(counts: OutcomeCounts, basis: dict[Cell, int], min_cell: int) -> dict[Cell, str]:
    """The withheld cells and why, read from ``basis`` (the exact or the noisy counts)."""

    def small(value: int) -> bool:
        return 0 < value < min_cell

    withheld: dict[Cell, str] = {c: _SMALL for c, v in basis.items() if small(v)}
    queries: dict[str, Query] = {q.id: q for q in counts.queries}
    dependents = _dependents(counts)
    changed = True
    while changed:
        changed = False
        for stat, denominator, complement in dependents:
            for dim in queries[stat].dimensions:
                for category in counts.categories[dim]:
                    cell = (stat, dim, category)
                    if cell in withheld:
                        continue
                    den = (denominator, dim, category)
                    if den in withheld or (complement and small(basis[den] - basis[cell])):
                        withheld[cell] = _DEPENDENT
                        changed = True
        for query in counts.queries:
            total = (query.id, ALL, ALL)
            if total in withheld:
                continue
            for dim in query.dimensions:
                if dim == ALL:
                    continue
                cells = [(query.id, dim, c) for c in counts.categories[dim]]
                hidden = [c for c in cells if c in withheld]
                if len(hidden) != 1:
                    continue
                shown = [c for c in cells if c not in withheld]
                if shown:
                    # the smallest shown category with people in it first, zeros last
                    pick = min(shown, key=lambda c: (basis[c] <= 0, basis[c]))
                    withheld[pick] = _COMPLEMENT
                else:
                    withheld[total] = _COMPLEMENT
                changed = True
                break
    return withheld


def release_counts(spec: OutcomeSpec, counts: OutcomeCounts, *, noisy: bool = True) -> Release:
    """The release of ``counts`` under the spec's release settings. ``noisy=False`` gives
    the exact counts with the same suppression (for tests and measurements; never stored
    or written by the command)."""
    settings = spec.release
    exact: dict[Cell, int] = {
        (q.id, d, c): int(v)
        for q in counts.queries
        for d in q.dimensions
        for c, v in zip(counts.categories[d], counts.values[q.id][d], strict=True)
    }
    if noisy:
        values, accuracy, share = add_noise(counts, settings.epsilon, settings.confidence)
    else:
        values, accuracy, share = exact, {c: (0.0, 0) for c in exact}, 0.0
    basis = exact if settings.suppress_on is SuppressOn.TRUE else values
    withheld = suppress(counts, basis, settings.min_cell)
    figures = tuple(
        Figure(
            *cell,
            value=None if cell in withheld else max(0, values[cell]),
            scale=accuracy[cell][0],
            half_width=accuracy[cell][1],
            withheld=withheld.get(cell, ""),
        )
        for cell in exact
    )
    return Release(
        epsilon=settings.epsilon if noisy else 0.0,
        epsilon_per_histogram=share,
        confidence=settings.confidence,
        min_cell=settings.min_cell,
        suppress_on=settings.suppress_on,
        noisy=noisy,
        figures=figures,
        categories=dict(counts.categories),
        denominators=dict(counts.denominators),
    )


def relative_errors(release: Release, counts: OutcomeCounts) -> Iterable[float]:
    """|released - exact| / exact for every released figure whose exact count is positive."""
    for figure in release.figures:
        if figure.value is None:
            continue
        exact = counts.value(figure.query, figure.dimension, figure.category)
        if exact > 0:
            yield abs(figure.value - exact) / exact
