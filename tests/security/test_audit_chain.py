"""The audit hash chain: canonical encoding, and detection of every kind of tampering."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.errors import IntegrityError, InvalidInputError
from linkage.security import (
    GENESIS_HASH,
    AuditEntry,
    ChainedAuditEntry,
    canonical_details_json,
    chain_hash,
    encode_entry,
    seal,
    verify_chain,
    verify_rows,
)

pytestmark = pytest.mark.unit

Chain = list[ChainedAuditEntry]


def make_chain(n: int, *, start: int = 1, prev: ChainedAuditEntry | None = None) -> Chain:
    chain: Chain = []
    for seq in range(start, start + n):
        entry = AuditEntry.new(
            sequence=seq,
            entry_time_us=1_700_000_000_000_000 + seq,
            actor=f"responder:valley/gw#{seq:x}",
            action="lookup",
            target_ids=(f"link-{seq}", f"link-{seq + 1}"),
            details={"disclosed": seq % 3, "purpose": "crisis_response", "hidden": False},
        )
        prev = seal(entry, prev)
        chain.append(prev)
    return chain


def rebuild(entries: list[AuditEntry]) -> Chain:
    """Re-seal ``entries`` as an attacker with write access would (renumbered, rehashed)."""
    out: Chain = []
    prev: ChainedAuditEntry | None = None
    for i, entry in enumerate(entries, start=1):
        prev = seal(dataclasses.replace(entry, sequence=i), prev)
        out.append(prev)
    return out


def _altered(item: ChainedAuditEntry, **changes: Any) -> ChainedAuditEntry:
    return dataclasses.replace(item, entry=dataclasses.replace(item.entry, **changes))


def test_encoding_matches_the_documented_format() -> None:
    entry = AuditEntry.new(
        sequence=7,
        entry_time_us=-5,
        actor="op",
        action="cert.revoke",
        target_ids=["a", "é"],
        details={"z": 1, "a": [True, None, "x"]},
    )

    def lp(raw: bytes) -> bytes:
        return struct.pack(">I", len(raw)) + raw

    expected = (
        b"coresponder-audit/v1\x00"
        + struct.pack(">Q", 7)
        + struct.pack(">q", -5)
        + lp(b"op")
        + lp(b"cert.revoke")
        + struct.pack(">I", 2)
        + lp(b"a")
        + lp("é".encode())
        + lp(b'{"a":[true,null,"x"],"z":1}')
    )
    assert encode_entry(entry) == expected
    assert chain_hash(GENESIS_HASH, entry) == hashlib.sha256(bytes(32) + expected).digest()


def test_length_prefixes_make_field_boundaries_unambiguous() -> None:
    a = AuditEntry.new(sequence=1, entry_time_us=0, actor="ab", action="c", target_ids=["d"])
    b = AuditEntry.new(sequence=1, entry_time_us=0, actor="a", action="bc", target_ids=["d"])
    c = AuditEntry.new(sequence=1, entry_time_us=0, actor="ab", action="c", target_ids=["", "d"])
    assert len({chain_hash(GENESIS_HASH, e) for e in (a, b, c)}) == 3


def test_details_are_canonical() -> None:
    assert canonical_details_json({"b": 1, "a": "é"}) == '{"a":"\\u00e9","b":1}'
    assert canonical_details_json({"t": (1, 2)}) == '{"t":[1,2]}'
    for bad in ({"f": 1.5}, {"n": {"nested": 1}}, {"": 1}, {"big": 2**63}, {"l": [[1]]}):
        with pytest.raises(InvalidInputError):
            canonical_details_json(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"sequence": 0},
        {"sequence": True},
        {"entry_time_us": 1.5},
        {"actor": ""},
        {"action": "Lookup"},
        {"action": "look up"},
        {"target_ids": ["a"]},
        {"target_ids": (1,)},
        {"details_json": None},
    ],
)
def test_entry_validation(changes: dict[str, object]) -> None:
    base = {
        "sequence": 1,
        "entry_time_us": 0,
        "actor": "a",
        "action": "lookup",
        "target_ids": (),
        "details_json": "{}",
    }
    with pytest.raises(InvalidInputError):
        AuditEntry(**{**base, **changes})  # type: ignore[arg-type]


def test_details_property_parses() -> None:
    entry = AuditEntry.new(sequence=1, entry_time_us=0, actor="a", action="x", details={"k": 1})
    assert entry.details == {"k": 1}
    broken = dataclasses.replace(entry, details_json="[")
    with pytest.raises(IntegrityError):
        _ = broken.details


def test_seal_enforces_contiguous_sequences() -> None:
    first = make_chain(1)[0]
    skip = AuditEntry.new(sequence=3, entry_time_us=0, actor="a", action="x")
    with pytest.raises(InvalidInputError, match="sequence must be 2"):
        seal(skip, first)


def test_an_intact_chain_verifies_streaming() -> None:
    chain = make_chain(50)
    result = verify_chain(item for item in chain)  # a generator: one pass, no len()
    assert result.ok
    assert result.entries_checked == 50
    assert result.last_sequence == 50
    assert result.head_hash == chain[-1].entry_hash
    assert result.first_bad_sequence is None
    result.raise_for_failure()
    empty = verify_chain([])
    assert empty.ok
    assert empty.head_hash == GENESIS_HASH


def test_a_segment_verifies_from_a_checkpoint() -> None:
    chain = make_chain(20)
    result = verify_chain(chain[10:], start_sequence=11, start_hash=chain[9].entry_hash)
    assert result.ok
    assert result.entries_checked == 10
    wrong = verify_chain(chain[10:], start_sequence=11, start_hash=chain[8].entry_hash)
    assert not wrong.ok
    assert wrong.first_bad_sequence == 11


def test_stores_without_prev_hash_still_verify() -> None:
    chain = [dataclasses.replace(item, prev_hash=None) for item in make_chain(10)]
    assert verify_chain(chain).ok
    chain[4] = _altered(chain[4], actor="someone else")
    assert verify_chain(chain).first_bad_sequence == 5


# -- tampering: each kind, and the first bad entry named -------------------------------

Tamper = Callable[[Chain, int], tuple[Chain, int]]


def alter_content(chain: Chain, k: int) -> tuple[Chain, int]:
    chain[k - 1] = _altered(chain[k - 1], action="withdraw")
    return chain, k


def alter_details(chain: Chain, k: int) -> tuple[Chain, int]:
    chain[k - 1] = _altered(chain[k - 1], details_json='{"disclosed":99}')
    return chain, k


def alter_targets(chain: Chain, k: int) -> tuple[Chain, int]:
    chain[k - 1] = _altered(chain[k - 1], target_ids=())
    return chain, k


def alter_time(chain: Chain, k: int) -> tuple[Chain, int]:
    item = chain[k - 1]
    chain[k - 1] = _altered(item, entry_time_us=item.entry.entry_time_us + 1)
    return chain, k


def alter_and_rehash(chain: Chain, k: int) -> tuple[Chain, int]:
    """Change entry k and recompute its own hash (but not the rest of the chain)."""
    item = chain[k - 1]
    entry = dataclasses.replace(item.entry, actor="operator:cover-up#1")
    assert item.prev_hash is not None
    chain[k - 1] = ChainedAuditEntry(entry, item.prev_hash, chain_hash(item.prev_hash, entry))
    return chain, k


def alter_stored_hash(chain: Chain, k: int) -> tuple[Chain, int]:
    chain[k - 1] = dataclasses.replace(chain[k - 1], entry_hash=bytes(32))
    return chain, k


def alter_stored_prev(chain: Chain, k: int) -> tuple[Chain, int]:
    chain[k - 1] = dataclasses.replace(chain[k - 1], prev_hash=b"\x01" * 32)
    return chain, k


def delete(chain: Chain, k: int) -> tuple[Chain, int]:
    del chain[k - 1]
    return chain, k


def delete_and_renumber(chain: Chain, k: int) -> tuple[Chain, int]:
    """Delete entry k and renumber the later ones (without being able to rehash them)."""
    del chain[k - 1]
    for i in range(k - 1, len(chain)):
        chain[i] = _altered(chain[i], sequence=chain[i].entry.sequence - 1)
    return chain, k


def insert(chain: Chain, k: int) -> tuple[Chain, int]:
    """Insert a forged entry at position k, correctly chained to k-1, renumbering the rest."""
    prev = chain[k - 2] if k > 1 else None
    forged = seal(AuditEntry.new(sequence=k, entry_time_us=0, actor="x", action="forged"), prev)
    tail = [_altered(item, sequence=item.entry.sequence + 1) for item in chain[k - 1 :]]
    return [*chain[: k - 1], forged, *tail], k + 1


def insert_duplicate(chain: Chain, k: int) -> tuple[Chain, int]:
    chain.insert(k, chain[k - 1])
    return chain, k


def swap(chain: Chain, k: int) -> tuple[Chain, int]:
    chain[k - 1], chain[k] = chain[k], chain[k - 1]
    return chain, k


TAMPERS: list[Tamper] = [
    alter_content,
    alter_details,
    alter_targets,
    alter_time,
    alter_and_rehash,
    alter_stored_hash,
    alter_stored_prev,
    delete,
    delete_and_renumber,
    insert,
    insert_duplicate,
    swap,
]


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda t: t.__name__)
@pytest.mark.parametrize("k", [1, 2, 7, 19])
def test_tampering_is_detected_at_the_first_bad_entry(tamper: Tamper, k: int) -> None:
    chain, first_bad = tamper(make_chain(20), k)
    result = verify_chain(chain)
    assert not result.ok, tamper.__name__
    assert result.first_bad_sequence == first_bad, result.reason
    assert result.reason
    assert result.entries_checked <= first_bad
    with pytest.raises(IntegrityError, match=f"broken at sequence {first_bad}"):
        result.raise_for_failure()


@given(
    n=st.integers(3, 40),
    data=st.data(),
    tamper=st.sampled_from(TAMPERS),
)
def test_any_single_tamper_anywhere_is_detected(
    n: int, data: st.DataObject, tamper: Tamper
) -> None:
    k = data.draw(st.integers(1, n - 1), label="k")  # not the last: see the checkpoint tests
    chain, first_bad = tamper(make_chain(n), k)
    result = verify_chain(chain)
    assert not result.ok
    assert result.first_bad_sequence == first_bad


def test_truncating_the_tail_needs_a_checkpoint() -> None:
    chain = make_chain(10)
    head = (10, chain[-1].entry_hash)
    truncated = chain[:7]
    assert verify_chain(truncated).ok  # a hash chain alone cannot see a missing tail
    result = verify_chain(truncated, trusted_head=head)
    assert not result.ok
    assert result.first_bad_sequence == 8
    assert "tail deleted" in (result.reason or "")


def test_a_wholesale_rewrite_needs_a_checkpoint() -> None:
    chain = make_chain(10)
    checkpoint = (6, chain[5].entry_hash)
    entries = [item.entry for item in chain]
    rewritten = rebuild(entries[:3] + entries[4:])  # entry 4 deleted, the rest re-sealed
    assert verify_chain(rewritten).ok
    result = verify_chain(rewritten, trusted_head=checkpoint)
    assert not result.ok
    assert result.first_bad_sequence == 6
    assert verify_chain(chain, trusted_head=checkpoint).ok
    assert verify_chain(chain, trusted_head=(10, chain[-1].entry_hash)).ok


def test_altering_the_last_entry_with_a_rehash_needs_a_checkpoint() -> None:
    chain, _ = alter_and_rehash(make_chain(5), 5)
    assert verify_chain(chain).ok
    result = verify_chain(chain, trusted_head=(5, make_chain(5)[-1].entry_hash))
    assert not result.ok
    assert result.first_bad_sequence == 5


def test_bad_arguments() -> None:
    with pytest.raises(InvalidInputError):
        chain_hash(b"short", make_chain(1)[0].entry)
    with pytest.raises(InvalidInputError):
        verify_chain([], start_hash=b"short")


def _as_tuple(item: ChainedAuditEntry) -> tuple[object, ...]:
    e = item.entry
    return (
        e.sequence,
        e.entry_time_us,
        e.actor,
        e.action,
        e.target_ids,
        e.details_json,
        item.prev_hash,
        item.entry_hash,
    )


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda t: t.__name__)
def test_verify_rows_agrees_with_verify_chain(tamper: Tamper) -> None:
    intact = make_chain(12)
    assert verify_rows(map(_as_tuple, intact)) == verify_chain(intact)  # type: ignore[arg-type]
    chain, _ = tamper(make_chain(12), 5)
    assert verify_rows(map(_as_tuple, chain)) == verify_chain(chain)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("index", "value"),
    [(0, "3"), (1, 1.5), (1, 2**64), (2, None), (3, 7), (4, [1]), (5, None)],
)
def test_malformed_rows_are_reported_not_raised(index: int, value: object) -> None:
    rows = [list(_as_tuple(item)) for item in make_chain(5)]
    rows[2][index] = value
    result = verify_rows(tuple(row) for row in rows)  # type: ignore[misc]
    assert not result.ok
    assert result.first_bad_sequence == 3
    assert "malformed" in (result.reason or "")
