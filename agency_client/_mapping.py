"""Apply an agency's column mapping and normalisation to source rows, then encode them.

Pure: rows in, feature values / CLKs and problems out. Problems name the data row
number (1-based, header not counted), the source column and a reason, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from agency_client._config import AgencyConfig, FeatureSource
from linkage.encode import (
    IgnoredFeature,
    fold_text,
    normalise_digits,
    normalise_name,
    normalise_sex,
    parse_date,
    phone_digits,
    split_last_first,
)
from linkage.errors import ConfigError, Problem, RowError
from linkage.types import ClkBytes

__all__ = ["ChunkResult", "EncodeChunkWorker", "EncodeWorkerFactory", "RowMapper"]

_NAME_PART_INDEX = {"last": 0, "first": 1, "middle": 2}


def _row_problem(row_number: int, column: str, reason: str) -> Problem:
    return Problem(f"row {row_number}, column {column}", reason)


def _value_function(source: FeatureSource) -> Callable[[str], str | None]:
    kind = source.normaliser
    if kind == "name":
        return normalise_name
    if kind == "text":
        return fold_text
    if kind == "postcode":
        return lambda value: fold_text(value).replace(" ", "")
    if kind == "digits":
        return normalise_digits
    if kind == "phone":
        keep_last = source.keep_last
        return lambda value: phone_digits(value, keep_last=keep_last)
    if kind == "sex":
        return normalise_sex
    if kind == "date":
        declared = source.date_format
        assert declared is not None
        return lambda value: parse_date(value, declared)
    return lambda value: value


@dataclass(frozen=True, slots=True)
class _Plan:
    source: FeatureSource
    indices: tuple[int, ...]
    label: str
    normalise: Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class MappedRow:
    """One source row as schema-ordered feature values (``None`` = missing)."""

    values: list[str | None]
    record_key: str | None
    substitutions: list[Problem]


class RowMapper:
    """Maps source rows (by header) to schema-ordered, normalised feature values."""

    def __init__(self, config: AgencyConfig, header: Sequence[str]) -> None:
        positions: dict[str, int] = {}
        for index, name in enumerate(header):
            positions.setdefault(name.strip(), index)
        missing = [c for c in config.columns if c not in positions]
        if missing:
            raise ConfigError(
                "the input lacks columns that the config maps",
                problems=[Problem(f"column {name}", "not in the header") for name in missing],
            )
        self.width = len(header)
        self.key_index = None if config.record_key is None else positions[config.record_key]
        self.key_column = config.record_key
        by_feature = {s.feature: s for s in config.features}
        self._plans: list[_Plan | None] = []
        for feature in config.schema.features:
            source = by_feature.get(feature.identifier)
            if source is None or isinstance(feature, IgnoredFeature):
                self._plans.append(None)
                continue
            self._plans.append(
                _Plan(
                    source=source,
                    indices=tuple(positions[c] for c in source.columns),
                    label="+".join(source.columns),
                    normalise=_value_function(source),
                )
            )

    def column_of(self, feature_index: int) -> str:
        """The source column(s) a schema feature comes from, for problem reports."""
        plan = self._plans[feature_index]
        return "-" if plan is None else plan.label

    def map_row(self, row_number: int, row: Sequence[str]) -> MappedRow | list[Problem]:
        """Feature values for one row, or the problems that make it a bad row."""
        if len(row) != self.width:
            return [
                _row_problem(row_number, "*", f"has {len(row)} fields, the header has {self.width}")
            ]
        problems: list[Problem] = []
        substitutions: list[Problem] = []
        key: str | None = None
        if self.key_index is not None:
            key = row[self.key_index].strip()
            if not key:
                problems.append(
                    _row_problem(row_number, str(self.key_column), "the record key is empty")
                )
        values: list[str | None] = []
        for plan in self._plans:
            if plan is None:
                values.append(None)
                continue
            try:
                value = self._value(plan, row)
            except RowError as exc:
                problem = _row_problem(row_number, plan.label, exc.message)
                if plan.source.on_invalid == "missing":
                    substitution = Problem(
                        problem.location, f"{problem.reason}; treated as missing"
                    )
                    if substitution not in substitutions:
                        substitutions.append(substitution)
                    value = None
                else:
                    problems.append(problem)
                    value = None
            values.append(value)
        if problems:
            return list(dict.fromkeys(problems))  # one line per (column, reason)
        return MappedRow(values=values, record_key=key, substitutions=substitutions)

    @staticmethod
    def _value(plan: _Plan, row: Sequence[str]) -> str | None:
        source = plan.source
        if len(plan.indices) == 1:
            raw = row[plan.indices[0]].strip()
        else:
            raw = " ".join(part for i in plan.indices if (part := row[i].strip()))
        if not raw:
            return None
        if source.name_part is not None:
            raw = split_last_first(raw)[_NAME_PART_INDEX[source.name_part]]
            if not raw:
                return None
        value = plan.normalise(raw)
        return value or None


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """The encoded rows of one chunk, with the problems of the rows that were skipped."""

    row_numbers: list[int]
    record_keys: list[str] | None
    clks: ClkBytes
    problems: list[Problem]
    substitutions: list[Problem]


class EncodeChunkWorker:
    """Normalises and encodes chunks ``(first_row_number, rows)`` in one process."""

    def __init__(self, config: AgencyConfig, header: Sequence[str]) -> None:
        self.mapper = RowMapper(config, header)
        # ClkEncoder or SegmentedEncoder, as the configured schema says (agency_client._encoding)
        self.encoder = config.encoding_schema.encoder(
            config.secret.reveal(), key_epoch=config.key_epoch
        )
        self.identifiers = config.encoding_schema.identifiers
        self.with_keys = config.record_key is not None

    def __call__(self, chunk: tuple[int, list[list[str]]]) -> ChunkResult:
        first, rows = chunk
        problems: list[Problem] = []
        substitutions: list[Problem] = []
        numbers: list[int] = []
        keys: list[str] = []
        values: list[list[str | None]] = []
        for offset, row in enumerate(rows):
            number = first + offset
            mapped = self.mapper.map_row(number, row)
            if isinstance(mapped, list):
                problems.extend(mapped)
                continue
            substitutions.extend(mapped.substitutions)
            numbers.append(number)
            keys.append(mapped.record_key or "")
            values.append(mapped.values)
        batch = self.encoder.encode_valid(values)
        identifiers = self.identifiers
        for problem in batch.problems:
            column = (
                self.mapper.column_of(identifiers.index(problem.feature))
                if problem.feature in identifiers
                else "*"
            )
            problems.append(_row_problem(numbers[problem.row_index], column, problem.reason))
        accepted = batch.accepted.tolist()
        problems.sort(key=lambda p: int(p.location.split(",")[0].removeprefix("row ")))
        return ChunkResult(
            row_numbers=[numbers[i] for i in accepted],
            record_keys=[keys[i] for i in accepted] if self.with_keys else None,
            clks=batch.clks if batch.clks.size else np.zeros((0, self.encoder.clk_bytes), np.uint8),
            problems=problems,
            substitutions=substitutions,
        )


@dataclass(frozen=True, slots=True)
class EncodeWorkerFactory:
    """Picklable recipe for :class:`EncodeChunkWorker` (one per worker process)."""

    config: AgencyConfig
    header: tuple[str, ...]

    def __call__(self) -> EncodeChunkWorker:
        return EncodeChunkWorker(self.config, self.header)
