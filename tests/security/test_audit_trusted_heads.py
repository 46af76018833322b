"""Heads kept outside the store catch a chain re-sealed from any entry up to them."""

from __future__ import annotations

import dataclasses

import pytest

from linkage.security import verify_chain
from tests.security.test_audit_chain import make_chain, rebuild

pytestmark = pytest.mark.unit


def _resealed_from(chain: list, sequence: int) -> list:  # type: ignore[type-arg]
    """The chain with entry ``sequence`` altered and every entry from it re-sealed, as
    whoever holds the database can do."""
    entries = [item.entry for item in chain]
    entries[sequence - 1] = dataclasses.replace(entries[sequence - 1], actor="someone-else")
    return rebuild(entries)


def _head(chain: list, sequence: int) -> tuple[int, bytes]:  # type: ignore[type-arg]
    return sequence, chain[sequence - 1].entry_hash


def test_a_resealed_chain_verifies_alone_but_not_against_a_head_kept_elsewhere() -> None:
    chain = make_chain(20)
    forged = _resealed_from(chain, 5)
    assert verify_chain(forged).ok, "the chain alone cannot show a re-seal"
    result = verify_chain(forged, trusted_heads=[_head(chain, 3), _head(chain, 10)])
    assert not result.ok
    assert result.first_bad_sequence == 10
    assert result.reason is not None
    assert "trusted checkpoint" in result.reason


@pytest.mark.parametrize("start", [1, 7, 12, 20])
def test_a_reseal_from_any_entry_up_to_the_latest_head_is_caught(start: int) -> None:
    chain = make_chain(20)
    heads = [_head(chain, s) for s in (4, 12, 20)]
    assert verify_chain(chain, trusted_heads=heads).ok
    result = verify_chain(_resealed_from(chain, start), trusted_heads=heads)
    assert not result.ok
    assert result.first_bad_sequence == min(s for s, _ in heads if s >= start)


def test_a_tail_cut_short_of_a_head_is_caught() -> None:
    chain = make_chain(20)
    result = verify_chain(chain[:15], trusted_heads=[_head(chain, 5), _head(chain, 18)])
    assert not result.ok
    assert result.reason is not None
    assert "tail deleted" in result.reason


def test_heads_that_disagree_about_one_entry_fail() -> None:
    chain = make_chain(10)
    forged = _resealed_from(chain, 2)
    result = verify_chain(chain, trusted_heads=[_head(chain, 6), _head(forged, 6)])
    assert not result.ok
    assert result.first_bad_sequence == 6
    assert result.reason is not None
    assert "two different hashes" in result.reason


def test_the_single_trusted_head_still_works_beside_the_list() -> None:
    chain = make_chain(8)
    forged = _resealed_from(chain, 2)
    assert not verify_chain(forged, trusted_head=_head(chain, 8)).ok
    assert verify_chain(chain, trusted_head=_head(chain, 8), trusted_heads=[_head(chain, 3)]).ok
