"""Comparison levels: how a pair's per-segment Dice similarities become one level per field.

A comparison looks at one field segment (its *base*) and, optionally, at segments derived
from the same field (a phonetic key, a date with day and month sorted). Its levels are
ordered rules ``(segment, min_dice)``; a pair is at the first level whose rule holds (the
segment's Dice is at least ``min_dice``; 1.0 means "identical"), else at the last level
("none of these"). The simple form cuts the base segment's Dice by descending cut points:
level 0 is ``dice >= cut_points[0]``, level ``k`` is ``cut_points[k-1] > dice >=
cut_points[k]``. A missing base segment (NaN) is level ``-1``: it contributes weight 0,
neither agreement nor disagreement; a rule on a derived segment that is missing on either
side does not hold.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from numba import prange

from linkage.errors import ConfigError, InvalidInputError, Problem
from linkage.match._kernel_primitives import function_variant, jit_kernel
from linkage.types import Float64Array

__all__ = [
    "Comparison",
    "LevelArray",
    "LevelRule",
    "comparison_levels",
    "comparison_levels_reference",
    "similarity_columns",
]

#: Comparison levels of pairs, ``int8[pairs, comparisons]`` (-1: the base segment missing).
LevelArray = npt.NDArray[np.int8]


@dataclass(frozen=True, slots=True)
class LevelRule:
    """A comparison level that holds when segment ``segment`` of the two records has a Dice
    of at least ``min_dice`` (1.0: identical), and so does every ``(segment, min_dice)``
    of ``also`` (a joint level, e.g. same family name *and* same street: correlated
    agreements whose u is measured together instead of multiplied)."""

    segment: str
    min_dice: float
    also: tuple[tuple[str, float], ...] = ()

    def conditions(self) -> tuple[tuple[str, float], ...]:
        return ((self.segment, self.min_dice), *self.also)

    def label(self, base: str, previous_on_base: float | None) -> str:
        def one(segment: str, min_dice: float) -> str:
            where = "" if segment == base else f"{segment} "
            return f"{where}identical" if min_dice >= 1.0 else f"{where}dice >= {min_dice:g}"

        if self.also:
            return " and ".join(one(s, d) for s, d in self.conditions())
        if self.min_dice >= 1.0 or previous_on_base is None or self.segment != base:
            return one(self.segment, self.min_dice)
        return f"{self.min_dice:g} <= dice < {previous_on_base:g}"


@dataclass(frozen=True, slots=True)
class Comparison:
    """How one field's agreement is cut into comparison levels.

    ``Comparison(segment, cut_points)`` cuts the base segment's Dice; ``rules`` (ordered,
    first match wins) may also name derived segments, e.g. ``(LevelRule("given_name", 1.0),
    LevelRule("given_key", 1.0), LevelRule("given_name", 0.8))``: identical names, then
    names of one nickname and sound, then similar spellings. Rules on the base segment must
    have strictly descending ``min_dice``. ``term_frequency`` marks a comparison whose
    identical-base level may be scored with the value's own frequency (module docstring).
    """

    segment: str
    cut_points: tuple[float, ...] = ()
    rules: tuple[LevelRule, ...] = ()
    term_frequency: bool = False

    def __post_init__(self) -> None:
        where = f"comparison {self.segment}"
        problems: list[Problem] = []
        cuts = tuple(float(c) for c in self.cut_points)
        rules = tuple(
            LevelRule(
                str(r.segment),
                float(r.min_dice),
                tuple((str(seg), float(d)) for seg, d in r.also),
            )
            for r in self.rules
        )
        if cuts and rules:
            problems.append(Problem(where, "give cut points or rules, not both"))
        if not rules:
            rules = tuple(LevelRule(self.segment, c) for c in cuts)
        if not rules:
            problems.append(Problem(where, "needs a cut point"))
        if any(not 0.0 < d <= 1.0 for r in rules for _, d in r.conditions()):
            problems.append(Problem(where, "cut points must be in (0, 1]"))
        on_base = [r.min_dice for r in rules if r.segment == self.segment and not r.also]
        if not on_base:
            problems.append(Problem(where, "needs a rule on its own segment"))
        if any(a <= b for a, b in itertools.pairwise(on_base)):
            problems.append(Problem(where, "cut points must be strictly descending"))
        if len(set(rules)) != len(rules):
            problems.append(Problem(where, "rules must be distinct"))
        if problems:
            raise ConfigError("invalid comparison", problems=problems)
        object.__setattr__(self, "rules", rules)
        simple = all(r.segment == self.segment and not r.also for r in rules)
        object.__setattr__(self, "cut_points", tuple(r.min_dice for r in rules) if simple else ())

    @property
    def levels(self) -> int:
        """Number of levels (missing not counted)."""
        return len(self.rules) + 1

    @property
    def segments(self) -> tuple[str, ...]:
        """The segments its rules read, the base first."""
        out = [self.segment]
        for rule in self.rules:
            for segment, _ in rule.conditions():
                if segment not in out:
                    out.append(segment)
        return tuple(out)

    @property
    def identical_level(self) -> int | None:
        """The level of identical base segments, if a rule gives one."""
        for level, rule in enumerate(self.rules):
            if rule.segment == self.segment and rule.min_dice >= 1.0 and not rule.also:
                return level
        return None

    def level_labels(self) -> tuple[str, ...]:
        labels = []
        previous: float | None = None
        for rule in self.rules:
            labels.append(rule.label(self.segment, previous))
            if rule.segment == self.segment and not rule.also:
                previous = rule.min_dice
        on_base = [r.min_dice for r in self.rules if r.segment == self.segment and not r.also]
        labels.append(f"dice < {on_base[-1]:g}" if len(on_base) == len(self.rules) else "other")
        return tuple(labels)


def similarity_columns(comparisons: Sequence[Comparison]) -> tuple[str, ...]:
    """The segments whose Dice :func:`comparison_levels` reads, in its column order: every
    comparison's base segment in order, then the derived segments their rules name."""
    names = [c.segment for c in comparisons]
    for comparison in comparisons:
        for name in comparison.segments:
            if name not in names:
                names.append(name)
    return tuple(names)


#: Below this many pairs the serial levels kernel runs (a lookup scores a few hundred).
_SERIAL_BELOW = 4096


def _levels_impl(
    sims: Any,
    base: Any,
    rule_start: Any,
    condition_start: Any,
    condition_column: Any,
    condition_min: Any,
    out: Any,
) -> None:  # pragma: no cover - compiled; see comparison_levels_reference
    """``out[p, c]``: the first rule of comparison ``c`` (rules ``rule_start[c] ..
    rule_start[c + 1]``) whose conditions (``condition_start[r] .. condition_start[r + 1]``:
    column ``condition_column[k]`` at least ``condition_min[k]``) all hold for pair ``p``;
    the number of its rules when none holds, ``-1`` then if its base column is NaN."""
    for p in prange(sims.shape[0]):
        for c in range(base.shape[0]):
            # every rule and condition is evaluated, whichever holds (as the numpy twin:
            # a lookup's time must not tell how its pairs agree)
            level = rule_start[c + 1] - rule_start[c]
            decided = False
            for r in range(rule_start[c], rule_start[c + 1]):
                holds = not decided
                for k in range(condition_start[r], condition_start[r + 1]):
                    holds &= sims[p, condition_column[k]] >= condition_min[k]
                level = r - rule_start[c] if holds else level
                decided |= holds
            missing = np.isnan(sims[p, base[c]]) and not decided
            out[p, c] = -1 if missing else level


_levels_parallel = jit_kernel(parallel=True)(function_variant(_levels_impl, "_levels_parallel"))
_levels_serial = jit_kernel()(function_variant(_levels_impl, "_levels_serial"))


def comparison_levels(similarities: Float64Array, comparisons: Sequence[Comparison]) -> LevelArray:
    """Levels ``int8[pairs, comparisons]`` of a similarity matrix whose columns are
    :func:`similarity_columns` of the comparisons: ``-1`` where the base segment is
    missing and no rule holds (a joint level may hold on other segments). One pass over
    each pair (a numba kernel); :func:`comparison_levels_reference` is the numpy twin."""
    sims = np.ascontiguousarray(similarities, dtype=np.float64)
    plan = _level_plan(tuple(comparisons))
    if sims.ndim != 2 or sims.shape[1] != plan.width:
        raise InvalidInputError(
            f"similarities must be [pairs, {plan.width}], got shape {sims.shape}"
        )
    out = np.empty((sims.shape[0], plan.base.shape[0]), dtype=np.int8)
    if sims.shape[0]:
        kernel = _levels_serial if sims.shape[0] < _SERIAL_BELOW else _levels_parallel
        kernel(sims, plan.base, plan.rule_start, plan.condition_start, plan.condition_column,
               plan.condition_min, out)  # fmt: skip
    return out


@dataclass(frozen=True, slots=True, eq=False)
class _LevelPlan:
    """The comparisons' rules as the levels kernel reads them (see :func:`_levels_impl`)."""

    width: int
    base: npt.NDArray[np.int64]
    rule_start: npt.NDArray[np.int64]
    condition_start: npt.NDArray[np.int64]
    condition_column: npt.NDArray[np.int64]
    condition_min: Float64Array


@functools.lru_cache(maxsize=64)
def _level_plan(comparisons: tuple[Comparison, ...]) -> _LevelPlan:
    """Built once per set of comparisons (the clustering scores thousands of small sets)."""
    columns = similarity_columns(comparisons)
    position = {name: i for i, name in enumerate(columns)}
    rules = [rule for comparison in comparisons for rule in comparison.rules]
    conditions = [condition for rule in rules for condition in rule.conditions()]
    return _LevelPlan(
        width=len(columns),
        base=np.array([position[c.segment] for c in comparisons], dtype=np.int64),
        rule_start=np.cumsum([0] + [len(c.rules) for c in comparisons]).astype(np.int64),
        condition_start=np.cumsum([0] + [len(r.conditions()) for r in rules]).astype(np.int64),
        condition_column=np.array([position[name] for name, _ in conditions], dtype=np.int64),
        condition_min=np.array([float(value) for _, value in conditions], dtype=np.float64),
    )


def comparison_levels_reference(
    similarities: Float64Array, comparisons: Sequence[Comparison]
) -> LevelArray:
    """:func:`comparison_levels` in plain numpy (for tests)."""
    sims = np.asarray(similarities, dtype=np.float64)
    columns = similarity_columns(comparisons)
    if sims.ndim != 2 or sims.shape[1] != len(columns):
        raise InvalidInputError(
            f"similarities must be [pairs, {len(columns)}], got shape {sims.shape}"
        )
    position = {name: i for i, name in enumerate(columns)}
    out = np.empty((sims.shape[0], len(comparisons)), dtype=np.int8)
    for column, comparison in enumerate(comparisons):
        base = sims[:, position[comparison.segment]]
        level = np.full(sims.shape[0], len(comparison.rules), dtype=np.int64)
        decided = np.zeros(sims.shape[0], dtype=bool)
        for number, rule in enumerate(comparison.rules):
            holds = ~decided
            for segment, min_dice in rule.conditions():
                # NaN (missing) never satisfies a condition
                holds &= sims[:, position[segment]] >= min_dice
            np.copyto(level, number, where=holds)  # the same work however many hold
            decided |= holds
        out[:, column] = np.where(np.isnan(base) & ~decided, -1, level).astype(np.int8)
    return out
