"""Tools for the linkage operator: the quality report and clerical review.

Everything here works on counts and similarity scores only; nothing it writes
holds PII, CLKs or record keys, and only the review sample sent to agencies
holds pointer tokens (which only their own agency can open).

Report
    :func:`collect_report_data` ``(store, settings, options, *, truth, ledger) -> ReportData``
    reads a :class:`~linkage.store.LinkStore` (read methods only);
    :func:`write_report` ``(data, out_dir) -> ReportFiles`` writes ``report.html``
    (self-contained), one PNG per figure and ``summary.json``.
Threshold evidence (pure)
    :func:`score_histogram`, :func:`suggest_threshold` -> :class:`ThresholdSuggestion`,
    :func:`best_matches` -> :class:`BestMatches`.
Probabilistic mode
    :func:`load_linker` -> :class:`LoadedLinker` (the model, blocking and threshold in
    force, from the latest linkage run), :func:`model_band_candidates`; the report's
    model section is :class:`ModelEvidence`. Scores are then match probabilities
    (:data:`SCORE_PROBABILITY`), not Dice scores (:data:`SCORE_DICE`).
Quality (pure)
    :func:`threshold_sweep` -> :class:`ThresholdSweep`, :func:`confusion_at` ->
    :class:`Confusion`, :func:`truth_evidence`, :func:`clerical_evidence` ->
    :class:`QualityEvidence`.
Overlap and activity (pure)
    :func:`link_overlap` -> :class:`LinkOverlap`; :class:`ActivityCounter` -> :class:`Activity`.
Clerical review
    :class:`ReviewLedger`, :func:`draw_review_sample`, :func:`parse_label_rows`;
    files: :func:`load_ledger`, :func:`save_ledger`, :func:`write_review_csv`,
    :func:`read_label_csv`; ground truth: :func:`read_truth_csv` -> :class:`TruthLabels`.

Charts and the HTML page need the ``report`` extra (matplotlib, jinja2; the page comes
from the templates in ``linkage/report/templates``); nothing else here does.
"""

from linkage.report._activity import Activity, ActivityCounter
from linkage.report._bestmatch import BestMatches, best_matches
from linkage.report._collect import (
    IndexSnapshot,
    ReportData,
    ReportOptions,
    band_candidates,
    collect_report_data,
    load_index,
    model_band_candidates,
    pointer_tokens,
)
from linkage.report._evaluate import QualityEvidence, truth_evidence
from linkage.report._files import (
    ReportFiles,
    load_ledger,
    read_label_csv,
    read_truth_csv,
    save_ledger,
    write_report,
    write_review_csv,
)
from linkage.report._outcome_report import outcome_csv, write_outcome_report
from linkage.report._overlap import LinkOverlap, link_overlap
from linkage.report._probabilistic import (
    SCORE_DICE,
    SCORE_PROBABILITY,
    LoadedLinker,
    ModelEvidence,
    links_within_agency,
    load_linker,
)
from linkage.report._quality import Confusion, ThresholdSweep, confusion_at, threshold_sweep
from linkage.report._review import (
    Label,
    ReviewLedger,
    ReviewPair,
    ReviewSample,
    clerical_evidence,
    draw_review_sample,
    parse_label_rows,
)
from linkage.report._threshold import (
    ScoreHistogram,
    ThresholdSuggestion,
    score_histogram,
    suggest_threshold,
)
from linkage.report._truth import TruthLabels, parse_truth_rows

__all__ = [
    "SCORE_DICE",
    "SCORE_PROBABILITY",
    "Activity",
    "ActivityCounter",
    "BestMatches",
    "Confusion",
    "IndexSnapshot",
    "Label",
    "LinkOverlap",
    "LoadedLinker",
    "ModelEvidence",
    "QualityEvidence",
    "ReportData",
    "ReportFiles",
    "ReportOptions",
    "ReviewLedger",
    "ReviewPair",
    "ReviewSample",
    "ScoreHistogram",
    "ThresholdSuggestion",
    "ThresholdSweep",
    "TruthLabels",
    "band_candidates",
    "best_matches",
    "clerical_evidence",
    "collect_report_data",
    "confusion_at",
    "draw_review_sample",
    "link_overlap",
    "links_within_agency",
    "load_index",
    "load_ledger",
    "load_linker",
    "model_band_candidates",
    "outcome_csv",
    "parse_label_rows",
    "parse_truth_rows",
    "pointer_tokens",
    "read_label_csv",
    "read_truth_csv",
    "save_ledger",
    "score_histogram",
    "suggest_threshold",
    "threshold_sweep",
    "truth_evidence",
    "write_outcome_report",
    "write_report",
    "write_review_csv",
]
