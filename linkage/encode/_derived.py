"""Derived comparison keys: what a field's value agrees on besides its spelling.

A record's names and date of birth are recorded with errors that a Bloom filter of
bigrams, once diffused, cannot see past: a nickname (``Bob`` for ``Robert``), letters
swapped (``Ngyuen``), a double family name recorded with one part, day and month swapped.
Each transform here maps a formatted feature value to a small *set* of strings; the
encoder hashes every string with the segment's key into a 64-bit word, so two records
agree on the derived key when their sets share a word (:mod:`linkage.encode._segments`,
segments of kind ``keys``). The matcher never sees the strings.

Transforms (the names a schema's ``segments`` block uses):

``nicknames``
    the first word of a given name and the formal names it is a nickname of (``liz`` ->
    ``{liz, elizabeth}``, ``bob`` -> ``{bob, robert}``), from the bundled table of English
    names and nicknames (``nicknames.csv``: the ``nicknames`` data set by Carlton Northern
    and Nick Crews, Apache License 2.0, version 1.0.1, bundled so that every agency derives
    the same keys whatever is installed); at most ``limit`` names, the value's own first;
``sorted-letters``
    the letters of the value in alphabetical order, without spaces: the same for any
    transposition of letters (``nguyen`` / ``ngyuen``, ``jonathan`` / ``jontahan``);
``name-parts``
    every word of a multi-part name and the whole name joined: a double family name
    agrees with either part (``garcia lopez`` / ``garcia``);
``day-month-sorted``
    a date ``YYYYMMDD`` with day and month in ascending order: the same for a date whose
    day and month were swapped;
``initial``
    the first letter of the first word: a name recorded as an initial (``J`` for
    ``James``) agrees with the full name at this level only.

Pure functions of the value; every agency computes the same set.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from functools import cache, lru_cache
from importlib import resources
from typing import Final

__all__ = ["TRANSFORMS", "derived_keys", "transform_applies_to"]

#: The most strings one value's key set holds (the segment's ``keys`` words bound it too).
_MAX_KEYS: Final = 8


@cache
def _nickname_parents() -> dict[str, tuple[str, ...]]:
    """nickname -> the formal names it is a nickname of, most-nicknamed first."""
    text = resources.files("linkage.encode").joinpath("nicknames.csv").read_text("utf-8")
    reader = csv.DictReader(text.splitlines())
    parents: dict[str, set[str]] = {}
    degree: dict[str, int] = {}
    for row in reader:
        formal, nickname = row["name1"].strip(), row["name2"].strip()
        if row["relationship"] != "has_nickname" or not formal or not nickname:
            continue
        parents.setdefault(nickname, set()).add(formal)
        degree[formal] = degree.get(formal, 0) + 1
    return {
        nickname: tuple(sorted(names, key=lambda n: (-degree.get(n, 0), n)))
        for nickname, names in parents.items()
    }


def _first_word(value: str) -> str:
    return value.split(" ", 1)[0]


def _nicknames(value: str) -> tuple[str, ...]:
    first = _first_word(value)
    if not first:
        return ()
    return (first, *_nickname_parents().get(first, ()))


def _sorted_letters(value: str) -> tuple[str, ...]:
    letters = "".join(sorted(value.replace(" ", "")))
    return (letters,) if letters else ()


def _name_parts(value: str) -> tuple[str, ...]:
    parts = [part for part in value.split(" ") if part]
    if not parts:
        return ()
    joined = "".join(parts)
    return tuple(dict.fromkeys([joined, *parts]))


def _day_month_sorted(value: str) -> tuple[str, ...]:
    if len(value) != 8 or not value.isdigit():
        return ()
    year, month, day = value[:4], value[4:6], value[6:]
    low, high = sorted((month, day))
    return (year + low + high,)


def _initial(value: str) -> tuple[str, ...]:
    first = _first_word(value)
    return (first[0],) if first else ()


#: Transform name -> (function, the feature formats it applies to).
TRANSFORMS: Final[dict[str, tuple[Callable[[str], tuple[str, ...]], frozenset[str]]]] = {
    "nicknames": (_nicknames, frozenset({"string"})),
    "sorted-letters": (_sorted_letters, frozenset({"string"})),
    "name-parts": (_name_parts, frozenset({"string"})),
    "day-month-sorted": (_day_month_sorted, frozenset({"date"})),
    "initial": (_initial, frozenset({"string"})),
}


def transform_applies_to(transform: str, format_type: str) -> bool:
    """Whether ``transform`` may derive keys from a feature of this format type."""
    entry = TRANSFORMS.get(transform)
    return entry is not None and format_type in entry[1]


@lru_cache(maxsize=1 << 16)
def derived_keys(transform: str, value: str, limit: int) -> tuple[str, ...]:
    """The key strings of a formatted value (empty for an empty value), at most ``limit``,
    in the transform's order with repeats removed."""
    function, _ = TRANSFORMS[transform]
    keys = tuple(dict.fromkeys(function(value)))
    return keys[: min(limit, _MAX_KEYS)]
