"""Outcome releases against a real store, on every engine: the evaluation rule decides
whose events count, a release is recorded in the privacy-budget ledger with an audit
entry, the same query on the same data returns the stored release without spending,
--fresh spends again, and a release past the budget is refused with nothing stored."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest

from benchmarks.outcome_index import PersonEvents, fill_store
from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.events import Disposition, EventCode
from linkage.outcomes import AUDIT_ACTION, Programme, load_spec, release_outcomes
from linkage.security import verify_audit_log
from linkage.store import LinkStore
from tests.store.conftest import StoreFactory

pytestmark = pytest.mark.integration

SPEC = load_spec(
    """
title = "Ledger"
[cohort]
events = ["coresponder_contact"]
from = 2025-01-01
to = 2025-03-31
follow_up_until = 2025-12-31
[release]
epsilon = 1.0
[[measures]]
id = "intake_30"
title = "Intake"
kind = "share"
events = ["treatment_intake"]
window = [0, 30]
"""
)
NOW = datetime(2026, 1, 5, tzinfo=UTC)
C, T = EventCode.CORESPONDER_CONTACT, EventCode.TREATMENT_INTAKE


def _people(n: int) -> dict[object, PersonEvents]:
    people: dict[object, PersonEvents] = {}
    for i in range(n):
        events = [("police", C, date(2025, 2, 1), Disposition.REFERRED)]
        if i % 2 == 0:
            events.append(("mhc", T, date(2025, 2, 5), None))
        people[f"p{i}"] = events
    return people


def _programme(**kwargs: object) -> Programme:
    return Programme(**{"id": "metro", "budget_epsilon": 2.5, **kwargs})  # type: ignore[arg-type]


def test_the_ledger_spends_reuses_and_refuses(store: LinkStore) -> None:
    fill_store(store, _people(200), ["police", "mhc"], no_evaluation={"p0", "p1", "p2"})
    programme = _programme()
    exact: list[int] = []
    first = release_outcomes(
        store,
        SPEC,
        programme,
        actor="admin:test",
        now=NOW,
        counts_hook=lambda c: exact.append(c.value("cohort.people")),
    )
    assert exact == [197]  # three people have no evaluation consent
    assert not first.reused
    assert first.spent_epsilon == pytest.approx(1.0)
    assert first.gathered.records_left_out == 3 + 2  # p0 and p2 also have an intake
    assert "records_left_out" not in first.document  # exact counts are never released
    again = release_outcomes(store, SPEC, programme, actor="admin:test", now=NOW)
    assert again.reused
    assert again.entry.release_id == first.entry.release_id
    assert again.release == first.release
    assert again.spent_epsilon == pytest.approx(1.0)
    fresh = release_outcomes(store, SPEC, programme, actor="admin:test", now=NOW, fresh=True)
    assert not fresh.reused
    assert fresh.spent_epsilon == pytest.approx(2.0)
    with pytest.raises(ResourceExhaustedError, match=r"budget 2\.5"):
        release_outcomes(store, SPEC, programme, actor="admin:test", now=NOW, fresh=True)
    rows = store.list_outcome_releases("metro")
    assert [r.epsilon for r in rows] == [1.0, 1.0]
    audits = [a for a in store.iter_audit() if a.action == AUDIT_ACTION]
    assert [a.sequence for a in audits] == [r.audit_sequence for r in rows]
    assert verify_audit_log(store).ok
    # another programme has its own budget
    other = release_outcomes(store, SPEC, _programme(id="rural"), actor="admin:test", now=NOW)
    assert other.spent_epsilon == pytest.approx(1.0)


def test_the_agreement_rule_counts_every_linked_record_and_changes_the_query(
    store: LinkStore,
) -> None:
    fill_store(store, _people(50), ["police", "mhc"], no_evaluation={"p0", "p1", "p2"})
    exact: list[int] = []
    outcome = release_outcomes(
        store,
        SPEC,
        _programme(agreement_allows_evaluation=True),
        actor="admin:test",
        now=NOW,
        counts_hook=lambda c: exact.append(c.value("cohort.people")),
    )
    assert exact == [50]
    assert "data-sharing agreement" in str(outcome.document["rule"])
    consent_rule = release_outcomes(store, SPEC, _programme(), actor="admin:test", now=NOW)
    assert not consent_rule.reused  # another rule is another query


def test_a_threshold_below_the_programmes_is_refused_before_anything_is_read(
    store: LinkStore,
) -> None:
    with pytest.raises(InvalidInputError, match=r"programme\.min_cell"):
        release_outcomes(store, SPEC, _programme(min_cell=20), actor="admin:test", now=NOW)
    assert store.list_outcome_releases("metro") == []


def test_two_releases_at_once_never_overspend_the_budget(store_factory: StoreFactory) -> None:
    """Two processes' stores on one database, each releasing at the same moment with
    budget for one: exactly one release is recorded."""
    first, second = store_factory(), store_factory()
    fill_store(first, _people(60), ["police", "mhc"])
    programme = _programme(budget_epsilon=1.5)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def release(store: LinkStore) -> None:
        barrier.wait()
        try:
            release_outcomes(store, SPEC, programme, actor="admin:test", now=NOW, fresh=True)
            results.append("released")
        except ResourceExhaustedError:
            results.append("refused")

    threads = [threading.Thread(target=release, args=(s,)) for s in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == ["refused", "released"]
    assert [r.epsilon for r in first.list_outcome_releases("metro")] == [1.0]


def test_new_data_is_a_new_query(store: LinkStore) -> None:
    fill_store(store, _people(40), ["police", "mhc"])
    first = release_outcomes(store, SPEC, _programme(), actor="admin:test", now=NOW)
    assert release_outcomes(store, SPEC, _programme(), actor="admin:test", now=NOW).reused
    fill_store(store, {"late": [("police", C, date(2025, 3, 1), None)]}, ["police", "mhc"])
    after = release_outcomes(store, SPEC, _programme(), actor="admin:test", now=NOW)
    assert not after.reused
    assert after.entry.release_id != first.entry.release_id
    assert after.spent_epsilon == pytest.approx(2.0)
