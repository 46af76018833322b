"""An unreadable stored consent: not disclosable, and one warning per agency and problem
within one scan (a status count reads every record; a warning per read flooded the log)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from linkage.consent import Consent, Purpose, serialize_consent
from linkage.identity import Role
from linkage.service import read_stored_consent


def test_an_unreadable_consent_is_logged_once_per_agency_and_problem_in_a_scan(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unreadable = b'{"not": "a consent"}'
    with caplog.at_level(logging.WARNING, logger="linkage.service"):
        warned: set[tuple[str, str]] = set()
        for _ in range(50):
            assert read_stored_consent(unreadable, "agency-once-a", warned) is None
        assert read_stored_consent(unreadable, "agency-once-b", warned) is None
        assert read_stored_consent(unreadable, "agency-once-a") is None  # another read
    warnings = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert [r.getMessage().split(" cannot")[0] for r in warnings] == [
        "a stored consent of a record of agency agency-once-a",
        "a stored consent of a record of agency agency-once-b",
        "a stored consent of a record of agency agency-once-a",
    ]
    assert all("not a consent" not in r.getMessage() for r in warnings)  # never the content


def test_a_readable_consent_is_read_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    consent = Consent(
        allow_linkage=True,
        purposes=frozenset({Purpose.CRISIS_RESPONSE}),
        recipient_agencies=frozenset({"metro-police"}),
        recipient_roles=frozenset({Role.RESPONDER}),
        expires_at=datetime(2099, 1, 1, tzinfo=UTC),
    )
    with caplog.at_level(logging.WARNING, logger="linkage.service"):
        assert read_stored_consent(serialize_consent(consent), "agency-fine") == consent
    assert caplog.records == []
