"""Dice joins: the fast kernels and the references against anonlink 0.15.3, pair for pair.

Every fast join runs on every CPU kernel path (``vpopcnt512``, ``nibble``, ``portable``);
a path this machine's CPU lacks is skipped with the reason."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from match_oracle import anonlink_edges, anonlink_join

import linkage.match._join as join_module
from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.match import (
    CandidatePairs,
    _paths,
    dice_join,
    dice_join_multiparty,
    dice_self_join,
)
from linkage.match.reference import (
    dice_join_multiparty_reference,
    dice_join_reference,
    dice_self_join_reference,
)
from linkage.types import PackedClks

pytestmark = pytest.mark.unit

Join = Callable[..., CandidatePairs]


def on_path(path: str, join: Join) -> Join:
    """``join`` run with the kernel path ``path`` forced."""

    def run(*args: object, **kwargs: object) -> CandidatePairs:
        with _paths.forced_kernel_path(path):
            return join(*args, **kwargs)

    return run


def path_params(join: Join, prefix: str) -> list[object]:
    target = _paths.compile_target()
    params = []
    for path in _paths.CPU_PATHS:
        problem = _paths.path_problem(path, target, lambda: None)
        params.append(
            pytest.param(
                on_path(path, join),
                id=f"{prefix}-{path}",
                marks=pytest.mark.skipif(problem is not None, reason=f"{path}: {problem}"),
            )
        )
    return params


JOINS = [*path_params(dice_join, "fast"), pytest.param(dice_join_reference, id="reference")]
SELF_JOINS = [
    *path_params(dice_self_join, "fast"),
    pytest.param(dice_self_join_reference, id="reference"),
]
FAST_JOINS = path_params(dice_join, "fast")
FAST_SELF_JOINS = path_params(dice_self_join, "fast")


def random_clks(rng: np.random.Generator, n: int, bits: int, fill: float) -> PackedClks:
    fills = rng.uniform(fill * 0.6, fill * 1.4, size=(n, 1))
    return np.packbits(rng.random((n, bits)) < fills, axis=1).view(">u8").astype(np.uint64)


def with_near_copies(rng: np.random.Generator, base: PackedClks, n: int, flip: float) -> PackedClks:
    """``n`` records: noisy copies of random rows of ``base``, then fresh random ones."""
    bits = base.shape[1] * 64
    out = random_clks(rng, n, bits, 0.35)
    copies = min(n // 2, base.shape[0])
    rows = rng.choice(base.shape[0], size=copies, replace=False)
    noise = np.packbits(rng.random((copies, bits)) < flip, axis=1).view(">u8").astype(np.uint64)
    out[:copies] = base[rows] ^ noise
    return out


def same(a: CandidatePairs, b: CandidatePairs) -> bool:
    return (
        np.array_equal(a.scores, b.scores)
        and np.array_equal(a.left, b.left)
        and np.array_equal(a.right, b.right)
    )


@pytest.mark.parametrize("join", JOINS)
@pytest.mark.parametrize("bits", [64, 1024, 1088, 2048])
@pytest.mark.parametrize("threshold", [0.0, 0.5, 0.8, 0.95, 1.0])
def test_join_equals_anonlink(join: Join, bits: int, threshold: float) -> None:
    rng = np.random.default_rng(bits + int(threshold * 100))
    left = random_clks(rng, 40, bits, 0.35)
    right = with_near_copies(rng, left, 55, 0.04)
    right[3] = left[7]  # an exact copy: score 1.0
    left[5] = 0  # all-zero filters on both sides
    right[9] = 0
    expected = anonlink_join(left, right, threshold)
    got = join(left, right, threshold)
    assert same(got, expected)
    if threshold == 0.0:
        assert len(got) == 40 * 55


@pytest.mark.parametrize("join", JOINS)
@pytest.mark.parametrize("k", [0, 1, 2, 5, 100])
@pytest.mark.parametrize("threshold", [0.0, 0.6, 0.8])
def test_top_k_join_equals_anonlink(join: Join, k: int, threshold: float) -> None:
    rng = np.random.default_rng(k)
    left = random_clks(rng, 30, 128, 0.3)
    right = with_near_copies(rng, left, 45, 0.08)
    right[10:14] = right[10]  # duplicates on the right compete for the same left rows
    left[2] = 0
    assert same(join(left, right, threshold, k=k), anonlink_join(left, right, threshold, k=k))


# Sparse 64/128-bit CLKs make many equal scores, including scores exactly at the threshold.
sparse_words = st.integers(0, 2**64 - 1).map(lambda x: x & (x >> 7) & (x >> 13))
sparse_clks = st.integers(1, 2).flatmap(
    lambda words: st.tuples(
        st.lists(st.lists(sparse_words, min_size=words, max_size=words), min_size=0, max_size=18),
        st.lists(st.lists(sparse_words, min_size=words, max_size=words), min_size=0, max_size=18),
    )
)
thresholds = st.sampled_from([0.0, 0.25, 1 / 3, 0.5, 0.6, 2 / 3, 0.7, 0.75, 0.8, 0.9, 1.0]) | (
    st.floats(0.0, 1.0)
)


def as_packed(rows: list[list[int]], words: int) -> PackedClks:
    return np.array(rows, dtype=np.uint64).reshape(len(rows), words)


@pytest.mark.parametrize("join", JOINS)
@given(data=sparse_clks, threshold=thresholds, k=st.none() | st.integers(0, 4))
@settings(max_examples=60, deadline=None)
def test_join_equals_anonlink_on_ties(
    join: Join, data: tuple[list[list[int]], list[list[int]]], threshold: float, k: int | None
) -> None:
    words = len((data[0] or data[1] or [[0]])[0])
    left, right = as_packed(data[0], words), as_packed(data[1], words)
    assert same(join(left, right, threshold, k=k), anonlink_join(left, right, threshold, k=k))


@pytest.mark.parametrize("self_join", SELF_JOINS)
@pytest.mark.parametrize("threshold", [0.0, 0.7, 0.8])
def test_self_join_equals_anonlink_upper_triangle(self_join: Join, threshold: float) -> None:
    rng = np.random.default_rng(7)
    base = random_clks(rng, 30, 1024, 0.35)
    clks = np.vstack([base, with_near_copies(rng, base, 30, 0.05)])
    clks[4] = clks[40]
    clks[11] = 0
    clks[12] = 0
    full = anonlink_join(clks, clks, threshold)
    upper = full.left < full.right
    expected = CandidatePairs(full.scores[upper], full.left[upper], full.right[upper])
    assert same(self_join(clks, threshold), expected)


@pytest.mark.parametrize("self_join", FAST_SELF_JOINS)
@pytest.mark.parametrize("threshold", [0.5, 0.8])
@pytest.mark.parametrize("k", [1, 3])
def test_self_join_top_k_fast_equals_reference(self_join: Join, threshold: float, k: int) -> None:
    rng = np.random.default_rng(k)
    base = random_clks(rng, 25, 128, 0.3)
    clks = np.vstack([base, with_near_copies(rng, base, 25, 0.06), base[:5]])
    assert same(self_join(clks, threshold, k=k), dice_self_join_reference(clks, threshold, k=k))


@pytest.mark.parametrize("self_join", FAST_SELF_JOINS)
@given(data=sparse_clks, threshold=thresholds, k=st.none() | st.integers(1, 3))
@settings(max_examples=40, deadline=None)
def test_self_join_fast_equals_reference_on_ties(
    self_join: Join,
    data: tuple[list[list[int]], list[list[int]]],
    threshold: float,
    k: int | None,
) -> None:
    words = len((data[0] or data[1] or [[0]])[0])
    clks = as_packed(data[0] + data[1], words)
    assert same(self_join(clks, threshold, k=k), dice_self_join_reference(clks, threshold, k=k))


@pytest.mark.parametrize(
    "multiparty", [dice_join_multiparty, dice_join_multiparty_reference], ids=["fast", "ref"]
)
@pytest.mark.parametrize("k", [None, 2])
def test_multiparty_equals_anonlink(multiparty: Callable[..., object], k: int | None) -> None:
    rng = np.random.default_rng(3)
    first = random_clks(rng, 20, 128, 0.3)
    datasets = [
        first,
        with_near_copies(rng, first, 25, 0.05),
        with_near_copies(rng, first, 15, 0.05),
    ]
    got = multiparty(datasets, 0.7, k=k)
    expected = anonlink_edges(datasets, 0.7, k)
    assert got.as_tuples() == expected.as_tuples()  # type: ignore[attr-defined]


@pytest.mark.parametrize("join", FAST_JOINS)
def test_large_join_spans_many_tiles_and_overflowing_tiles(
    join: Join, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(11)
    left = random_clks(rng, 700, 1024, 0.35)
    right = with_near_copies(rng, left, 2600, 0.05)  # more than one slab of right groups
    left[100:140] = left[100]  # 40 x 40 identical pairs overflow a tile's buffer
    right[2500:2540] = left[100]
    monkeypatch.setattr(join_module, "_MAX_UNITS_PER_LAUNCH", 7)  # several kernel launches
    monkeypatch.setattr(join_module, "_BUFFER_START", 16)  # tiles overflow and are rerun
    got = join(left, right, 0.8)
    assert same(got, anonlink_join(left, right, 0.8))
    assert len(got) > 1600


def test_results_are_in_canonical_order() -> None:
    rng = np.random.default_rng(5)
    left = random_clks(rng, 50, 128, 0.3)
    right = with_near_copies(rng, left, 60, 0.1)
    pairs = dice_join(left, right, 0.5)
    keys = list(
        zip((-pairs.scores).tolist(), pairs.left.tolist(), pairs.right.tolist(), strict=True)
    )
    assert keys == sorted(keys)
    assert len(pairs) > 0
    with pytest.raises(ValueError, match="read-only"):
        pairs.scores[0] = 0.0


def test_empty_inputs_give_no_pairs() -> None:
    empty = np.zeros((0, 16), dtype=np.uint64)
    some = np.ones((3, 16), dtype=np.uint64)
    assert len(dice_join(empty, some, 0.5)) == 0
    assert len(dice_join(some, empty, 0.5)) == 0
    assert len(dice_self_join(some[:1], 0.0)) == 0


def test_invalid_arguments_are_rejected() -> None:
    a = np.ones((3, 16), dtype=np.uint64)
    b = np.ones((3, 32), dtype=np.uint64)
    with pytest.raises(InvalidInputError, match="differ in length"):
        dice_join(a, b, 0.5)
    with pytest.raises(InvalidInputError, match="threshold"):
        dice_join(a, a, 1.5)
    with pytest.raises(InvalidInputError, match="k must"):
        dice_join(a, a, 0.5, k=-1)
    with pytest.raises(InvalidInputError, match="at least two"):
        dice_join_multiparty([a], 0.5)


@pytest.mark.parametrize("path", _paths.CPU_PATHS)
def test_max_pairs_bounds_the_result(path: str) -> None:
    problem = _paths.path_problem(path, _paths.compile_target(), lambda: None)
    if problem is not None:
        pytest.skip(f"{path}: {problem}")
    rng = np.random.default_rng(12)
    left = random_clks(rng, 100, 256, 0.4)
    with _paths.forced_kernel_path(path):
        assert len(dice_join(left, left, 0.0, max_pairs=10_000)) == 10_000
        with pytest.raises(ResourceExhaustedError, match="more than 9999"):
            dice_join(left, left, 0.0, max_pairs=9_999)
        with pytest.raises(ResourceExhaustedError):
            dice_self_join(left, 0.0, max_pairs=100)
