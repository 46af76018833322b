"""The self-contained HTML report: inline CSS, figures as PNG data URIs, no
scripts and no external requests. Every text from data is escaped."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from linkage.report._activity import METRICS
from linkage.report._collect import ReportData

__all__ = ["FIGURES", "Figure", "render_html", "summary"]


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure: its file stem, its title and what the reader should look for."""

    name: str
    title: str
    caption: str


#: Every figure the report may hold, in order (quality figures need labels).
FIGURES: tuple[Figure, ...] = (
    Figure(
        "best-match",
        "Best-match similarity per record",
        "Each record's highest Dice similarity to any record of another agency. Records of "
        "people known to several agencies pile up on the right; everyone else forms the hump "
        "on the left. A threshold belongs in the valley between them.",
    ),
    Figure(
        "agency-overlap",
        "Overlap between agencies",
        "Links (people) that two agencies have in common. The diagonal shows how many of each "
        "agency's records are in a link with another agency.",
    ),
    Figure(
        "link-sizes",
        "Link sizes per agency pair",
        "For each pair of agencies, the links holding records of both, by how many records "
        "(agencies) the link joins.",
    ),
    Figure(
        "activity",
        "Activity per week",
        "Records received, links formed, lookups answered and records disclosed, each week and "
        "per agency. Links are credited to the agency whose upload completed them.",
    ),
    Figure(
        "quality-curves",
        "Precision, recall and F1",
        "How the share of linked pairs that are right (precision), the share of true pairs "
        "found (recall) and their balance (F1) change with the threshold.",
    ),
    Figure(
        "confusion-matrix",
        "Confusion matrix",
        "Pairs by what the labels say and what the matcher decided at the evaluated threshold.",
    ),
)

_CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#e4e7eb; --teal:#0f8b8d; --bg:#f5f7fa; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:15px/1.55 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Helvetica, Arial, sans-serif; }
header.hero { background:linear-gradient(120deg,#0b5d5e 0%,#0f8b8d 55%,#3aa17e 100%);
  color:#fff; padding:34px 0 30px; }
.wrap { max-width:1180px; margin:0 auto; padding:0 28px; }
header h1 { margin:0 0 6px; font-size:30px; letter-spacing:-0.01em; }
header .sub { margin:0; opacity:.9; font-size:14px; }
.badge { display:inline-block; margin-top:14px; padding:4px 12px; border-radius:999px;
  background:rgba(255,255,255,.16); font-size:13px; font-weight:600; }
.kpis { display:grid; grid-template-columns:repeat(auto-fit,minmax(200px,1fr)); gap:14px;
  margin:-22px 0 10px; }
.kpi { background:#fff; border-radius:12px; padding:16px 18px;
  box-shadow:0 1px 3px rgba(31,41,51,.08),0 8px 24px rgba(31,41,51,.06); }
.kpi .label { color:var(--muted); font-size:12.5px; text-transform:uppercase;
  letter-spacing:.05em; }
.kpi .value { font-size:28px; font-weight:700; margin-top:2px; }
.kpi .detail { color:var(--muted); font-size:13px; }
section.card { background:#fff; border-radius:14px; padding:22px 26px; margin:22px 0;
  box-shadow:0 1px 3px rgba(31,41,51,.06); }
section.card h2 { margin:0 0 4px; font-size:21px; }
section.card p.lead { margin:0 0 14px; color:var(--muted); max-width:920px; }
figure { margin:14px 0 6px; }
figure img { width:100%; height:auto; display:block; border-radius:8px; }
figure.half { display:inline-block; vertical-align:top; width:49%; }
figcaption { color:var(--muted); font-size:13.5px; margin-top:6px; max-width:920px; }
table { border-collapse:collapse; width:100%; margin:10px 0 4px; font-size:14px; }
th, td { padding:7px 10px; border-bottom:1px solid var(--line); text-align:right; }
th:first-child, td:first-child { text-align:left; }
th { color:var(--muted); font-weight:600; font-size:12.5px; text-transform:uppercase;
  letter-spacing:.04em; }
tbody tr:hover { background:#f9fafb; }
.note { background:#fff8e6; border-left:4px solid #f2b134; padding:10px 14px; border-radius:6px;
  margin:8px 0; font-size:14px; }
.empty { color:var(--muted); font-style:italic; }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:18px; align-items:start; }
@media (max-width: 900px) { .grid2 { grid-template-columns:1fr; } }
footer { color:var(--muted); font-size:13px; padding:10px 0 40px; }
footer li { margin:3px 0; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def summary(data: ReportData) -> dict[str, object]:
    """The report's headline numbers, for ``summary.json`` and the KPI cards."""
    overlap = data.overlap
    best = data.best
    total_weight = float(best.weights.sum())
    above = float(best.weights[best.scores >= data.settings.threshold].sum())
    quality: dict[str, object] | None = None
    if data.quality is not None:
        chosen = data.quality.chosen
        quality = {
            "source": data.quality.source,
            "threshold": chosen.threshold,
            "precision": chosen.precision,
            "recall": chosen.recall,
            "f1": chosen.f1,
            "best_f1": data.quality.sweep.best_f1(),
        }
    return {
        "generated_at": data.generated_at.isoformat(timespec="seconds"),
        "threshold": data.settings.threshold,
        "evaluated_threshold": data.chosen_threshold,
        "suggested_threshold": None if data.suggestion is None else data.suggestion.threshold,
        "records": int(overlap.records.sum()),
        "agencies": list(data.agencies),
        "links": overlap.link_count,
        "linked_records": int(overlap.linked_records.sum()),
        "records_with_match_at_threshold": round(above),
        "share_with_match_at_threshold": above / total_weight if total_weight else None,
        "best_match_sampled": best.sampled,
        "best_match_searched": best.searched,
        "lookups_answered": data.activity.total("lookups"),
        "disclosures_made": data.activity.total("disclosures"),
        "quality": quality,
    }


def _kpi(label: str, value: str, detail: str) -> str:
    return (
        f'<div class="kpi"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="detail">{_e(detail)}</div></div>'
    )


def _figure(figure: Figure, png: bytes, css_class: str = "") -> str:
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    cls = f' class="{css_class}"' if css_class else ""
    return (
        f'<figure{cls}><img class="chart" data-chart="{_e(figure.name)}" alt="{_e(figure.title)}"'
        f' src="{uri}"><figcaption>{_e(figure.caption)}</figcaption></figure>'
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], css_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{_e(css_id)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _agency_rows(data: ReportData) -> list[list[object]]:
    overlap, activity = data.overlap, data.activity
    rows: list[list[object]] = []
    for i, agency in enumerate(overlap.agencies):
        total = int(overlap.records[i])
        linked = int(overlap.linked_records[i])
        rows.append(
            [
                agency,
                f"{total:,}",
                f"{linked:,}",
                _pct(linked, total),
                f"{activity.total('records', agency):,}",
                f"{activity.total('lookups', agency):,}",
                f"{activity.total('disclosures', agency):,}",
            ]
        )
    return rows


def _weekly_rows(data: ReportData, weeks: int = 12) -> list[list[object]]:
    activity = data.activity
    rows: list[list[object]] = []
    for i in range(len(activity.weeks) - 1, max(-1, len(activity.weeks) - 1 - weeks), -1):
        cells: list[object] = [activity.weeks[i].isoformat()]
        for metric, _ in METRICS:
            cells.append(f"{sum(v[i] for v in activity.counts[metric].values()):,}")
        rows.append(cells)
    return rows


def render_html(data: ReportData, figures: Mapping[str, bytes]) -> str:
    """The whole report as one HTML document."""
    by_name = {f.name: f for f in FIGURES}
    s = summary(data)
    settings = data.settings
    suggestion = data.suggestion
    best = data.best
    records = int(data.overlap.records.sum())
    linked = int(data.overlap.linked_records.sum())
    kpis = [
        _kpi("Records in the index", f"{records:,}", f"from {len(data.agencies)} agencies"),
        _kpi(
            "People linked across agencies",
            f"{data.overlap.link_count:,}",
            f"{linked:,} records ({_pct(linked, records)}) are in a link",
        ),
        _kpi(
            "Suggested threshold",
            "–" if suggestion is None else f"{suggestion.threshold:.3f}",
            "no clear valley between the modes"
            if suggestion is None
            else f"valley between {suggestion.non_match_mode:.2f} and "
            f"{suggestion.match_mode:.2f}; configured {settings.threshold:.2f}",
        ),
        _kpi(
            "Lookups answered",
            f"{data.activity.total('lookups'):,}",
            f"{data.activity.total('disclosures'):,} records disclosed with consent",
        ),
    ]
    if data.quality is not None:
        chosen = data.quality.chosen
        kpis.append(
            _kpi(
                f"F1 at {chosen.threshold:.2f}",
                f"{chosen.f1:.3f}",
                f"precision {chosen.precision:.3f} · recall {chosen.recall:.3f} "
                f"({data.quality.source})",
            )
        )
    share_value = s["share_with_match_at_threshold"]
    share = float(share_value) if isinstance(share_value, float | int) else 0.0
    method = (
        f"Best matches at or above the threshold come from the stored candidate pairs "
        f"({best.from_edges:,} records); below it they were searched exactly "
        + (
            f"for a random sample of {best.searched:,} records, each standing for several."
            if best.sampled
            else f"for all {best.searched:,} other records."
        )
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Linkage report · {_e(data.generated_at.date().isoformat())}</title>",
        f"<style>{_CSS}</style></head><body>",
        '<header class="hero"><div class="wrap">',
        "<h1>Co-responder linkage report</h1>",
        f'<p class="sub">Generated {_e(data.generated_at.strftime("%Y-%m-%d %H:%M UTC"))} · '
        f"threshold {settings.threshold:.2f} · key epoch {settings.key_epoch} · "
        f"schema {_e(settings.schema_fingerprint[:12])}… · {settings.clk_bits}-bit CLKs</p>",
        '<span class="badge">Counts and similarity scores only: no names, no record IDs, '
        "no CLKs, no pointer tokens</span>",
        "</div></header>",
        '<main class="wrap">',
        f'<div class="kpis">{"".join(kpis)}</div>',
        *(f'<div class="note">{_e(note)}</div>' for note in data.notes),
        '<section class="card" id="threshold"><h2>Threshold evidence</h2>',
        f'<p class="lead">{_e(_pct(share, 1.0))} of records have a match at or above '
        f"the configured threshold of {settings.threshold:.2f} in another agency. "
        + (
            f"The valley between the non-match and match modes lies at {suggestion.threshold:.3f}."
            if suggestion is not None
            else "The distribution shows no clear valley; label a clerical-review sample "
            "(linkage-admin review sample) to choose a threshold with evidence."
        )
        + "</p>",
        _figure(by_name["best-match"], figures["best-match"]),
        f'<p class="lead">{_e(method)}</p>',
        "</section>",
        '<section class="card" id="overlap"><h2>Overlap between agencies</h2>',
        '<p class="lead">Which agencies see the same people, and how many agencies each linked '
        "person spans.</p>",
        '<div class="grid2">',
        _figure(by_name["agency-overlap"], figures["agency-overlap"]),
        _figure(by_name["link-sizes"], figures["link-sizes"]),
        "</div>",
        _table(
            [
                "agency",
                "records",
                "in a link",
                "share",
                "received (all time)",
                "lookups answered",
                "disclosed",
            ],
            _agency_rows(data),
            "agency-table",
        ),
        "</section>",
        '<section class="card" id="activity"><h2>Activity over time</h2>',
        '<p class="lead">What the programme did, week by week: the figures funders ask for.</p>',
        _figure(by_name["activity"], figures["activity"]),
        _table(
            ["week starting", *(title.lower() for _, title in METRICS)],
            _weekly_rows(data),
            "weekly-table",
        )
        if data.activity.weeks
        else '<p class="empty">No activity recorded yet.</p>',
        "</section>",
        '<section class="card" id="quality"><h2>Linkage quality</h2>',
    ]
    if data.quality is None:
        parts.append(
            '<p class="empty">No labels yet. Pass --truth for test data with known answers, or '
            "draw a clerical-review sample (linkage-admin review sample), have the agencies "
            "label it, and import the labels (linkage-admin review import).</p>"
        )
    else:
        parts.append(
            '<p class="lead">'
            + " ".join(_e(note[0].upper() + note[1:] + ".") for note in data.quality.notes)
            + "</p>"
        )
        parts.append(_figure(by_name["quality-curves"], figures["quality-curves"]))
        parts.append(_figure(by_name["confusion-matrix"], figures["confusion-matrix"]))
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in data.timings.items())
    parts += [
        "</section>",
        "<footer><ul>",
        "<li>Dice similarity is computed on the CLKs the matcher already holds; "
        "no identifying data was used or is shown.</li>",
        "<li>A record's best match is its most similar record in any other agency; "
        "records within one agency are never linked to each other.</li>",
        f"<li>Computed in: {_e(timing)}.</li>" if timing else "",
        "</ul></footer></main></body></html>",
    ]
    return "\n".join(p for p in parts if p)
