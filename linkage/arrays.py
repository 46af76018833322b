"""Array helpers the pure cores share (numpy in, numpy out; no I/O)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "row_groups",
    "row_hashes",
    "unique_byte_rows",
    "unique_counts",
    "unique_inverse",
    "unique_sorted",
]

#: Fibonacci hashing multiplier (2^64 / golden ratio).
SPREAD = np.uint64(0x9E3779B97F4A7C15)


def _check(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"need a one-dimensional integer array, got {array.ndim}-D {array.dtype}")
    return array


def _starts(ordered: np.ndarray) -> np.ndarray:
    """``bool[n]``: where a run of equal values begins in an ascending array."""
    starts = np.empty(ordered.shape[0], dtype=np.bool_)
    if ordered.shape[0]:
        starts[0] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    return starts


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values of a one-dimensional integer array, ascending: what
    ``np.unique(values)`` returns, by one sort and one comparison with the neighbour.

    numpy 2.4's ``np.unique`` hashes before it sorts and took 40-90 times as long on a
    million int64 values here (0.48-0.74 s against 0.01 s; 28.6 s against 0.4 s on the
    25 million candidate-pair codes of a rebuild at a million records), and 9 times as
    long already at a thousand.
    """
    ordered: np.ndarray = np.sort(_check(values))
    distinct: np.ndarray = ordered[_starts(ordered)]
    return distinct


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` for a one-dimensional integer array
    (``unique[inverse] == values``), sort-based like :func:`unique_sorted`."""
    array = _check(values)
    order = np.argsort(array, kind="stable")
    ordered = array[order]
    starts = _starts(ordered)
    inverse = np.empty(array.shape[0], dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], inverse


def unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_counts=True)`` for a one-dimensional integer array,
    sort-based like :func:`unique_sorted`."""
    ordered = np.sort(_check(values))
    first = np.flatnonzero(_starts(ordered))
    return ordered[first], np.diff(np.append(first, ordered.shape[0])).astype(np.int64)


def row_hashes(rows: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row of ``uint64[n, words]`` (equal rows, equal hashes)."""
    hashes = np.full(rows.shape[0], 0x243F6A8885A308D3, dtype=np.uint64)
    for word in range(rows.shape[1]):
        hashes ^= rows[:, word]
        hashes *= SPREAD
        hashes ^= hashes >> np.uint64(31)
    return hashes


def row_groups(rows: np.ndarray, hashes: np.ndarray | None = None) -> np.ndarray:
    """Group ids of ``uint64[n, words]`` rows: equal rows and only equal rows share an id
    (``int64[n]``, ids ``0 .. groups - 1``). ``hashes``: the rows' :func:`row_hashes`
    (computed when not given).

    Sorting one 64-bit hash per row instead of the rows themselves (``np.unique(axis=0)``
    sorts lexicographically, word by word) makes grouping a million rows several times
    faster; rows that share a hash are checked word for word, and a hash collision between
    different rows falls back to the exact row sort.
    """
    n = rows.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    if hashes is None:
        hashes = row_hashes(rows)
    # any order of equal hashes gives the same ids (a run of them is one id, or holds
    # different rows, which some neighbours then show): numpy's fastest sort
    order = np.argsort(hashes)
    sorted_hashes = hashes[order]
    sorted_rows = rows[order]
    new_hash = np.ones(n, dtype=np.bool_)
    new_hash[1:] = sorted_hashes[1:] != sorted_hashes[:-1]
    same_row = np.zeros(n, dtype=np.bool_)
    same_row[1:] = (sorted_rows[1:] == sorted_rows[:-1]).all(axis=1)
    if np.any(~new_hash & ~same_row):  # a run of equal hashes holds different rows
        _, inverse = np.unique(rows, axis=0, return_inverse=True)
        return np.asarray(inverse.reshape(-1), dtype=np.int64)
    out = np.empty(n, dtype=np.int64)
    out[order] = np.cumsum(new_hash) - 1
    return out


def unique_byte_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(rows, axis=0, return_counts=True)`` for a 2-D ``int8`` array: the
    distinct rows in lexicographic order, and how many times each occurs.

    Rows of up to 8 columns are packed into one ``uint64`` each (column by column, most
    significant first, offset by 128 so that the unsigned order is the signed one) and
    counted with :func:`unique_counts`: numpy sorts the rows as structured values, about
    25 times as slow on a million rows of comparison levels. Wider rows take np.unique.
    """
    array = np.asarray(rows)
    if array.ndim != 2 or array.dtype != np.int8:
        raise TypeError(f"need a two-dimensional int8 array, got {array.ndim}-D {array.dtype}")
    width = array.shape[1]
    if width == 0 or width > 8:
        patterns, counts = np.unique(array, axis=0, return_counts=True)
        return patterns, counts.astype(np.int64)
    keys = np.zeros(array.shape[0], dtype=np.uint64)
    for column in range(width):
        keys <<= np.uint64(8)
        keys |= (array[:, column].astype(np.int16) + 128).astype(np.uint64)
    distinct, counts = unique_counts(keys)
    patterns = np.empty((distinct.shape[0], width), dtype=np.int8)
    for column in range(width):
        shift = np.uint64(8 * (width - 1 - column))
        byte = (distinct >> shift) & np.uint64(0xFF)
        patterns[:, column] = (byte.astype(np.int16) - 128).astype(np.int8)
    return patterns, counts
