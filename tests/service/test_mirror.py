"""The index mirror's reads of every held record (a batch's join reads them all)."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.match import pack_clk_bytes
from linkage.service._mirror import IndexMirror

pytestmark = pytest.mark.unit


def clk_bytes(rng: np.random.Generator, n: int) -> list[bytes]:
    return [bytes(row) for row in np.packbits(rng.random((n, 256)) < 0.3, axis=1)]


def test_all_packed_and_packed_except_read_held_records_by_node_ascending() -> None:
    rng = np.random.default_rng(3)
    mirror = IndexMirror(256, (0, 4))
    clks = clk_bytes(rng, 6)
    nodes = [40, 7, 19, 3, 88, 12]
    mirror.add(nodes, clks)
    mirror.remove([19])
    by_node = dict(zip(nodes, clks, strict=True))
    held = sorted(set(nodes) - {19})

    all_nodes, packed = mirror.all_packed()
    assert all_nodes == held
    np.testing.assert_array_equal(packed, pack_clk_bytes([by_node[n] for n in held], 256))

    kept, rest = mirror.packed_except({7, 88, 999})
    assert kept.tolist() == [3, 12, 40]
    np.testing.assert_array_equal(rest, pack_clk_bytes([by_node[n] for n in (3, 12, 40)], 256))
    assert mirror.packed_except(set())[0].tolist() == held


def test_an_empty_mirror_reads_no_records() -> None:
    mirror = IndexMirror(256, (0, 4))
    nodes, packed = mirror.all_packed()
    assert nodes == []
    assert packed.shape == (0, 4)
    assert mirror.packed_except({1})[1].shape == (0, 4)


def test_adds_skip_held_records_and_removals_skip_unheld_and_repeated_ones() -> None:
    rng = np.random.default_rng(4)
    mirror = IndexMirror(256, (0, 4))
    clks = clk_bytes(rng, 4)
    mirror.add([5, 9], clks[:2])
    mirror.add([9, 11], clks[2:])  # 9 is held: kept as it was
    assert mirror.nodes == {5, 9, 11}
    np.testing.assert_array_equal(mirror.packed([9]), pack_clk_bytes([clks[1]], 256))
    mirror.remove([9, 9, 404, 5])  # repeated and unknown nodes are skipped
    assert mirror.nodes == {11}
    assert 11 in mirror
    assert 9 not in mirror
    assert len(mirror) == 1
    assert mirror.key_candidates(pack_clk_bytes([clks[3]], 256)) == []  # no key rules
