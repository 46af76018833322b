"""The self-contained HTML report, rendered from the package's Jinja2 templates
(``linkage/report/templates``: ``report.html``, its macros and ``report.css``) with
autoescaping on: every text from data is escaped. A designer changes the page there;
this module only gathers the values the template shows and the summary JSON."""

from __future__ import annotations

import base64
import functools
from collections.abc import Mapping
from typing import Any

from linkage.errors import ConfigError
from linkage.report._activity import METRICS
from linkage.report._collect import ReportData

try:
    import jinja2
except ImportError:  # pragma: no cover - exercised only without the report extra
    raise ConfigError(
        "linkage-admin report needs jinja2: pip install 'coresponder-linkage[report]'"
    ) from None

__all__ = ["render_html", "summary"]


def _count(value: float) -> str:
    return f"{round(value):,}"


def _fixed(value: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}%}"


def _share(part: float, whole: float) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _prob(value: float) -> str:
    """An m or u probability: four decimals, or scientific when smaller."""
    return f"{value:.4f}" if value >= 0.001 else f"{value:.2e}"


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _sentence(text: str) -> str:
    return (text[:1].upper() + text[1:] + ".") if text else ""


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("linkage.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        count=_count, fixed=_fixed, pct=_pct, prob=_prob, signed=_signed, sentence=_sentence
    )
    env.globals["share"] = _share
    return env


def _share_at_threshold(data: ReportData) -> tuple[float, float | None]:
    """Records (weighted) whose best match reaches the threshold in force, and their share."""
    best = data.best
    total = float(best.weights.sum())
    above = float(best.weights[best.scores >= data.threshold].sum())
    return above, (above / total if total else None)


def _model_summary(data: ReportData) -> dict[str, object] | None:
    evidence = data.model
    if evidence is None:
        return None
    model = evidence.model
    plan = evidence.plan
    return {
        "source": evidence.source,
        "run_id": evidence.run_id,
        "fitted_records": evidence.fitted_records,
        "configured_threshold": evidence.configured_threshold,
        "auto_threshold": evidence.auto_threshold,
        "suggested_threshold": evidence.suggested_threshold,
        "pairs_linked_within_agency": evidence.within_agency,
        "candidate_pairs": evidence.candidate_pairs,
        "pairs_at_threshold": evidence.pairs_at_threshold,
        "records_without_candidate": evidence.records - evidence.records_with_candidate,
        "blocking": evidence.blocking_preset,
        "blocking_rules": list(evidence.rules),
        "pair_completeness_estimate": None if plan is None else plan.pair_completeness,
        "pair_completeness_measured": evidence.measured_completeness,
        "prior": model.prior,
        "prior_weight": model.prior_weight,
        "comparisons": [
            {
                "comparison": comparison.segment,
                "term_frequency": comparison.term_frequency,
                "levels": [
                    {"label": label, "m": m, "u": u, "weight": w}
                    for label, m, u, w in zip(
                        comparison.level_labels(), m_row, u_row, w_row, strict=True
                    )
                ],
            }
            for comparison, m_row, u_row, w_row in zip(
                model.comparisons, model.m, model.u, model.level_weights(), strict=True
            )
        ],
    }


def summary(data: ReportData) -> dict[str, object]:
    """The report's headline numbers, for ``summary.json`` (and the model in probabilistic
    mode: its m, u and weights, the blocking and its pair completeness)."""
    overlap = data.overlap
    best = data.best
    above, share = _share_at_threshold(data)
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
        "score": data.score_kind,
        "threshold": data.threshold,
        "evaluated_threshold": data.chosen_threshold,
        "suggested_threshold": data.suggested_threshold,
        "records": int(overlap.records.sum()),
        "agencies": list(data.agencies),
        "links": overlap.link_count,
        "linked_records": int(overlap.linked_records.sum()),
        "records_with_match_at_threshold": round(above),
        "share_with_match_at_threshold": share,
        "best_match_sampled": best.sampled,
        "best_match_searched": best.searched,
        "lookups_answered": data.activity.total("lookups"),
        "disclosures_made": data.activity.total("disclosures"),
        "quality": quality,
        "model": _model_summary(data),
    }


def _agencies(data: ReportData) -> list[dict[str, object]]:
    overlap, activity = data.overlap, data.activity
    return [
        {
            "name": agency,
            "records": int(overlap.records[i]),
            "linked": int(overlap.linked_records[i]),
            "received": activity.total("records", agency),
            "lookups": activity.total("lookups", agency),
            "disclosed": activity.total("disclosures", agency),
        }
        for i, agency in enumerate(overlap.agencies)
    ]


def _weeks(data: ReportData, weeks: int = 12) -> list[dict[str, object]]:
    """The last ``weeks`` weeks, newest first."""
    activity = data.activity
    rows: list[dict[str, object]] = []
    for i in range(len(activity.weeks) - 1, max(-1, len(activity.weeks) - 1 - weeks), -1):
        counts = [sum(v[i] for v in activity.counts[metric].values()) for metric, _ in METRICS]
        rows.append({"week": activity.weeks[i], "counts": counts})
    return rows


def _model_context(data: ReportData) -> dict[str, Any] | None:
    evidence = data.model
    if evidence is None:
        return None
    model = evidence.model
    plan = evidence.plan
    estimate = None if plan is None else plan.pair_completeness
    measured = evidence.measured_completeness
    if measured is not None:
        completeness, detail = measured, "true pairs that are candidates (ground truth)"
        if estimate is not None:
            detail += f"; estimate {estimate:.3f}"
    elif estimate is not None:
        completeness, detail = estimate, "estimated without labels at the last fit"
    else:
        completeness, detail = None, "not estimated: pass --truth to measure it"
    return {
        "evidence": evidence,
        "threshold_weight": evidence.threshold_weight,
        "completeness": completeness,
        "completeness_detail": detail,
        "prior": model.prior,
        "prior_weight": model.prior_weight,
        "fit": model.report,
        "comparisons": [
            {
                "name": comparison.segment.replace("_", " "),
                "term_frequency": comparison.term_frequency,
                "levels": [
                    {"label": label, "m": m, "u": u, "weight": w}
                    for label, m, u, w in zip(
                        comparison.level_labels(), m_row, u_row, w_row, strict=True
                    )
                ],
            }
            for comparison, m_row, u_row, w_row in zip(
                model.comparisons, model.m, model.u, model.level_weights(), strict=True
            )
        ],
    }


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(data: ReportData, figures: Mapping[str, bytes]) -> str:
    """The whole report as one HTML document (templates/report.html)."""
    overlap = data.overlap
    _, share = _share_at_threshold(data)
    context: dict[str, Any] = {
        "mode": "dice" if data.model is None else "probabilistic",
        "generated_at": data.generated_at,
        "settings": data.settings,
        "threshold": data.threshold,
        "chosen_threshold": data.chosen_threshold,
        "records": int(overlap.records.sum()),
        "linked_records": int(overlap.linked_records.sum()),
        "links": overlap.link_count,
        "agency_count": len(data.agencies),
        "lookups": data.activity.total("lookups"),
        "disclosures": data.activity.total("disclosures"),
        "share_at_threshold": share or 0.0,
        "suggestion": data.suggestion,
        "suggested_threshold": data.suggested_threshold,
        "best": data.best,
        "quality": data.quality,
        "notes": data.notes,
        "agencies": _agencies(data),
        "weeks": _weeks(data),
        "metrics": [title for _, title in METRICS],
        "figures": {name: _data_uri(png) for name, png in figures.items()},
        "timings": list(data.timings.items()),
        "model": _model_context(data),
    }
    return _environment().get_template("report.html").render(context)
