"""The outcome report: ``outcomes.html`` (the operator report's look: the same stylesheet,
macros and chart style; charts as PNG data URIs, no scripts, no external requests),
``outcomes.csv`` for the grant form and ``release.json`` (the release as the ledger keeps
it). Released figures only: noisy counts, their noise scale and interval, and shares
derived from them; a withheld cell is shown as withheld, never as a number."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from linkage.outcomes import ALL, Figure, Release, ReleaseOutcome
from linkage.report._charts import (
    CHOSEN,
    INK,
    MATCH,
    MUTED,
    NON_MATCH,
    SUGGESTED,
    _figure,
    _placeholder,
    _png,
)
from linkage.report._files import _atomic_write
from linkage.report._html import _data_uri, _environment
from linkage.report._outcome_view import Cell, Share, cells, share

__all__ = ["CSV_COLUMNS", "outcome_csv", "render_outcome_html", "write_outcome_report"]

CSV_COLUMNS = (
    "measure",
    "title",
    "statistic",
    "breakdown",
    "category",
    "value",
    "ci_low",
    "ci_high",
    "noise_scale",
    "confidence",
    "withheld",
)
_TREND_COLOURS = (MATCH, SUGGESTED, CHOSEN, "#3b6fb6", "#c94c6e")


def _measures(document: dict[str, Any]) -> list[dict[str, Any]]:
    measures = document["spec"]["measures"]
    assert isinstance(measures, list)
    return measures


def _err(figures: Sequence[Figure | None]) -> tuple[list[float], list[float]]:
    values = [float(f.value) if f is not None and f.value is not None else 0.0 for f in figures]
    widths = [
        float(f.half_width) if f is not None and f.value is not None else 0.0 for f in figures
    ]
    return values, widths


def funnel_chart(release: Release, document: dict[str, Any]) -> bytes:
    """Cohort -> each funnel step: people, with the interval of each count."""
    steps: list[tuple[str, Figure]] = [("In the cohort", release.figure("cohort.people"))]
    titles = {m["id"]: m["title"] for m in _measures(document)}
    for step in document["spec"]["funnel"]:
        steps.append((titles[step], release.figure(f"{step}.with_event")))
    if all(f.value is None for _, f in steps):
        return _placeholder("From contact to treatment", "every count withheld", 9, 3.2)
    with _figure(9, 0.7 + 0.62 * len(steps)) as fig:
        ax = fig.add_subplot()
        values, widths = _err([f for _, f in steps])
        y = np.arange(len(steps))[::-1]
        colours = [NON_MATCH] + [MATCH] * (len(steps) - 1)
        ax.barh(y, values, color=colours, height=0.62)
        ax.errorbar(values, y, xerr=widths, fmt="none", ecolor=INK, capsize=4, lw=1.2)
        ax.set_yticks(y, [name for name, _ in steps])
        # the axis reaches past every whisker and leaves room for the labels after them
        reach = max([v + w for v, w in zip(values, widths, strict=True)] + [1.0])
        for yi, (_, f), v, w in zip(y, steps, values, widths, strict=True):
            text = "withheld" if f.value is None else f"{f.value:,} ± {f.half_width:,}"
            label = ax.text(v + w + reach * 0.02, yi, text, va="center", color=INK, fontsize=9)
            label.set_in_layout(False)  # labels never squeeze the axes
        ax.set_xlim(0, reach * 1.4)
        ax.set_xlabel("people")
        ax.set_title("From contact to treatment")
        ax.grid(axis="y", visible=False)
        return _png(fig)


def before_after_chart(release: Release, document: dict[str, Any]) -> bytes:
    """Per before/after measure: people with an event, and events, before vs after."""
    measures = [m for m in _measures(document) if m["kind"] == "before_after"]
    if not measures:
        return _placeholder("Before vs after the contact", "no before/after measures", 9, 3)
    with _figure(10, 3.8) as fig:
        axes = fig.subplots(1, 2)
        for ax, (stat, label) in zip(
            axes,
            (("people", "people with at least one"), ("events", "events (capped)")),
            strict=True,
        ):
            x = np.arange(len(measures))
            before = [release.figure(f"{m['id']}.{stat}_before") for m in measures]
            after = [release.figure(f"{m['id']}.{stat}_after") for m in measures]
            for offset, figures, colour, name in (
                (-0.2, before, NON_MATCH, "before"),
                (0.2, after, MATCH, "after"),
            ):
                values, widths = _err(figures)
                ax.bar(x + offset, values, width=0.38, color=colour, label=name)
                ax.errorbar(
                    x + offset, values, yerr=widths, fmt="none", ecolor=INK, capsize=3, lw=1
                )
                for xi, f in zip(x + offset, figures, strict=True):
                    if f.value is None:
                        note = ax.text(
                            xi,
                            0,
                            "withheld",
                            rotation=90,
                            ha="center",
                            va="bottom",
                            color=MUTED,
                            fontsize=8,
                        )
                        note.set_in_layout(False)
            ax.set_xticks(x, [m["id"].replace("_", " ") for m in measures], fontsize=8)
            ax.set_title(label.capitalize())
            ax.legend(loc="upper right")
        return _png(fig)


def trend_chart(release: Release, document: dict[str, Any]) -> bytes:
    """Per share measure broken down by quarter: the share per quarter, with intervals."""
    measures = [
        m for m in _measures(document) if m["kind"] == "share" and "quarter" in m["breakdowns"]
    ]
    quarters = release.categories.get("quarter", ())
    if not measures or not quarters:
        return _placeholder("Quarterly trends", "no measure is broken down by quarter", 9, 3)
    with _figure(10, 3.9) as fig:
        ax = fig.add_subplot()
        x = np.arange(len(quarters))
        for i, m in enumerate(measures):
            denominator = release.denominators[m["id"]]
            rates = [
                share(
                    release.figure(f"{m['id']}.with_event", "quarter", q),
                    release.figure(denominator, "quarter", q),
                )
                for q in quarters
            ]
            colour = _TREND_COLOURS[i % len(_TREND_COLOURS)]
            v = np.array([np.nan if r.value is None else r.value for r in rates])
            lo = np.array([np.nan if r.low is None else r.low for r in rates])
            hi = np.array([np.nan if r.high is None else r.high for r in rates])
            ax.fill_between(x, lo, hi, color=colour, alpha=0.15, lw=0)
            ax.plot(x, v, marker="o", color=colour, label=m["title"])
        ax.set_xticks(x, list(quarters))
        ax.set_ylim(0, 1)
        ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:.0%}")
        ax.set_ylabel("share of people")
        ax.set_title("Quarterly trends (by the quarter of the index contact)")
        ax.legend(loc="upper left", fontsize=8)
        return _png(fig)


def _text(f: Figure | None) -> str:
    if f is None:
        return ""
    return "withheld" if f.value is None else f"{f.value:,}"


def _interval(f: Figure | None) -> str:
    if f is None or f.value is None:
        return ""
    if f.half_width == 0:
        return "exact"
    return f"{f.low:,}–{f.high:,}"


def _share_text(s: Share | None) -> str:
    if s is None or s.value is None:
        return "withheld"
    return f"{s.value:.1%} ({s.low:.1%}–{s.high:.1%})"


def _measure_tables(release: Release, document: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for m in _measures(document):
        rows = []
        stats = (
            ["with_event"]
            if m["kind"] == "share"
            else ["people_before", "people_after", "events_before", "events_after"]
        )
        denominator = release.denominators[m["id"]]
        for dim in [ALL, *m["breakdowns"]]:
            for category in release.categories[dim]:
                den = release.figure(denominator, dim, category)
                row = [f"{dim}: {category}" if dim != ALL else "all", _text(den)]
                for stat in stats:
                    f = release.figure(f"{m['id']}.{stat}", dim, category)
                    row.append(
                        f"{_text(f)} [{_interval(f)}]" if f.value is not None else "withheld"
                    )
                    if not stat.startswith("events_"):
                        row.append(_share_text(share(f, den)))
                rows.append(row)

        def scaled(name: str, query: str) -> str:
            scale = release.figure(query).scale
            return f"{name} (noise scale {scale:.0f})" if scale else name

        header = ["breakdown", scaled("people", denominator)]
        for stat in stats:
            header.append(scaled(stat.replace("_", " "), f"{m['id']}.{stat}"))
            if not stat.startswith("events_"):
                header.append("share (interval)")
        out.append({**m, "header": header, "rows": rows})
    return out


def render_outcome_html(outcome: ReleaseOutcome, figures: dict[str, bytes]) -> str:
    release, document = outcome.release, outcome.document
    measures = _measures(document)
    cohort = release.figure("cohort.people")
    kpis = []
    for m in measures[:3]:
        if m["kind"] != "share":
            continue
        s = share(
            release.figure(f"{m['id']}.with_event"), release.figure(release.denominators[m["id"]])
        )
        kpis.append((m["title"], _share_text(s)))
    return (
        _environment()
        .get_template("outcomes.html")
        .render(
            document=document,
            release=release,
            entry=outcome.entry,
            reused=outcome.reused,
            spent=outcome.spent_epsilon,
            budget=outcome.budget_epsilon,
            cohort=cohort,
            kpis=kpis,
            released_at=datetime.fromisoformat(str(document["released_at"])),
            measures=_measure_tables(release, document),
            figures={k: _data_uri(v) for k, v in figures.items()},
            withheld=release.withheld,
            released=len(release.figures) - release.withheld,
        )
    )


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}" if digits else str(int(value))


def outcome_csv(outcome: ReleaseOutcome) -> str:
    """One row per released count and derived share (the grant form's figures)."""
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    release = outcome.release
    row: list[str]
    spec = outcome.document["spec"]
    assert isinstance(spec, dict)
    for cell in cells(release, spec):
        assert isinstance(cell, Cell)
        if cell.figure is not None:
            f = cell.figure
            row = [
                _number(f.value),
                _number(f.low),
                _number(f.high),
                f"{f.scale:.3f}",
            ]
            withheld = f.withheld
        else:
            s = cell.share
            assert s is not None
            row = [_number(s.value, 4), _number(s.low, 4), _number(s.high, 4), ""]
            withheld = "" if s.value is not None else "derived from a withheld count"
        writer.writerow(
            [
                cell.measure,
                cell.title,
                cell.statistic,
                cell.dimension,
                cell.category,
                *row,
                f"{release.confidence:g}",
                withheld,
            ]
        )
    return stream.getvalue()


def write_outcome_report(outcome: ReleaseOutcome, out_dir: Path) -> list[Path]:
    """Write outcomes.html, outcomes.csv and release.json into ``out_dir``."""
    figures = {
        "funnel": funnel_chart(outcome.release, outcome.document),
        "before-after": before_after_chart(outcome.release, outcome.document),
        "trends": trend_chart(outcome.release, outcome.document),
    }
    html = out_dir / "outcomes.html"
    table = out_dir / "outcomes.csv"
    document = out_dir / "release.json"
    _atomic_write(html, render_outcome_html(outcome, figures).encode("utf-8"))
    _atomic_write(table, outcome_csv(outcome).encode("utf-8"))
    _atomic_write(document, json.dumps(outcome.document, indent=1, sort_keys=True).encode())
    return [html, table, document]
