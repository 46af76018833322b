"""A batch linked against the in-memory index (linkage/probabilistic/_batch_screen.py):
exactly the pairs, scores and order of the full join of the blocking rules against every
held record, whatever the index's adds, removals and the records left out."""

from __future__ import annotations

import numpy as np
import pytest
from keyed_helpers import KEYED_LAYOUT, keyed_records

from linkage.errors import InvalidInputError, NotFoundError
from linkage.match import ClkIndex, HammingLsh
from linkage.probabilistic import (
    BlockingRules,
    Comparison,
    ExactRule,
    FellegiSunterModel,
    LshRule,
    ProbabilisticLinker,
    TermFrequencies,
)
from linkage.probabilistic._batch_screen import batch_candidate_pairs, link_against_index
from linkage.probabilistic._keyindex import KeyIndex
from linkage.types import PackedClks

pytestmark = pytest.mark.unit

RULES = BlockingRules(
    (
        LshRule(("record",), HammingLsh(bands=6, bits_per_band=20, seed=1)),
        ExactRule(("name",)),
        ExactRule(("keys",)),  # a segment of several keys: any shared key
        ExactRule(("keys2", "key1")),
        ExactRule(("name", "key1"), unordered=True),
        LshRule(("name", "record"), HammingLsh(bands=4, bits_per_band=30, seed=2)),
    )
)
EXACT = tuple(rule for rule in RULES.rules if isinstance(rule, ExactRule))


def _linker() -> ProbabilisticLinker:
    model = FellegiSunterModel(
        (Comparison("keys", (0.9, 0.4)), Comparison("name", (1.0,))),
        ((0.7, 0.2, 0.1), (0.9, 0.1)),
        ((0.05, 0.15, 0.8), (0.2, 0.8)),
        0.05,
    )
    return ProbabilisticLinker(KEYED_LAYOUT, model, RULES, 0.3)


def _near_copies(rng: np.random.Generator, base: PackedClks) -> PackedClks:
    out = base.copy()
    flips = rng.integers(0, 64, size=(out.shape[0], 3)).astype(np.uint64)
    for column in range(flips.shape[1]):
        out[:, 0] ^= np.uint64(1) << flips[:, column]
    return out


def _state(seed: int) -> tuple[PackedClks, np.ndarray, ClkIndex, KeyIndex, PackedClks]:
    """Held records (node IDs ascending), an index and a key index of them after adds and
    removals, and a batch: near copies of held and of removed records, and new ones."""
    rng = np.random.default_rng(seed)
    records = keyed_records(600, seed)
    nodes = np.arange(600, dtype=np.int64) * 3 + 7
    index = ClkIndex(KEYED_LAYOUT.total_words * 64, capacity=64)
    keys = KeyIndex(KEYED_LAYOUT, EXACT)
    for part in np.array_split(np.arange(600), 3):  # added in batches
        index.add(nodes[part], records[part])
        keys.add(nodes[part], records[part])
    removed = rng.choice(600, 60, replace=False)
    index.remove(nodes[removed])
    keys.remove(nodes[removed].tolist())
    held = np.setdiff1d(np.arange(600), removed)
    batch = np.concatenate(
        [
            _near_copies(rng, records[rng.choice(held, 30, replace=False)]),
            _near_copies(rng, records[removed[:10]]),
            keyed_records(20, seed + 100),
        ]
    )
    return records[held], nodes[held], index, keys, batch


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_candidate_pairs_are_the_full_joins(seed: int) -> None:
    held, held_nodes, index, keys, batch = _state(seed)
    rows, found_nodes, union, packed = batch_candidate_pairs(
        batch, index, keys, KEYED_LAYOUT, RULES
    )
    left, right = RULES.candidate_pairs(batch, held, KEYED_LAYOUT)
    assert left.size > 100  # every kind of rule pairs something here
    assert rows.tolist() == left.tolist()
    assert found_nodes.tolist() == held_nodes[right].tolist()
    # every paired record is among those looked at, whose CLKs come with them
    assert set(found_nodes.tolist()) <= set(union.tolist())
    assert union.tolist() == sorted(set(union.tolist()))
    assert packed.tolist() == index.get(union).tolist()


@pytest.mark.parametrize("seed", [4, 5])
def test_linking_gives_the_full_joins_pairs_scores_and_order(seed: int) -> None:
    held, held_nodes, index, keys, batch = _state(seed)
    leaving = set(held_nodes[::5].tolist())
    staying = np.isin(held_nodes, list(leaving), invert=True)
    linker = _linker()
    frequencies = TermFrequencies.of(held, KEYED_LAYOUT, ("name",))
    expected = linker.link(batch, held[staying], frequencies)
    assert len(expected) > 20
    pairs, nodes = link_against_index(linker, batch, index, keys, frequencies, leaving)
    assert pairs.scores.tolist() == expected.scores.tolist()
    assert pairs.left.tolist() == expected.left.tolist()
    assert nodes[pairs.right].tolist() == held_nodes[staying][expected.right].tolist()
    assert not leaving & set(nodes.tolist())


def test_an_index_without_the_rules_keys_is_refused() -> None:
    _, _, index, _, batch = _state(6)
    other = KeyIndex(KEYED_LAYOUT, EXACT[:2])
    with pytest.raises(InvalidInputError, match="does not hold the exact rules' keys"):
        batch_candidate_pairs(batch, index, other, KEYED_LAYOUT, RULES)
    with pytest.raises(InvalidInputError, match="does not hold the exact rules' keys"):
        batch_candidate_pairs(batch, index, None, KEYED_LAYOUT, RULES)


def test_an_empty_batch_or_index_pairs_nothing() -> None:
    _, _, index, keys, batch = _state(7)
    rows, nodes, union, packed = batch_candidate_pairs(batch[:0], index, keys, KEYED_LAYOUT, RULES)
    assert rows.size == nodes.size == union.size == packed.shape[0] == 0
    empty = ClkIndex(KEYED_LAYOUT.total_words * 64)
    no_keys = KeyIndex(KEYED_LAYOUT, EXACT)
    pairs, held = link_against_index(_linker(), batch, empty, no_keys, None)
    assert len(pairs) == 0
    assert held.size == 0


def test_a_key_index_holding_a_record_the_index_lacks_is_an_error_naming_it() -> None:
    held, held_nodes, index, keys, _ = _state(8)
    index.remove(held_nodes[:1])  # gone from the index only
    with pytest.raises(NotFoundError, match="is not in the index"):
        batch_candidate_pairs(held[:1], index, keys, KEYED_LAYOUT, RULES)
