"""Query plausibility: refuse query CLKs that look like probes of the index.

A genuine query CLK sets roughly as many bits as the indexed CLKs of the same
schema. All-zero, all-one and far-out-of-range fills are refused before any
comparison is made, so nobody can map the index with synthetic filters.

Records are checked at ingest too (:func:`record_clk_problems`), by fixed rules rather
than the band the index suggests (which an agency's first upload would have to set, and
which a genuine record of unusual fill could fall outside): all bits zero, all bits one,
more than :data:`MAX_RECORD_FILL` of the CLK (or of its record part) set, a field segment
with more than that share of its bits set, or a key word with all 64 bits set. No
encoding of this project comes near them (the measured maxima are in docs/security.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from linkage.errors import InvalidInputError, Problem
from linkage.types import Int64Array

__all__ = [
    "PopcountBand",
    "band_from_popcounts",
    "band_from_range",
    "check_query_clk_plausible",
    "check_query_plausible",
    "popcounts",
    "record_clk_problems",
    "records_to_check",
]

_LOCATION = "query.clk"


@dataclass(frozen=True, slots=True)
class PopcountBand:
    """Acceptable numbers of set bits ``low..high`` (inclusive) for a CLK of ``bits`` bits."""

    bits: int
    low: int
    high: int

    def __post_init__(self) -> None:
        for name in ("bits", "low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise InvalidInputError(f"popcount band: {name} must be an integer")
        if self.bits < 8 or self.bits % 8:
            raise InvalidInputError("popcount band: bits must be a positive multiple of 8")
        if not 1 <= self.low <= self.high <= self.bits - 1:
            raise InvalidInputError("popcount band: need 1 <= low <= high <= bits - 1")


def band_from_range(bits: int, low: int, high: int) -> PopcountBand:
    """A configured band (for example from the schema's documented fill range)."""
    return PopcountBand(bits=int(bits), low=int(low), high=int(high))


def band_from_popcounts(
    indexed_popcounts: npt.ArrayLike,
    bits: int,
    *,
    lower_quantile: float = 0.001,
    upper_quantile: float = 0.999,
    slack: float = 0.25,
) -> PopcountBand:
    """The band the indexed CLKs suggest, widened for queries with fewer identifiers.

    Takes the ``lower_quantile``..``upper_quantile`` range of the indexed
    popcounts and widens it by ``slack`` times its width on each side (queries
    often carry fewer fields than full records), then clips to ``1..bits-1``.
    """
    counts = np.asarray(indexed_popcounts)
    if counts.ndim != 1 or counts.size == 0:
        raise InvalidInputError("indexed_popcounts: need a non-empty one-dimensional array")
    if not np.issubdtype(counts.dtype, np.integer):
        raise InvalidInputError("indexed_popcounts: must be integers")
    if not 0.0 <= lower_quantile <= upper_quantile <= 1.0:
        raise InvalidInputError("quantiles: need 0 <= lower_quantile <= upper_quantile <= 1")
    if not (math.isfinite(slack) and slack >= 0):
        raise InvalidInputError("slack: must be a finite non-negative number")
    if int(counts.min()) < 0 or int(counts.max()) > bits:
        raise InvalidInputError("indexed_popcounts: must lie within 0..bits")
    lo_q, hi_q = np.quantile(counts, [lower_quantile, upper_quantile])
    width = float(hi_q - lo_q)
    low = max(1, math.floor(float(lo_q) - slack * width))
    high = min(bits - 1, math.ceil(float(hi_q) + slack * width))
    if low > high:  # a degenerate index (every CLK empty or full): nothing is plausible
        raise InvalidInputError("indexed_popcounts: the index fill leaves no plausible band")
    return PopcountBand(bits=bits, low=low, high=high)


def band_from_histogram(
    fill: npt.ArrayLike,
    bits: int,
    *,
    lower_quantile: float = 0.001,
    upper_quantile: float = 0.999,
    slack: float = 0.25,
) -> PopcountBand:
    """:func:`band_from_popcounts` from a histogram (``fill[c]`` = records with ``c`` bits
    set), without one entry per record: quantiles by the inverted CDF (the smallest
    popcount whose cumulative share reaches the quantile)."""
    counts = np.asarray(fill, dtype=np.int64)
    if counts.ndim != 1 or counts.shape[0] != bits + 1 or int(counts.min(initial=0)) < 0:
        raise InvalidInputError("fill: need bits + 1 non-negative counts")
    total = int(counts.sum())
    if total == 0:
        raise InvalidInputError("fill: the histogram is empty")
    if not 0.0 <= lower_quantile <= upper_quantile <= 1.0:
        raise InvalidInputError("quantiles: need 0 <= lower_quantile <= upper_quantile <= 1")
    if not (math.isfinite(slack) and slack >= 0):
        raise InvalidInputError("slack: must be a finite non-negative number")
    cumulative = np.cumsum(counts)
    lo_q = int(np.searchsorted(cumulative, max(1.0, lower_quantile * total)))
    hi_q = int(np.searchsorted(cumulative, max(1.0, upper_quantile * total)))
    width = float(hi_q - lo_q)
    low = max(1, math.floor(lo_q - slack * width))
    high = min(bits - 1, math.ceil(hi_q + slack * width))
    if low > high:
        raise InvalidInputError("fill: the index fill leaves no plausible band")
    return PopcountBand(bits=bits, low=low, high=high)


#: A Bloom or diffused segment with more than this share of its bits set is no real
#: encoding (a diffused segment sets about half, a Bloom filter segment far fewer).
_MAX_SEGMENT_FILL = 0.85
#: A key word is a keyed 64-bit hash (about 32 bits set): fewer than 8 or more than 56
#: set bits is no real key.
_KEY_WORD_BITS = (8, 56)


def check_segments_plausible(
    words: npt.NDArray[np.uint64],
    segments: Sequence[tuple[str, int, int, bool]],
    required: Sequence[Sequence[str]] = (),
) -> None:
    """Check the per-field segments of one packed segmented query CLK.

    ``segments`` lists ``(name, start_word, stop_word, is_key_segment)``; ``required``
    lists groups of segment names of which at least one must be present (e.g. a name and
    the date of birth). Raises :class:`InvalidInputError` naming every segment that is
    implausible (more bits set than any real encoding: an all-ones probe) or missing.
    """
    problems: list[Problem] = []
    present: set[str] = set()
    for name, start, stop, is_key in segments:
        part = np.asarray(words[start:stop], dtype=np.uint64)
        counts = np.bitwise_count(part)
        total = int(counts.sum())
        if total == 0:
            continue
        present.add(name)
        if is_key:
            used = counts[part != 0]
            low, high = _KEY_WORD_BITS
            if int(used.min()) < low or int(used.max()) > high:
                problems.append(Problem(f"{_LOCATION}.{name}", "not a derived key"))
        elif total > _MAX_SEGMENT_FILL * 64 * (stop - start):
            problems.append(Problem(f"{_LOCATION}.{name}", "more bits set than any real encoding"))
    for group in required:
        if not present.intersection(group):
            problems.append(
                Problem(f"{_LOCATION}.{'|'.join(group)}", "missing: the query needs it")
            )
    if problems:
        raise InvalidInputError("query CLK refused as implausible", problems=problems)


#: At ingest, no genuine record sets more than this share of its CLK's bits, of its record
#: part's or of one field segment's. Measured on the synthetic scenarios (3 seeds, 11,066
#: records): at most 0.80 for plain clkhash CLKs, 0.48 for hardened ones and for the record
#: part of segmented ones, 0.74 for the fullest segment (a one-word key segment).
MAX_RECORD_FILL = 0.95


@dataclass(frozen=True, slots=True)
class _FillFindings:
    """The ingest rules for ``n`` CLKs at once (one row each; ``[n, segments]`` for the
    per-segment ones): the one place that says what :func:`record_clk_problems` refuses."""

    zeros: np.ndarray
    ones: np.ndarray
    record_over: np.ndarray
    segment_over: np.ndarray
    segment_word_full: np.ndarray

    @property
    def any(self) -> np.ndarray:
        flagged: np.ndarray = self.zeros | self.ones | self.record_over
        return flagged | self.segment_over.any(axis=1) | self.segment_word_full.any(axis=1)


def _fill_findings(
    words: np.ndarray,
    record_words: tuple[int, int] | None,
    segments: Sequence[tuple[str, int, int]],
) -> _FillFindings:
    """:class:`_FillFindings` of ``uint64[n, W]`` CLK words."""
    counts = np.bitwise_count(words).astype(np.int64)
    total = counts.sum(axis=1)
    start, stop = (0, words.shape[1]) if record_words is None else record_words
    over: list[np.ndarray] = []
    word_full: list[np.ndarray] = []
    for _, first, last in segments:
        segment = counts[:, first:last]
        over.append(segment.sum(axis=1) > MAX_RECORD_FILL * 64 * (last - first))
        word_full.append((segment == 64).any(axis=1))
    shape = (words.shape[0], len(segments))
    return _FillFindings(
        zeros=total == 0,
        ones=total == 64 * words.shape[1],
        record_over=counts[:, start:stop].sum(axis=1) > MAX_RECORD_FILL * 64 * (stop - start),
        segment_over=np.stack(over, axis=1) if over else np.zeros(shape, dtype=np.bool_),
        segment_word_full=(
            np.stack(word_full, axis=1) if word_full else np.zeros(shape, dtype=np.bool_)
        ),
    )


def record_clk_problems(
    clk: bytes,
    where: str,
    *,
    record_words: tuple[int, int] | None = None,
    segments: Sequence[tuple[str, int, int]] = (),
) -> list[Problem]:
    """The problems of one record's CLK at ingest, each named ``where`` (the record's
    position in its batch, never its bits) or ``where.<segment>``.

    ``record_words`` is the record part of a segmented CLK (``start_word, stop_word``;
    the whole CLK when None); ``segments`` are its field segments ``(name, start_word,
    stop_word)``. The length must already be a whole number of 64-bit words."""
    found = _fill_findings(np.frombuffer(clk, dtype=">u8")[None, :], record_words, segments)
    if found.zeros[0]:
        return [Problem(where, "is all zeros: every feature is missing")]
    if found.ones[0]:
        return [Problem(where, "has every bit set: no encoding sets them all")]
    problems: list[Problem] = []
    if found.record_over[0]:
        what = "of its bits" if record_words is None else "of its record part's bits"
        problems.append(
            Problem(where, f"has more than {MAX_RECORD_FILL:.0%} {what} set: no encoding does")
        )
    for column, (name, _, _) in enumerate(segments):
        if found.segment_over[0, column]:
            problems.append(
                Problem(
                    f"{where}.{name}",
                    f"has more than {MAX_RECORD_FILL:.0%} of its bits set: no encoding does",
                )
            )
        elif found.segment_word_full[0, column]:
            problems.append(Problem(f"{where}.{name}", "has a word with every bit set"))
    return problems


def records_to_check(
    clks: Sequence[bytes],
    *,
    record_words: tuple[int, int] | None = None,
    segments: Sequence[tuple[str, int, int]] = (),
) -> np.ndarray:
    """``bool[n]``: which of ``n`` CLKs of one length (a whole number of 64-bit words)
    :func:`record_clk_problems` refuses, decided by the same rules for the whole batch at
    once. Only those need the per-record check that names the problem; a batch of genuine
    records needs none."""
    if not clks:
        return np.zeros(0, dtype=np.bool_)
    words = np.frombuffer(b"".join(clks), dtype=">u8").reshape(len(clks), -1)
    return _fill_findings(words, record_words, segments).any


def popcounts(clks: npt.NDArray[np.uint8] | npt.NDArray[np.uint64]) -> Int64Array:
    """Set bits per row of ``uint8[n, l/8]`` or packed ``uint64[n, l/64]`` CLKs."""
    array = np.asarray(clks)
    if array.ndim != 2 or array.dtype not in (np.uint8, np.uint64):
        raise InvalidInputError("clks: need a two-dimensional uint8 or uint64 array")
    counts: Int64Array = np.bitwise_count(array).sum(axis=1, dtype=np.int64)
    return counts


def check_query_plausible(popcount: int, band: PopcountBand) -> None:
    """Raise InvalidInputError (with the reason as a Problem) unless ``popcount`` is plausible.

    The message names the band, never the query's own bits.
    """
    reason: str | None = None
    if popcount <= 0:
        reason = "all bits are zero"
    elif popcount >= band.bits:
        reason = "all bits are one"
    elif popcount < band.low:
        reason = f"fewer bits set than the plausible band {band.low}..{band.high}"
    elif popcount > band.high:
        reason = f"more bits set than the plausible band {band.low}..{band.high}"
    if reason is not None:
        raise InvalidInputError(
            "query CLK refused as implausible", problems=[Problem(_LOCATION, reason)]
        )


def check_query_clk_plausible(clk: bytes | npt.NDArray[np.uint8], band: PopcountBand) -> int:
    """Check one query CLK given as bytes; returns its popcount when plausible."""
    data = np.frombuffer(bytes(clk), dtype=np.uint8) if isinstance(clk, bytes | bytearray) else clk
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 1:
        raise InvalidInputError("query CLK refused", problems=[Problem(_LOCATION, "not bytes")])
    if data.size * 8 != band.bits:
        raise InvalidInputError(
            "query CLK refused",
            problems=[Problem(_LOCATION, f"length is not {band.bits // 8} bytes")],
        )
    count = int(np.bitwise_count(data).sum(dtype=np.int64))
    check_query_plausible(count, band)
    return count
