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
    "fold_text",
    "normalise_digits",
    "normalise_name",
    "normalise_sex",
    "parse_date",
    "phone_digits",
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


#: Declared date formats and the regular expressions that parse them (year, month, day groups).
DATE_FORMATS: Final[dict[str, re.Pattern[str]]] = {
    "MM/DD/YYYY": re.compile(r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"),
    "DD/MM/YYYY": re.compile(r"(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})"),
    "YYYYMMDD": re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
    "YYYY-MM-DD": re.compile(r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})"),
    "DD.MM.YYYY": re.compile(r"(?P<d>\d{1,2})\.(?P<m>\d{1,2})\.(?P<y>\d{4})"),
}
_DATE_ALIASES: Final = {"ISO": "YYYY-MM-DD"}
_MIN_YEAR: Final = 1800


def parse_date(value: str, declared_format: str) -> str:
    """Parse a date in its declared format (never guessed) and return it as ISO ``YYYY-MM-DD``.

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
    year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    try:
        parsed = date(year, month, day)
    except ValueError:
        raise RowError(f"not a real calendar date (format {name})") from None
    if year < _MIN_YEAR:
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
