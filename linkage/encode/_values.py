"""clkhash 0.18.3's rules for one value, before any hashing: is it valid for its feature's
format, how is it formatted (integers as ``str(int(v))``, dates as ``%Y%m%d``), and which
tokens does it give (n-grams padded with ``n - 1`` spaces each side, positional ones as
``"{i} {gram}"``; the whole value; numeric neighbourhood tokens). The encoder
(:mod:`linkage.encode._encoder`) hashes these tokens; :class:`ValueChecker` runs the same
rules without a secret, for dry runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Final

from linkage.encode._schema import (
    DateFormat,
    EnumFormat,
    ExactComparison,
    Feature,
    IgnoredFeature,
    IntegerFormat,
    LinkageSchema,
    NgramComparison,
    NumericComparison,
    PatternFormat,
    StringFormat,
)

__all__ = ["InvalidValue", "RowProblem", "ValueChecker", "formatter", "tokenize", "validator"]

_DATE_OUTPUT_FORMAT: Final = "%Y%m%d"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why one row of a batch could not be encoded: its index, feature and a reason (no value)."""

    row_index: int
    feature: str
    reason: str


class InvalidValue:
    """A cached verdict that a value cannot be encoded, with the reason."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def tokenize(feature: Feature, formatted: str) -> list[str]:
    """The tokens clkhash derives from an already formatted value (may raise ValueError)."""
    if not formatted:
        return []
    comparison = feature.hashing.comparison
    if isinstance(comparison, NgramComparison):
        n = comparison.n
        word = formatted
        if n > 1:
            pad = " " * (n - 1)
            word = f"{pad}{word}{pad}"
        count = len(word) - n + 1
        if comparison.positional:
            return [f"{i + 1} {word[i : i + n]}" for i in range(count)]
        return [word[i : i + n] for i in range(count)]
    if isinstance(comparison, ExactComparison):
        return [formatted]
    return _numeric_tokens(comparison, formatted)


def _numeric_tokens(comparison: NumericComparison, word: str) -> list[str]:
    precision = comparison.fractional_precision
    interval = comparison.distance_interval
    try:
        value = int(word, base=10)
        if precision > 0:
            value *= 10**precision
    except ValueError:
        as_float = float(word)
        value = round(as_float * 10**precision) if precision > 0 else int(as_float)
    value = value * 2 * comparison.resolution
    residue = value % interval
    if residue == 0:
        pass
    elif residue < interval / 2:
        value = value - residue
    else:
        value = value + (interval - residue)
    resolution = comparison.resolution
    return [str(value + i * interval) for i in range(-resolution, resolution + 1)]


def validator(feature: Feature) -> Callable[[str], str | None]:
    """A function returning why a (non-missing) value is invalid, or None, as clkhash checks."""
    encoding = feature.encoding
    fmt = feature.format

    def encodable(value: str) -> str | None:
        try:
            value.encode(encoding)
        except UnicodeEncodeError:
            return f"cannot be encoded in {encoding}"
        return None

    if isinstance(fmt, PatternFormat):
        regex = fmt.regex

        def check_pattern(value: str) -> str | None:
            problem = encodable(value)
            if problem is None and regex.fullmatch(value) is None:
                problem = "does not match the feature's pattern"
            return problem

        return check_pattern
    if isinstance(fmt, StringFormat):
        string_format = fmt

        def check_string(value: str) -> str | None:
            problem = encodable(value)
            if problem is not None:
                return problem
            if string_format.min_length is not None and len(value) < string_format.min_length:
                return f"shorter than {string_format.min_length} characters"
            if string_format.max_length is not None and len(value) > string_format.max_length:
                return f"longer than {string_format.max_length} characters"
            if string_format.case == "upper" and value.upper() != value:
                return "not upper case"
            if string_format.case == "lower" and value.lower() != value:
                return "not lower case"
            return None

        return check_string
    if isinstance(fmt, IntegerFormat):
        integer_format = fmt

        def check_integer(value: str) -> str | None:
            try:
                number = int(value, base=10)
            except ValueError:
                return "not an integer"
            if integer_format.minimum is not None and number < integer_format.minimum:
                return f"less than the minimum {integer_format.minimum}"
            if integer_format.maximum is not None and number > integer_format.maximum:
                return f"greater than the maximum {integer_format.maximum}"
            return None

        return check_integer
    if isinstance(fmt, DateFormat):
        date_format = fmt.format

        def check_date(value: str) -> str | None:
            if _format_date(value, date_format) is None:
                return f"not a valid date in the format {date_format}"
            return None

        return check_date
    assert isinstance(fmt, EnumFormat)
    allowed = frozenset(fmt.values)

    def check_enum(value: str) -> str | None:
        problem = encodable(value)
        if problem is None and value not in allowed:
            problem = "not one of the feature's values"
        return problem

    return check_enum


_ISO_DATE: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


@lru_cache(maxsize=4096)
def _format_date(value: str, date_format: str) -> str | None:
    """clkhash's ``strftime(strptime(value, date_format), "%Y%m%d")``, or None if invalid.

    ``%Y-%m-%d`` with zero-padded digits and a year >= 1000 takes an exact fast path
    (strptime accepts every such real date and strftime prints it unchanged); anything
    else, including unpadded fields and years < 1000 (which glibc prints unpadded),
    goes through strptime/strftime exactly as clkhash does.
    """
    if date_format == "%Y-%m-%d":
        match = _ISO_DATE.fullmatch(value)
        if match is not None and match[1] >= "1000":
            try:
                date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                return None
            return match[1] + match[2] + match[3]
    try:
        parsed = datetime.strptime(value, date_format)
    except ValueError:
        return None
    return parsed.strftime(_DATE_OUTPUT_FORMAT)


def formatter(feature: Feature) -> Callable[[str], str]:
    fmt = feature.format
    if isinstance(fmt, IntegerFormat):
        return lambda value: str(int(value, base=10))
    if isinstance(fmt, DateFormat):
        date_format = fmt.format

        def format_date(value: str) -> str:
            formatted = _format_date(value, date_format)
            if formatted is None:
                raise ValueError("invalid date")
            return formatted

        return format_date
    return lambda value: value


class ValueChecker:
    """The encoder's own checks of a row's values, without a secret and without hashing.

    For dry runs (``agency-client schema validate --input``): :meth:`problems` lists every
    value of a row that :class:`ClkEncoder` would refuse (the missing-value sentinel,
    the feature's format and its formatting, numeric tokens), with the same reasons, so a
    row the checker passes is a row the encoder encodes.
    """

    def __init__(self, schema: LinkageSchema) -> None:
        self._width = len(schema.features)
        self._checks: list[
            tuple[int, Feature, str | None, Callable[[str], str | None], Callable[[str], str]]
        ] = []
        for index, feature in enumerate(schema.features):
            if isinstance(feature, IgnoredFeature):
                continue
            missing = feature.hashing.missing_value
            self._checks.append(
                (
                    index,
                    feature,
                    None if missing is None else missing.sentinel,
                    validator(feature),
                    formatter(feature),
                )
            )

    def problems(self, row: Sequence[str | None], row_index: int = 0) -> list[RowProblem]:
        """Every value of ``row`` (schema order, ``None`` = missing) that cannot be encoded."""
        if len(row) != self._width:
            return [
                RowProblem(row_index, "", f"has {len(row)} values, the schema has {self._width}")
            ]
        found: list[RowProblem] = []
        for index, feature, sentinel, validate, format_value in self._checks:
            value = row[index]
            if value is None:
                value = "" if sentinel is None else sentinel
            if sentinel is not None and value == sentinel:
                continue
            reason = validate(value)
            if reason is None:
                try:
                    formatted = format_value(value)
                except ValueError:
                    formatted, reason = "", "cannot be formatted"
                try:
                    tokenize(feature, formatted)
                except (ValueError, OverflowError):
                    reason = "not a finite number"
            if reason is not None:
                found.append(RowProblem(row_index, feature.identifier, reason))
        return found
