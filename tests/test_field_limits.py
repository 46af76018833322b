"""The field limits: one definition, and the derived limits follow from the others."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from linkage import consent as consent_module
from linkage import events, field_limits
from linkage.consent import Consent, Purpose, parse_consent, serialize_consent
from linkage.errors import InvalidInputError
from linkage.identity import Role
from linkage.v1 import common_pb2


def _largest_consent(agencies: int) -> Consent:
    return Consent.for_recipients(
        roles=[Role.RESPONDER, Role.AGENCY],
        purposes=list(Purpose),
        expires_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        # the longest recipient IDs a consent takes (64 characters)
        agencies=[f"{i:03d}".ljust(64, "x") for i in range(agencies)],
    )


def test_the_largest_consent_the_limits_allow_fits_the_consent_size_limit() -> None:
    largest = serialize_consent(_largest_consent(field_limits.MAX_RECIPIENT_AGENCIES))
    assert len(largest) < field_limits.MAX_CONSENT_BYTES
    # and it reads back, so whatever the write side lets through the read side reads
    assert parse_consent(largest) == _largest_consent(field_limits.MAX_RECIPIENT_AGENCIES)


def test_one_agency_more_than_the_limit_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        _largest_consent(field_limits.MAX_RECIPIENT_AGENCIES + 1)
    assert [p.location for p in caught.value.problems] == ["$.recipient_agencies"]
    assert "at most 100" in caught.value.problems[0].reason


def test_the_largest_contact_card_the_field_limits_allow_fits_its_stored_size() -> None:
    four_byte_character = "\U0001f4de"
    card = common_pb2.ContactCard(
        display_name=four_byte_character * field_limits.MAX_CONTACT_DISPLAY_NAME_CHARS,
        instructions=four_byte_character * field_limits.MAX_CONTACT_INSTRUCTIONS_CHARS,
        phone_number=four_byte_character * field_limits.MAX_CONTACT_PHONE_CHARS,
    )
    assert len(card.SerializeToString(deterministic=True)) < field_limits.MAX_CONTACT_CARD_BYTES


def test_the_modules_that_name_a_limit_use_the_shared_definition() -> None:
    assert consent_module.MAX_CONSENT_BYTES is field_limits.MAX_CONSENT_BYTES
    assert events.MAX_EVENTS_PER_RECORD is field_limits.MAX_EVENTS_PER_RECORD
