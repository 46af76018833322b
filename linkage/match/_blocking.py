"""Blocking on CLKs: Hamming-LSH bit sampling, then exact Dice on the candidates only.

Each of ``bands`` bands samples ``bits_per_band`` bit positions (drawn once from ``seed``);
two records are candidates when they agree on every sampled bit of at least one band. A
pair whose CLKs differ in a fraction ``d`` of their bits shares a given band with probability
``(1 - d) ** bits_per_band``, so similar pairs are found with high probability while the
expected number of random candidates falls geometrically with ``bits_per_band``.

Candidates are verified on the fly with the exact anonlink Dice rule (a numba kernel: one
binary search per band into the right side's sorted keys, a per-thread stamp array to count
each pair once, a scalar popcount per word), so a blocked join returns a subset of the
unblocked join's pairs, with the same scores, in the same order, and never materialises the
candidate list.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from linkage.arrays import row_groups, unique_sorted
from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.match import _lsh_kernels
from linkage.match._canonical import canonical_pairs
from linkage.match._dice import dice_rule
from linkage.match._join import collect_pairs, kernel_launch, work_queue
from linkage.match._packing import check_packed, popcounts
from linkage.match._results import CandidatePairs
from linkage.types import Int64Array, PackedClks

__all__ = [
    "BlockedJoin",
    "BlockingReport",
    "HammingLsh",
    "blocked_dice_join",
    "blocked_dice_self_join",
    "blocking_report",
    "lsh_candidates",
    "lsh_self_candidates",
]

_DEFAULT_MAX_CANDIDATES = 200_000_000


@dataclass(frozen=True, slots=True)
class HammingLsh:
    """Hamming-LSH bit-sampling configuration.

    ``bands`` independent bands of ``bits_per_band`` sampled bit positions each, drawn from
    ``numpy.random.default_rng(seed)``; ``max_candidates`` bounds the candidate pairs to
    verify, counted before deduplication across bands (a guard against too few bits per
    band, checked before any work).
    """

    bands: int = 32
    bits_per_band: int = 16
    seed: int = 0
    max_candidates: int = _DEFAULT_MAX_CANDIDATES

    def __post_init__(self) -> None:
        if self.bands < 1:
            raise InvalidInputError("bands must be at least 1")
        if not 1 <= self.bits_per_band <= 64:
            raise InvalidInputError("bits_per_band must be between 1 and 64")
        if self.seed < 0:
            raise InvalidInputError("seed must be non-negative")
        if self.max_candidates < 1:
            raise InvalidInputError("max_candidates must be positive")

    def positions(self, bits: int) -> Int64Array:
        """The sampled bit positions, ``int64[bands, bits_per_band]``, for CLKs of ``bits``."""
        if self.bits_per_band > bits:
            raise InvalidInputError("bits_per_band exceeds the CLK length")
        rng = np.random.default_rng(self.seed)
        return np.stack(
            [
                np.sort(rng.choice(bits, size=self.bits_per_band, replace=False))
                for _ in range(self.bands)
            ]
        ).astype(np.int64)

    def keys(self, packed: PackedClks, words: Int64Array | None = None) -> np.ndarray:
        """Band keys, ``uint64[bands, n]``: the sampled bits of each record, packed.

        ``words``: the positions are drawn over the concatenation of these words of each
        record (by default all of them), read in place, without copying the columns."""
        array = check_packed(packed, "packed")
        used, column_of, shift_of = self.word_plan(array.shape[1], words)
        out = np.empty((self.bands, array.shape[0]), dtype=np.uint64)
        if array.shape[0]:
            with kernel_launch():
                _lsh_kernels.lsh_keys_kernel(array, used, column_of, shift_of, out)
        return out

    def word_plan(
        self, total_words: int, words: Int64Array | None = None
    ) -> tuple[Int64Array, Int64Array, Int64Array]:
        """Where the sampled bits are: ``(used, column_of, shift_of)``, bit ``k`` of band
        ``b`` being bit ``shift_of[b, k]`` (from the least significant) of word
        ``used[column_of[b, k]]`` of a record of ``total_words`` words."""
        chosen = (
            np.arange(total_words, dtype=np.int64)
            if words is None
            else np.asarray(words, dtype=np.int64)
        )
        if chosen.ndim != 1 or (
            chosen.size and not 0 <= chosen.min() <= chosen.max() < total_words
        ):
            raise InvalidInputError(f"words must index the {total_words} words of a record")
        positions = self.positions(chosen.shape[0] * 64)
        word_of = chosen[positions // 64]
        used = unique_sorted(word_of.ravel()).astype(np.int64)
        column_of = np.searchsorted(used, word_of).astype(np.int64)
        return used, column_of, (63 - positions % 64).astype(np.int64)

    def shares_band(
        self, left: PackedClks, right: PackedClks, left_rows: Int64Array, right_rows: Int64Array
    ) -> np.ndarray:
        """For each listed pair, whether the two records share a band (are candidates)."""
        rows_a = np.asarray(left_rows, dtype=np.int64)
        rows_b = np.asarray(right_rows, dtype=np.int64)
        keys_a = self.keys(check_packed(left, "left")[rows_a])
        keys_b = self.keys(check_packed(right, "right")[rows_b])
        out: np.ndarray = (keys_a == keys_b).any(axis=0)
        return out


@dataclass(frozen=True, slots=True)
class BlockedJoin:
    """A blocked join's pairs, and how many candidate pairs were verified to find them."""

    pairs: CandidatePairs
    candidate_pairs: int
    total_pairs: int

    @property
    def reduction_ratio(self) -> float:
        """1 - candidates / all pairs: the share of comparisons blocking saved."""
        return 1.0 - self.candidate_pairs / self.total_pairs if self.total_pairs else 0.0


def stable_key_order(keys: np.ndarray, bits: int) -> Int64Array:
    """``np.argsort(keys, kind="stable")`` for band keys below ``2 ** bits``, by stable
    radix passes over 16 bits at a time (numpy sorts 16-bit integers by radix: about 9x
    faster than its merge sort of 64-bit keys at a million keys)."""
    order = np.argsort((keys & np.uint64(0xFFFF)).astype(np.uint16), kind="stable")
    for shift in range(16, bits, 16):
        digit = ((keys[order] >> np.uint64(shift)) & np.uint64(0xFFFF)).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
    return order.astype(np.int64)


def _lsh_join(
    a: PackedClks, b: PackedClks, threshold: float, config: HammingLsh, self_join: bool
) -> BlockedJoin:
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError("left and right CLKs differ in length")
    n_a, n_b = a.shape[0], b.shape[0]
    total = n_a * (n_a - 1) // 2 if self_join else n_a * n_b
    rule = dice_rule(threshold, a.shape[1] * 64)
    if n_a == 0 or n_b == 0:
        return BlockedJoin(CandidatePairs.empty(), 0, total)
    keys_a = config.keys(a)
    keys_b = keys_a if self_join else config.keys(b)
    # Per band: the right records sorted by key, and each left row's bucket in that order.
    order_b = np.stack([stable_key_order(row, config.bits_per_band) for row in keys_b])
    bucket_lo = np.empty(keys_a.shape, dtype=np.int64)
    bucket_hi = np.empty(keys_a.shape, dtype=np.int64)
    for band in range(config.bands):
        sorted_b = keys_b[band][order_b[band]]
        if self_join:
            # the needles are the sorted keys themselves: each run of equal keys is one
            # bucket, found in one pass (no second sort, no search)
            starts = np.flatnonzero(np.concatenate([[True], sorted_b[1:] != sorted_b[:-1]]))
            lengths = np.diff(np.concatenate([starts, [n_b]]))
            bucket_lo[band, order_b[band]] = np.repeat(starts, lengths)
            bucket_hi[band, order_b[band]] = np.repeat(starts + lengths, lengths)
            continue
        order_a = stable_key_order(keys_a[band], config.bits_per_band)
        needles = keys_a[band][order_a]  # sorted needles search much faster
        bucket_lo[band, order_a] = np.searchsorted(sorted_b, needles, side="left")
        bucket_hi[band, order_a] = np.searchsorted(sorted_b, needles, side="right")
    # Candidates to verify, before deduplication across bands (and, within one set, the
    # record itself and both orders).
    work = int((bucket_hi - bucket_lo).sum())
    if self_join:
        work = (work - config.bands * n_a) // 2
    if work > config.max_candidates:
        raise ResourceExhaustedError(
            f"blocking would verify up to {work} candidate pairs (limit"
            f" {config.max_candidates}); use more bits per band"
        )
    pop_a = popcounts(a)
    pop_b = pop_a if self_join else popcounts(b)
    threads = numba.get_num_threads()
    stamps = np.zeros((threads, n_b), dtype=np.int64)
    next_stamp = np.ones(threads, dtype=np.int64)
    verified = [0]

    def launch(
        chosen: Int64Array,
        out_i: np.ndarray,
        out_j: np.ndarray,
        out_c: np.ndarray,
        out_n: np.ndarray,
        failed: np.ndarray,
    ) -> None:
        candidates = np.zeros(chosen.shape[0], dtype=np.int64)
        _lsh_kernels.lsh_join_kernel(
            work_queue(), a, b, pop_a, pop_b, bucket_lo, bucket_hi, order_b, self_join,
            rule.min_count, rule.max_delta, chosen, stamps, next_stamp, candidates,
            out_i, out_j, out_c, out_n, failed,
        )  # fmt: skip
        verified[0] += int(candidates[~failed].sum())

    i, j, c = collect_pairs(n_a, launch, None)
    pairs = canonical_pairs(c, i.astype(np.int64), j.astype(np.int64), pop_a, pop_b,
                            threshold, rule.bits, n_b)  # fmt: skip
    return BlockedJoin(pairs, verified[0], total)


def lsh_candidates(
    left: PackedClks, right: PackedClks, config: HammingLsh, words: Int64Array | None = None
) -> tuple[Int64Array, Int64Array]:
    """Candidate pairs ``(i, j)`` sharing a band, each once, sorted by ``i`` then ``j``.

    ``words``: the bands sample the concatenation of these words of each record (by default
    all of them; both sides then have the same width).

    Built for a small batch against a large index (the service's incremental linkage): only
    the smaller side's keys are kept and sorted, per band; the larger side's records are
    screened in one pass against a bitmap of the smaller side's hashed keys in every band
    and, where the bitmap lets them through, searched in its sorted keys, without
    materialising their keys; only the records with a match have their key computed again
    to list the pairs. The guard (``config.max_candidates``: band matches counted before
    deduplication, as in :func:`blocked_dice_join`) is checked over all bands before any
    pair is listed.
    """
    a = check_packed(left, "left")
    b = check_packed(right, "right")
    if a.shape[1] != b.shape[1]:
        raise InvalidInputError("left and right CLKs differ in length")
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    small_is_left = a.shape[0] <= b.shape[0]
    small, large = (a, b) if small_is_left else (b, a)
    bands = _BandScreen(config.keys(small, words), large, config, words)
    work = sum(bands.count(band) for band in range(config.bands))
    if work > config.max_candidates:
        raise ResourceExhaustedError(
            f"blocking would verify up to {work} candidate pairs (limit"
            f" {config.max_candidates}); use more bits per band"
        )
    width = b.shape[0]
    found: list[Int64Array] = []
    for band in range(config.bands):
        small_rows, large_rows = bands.pairs(band)
        i, j = (small_rows, large_rows) if small_is_left else (large_rows, small_rows)
        found.append(i * width + j)  # one int64 per band match until deduplication
    unique = unique_sorted(np.concatenate(found))
    return (unique // width).astype(np.int64), (unique % width).astype(np.int64)


#: Most bitmap memory a screen takes over all bands (bits): 256 MiB.
_BITMAP_BUDGET_BITS = 1 << 31
#: Most band keys (bands x records) of the large side computed at once instead of screened
#: in place: 64 MiB.
_DIRECT_KEYS = 1 << 23


class _BandScreen:
    """Band-key matches between a small set (its ``uint64[bands, n]`` keys) and a large
    set of records (screened in place: see :func:`lsh_candidates`)."""

    def __init__(
        self,
        small_keys: np.ndarray,
        large: PackedClks,
        config: HammingLsh,
        words: Int64Array | None,
        direct_keys: int | None = None,
    ) -> None:
        """``direct_keys``: most band keys of the large side computed at once instead of
        screened in place (default :data:`_DIRECT_KEYS`)."""
        self.large = large
        bands = small_keys.shape[0]
        self.order = np.argsort(small_keys, axis=1, kind="stable").astype(np.int64)
        self.sorted_keys = np.take_along_axis(small_keys, self.order, axis=1)
        used, column_of, self.shift_of = config.word_plan(large.shape[1], words)
        self.word_of = used[column_of]
        # each band's matches from count() until pairs() takes them: every band is
        # searched once (only the matches are kept: a few per record)
        self._found: dict[int, tuple[Int64Array, Int64Array, Int64Array, Int64Array]] = {}
        # a large side of few records (a batch's candidates) has its keys computed at once
        # and searched band by band: no screen, and no kernel launch per band
        self.large_keys: np.ndarray | None = None
        if bands * large.shape[0] <= (_DIRECT_KEYS if direct_keys is None else direct_keys):
            self.large_keys = config.keys(large, words)
            return
        # about 64 bitmap bits per small record: 1-2 % of unrelated large keys pass the
        # screen; fewer when many bands would make the bitmaps large
        bits = int(min(27, max(10, int(np.ceil(np.log2(64 * small_keys.shape[1]))))))
        bits = min(bits, max(10, int(np.log2(_BITMAP_BUDGET_BITS // bands))))
        shift = np.uint64(64 - bits)
        bitmaps = np.zeros((bands, (1 << bits) // 64), dtype=np.uint64)
        self.hits = np.zeros((bands, -(-large.shape[0] // 64)), dtype=np.uint64)
        with kernel_launch():
            _lsh_kernels.lsh_bitmap_kernel(small_keys, shift, bitmaps)
            _lsh_kernels.lsh_screen_kernel(
                large, used, column_of, self.shift_of, bitmaps, shift, self.sorted_keys, self.hits
            )

    def _matches(self, band: int) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
        """(the small side's sort order, large rows with a match, each one's first position
        in the sorted small keys, and its number of matches) for one band."""
        found = self._found.get(band)
        if found is None:
            found = self._found[band] = self._search(band)
        return found

    def _search(self, band: int) -> tuple[Int64Array, Int64Array, Int64Array, Int64Array]:
        order = self.order[band]
        sorted_small = self.sorted_keys[band]
        if self.large_keys is not None:
            # one search per key: where its run of equal small keys would start, and that
            # run's length when the key is there
            needles = self.large_keys[band]
            n = sorted_small.shape[0]
            starts = np.ones(n, dtype=np.bool_)
            starts[1:] = sorted_small[1:] != sorted_small[:-1]
            run_of = np.cumsum(starts) - 1
            run_ends = np.append(np.flatnonzero(starts)[1:], n)
            lo = np.searchsorted(sorted_small, needles, side="left")
            inside = np.minimum(lo, n - 1)
            rows = np.flatnonzero((lo < n) & (sorted_small[inside] == needles)).astype(np.int64)
            lo = lo[rows].astype(np.int64)
            return order, rows, lo, run_ends[run_of[lo]] - lo
        bits = np.unpackbits(self.hits[band].astype("<u8").view(np.uint8), bitorder="little")
        screened = np.flatnonzero(bits).astype(np.int64)  # rows with a match
        needles = np.empty(screened.shape[0], dtype=np.uint64)
        if screened.shape[0]:
            with kernel_launch():
                _lsh_kernels.lsh_row_keys_kernel(
                    self.large, screened, self.word_of, self.shift_of, band, needles
                )
        lo = np.searchsorted(sorted_small, needles, side="left")
        counts = np.searchsorted(sorted_small, needles, side="right") - lo
        hit = counts > 0
        return order, screened[hit], lo[hit].astype(np.int64), counts[hit]

    def count(self, band: int) -> int:
        """The number of (small, large) pairs whose keys agree in ``band``."""
        return int(self._matches(band)[3].sum())

    def pairs(self, band: int) -> tuple[Int64Array, Int64Array]:
        """Every (small row, large row) whose keys agree in ``band`` (the band's matches
        are then dropped)."""
        order, large_rows, lo, counts = self._matches(band)
        del self._found[band]
        # the k-th small record of a needle's bucket sits at lo + k in the sorted order
        group_start = np.cumsum(counts) - counts
        positions = np.repeat(lo - group_start, counts) + np.arange(int(counts.sum()))
        return order[positions], np.repeat(large_rows, counts)


#: Bands whose sorted slots are held at once by :func:`lsh_self_candidates`.
_SLOT_BANDS = 16
#: A band key's slot hash is ``key * _SLOT_SPREAD`` (its high bits; Fibonacci hashing).
_SLOT_SPREAD = np.uint64(0x9E3779B97F4A7C15)


def lsh_self_candidates(clks: PackedClks, config: HammingLsh) -> tuple[Int64Array, Int64Array]:
    """Candidate pairs ``i < j`` within one set, each once, sorted by ``i`` then ``j``.

    Equal records share every band, so the bands are computed for the distinct records
    only: their pairs of equal band keys (per band, a sort of ``hash(key) << row_bits |
    row`` by numpy's vectorised sort, then one pass over the runs), deduplicated over the
    bands, stand for every pair of their records; the records of one distinct value are
    all candidates among themselves. The guard (``config.max_candidates``: candidate pairs
    counted per band, before deduplication, as :func:`blocked_dice_self_join` counts them)
    is checked before any pair is listed.
    """
    a = check_packed(clks, "clks")
    n = a.shape[0]
    if n < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    groups = row_groups(a)
    members = np.argsort(groups, kind="stable").astype(np.int64)
    sizes = np.bincount(groups).astype(np.int64)
    first = (np.cumsum(sizes) - sizes).astype(np.int64)
    distinct = sizes.shape[0]
    records = np.ascontiguousarray(a[members[first]])
    used, column_of, shift_of = config.word_plan(records.shape[1])
    row_bits = max(1, (distinct - 1).bit_length())
    within = int((sizes * (sizes - 1) // 2).sum())
    total_work = config.bands * within
    pair_codes = np.empty(0, dtype=np.int64)
    # _SLOT_BANDS bands at a time, keys and slots made, counted and listed, then dropped:
    # the peak is two arrays of that many bands, not of every band (10 GB for 64 bands
    # of ten million records)
    for start in range(0, config.bands, _SLOT_BANDS):
        stop = min(start + _SLOT_BANDS, config.bands)
        keys = np.empty((stop - start, distinct), dtype=np.uint64)
        with kernel_launch():
            _lsh_kernels.lsh_keys_kernel(
                records, used, column_of[start:stop], shift_of[start:stop], keys
            )
        chunk = np.empty((stop - start, distinct), dtype=np.uint64)
        with kernel_launch():
            _lsh_kernels.lsh_slots_kernel(keys, 0, _SLOT_SPREAD, row_bits, chunk)
        for band in range(chunk.shape[0]):
            chunk[band].sort()
        counts = np.zeros(stop - start, dtype=np.int64)
        work = np.zeros(stop - start, dtype=np.int64)
        with kernel_launch():
            _lsh_kernels.lsh_bucket_count_kernel(chunk, keys, sizes, row_bits, counts, work)
        total_work += int(work.sum())
        if total_work > config.max_candidates:
            counted = (
                f"up to {total_work}"
                if stop == config.bands
                else f"at least {total_work} (counted in {stop} of {config.bands} bands)"
            )
            raise ResourceExhaustedError(
                f"blocking would verify {counted} candidate pairs"
                f" (limit {config.max_candidates}); use more bits per band"
            )
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        codes = np.empty(int(offsets[-1]), dtype=np.int64)
        with kernel_launch():
            _lsh_kernels.lsh_bucket_pairs_kernel(chunk, keys, row_bits, distinct, offsets, codes)
        del keys, chunk
        pair_codes = merge_unique(pair_codes, unique_sorted(codes))
        del codes
    # the group pairs: every pair of distinct values sharing a band, and each value with
    # itself where it has several records
    repeated = np.flatnonzero(sizes > 1).astype(np.int64)
    left = np.concatenate([pair_codes // distinct, repeated]).astype(np.int64)
    right = np.concatenate([pair_codes % distinct, repeated]).astype(np.int64)
    per_pair = np.where(
        left == right, sizes[left] * (sizes[left] - 1) // 2, sizes[left] * sizes[right]
    )
    offsets = np.concatenate([[0], np.cumsum(per_pair)]).astype(np.int64)
    out = np.empty(int(offsets[-1]), dtype=np.int64)
    with kernel_launch():
        _lsh_kernels.lsh_expand_pairs_kernel(left, right, members, first, sizes, n, offsets, out)
    out.sort()  # distinct codes: the groups are disjoint
    return out // n, out % n


def merge_unique(first: Int64Array, second: Int64Array) -> Int64Array:
    """The union of two ascending arrays of distinct integers, ascending (one pass)."""
    if first.shape[0] == 0:
        return np.ascontiguousarray(second, dtype=np.int64)
    if second.shape[0] == 0:
        return np.ascontiguousarray(first, dtype=np.int64)
    out = np.empty(first.shape[0] + second.shape[0], dtype=np.int64)
    size = _lsh_kernels.merge_unique_kernel(
        np.ascontiguousarray(first, dtype=np.int64),
        np.ascontiguousarray(second, dtype=np.int64),
        out,
    )
    return out[:size].copy() if size < out.shape[0] // 2 else out[:size]


def blocked_dice_join(
    left: PackedClks, right: PackedClks, threshold: float, config: HammingLsh
) -> BlockedJoin:
    """The pairs of :func:`linkage.match.dice_join` that share an LSH band (same scores and
    order), verified on the fly, and the number of candidates verified."""
    return _lsh_join(
        check_packed(left, "left"), check_packed(right, "right"), threshold, config, False
    )


def blocked_dice_self_join(clks: PackedClks, threshold: float, config: HammingLsh) -> BlockedJoin:
    """The pairs of :func:`linkage.match.dice_self_join` that share an LSH band."""
    a = check_packed(clks, "clks")
    return _lsh_join(a, a, threshold, config, True)


@dataclass(frozen=True, slots=True)
class BlockingReport:
    """How well a set of candidate pairs covers the true matches, and what it saves.

    ``pair_completeness`` = true matches among the candidates / true matches (1.0 when there
    are none); ``reduction_ratio`` = 1 - candidates / all possible pairs.
    """

    candidate_pairs: int
    total_pairs: int
    true_matches: int
    true_matches_found: int

    @property
    def pair_completeness(self) -> float:
        return 1.0 if self.true_matches == 0 else self.true_matches_found / self.true_matches

    @property
    def reduction_ratio(self) -> float:
        return 1.0 - self.candidate_pairs / self.total_pairs if self.total_pairs else 0.0


def blocking_report(
    candidate_left: Int64Array,
    candidate_right: Int64Array,
    total_pairs: int,
    true_left: Int64Array,
    true_right: Int64Array,
) -> BlockingReport:
    """Compare deduplicated candidate pairs with the ground-truth matching pairs.

    For one set (deduplication), give both as ``i < j``; ``total_pairs`` is ``n * m`` for
    two sets and ``n * (n - 1) / 2`` for one.
    """
    candidate_left = np.asarray(candidate_left, dtype=np.int64)
    candidate_right = np.asarray(candidate_right, dtype=np.int64)
    true_left = np.asarray(true_left, dtype=np.int64)
    true_right = np.asarray(true_right, dtype=np.int64)
    if candidate_left.shape != candidate_right.shape or true_left.shape != true_right.shape:
        raise InvalidInputError("left and right index arrays must have the same length")
    width = int(max(candidate_right.max(initial=0), true_right.max(initial=0))) + 1
    candidates = unique_sorted(candidate_left * width + candidate_right)
    truth = unique_sorted(true_left * width + true_right)
    found = int(np.isin(truth, candidates, assume_unique=True).sum())
    return BlockingReport(int(candidates.shape[0]), int(total_pairs), int(truth.shape[0]), found)
