"""Apply an agency's column mapping and normalisation to source rows, then encode them.

Pure: rows in, feature values / CLKs and problems out. Problems name the data row
number (1-based, header not counted), the source column and a reason, never a value.

One feature's value, from its source cells to what the encoder gets:

1. each cell, trimmed; a cell equal to a declared ``missing_values`` entry, or a built-in
   placeholder (:mod:`linkage.encode._placeholders`; ``builtin_placeholders = false``
   turns them off for the feature), is empty;
2. the ``transforms``, in order (:mod:`agency_client._transforms`), with the same check on
   each value a step produces (so ``first_non_empty`` falls through placeholders);
3. several values left are joined with a space; ``name_part`` splits ``LAST, FIRST M``;
4. the normaliser (dates in their declared format), and the placeholder check once more
   on the normalised value;
5. per row: an unidentified patient's or a newborn's placeholder names
   (:func:`linkage.encode.unidentified_name_parts`) are missing.

The responder gateway's queries take the same path with no transforms
(:mod:`agency_client._query`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

import numpy as np

from agency_client._config import AgencyConfig, FeatureSource
from agency_client._transforms import apply_transforms
from linkage.encode import (
    IgnoredFeature,
    PlaceholderKind,
    fold_text,
    is_placeholder,
    normalise_digits,
    normalise_name,
    normalise_sex,
    parse_date,
    parse_date_unless_placeholder,
    phone_digits,
    placeholder_kind,
    split_last_first,
    unidentified_name_parts,
)
from linkage.errors import ConfigError, Problem, RowError
from linkage.types import ClkBytes

__all__ = [
    "ChunkResult",
    "EncodeChunkWorker",
    "EncodeWorkerFactory",
    "FeatureOutcome",
    "MappedRow",
    "RowMapper",
    "Status",
]

_NAME_PART_INDEX: Final = {"last": 0, "first": 1, "middle": 2}

#: How a feature's value came out of the mapping: a value; empty; a declared missing
#: value; a built-in placeholder (or a code its normaliser reads as unknown, such as sex
#: ``U``); emptied by the transforms (a split part or a match group that is not there, a
#: code mapped to ""); a bad value read as missing (``on_invalid = "missing"``); a bad
#: value that rejects the row.
Status: TypeAlias = Literal[
    "value", "empty", "declared", "placeholder", "transform", "invalid", "rejected"
]


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
        if source.builtin_placeholders:
            return lambda value: parse_date_unless_placeholder(value, declared)
        return lambda value: parse_date(value, declared)
    return lambda value: value


@dataclass(frozen=True, slots=True)
class _Plan:
    source: FeatureSource
    indices: tuple[int, ...]
    label: str
    normalise: Callable[[str], str | None]
    placeholders: PlaceholderKind | None
    declared: frozenset[str]

    def missing_status(self, value: str) -> Status | None:
        """``declared`` or ``placeholder`` when a non-empty value reads as missing."""
        if self.declared and fold_text(value) in self.declared:
            return "declared"
        if self.placeholders is not None and is_placeholder(self.placeholders, value):
            return "placeholder"
        return None

    def is_missing(self, value: str) -> bool:
        return self.missing_status(value) is not None

    def evaluate(self, row: Sequence[str]) -> tuple[str | None, Status]:
        """The normalised value and how it came out; :class:`RowError` for a bad value."""
        source = self.source
        indices = self.indices
        if len(indices) == 1 and not source.transforms:
            # The common case, kept lean: one column, no transforms.
            raw = row[indices[0]].strip()
            if not raw:
                return None, "empty"
            status = self.missing_status(raw)
            if status is not None:
                return None, status
        else:
            raw, status = self._combine(row)
            if status is not None:
                return None, status
        if source.name_part is not None:
            raw = split_last_first(raw)[_NAME_PART_INDEX[source.name_part]]
            if not raw:
                return None, "empty"
        value = self.normalise(raw)
        if not value:
            # A date placeholder in the declared format, or a code the normaliser reads
            # as unknown (sex U), is a placeholder; a value that folds to nothing is empty.
            return None, "placeholder" if value is None and raw.strip() else "empty"
        if self.placeholders is not None and is_placeholder(self.placeholders, value):
            return None, "placeholder"
        return value, "value"

    def _combine(self, row: Sequence[str]) -> tuple[str, Status | None]:
        """Several columns or transforms: the one value they give, or why it is missing."""
        cells: list[str] = []
        flagged: Status | None = None
        for index in self.indices:
            cell = row[index].strip()
            if cell:
                status = self.missing_status(cell)
                if status is not None:
                    flagged = flagged or status
                    cell = ""
            cells.append(cell)
        transforms = self.source.transforms
        values = apply_transforms(transforms, cells, self.is_missing) if transforms else cells
        raw = values[0] if len(values) == 1 else " ".join(v for v in values if v)
        if not raw:
            if flagged is None and transforms and any(cells):
                return "", "transform"
            return "", flagged or "empty"
        return raw, self.missing_status(raw) if len(values) != 1 else None


@dataclass(frozen=True, slots=True)
class MappedRow:
    """One source row as schema-ordered feature values (``None`` = missing)."""

    values: list[str | None]
    record_key: str | None
    substitutions: list[Problem]


@dataclass(frozen=True, slots=True)
class FeatureOutcome:
    """One feature of one row, for the dry run: the source cells, the mapped value and
    how it came out (``reason`` for ``invalid`` and ``rejected``)."""

    feature: str
    columns: tuple[str, ...]
    cells: tuple[str, ...]
    value: str | None
    status: Status
    reason: str | None = None


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
                problems=[
                    Problem(
                        f"column {name}",
                        "not in the header; check the spelling in agency.toml against the "
                        "export's first row (names are compared exactly, after trimming)",
                    )
                    for name in missing
                ],
            )
        self.width = len(header)
        self.key_index = None if config.record_key is None else positions[config.record_key]
        self.key_column = config.record_key
        by_feature = {s.feature: s for s in config.features}
        self._plans: list[_Plan | None] = []
        name_slots: dict[str, int] = {}
        for index, feature in enumerate(config.schema.features):
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
                    placeholders=(
                        placeholder_kind(source.feature, source.normaliser)
                        if source.builtin_placeholders
                        else None
                    ),
                    declared=frozenset(source.missing_values),
                )
            )
            if source.builtin_placeholders and feature.identifier in (
                "given_name",
                "middle_name",
                "surname",
            ):
                name_slots[feature.identifier] = index
        # The per-record name rule needs the given name, and a part to blank.
        self._name_slots = name_slots if "given_name" in name_slots else {}
        self._identifiers = tuple(f.identifier for f in config.schema.features)

    def column_of(self, feature_index: int) -> str:
        """The source column(s) a schema feature comes from, for problem reports."""
        plan = self._plans[feature_index]
        return "-" if plan is None else plan.label

    def _name_rule(self, values: Sequence[str | None]) -> list[int]:
        """Schema indices of the name parts that are placeholders together (JOHN DOE)."""
        slots = self._name_slots
        if not slots:
            return []
        given = values[slots["given_name"]]
        if given is None:
            return []
        middle = values[slots["middle_name"]] if "middle_name" in slots else None
        surname = values[slots["surname"]] if "surname" in slots else None
        parts = unidentified_name_parts(given, middle, surname)
        return [slots[part] for part in parts if part in slots]

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
                value, _ = plan.evaluate(row)
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
        for index in self._name_rule(values):
            values[index] = None
        return MappedRow(values=values, record_key=key, substitutions=substitutions)

    def explain_row(self, row: Sequence[str]) -> list[FeatureOutcome] | str:
        """Every mapped feature of one row with its source cells, for the dry run (the one
        place where values are shown), or why the row cannot be read at all."""
        if len(row) != self.width:
            return f"has {len(row)} fields, the header has {self.width}"
        outcomes: list[FeatureOutcome] = []
        values: list[str | None] = []
        for index, plan in enumerate(self._plans):
            if plan is None:
                values.append(None)
                continue
            cells = tuple(row[i].strip() for i in plan.indices)
            feature = self._identifiers[index]
            try:
                value, status = plan.evaluate(row)
                outcome = FeatureOutcome(feature, plan.source.columns, cells, value, status)
            except RowError as exc:
                value = None
                invalid: Status = "invalid" if plan.source.on_invalid == "missing" else "rejected"
                outcome = FeatureOutcome(
                    feature, plan.source.columns, cells, None, invalid, exc.message
                )
            values.append(value)
            outcomes.append(outcome)
        blanked = {self._identifiers[i] for i in self._name_rule(values)}
        return [
            FeatureOutcome(o.feature, o.columns, o.cells, None, "placeholder")
            if o.feature in blanked and o.value is not None
            else o
            for o in outcomes
        ]

    def schema_values(self, outcomes: Sequence[FeatureOutcome]) -> list[str | None]:
        """The schema-ordered values of an explained row (what :meth:`map_row` gives)."""
        by_feature = {o.feature: o.value for o in outcomes}
        return [by_feature.get(identifier) for identifier in self._identifiers]


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
