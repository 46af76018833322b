"""Ground-truth labels for test data: which entity each record describes.

The file the operator passes with ``--truth`` is a CSV with the columns
``agency_id,record_key,entity_id``: ``record_key`` is the record key the
agency uploaded, in hex (what ``agency-client`` derives from the local record
ID with its pointer key), and ``entity_id`` any label that is equal for records
of the same person. It never needs names or local record IDs. Pure, no I/O.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from linkage.errors import InvalidInputError, Problem

__all__ = ["TRUTH_COLUMNS", "TruthLabels", "parse_truth_rows"]

TRUTH_COLUMNS = ("agency_id", "record_key", "entity_id")
_MAX_PROBLEMS = 50


@dataclass(frozen=True, slots=True)
class TruthLabels:
    """``entities[(agency_id, record_key)]`` is a small integer per distinct entity."""

    entities: Mapping[tuple[str, bytes], int]
    entity_count: int

    def __len__(self) -> int:
        return len(self.entities)


def parse_truth_rows(rows: Iterable[Mapping[str, str]], where: str) -> TruthLabels:
    """Build labels from CSV rows (a header row is line 1); every problem is named."""
    entities: dict[tuple[str, bytes], int] = {}
    numbers: dict[str, int] = {}
    problems: list[Problem] = []
    for line, row in enumerate(rows, start=2):
        if len(problems) >= _MAX_PROBLEMS:
            break
        agency = (row.get("agency_id") or "").strip()
        key_text = (row.get("record_key") or "").strip()
        entity = (row.get("entity_id") or "").strip()
        if not agency or not key_text or not entity:
            problems.append(Problem(f"{where}:{line}", "needs agency_id, record_key, entity_id"))
            continue
        try:
            key = binascii.unhexlify(key_text)
        except (binascii.Error, ValueError):
            problems.append(Problem(f"{where}:{line}.record_key", "must be hex"))
            continue
        if (agency, key) in entities:
            problems.append(Problem(f"{where}:{line}.record_key", "appears twice"))
            continue
        entities[(agency, key)] = numbers.setdefault(entity, len(numbers))
    if problems:
        raise InvalidInputError(f"{where}: the ground truth was not read", problems=problems)
    if not entities:
        raise InvalidInputError(f"{where}: the ground truth file has no rows")
    return TruthLabels(entities, len(numbers))
