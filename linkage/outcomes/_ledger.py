"""The outcome release against the matcher's store: the events that may count (the
evaluation rule applied record by record) and the privacy-budget ledger.

:func:`gather_events` reads every record that has events with its link and consent and
builds the :class:`~linkage.outcomes.EventTable` of the events the programme's rule lets
count (a record in no link is a person of its own). :func:`release_outcomes` computes the
spec's counts, and in one store transaction: returns the stored release when the same
query (spec, rule and input data) was released before (nothing spent; ``fresh=True``
draws and spends again), refuses a release that would take the programme past its
budget, or records the new release in the ledger (``outcome_releases``) with one audit
entry. Nothing is stored when the release is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from linkage.consent import may_evaluate, parse_consent
from linkage.errors import InvalidInputError, ResourceExhaustedError
from linkage.outcomes._compute import CODES, DISPOSITIONS, EventTable, OutcomeCounts, compute_counts
from linkage.outcomes._programme import Programme
from linkage.outcomes._release import Release, release_counts
from linkage.outcomes._spec import OutcomeSpec, spec_digest
from linkage.security import append_audit_entry
from linkage.store import LinkStore, OutcomeReleaseRow

__all__ = [
    "AUDIT_ACTION",
    "GatheredEvents",
    "LedgerEntry",
    "ReleaseOutcome",
    "gather_events",
    "release_outcomes",
]

#: The audit log's action for a release.
AUDIT_ACTION = "outcomes.release"
_CODE_INDEX = {c.value: i for i, c in enumerate(CODES)}
_DISPOSITION_INDEX = {d.value: i for i, d in enumerate(DISPOSITIONS)} | {"": -1}


@dataclass(frozen=True, slots=True)
class GatheredEvents:
    """The events that may count, and how many records' events the rule left out."""

    table: EventTable
    records_used: int
    records_left_out: int

    def digest(self) -> bytes:
        """SHA-256 of the input data (changes whenever an event, link or consent that
        decides a count changes)."""
        h = hashlib.sha256()
        t = self.table
        for array in (t.person, t.agency, t.code, t.day, t.disposition):
            h.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
        h.update(json.dumps(list(t.agencies)).encode())
        return h.digest()


def _may_count(consent_bytes: bytes, programme: Programme, now: datetime) -> bool:
    """The evaluation rule for one record's consent (an unreadable consent never counts)."""
    try:
        consent = parse_consent(consent_bytes)
    except InvalidInputError:
        return False
    if programme.agreement_allows_evaluation:
        return consent.allow_linkage and not consent.revoked
    return may_evaluate(consent, now)


def gather_events(store: LinkStore, programme: Programme, now: datetime) -> GatheredEvents:
    """The events the programme's rule lets count, by person (link)."""
    agencies = tuple(a.agency_id for a in store.list_agencies(limit=100_000))
    agency_index = {a: i for i, a in enumerate(agencies)}
    allowed_by_consent: dict[bytes, bool] = {}
    node_person: dict[int, int] = {}
    node_agency: dict[int, int] = {}
    people: dict[tuple[bool, int], int] = {}
    left_out = 0
    for record in store.iter_event_records():
        allowed = allowed_by_consent.get(record.consent)
        if allowed is None:
            allowed = _may_count(record.consent, programme, now)
            allowed_by_consent[record.consent] = allowed
        if not allowed:
            left_out += 1
            continue
        key = (True, record.link_id) if record.link_id is not None else (False, record.node_id)
        node_person[record.node_id] = people.setdefault(key, len(people))
        node_agency[record.node_id] = agency_index[record.agency_id]
    columns: list[list[int]] = [[], [], [], [], []]
    for event in store.iter_record_events():
        person = node_person.get(event.node_id)
        if person is None:
            continue
        columns[0].append(person)
        columns[1].append(node_agency[event.node_id])
        columns[2].append(_CODE_INDEX[event.code])
        columns[3].append(event.day)
        columns[4].append(_DISPOSITION_INDEX[event.disposition])
    a = [np.asarray(c, dtype=np.int64) for c in columns]
    table = EventTable(a[0], a[1], a[2], a[3], a[4], len(people), agencies)
    return GatheredEvents(table, len(node_person), left_out)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A release as the ledger keeps it."""

    release_id: int
    programme: str
    epsilon: float
    created_at: datetime
    actor: str


@dataclass(frozen=True, slots=True)
class ReleaseOutcome:
    """What a run released: the release, its document, its ledger entry, whether it is a
    stored one returned again, and the budget spent after it. ``gathered`` is the input,
    for the operator's eyes only (its exact counts of records are never released: one
    person's records move them by one)."""

    release: Release
    document: dict[str, object]
    entry: LedgerEntry
    reused: bool
    spent_epsilon: float
    budget_epsilon: float
    gathered: GatheredEvents


def _query_digest(spec: OutcomeSpec, programme: Programme, data_digest: bytes) -> bytes:
    h = hashlib.sha256(b"coresponder-outcomes/1\0")
    h.update(spec_digest(spec))
    h.update(programme.rule.encode())
    h.update(data_digest)
    return h.digest()


def _document(
    spec: OutcomeSpec, programme: Programme, release: Release, now: datetime
) -> dict[str, object]:
    return {
        "format": "coresponder-outcomes",
        "version": 1,
        "programme": programme.id,
        "released_at": now.isoformat(),
        "rule": programme.rule,
        "spec": spec.canonical(),
        "release": release.to_json(),
    }


def release_outcomes(
    store: LinkStore,
    spec: OutcomeSpec,
    programme: Programme,
    *,
    actor: str,
    now: datetime,
    fresh: bool = False,
    counts_hook: Callable[[OutcomeCounts], None] | None = None,
) -> ReleaseOutcome:
    """Release the spec's measures once (see the module's docstring)."""
    if spec.release.min_cell < programme.min_cell:
        raise InvalidInputError(
            f"release.min_cell: the programme does not allow a threshold below "
            f"{programme.min_cell} (programme.min_cell)"
        )
    if now.tzinfo is None:
        raise InvalidInputError("now: must be a timezone-aware datetime")
    gathered = gather_events(store, programme, now)
    digest = _query_digest(spec, programme, gathered.digest())
    counts = compute_counts(spec, gathered.table)
    if counts_hook is not None:
        counts_hook(counts)
    release = release_counts(spec, counts, noisy=True)
    now_us = int(now.timestamp() * 1_000_000)
    with store.write() as tx:
        stored = None if fresh else tx.latest_outcome_release(programme.id, digest)
        spent = tx.spent_epsilon(programme.id)
        if stored is not None:
            document = json.loads(stored.content)
            release = Release.from_json(document["release"])
            entry = LedgerEntry(
                stored.release_id,
                programme.id,
                stored.epsilon,
                datetime.fromtimestamp(stored.create_time_us / 1e6, UTC),
                stored.actor,
            )
            return ReleaseOutcome(
                release, document, entry, True, spent, programme.budget_epsilon, gathered
            )
        if spent + spec.release.epsilon > programme.budget_epsilon * (1 + 1e-12):
            raise ResourceExhaustedError(
                f"programme {programme.id}: this release's epsilon {spec.release.epsilon:g} "
                f"would take the spent {spent:g} past the budget {programme.budget_epsilon:g} "
                "(programme.budget_epsilon); nothing was released"
            )
        document = _document(spec, programme, release, now)
        sequence = append_audit_entry(
            tx,
            actor,
            AUDIT_ACTION,
            [f"programme:{programme.id}"],
            {
                "epsilon": f"{spec.release.epsilon:g}",
                "spent_epsilon": f"{spent + spec.release.epsilon:g}",
                "budget_epsilon": f"{programme.budget_epsilon:g}",
                "query_digest": digest.hex(),
                "withheld": release.withheld,
            },
            now_us,
        )
        release_id = tx.insert_outcome_release(
            OutcomeReleaseRow(
                programme=programme.id,
                query_digest=digest,
                epsilon=spec.release.epsilon,
                create_time_us=now_us,
                actor=actor,
                audit_sequence=sequence,
                content=json.dumps(document, sort_keys=True).encode(),
            )
        )
    entry = LedgerEntry(release_id, programme.id, spec.release.epsilon, now, actor)
    return ReleaseOutcome(
        release,
        document,
        entry,
        False,
        spent + spec.release.epsilon,
        programme.budget_epsilon,
        gathered,
    )
