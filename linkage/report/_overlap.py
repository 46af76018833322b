"""Overlap between agencies: links of two or more records, by the agencies they
join, and their sizes. Pure numpy, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linkage.errors import InvalidInputError
from linkage.types import Int64Array

__all__ = ["LinkOverlap", "link_overlap"]


@dataclass(frozen=True, slots=True, eq=False)
class LinkOverlap:
    """Links of two or more records among ``agencies``.

    * ``shared[i, j]`` (``i != j``): links holding records of both agency ``i``
      and agency ``j``; ``shared[i, i]``: links holding a record of agency ``i``.
    * ``sizes[i, j, s]``: of the links counted in ``shared[i, j]``, those with
      ``s`` records (``s`` from 0 to ``max_size``; 0 and 1 stay empty).
    * ``records[i]``: agency ``i``'s records in the index; ``linked_records[i]``:
      those in a link of two or more records.
    * ``size_counts[s]``: all links with ``s`` records.
    """

    agencies: tuple[str, ...]
    shared: Int64Array
    sizes: Int64Array
    records: Int64Array
    linked_records: Int64Array
    size_counts: Int64Array

    @property
    def link_count(self) -> int:
        """Links of two or more records."""
        return int(self.size_counts.sum())

    @property
    def max_size(self) -> int:
        return int(self.size_counts.shape[0]) - 1


def link_overlap(
    agencies: Sequence[str],
    record_agency: npt.ArrayLike,
    record_link: npt.ArrayLike,
) -> LinkOverlap:
    """Count links per agency pair.

    ``record_agency[r]`` is the index into ``agencies`` of record ``r``;
    ``record_link[r]`` its link ID, or a negative number for none.
    """
    a_count = len(agencies)
    agency = np.asarray(record_agency, dtype=np.int64)
    link = np.asarray(record_link, dtype=np.int64)
    if agency.shape != link.shape or agency.ndim != 1:
        raise InvalidInputError("record_agency and record_link must be equal 1-D arrays")
    if agency.size and (agency.min() < 0 or agency.max() >= a_count):
        raise InvalidInputError("record_agency holds an index outside agencies")
    records = np.bincount(agency, minlength=a_count).astype(np.int64)
    has_link = link >= 0
    agency, link = agency[has_link], link[has_link]
    order = np.argsort(link, kind="stable")
    agency, link = agency[order], link[order]
    starts: Int64Array = (
        np.flatnonzero(np.concatenate(([True], link[1:] != link[:-1])))
        if link.size
        else np.zeros(0, dtype=np.int64)
    )
    size = np.diff(np.concatenate((starts, [link.shape[0]]))).astype(np.int64)
    group = np.repeat(np.arange(starts.shape[0]), size)
    multi = size >= 2
    in_multi = multi[group] if group.size else np.zeros(0, dtype=bool)
    linked_records = np.bincount(agency[in_multi], minlength=a_count).astype(np.int64)
    max_size = int(size[multi].max()) if multi.any() else 1
    size_counts = np.bincount(size[multi], minlength=max_size + 1).astype(np.int64)
    # member[g, i]: link g holds a record of agency i (links of two or more only).
    member = np.zeros((starts.shape[0], a_count), dtype=bool)
    member[group, agency] = True
    member = member[multi]
    multi_sizes = size[multi]
    shared = np.zeros((a_count, a_count), dtype=np.int64)
    sizes = np.zeros((a_count, a_count, max_size + 1), dtype=np.int64)
    for i in range(a_count):
        for j in range(i, a_count):
            both = member[:, i] & member[:, j]
            shared[i, j] = shared[j, i] = int(both.sum())
            counts = np.bincount(multi_sizes[both], minlength=max_size + 1)
            sizes[i, j] = sizes[j, i] = counts
    return LinkOverlap(tuple(agencies), shared, sizes, records, linked_records, size_counts)
