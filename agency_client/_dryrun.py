"""``agency-client schema validate --config agency.toml [--input export.csv]``: the mapping
described, and a dry run of it over an export.

The dry run maps every row exactly as ``encode`` and ``upload`` would (the same
:class:`~agency_client._mapping.RowMapper`, and the encoder's own value checks,
:class:`~linkage.encode.ValueChecker`, without hashing), and reports:

* the first rows side by side with their source cells: **the one place where this client
  shows personal data**; it runs at the agency, and the output says so;
* how many rows would be encoded and skipped, and the skipped rows' problems per column
  and reason (counts only);
* per feature, how many values read as missing and why (empty, a declared missing value,
  a built-in placeholder, a bad value read as missing).
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from agency_client._config import AgencyConfig, FeatureSource
from agency_client._csvlines import bounded_lines
from agency_client._mapping import FeatureOutcome, RowMapper, Status
from agency_client._transforms import MapCodes, Match, Split
from linkage.encode import IgnoredFeature, ValueChecker
from linkage.errors import InvalidInputError

__all__ = [
    "DEFAULT_SHOWN_ROWS",
    "DryRunReport",
    "ShownRow",
    "describe_mapping",
    "dry_run",
    "render_dry_run",
]

DEFAULT_SHOWN_ROWS: Final = 10
_MAX_SHOWN_CHARS: Final = 40
_MISSING_STATUSES: Final[tuple[Status, ...]] = (
    "empty",
    "declared",
    "placeholder",
    "transform",
    "invalid",
)
_STATUS_WORDS: Final[dict[Status, tuple[str, str]]] = {
    "empty": ("empty", "empty"),
    "declared": ("declared missing value", "declared missing values"),
    "placeholder": ("placeholder", "placeholders"),
    "transform": ("emptied by the transforms", "emptied by the transforms"),
    "invalid": ("bad value read as missing", "bad values read as missing"),
}


def _counted(count: int, status: Status) -> str:
    one, many = _STATUS_WORDS[status]
    return f"{count} {one if count == 1 else many}"


@dataclass(frozen=True, slots=True)
class ShownRow:
    """One row of the side-by-side view (personal data: shown at the agency only)."""

    number: int
    outcomes: tuple[FeatureOutcome, ...]
    problems: tuple[tuple[str, str], ...]  # (column, reason) that skip the row

    @property
    def skipped(self) -> bool:
        return bool(self.problems)


@dataclass(slots=True)
class DryRunReport:
    """What a dry run found. Everything but ``shown`` is counts, columns and reasons."""

    input_name: str
    rows_read: int = 0
    rows_skipped: int = 0
    repeated_keys: int = 0
    shown: list[ShownRow] = field(default_factory=list)
    #: (column, reason) -> rows with that problem
    problems: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: feature -> status -> rows
    missing: dict[str, Counter[Status]] = field(default_factory=dict)

    @property
    def rows_encoded(self) -> int:
        return self.rows_read - self.rows_skipped


@contextlib.contextmanager
def _open_export(
    config: AgencyConfig, path: Path
) -> Iterator[tuple[list[str], Iterator[tuple[int, list[str]]]]]:
    """The header and the numbered data rows; CSV and decoding problems name the row."""
    try:
        stream = path.open(newline="", encoding=config.encoding)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path.name}: {exc.strerror}") from None
    position = [0]

    def numbered(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
        for row in reader:
            position[0] += 1
            yield position[0], row

    with stream:
        try:
            reader = csv.reader(bounded_lines(stream, path.name), delimiter=config.delimiter)
            header = next(reader, None)
            if header is None:
                raise InvalidInputError(f"{path.name} is empty (no header row)")
            yield header, numbered(reader)
        except csv.Error as exc:
            raise InvalidInputError(
                f"{path.name}: the CSV cannot be parsed near data row {position[0] + 1}: {exc}"
            ) from None
        except UnicodeDecodeError:
            raise InvalidInputError(
                f"{path.name} is not valid {config.encoding} text near data row "
                f"{position[0] + 1}; set [input] encoding"
            ) from None


def dry_run(
    config: AgencyConfig, input_path: Path, *, shown_rows: int = DEFAULT_SHOWN_ROWS
) -> DryRunReport:
    """Map every row of ``input_path`` as ``encode`` would, without encoding it."""
    with _open_export(config, input_path) as (header, rows):
        mapper = RowMapper(config, header)  # ConfigError naming the missing columns
        checker = ValueChecker(config.schema)
        identifiers = [f.identifier for f in config.schema.features]
        report = DryRunReport(input_name=input_path.name)
        for source in config.features:
            report.missing[source.feature] = Counter()
        seen_keys: set[str] = set()
        for number, row in rows:
            report.rows_read += 1
            explained = mapper.explain_row(row)
            problems: list[tuple[str, str]] = []
            outcomes: tuple[FeatureOutcome, ...] = ()
            if isinstance(explained, str):
                problems.append(("*", explained))
            else:
                outcomes = tuple(explained)
                if mapper.key_index is not None:
                    key = row[mapper.key_index].strip()
                    if not key:
                        problems.append((str(mapper.key_column), "the record key is empty"))
                    elif key in seen_keys:
                        report.repeated_keys += 1
                    seen_keys.add(key)
                for outcome in outcomes:
                    if outcome.status == "rejected":
                        problems.append(("+".join(outcome.columns), outcome.reason or "bad value"))
                    elif outcome.status != "value":
                        report.missing[outcome.feature][outcome.status] += 1
                if not problems:
                    values = mapper.schema_values(outcomes)
                    for problem in checker.problems(values):
                        column = (
                            mapper.column_of(identifiers.index(problem.feature))
                            if problem.feature in identifiers
                            else "*"
                        )
                        problems.append((column, problem.reason))
            unique = list(dict.fromkeys(problems))
            if unique:
                report.rows_skipped += 1
                report.problems.update(unique)
            if len(report.shown) < shown_rows:
                report.shown.append(ShownRow(number, outcomes, tuple(unique)))
    return report


# -- rendering ----------------------------------------------------------------------------


def _quoted(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > _MAX_SHOWN_CHARS:
        text = text[: _MAX_SHOWN_CHARS - 2] + '…"'
    return text


def _mapped_text(outcome: FeatureOutcome) -> str:
    if outcome.status == "value":
        return _quoted(outcome.value or "")
    if outcome.status == "rejected":
        return f"BAD: {outcome.reason}"
    if outcome.status == "invalid":
        return f"(missing: bad value, {outcome.reason})"
    return f"(missing: {_STATUS_WORDS[outcome.status][0]})"


def _steps(source: FeatureSource) -> list[str]:
    steps = [step.describe() for step in source.transforms]
    if source.name_part is not None:
        steps.append(f"name part {source.name_part}")
    normaliser = source.normaliser
    if normaliser == "date":
        steps.append(f"date {source.date_format}")
    elif normaliser == "phone" and source.keep_last is not None:
        steps.append(f"phone, last {source.keep_last} digits")
    else:
        steps.append(f"normalise {normaliser}")
    return steps


def describe_mapping(config: AgencyConfig, *, suggest_dry_run: bool = True) -> list[str]:
    """The mapping in words, one line per feature (no values; safe to share)."""
    encoding = config.encoding_schema
    lines = [
        f"{config.path.name}: valid; schema {config.schema_source} ({encoding.clk_bits}-bit "
        f"CLKs, fingerprint {encoding.fingerprint}), key epoch {config.key_epoch}",
        f"  record key column: {config.record_key or '(none)'}",
        "  features (source columns | steps in order | what reads as missing):",
    ]
    width = max((len(s.feature) for s in config.features), default=10)
    for source in config.features:
        missing: list[str] = []
        if source.builtin_placeholders:
            missing.append("built-in placeholders")
        if source.missing_values:
            count = len(source.missing_values)
            missing.append(f"{count} declared value{'s' if count != 1 else ''}")
        if source.on_invalid == "missing":
            missing.append("bad values")
        lines.append(
            f"    {source.feature:<{width}}  "
            + " | ".join(
                [
                    ", ".join(source.columns),
                    *_steps(source),
                    "missing: " + (", ".join(missing) if missing else "empty cells only"),
                ]
            )
        )
    mapped = {s.feature for s in config.features}
    unmapped = [
        f.identifier
        for f in config.schema.features
        if f.identifier not in mapped and not isinstance(f, IgnoredFeature)
    ]
    if unmapped:
        lines.append("  not mapped (always missing): " + ", ".join(unmapped))
    if suggest_dry_run and any(
        isinstance(step, Split | Match | MapCodes) for s in config.features for step in s.transforms
    ):
        lines.append(
            "  check the transforms on real rows: agency-client schema validate --config "
            f"{config.path.name} --input EXPORT.csv"
        )
    return lines


def _rows_word(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"


def render_dry_run(report: DryRunReport) -> list[str]:
    """The dry run as text lines; the shown rows between two personal-data warnings."""
    lines = [
        f"{report.input_name}: {_rows_word(report.rows_read)} read: {report.rows_encoded} "
        f"would be encoded, {report.rows_skipped} skipped"
    ]
    if report.shown:
        lines += [
            "",
            "=" * 78,
            f"PERSONAL DATA: the first {_rows_word(len(report.shown))} of "
            f"{report.input_name}, as exported and as mapped.",
            "Check the mapping here, at the agency. Do not copy this output into tickets,",
            "chats or e-mail, or send it to the operator or a vendor; to share the result,",
            "run again with --rows 0 (counts only, no values).",
            "=" * 78,
        ]
        outcomes = [o for shown in report.shown for o in shown.outcomes]
        width = max((len(o.feature) for o in outcomes), default=7)
        mapped_width = min(max((len(_mapped_text(o)) for o in outcomes), default=6), 44)
        for shown in report.shown:
            verdict = "would be skipped" if shown.skipped else "would be encoded"
            lines.append(f"row {shown.number} ({verdict})")
            if shown.outcomes:
                lines.append(f"  {'feature':<{width}}  {'mapped':<{mapped_width}}  source")
            for outcome in shown.outcomes:
                source = "; ".join(
                    f"{column}: {_quoted(cell)}"
                    for column, cell in zip(outcome.columns, outcome.cells, strict=True)
                )
                text = _mapped_text(outcome)
                lines.append(f"  {outcome.feature:<{width}}  {text:<{mapped_width}}  {source}")
            for column, reason in shown.problems:
                lines.append(f"  -> skipped: column {column}: {reason}")
        lines += ["=" * 78, "END OF PERSONAL DATA", "=" * 78, ""]
    if report.problems:
        lines.append("rows that would be skipped, per column and reason:")
        for (column, reason), count in sorted(
            report.problems.items(), key=lambda item: (-item[1], item[0])
        ):
            lines.append(f"  column {column}: {reason}: {_rows_word(count)}")
    else:
        lines.append("no row would be skipped")
    if report.repeated_keys:
        lines.append(
            f"{_rows_word(report.repeated_keys)} repeat an earlier row's record key "
            "(upload sends the first and skips the others)"
        )
    counted = {f: c for f, c in report.missing.items() if sum(c.values())}
    if counted:
        lines.append("values read as missing, per feature:")
        width = max(len(f) for f in counted)
        for feature, counts in counted.items():
            parts = [
                _counted(counts[status], status) for status in _MISSING_STATUSES if counts[status]
            ]
            lines.append(f"  {feature:<{width}}  " + ", ".join(parts))
    return lines
