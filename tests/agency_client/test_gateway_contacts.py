""" "Log this contact" on the responder page and the JSON API: a token from the lookup, a
date, a time and a disposition, kept in the agency's field-contact file."""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from agency_client._contacts import FieldContactStore
from agency_client._gateway_contacts import ContactLog, ContactTokens, parse_contact_form
from agency_client._gateway_http import CONTENT_SECURITY_POLICY
from agency_client._gateway_page import CONTACT_LOGGED
from linkage.errors import InvalidInputError
from linkage.events import Disposition
from tests.agency_client.gateway_fixtures import QUERY, TOKEN, Gateway, make_app

pytestmark = pytest.mark.unit

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    app, lookup = make_app(tmp_path)
    contacts = ContactLog(tmp_path / "state" / "field-contacts.sqlite", "f" * 64, 1)
    gw = Gateway(dataclasses.replace(app, contacts=contacts), lookup)
    yield gw
    gw.close()


def _contacts(gateway: Gateway) -> list[tuple[bytes, str]]:
    assert gateway.app.contacts is not None
    with FieldContactStore(gateway.app.contacts.path, create=False) as store:
        records, _ = store.records("f" * 64, 1)
    return [(r.clk, e.text()) for r in records for e in r.events]


def _post_form(gateway: Gateway, fields: dict[str, str]) -> tuple[int, dict[str, str], str]:
    status, headers, body = gateway.request(
        "POST", "/contact", urllib.parse.urlencode(fields).encode(), {"Content-Type": FORM}
    )
    return status, headers, body.decode()


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def test_a_lookup_offers_the_contact_form_and_a_logged_contact_is_kept(gateway: Gateway) -> None:
    status, page = gateway.form(QUERY)
    assert status == 200
    assert 'id="contact-form"' in page
    assert 'action="/contact"' in page
    token = re.search(r'name="contact_token" value="([^"]+)"', page)
    assert token is not None
    fields = {
        "contact_token": token.group(1),
        "contact_date": _today(),
        "contact_time": "14:30",
        "disposition": "referred",
        "access_code": TOKEN,
    }
    status, headers, page = _post_form(gateway, fields)
    assert status == 200
    assert CONTACT_LOGGED in page
    assert 'id="notice"' in page
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    ((clk, event),) = _contacts(gateway)
    assert clk == gateway.lookup.requests[0].clk, "the CLK the lookup used, not the query"
    assert event == f"coresponder_contact|{_today()}|referred"
    text = (gateway.app.contacts.path).read_bytes()  # type: ignore[union-attr]
    assert b"Jordan" not in text
    assert b"Whitfield" not in text


def test_the_contact_form_needs_the_access_code_and_takes_nothing_else(gateway: Gateway) -> None:
    _, answer = gateway.api(QUERY)
    token = answer["contact_token"]
    base = {"contact_token": token, "contact_date": _today(), "contact_time": "08:00"}
    status, _, page = _post_form(gateway, dict(base, disposition="arrested"))
    assert status == 401
    assert "access code is not right" in page
    assert 'id="contact-form"' in page, "the form is shown again to correct"
    status, _, page = _post_form(
        gateway,
        dict(base, disposition="arrested", access_code=TOKEN, notes="free text about the person"),
    )
    assert status == 400
    assert "takes only a date, a time and a disposition" in page
    assert "free text" not in page
    status, _, page = _post_form(
        gateway,
        dict(base, contact_date="2999-01-01", disposition="took a walk", access_code=TOKEN),
    )
    assert status == 400
    assert "contact date lies in the future" in page
    assert "disposition must be one of" in page
    assert "took a walk" not in page
    assert _contacts(gateway) == []


def test_the_json_api_logs_contacts_with_the_bearer_token(gateway: Gateway) -> None:
    _, answer = gateway.api(QUERY)
    body = {
        "contact_token": answer["contact_token"],
        "contact_date": _today(),
        "contact_time": "22:15",
        "disposition": "transported_er",
    }
    headers = {"Content-Type": "application/json"}
    status, _, _ = gateway.request("POST", "/api/v1/contact", json.dumps(body).encode(), headers)
    assert status == 401
    auth = dict(headers, Authorization=f"Bearer {TOKEN}")
    status, _, raw = gateway.request("POST", "/api/v1/contact", json.dumps(body).encode(), auth)
    assert (status, json.loads(raw)["logged"]) == (201, True)
    forged = dict(body, contact_token=answer["contact_token"][:-4] + "AAAA")
    status, _, raw = gateway.request("POST", "/api/v1/contact", json.dumps(forged).encode(), auth)
    assert status == 400
    assert json.loads(raw)["problems"][0]["field"] == "contact_token"
    assert len(_contacts(gateway)) == 1


def test_a_gateway_without_a_contact_file_offers_no_form(tmp_path: Path) -> None:
    app, lookup = make_app(tmp_path)
    gw = Gateway(app, lookup)
    try:
        _, page = gw.form(QUERY)
        assert "contact-form" not in page
        _, answer = gw.api(QUERY)
        assert "contact_token" not in answer
        status, _, _ = gw.request("POST", "/contact", b"", {"Content-Type": FORM})
        assert status == 404
    finally:
        gw.close()


def test_contact_tokens_are_this_gateways_and_expire() -> None:
    tokens = ContactTokens()
    now = datetime(2025, 1, 1, 12, tzinfo=UTC)
    token = tokens.issue(b"clk-bytes", now)
    assert tokens.open(token, now + timedelta(hours=11)) == b"clk-bytes"
    with pytest.raises(InvalidInputError):
        tokens.open(token, now + timedelta(hours=13))
    with pytest.raises(InvalidInputError):
        ContactTokens().open(token, now)
    with pytest.raises(InvalidInputError):
        tokens.open("not a token", now)


def test_the_contact_fields_are_checked() -> None:
    today = date(2025, 1, 1)
    contact = parse_contact_form(
        {"contact_date": "2024-12-31", "contact_time": "23:59", "disposition": "emergency_hold"},
        today,
    )
    assert contact.disposition is Disposition.EMERGENCY_HOLD
    with pytest.raises(InvalidInputError) as caught:
        parse_contact_form({"contact_date": "31/12/2024", "contact_time": "noon"}, today)
    assert [p.location for p in caught.value.problems] == [
        "contact_date",
        "contact_time",
        "disposition",
    ]
