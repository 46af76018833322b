"""The gateway's lookup purpose is its configuration's, whatever a request carries
(issue 22: a loopback gateway let any local user choose the purpose). The body rule (a
request naming "purpose" is refused) is in test_gateway.py; these are the other ways a
caller might try: the URL's query string and spellings of the key."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkage.consent import Purpose
from tests.agency_client.gateway_fixtures import QUERY, TOKEN, Gateway, make_app

pytestmark = pytest.mark.unit


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    app, lookup = make_app(tmp_path, purpose=Purpose.CARE_COORDINATION)
    gw = Gateway(app, lookup)
    yield gw
    gw.close()


def _sent_purposes(gateway: Gateway) -> set[str]:
    return {request.purpose for request in gateway.lookup.requests}


def test_a_purpose_in_the_url_never_reaches_the_matcher(gateway: Gateway) -> None:
    status, _, _ = gateway.request(
        "POST",
        "/api/v1/lookup?purpose=crisis_response",
        json.dumps(QUERY).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    assert status == 200
    form = urllib.parse.urlencode(dict(QUERY, access_code=TOKEN)).encode()
    status, _, _ = gateway.request(
        "POST",
        "/lookup?purpose=treatment",
        form,
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200
    assert len(gateway.lookup.requests) == 2
    assert _sent_purposes(gateway) == {"care_coordination"}


@pytest.mark.parametrize("key", ["Purpose", "PURPOSE", " purpose", "purpose "])
def test_another_spelling_of_the_key_is_no_way_to_choose_it(gateway: Gateway, key: str) -> None:
    status, _ = gateway.api(dict(QUERY, **{key: "crisis_response"}))
    assert status in (200, 400)
    assert _sent_purposes(gateway) <= {"care_coordination"}
