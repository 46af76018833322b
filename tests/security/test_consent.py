"""Consent: validation, canonical bytes, parsing errors and the disclosure decision."""

from __future__ import annotations

import contextlib
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linkage.consent import (
    DISCLOSABLE_ROLES,
    Consent,
    Purpose,
    may_disclose,
    may_link,
    parse_consent,
    serialize_consent,
)
from linkage.errors import InvalidInputError
from linkage.pki import Principal, Role

pytestmark = pytest.mark.unit

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)
CRISIS = Purpose.CRISIS_RESPONSE


def responder(agency: str = "valley") -> Principal:
    return Principal(Role.RESPONDER, agency, "gw", 7)


def standard(**overrides: object) -> Consent:
    fields: dict[str, object] = {
        "allow_linkage": True,
        "recipient_roles": frozenset({Role.RESPONDER}),
        "purposes": frozenset({CRISIS}),
        "expires_at": LATER,
    }
    fields.update(overrides)
    return Consent(**fields)  # type: ignore[arg-type]


# -- table-driven decisions ---------------------------------------------------

R = responder()
AGENCY_IT = Principal(Role.AGENCY, "valley", "it", 1)
OPERATOR = Principal(Role.OPERATOR, None, "op", 1)
SERVER = Principal(Role.SERVER, None, "s", 1)
PACIFIC = NOW.astimezone(timezone(timedelta(hours=-7)))
SECOND = timedelta(seconds=1)

CASES = [
    ("standard consent, responder, crisis", standard(), R, CRISIS, NOW, True),
    ("revoked", standard(revoked=True), R, CRISIS, NOW, False),
    ("linkage not allowed", standard(allow_linkage=False), R, CRISIS, NOW, False),
    ("expired", standard(), R, CRISIS, LATER + SECOND, False),
    ("expires exactly now", standard(), R, CRISIS, LATER, False),
    ("one second before expiry", standard(), R, CRISIS, LATER - SECOND, True),
    ("other purpose", standard(), R, Purpose.TREATMENT, NOW, False),
    ("agency role not a recipient", standard(), AGENCY_IT, CRISIS, NOW, False),
    ("operator never", standard(), OPERATOR, CRISIS, NOW, False),
    ("server never", standard(), SERVER, CRISIS, NOW, False),
    ("agency listed", standard(recipient_agencies={"valley", "m"}), R, CRISIS, NOW, True),
    ("agency not listed", standard(recipient_agencies={"metro"}), R, CRISIS, NOW, False),
    ("no disclosure consent", Consent.no_disclosure(), R, CRISIS, NOW, False),
    ("time zone of now does not matter", standard(), R, CRISIS, PACIFIC, True),
]


@pytest.mark.parametrize(
    ("consent", "requester", "purpose", "now", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_may_disclose_table(
    consent: Consent, requester: Principal, purpose: Purpose, now: datetime, expected: bool
) -> None:
    assert may_disclose(consent, requester, purpose, now) is expected


def _oracle(consent: Consent, who: Principal, purpose: Purpose, now: datetime) -> bool:
    """The rules of docs/security.md, written out as a list of vetoes."""
    vetoes = [
        consent.revoked,
        not consent.allow_linkage,
        who.role in (Role.OPERATOR, Role.SERVER),
        who.role not in consent.recipient_roles,
        bool(consent.recipient_agencies) and who.agency_id not in consent.recipient_agencies,
        purpose not in consent.purposes,
        purpose is Purpose.EVALUATION,  # aggregate only: never disclosed to anyone
        consent.expires_at is None or now >= consent.expires_at,
    ]
    return not any(vetoes)


def _all_consents() -> list[Consent]:
    consents = []
    role_sets = [
        frozenset(c) for n in range(3) for c in itertools.combinations(DISCLOSABLE_ROLES, n)
    ]
    purpose_sets = [frozenset(c) for n in range(1, 4) for c in itertools.combinations(Purpose, n)]
    for allow, revoked in itertools.product([True, False], repeat=2):
        consents.append(Consent(allow_linkage=allow, revoked=revoked))
        for roles in role_sets:
            if not roles:
                continue
            for agencies in (frozenset(), frozenset({"a"}), frozenset({"a", "b"})):
                for purposes in purpose_sets:
                    consents.append(
                        Consent(allow, roles, agencies, purposes, LATER, revoked=revoked)
                    )
    return consents


def test_exhaustive_small_domain_against_the_oracle() -> None:
    requesters = [
        Principal(role, agency, "x", 1)
        for role in (Role.RESPONDER, Role.AGENCY)
        for agency in ("a", "b", "c")
    ] + [Principal(Role.OPERATOR, None, "x", 1), Principal(Role.SERVER, None, "x", 1)]
    times = [NOW, LATER - timedelta(seconds=1), LATER, LATER + timedelta(days=1)]
    checked = granted = 0
    for consent in _all_consents():
        for who, purpose, now in itertools.product(requesters, Purpose, times):
            result = may_disclose(consent, who, purpose, now)
            assert result is _oracle(consent, who, purpose, now), (consent, who, purpose, now)
            checked += 1
            granted += result
        assert may_link(consent) is consent.allow_linkage
    assert checked > 10_000
    assert 0 < granted < checked


# -- validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "location"),
    [
        ({"recipient_roles": {Role.OPERATOR}}, "$.recipient_roles"),
        ({"recipient_roles": {Role.SERVER}}, "$.recipient_roles"),
        ({"purposes": frozenset()}, "$.purposes"),
        ({"expires_at": None}, "$.expires_at"),
        ({"expires_at": datetime(2027, 1, 1)}, "$.expires_at"),
        ({"expires_at": LATER.replace(microsecond=5)}, "$.expires_at"),
        ({"recipient_agencies": {"not valid!"}}, "$.recipient_agencies"),
        ({"purposes": {"crisis_response"}}, "$.purposes"),
        ({"allow_linkage": 1}, "$.allow_linkage"),
        ({"revoked": "no"}, "$.revoked"),
        ({"recipient_roles": "responder"}, "$.recipient_roles"),
    ],
)
def test_invalid_consents_name_the_field(kwargs: dict[str, object], location: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        standard(**kwargs)
    assert location in [p.location for p in info.value.problems]


@pytest.mark.parametrize(
    ("kwargs", "location"),
    [
        ({"purposes": {CRISIS}}, "$.purposes"),
        ({"recipient_agencies": {"a"}}, "$.recipient_agencies"),
    ],
)
def test_scope_without_recipients_is_contradictory(
    kwargs: dict[str, object], location: str
) -> None:
    with pytest.raises(InvalidInputError) as info:
        Consent(allow_linkage=True, **kwargs)  # type: ignore[arg-type]
    assert [p.location for p in info.value.problems] == [location]


def test_iterables_are_frozen_and_times_normalised_to_utc() -> None:
    local = LATER.astimezone(timezone(timedelta(hours=2)))
    consent = Consent(True, [Role.RESPONDER], ["a"], [CRISIS], local)  # type: ignore[arg-type]
    assert consent.recipient_roles == frozenset({Role.RESPONDER})
    assert isinstance(consent.recipient_agencies, frozenset)
    assert consent.expires_at is not None
    assert consent.expires_at.tzinfo is UTC
    assert consent.expires_at == LATER


def test_revoke_keeps_linkage_policy() -> None:
    consent = standard().revoke()
    assert consent.revoked
    assert may_link(consent)
    assert not may_disclose(consent, responder(), CRISIS, NOW)


def test_no_disclosure_consent_may_still_link_if_policy_allows() -> None:
    assert may_link(Consent.no_disclosure())
    assert not may_link(Consent.no_disclosure(allow_linkage=False))
    assert not Consent.no_disclosure().grants_disclosure


def test_now_must_be_aware() -> None:
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        may_disclose(standard(), responder(), CRISIS, datetime(2026, 1, 1))


# -- canonical bytes and parsing --------------------------------------------------


def test_canonical_bytes_are_exactly_documented() -> None:
    consent = Consent.for_recipients(
        roles=[Role.RESPONDER], purposes=[CRISIS], expires_at=datetime(2027, 1, 31, tzinfo=UTC)
    )
    assert serialize_consent(consent) == (
        b'{"allow_linkage":true,"expires_at":"2027-01-31T00:00:00Z",'
        b'"purposes":["crisis_response"],"recipient_agencies":[],'
        b'"recipient_roles":["responder"],"revoked":false,"version":1}'
    )
    assert consent.to_bytes() == serialize_consent(consent)


consents = st.one_of(
    st.builds(Consent.no_disclosure, allow_linkage=st.booleans()),
    st.builds(
        Consent,
        allow_linkage=st.booleans(),
        recipient_roles=st.frozensets(
            st.sampled_from(sorted(DISCLOSABLE_ROLES, key=str)), min_size=1
        ),
        recipient_agencies=st.frozensets(st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True)),
        purposes=st.frozensets(st.sampled_from(list(Purpose)), min_size=1),
        expires_at=st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        ).map(lambda d: d.replace(microsecond=0)),
        revoked=st.booleans(),
    ),
)


@given(consents)
def test_round_trip_is_exact(consent: Consent) -> None:
    data = serialize_consent(consent)
    assert parse_consent(data) == consent
    assert serialize_consent(parse_consent(data)) == data


@pytest.mark.parametrize(
    "expires_at",
    [datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC)],
)
def test_a_year_before_1000_round_trips(expires_at: datetime) -> None:
    # fuzz finding (issue 22): strftime wrote year 1 as "1-01-01...", which parse refused,
    # so a consent accepted at write could not be read back
    consent = Consent.for_recipients(
        roles=[Role.RESPONDER], purposes=[CRISIS], expires_at=expires_at
    )
    data = serialize_consent(consent)
    assert data.count(f'"expires_at":"{expires_at.year:04d}-'.encode()) == 1
    assert parse_consent(data) == consent


@given(consents, st.randoms(use_true_random=False))
def test_non_canonical_input_parses_to_the_same_consent(consent: Consent, rnd: object) -> None:
    obj = json.loads(serialize_consent(consent))
    items = list(obj.items())
    rnd.shuffle(items)  # type: ignore[attr-defined]
    for key in ("recipient_roles", "recipient_agencies", "purposes"):
        rnd.shuffle(obj[key])  # type: ignore[attr-defined]
    text = json.dumps(dict(items), indent=3)
    assert parse_consent(text.encode()) == consent


# From year 2: the property looks a year back from ``now``.
@given(
    consents,
    st.datetimes(min_value=datetime(2, 1, 1), timezones=st.just(UTC)),
    st.sampled_from(list(Purpose)),
)
def test_decision_properties(consent: Consent, now: datetime, purpose: Purpose) -> None:
    who = responder("a")
    allowed = may_disclose(consent, who, purpose, now)
    if allowed:  # no start date: allowed now means allowed at any earlier time too
        assert may_disclose(consent, who, purpose, now - timedelta(days=365))
    assert not may_disclose(consent.revoke(), who, purpose, now)
    for role in (Role.OPERATOR, Role.SERVER):
        assert not may_disclose(consent, Principal(role, None, "x", 1), purpose, now)


@given(st.binary(max_size=300))
def test_parsing_arbitrary_bytes_fails_only_with_invalid_input(data: bytes) -> None:
    with contextlib.suppress(InvalidInputError):
        parse_consent(data)


def _canonical_dict() -> dict[str, object]:
    return json.loads(serialize_consent(standard()))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("mutate", "location"),
    [
        (lambda d: d.pop("revoked"), "$.revoked"),
        (lambda d: d.update(extra=1), "$.extra"),
        (lambda d: d.update(version=2), "$.version"),
        (lambda d: d.update(allow_linkage="yes"), "$.allow_linkage"),
        (lambda d: d.update(recipient_roles=["responder", "responder"]), "$.recipient_roles"),
        (lambda d: d.update(recipient_roles=["janitor"]), "$.recipient_roles[0]"),
        (lambda d: d.update(recipient_roles=["operator"]), "$.recipient_roles"),
        (lambda d: d.update(purposes=["marketing"]), "$.purposes[0]"),
        (lambda d: d.update(purposes="crisis_response"), "$.purposes"),
        (lambda d: d.update(recipient_agencies=[1]), "$.recipient_agencies"),
        (lambda d: d.update(recipient_agencies=["a", "a"]), "$.recipient_agencies"),
        (lambda d: d.update(expires_at="2027-01-01"), "$.expires_at"),
        (lambda d: d.update(expires_at=None), "$.expires_at"),
    ],
)
def test_parse_errors_name_the_json_path(mutate: object, location: str) -> None:
    obj = _canonical_dict()
    mutate(obj)  # type: ignore[operator]
    with pytest.raises(InvalidInputError) as info:
        parse_consent(json.dumps(obj).encode())
    assert location in [p.location for p in info.value.problems]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not valid JSON"),
        (b"[]", "consent is invalid"),
        (b'{"revoked": true, "revoked": false}', "consent is invalid"),
        (b" " * 20000, "larger than"),
    ],
)
def test_parse_rejects_malformed_documents(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_consent(data)
