"""Record CLKs at ingest: fixed rules refuse what no encoding produces (issue 22)."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.errors import Problem
from linkage.security import MAX_RECORD_FILL, record_clk_problems

WHERE = "mutations[3].upsert.clk"
SEGMENTS = [("surname", 2, 4), ("dob_key", 4, 5)]


def _clk(words: int, fill: float, seed: int = 0) -> bytearray:
    rng = np.random.default_rng(seed)
    return bytearray(np.packbits(rng.random(64 * words) < fill).tobytes())


def test_a_genuine_fill_passes() -> None:
    assert record_clk_problems(bytes(_clk(16, 0.45)), WHERE) == []
    assert (
        record_clk_problems(bytes(_clk(5, 0.45)), WHERE, record_words=(0, 2), segments=SEGMENTS)
        == []
    )


@pytest.mark.parametrize(
    ("clk", "reason"),
    [
        (bytes(128), "is all zeros: every feature is missing"),
        (b"\xff" * 128, "has every bit set: no encoding sets them all"),
    ],
)
def test_all_zeros_and_all_ones_are_refused_by_position(clk: bytes, reason: str) -> None:
    assert record_clk_problems(clk, WHERE) == [Problem(WHERE, reason)]


def test_a_fill_beyond_the_fixed_bound_is_refused() -> None:
    full = _clk(16, 0.99, seed=1)
    assert sum(bin(b).count("1") for b in full) > MAX_RECORD_FILL * 1024
    assert record_clk_problems(bytes(full), WHERE) == [
        Problem(WHERE, "has more than 95% of its bits set: no encoding does")
    ]


def test_a_record_part_beyond_the_bound_is_named_as_the_record_part() -> None:
    clk = _clk(5, 0.3)
    clk[0:16] = b"\xff" * 15 + b"\xfe"  # 127 of the record part's 128 bits
    assert record_clk_problems(bytes(clk), WHERE, record_words=(0, 2), segments=SEGMENTS) == [
        Problem(WHERE, "has more than 95% of its record part's bits set: no encoding does")
    ]


def test_a_segment_all_ones_and_a_full_key_word_are_named_by_segment() -> None:
    clk = _clk(6, 0.3)
    clk[16:32] = b"\xff" * 16  # the surname segment, every bit set
    clk[32:40] = b"\xff" * 8  # the key word of dob_key
    problems = record_clk_problems(
        bytes(clk), WHERE, record_words=(0, 2), segments=[*SEGMENTS, ("phone", 5, 6)]
    )
    assert problems == [
        Problem(f"{WHERE}.surname", "has more than 95% of its bits set: no encoding does"),
        Problem(f"{WHERE}.dob_key", "has more than 95% of its bits set: no encoding does"),
    ]
    clk = _clk(6, 0.3)
    clk[16:24] = b"\xff" * 8  # one of surname's two words
    assert record_clk_problems(bytes(clk), WHERE, segments=SEGMENTS) == [
        Problem(f"{WHERE}.surname", "has a word with every bit set")
    ]


def test_the_batch_screen_flags_exactly_the_records_the_check_refuses() -> None:
    """records_to_check decides for a whole batch which CLKs need the per-record check;
    it must flag every one the check refuses (and here, none that it passes)."""
    from linkage.security import records_to_check

    clks = [bytes(_clk(5, fill, seed)) for seed, fill in enumerate([0.3, 0.45, 0.5, 0.2] * 5)]
    zeros = bytes(40)
    ones = b"\xff" * 40
    record_full = bytearray(_clk(5, 0.3, 99))
    record_full[0:16] = b"\xff" * 15 + b"\x0f"  # the record part beyond the fill bound
    segment_word = bytearray(_clk(5, 0.3, 98))
    segment_word[32:40] = b"\xff" * 8  # a key segment's word with every bit set
    segment_full = bytearray(_clk(5, 0.3, 97))
    segment_full[16:32] = b"\xff" * 16  # the surname segment full
    batch = [*clks, zeros, ones, bytes(record_full), bytes(segment_word), bytes(segment_full)]
    flagged = records_to_check(batch, record_words=(0, 2), segments=SEGMENTS)
    refused = [
        bool(record_clk_problems(clk, WHERE, record_words=(0, 2), segments=SEGMENTS))
        for clk in batch
    ]
    assert flagged.tolist() == refused
    assert sum(refused) == 5
    assert records_to_check([]).shape == (0,)
    assert records_to_check([zeros, bytes(clks[0])]).tolist() == [True, False]
