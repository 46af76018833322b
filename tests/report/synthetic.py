"""Synthetic multi-agency CLKs with ground truth, fast enough for a million records.

People have a first name, surname, date of birth, sex and postcode. Records are
encoded like a real CLK schema (bigrams of names and postcode, whole-token date
parts and sex, each token setting a fixed set of pseudo-random bits), so
different people with similar names share bits and non-matches score 0.4-0.7
while copies of one person score near 1. Each agency holds each person with its
own probability; copies are messy (typos, nicknames, swapped day and month,
moves, missing fields), so some true matches fall into the valley, and some people
have a twin (same surname, birth date, sex and postcode), so some non-matches score
high.

Names are invented syllable strings: nothing here is or resembles real PII.
Vectorised: every record is an OR over a padded matrix of token masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from linkage.match import unpack_clks
from linkage.types import Int64Array, PackedClks

_SYLLABLES = [
    "an",
    "ba",
    "ce",
    "di",
    "el",
    "fa",
    "go",
    "ha",
    "in",
    "jo",
    "ka",
    "le",
    "mi",
    "no",
    "or",
    "pa",
    "qui",
    "ra",
    "si",
    "to",
    "ul",
    "va",
    "we",
    "xa",
    "yo",
    "zu",
    "bra",
    "cla",
    "dre",
    "fle",
    "gri",
    "kro",
    "plu",
    "sta",
    "tri",
    "vel",
    "mar",
    "nor",
    "son",
    "ber",
    "lin",
    "dal",
]
_NAME_BITS = 12  # bits per bigram
_FIELD_BITS = 24  # bits per date part, sex
_MAX_NAME = 14  # longest name, in characters


@dataclass(frozen=True, slots=True, eq=False)
class SyntheticRecords:
    """Records of several agencies: ``agency[r]`` indexes ``agencies``; ``entity[r]``
    is the person; ``family[r]`` is shared by twins (the only people whose records
    come close); ``packed`` holds the CLKs; ``record_key[r]`` is unique per agency."""

    agencies: tuple[str, ...]
    agency: Int64Array
    entity: Int64Array
    family: Int64Array
    packed: PackedClks
    bits: int

    def clk_bytes(self, rows: Sequence[int] | Int64Array) -> list[bytes]:
        data = unpack_clks(self.packed[np.asarray(rows, dtype=np.int64)])
        return [row.tobytes() for row in data]

    def record_key(self, row: int) -> bytes:
        return f"{self.agencies[int(self.agency[row])]}:{row}".encode()

    def rows_of(self, agency_id: str) -> Int64Array:
        return np.flatnonzero(self.agency == self.agencies.index(agency_id))


class _Vocabulary:
    """Token IDs and their bit masks; token 0 sets no bits (padding)."""

    def __init__(self, bits: int, seed: int) -> None:
        self.bits = bits
        self.seed = seed
        self.ids: dict[str, int] = {"": 0}
        self.masks: list[np.ndarray] = [np.zeros(bits // 64, dtype=np.uint64)]

    def token(self, text: str, count: int) -> int:
        found = self.ids.get(text)
        if found is not None:
            return found
        rng = np.random.default_rng([self.seed, *text.encode()])
        positions = rng.choice(self.bits, size=count, replace=False)
        mask = np.zeros(self.bits // 64, dtype=np.uint64)
        shifts = (63 - positions % 64).astype(np.uint64)
        np.bitwise_or.at(mask, positions // 64, np.left_shift(np.uint64(1), shifts))
        self.ids[text] = len(self.masks)
        self.masks.append(mask)
        return self.ids[text]

    def name_tokens(self, field: str, name: str) -> list[int]:
        padded = f"_{name}_"
        grams = [padded[i : i + 2] for i in range(len(padded) - 1)][: _MAX_NAME + 1]
        ids = [self.token(f"{field}:{g}", _NAME_BITS) for g in grams]
        return ids + [0] * (_MAX_NAME + 1 - len(ids))

    def table(self) -> np.ndarray:
        return np.stack(self.masks)


def _names(rng: np.random.Generator, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        parts = rng.choice(_SYLLABLES, size=int(rng.integers(2, 4)))
        name = "".join(parts)[:_MAX_NAME]
        names.add(name)
    return sorted(names)


def _typo(rng: np.random.Generator, name: str) -> str:
    i = int(rng.integers(0, len(name)))
    letter = "abcdefghijklmnopqrstuvwxyz"[int(rng.integers(0, 26))]
    return name[:i] + letter + name[i + 1 :]


def synthetic_records(
    *,
    people: int,
    agencies: Sequence[tuple[str, float]] = (
        ("police", 0.55),
        ("valley-mhc", 0.35),
        ("er", 0.45),
        ("sud", 0.25),
    ),
    messiness: float = 1.0,
    seed: int = 0,
    bits: int = 1024,
) -> SyntheticRecords:
    """Each person appears in each agency with that agency's probability (at least once)."""
    rng = np.random.default_rng(seed)
    vocab = _Vocabulary(bits, seed)
    first_names = _names(rng, 400)
    surnames = _names(rng, 3000)
    first_typos = [_typo(rng, n) for n in first_names]
    surname_typos = [_typo(rng, n) for n in surnames]
    # Token rows per name (and per name with a typo): index 2i is the name, 2i + 1 its typo.
    first_rows = np.array(
        [
            vocab.name_tokens("f", n)
            for pair in zip(first_names, first_typos, strict=True)
            for n in pair
        ]
    )
    last_rows = np.array(
        [
            vocab.name_tokens("s", n)
            for pair in zip(surnames, surname_typos, strict=True)
            for n in pair
        ]
    )
    years = np.array([vocab.token(f"y:{y}", _FIELD_BITS) for y in range(1930, 2011)])
    months = np.array([vocab.token(f"m:{m}", _FIELD_BITS) for m in range(1, 13)])
    days = np.array([vocab.token(f"d:{d}", _FIELD_BITS) for d in range(1, 32)])
    sexes = np.array([vocab.token(f"x:{s}", _FIELD_BITS) for s in "fm"])
    postcodes = np.array([vocab.token(f"p:{p}", _FIELD_BITS) for p in range(400)])
    masks = vocab.table()

    zipf_first = 1.0 / np.arange(1, len(first_names) + 1) ** 0.9
    zipf_last = 1.0 / np.arange(1, len(surnames) + 1) ** 0.7
    person_first = rng.choice(len(first_names), size=people, p=zipf_first / zipf_first.sum())
    person_last = rng.choice(len(surnames), size=people, p=zipf_last / zipf_last.sum())
    person_year = rng.integers(0, years.size, size=people)
    person_month = rng.integers(0, 12, size=people)
    person_day = rng.integers(0, 28, size=people)
    person_sex = rng.integers(0, 2, size=people)
    person_post = rng.integers(0, postcodes.size, size=people)
    # Twins: a second person with the same surname, birth date, sex and postcode and
    # another first name, the classic false match just above a careless threshold.
    twins = np.flatnonzero(rng.random(people) < 0.03 * messiness)
    person_family = np.concatenate([np.arange(people), twins])
    person_first = np.concatenate(
        [person_first, (person_first[twins] + rng.integers(1, 40, twins.size)) % len(first_names)]
    )
    person_last = np.concatenate([person_last, person_last[twins]])
    person_year = np.concatenate([person_year, person_year[twins]])
    person_month = np.concatenate([person_month, person_month[twins]])
    person_day = np.concatenate([person_day, person_day[twins]])
    person_sex = np.concatenate([person_sex, person_sex[twins]])
    person_post = np.concatenate([person_post, person_post[twins]])
    people += twins.size

    present = np.stack([rng.random(people) < p for _, p in agencies], axis=1)
    nobody = ~present.any(axis=1)
    present[nobody, rng.integers(0, len(agencies), size=int(nobody.sum()))] = True
    record_entity, record_agency = np.nonzero(present)
    n = record_entity.shape[0]

    def chance(p: float) -> np.ndarray:
        return rng.random(n) < min(1.0, p * messiness)

    first = person_first[record_entity] * 2 + chance(0.08)
    nickname = chance(0.05)
    first[nickname] = rng.integers(0, len(first_names), size=int(nickname.sum())) * 2
    last = person_last[record_entity] * 2 + chance(0.10)
    month = person_month[record_entity].copy()
    day = person_day[record_entity].copy()
    swap = chance(0.04) & (day < 12)
    month[swap], day[swap] = day[swap], month[swap]
    year = person_year[record_entity] + np.where(chance(0.03), rng.integers(-1, 2, size=n), 0)
    year = np.clip(year, 0, years.size - 1)
    moved = rng.integers(0, postcodes.size, size=n)
    post = np.where(chance(0.15), moved, person_post[record_entity])
    columns = [
        first_rows[first],
        last_rows[last],
        np.where(chance(0.03), 0, years[year])[:, None],
        months[month][:, None],
        days[day][:, None],
        sexes[person_sex[record_entity]][:, None],
        np.where(chance(0.10), 0, postcodes[post])[:, None],
    ]
    tokens = np.concatenate(columns, axis=1).astype(np.int32)
    packed = np.empty((n, bits // 64), dtype=np.uint64)
    for start in range(0, n, 20_000):
        chunk = tokens[start : start + 20_000]
        packed[start : start + chunk.shape[0]] = np.bitwise_or.reduce(masks[chunk], axis=1)
    return SyntheticRecords(
        agencies=tuple(name for name, _ in agencies),
        agency=record_agency.astype(np.int64),
        entity=record_entity.astype(np.int64),
        family=person_family[record_entity].astype(np.int64),
        packed=packed,
        bits=bits,
    )
