"""The built-in placeholders (linkage/encode/_placeholders.py): every listed value reads as
missing for its kind of feature, real values do not, and the per-record name rules."""

from __future__ import annotations

import pytest

from linkage.encode import (
    is_placeholder,
    parse_date_unless_placeholder,
    placeholder_kind,
    unidentified_name_parts,
)
from linkage.encode._placeholders import (
    ADDRESS_PLACEHOLDERS,
    DATE_PLACEHOLDERS,
    GENERIC_PLACEHOLDERS,
    NAME_PLACEHOLDERS,
    NON_NAME_PLACEHOLDERS,
    PHONE_SEQUENCES,
    PlaceholderKind,
)
from linkage.errors import RowError

pytestmark = pytest.mark.unit

KINDS: tuple[PlaceholderKind, ...] = ("text", "name", "address", "date", "phone", "postcode")


@pytest.mark.parametrize(
    ("feature", "normaliser", "kind"),
    [
        ("given_name", "name", "name"),
        ("middle_name", "text", "name"),
        ("surname", "name", "name"),
        ("street_address", "name", "address"),
        ("address_line_2", "name", "address"),
        ("suburb", "name", "address"),
        ("state", "name", "address"),
        ("date_of_birth", "date", "date"),
        ("date_of_death", "date", "date"),  # a custom schema's date, by its normaliser
        ("phone", "phone", "phone"),
        ("mobile", "phone", "phone"),
        ("postcode", "postcode", "postcode"),
        ("zip", "postcode", "postcode"),
        ("sex", "sex", "text"),
        ("medicare_no", "digits", "text"),
    ],
)
def test_the_kind_of_a_feature(feature: str, normaliser: str, kind: str) -> None:
    assert placeholder_kind(feature, normaliser) == kind


@pytest.mark.parametrize("value", sorted(GENERIC_PLACEHOLDERS))
def test_generic_placeholders_are_missing_in_every_feature(value: str) -> None:
    for kind in KINDS:
        assert is_placeholder(kind, value.upper()), (kind, value)
        assert is_placeholder(kind, f"  {value.title()} "), (kind, value)


@pytest.mark.parametrize("value", ["-", "--", "?", "...", " / ", "*"])
def test_a_value_without_letters_or_digits_is_a_placeholder(value: str) -> None:
    for kind in KINDS:
        assert is_placeholder(kind, value)


def test_an_empty_value_is_missing_but_not_a_placeholder() -> None:
    for kind in KINDS:
        assert not is_placeholder(kind, "")


@pytest.mark.parametrize("value", sorted(NON_NAME_PLACEHOLDERS))
def test_none_null_nil_na_are_placeholders_except_in_names(value: str) -> None:
    for kind in KINDS:
        assert is_placeholder(kind, value.upper()) == (kind != "name"), kind
    assert is_placeholder("phone", "N/A")


@pytest.mark.parametrize("value", sorted(NAME_PLACEHOLDERS))
def test_name_placeholders(value: str) -> None:
    assert is_placeholder("name", value.upper())


@pytest.mark.parametrize("value", ["Baby Boy", "BABY-GIRL", "No Name", "F.N.U.", "Not Known"])
def test_name_placeholders_ignore_spaces_and_punctuation(value: str) -> None:
    assert is_placeholder("name", value)


@pytest.mark.parametrize(
    "value",
    ["Na", "Null", "Doe", "John", "Jane", "Baby", "Boy", "Nil", "Anh", "Xu", "O", "王", "Zoë"],
)
def test_real_names_are_not_placeholders(value: str) -> None:
    # Doe, John, Baby, Boy are placeholders only in combination (unidentified_name_parts).
    assert not is_placeholder("name", value)


@pytest.mark.parametrize("value", sorted(ADDRESS_PLACEHOLDERS))
def test_address_placeholders(value: str) -> None:
    assert is_placeholder("address", value.upper())
    assert is_placeholder("postcode", value.upper())  # a police ADDRESS column's TRANSIENT


@pytest.mark.parametrize(
    "value", ["No Fixed Address", "N.F.A.", "NFA", "Homeless", "transient", "General Delivery"]
)
def test_address_placeholders_as_written(value: str) -> None:
    assert is_placeholder("address", value)


@pytest.mark.parametrize("value", ["12 Main St", "Homeless Shelter Rd", "Unit 4", "Nowra"])
def test_real_addresses_are_not_placeholders(value: str) -> None:
    assert not is_placeholder("address", value)


@pytest.mark.parametrize("value", sorted(DATE_PLACEHOLDERS))
def test_date_placeholders_in_iso_form(value: str) -> None:
    assert is_placeholder("date", value)


@pytest.mark.parametrize(
    ("value", "declared"),
    [
        ("01/01/1900", "MM/DD/YYYY"),
        ("1/1/1901", "M/D/YYYY"),
        ("31/12/1899", "DD/MM/YYYY"),
        ("19000101", "YYYYMMDD"),
        ("01-JAN-1900", "DD-MON-YYYY"),
        ("1753-01-01", "ISO"),  # before 1800, yet missing rather than rejected
        ("0001-01-01", "YYYY-MM-DD"),
        ("9999-12-31 00:00:00", "YYYY-MM-DD HH:MM:SS"),
        ("00/00/0000", "MM/DD/YYYY"),  # not a real date, but a placeholder first
        ("99/99/9999", "DD/MM/YYYY"),
        ("00000000", "YYYYMMDD"),
    ],
)
def test_date_placeholders_in_any_declared_format(value: str, declared: str) -> None:
    assert parse_date_unless_placeholder(value, declared) is None


def test_real_dates_parse_and_bad_ones_are_still_errors() -> None:
    assert parse_date_unless_placeholder("01/02/1900", "MM/DD/YYYY") == "1900-01-02"
    assert parse_date_unless_placeholder("1970-01-01", "ISO") == "1970-01-01"
    for bad, declared in (("02/30/1981", "MM/DD/YYYY"), ("07/04/1776", "MM/DD/YYYY")):
        with pytest.raises(RowError) as info:
            parse_date_unless_placeholder(bad, declared)
        assert bad not in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "0000000000",
        "000-000-0000",
        "999-999-9999",
        "9999999999",
        "0",
        "(702) 000-0000",
        "+1 555 999 9999",
        "0400 000 000",
        *sorted(PHONE_SEQUENCES),
    ],
)
def test_phone_placeholders(value: str) -> None:
    assert is_placeholder("phone", value)


@pytest.mark.parametrize("value", ["702-555-0100", "(03) 9555 0595", "0412 555 019", "5550000"])
def test_real_phones_are_not_placeholders(value: str) -> None:
    # 555-0000: the last seven digits are not all the same
    assert not is_placeholder("phone", value)


@pytest.mark.parametrize("value", ["00000", "0000", "99999", "9999", "00000-0000"])
def test_postcode_placeholders(value: str) -> None:
    assert is_placeholder("postcode", value)


@pytest.mark.parametrize("value", ["97201", "3056", "2000", "90210-1234", "SW1A 1AA"])
def test_real_postcodes_are_not_placeholders(value: str) -> None:
    assert not is_placeholder("postcode", value)


@pytest.mark.parametrize(
    ("given", "middle", "surname", "parts"),
    [
        ("john", None, "doe", {"given_name", "middle_name", "surname"}),
        ("jane", "q", "doe", {"given_name", "middle_name", "surname"}),
        ("jane", None, "unknown", {"given_name", "middle_name", "surname"}),
        ("john", None, None, set()),  # a John whose family name is not recorded
        ("john", None, "smith", set()),
        ("mary", None, "doe", set()),  # a real Doe
        ("baby", "boy", "smith", {"given_name", "middle_name"}),  # SMITH, BABY BOY
        ("baby boy", None, "smith", {"given_name"}),
        ("baby girl", None, "nguyen", {"given_name"}),
        ("baby", None, "smith", {"given_name"}),
        ("infant", "girl", "smith", {"given_name"}),
        ("infant girl", None, "smith", {"given_name"}),
        ("girl", None, "baby", {"given_name", "surname"}),  # BABY, GIRL
        ("boy", None, "smith", set()),
        ("robert", "baby", "smith", set()),
        (None, None, "doe", set()),
    ],
)
def test_unidentified_patients_and_newborns(
    given: str | None, middle: str | None, surname: str | None, parts: set[str]
) -> None:
    assert unidentified_name_parts(given, middle, surname) == parts
