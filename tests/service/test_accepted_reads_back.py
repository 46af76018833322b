"""Whatever the matcher accepts it can read back, look up and report on (issue 22).

The write side enforces every field limit (:mod:`linkage.field_limits`) and that each
recipient agency is enrolled; the read side never fails a lookup, a listing or a status
for a stored record, and a stored consent it cannot read (one written before the checks)
hides that record only.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from linkage.consent import Consent, Purpose, parse_consent, serialize_consent
from linkage.errors import InvalidInputError, LinkageError
from linkage.field_limits import MAX_POINTER_TOKEN_BYTES, MAX_RECORD_KEY_BYTES
from linkage.identity import Role
from linkage.service import (
    ConsentChange,
    LinkageService,
    Mutation,
    RecordUpsert,
    RecordWithdrawal,
    ServiceLimits,
)
from linkage.store import NewRecord, SqliteLinkStore
from linkage.wire import consent_to_proto
from tests.service.factory import (
    OPERATOR,
    SETTINGS,
    agency,
    batch,
    clk_bytes,
    person,
    responder,
    upsert,
    variant,
)

AGENCIES = ("police", "valley-mhc", "er", "sud")
LOOKUP_PURPOSES = [p.value for p in Purpose if p is not Purpose.EVALUATION]
EXPIRES = (datetime.now(UTC) + timedelta(days=365)).replace(microsecond=0)


def _oversized_consent(agencies: int) -> bytes:
    """A consent as a writer before the limits could store it: canonical in form, naming
    ``agencies`` recipients (2,000 come to 30 KB, over the 16 KiB the reader takes)."""
    document = {
        "allow_linkage": True,
        "expires_at": EXPIRES.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "purposes": ["crisis_response"],
        "recipient_agencies": sorted(f"agency-{i:05d}" for i in range(agencies)),
        "recipient_roles": ["responder"],
        "revoked": False,
        "version": 1,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _service(root: Path) -> tuple[SqliteLinkStore, LinkageService]:
    store = SqliteLinkStore(root / "index.db")
    limits = ServiceLimits(max_batch_mutations=50, lookup_rate_per_s=1e6, lookup_burst=10**6)
    service = LinkageService(store, SETTINGS, limits)
    for agency_id in AGENCIES:
        service.create_agency(OPERATOR, agency_id, agency_id.upper(), b"")
    return store, service


# -- what a batch may carry, valid and not -------------------------------------------------


@dataclass(frozen=True)
class Drawn:
    """A consent's bytes, the linkability it implies and whether the write side takes it."""

    data: bytes
    linkable: bool
    valid: bool


#: What may be wrong with one mutation: nothing (most often), or one field.
FLAWS = st.sampled_from(
    [None] * 12
    + [
        "empty_key",
        "long_key",
        "short_clk",
        "zero_clk",
        "ones_clk",
        "empty_pointer",
        "long_pointer",
        "unenrolled",
        "too_many",
        "oversized",
        "loose",
        "junk",
        "mismatch",
    ]
)


@st.composite
def consents(draw: st.DrawFn, flaw: str | None) -> Drawn:
    if flaw == "too_many":  # within 16 KiB, but more than 100 recipients
        return Drawn(_oversized_consent(150), True, False)
    if flaw == "oversized":  # the attack of issue 22: 2,000 recipients, 30 KB
        return Drawn(_oversized_consent(2000), True, False)
    if flaw == "loose":  # valid JSON, not the canonical bytes
        text = serialize_consent(Consent.no_disclosure()).decode().replace(",", ", ")
        return Drawn(text.encode(), True, False)
    if flaw == "junk":
        return Drawn(b'{"version":1', True, False)
    linkable = draw(st.booleans())
    if flaw != "unenrolled" and draw(st.integers(0, 3)) == 0:
        return Drawn(
            serialize_consent(Consent.no_disclosure(allow_linkage=linkable)), linkable, True
        )
    recipients = set(draw(st.lists(st.sampled_from(AGENCIES), max_size=4, unique=True)))
    if flaw == "unenrolled":
        recipients.add("nobody-here")
    consent = Consent.for_recipients(
        roles=draw(st.sets(st.sampled_from([Role.RESPONDER, Role.AGENCY]), min_size=1)),
        purposes=draw(st.sets(st.sampled_from([Purpose(p) for p in LOOKUP_PURPOSES]), min_size=1)),
        expires_at=EXPIRES,
        agencies=recipients,
        allow_linkage=linkable,
    )
    return Drawn(serialize_consent(consent), linkable, flaw != "unenrolled")


@dataclass(frozen=True)
class Planned:
    mutation: Mutation
    #: whether the mutation's own fields are valid (its key's existence is judged later)
    valid: bool


@st.composite
def mutations(draw: st.DrawFn, people: list[np.ndarray]) -> Planned:
    flaw = draw(FLAWS)
    event(f"flaw: {flaw}")
    key = {"empty_key": b"", "long_key": b"k" * (MAX_RECORD_KEY_BYTES + 1)}.get(
        flaw or "", draw(st.sampled_from([f"r{i}".encode() for i in range(6)]))
    )
    kind = draw(st.sampled_from(["upsert", "upsert", "upsert", "withdraw", "consent"]))
    if kind == "withdraw":
        return Planned(RecordWithdrawal(key), flaw not in ("empty_key", "long_key"))
    consent = draw(consents(flaw))
    linkable = consent.linkable != (flaw == "mismatch")  # the record says otherwise
    valid = flaw is None or flaw in (
        "short_clk",
        "zero_clk",
        "ones_clk",
        "empty_pointer",
        "long_pointer",
    )
    if kind == "consent":
        return Planned(ConsentChange(key, consent.data, linkable), valid)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    clk = clk_bytes(variant(rng, people[draw(st.integers(0, len(people) - 1))], flips=10))
    if flaw == "short_clk":
        clk = clk[:-1]
    elif flaw == "zero_clk":
        clk = bytes(len(clk))
    elif flaw == "ones_clk":  # accepted before issue 22; refused now, as at lookup
        clk = b"\xff" * len(clk)
    pointer = draw(st.binary(min_size=1, max_size=48))
    if flaw == "empty_pointer":
        pointer = b""
    elif flaw == "long_pointer":
        pointer = b"p" * (MAX_POINTER_TOKEN_BYTES + 1)
    return Planned(RecordUpsert(key, clk, pointer, consent.data, linkable), flaw is None)


def _expected_valid(planned: list[Planned], existing: set[bytes]) -> bool:
    keys = [p.mutation.record_key for p in planned]
    if len(set(keys)) != len(keys) or not all(p.valid for p in planned):
        return False
    return all(
        isinstance(p.mutation, RecordUpsert) or p.mutation.record_key in existing for p in planned
    )


def _listing(service: LinkageService, agency_id: str) -> list[tuple[bytes, bytes, bool]]:
    rows, after = [], b""
    while True:
        page = service.list_records(agency_id, after, 3)
        rows.extend((r.record_key, r.consent, r.linked) for r in page)
        if len(page) < 3:
            return rows
        after = page[-1].record_key


def _reads_back(service: LinkageService, live: dict[tuple[str, bytes], bytes]) -> None:
    """Every stored record reads back, counts, and is found by lookups that all answer."""
    for agency_id in AGENCIES:
        listing = _listing(service, agency_id)
        assert {key for key, _, _ in listing} == {k for a, k in live if a == agency_id}
        disclosable = 0
        for _, stored, _ in listing:
            consent = parse_consent(stored)  # strict: no stored consent is unreadable
            consent_to_proto(consent)  # and the servicers can send it
            disclosable += consent.discloses_at(datetime.now(UTC))
        assert service.disclosable_count(agency_id) == disclosable
        assert service.agency_counts(agency_id).record_count == len(listing)
        service.list_disclosures(agency_id, None, 100)
    assert service.index_status().record_count == len(live)
    for i, clk in enumerate(live.values()):
        for who in AGENCIES:
            purpose = LOOKUP_PURPOSES[i % len(LOOKUP_PURPOSES)]
            for hit in service.lookup(
                responder(who), clk, 1, SETTINGS.schema_fingerprint, purpose, 5
            ):
                for member in hit.members:
                    consent_to_proto(parse_consent(member.consent))
    assert service.verify_audit().ok


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_batches_are_refused_whole_or_read_back_whole(data: st.DataObject) -> None:
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="people"))
    people = [person(rng) for _ in range(5)]
    with tempfile.TemporaryDirectory() as root:
        store, service = _service(Path(root))
        try:
            live: dict[tuple[str, bytes], bytes] = {}
            for n in range(data.draw(st.integers(1, 5), label="batches")):
                agency_id = data.draw(st.sampled_from(AGENCIES), label="agency")
                planned = data.draw(
                    st.lists(mutations(people), min_size=1, max_size=4), label="mutations"
                )
                existing = {k for a, k in live if a == agency_id}
                expected = _expected_valid(planned, existing)
                before = _listing(service, agency_id)
                try:
                    service.write_batch(
                        agency(agency_id),
                        batch(agency_id, f"b{n}", *(p.mutation for p in planned)),
                    )
                except LinkageError:
                    event("refused")
                    assert not expected, "a valid batch was refused"
                    assert _listing(service, agency_id) == before, "a refused batch left a trace"
                else:
                    event("accepted")
                    assert expected, "an invalid batch was accepted"
                    for p in planned:
                        where = (agency_id, p.mutation.record_key)
                        if isinstance(p.mutation, RecordUpsert):
                            live[where] = p.mutation.clk
                        elif isinstance(p.mutation, RecordWithdrawal):
                            del live[where]
                _reads_back(service, live)
        finally:
            store.close()


# -- the attack of issue 22 and the named refusals -----------------------------------------


def test_a_consent_of_two_thousand_recipients_is_refused_at_write(service: LinkageService) -> None:
    rng = np.random.default_rng(5)
    attack = RecordUpsert(b"k", clk_bytes(person(rng)), b"ptr", _oversized_consent(2000), True)
    with pytest.raises(InvalidInputError) as caught:
        service.write_batch(agency("sud"), batch("sud", "s1", attack))
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        ("mutations[0].upsert.consent", "larger than 16384 bytes")
    ]
    assert service.list_records("sud", b"", 10) == []


def test_a_recipient_that_is_not_enrolled_is_refused_by_name(service: LinkageService) -> None:
    rng = np.random.default_rng(6)
    consent = Consent.for_recipients(
        roles=[Role.RESPONDER],
        purposes=[Purpose.CRISIS_RESPONSE],
        expires_at=EXPIRES,
        agencies=["police", "nobody-here"],
    )
    record = upsert("k", person(rng))
    change = ConsentChange(b"k", serialize_consent(consent), True)
    service.write_batch(agency("sud"), batch("sud", "s1", record))
    with pytest.raises(InvalidInputError) as caught:
        service.write_batch(agency("sud"), batch("sud", "s2", change))
    assert [(p.location, p.reason) for p in caught.value.problems] == [
        (
            "mutations[0].consent_update.consent.recipient_agencies",
            "agency 'nobody-here' is not enrolled; a consent names enrolled agencies only",
        )
    ]


def test_a_stored_consent_that_cannot_be_read_hides_only_its_own_record(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store written before the limits holds sud's 30 KB consent on a record linked to
    valley-mhc's consented one: lookups still show valley-mhc's card, sud's status and
    listing answer, and the log names the agency, never the record."""
    rng = np.random.default_rng(7)
    erin = person(rng)
    store, service = _service(tmp_path)
    service.write_batch(agency("valley-mhc"), batch("valley-mhc", "m1", upsert("erin", erin)))
    poisoned = _oversized_consent(2000)
    clk = clk_bytes(variant(rng, erin))
    with store.write() as tx:  # what the matcher accepted before this change
        tx.insert_record(
            NewRecord(
                "sud",
                b"secret-key",
                1,
                SETTINGS.schema_fingerprint,
                clk,
                b"secret-pointer",
                poisoned,
                True,
                b"\0" * 32,
                1,
            )
        )
    store.close()
    store, service = _service_reopened(tmp_path)
    try:
        service.rebuild(OPERATOR, "load the old record")
        caplog.set_level(logging.WARNING, logger="linkage.service")
        hits = service.lookup(
            responder("police"), clk, 1, SETTINGS.schema_fingerprint, "crisis_response", 5
        )
        assert [[m.agency_id for m in h.members] for h in hits] == [["valley-mhc"]]
        assert service.disclosable_count("sud") == 0
        assert [r.record_key for r in service.list_records("sud", b"", 10)] == [b"secret-key"]
        logged = caplog.text
        assert "agency sud" in logged
        assert "larger than 16384 bytes" in logged
        for secret in ("secret-key", "secret-pointer", "agency-00001"):
            assert secret not in logged
    finally:
        store.close()


def _service_reopened(root: Path) -> tuple[SqliteLinkStore, LinkageService]:
    store = SqliteLinkStore(root / "index.db")
    limits = ServiceLimits(max_batch_mutations=50, lookup_rate_per_s=1e6, lookup_burst=10**6)
    return store, LinkageService(store, SETTINGS, limits)
