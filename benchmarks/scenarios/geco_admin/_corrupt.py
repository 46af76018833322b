"""A corruptor after the kinds of Peter Christen's GeCo generator (Tran, Vatsalan &
Christen, "GeCo: an online personal data generator and corruptor", CIKM 2013), written
for this scenario (GeCo itself is not used).

Each function takes a value and the generator's ``random.Random`` and returns the
corrupted value; where a kind cannot apply to a value (no OCR-confusable character, a
one-letter value cannot be transposed, ...) the value comes back unchanged, and
:meth:`Corruptor.corrupt_text` then tries another kind. Case is kept: an upper-case
value stays upper case.

Kinds:

* ``keyboard``: one character replaced by a QWERTY neighbour (letters) or a numeric
  keypad neighbour (digits);
* ``ocr``: one OCR confusion (``0``/``O``, ``1``/``l``/``I``, ``5``/``S``, ``8``/``B``,
  ``2``/``Z``, ``6``/``G``, ``rn``/``m``, ``cl``/``d``), either way;
* ``phonetic``: one sound-alike spelling (``ph``/``f``, ``ck``/``k``, final ``ie``/``y``,
  ``ou``/``ow``, a silent ``h`` dropped or added, double letters made single or single
  made double, ``c``/``k``, ``ei``/``ie``, ``Mc``/``Mac``, ``-son``/``-sen``, ...);
* ``insert``, ``delete``, ``substitute``, ``transpose``: one edit;
* ``missing``: the empty value; ``swap``: two attributes exchanged; ``truncate``: cut at
  a field width.

Dates have their own kinds (day and month swapped, one digit mistyped, year off by one
or ten) and keep being real dates.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final, Literal, TypeAlias

__all__ = [
    "KEYPAD_NEIGHBOURS",
    "OCR_PAIRS",
    "PHONETIC_RULES",
    "QWERTY_NEIGHBOURS",
    "TEXT_KINDS",
    "Corruptor",
    "TextKind",
]

TextKind: TypeAlias = Literal[
    "keyboard", "ocr", "phonetic", "insert", "delete", "substitute", "transpose"
]
TEXT_KINDS: Final[tuple[TextKind, ...]] = (
    "keyboard",
    "ocr",
    "phonetic",
    "insert",
    "delete",
    "substitute",
    "transpose",
)

_KEYBOARD_ROWS: Final = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_ROW_OFFSETS: Final = (0.0, 0.5, 0.75, 1.25)


def _qwerty_neighbours() -> dict[str, str]:
    """Letters next to each letter on a QWERTY keyboard (same row, or the row above or
    below within three quarters of a key)."""
    positions: dict[str, tuple[int, float]] = {}
    for row, keys in enumerate(_KEYBOARD_ROWS):
        for column, key in enumerate(keys):
            positions[key] = (row, column + _ROW_OFFSETS[row])
    neighbours: dict[str, str] = {}
    for key, (row, x) in positions.items():
        if not key.isalpha():
            continue
        near = [
            other
            for other, (other_row, other_x) in positions.items()
            if other != key
            and other.isalpha()
            and (
                (other_row == row and abs(other_x - x) == 1.0)
                or (abs(other_row - row) == 1 and abs(other_x - x) <= 0.75)
            )
        ]
        neighbours[key] = "".join(near)
    return neighbours


#: QWERTY neighbours of each lower-case letter.
QWERTY_NEIGHBOURS: Final = _qwerty_neighbours()
#: Numeric-keypad neighbours of each digit (7 8 9 / 4 5 6 / 1 2 3 / 0).
KEYPAD_NEIGHBOURS: Final = {
    "7": "84",
    "8": "795",
    "9": "86",
    "4": "751",
    "5": "8462",
    "6": "953",
    "1": "420",
    "2": "5130",
    "3": "62",
    "0": "12",
}
#: OCR confusions, applied either way (lower case; case follows the value).
OCR_PAIRS: Final = (
    ("0", "o"),
    ("1", "l"),
    ("1", "i"),
    ("5", "s"),
    ("8", "b"),
    ("2", "z"),
    ("6", "g"),
    ("rn", "m"),
    ("cl", "d"),
)
#: Phonetic variations: (pattern, replacement), case-insensitive regular expressions.
PHONETIC_RULES: Final = (
    ("ph", "f"),
    ("(?<=[aeiou])f(?=[aeiou])", "ph"),
    ("^f", "ph"),
    ("ck", "k"),
    ("(?<=[aeiou])k$", "ck"),
    ("ie$", "y"),
    ("(?<=[^aeiou])y$", "ie"),
    ("ey$", "y"),
    ("ou", "ow"),
    ("ow", "ou"),
    ("(?<=[aeiou])h$", ""),  # SARAH -> SARA
    ("(?<=o)h(?=n)", ""),  # JOHN -> JON
    ("(?<=^[tr])h", ""),  # THOMAS -> TOMAS, RHONDA -> RONDA
    ("(?<=^jo)(?=n$)", "h"),  # JON -> JOHN
    ("(?<=[^aeiouh])a$", "ah"),  # SARA -> SARAH
    ("wh", "w"),
    ("([bcdfgklmnprstz])\\1", "\\1"),  # PHILLIP -> PHILIP
    ("(?<=[aeiouy])([lnrt])(?=[aeiouy])", "\\1\\1"),  # PHILIP -> PHILLIP
    ("^c(?=[aou])", "k"),  # CATHERINE -> KATHERINE
    ("^k(?=[aou])", "c"),
    ("z", "s"),
    ("(?<=[aeiou])s(?=[aeiou])", "z"),
    ("ei", "ie"),
    ("(?<=.)ie(?=.)", "ei"),
    ("^mc", "mac"),
    ("^mac", "mc"),
    ("son$", "sen"),
    ("sen$", "son"),
    ("(?<=[^aeiou])y(?=[^aeiou])", "i"),  # KATHRYN -> KATHRIN
    ("(?<=[^aeiou])i(?=n$)", "y"),
    ("ae", "ea"),  # MICHAEL -> MICHEAL
    ("^wr", "r"),
    ("ee", "ea"),
)
_COMPILED_RULES: Final = tuple(
    (re.compile(pattern, re.IGNORECASE), replacement) for pattern, replacement in PHONETIC_RULES
)


def _match_case(replacement: str, original: str, context: str) -> str:
    """``replacement`` in the case of ``original`` (or of ``context`` when empty)."""
    model = original or context
    if not model:
        return replacement
    letters = [ch for ch in model if ch.isalpha()]
    if not letters:
        return replacement.upper() if context.isupper() else replacement
    if all(ch.isupper() for ch in letters):
        return replacement.upper()
    if letters[0].isupper() and original:
        return replacement[:1].upper() + replacement[1:].lower()
    return replacement.lower()


def _case_context(value: str, start: int, end: int) -> str:
    """A few letters around a site, to choose the case of an inserted string."""
    return value[max(0, start - 2) : end + 2]


@dataclass(frozen=True, slots=True)
class _Site:
    start: int
    end: int
    replacement: str


class Corruptor:
    """GeCo-style corruptions driven by one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # --- text kinds -------------------------------------------------------------------

    def keyboard(self, value: str) -> str:
        """One letter (or digit) replaced by a QWERTY (or numeric keypad) neighbour."""
        positions = [i for i, ch in enumerate(value) if ch.isascii() and ch.isalnum()]
        if not positions:
            return value
        index = self.rng.choice(positions)
        char = value[index]
        if char.isdigit():
            new = self.rng.choice(KEYPAD_NEIGHBOURS[char])
        else:
            new = self.rng.choice(QWERTY_NEIGHBOURS[char.lower()])
            new = new.upper() if char.isupper() else new
        return value[:index] + new + value[index + 1 :]

    def ocr(self, value: str) -> str:
        """One OCR confusion, either way, at a random site where one applies."""
        lower = value.lower()
        sites: list[_Site] = []
        for left, right in OCR_PAIRS:
            for source, target in ((left, right), (right, left)):
                start = lower.find(source)
                while start != -1:
                    end = start + len(source)
                    original = value[start:end]
                    sites.append(
                        _Site(
                            start,
                            end,
                            _match_case(target, original, _case_context(value, start, end)),
                        )
                    )
                    start = lower.find(source, start + 1)
        if not sites:
            return value
        site = self.rng.choice(sites)
        return value[: site.start] + site.replacement + value[site.end :]

    def phonetic(self, value: str) -> str:
        """One sound-alike spelling change at a random site where a rule applies."""
        sites: list[_Site] = []
        for pattern, replacement in _COMPILED_RULES:
            for match in pattern.finditer(value):
                new = match.expand(replacement)
                original = match.group(0)
                if new.lower() == original.lower():
                    continue
                context = _case_context(value, match.start(), match.end())
                sites.append(_Site(match.start(), match.end(), _match_case(new, original, context)))
        if not sites:
            return value
        site = self.rng.choice(sites)
        return value[: site.start] + site.replacement + value[site.end :]

    def _alphabet(self, value: str) -> str:
        letters = [ch for ch in value if ch.isalpha()]
        if not letters:
            return string.digits
        return (
            string.ascii_uppercase if all(c.isupper() for c in letters) else string.ascii_lowercase
        )

    def insert(self, value: str) -> str:
        """One character inserted (a neighbour of the character before it, or random)."""
        alphabet = self._alphabet(value)
        index = self.rng.randrange(len(value) + 1)
        previous = value[index - 1] if index > 0 else ""
        if previous.isalpha() and previous.isascii() and self.rng.random() < 0.5:
            new = self.rng.choice(QWERTY_NEIGHBOURS[previous.lower()])
            new = new.upper() if previous.isupper() else new
        elif previous and self.rng.random() < 0.3:
            new = previous  # a doubled key
        else:
            new = self.rng.choice(alphabet)
        return value[:index] + new + value[index:]

    def delete(self, value: str) -> str:
        """One letter or digit deleted (a value of one character is left alone)."""
        positions = [i for i, ch in enumerate(value) if ch.isalnum()]
        if len(positions) < 2:
            return value
        index = self.rng.choice(positions)
        return value[:index] + value[index + 1 :]

    def substitute(self, value: str) -> str:
        """One letter or digit replaced by a different random one of its kind."""
        positions = [i for i, ch in enumerate(value) if ch.isalnum()]
        if not positions:
            return value
        index = self.rng.choice(positions)
        char = value[index]
        if char.isdigit():
            pool = string.digits
        else:
            pool = string.ascii_uppercase if char.isupper() else string.ascii_lowercase
        new = self.rng.choice([c for c in pool if c != char])
        return value[:index] + new + value[index + 1 :]

    def transpose(self, value: str) -> str:
        """Two adjacent, different letters or digits exchanged."""
        positions = [
            i
            for i in range(len(value) - 1)
            if value[i] != value[i + 1] and value[i].isalnum() and value[i + 1].isalnum()
        ]
        if not positions:
            return value
        index = self.rng.choice(positions)
        return value[:index] + value[index + 1] + value[index] + value[index + 2 :]

    def apply(self, kind: TextKind, value: str) -> str:
        """One corruption of ``kind`` (the value unchanged where the kind cannot apply)."""
        if kind == "keyboard":
            return self.keyboard(value)
        if kind == "ocr":
            return self.ocr(value)
        if kind == "phonetic":
            return self.phonetic(value)
        if kind == "insert":
            return self.insert(value)
        if kind == "delete":
            return self.delete(value)
        if kind == "substitute":
            return self.substitute(value)
        return self.transpose(value)

    def corrupt_text(
        self, value: str, kinds: Sequence[tuple[TextKind, float]], *, attempts: int = 4
    ) -> str:
        """One corruption of a kind drawn by weight; if it cannot apply, another draw."""
        if not value:
            return value
        names = [k for k, _ in kinds]
        weights = [w for _, w in kinds]
        for _ in range(attempts):
            kind = self.rng.choices(names, weights)[0]
            changed = self.apply(kind, value)
            if changed != value:
                return changed
        return self.substitute(value)

    # --- record-level kinds -------------------------------------------------------------

    @staticmethod
    def missing(value: str) -> str:
        """The value lost: an empty field."""
        del value
        return ""

    @staticmethod
    def swap(first: str, second: str) -> tuple[str, str]:
        """Two attributes exchanged (given name written as surname and vice versa)."""
        return second, first

    @staticmethod
    def truncate(value: str, width: int) -> str:
        """The value cut at a field width (an old system's fixed-length field)."""
        return value[:width]

    # --- numbers and dates ----------------------------------------------------------------

    def digit_typo(self, digits: str) -> str:
        """One digit replaced by a numeric keypad neighbour."""
        positions = [i for i, ch in enumerate(digits) if ch.isdigit()]
        if not positions:
            return digits
        index = self.rng.choice(positions)
        new = self.rng.choice(KEYPAD_NEIGHBOURS[digits[index]])
        return digits[:index] + new + digits[index + 1 :]

    @staticmethod
    def swap_day_month(day_of_birth: date) -> date:
        """Day and month exchanged (unchanged when that is no other real date)."""
        if day_of_birth.day > 12 or day_of_birth.day == day_of_birth.month:
            return day_of_birth
        return day_of_birth.replace(month=day_of_birth.day, day=day_of_birth.month)

    def date_digit_typo(self, day_of_birth: date) -> date:
        """One digit of MMDDYYYY mistyped (keypad neighbour), kept a real date; the
        century digits are left alone."""
        text = day_of_birth.strftime("%m%d%Y")
        positions = [0, 1, 2, 3, 6, 7]
        self.rng.shuffle(positions)
        for index in positions:
            for new in self.rng.sample(KEYPAD_NEIGHBOURS[text[index]], 1):
                candidate = text[:index] + new + text[index + 1 :]
                try:
                    return date(int(candidate[4:]), int(candidate[:2]), int(candidate[2:4]))
                except ValueError:
                    continue
        return day_of_birth

    def year_off(self, day_of_birth: date, years: int) -> date:
        """The year off by ``years`` either way (29 February becomes the 28th)."""
        shift = years if self.rng.random() < 0.5 else -years
        day = day_of_birth.day
        if day_of_birth.month == 2 and day == 29:
            day = 28
        return day_of_birth.replace(year=day_of_birth.year + shift, day=day)
