"""The report's file I/O: rendering to a directory, the ground-truth CSV, the
review ledger and the review CSVs. Everything else in the package is pure."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from linkage.errors import ConfigError, InvalidInputError
from linkage.report._collect import ReportData
from linkage.report._review import Label, ReviewLedger, parse_label_rows
from linkage.report._truth import TruthLabels, parse_truth_rows

__all__ = [
    "REVIEW_COLUMNS",
    "ReportFiles",
    "load_ledger",
    "read_label_csv",
    "read_truth_csv",
    "render_figures",
    "save_ledger",
    "write_report",
    "write_review_csv",
]

#: Columns of the sample sent to agencies: pointer tokens, never scores.
REVIEW_COLUMNS = ("pair_id", "agency_a", "pointer_token_a", "agency_b", "pointer_token_b", "label")


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """What :func:`write_report` wrote."""

    html: Path
    figures: dict[str, Path]
    summary: Path

    @property
    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.html, self.summary, *self.figures.values()))


def _atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp_name, mode)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def render_figures(data: ReportData) -> dict[str, bytes]:
    """Every figure the data supports, as PNG bytes by name."""
    from linkage.report import _charts as charts

    lines = charts.Thresholds.of(
        data.threshold, data.suggested_threshold, data.chosen_threshold, data.score_kind
    )
    figures = {
        "best-match": charts.best_match_chart(
            data.histogram, lines, estimated=data.best.sampled, kind=data.score_kind
        ),
    }
    if data.model is not None:
        figures["match-weights"] = charts.weight_chart(data.model.weights, lines)
        figures["model"] = charts.model_chart(data.model.model)
    figures["agency-overlap"] = charts.overlap_chart(data.overlap)
    figures["link-sizes"] = charts.link_size_chart(data.overlap)
    figures["activity"] = charts.activity_chart(data.activity, data.agencies)
    if data.quality is not None:
        figures["quality-curves"] = charts.quality_chart(data.quality, lines, data.score_kind)
        figures["confusion-matrix"] = charts.confusion_chart(data.quality)
    return figures


def write_report(data: ReportData, out_dir: Path) -> ReportFiles:
    """Write ``report.html`` (self-contained), one PNG per figure and ``summary.json``."""
    from linkage.report._html import render_html, summary

    figures = render_figures(data)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for name, png in figures.items():
            paths[name] = out_dir / f"{name}.png"
            _atomic_write(paths[name], png)
        html_path = out_dir / "report.html"
        _atomic_write(html_path, render_html(data, figures).encode("utf-8"))
        summary_path = out_dir / "summary.json"
        _atomic_write(
            summary_path, (json.dumps(summary(data), indent=2, sort_keys=True) + "\n").encode()
        )
    except OSError as exc:
        raise ConfigError(f"cannot write the report to {out_dir}: {exc.strerror}") from None
    return ReportFiles(html_path, paths, summary_path)


def _read_csv(path: Path, required: Sequence[str], what: str) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidInputError(
                    f"{path.name}: the {what} needs the columns {', '.join(required)} "
                    f"(missing {', '.join(missing)})"
                )
            return list(reader)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error):
        raise InvalidInputError(f"{path.name}: not a UTF-8 CSV file") from None


def read_truth_csv(path: Path) -> TruthLabels:
    """Ground truth from ``agency_id,record_key,entity_id`` (record keys in hex)."""
    return parse_truth_rows(
        _read_csv(path, ("agency_id", "record_key", "entity_id"), "ground truth"), path.name
    )


def load_ledger(path: Path) -> ReviewLedger:
    """The review ledger at ``path``, or an empty one if there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ReviewLedger()
    except OSError as exc:
        raise ConfigError(f"cannot read the review ledger {path}: {exc.strerror}") from None
    return ReviewLedger.from_json(text, path.name)


def save_ledger(path: Path, ledger: ReviewLedger) -> None:
    """Replace the ledger atomically (a crash leaves the old or the new one)."""
    try:
        _atomic_write(path, (ledger.to_json() + "\n").encode("utf-8"), mode=0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write the review ledger {path}: {exc.strerror}") from None


def write_review_csv(path: Path, rows: Iterable[Sequence[str]]) -> None:
    """The sample for the agencies, with an empty ``label`` column to fill in."""
    lines: list[str] = []

    class _Sink:
        def write(self, text: str) -> int:
            lines.append(text)
            return len(text)

    writer = csv.writer(_Sink(), lineterminator="\n")
    writer.writerow(REVIEW_COLUMNS)
    for row in rows:
        writer.writerow([*row, ""])
    try:
        _atomic_write(path, "".join(lines).encode("utf-8"), mode=0o600)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None


def read_label_csv(path: Path, ledger: ReviewLedger) -> dict[str, Label]:
    """Labels by pair ID from a CSV with ``pair_id`` and ``label`` columns."""
    return parse_label_rows(_read_csv(path, ("pair_id", "label"), "labels file"), ledger, path.name)
