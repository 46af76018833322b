"""Pure normalisation of agency export values: fold case, whitespace and diacritics,
split ``LAST, FIRST M`` names, parse dates in a *declared* format, map sex codes and
reduce phone numbers to digits.

Every function takes a string and returns a string (or ``None`` for "missing"), or
raises :class:`linkage.errors.RowError` whose message is a reason that never repeats
the value; the caller adds the row number and column.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Final

from linkage.errors import RowError

__all__ = [
    "DATE_FORMATS",
    "calendar_date",
    "fold_text",
    "normalise_digits",
    "normalise_name",
    "normalise_sex",
    "parse_date",
    "phone_digits",
    "plausible_date",
    "split_last_first",
]

# Letters that Unicode does not decompose into a base letter plus marks.
_EXTRA_FOLDS: Final = str.maketrans(
    {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "ı": "i", "ß": "ss"}
)
_WHITESPACE: Final = re.compile(r"\s+")
_NOT_WORD: Final = re.compile(r"[^0-9a-z]+")
_APOSTROPHES: Final = re.compile(r"['’‘`´]")


def fold_text(value: str) -> str:
    """Lower case, no diacritics, single spaces, trimmed.

    ``"  Zoë  Ångström "`` -> ``"zoe angstrom"``.
    """
    if value.isascii():  # the common case; the same result, without decomposing
        return _WHITESPACE.sub(" ", value.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _WHITESPACE.sub(" ", stripped.translate(_EXTRA_FOLDS)).strip()


def normalise_name(value: str) -> str:
    """:func:`fold_text`, apostrophes removed, other punctuation as spaces.

    ``O'Brien-Smith`` -> ``obrien smith``.

    Also used for street addresses, suburbs and states.
    """
    folded = _APOSTROPHES.sub("", fold_text(value))
    return _NOT_WORD.sub(" ", folded).strip()


def split_last_first(value: str) -> tuple[str, str, str]:
    """Split ``LAST, FIRST [MIDDLE...]`` into ``(last, first, middle)``, each still unfolded.

    :raises RowError: when there is no comma or the surname or given name is empty.
    """
    last, comma, rest = value.partition(",")
    if not comma:
        raise RowError("expected a name as 'LAST, FIRST [MIDDLE]' but found no comma")
    parts = rest.split()
    if not last.strip() or not parts:
        raise RowError("expected a name as 'LAST, FIRST [MIDDLE]' but a part is empty")
    return last.strip(), parts[0], " ".join(parts[1:])


#: Declared date formats and the regular expressions that parse them (year, month or month
#: name, day groups). Formats are declared per feature in agency.toml, never guessed.
#: ``M`` and ``D`` (one or two digits) are accepted wherever ``MM`` and ``DD`` are, so
#: ``M/D/YYYY`` and ``MM/DD/YYYY`` parse the same values; ``MON`` is an English month name
#: or its abbreviation in any case (``MAR``, ``Mar``, ``March``, ``Sept``).
_D: Final = r"(?P<d>\d{1,2})"
_M: Final = r"(?P<m>\d{1,2})"
_Y: Final = r"(?P<y>\d{4})"
_MON: Final = r"(?P<mon>[A-Za-z]{3,9})\.?"
DATE_FORMATS: Final[dict[str, re.Pattern[str]]] = {
    "MM/DD/YYYY": re.compile(rf"{_M}/{_D}/{_Y}"),
    "M/D/YYYY": re.compile(rf"{_M}/{_D}/{_Y}"),
    "DD/MM/YYYY": re.compile(rf"{_D}/{_M}/{_Y}"),
    "D/M/YYYY": re.compile(rf"{_D}/{_M}/{_Y}"),
    "MM-DD-YYYY": re.compile(rf"{_M}-{_D}-{_Y}"),
    "DD-MM-YYYY": re.compile(rf"{_D}-{_M}-{_Y}"),
    "DD.MM.YYYY": re.compile(rf"{_D}\.{_M}\.{_Y}"),
    "YYYYMMDD": re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
    "DDMMYYYY": re.compile(r"(?P<d>\d{2})(?P<m>\d{2})(?P<y>\d{4})"),
    "MMDDYYYY": re.compile(r"(?P<m>\d{2})(?P<d>\d{2})(?P<y>\d{4})"),
    "YYYY-MM-DD": re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"),
    "YYYY/MM/DD": re.compile(rf"{_Y}/{_M}/{_D}"),
    # A timestamp column (SQL exports): the date part is taken, the time is ignored.
    "YYYY-MM-DD HH:MM:SS": re.compile(
        r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})[T ]\d{1,2}:\d{2}"
        r"(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?"
    ),
    "DD-MON-YYYY": re.compile(rf"{_D}-{_MON}-{_Y}"),
    "DD MON YYYY": re.compile(rf"{_D}\s+{_MON}\s+{_Y}"),
    "MON DD, YYYY": re.compile(rf"{_MON}\s+{_D},?\s+{_Y}"),
}
_DATE_ALIASES: Final = {"ISO": "YYYY-MM-DD"}
_MIN_YEAR: Final = 1800
_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}


def calendar_date(value: str, declared_format: str) -> date:
    """Parse a date in its declared format into a :class:`datetime.date`, any year.

    :func:`parse_date` is this plus the plausibility check on the year; the built-in
    placeholder rules (:mod:`linkage.encode._placeholders`) look at the date first, so that
    ``0001-01-01`` reads as missing rather than as an implausible year.

    :raises RowError: if the value does not have the declared format or is not a real date.
    :raises ValueError: if the declared format is not one of :data:`DATE_FORMATS` (or ``ISO``).
    """
    name = _DATE_ALIASES.get(declared_format, declared_format)
    try:
        pattern = DATE_FORMATS[name]
    except KeyError:
        raise ValueError(f"unknown date format {declared_format!r}") from None
    match = pattern.fullmatch(value.strip())
    if match is None:
        raise RowError(f"not a date in the declared format {name}")
    groups = match.groupdict()
    if groups.get("mon") is not None:
        month = _MONTHS.get(groups["mon"].lower())
        if month is None:
            raise RowError(f"not a month name (format {name})")
    else:
        month = int(groups["m"])
    try:
        return date(int(groups["y"]), month, int(groups["d"]))
    except ValueError:
        raise RowError(f"not a real calendar date (format {name})") from None


def parse_date(value: str, declared_format: str) -> str:
    """Parse a date in its declared format (never guessed) and return it as ISO ``YYYY-MM-DD``.

    :raises RowError: if the value does not have the declared format, is not a real date,
        or its year is before 1800.
    :raises ValueError: if the declared format is not one of :data:`DATE_FORMATS` (or ``ISO``).
    """
    return plausible_date(calendar_date(value, declared_format))


def plausible_date(parsed: date) -> str:
    """A parsed date as ISO ``YYYY-MM-DD``; :class:`RowError` for a year before 1800."""
    if parsed.year < _MIN_YEAR:
        raise RowError(f"year before {_MIN_YEAR}")
    return parsed.isoformat()


_SEX_CODES: Final = {
    "m": "m",
    "male": "m",
    "man": "m",
    "boy": "m",
    "f": "f",
    "female": "f",
    "woman": "f",
    "girl": "f",
    "w": "f",
    "x": "x",
    "o": "x",
    "other": "x",
    "nonbinary": "x",
    "non binary": "x",
    "intersex": "x",
    "indeterminate": "x",
}
_SEX_MISSING: Final = frozenset({"", "u", "unk", "unknown", "not stated", "not known", "ns", "na"})


def normalise_sex(value: str) -> str | None:
    """Map sex codes (``M``, ``Male``, ``m``, ``F``, ``female``, ``X``, ...) to m, f or x.

    Unknown / not stated codes give ``None`` (missing).

    :raises RowError: for a code that is none of these.
    """
    key = normalise_name(value).replace("-", " ")
    if key in _SEX_MISSING:
        return None
    try:
        return _SEX_CODES[key]
    except KeyError:
        raise RowError("not a recognised sex code") from None


_PHONE_ALLOWED: Final = re.compile(r"\+?[0-9 ()./\-]+")
_MIN_PHONE_DIGITS: Final = 6
_MAX_PHONE_DIGITS: Final = 15


def phone_digits(value: str, *, keep_last: int | None = None) -> str:
    """Reduce a phone number to its digits (``(02) 9555-0100`` -> ``0295550100``).

    ``keep_last`` keeps only the last digits, which makes ``+61 2 ...`` and ``02 ...`` agree.

    :raises RowError: for letters or other symbols, or fewer than 6 / more than 15 digits.
    """
    text = value.strip()
    if _PHONE_ALLOWED.fullmatch(text) is None:
        raise RowError("a phone number may hold only digits, spaces, + ( ) . / -")
    digits = "".join(ch for ch in text if ch.isdigit())
    if not _MIN_PHONE_DIGITS <= len(digits) <= _MAX_PHONE_DIGITS:
        raise RowError(f"a phone number needs {_MIN_PHONE_DIGITS} to {_MAX_PHONE_DIGITS} digits")
    if keep_last is not None:
        digits = digits[-keep_last:]
    return digits


def normalise_digits(value: str) -> str:
    """Keep only ASCII digits, allowing spaces and ``-`` between them (ID numbers, street numbers).

    :raises RowError: when anything else is present.
    """
    text = value.strip().replace(" ", "").replace("-", "")
    if not text.isascii() or not text.isdigit():
        raise RowError("expected digits only")
    return text
