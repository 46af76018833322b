"""Query plausibility per field segment (``check_segments_plausible``) and the popcount band
from a histogram (``band_from_histogram``), linkage/security/_plausibility.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.encode import DEFAULT_FEATURES, SegmentedEncoder, default_segmented_schema
from linkage.errors import InvalidInputError
from linkage.match import pack_clks
from linkage.security import band_from_histogram, band_from_popcounts, check_segments_plausible

pytestmark = pytest.mark.unit

SCHEMA = default_segmented_schema()
ENCODER = SegmentedEncoder(SCHEMA, bytes(range(32)), key_epoch=1)
LAYOUT = ENCODER.layout
SEGMENTS = [
    (part.name, part.start_word, part.stop_word, part.name in LAYOUT.key_sets)
    for part in LAYOUT.fields
]
REQUIRED = [("given_name", "surname"), ("date_of_birth",)]


def _query(**values: str) -> np.ndarray:
    row = tuple(values.get(name) for name in DEFAULT_FEATURES)
    return np.array(pack_clks(ENCODER.encode([row]))[0], dtype=np.uint64)


FULL = dict(
    given_name="elizabeth",
    middle_name="ann",
    surname="garcia lopez",
    date_of_birth="1980-02-13",
    sex="f",
    phone="0412345678",
    street_address="12 high st",
    suburb="hobart",
    postcode="7000",
    state="tas",
)


def _problems(
    words: np.ndarray, required: list[tuple[str, ...]] = REQUIRED
) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInputError, match="implausible") as caught:
        check_segments_plausible(words, SEGMENTS, required)
    return [(p.location, p.reason) for p in caught.value.problems]


def _set(words: np.ndarray, name: str, value: int) -> np.ndarray:
    out = words.copy()
    part = LAYOUT.part(name)
    out[part.start_word : part.stop_word] = np.uint64(value)
    return out


ONES = 0xFFFFFFFFFFFFFFFF


# -- per-segment checks --------------------------------------------------------------------------


def test_real_encodings_pass() -> None:
    check_segments_plausible(_query(**FULL), SEGMENTS, REQUIRED)
    check_segments_plausible(
        _query(given_name="bob", surname="smith", date_of_birth="1955-11-30"), SEGMENTS, REQUIRED
    )
    check_segments_plausible(
        _query(surname="smith", date_of_birth="1955-11-30"), SEGMENTS, REQUIRED
    )


def test_many_real_encodings_pass() -> None:
    rng = np.random.default_rng(1)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    for _ in range(40):
        name = "".join(rng.choice(letters, size=int(rng.integers(2, 12))))
        year, month, day = (
            int(rng.integers(1930, 2020)),
            int(rng.integers(1, 13)),
            int(rng.integers(1, 29)),
        )
        check_segments_plausible(
            _query(
                given_name=name, surname=name[::-1], date_of_birth=f"{year}-{month:02d}-{day:02d}"
            ),
            SEGMENTS,
            REQUIRED,
        )


@pytest.mark.parametrize("name", ["given_name", "date_of_birth", "sex", "street"])
def test_an_all_ones_bloom_segment_is_refused_by_name(name: str) -> None:
    assert _problems(_set(_query(**FULL), name, ONES)) == [
        (f"query.clk.{name}", "more bits set than any real encoding")
    ]


def test_a_bloom_segment_may_set_up_to_85_percent_of_its_bits() -> None:
    part = LAYOUT.part("street")  # 2 words: 128 bits, at most 108 set
    words = _query(**FULL)
    words[part.start_word] = np.uint64(ONES)
    words[part.start_word + 1] = np.uint64((1 << 44) - 1)  # 64 + 44 = 108
    check_segments_plausible(words, SEGMENTS, REQUIRED)
    words[part.start_word + 1] = np.uint64((1 << 45) - 1)  # 109
    assert _problems(words) == [("query.clk.street", "more bits set than any real encoding")]


@pytest.mark.parametrize(
    ("bits", "plausible"), [(7, False), (8, True), (32, True), (56, True), (57, False), (64, False)]
)
def test_a_key_word_needs_8_to_56_bits_set(bits: int, plausible: bool) -> None:
    words = _query(**FULL)
    part = LAYOUT.part("given_key")
    words[part.start_word] = np.uint64((1 << bits) - 1)
    if plausible:
        check_segments_plausible(words, SEGMENTS, REQUIRED)
    else:
        assert _problems(words) == [("query.clk.given_key", "not a derived key")]


def test_zero_words_of_a_key_segment_are_padding() -> None:
    words = _query(**FULL)
    part = LAYOUT.part("given_key")
    words[part.start_word : part.stop_word] = 0
    words[part.start_word] = np.uint64(0x0F0F0F0F0F0F0F0F)  # 32 bits, the rest padding
    check_segments_plausible(words, SEGMENTS, REQUIRED)


def test_a_missing_optional_segment_is_fine() -> None:
    words = _query(given_name="anna", date_of_birth="1980-02-03")
    assert not words[LAYOUT.part("phone").start_word : LAYOUT.part("phone").stop_word].any()
    check_segments_plausible(words, SEGMENTS, REQUIRED)


def test_a_query_without_a_date_of_birth_is_refused_naming_it() -> None:
    words = _query(given_name="anna", surname="smith", suburb="hobart")
    assert _problems(words) == [("query.clk.date_of_birth", "missing: the query needs it")]


def test_a_query_without_any_name_is_refused_naming_the_group() -> None:
    words = _query(date_of_birth="1980-02-03", suburb="hobart")
    assert _problems(words) == [("query.clk.given_name|surname", "missing: the query needs it")]


def test_every_problem_is_named_at_once() -> None:
    words = _set(_set(_query(suburb="hobart", phone="0412345678"), "phone", ONES), "sex", ONES)
    assert sorted(_problems(words)) == sorted(
        [
            ("query.clk.phone", "more bits set than any real encoding"),
            ("query.clk.sex", "more bits set than any real encoding"),
            ("query.clk.given_name|surname", "missing: the query needs it"),
            ("query.clk.date_of_birth", "missing: the query needs it"),
        ]
    )


def test_nothing_is_required_unless_asked() -> None:
    check_segments_plausible(_query(suburb="hobart"), SEGMENTS)


def test_an_all_ones_probe_present_counts_for_no_requirement() -> None:
    """An implausible segment is named even where it would satisfy a required group."""
    words = _set(_query(given_name="anna", surname="smith"), "date_of_birth", ONES)
    assert _problems(words) == [("query.clk.date_of_birth", "more bits set than any real encoding")]


# -- the band from a histogram ---------------------------------------------------------------------


def _expected_band(
    counts: np.ndarray, bits: int, lower: float = 0.001, upper: float = 0.999, slack: float = 0.25
) -> tuple[int, int]:
    """band_from_popcounts' widening, on inverted-CDF quantiles (numpy's own)."""
    lo_q, hi_q = np.quantile(counts, [lower, upper], method="inverted_cdf")
    width = float(hi_q - lo_q)
    return max(1, math.floor(lo_q - slack * width)), min(bits - 1, math.ceil(hi_q + slack * width))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(8, 64).map(lambda w: 8 * w),
    st.lists(st.floats(0.05, 0.95), min_size=1, max_size=300),
    st.sampled_from([(0.001, 0.999), (0.0, 1.0), (0.05, 0.95), (0.5, 0.5)]),
    st.sampled_from([0.0, 0.25, 1.0]),
)
def test_the_band_from_a_histogram_uses_inverted_cdf_quantiles(
    bits: int, shares: list[float], quantiles: tuple[float, float], slack: float
) -> None:
    counts = np.array([round(s * bits) for s in shares], dtype=np.int64)
    lower, upper = quantiles
    band = band_from_histogram(
        np.bincount(counts, minlength=bits + 1),
        bits,
        lower_quantile=lower,
        upper_quantile=upper,
        slack=slack,
    )
    assert (band.low, band.high) == _expected_band(counts, bits, lower, upper, slack)
    assert band.bits == bits


@pytest.mark.parametrize("seed", range(6))
def test_without_slack_each_quantile_is_an_order_statistic_next_to_the_interpolated_one(
    seed: int,
) -> None:
    """band_from_popcounts interpolates between the two order statistics around the
    quantile; the histogram takes one of those two: they differ by at most their gap."""
    rng = np.random.default_rng(seed)
    bits = 1024
    n = int(rng.integers(50, 5000))
    counts = np.clip(rng.normal(400, rng.uniform(2, 60), n).round(), 1, bits - 1).astype(np.int64)
    ordered = np.sort(counts)
    from_histogram = band_from_histogram(np.bincount(counts, minlength=bits + 1), bits, slack=0.0)
    from_popcounts = band_from_popcounts(counts, bits, slack=0.0)
    for q, got, interpolated in (
        (0.001, from_histogram.low, from_popcounts.low),
        (0.999, from_histogram.high, from_popcounts.high),
    ):
        position = (n - 1) * q
        below, above = int(ordered[math.floor(position)]), int(ordered[math.ceil(position)])
        assert got in (below, above)
        assert below <= interpolated <= above
        assert abs(got - interpolated) <= above - below


@pytest.mark.parametrize("seed", range(6))
def test_on_dense_data_the_two_bands_agree_within_a_bit_or_two(seed: int) -> None:
    """Where every popcount near the quantiles is held by many records, the conventions
    differ by at most one bit per quantile (two after the 25 % widening)."""
    rng = np.random.default_rng(seed)
    bits = 1024
    counts = rng.integers(300, 340, size=20_000)
    fill = np.bincount(counts, minlength=bits + 1)
    exact = band_from_histogram(fill, bits, slack=0.0)
    interpolated = band_from_popcounts(counts, bits, slack=0.0)
    assert abs(exact.low - interpolated.low) <= 1
    assert abs(exact.high - interpolated.high) <= 1
    widened, widened_p = band_from_histogram(fill, bits), band_from_popcounts(counts, bits)
    assert abs(widened.low - widened_p.low) <= 2
    assert abs(widened.high - widened_p.high) <= 2


def test_a_histogram_of_one_value_gives_a_band_around_it() -> None:
    fill = np.zeros(1025, dtype=np.int64)
    fill[300] = 7
    band = band_from_histogram(fill, 1024)
    assert (band.low, band.high) == (300, 300)


@pytest.mark.parametrize(
    ("fill", "bits", "kwargs", "message"),
    [
        (np.ones(1024, dtype=np.int64), 1024, {}, "bits \\+ 1"),
        (np.ones((2, 1025), dtype=np.int64), 1024, {}, "bits \\+ 1"),
        (np.r_[np.ones(1024), [-1]].astype(np.int64), 1024, {}, "non-negative"),
        (np.zeros(1025, dtype=np.int64), 1024, {}, "empty"),
        (
            np.ones(1025, dtype=np.int64),
            1024,
            {"lower_quantile": 0.9, "upper_quantile": 0.1},
            "quantiles",
        ),
        (np.ones(1025, dtype=np.int64), 1024, {"upper_quantile": 1.5}, "quantiles"),
        (np.ones(1025, dtype=np.int64), 1024, {"slack": -0.1}, "slack"),
        (np.ones(1025, dtype=np.int64), 1024, {"slack": math.nan}, "slack"),
        (np.ones(1025, dtype=np.int64), 1024, {"slack": math.inf}, "slack"),
    ],
)
def test_bad_histograms_and_settings_are_refused(
    fill: np.ndarray, bits: int, kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        band_from_histogram(fill, bits, **kwargs)


@pytest.mark.parametrize("popcount", [0, 1024])
def test_an_index_of_empty_or_full_clks_leaves_no_band(popcount: int) -> None:
    fill = np.zeros(1025, dtype=np.int64)
    fill[popcount] = 100
    with pytest.raises(InvalidInputError, match="no plausible band"):
        band_from_histogram(fill, 1024)
