"""Column transforms of an export mapping: split, match, join, first non-empty, substring,
keep the first characters, map codes. Declared per feature in agency.toml, applied in order.

A feature reads one or more source columns (``column`` / ``columns``). Its
``transforms`` list then runs, step by step, on the list of cell values:

* ``join`` and ``first_non_empty`` combine the values into one;
* every other step changes each value on its own (so ``keep_first`` before ``join``
  shortens each column, after it the joined value).

Several values left after the last step are joined with a space, as ``columns`` always
did. Then ``name_part`` and the feature's normaliser run. Example (a police export with
one ``ADDRESS`` column, "38454 MELVIN LAKE, ALANCHESTER, NV 53062")::

    [input.patterns]
    address = '^(?P<street>[^,]+),\\s*(?P<city>[^,]+),\\s*(?P<state>[A-Z]{2})\\s+(?P<zip>\\d{5})'

    [features.suburb]
    column = "ADDRESS"
    transforms = [{ op = "match", pattern_name = "address", group = "city" }]

Steps (``op`` and its keys):

``split``: ``separator`` (text) or ``pattern`` (a regular expression), ``part`` (1 is the
    first part, -1 the last); a part the value does not have is missing.
``match``: ``pattern`` or ``pattern_name`` (an entry of ``[input.patterns]``), ``group`` (a
    group name or number; default 0, the whole match). The pattern is searched for in the
    value (anchor it with ``^`` and ``$`` to match the whole value); a value it does not
    match is a bad value (``on_invalid`` decides), a group that matched nothing is missing.
``join``: ``separator`` (default one space); empty values are skipped.
``first_non_empty``: the first value that is not empty (after ``missing_values`` and the
    built-in placeholders: a mobile number ``000-000-0000`` falls through to the home phone).
``substring``: ``start`` (1 is the first character, -4 the fourth from the end), ``length``
    (default: to the end).
``keep_first``: ``characters``: keep the first N characters (ZIP+4 ``97201-1234`` -> ``97201``).
``map``: ``table``, an inline table of codes (``{ "1" = "m", "2" = "f", "9" = "" }``) or a
    built-in one (:data:`BUILTIN_TABLES`: ``us-states``, ``au-states``, ``iso-5218-sex``);
    codes compare ignoring case, accents and extra spaces; a code mapped to ``""`` is
    missing. ``unmapped``: ``keep`` (default), ``missing`` or ``reject``.

Problems raised while applying a step are :class:`~linkage.errors.RowError` reasons that
name the step and the fix (``transforms[0] (match): the value does not match the pattern
(or set on_invalid = "missing")``), never a value. Configuration problems name their path
(``features.suburb.transforms[0].group``) and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, TypeAlias

from linkage.encode import fold_text
from linkage.errors import Problem, RowError
from linkage.validation import close_match as _close_match
from linkage.validation import unknown_key_reason

__all__ = [
    "BUILTIN_TABLES",
    "OPERATIONS",
    "FirstNonEmpty",
    "Join",
    "KeepFirst",
    "MapCodes",
    "Match",
    "Split",
    "Substring",
    "Transform",
    "apply_transforms",
    "parse_patterns",
    "parse_transforms",
]

Unmapped: TypeAlias = Literal["keep", "missing", "reject"]


def _us_states() -> dict[str, str]:
    names = (
        "Alabama AL|Alaska AK|Arizona AZ|Arkansas AR|California CA|Colorado CO|Connecticut CT|"
        "Delaware DE|District of Columbia DC|Florida FL|Georgia GA|Hawaii HI|Idaho ID|"
        "Illinois IL|Indiana IN|Iowa IA|Kansas KS|Kentucky KY|Louisiana LA|Maine ME|Maryland MD|"
        "Massachusetts MA|Michigan MI|Minnesota MN|Mississippi MS|Missouri MO|Montana MT|"
        "Nebraska NE|Nevada NV|New Hampshire NH|New Jersey NJ|New Mexico NM|New York NY|"
        "North Carolina NC|North Dakota ND|Ohio OH|Oklahoma OK|Oregon OR|Pennsylvania PA|"
        "Rhode Island RI|South Carolina SC|South Dakota SD|Tennessee TN|Texas TX|Utah UT|"
        "Vermont VT|Virginia VA|Washington WA|West Virginia WV|Wisconsin WI|Wyoming WY|"
        "American Samoa AS|Guam GU|Northern Mariana Islands MP|Puerto Rico PR|"
        "United States Virgin Islands VI|U.S. Virgin Islands VI|Washington DC DC|"
        "Washington D.C. DC"
    )
    table: dict[str, str] = {}
    for entry in names.split("|"):
        name, code = entry.rsplit(" ", 1)
        table[name] = code.lower()
    return table


#: Built-in code tables for ``{ op = "map", table = "NAME" }``: name -> {code: value}.
BUILTIN_TABLES: Final[dict[str, dict[str, str]]] = {
    # US state, district and territory names -> USPS codes ("Oregon" -> "or"); codes
    # themselves are unmapped and kept.
    "us-states": _us_states(),
    # Australian state and territory names -> their abbreviations ("New South Wales" -> "nsw").
    "au-states": {
        "New South Wales": "nsw",
        "Victoria": "vic",
        "Queensland": "qld",
        "South Australia": "sa",
        "Western Australia": "wa",
        "Tasmania": "tas",
        "Northern Territory": "nt",
        "Australian Capital Territory": "act",
        "Jervis Bay Territory": "jbt",
    },
    # ISO/IEC 5218 sex codes: 0 not known and 9 not applicable are missing.
    "iso-5218-sex": {"0": "", "1": "m", "2": "f", "9": ""},
}


@dataclass(frozen=True, slots=True)
class Split:
    """Split by a separator or a regular expression and keep one part (1-based)."""

    part: int
    separator: str | None = None
    pattern: re.Pattern[str] | None = None

    op: ClassVar[str] = "split"

    def apply(self, value: str) -> str:
        parts = (
            self.pattern.split(value) if self.pattern is not None else value.split(self.separator)
        )
        index = self.part - 1 if self.part > 0 else self.part
        if not -len(parts) <= index < len(parts):
            return ""
        return (parts[index] or "").strip()

    def describe(self) -> str:
        by = (
            f"pattern {self.pattern.pattern!r}"
            if self.pattern is not None
            else f"{self.separator!r}"
        )
        return f"split by {by}, part {self.part}"


@dataclass(frozen=True, slots=True)
class Match:
    """Search for a regular expression and keep one group."""

    pattern: re.Pattern[str]
    group: str | int = 0
    pattern_name: str | None = None

    op: ClassVar[str] = "match"

    def apply(self, value: str) -> str:
        found = self.pattern.search(value)
        if found is None:
            raise RowError('the value does not match the pattern (or set on_invalid = "missing")')
        return (found.group(self.group) or "").strip()

    def describe(self) -> str:
        source = (
            f"pattern {self.pattern_name}"
            if self.pattern_name is not None
            else repr(self.pattern.pattern)
        )
        return f"match {source}, group {self.group}"


@dataclass(frozen=True, slots=True)
class Join:
    """Join the values with a separator, skipping empty ones."""

    separator: str = " "

    op: ClassVar[str] = "join"

    def describe(self) -> str:
        return f"join with {self.separator!r}"


@dataclass(frozen=True, slots=True)
class FirstNonEmpty:
    """The first value that is not empty."""

    op: ClassVar[str] = "first_non_empty"

    def describe(self) -> str:
        return "first non-empty"


@dataclass(frozen=True, slots=True)
class Substring:
    """Characters from ``start`` (1-based; negative from the end), ``length`` of them."""

    start: int
    length: int | None = None

    op: ClassVar[str] = "substring"

    def apply(self, value: str) -> str:
        begin = self.start - 1 if self.start > 0 else max(0, len(value) + self.start)
        end = None if self.length is None else begin + self.length
        return value[begin:end].strip()

    def describe(self) -> str:
        length = "to the end" if self.length is None else f"{self.length} characters"
        return f"substring from {self.start}, {length}"


@dataclass(frozen=True, slots=True)
class KeepFirst:
    """The first N characters."""

    characters: int

    op: ClassVar[str] = "keep_first"

    def apply(self, value: str) -> str:
        return value[: self.characters].strip()

    def describe(self) -> str:
        return f"keep the first {self.characters} characters"


@dataclass(frozen=True)
class MapCodes:
    """Map codes through a table (compared ignoring case, accents and extra spaces)."""

    entries: tuple[tuple[str, str], ...]
    unmapped: Unmapped = "keep"
    table_name: str | None = None

    op: ClassVar[str] = "map"

    def __post_init__(self) -> None:
        # Not a field: left out of repr, equality and the mapping signature.
        object.__setattr__(self, "_lookup", {fold_text(k): v for k, v in self.entries})

    def apply(self, value: str) -> str:
        lookup: dict[str, str] = self.__dict__["_lookup"]
        mapped = lookup.get(fold_text(value))
        if mapped is not None:
            return mapped
        if self.unmapped == "missing":
            return ""
        if self.unmapped == "reject":
            raise RowError('the code is not in the map\'s table (add it, or set unmapped = "keep")')
        return value

    def describe(self) -> str:
        table = (
            f"table {self.table_name}"
            if self.table_name is not None
            else f"an inline table of {len(self.entries)} codes"
        )
        return f"map through {table}, unmapped codes: {self.unmapped}"


Transform: TypeAlias = Split | Match | Join | FirstNonEmpty | Substring | KeepFirst | MapCodes

#: Each operation and the keys its step table takes besides ``op``.
OPERATIONS: Final[dict[str, tuple[str, ...]]] = {
    "split": ("separator", "pattern", "part"),
    "match": ("pattern", "pattern_name", "group"),
    "join": ("separator",),
    "first_non_empty": (),
    "substring": ("start", "length"),
    "keep_first": ("characters",),
    "map": ("table", "unmapped"),
}


def apply_transforms(
    steps: Sequence[Transform],
    values: list[str],
    is_missing: Callable[[str], bool] | None = None,
) -> list[str]:
    """Run ``steps`` over the cell values of one feature; every value comes out stripped.

    ``is_missing(value) -> bool`` (optional) empties every value, before the first step and
    after each, that is a declared missing value or a placeholder, so that
    ``first_non_empty`` skips it.

    :raises RowError: naming the step (``transforms[1] (match): ...``), never a value.
    """
    if is_missing is not None:
        values = ["" if v and is_missing(v) else v for v in values]
    for index, step in enumerate(steps):
        if isinstance(step, Join):
            values = [step.separator.join(v for v in values if v)]
        elif isinstance(step, FirstNonEmpty):
            values = [next((v for v in values if v), "")]
        else:
            try:
                values = [step.apply(v) if v else "" for v in values]
            except RowError as exc:
                raise RowError(f"transforms[{index}] ({step.op}): {exc.message}") from None
        if is_missing is not None:
            values = ["" if v and is_missing(v) else v for v in values]
    return values


# -- parsing ------------------------------------------------------------------------------


def _compile(pattern: object, where: str, problems: list[Problem]) -> re.Pattern[str] | None:
    if not isinstance(pattern, str) or not pattern:
        problems.append(Problem(where, "must be a regular expression (a non-empty string)"))
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        position = "" if exc.pos is None else f" at character {exc.pos + 1}"
        problems.append(
            Problem(
                where,
                f"is not a valid regular expression ({exc.msg}{position}); in TOML, write it "
                "in single quotes ('...') so that backslashes stay as they are",
            )
        )
        return None


def parse_patterns(spec: object, problems: list[Problem]) -> dict[str, re.Pattern[str]]:
    """``[input.patterns]``: named regular expressions for ``match`` steps."""
    if not isinstance(spec, dict):
        problems.append(
            Problem("input.patterns", "must be a table of names and regular expressions")
        )
        return {}
    patterns: dict[str, re.Pattern[str]] = {}
    for name, text in spec.items():
        compiled = _compile(text, f"input.patterns.{name}", problems)
        if compiled is not None:
            patterns[name] = compiled
    return patterns


def _int(
    step: Mapping[str, Any],
    key: str,
    where: str,
    problems: list[Problem],
    *,
    required: bool,
    minimum: int | None = None,
    nonzero: bool = False,
    hint: str = "",
) -> int | None:
    if key not in step:
        if required:
            problems.append(Problem(f"{where}.{key}", f"is required{hint}"))
        return None
    value = step[key]
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(Problem(f"{where}.{key}", f"must be a whole number{hint}"))
        return None
    if (minimum is not None and value < minimum) or (nonzero and value == 0):
        bound = f"at least {minimum}" if minimum is not None else "not 0"
        problems.append(Problem(f"{where}.{key}", f"must be {bound}{hint}"))
        return None
    return value


def _parse_step(
    step: Mapping[str, Any],
    where: str,
    patterns: Mapping[str, re.Pattern[str]],
    problems: list[Problem],
) -> Transform | None:
    op = step.get("op")
    if not isinstance(op, str) or op not in OPERATIONS:
        known = ", ".join(OPERATIONS)
        if op is None:
            problems.append(Problem(f"{where}.op", f"is required: one of {known}"))
        else:
            close = _close_match(str(op), tuple(OPERATIONS))
            hint = f"did you mean {close}? " if close else ""
            problems.append(Problem(f"{where}.op", f"unknown operation; {hint}use one of {known}"))
        return None
    allowed = OPERATIONS[op]
    before = len(problems)
    problems.extend(
        Problem(f"{where}.{key}", unknown_key_reason(key, allowed, f"a {op} step"))
        for key in step
        if key != "op" and key not in allowed
    )
    if op == "split":
        return _parse_split(step, where, problems, before)
    if op == "match":
        return _parse_match(step, where, patterns, problems, before)
    if op == "join":
        separator = step.get("separator", " ")
        if not isinstance(separator, str):
            problems.append(Problem(f"{where}.separator", "must be a string"))
        return Join(separator) if len(problems) == before else None
    if op == "first_non_empty":
        return FirstNonEmpty() if len(problems) == before else None
    if op == "substring":
        start = _int(
            step, "start", where, problems, required=True, nonzero=True,
            hint=" (1 is the first character, -1 the last)",
        )  # fmt: skip
        length = _int(step, "length", where, problems, required=False, minimum=1)
        if len(problems) != before or start is None:
            return None
        return Substring(start, length)
    if op == "keep_first":
        characters = _int(step, "characters", where, problems, required=True, minimum=1)
        if len(problems) != before or characters is None:
            return None
        return KeepFirst(characters)
    return _parse_map(step, where, problems, before)


def _parse_split(
    step: Mapping[str, Any], where: str, problems: list[Problem], before: int
) -> Split | None:
    separator: str | None = None
    pattern: re.Pattern[str] | None = None
    if ("separator" in step) == ("pattern" in step):
        problems.append(
            Problem(
                where,
                "a split step names exactly one of separator (text) or pattern "
                "(a regular expression)",
            )
        )
    elif "separator" in step:
        if isinstance(step["separator"], str) and step["separator"]:
            separator = step["separator"]
        else:
            problems.append(Problem(f"{where}.separator", "must be a non-empty string"))
    else:
        pattern = _compile(step["pattern"], f"{where}.pattern", problems)
    part = _int(
        step, "part", where, problems, required=True, nonzero=True,
        hint=" (1 is the first part, -1 the last)",
    )  # fmt: skip
    if len(problems) != before or part is None:
        return None
    return Split(part=part, separator=separator, pattern=pattern)


def _parse_match(
    step: Mapping[str, Any],
    where: str,
    patterns: Mapping[str, re.Pattern[str]],
    problems: list[Problem],
    before: int,
) -> Match | None:
    compiled: re.Pattern[str] | None = None
    name: str | None = None
    if ("pattern" in step) == ("pattern_name" in step):
        problems.append(
            Problem(
                where,
                "a match step names exactly one of pattern (a regular expression) or "
                "pattern_name (an entry of [input.patterns])",
            )
        )
    elif "pattern" in step:
        compiled = _compile(step["pattern"], f"{where}.pattern", problems)
    else:
        name = step["pattern_name"]
        if not isinstance(name, str) or name not in patterns:
            defined = ", ".join(patterns) or "none is defined"
            problems.append(
                Problem(
                    f"{where}.pattern_name",
                    f"names no entry of [input.patterns] (defined: {defined}); add it there "
                    "or write the expression as pattern",
                )
            )
            name = None
        else:
            compiled = patterns[name]
    group: str | int = step.get("group", 0)
    if isinstance(group, bool) or not isinstance(group, str | int):
        problems.append(Problem(f"{where}.group", "must be a group name or number"))
    elif compiled is not None:
        if isinstance(group, str) and group not in compiled.groupindex:
            known = ", ".join(compiled.groupindex) or "it has no named groups"
            problems.append(
                Problem(
                    f"{where}.group",
                    f"is not a named group of the pattern ({known}); name a group with "
                    "(?P<name>...)",
                )
            )
        elif isinstance(group, int) and not 0 <= group <= compiled.groups:
            problems.append(
                Problem(
                    f"{where}.group",
                    f"the pattern has {compiled.groups} groups; use 0 (the whole match) to "
                    f"{compiled.groups}",
                )
            )
    if len(problems) != before or compiled is None:
        return None
    return Match(pattern=compiled, group=group, pattern_name=name)


def _parse_map(
    step: Mapping[str, Any], where: str, problems: list[Problem], before: int
) -> MapCodes | None:
    table = step.get("table")
    entries: tuple[tuple[str, str], ...] = ()
    table_name: str | None = None
    if isinstance(table, str):
        if table in BUILTIN_TABLES:
            table_name = table
            entries = tuple(BUILTIN_TABLES[table].items())
        else:
            problems.append(
                Problem(
                    f"{where}.table",
                    "is not a built-in table (" + ", ".join(BUILTIN_TABLES) + "); or write "
                    'the codes inline: table = { "1" = "m", "2" = "f" }',
                )
            )
    elif isinstance(table, dict) and table:
        bad = [k for k, v in table.items() if not isinstance(v, str)]
        if bad:
            problems.append(
                Problem(
                    f"{where}.table",
                    f"{len(bad)} codes map to something other than text; quote every "
                    'value ("1" = "m"), and use "" for missing',
                )
            )
        else:
            entries = tuple((str(k), str(v)) for k, v in table.items())
            folded = [fold_text(k) for k, _ in entries]
            if len(set(folded)) != len(folded):
                problems.append(
                    Problem(
                        f"{where}.table",
                        "has codes that differ only in case, accents or spaces; keep one of each",
                    )
                )
    else:
        problems.append(
            Problem(
                f"{where}.table",
                "is required: a built-in table (" + ", ".join(BUILTIN_TABLES) + ") or an "
                'inline table of codes, { "1" = "m", "2" = "f" }',
            )
        )
    unmapped = step.get("unmapped", "keep")
    if unmapped not in ("keep", "missing", "reject"):
        problems.append(Problem(f"{where}.unmapped", "must be keep, missing or reject"))
    if len(problems) != before:
        return None
    return MapCodes(
        entries=entries,
        unmapped="missing"
        if unmapped == "missing"
        else "reject"
        if unmapped == "reject"
        else "keep",
        table_name=table_name,
    )


def parse_transforms(
    spec: object,
    where: str,
    patterns: Mapping[str, re.Pattern[str]],
    problems: list[Problem],
) -> tuple[Transform, ...]:
    """A feature's ``transforms`` list; every problem is appended with its path."""
    if not isinstance(spec, list):
        problems.append(
            Problem(
                where,
                "must be a list of steps, e.g. "
                'transforms = [{ op = "keep_first", characters = 5 }]',
            )
        )
        return ()
    steps: list[Transform] = []
    for index, step in enumerate(spec):
        step_where = f"{where}[{index}]"
        if not isinstance(step, dict):
            problems.append(Problem(step_where, 'must be a table, e.g. { op = "join" }'))
            continue
        parsed = _parse_step(step, step_where, patterns, problems)
        if parsed is not None:
            steps.append(parsed)
    return tuple(steps)
