"""The audit log as the store keeps it: entries sealed inside write transactions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from linkage.errors import InvalidInputError
from linkage.security import GENESIS_HASH, append_audit_entry, verify_audit_log
from linkage.store import SqliteLinkStore

pytestmark = pytest.mark.unit


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteLinkStore]:
    opened = SqliteLinkStore(tmp_path / "audit.db")
    yield opened
    opened.close()


def test_entries_are_numbered_from_one_and_chained(store: SqliteLinkStore) -> None:
    with store.write() as tx:
        first = append_audit_entry(tx, "op", "agency.create", ["agencies/a"], {}, 10)
        second = append_audit_entry(tx, "op", "lookup", [], {"matched_links": 2}, 11)
    assert (first, second) == (1, 2)
    rows = list(store.iter_audit())
    assert rows[0].prev_hash == GENESIS_HASH
    assert rows[1].prev_hash == rows[0].entry_hash
    assert rows[1].details == '{"matched_links":2}'
    result = verify_audit_log(store)
    assert result.ok
    assert (result.entries_checked, result.last_sequence) == (2, 2)


def test_an_entry_rolls_back_with_its_transaction(store: SqliteLinkStore) -> None:
    with store.write() as tx:
        append_audit_entry(tx, "op", "agency.create", [], {}, 1)
    with pytest.raises(RuntimeError), store.write() as tx:
        append_audit_entry(tx, "op", "agency.update", [], {}, 2)
        raise RuntimeError("the change it records failed")
    with store.write() as tx:
        assert append_audit_entry(tx, "op", "agency.update", [], {}, 3) == 2
    assert [row.action for row in store.iter_audit()] == ["agency.create", "agency.update"]
    assert verify_audit_log(store).ok


def test_details_that_could_hold_anything_but_flat_values_are_refused(
    store: SqliteLinkStore,
) -> None:
    with pytest.raises(InvalidInputError), store.write() as tx:
        append_audit_entry(tx, "op", "lookup", [], {"score": 0.5}, 1)  # type: ignore[dict-item]
    assert list(store.iter_audit()) == []


def test_verification_names_an_altered_entry(store: SqliteLinkStore) -> None:
    with store.write() as tx:
        for i in range(3):
            append_audit_entry(tx, "op", "lookup", [f"links/{i}"], {}, i)
    conn = store._conn()
    conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE sequence = 2")
    result = verify_audit_log(store)
    assert not result.ok
    assert result.first_bad_sequence == 2
