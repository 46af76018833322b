"""Array helpers the pure cores share (numpy in, numpy out; no I/O)."""

from __future__ import annotations

import numpy as np

__all__ = ["unique_sorted"]


def unique_sorted(values: np.ndarray) -> np.ndarray:
    """The distinct values of a one-dimensional integer array, ascending: what
    ``np.unique(values)`` returns, by one sort and one comparison with the neighbour.

    numpy 2.4's ``np.unique`` hashes before it sorts and took 40-90 times as long on a
    million int64 values here (0.48-0.74 s against 0.01 s; 28.6 s against 0.4 s on the
    25 million candidate-pair codes of a rebuild at a million records), and 9 times as
    long already at a thousand.
    """
    array = np.asarray(values)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError("unique_sorted takes a one-dimensional integer array")
    ordered = np.sort(array)
    if ordered.shape[0] < 2:
        return ordered
    keep = np.empty(ordered.shape[0], dtype=np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]
