"""Derived comparison keys (linkage/encode/_derived.py): what each transform maps a value to.

The nickname expectations are recomputed here from the bundled CSV with the csv module (an
independent reading of the table the docstring describes), besides hand-checked examples.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from functools import cache
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.encode._derived import TRANSFORMS, derived_keys, transform_applies_to

pytestmark = pytest.mark.unit

#: the most keys one value may give, whatever the limit asked for (docstring of the module)
MOST_KEYS = 8


@cache
def _table() -> tuple[dict[str, list[str]], Counter[str]]:
    """nickname -> its formal names, and how many nicknames each formal name has."""
    text = resources.files("linkage.encode").joinpath("nicknames.csv").read_text("utf-8")
    formal_of: dict[str, list[str]] = defaultdict(list)
    degree: Counter[str] = Counter()
    for row in csv.reader(text.splitlines()[1:]):
        formal, relationship, nickname = (cell.strip() for cell in row)
        if relationship != "has_nickname" or not formal or not nickname:
            continue
        formal_of[nickname].append(formal)
        degree[formal] += 1
    return formal_of, degree


def _expected_nicknames(value: str, limit: int) -> tuple[str, ...]:
    formal_of, degree = _table()
    first = value.split(" ")[0]
    if not first:
        return ()
    parents = sorted(set(formal_of.get(first, [])), key=lambda name: (-degree[name], name))
    out: list[str] = []
    for name in [first, *parents]:
        if name not in out:
            out.append(name)
    return tuple(out[: min(limit, MOST_KEYS)])


# -- nicknames ------------------------------------------------------------------------


def test_a_nickname_gives_itself_first_then_its_formal_names() -> None:
    keys = derived_keys("nicknames", "bob", 8)
    assert keys[0] == "bob"
    assert "robert" in keys
    liz = derived_keys("nicknames", "liz", 8)
    assert liz[:2] == ("liz", "elizabeth")
    assert set(liz) == {"liz", "elizabeth", "lisa", "lizzie"}


def test_only_the_first_word_of_a_given_name_is_looked_up() -> None:
    assert derived_keys("nicknames", "bob james", 8) == derived_keys("nicknames", "bob", 8)
    assert "james" not in derived_keys("nicknames", "bob james", 8)


def test_a_name_that_is_no_nickname_gives_only_itself() -> None:
    assert derived_keys("nicknames", "qzxvbnm", 4) == ("qzxvbnm",)


def test_an_empty_value_gives_no_keys() -> None:
    for transform in TRANSFORMS:
        assert derived_keys(transform, "", 4) == ()


def test_a_nickname_of_several_formal_names_lists_the_most_nicknamed_first() -> None:
    formal_of, degree = _table()
    # "al" is a nickname of more formal names than the key limit holds
    assert len(set(formal_of["al"])) > MOST_KEYS
    keys = derived_keys("nicknames", "al", 8)
    assert keys == _expected_nicknames("al", 8)
    assert len(keys) == MOST_KEYS
    assert keys[0] == "al"
    parents = keys[1:]
    assert all(name in formal_of["al"] for name in parents)
    # ordered by how many nicknames each has, most first, then by name
    ranks = [(-degree[name], name) for name in parents]
    assert ranks == sorted(ranks)
    # and no formal name left out outranks one that was kept
    left_out = set(formal_of["al"]) - set(parents)
    assert all((-degree[name], name) > ranks[-1] for name in left_out)


@pytest.mark.parametrize("limit", [1, 2, 3, 5])
def test_the_limit_keeps_the_first_keys_in_order(limit: int) -> None:
    full = derived_keys("nicknames", "al", 8)
    assert derived_keys("nicknames", "al", limit) == full[:limit]
    assert derived_keys("nicknames", "al", limit)[0] == "al"


def test_a_limit_beyond_the_most_keys_is_capped() -> None:
    assert derived_keys("nicknames", "al", 50) == derived_keys("nicknames", "al", MOST_KEYS)
    assert len(derived_keys("nicknames", "al", 50)) == MOST_KEYS


def test_a_limit_of_zero_gives_no_keys() -> None:
    assert derived_keys("nicknames", "bob", 0) == ()


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(_table()[0])),
    rest=st.sampled_from(["", " smith", " mary ann"]),
    limit=st.integers(1, 12),
)
def test_nicknames_match_the_bundled_table(name: str, rest: str, limit: int) -> None:
    assert derived_keys("nicknames", name + rest, limit) == _expected_nicknames(name, limit)


def test_keys_never_repeat() -> None:
    for name in sorted(_table()[0]):
        keys = derived_keys("nicknames", name, 8)
        assert len(set(keys)) == len(keys)


# -- sorted letters -------------------------------------------------------------------


def test_transposed_letters_give_the_same_key() -> None:
    assert derived_keys("sorted-letters", "nguyen", 1) == derived_keys(
        "sorted-letters", "ngyuen", 1
    )
    assert derived_keys("sorted-letters", "jonathan", 1) == ("aahjnnot",)
    assert derived_keys("sorted-letters", "jontahan", 1) == ("aahjnnot",)


def test_sorted_letters_drop_spaces() -> None:
    assert derived_keys("sorted-letters", "mary ann", 1) == ("aamnnry",)
    assert derived_keys("sorted-letters", "   ", 1) == ()


def test_different_letters_give_different_keys() -> None:
    assert derived_keys("sorted-letters", "nguyen", 1) != derived_keys(
        "sorted-letters", "nguyan", 1
    )


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz '-", min_size=1, max_size=20), st.data())
def test_sorted_letters_are_the_same_for_any_permutation(value: str, data: st.DataObject) -> None:
    shuffled = "".join(data.draw(st.permutations(list(value))))
    expected = "".join(sorted(value.replace(" ", "")))
    assert derived_keys("sorted-letters", value, 1) == ((expected,) if expected else ())
    assert derived_keys("sorted-letters", shuffled, 1) == derived_keys("sorted-letters", value, 1)


# -- name parts -----------------------------------------------------------------------


def test_a_double_family_name_gives_the_whole_name_and_each_part() -> None:
    assert derived_keys("name-parts", "garcia lopez", 3) == ("garcialopez", "garcia", "lopez")
    # so it shares a key with either part recorded alone
    assert set(derived_keys("name-parts", "garcia lopez", 3)) & set(
        derived_keys("name-parts", "garcia", 3)
    ) == {"garcia"}
    assert set(derived_keys("name-parts", "garcia lopez", 3)) & set(
        derived_keys("name-parts", "lopez", 3)
    ) == {"lopez"}


def test_a_one_part_name_gives_one_key() -> None:
    assert derived_keys("name-parts", "smith", 3) == ("smith",)


def test_name_parts_skip_empty_words_and_repeats() -> None:
    assert derived_keys("name-parts", "garcia  lopez", 3) == ("garcialopez", "garcia", "lopez")
    assert derived_keys("name-parts", "garcia garcia", 3) == ("garciagarcia", "garcia")


def test_name_parts_obey_the_limit_in_order() -> None:
    assert derived_keys("name-parts", "van der berg", 8) == ("vanderberg", "van", "der", "berg")
    assert derived_keys("name-parts", "van der berg", 2) == ("vanderberg", "van")


# -- day and month sorted ---------------------------------------------------------------


def test_a_date_with_day_and_month_swapped_gives_the_same_key() -> None:
    assert derived_keys("day-month-sorted", "19800213", 1) == ("19800213",)
    assert derived_keys("day-month-sorted", "19801302", 1) == ("19800213",)
    assert derived_keys("day-month-sorted", "19800705", 1) == derived_keys(
        "day-month-sorted", "19800507", 1
    )


def test_different_dates_give_different_keys() -> None:
    assert derived_keys("day-month-sorted", "19800213", 1) != derived_keys(
        "day-month-sorted", "19800214", 1
    )
    assert derived_keys("day-month-sorted", "19800213", 1) != derived_keys(
        "day-month-sorted", "19810213", 1
    )


@pytest.mark.parametrize("value", ["1980021", "198002130", "1980-02-13", "abcdefgh", "1980O213"])
def test_a_value_that_is_no_yyyymmdd_date_gives_no_key(value: str) -> None:
    assert derived_keys("day-month-sorted", value, 1) == ()


@settings(max_examples=200, deadline=None)
@given(st.integers(1900, 2030), st.integers(1, 12), st.integers(1, 31))
def test_day_month_sorted_is_the_date_with_the_smaller_of_day_and_month_first(
    year: int, month: int, day: int
) -> None:
    value = f"{year:04d}{month:02d}{day:02d}"
    swapped = f"{year:04d}{day:02d}{month:02d}"
    low, high = sorted((month, day))
    expected = (f"{year:04d}{low:02d}{high:02d}",)
    assert derived_keys("day-month-sorted", value, 1) == expected
    assert derived_keys("day-month-sorted", swapped, 1) == expected


# -- initial ------------------------------------------------------------------------------


def test_the_initial_is_the_first_letter_of_the_first_word() -> None:
    assert derived_keys("initial", "james", 1) == ("j",)
    assert derived_keys("initial", "j", 1) == ("j",)
    assert derived_keys("initial", "mary ann", 1) == ("m",)
    assert derived_keys("initial", "james", 1) == derived_keys("initial", "j", 1)
    assert derived_keys("initial", "james", 1) != derived_keys("initial", "mary", 1)


def test_a_value_starting_with_a_space_has_no_initial() -> None:
    # the first word of " james" is empty, as for the nickname transform
    assert derived_keys("initial", " james", 1) == derived_keys("nicknames", " james", 1) == ()


# -- which features a transform applies to ------------------------------------------------


@pytest.mark.parametrize(
    ("transform", "format_type", "applies"),
    [
        ("nicknames", "string", True),
        ("sorted-letters", "string", True),
        ("name-parts", "string", True),
        ("day-month-sorted", "date", True),
        ("initial", "string", True),
        ("initial", "date", False),
        ("nicknames", "date", False),
        ("sorted-letters", "enum", False),
        ("name-parts", "integer", False),
        ("day-month-sorted", "string", False),
        ("soundex", "string", False),
    ],
)
def test_each_transform_applies_to_its_formats_only(
    transform: str, format_type: str, applies: bool
) -> None:
    assert transform_applies_to(transform, format_type) is applies
