"""Built-in placeholders: values that real exports hold where the true value is unknown.

A placeholder must never count as agreement. Two records that both hold ``1900-01-01``
as a date of birth, ``UNKNOWN`` as a surname or ``HOMELESS`` as an address agree on
nothing about the person, yet a Bloom filter (and a Fellegi-Sunter comparison) would
score them as agreeing, and on a value shared by thousands of records. So the agency
client reads every value below as **missing**, by default, for the features they apply
to. An agency switches the list off for one feature with ``builtin_placeholders = false``
in that feature's table of agency.toml, and adds its own export's codes with
``missing_values = [...]`` (docs/agency-client.md, "Column mapping").

This module is the one place the list is kept; tests/encode/test_placeholders.py checks
every entry. Changing it changes :data:`PLACEHOLDER_RULES_VERSION`, which is part of
the upload digest, so the next upload re-encodes every row.

Values are compared case-, accent- and punctuation-insensitively: ``N.F.A.``, ``nfa``
and ``NFA`` are the same placeholder. What each kind of feature reads as missing:

every feature (``text``, and all the kinds below)
    a value with no letter or digit (``-``, ``?``, ``..``); and :data:`GENERIC_PLACEHOLDERS`
    (``UNKNOWN``, ``UNK``, ``N/A``, ``NONE``, ``NOT STATED``, ``REFUSED``, ...).
every feature but names
    also :data:`NON_NAME_PLACEHOLDERS` (``NULL``, ``NIL``, ``NA``), which are rare but
    real family names.
names (``given_name``, ``middle_name``, ``surname``)
    :data:`NAME_PLACEHOLDERS` (``UNKNOWN``, ``FNU``, ``NMN``, ``BABY BOY``, ...); and, per
    record (:func:`unidentified_name_parts`), an unidentified patient: given name ``JOHN``
    or ``JANE`` with family name ``DOE`` or a placeholder (all three name parts are
    missing), and a newborn registered as ``BABY``, ``BABY BOY`` / ``BABY GIRL`` or ``BOY``
    / ``GIRL`` with family name ``BABY`` (the placeholder parts are missing; a real family
    name is kept).
addresses (``street_address``, ``address_line_2``, ``suburb``, ``state``)
    :data:`ADDRESS_PLACEHOLDERS` (``HOMELESS``, ``TRANSIENT``, ``NO FIXED ADDRESS``,
    ``NFA``, ``GENERAL DELIVERY``, ``UNKNOWN``, ...).
dates (``date_of_birth`` and every feature with the ``date`` normaliser)
    :data:`DATE_PLACEHOLDERS` (``1900-01-01``, ``1901-01-01``, ``1899-12-31``,
    ``0001-01-01``, ``9999-12-31``, ...) in whatever format the export declares, and any
    value whose digits are all ``0`` or all ``9`` (``00/00/0000``, ``99/99/9999``).
phones (``phone`` and every feature with the ``phone`` normaliser)
    a number whose digits are all the same (``0000000000``, ``999-999-9999``, ``0``), whose
    last seven digits are all the same (``(702) 000-0000``), or which counts up
    (:data:`PHONE_SEQUENCES`: ``1234567890``, ...).
postcodes (``postcode`` and the ``postcode`` normaliser)
    all zeros or all nines (``00000``, ``9999``), and the address placeholders (a police
    ``ADDRESS`` column of ``TRANSIENT`` has no postcode either).

The responder gateway encodes queries through the same rules, so a query's placeholder
is missing exactly as an export's is.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, Literal, TypeAlias

from linkage.encode._normalise import calendar_date, fold_text, plausible_date

__all__ = [
    "ADDRESS_PLACEHOLDERS",
    "DATE_PLACEHOLDERS",
    "GENERIC_PLACEHOLDERS",
    "NAME_PLACEHOLDERS",
    "NEWBORN_GIVEN_NAMES",
    "NON_NAME_PLACEHOLDERS",
    "PHONE_SEQUENCES",
    "PLACEHOLDER_RULES_VERSION",
    "UNIDENTIFIED_GIVEN_NAMES",
    "UNIDENTIFIED_SURNAMES",
    "PlaceholderKind",
    "is_placeholder",
    "parse_date_unless_placeholder",
    "placeholder_kind",
    "unidentified_name_parts",
]

#: Bump when any list or rule below changes: it is part of every upload digest.
PLACEHOLDER_RULES_VERSION: Final = 1

PlaceholderKind: TypeAlias = Literal["text", "name", "address", "date", "phone", "postcode"]

#: Read as missing in every feature (compared after folding case, accents and spaces).
GENERIC_PLACEHOLDERS: Final = frozenset(
    {
        "unknown",
        "unk",
        "unkn",
        "n/a",
        "n.a.",
        "n/k",
        "none",
        "not known",
        "not stated",
        "not given",
        "not recorded",
        "not applicable",
        "not available",
        "refused",
        "declined",
    }
)
#: Also read as missing in every feature except names (where they are real family names).
NON_NAME_PLACEHOLDERS: Final = frozenset({"null", "nil", "na"})
#: Name placeholders, letters and digits only (``NO NAME`` is ``noname``).
NAME_PLACEHOLDERS: Final = frozenset(
    {
        "unknown",
        "unk",
        "unkn",
        "notknown",
        "notstated",
        "notgiven",
        "notrecorded",
        "noname",
        "anonymous",
        "anon",
        "unidentified",
        "unnamed",
        "fnu",  # first name unknown
        "lnu",  # last name unknown
        "nfn",  # no first name
        "nln",  # no last name
        "nmn",  # no middle name
        "nmi",  # no middle initial
        "xx",
        "xxx",
        "zzz",
        "babyboy",
        "babygirl",
    }
)
#: With a family name of :data:`UNIDENTIFIED_SURNAMES` or a name placeholder, an
#: unidentified patient: given, middle and family name are all missing.
UNIDENTIFIED_GIVEN_NAMES: Final = frozenset({"john", "jane"})
UNIDENTIFIED_SURNAMES: Final = frozenset({"doe"})
#: Given names that register a newborn before it is named (``BABY BOY SMITH``).
NEWBORN_GIVEN_NAMES: Final = frozenset({"baby", "babyboy", "babygirl", "infant", "newborn"})
_NEWBORN_SEXES: Final = frozenset({"boy", "girl"})
#: Address placeholders, letters and digits only.
ADDRESS_PLACEHOLDERS: Final = frozenset(
    {
        "homeless",
        "transient",
        "unhoused",
        "unsheltered",
        "nofixedaddress",
        "nofixedabode",
        "nfa",
        "noaddress",
        "nopermanentaddress",
        "generaldelivery",
        "unknown",
        "unk",
        "notknown",
        "notstated",
        "notgiven",
        "refused",
        "declined",
    }
)
#: System minimum dates and "date unknown" conventions, as ISO dates.
DATE_PLACEHOLDERS: Final = frozenset(
    {
        "0001-01-01",  # .NET DateTime.MinValue, many ORMs
        "1111-11-11",
        "1753-01-01",  # SQL Server datetime minimum
        "1800-01-01",
        "1899-12-30",  # OLE Automation / Excel date zero
        "1899-12-31",
        "1900-01-01",  # the most common "unknown" date of birth
        "1901-01-01",
        "9999-12-31",
    }
)
#: Phone numbers that count up.
PHONE_SEQUENCES: Final = frozenset(
    {"1234567", "12345678", "123456789", "1234567890", "0123456789", "01234567890"}
)
_NAME_FEATURES: Final = frozenset({"given_name", "middle_name", "surname"})
#: The first words of a given name that any per-record rule starts from.
_TRIGGERS: Final = UNIDENTIFIED_GIVEN_NAMES | NEWBORN_GIVEN_NAMES | _NEWBORN_SEXES
_ADDRESS_FEATURES: Final = frozenset({"street_address", "address_line_2", "suburb", "state"})
_SUBSCRIBER_DIGITS: Final = 7


def placeholder_kind(feature: str, normaliser: str) -> PlaceholderKind:
    """Which list applies to a feature: by its name for the canonical person features,
    otherwise by its normaliser (``date``, ``phone``, ``postcode``), else ``text``."""
    if feature in _NAME_FEATURES:
        return "name"
    if feature in _ADDRESS_FEATURES:
        return "address"
    if normaliser == "date" or feature == "date_of_birth":
        return "date"
    if normaliser == "phone" or feature == "phone":
        return "phone"
    if normaliser == "postcode" or feature == "postcode":
        return "postcode"
    return "text"


_NOT_ASCII_ALNUM: Final = re.compile(r"[^0-9a-z]+")


def _compact(folded: str) -> str:
    """Letters and digits only (of any script)."""
    if folded.isascii():
        return _NOT_ASCII_ALNUM.sub("", folded)
    return "".join(ch for ch in folded if ch.isalnum())


@lru_cache(maxsize=1 << 16)
def is_placeholder(kind: PlaceholderKind, value: str) -> bool:
    """Whether ``value`` (a raw cell, a transformed value or a normalised one) is a built-in
    placeholder for a feature of this kind. An empty value is not a placeholder (it is
    simply missing)."""
    folded = fold_text(value)
    if not folded:
        return False
    compact = _compact(folded)
    if not compact or folded in GENERIC_PLACEHOLDERS:
        return True
    if kind != "name" and (folded in NON_NAME_PLACEHOLDERS or compact in NON_NAME_PLACEHOLDERS):
        return True
    if kind == "name":
        return compact in NAME_PLACEHOLDERS
    if kind == "address":
        return compact in ADDRESS_PLACEHOLDERS
    digits = "".join(ch for ch in folded if "0" <= ch <= "9")
    if kind == "date":
        return (bool(digits) and set(digits) in ({"0"}, {"9"})) or folded in DATE_PLACEHOLDERS
    if kind == "phone":
        if not digits:
            return False
        tail = digits[-_SUBSCRIBER_DIGITS:]
        return len(set(digits)) == 1 or len(set(tail)) == 1 or digits in PHONE_SEQUENCES
    if kind == "postcode":
        return (compact.isdigit() and set(compact) in ({"0"}, {"9"})) or (
            compact in ADDRESS_PLACEHOLDERS
        )
    return False


def parse_date_unless_placeholder(value: str, declared_format: str) -> str | None:
    """:func:`~linkage.encode.parse_date`, but ``None`` for a placeholder date in any
    declared format (``01/01/1900``, ``00/00/0000``, ``0001-01-01``).

    :raises RowError: as :func:`~linkage.encode.parse_date` does, for other bad dates.
    """
    if is_placeholder("date", value):
        return None
    parsed = calendar_date(value, declared_format)
    if parsed.isoformat() in DATE_PLACEHOLDERS:
        return None
    return plausible_date(parsed)


def unidentified_name_parts(
    given: str | None, middle: str | None, surname: str | None
) -> frozenset[Literal["given_name", "middle_name", "surname"]]:
    """The name parts of one record that are placeholders only together: an unidentified
    patient (``JOHN DOE``, ``JANE UNKNOWN``) or a newborn (``BABY BOY SMITH``, ``BABY,
    GIRL``). Takes normalised values (``None`` = missing); returns the parts to read as
    missing."""
    if not given:
        return frozenset()
    first_word, _, rest = fold_text(given).partition(" ")
    given_key = _compact(first_word)
    if given_key not in _TRIGGERS:  # nearly every record: no rule applies
        return frozenset()
    whole_given = _compact(fold_text(given))
    middle_key = _compact(fold_text(middle or ""))
    surname_key = _compact(fold_text(surname or ""))
    parts: set[Literal["given_name", "middle_name", "surname"]] = set()
    if given_key in UNIDENTIFIED_GIVEN_NAMES and (
        surname_key in UNIDENTIFIED_SURNAMES or surname_key in NAME_PLACEHOLDERS
    ):
        parts.update(("given_name", "middle_name", "surname"))
    if whole_given in NEWBORN_GIVEN_NAMES or (
        given_key in NEWBORN_GIVEN_NAMES and _compact(rest) in _NEWBORN_SEXES
    ):
        parts.add("given_name")
        if given_key == "baby" and middle_key in _NEWBORN_SEXES:
            parts.add("middle_name")
    if whole_given in _NEWBORN_SEXES and surname_key == "baby":
        parts.update(("given_name", "surname"))
    return frozenset(parts)
