"""Where each per-field segment lies in a packed record, and its JSON form.

A segmented record is one bit array: the record-level CLK followed by one Bloom-filter
segment per feature group, every part a whole number of 64-bit words, so a packed record
(``uint64[n, total_words]``, :mod:`linkage.types`) holds each part in a word range. The
encoder derives the layout from the schema (:func:`linkage.encode.segment_layout`); the
matcher reads it from its configuration (:meth:`SegmentLayout.from_json`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from linkage.errors import ConfigError, Problem
from linkage.types import Int64Array

__all__ = ["SegmentLayout", "SegmentRange"]


@dataclass(frozen=True, slots=True)
class SegmentRange:
    """Words ``[start_word, stop_word)`` of a packed record hold the part ``name``."""

    name: str
    start_word: int
    stop_word: int

    def __post_init__(self) -> None:
        if not self.name or not self.name.isidentifier():
            raise ConfigError(
                "invalid segment range", problems=[Problem("name", "must be an identifier")]
            )
        if self.start_word < 0 or self.stop_word <= self.start_word:
            raise ConfigError(
                "invalid segment range",
                problems=[Problem(f"segment {self.name}", "needs 0 <= start_word < stop_word")],
            )

    @property
    def words(self) -> int:
        return self.stop_word - self.start_word

    @property
    def bits(self) -> int:
        return 64 * self.words


@dataclass(frozen=True, slots=True)
class SegmentLayout:
    """The parts of a segmented record.

    ``fields`` are the per-field segments the Fellegi-Sunter model compares, in order;
    ``record`` is the record-level CLK (used for blocking and by the Dice-threshold
    anchor), or ``None`` when the records hold segments only. Parts may not overlap and
    must lie inside ``total_words``. ``swaps`` lists pairs of field segments encoded under
    one key (the encoder's ``keyGroup``), so that one record's first segment compares with
    the other's second: given name and surname, to catch transposed names
    (:func:`linkage.probabilistic.segment_dice`).
    """

    fields: tuple[SegmentRange, ...]
    total_words: int
    record: SegmentRange | None = None
    swaps: tuple[tuple[str, str], ...] = ()
    #: field segments that hold derived keys (64-bit words, 0 = unused) rather than a Bloom
    #: filter: two of them agree (similarity 1.0) when they share a word, else 0.0
    key_sets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if not self.fields:
            problems.append(Problem("fields", "must hold at least one segment"))
        parts = list(self.fields) + ([] if self.record is None else [self.record])
        names = [part.name for part in parts]
        if len(set(names)) != len(names):
            problems.append(Problem("fields", "segment names must be unique"))
        for part in parts:
            if part.stop_word > self.total_words:
                problems.append(Problem(f"segment {part.name}", "ends after total_words"))
        ordered = sorted(parts, key=lambda part: part.start_word)
        for before, after in itertools.pairwise(ordered):
            if after.start_word < before.stop_word:
                problems.append(Problem(f"segment {after.name}", f"overlaps segment {before.name}"))
        by_name = {part.name: part for part in self.fields}
        for first, second in self.swaps:
            a, b = by_name.get(first), by_name.get(second)
            if a is None or b is None or first == second:
                problems.append(Problem("swaps", f"{first}/{second}: needs two field segments"))
            elif a.words != b.words:
                problems.append(Problem("swaps", f"{first}/{second}: sizes differ"))
            elif first in self.key_sets or second in self.key_sets:
                problems.append(Problem("swaps", f"{first}/{second}: key segments do not swap"))
        for name in self.key_sets:
            if name not in by_name:
                problems.append(Problem("key_sets", f"{name}: not a field segment"))
        if problems:
            raise ConfigError("invalid segment layout", problems=problems)

    def swap_columns(self) -> tuple[tuple[int, int], ...]:
        """:attr:`swaps` as positions in :attr:`fields`."""
        return tuple((self.index(a), self.index(b)) for a, b in self.swaps)

    @property
    def names(self) -> tuple[str, ...]:
        """The field segments' names, in order."""
        return tuple(part.name for part in self.fields)

    def index(self, name: str) -> int:
        """Position of field segment ``name`` in :attr:`fields`."""
        for position, part in enumerate(self.fields):
            if part.name == name:
                return position
        raise ConfigError("unknown segment", problems=[Problem("segments", f"no segment {name}")])

    def part(self, name: str) -> SegmentRange:
        """The field segment or record part called ``name``."""
        if self.record is not None and self.record.name == name:
            return self.record
        return self.fields[self.index(name)]

    def bounds(self) -> tuple[Int64Array, Int64Array]:
        """``(start_word, stop_word)`` of every field segment, as ``int64[segments]``."""
        starts = np.array([part.start_word for part in self.fields], dtype=np.int64)
        stops = np.array([part.stop_word for part in self.fields], dtype=np.int64)
        return starts, stops

    def to_dict(self) -> dict[str, Any]:
        def one(part: SegmentRange) -> dict[str, Any]:
            return {"name": part.name, "startWord": part.start_word, "stopWord": part.stop_word}

        out: dict[str, Any] = {
            "totalWords": self.total_words,
            "fields": [one(part) for part in self.fields],
        }
        if self.record is not None:
            out["record"] = one(self.record)
        if self.swaps:
            out["swaps"] = [list(pair) for pair in self.swaps]
        if self.key_sets:
            out["keySets"] = list(self.key_sets)
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> SegmentLayout:
        try:
            fields = tuple(_range(item) for item in document["fields"])
            record = None if document.get("record") is None else _range(document["record"])
            total = int(document["totalWords"])
            swaps = tuple((str(a), str(b)) for a, b in document.get("swaps", ()))
            key_sets = tuple(str(name) for name in document.get("keySets", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                "invalid segment layout",
                problems=[Problem("$", f"malformed ({type(exc).__name__})")],
            ) from None
        return cls(fields=fields, total_words=total, record=record, swaps=swaps, key_sets=key_sets)

    @classmethod
    def from_json(cls, text: str | bytes) -> SegmentLayout:
        try:
            document = json.loads(text)
        except ValueError:
            raise ConfigError(
                "invalid segment layout", problems=[Problem("$", "not valid JSON")]
            ) from None
        if not isinstance(document, dict):
            raise ConfigError("invalid segment layout", problems=[Problem("$", "not an object")])
        return cls.from_dict(document)


def _range(item: Mapping[str, Any]) -> SegmentRange:
    return SegmentRange(str(item["name"]), int(item["startWord"]), int(item["stopWord"]))
