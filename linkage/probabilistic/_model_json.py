"""The JSON form of a Fellegi-Sunter model (``linkage-fellegi-sunter/2``; ``/1``, cut points
only, is still read): stable (keys sorted, floats round-trip exactly), readable by an
operator, and stored with a linkage run so that its results can be reproduced.
:meth:`~linkage.probabilistic.FellegiSunterModel.to_dict` and ``from_dict`` use these.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from linkage.errors import ConfigError, Problem
from linkage.probabilistic._comparison import Comparison, LevelRule
from linkage.probabilistic._em import FitReport

__all__ = ["MODEL_FORMAT", "ModelParts", "model_document", "model_parts"]

#: The ``format`` tag of a model's JSON form (``/1``, cut points only, is still read).
MODEL_FORMAT: Final = "linkage-fellegi-sunter/2"
_MODEL_FORMAT_1: Final = "linkage-fellegi-sunter/1"

#: What a model document holds: comparisons, m and u rows, the prior and the fit report.
ModelParts = tuple[
    tuple[Comparison, ...],
    tuple[tuple[float, ...], ...],
    tuple[tuple[float, ...], ...],
    float,
    FitReport | None,
]


def model_document(
    comparisons: Sequence[Comparison],
    m: Sequence[Sequence[float]],
    u: Sequence[Sequence[float]],
    prior: float,
    prior_weight: float,
    weights: Sequence[Sequence[float]],
    report: FitReport | None,
) -> dict[str, Any]:
    """A model's JSON document (``weights``: ``log2(m / u)`` of every level)."""
    out: dict[str, Any] = {
        "format": MODEL_FORMAT,
        "prior": prior,
        "priorWeight": prior_weight,
        "comparisons": [
            {
                "segment": c.segment,
                "rules": [_rule_json(r) for r in c.rules],
                "termFrequency": c.term_frequency,
                "levels": [
                    {"label": label, "m": m_value, "u": u_value, "weight": w}
                    for label, m_value, u_value, w in zip(
                        c.level_labels(), m[i], u[i], weights[i], strict=True
                    )
                ],
            }
            for i, c in enumerate(comparisons)
        ],
    }
    if report is not None:
        r = report
        out["fit"] = {
            "candidatePairs": r.candidate_pairs,
            "randomPairs": r.random_pairs,
            "totalPairs": r.total_pairs,
            "iterations": r.iterations,
            "converged": r.converged,
            "candidateMatchRate": r.candidate_match_rate,
            "sessions": r.sessions,
            "suggestedThreshold": r.suggested_threshold,
            "priorModelStrength": r.prior_model_strength,
        }
    return out


def model_parts(document: Mapping[str, Any]) -> ModelParts:
    """Read a model's JSON document (the model's own checks then run on the parts).

    :raises ConfigError: for another format or a malformed document.
    """
    version = document.get("format")
    if version not in (MODEL_FORMAT, _MODEL_FORMAT_1):
        raise ConfigError(
            "invalid model", problems=[Problem("$.format", f"must be {MODEL_FORMAT!r}")]
        )
    try:
        comparisons = []
        m_rows = []
        u_rows = []
        for item in document["comparisons"]:
            if version == _MODEL_FORMAT_1:
                comparison = Comparison(
                    str(item["segment"]), tuple(float(c) for c in item["cutPoints"])
                )
            else:
                comparison = Comparison(
                    str(item["segment"]),
                    rules=tuple(
                        LevelRule(
                            str(r["segment"]),
                            float(r["minDice"]),
                            tuple(
                                (str(a["segment"]), float(a["minDice"])) for a in r.get("also", ())
                            ),
                        )
                        for r in item["rules"]
                    ),
                    term_frequency=bool(item.get("termFrequency", False)),
                )
            comparisons.append(comparison)
            m_rows.append(tuple(float(level["m"]) for level in item["levels"]))
            u_rows.append(tuple(float(level["u"]) for level in item["levels"]))
        fit = document.get("fit")
        report = (
            None
            if fit is None
            else FitReport(
                candidate_pairs=int(fit["candidatePairs"]),
                random_pairs=int(fit["randomPairs"]),
                total_pairs=int(fit["totalPairs"]),
                iterations=int(fit["iterations"]),
                converged=bool(fit["converged"]),
                candidate_match_rate=float(fit["candidateMatchRate"]),
                sessions=int(fit.get("sessions", 0)),
                suggested_threshold=(
                    None
                    if fit.get("suggestedThreshold") is None
                    else float(fit["suggestedThreshold"])
                ),
                prior_model_strength=float(fit.get("priorModelStrength", 0.0)),
            )
        )
        prior = float(document["prior"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            "invalid model", problems=[Problem("$", f"malformed ({type(exc).__name__})")]
        ) from None
    return tuple(comparisons), tuple(m_rows), tuple(u_rows), prior, report


def _rule_json(rule: LevelRule) -> dict[str, Any]:
    out: dict[str, Any] = {"segment": rule.segment, "minDice": rule.min_dice}
    if rule.also:
        out["also"] = [{"segment": s, "minDice": d} for s, d in rule.also]
    return out
