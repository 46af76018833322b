"""Pure normalisation of agency values: folding, names, declared dates, sex codes, phones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.encode import (
    fold_text,
    normalise_digits,
    normalise_name,
    normalise_sex,
    parse_date,
    phone_digits,
    split_last_first,
)
from linkage.errors import RowError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("  Zoë  Ångström ", "zoe angstrom"),
        ("JOSÉ\tMÜLLER", "jose muller"),
        ("Straße", "strasse"),
        ("Søren Łukasz", "soren lukasz"),
        ("Ｆｕｌｌ", "full"),
        ("", ""),
    ],
)
def test_fold_text(raw: str, folded: str) -> None:
    assert fold_text(raw) == folded


def test_normalise_name_drops_apostrophes_and_splits_on_punctuation() -> None:
    assert normalise_name("O'Brien-Smith") == "obrien smith"
    assert normalise_name("  st. george’s  ") == "st georges"


@given(st.text(max_size=30))
def test_folding_is_idempotent(text: str) -> None:
    once = normalise_name(text)
    assert normalise_name(once) == once
    assert once == once.strip()
    assert "  " not in once


def test_split_last_first() -> None:
    assert split_last_first("GARCÍA, José  Luis M") == ("GARCÍA", "José", "Luis M")
    assert split_last_first("Ng, Mai") == ("Ng", "Mai", "")
    for bad in ("No Comma", ", First", "Last,  "):
        with pytest.raises(RowError):
            split_last_first(bad)


@pytest.mark.parametrize(
    ("value", "declared", "iso"),
    [
        ("01/02/1980", "MM/DD/YYYY", "1980-01-02"),
        ("1/2/1980", "MM/DD/YYYY", "1980-01-02"),
        ("01/02/1980", "DD/MM/YYYY", "1980-02-01"),
        ("19800102", "YYYYMMDD", "1980-01-02"),
        ("1980-01-02", "ISO", "1980-01-02"),
        ("1980-01-02", "YYYY-MM-DD", "1980-01-02"),
        ("02.01.1980", "DD.MM.YYYY", "1980-01-02"),
        ("29.02.2004", "DD.MM.YYYY", "2004-02-29"),
        ("3/7/1985", "M/D/YYYY", "1985-03-07"),
        ("03/07/1985", "M/D/YYYY", "1985-03-07"),
        ("7/3/1985", "D/M/YYYY", "1985-03-07"),
        ("03-07-1985", "MM-DD-YYYY", "1985-03-07"),
        ("07-03-1985", "DD-MM-YYYY", "1985-03-07"),
        ("1985/03/07", "YYYY/MM/DD", "1985-03-07"),
        ("1985/3/7", "YYYY/MM/DD", "1985-03-07"),
        ("07031985", "DDMMYYYY", "1985-03-07"),
        ("03071985", "MMDDYYYY", "1985-03-07"),
        ("12-MAR-1985", "DD-MON-YYYY", "1985-03-12"),
        ("12-Mar-1985", "DD-MON-YYYY", "1985-03-12"),
        ("5-sept-1985", "DD-MON-YYYY", "1985-09-05"),
        ("12 March 1985", "DD MON YYYY", "1985-03-12"),
        ("Mar 12, 1985", "MON DD, YYYY", "1985-03-12"),
        ("March 12 1985", "MON DD, YYYY", "1985-03-12"),
        ("Sept. 5, 1985", "MON DD, YYYY", "1985-09-05"),
        ("1985-03-12 00:00:00", "YYYY-MM-DD HH:MM:SS", "1985-03-12"),
        ("1985-03-12T13:45:10.123Z", "YYYY-MM-DD HH:MM:SS", "1985-03-12"),
        ("1985-03-12 13:45", "YYYY-MM-DD HH:MM:SS", "1985-03-12"),
    ],
)
def test_parse_date_in_the_declared_format(value: str, declared: str, iso: str) -> None:
    assert parse_date(value, declared) == iso


@pytest.mark.parametrize(
    ("value", "declared"),
    [
        ("1980-01-02", "MM/DD/YYYY"),  # never guessed
        ("13/01/1980", "MM/DD/YYYY"),
        ("02/30/1981", "MM/DD/YYYY"),
        ("29.02.2001", "DD.MM.YYYY"),
        ("1980012", "YYYYMMDD"),
        ("07/04/1776", "MM/DD/YYYY"),
        ("12-MRZ-1985", "DD-MON-YYYY"),  # not an English month name
        ("31-FEB-1985", "DD-MON-YYYY"),
        ("12-03-1985", "DD-MON-YYYY"),
        ("1985-03-12", "YYYY-MM-DD HH:MM:SS"),  # the time is part of the declared format
        ("12-MAR-85", "DD-MON-YYYY"),  # two-digit years are never guessed
    ],
)
def test_parse_date_rejects_without_echoing(value: str, declared: str) -> None:
    with pytest.raises(RowError) as info:
        parse_date(value, declared)
    assert value not in str(info.value)


def test_unknown_declared_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown date format"):
        parse_date("1980-01-02", "YY-MM-DD")


@pytest.mark.parametrize(
    ("code", "sex"),
    [
        ("M", "m"),
        ("Male", "m"),
        ("m", "m"),
        ("F", "f"),
        ("female", "f"),
        ("X", "x"),
        ("Non-binary", "x"),
        ("U", None),
        ("unknown", None),
        ("", None),
    ],
)
def test_sex_codes(code: str, sex: str | None) -> None:
    assert normalise_sex(code) == sex


def test_unrecognised_sex_code() -> None:
    with pytest.raises(RowError, match="not a recognised sex code"):
        normalise_sex("Q")


def test_phone_digits() -> None:
    assert phone_digits("(02) 9555-0100") == "0295550100"
    assert phone_digits("+61 2 9555 0100", keep_last=9) == "295550100"
    for bad in ("555-CALL-NOW", "12345", "1" * 16):
        with pytest.raises(RowError):
            phone_digits(bad)


def test_digits() -> None:
    assert normalise_digits(" 123-45 ") == "12345"
    with pytest.raises(RowError):
        normalise_digits("12a")
