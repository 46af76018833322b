"""Benchmark: verifying a 1M-entry audit chain (run with ``pytest -m benchmark -s``).

Entries are regenerated from their sequence number while streaming, the way
rows come back from the store, so the timing includes building each
AuditEntry/ChainedAuditEntry, and memory stays at the stored hashes only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from linkage.security import (
    GENESIS_HASH,
    AuditEntry,
    AuditRowTuple,
    ChainedAuditEntry,
    chain_hash,
    verify_chain,
    verify_rows,
)

pytestmark = pytest.mark.benchmark

N = int(os.environ.get("AUDIT_BENCH_ENTRIES", "1000000"))
DETAILS = '{"disclosed":2,"hidden":0,"purpose":"crisis_response","query_links":3}'


def _entry(seq: int) -> AuditEntry:
    return AuditEntry(
        sequence=seq,
        entry_time_us=1_700_000_000_000_000 + seq * 1000,
        actor=f"responder:valley-mhc/gateway#{seq % 97:x}",
        action="lookup",
        target_ids=(f"L{seq}", f"L{seq + 7}"),
        details_json=DETAILS,
    )


def _rows(hashes: list[bytes]) -> Iterator[ChainedAuditEntry]:
    prev = GENESIS_HASH
    for seq, entry_hash in enumerate(hashes, start=1):
        yield ChainedAuditEntry(_entry(seq), prev, entry_hash)
        prev = entry_hash


def _tuples(hashes: list[bytes]) -> Iterator[AuditRowTuple]:
    prev = GENESIS_HASH
    for seq, entry_hash in enumerate(hashes, start=1):
        yield (
            seq,
            1_700_000_000_000_000 + seq * 1000,
            f"responder:valley-mhc/gateway#{seq % 97:x}",
            "lookup",
            (f"L{seq}", f"L{seq + 7}"),
            DETAILS,
            prev,
            entry_hash,
        )
        prev = entry_hash


def test_verify_one_million_entries() -> None:
    started = time.perf_counter()
    hashes: list[bytes] = []
    prev = GENESIS_HASH
    for seq in range(1, N + 1):
        prev = chain_hash(prev, _entry(seq))
        hashes.append(prev)
    built = time.perf_counter() - started

    started = time.perf_counter()
    result = verify_chain(_rows(hashes))
    verified = time.perf_counter() - started
    assert result.ok
    assert result.entries_checked == N

    started = time.perf_counter()
    fast = verify_rows(_tuples(hashes))
    verified_rows = time.perf_counter() - started
    assert fast == result

    hashes[N // 2] = bytes(32)  # one altered hash in the middle
    broken = verify_rows(_tuples(hashes))
    assert broken.first_bad_sequence == N // 2 + 1

    print(
        f"\naudit chain, {N} entries: build {built:.2f} s; "
        f"verify_chain (AuditEntry objects built per row) {verified:.2f} s "
        f"= {N / verified / 1e3:.0f} k entries/s; "
        f"verify_rows (plain tuples, as from a cursor) {verified_rows:.2f} s "
        f"= {N / verified_rows / 1e3:.0f} k entries/s"
    )
