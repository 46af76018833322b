"""The service in-process on a real SQLite store: ingest, idempotency,
validation, incremental linkage, withdrawal, consent and lookup."""

from __future__ import annotations

import numpy as np
import pytest

from linkage.errors import (
    FailedPreconditionError,
    InvalidInputError,
    NotFoundError,
    ResourceExhaustedError,
)
from linkage.service import ConsentChange, LinkageService, RecordWithdrawal
from linkage.store import EventKind, SqliteLinkStore
from tests.service.factory import (
    agency,
    batch,
    clk_bytes,
    consent,
    person,
    responder,
    upsert,
    variant,
)

pytestmark = pytest.mark.unit


def _links(store: SqliteLinkStore) -> list[list[tuple[str, bytes]]]:
    """The partition as (agency, key) groups of two or more."""
    by_link: dict[int, list[int]] = {}
    for node, link in store.iter_node_links():
        by_link.setdefault(link, []).append(node)
    members = store.link_members(list(by_link))
    names = {m.node_id: (m.agency_id, m.record_key) for m in members}
    return sorted(sorted(names[n] for n in nodes) for nodes in by_link.values() if len(nodes) > 1)


def test_a_batch_links_records_across_agencies(
    service: LinkageService, store: SqliteLinkStore
) -> None:
    rng = np.random.default_rng(1)
    alice, bob = person(rng), person(rng)
    out = service.write_batch(
        agency("police"), batch("police", "b1", upsert("p-alice", alice), upsert("p-bob", bob))
    )
    assert (out.inserted, out.linked, out.replayed) == (2, 0, False)
    out = service.write_batch(
        agency("valley-mhc"), batch("valley-mhc", "m1", upsert("m-alice", variant(rng, alice)))
    )
    assert (out.inserted, out.linked) == (1, 1)
    assert _links(store) == [[("police", b"p-alice"), ("valley-mhc", b"m-alice")]]
    kinds = [e.kind for e in store.list_events(0, 100)]
    assert EventKind.LINK_JOINED in kinds or EventKind.LINK_CREATED in kinds


def test_resending_a_committed_batch_changes_nothing_and_returns_the_original(
    service: LinkageService, store: SqliteLinkStore
) -> None:
    rng = np.random.default_rng(2)
    request = batch("police", "b1", upsert("k1", person(rng)))
    first = service.write_batch(agency("police"), request)
    events = store.last_event_sequence()
    again = service.write_batch(agency("police"), request)
    assert again.replayed
    assert (again.inserted, again.commit_time_us) == (first.inserted, first.commit_time_us)
    assert store.last_event_sequence() == events
    other = batch("police", "b1", upsert("k2", person(rng)))
    with pytest.raises(FailedPreconditionError, match="already used"):
        service.write_batch(agency("police"), other)


@pytest.mark.parametrize(
    ("mutations", "location"),
    [
        ((upsert("k", np.zeros(1024, bool)),), "mutations[0].upsert.clk"),
        ((upsert("", np.ones(1024, bool)),), "mutations[0].record_key"),
        (
            (upsert("k", np.ones(1024, bool)), upsert("k", np.ones(1024, bool))),
            "mutations[1].record_key",
        ),
        ((RecordWithdrawal(b"never-stored"),), "mutations[0].withdraw_record_key"),
        (
            (ConsentChange(b"never-stored", consent(), True),),
            "mutations[0].consent_update.record_key",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_record_and_nothing_is_stored(
    service: LinkageService, store: SqliteLinkStore, mutations: tuple[object, ...], location: str
) -> None:
    rng = np.random.default_rng(3)
    good = upsert("good", person(rng))
    with pytest.raises(InvalidInputError) as caught:
        service.write_batch(agency("police"), batch("police", "bad", good, *mutations))
    shifted = (
        location.replace("mutations[0]", "mutations[1]").replace(
            "mutations[1].record_key", "mutations[2].record_key"
        )
        if len(mutations) == 2
        else location.replace("mutations[0]", "mutations[1]")
    )
    assert shifted in [p.location for p in caught.value.problems]
    assert store.list_records("police", b"", 10) == []
    assert store.agency_counts()[2].batch_count == 0


def test_wrong_length_epoch_fingerprint_and_unknown_agency_are_refused(
    service: LinkageService,
) -> None:
    rng = np.random.default_rng(4)
    bad = upsert("k", person(rng))
    short = type(bad)(bad.record_key, bad.clk[:100], bad.pointer_token, bad.consent, True)
    with pytest.raises(InvalidInputError, match=r"mutations\[0\]\.upsert\.clk"):
        service.write_batch(agency("police"), batch("police", "b", short))
    wrong_space = batch("police", "b", bad)
    wrong_space = type(wrong_space)("police", "b", 9, "cd" * 16, wrong_space.mutations)
    with pytest.raises(InvalidInputError) as caught:
        service.write_batch(agency("police"), wrong_space)
    assert {p.location for p in caught.value.problems} == {"key_epoch", "schema_fingerprint"}
    with pytest.raises(NotFoundError, match="agency 'nowhere' is not enrolled"):
        service.write_batch(agency("nowhere"), batch("nowhere", "b", bad))


def test_oversized_batches_are_resource_exhausted(service: LinkageService) -> None:
    rng = np.random.default_rng(5)
    many = [upsert(f"k{i}", person(rng)) for i in range(501)]
    with pytest.raises(ResourceExhaustedError, match="at most 500"):
        service.write_batch(agency("police"), batch("police", "big", *many))


def test_updates_in_place_replacements_and_withdrawals(
    service: LinkageService, store: SqliteLinkStore
) -> None:
    rng = np.random.default_rng(6)
    alice = person(rng)
    service.write_batch(agency("police"), batch("police", "b1", upsert("a", alice)))
    service.write_batch(agency("er"), batch("er", "e1", upsert("a", variant(rng, alice))))
    assert len(_links(store)) == 1
    # Same content: unchanged.
    out = service.write_batch(agency("police"), batch("police", "b2", upsert("a", alice)))
    assert (out.unchanged, out.updated) == (1, 0)
    # A new CLK that no longer matches: the link dissolves.
    out = service.write_batch(agency("police"), batch("police", "b3", upsert("a", person(rng))))
    assert out.updated == 1
    assert _links(store) == []
    # Back again, then withdrawn.
    service.write_batch(agency("police"), batch("police", "b4", upsert("a", alice)))
    assert len(_links(store)) == 1
    out = service.write_batch(agency("er"), batch("er", "e2", RecordWithdrawal(b"a")))
    assert out.withdrawn == 1
    assert _links(store) == []
    assert [r.record_key for r in store.list_records("er", b"", 10)] == []
    kinds = {e.kind for e in store.list_events(0, 1000)}
    assert {EventKind.RECORD_WITHDRAWN, EventKind.LINK_DISSOLVED} <= kinds


def test_lookup_discloses_only_what_consent_allows(service: LinkageService) -> None:
    rng = np.random.default_rng(7)
    carol = person(rng)
    service.write_batch(agency("valley-mhc"), batch("valley-mhc", "m", upsert("c", carol)))
    service.write_batch(
        agency("sud"), batch("sud", "s", upsert("c", variant(rng, carol), disclose=False))
    )
    query = clk_bytes(variant(rng, carol))
    hits = service.lookup(responder("police"), query, 1, "ab" * 16, "crisis_response", 0)
    assert len(hits) == 1
    assert [m.agency_id for m in hits[0].members] == ["valley-mhc"]
    # Consent revoked: the very next lookup shows nothing, like no match at all.
    service.write_batch(
        agency("valley-mhc"),
        batch("valley-mhc", "m2", ConsentChange(b"c", consent(disclose=False), True)),
    )
    assert service.lookup(responder("police"), query, 1, "ab" * 16, "crisis_response", 0) == []
    stranger = clk_bytes(person(rng))
    assert service.lookup(responder("police"), stranger, 1, "ab" * 16, "crisis_response", 0) == []
    # Granted again (to the sud record): the next lookup shows it.
    service.write_batch(agency("sud"), batch("sud", "s2", ConsentChange(b"c", consent(), True)))
    hits = service.lookup(responder("police"), query, 1, "ab" * 16, "crisis_response", 0)
    assert [m.agency_id for m in hits[0].members] == ["sud"]
    assert service.verify_audit().ok


def test_unlinkable_records_are_stored_but_never_linked(
    service: LinkageService, store: SqliteLinkStore
) -> None:
    rng = np.random.default_rng(8)
    dan = person(rng)
    service.write_batch(agency("police"), batch("police", "b", upsert("d", dan, linkable=False)))
    out = service.write_batch(agency("er"), batch("er", "e", upsert("d", variant(rng, dan))))
    assert out.linked == 0
    assert _links(store) == []
    # Allowing linkage later links it.
    service.write_batch(
        agency("police"), batch("police", "b2", ConsentChange(b"d", consent(), True))
    )
    assert len(_links(store)) == 1
    # Forbidding it again unlinks it.
    service.write_batch(
        agency("police"), batch("police", "b3", ConsentChange(b"d", consent(linkable=False), False))
    )
    assert _links(store) == []


def test_withdraw_all_removes_every_record_of_the_agency(
    service: LinkageService, store: SqliteLinkStore
) -> None:
    rng = np.random.default_rng(9)
    people = [person(rng) for _ in range(5)]
    service.write_batch(
        agency("police"), batch("police", "b", *(upsert(f"k{i}", p) for i, p in enumerate(people)))
    )
    service.write_batch(agency("er"), batch("er", "e", upsert("x", variant(rng, people[0]))))
    out = service.write_batch(agency("police"), batch("police", "w", withdraw_all=True))
    assert out.withdrawn == 5
    assert store.list_records("police", b"", 10) == []
    assert _links(store) == []
    assert service.indexed_count == 1
